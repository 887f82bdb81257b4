package dnsfwd

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxTCPConns bounds the TCP connections served at once; more wait in the
// kernel's backlog.
const maxTCPConns = 32

// Serve answers queries arriving on the UDP sockets pcs and the TCP
// listeners lns until ctx ends, then closes them. The TCP listeners share
// one limit of maxTCPConns connections.
func (f *Forwarder) Serve(ctx context.Context, pcs []net.PacketConn, lns []net.Listener) error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		ap, _ := netip.ParseAddrPort(w.RemoteAddr().String())
		_, tcp := w.LocalAddr().(*net.TCPAddr)
		if r := f.Handle(ctx, req, ap.Addr(), tcp); r != nil {
			w.WriteMsg(r)
		}
	})
	var servers []*dns.Server
	errs := make(chan error, len(pcs)*runtime.GOMAXPROCS(0)+len(lns))
	var wg sync.WaitGroup
	for _, pc := range pcs {
		uc, ok := pc.(*net.UDPConn)
		if !ok {
			servers = append(servers, &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize})
			continue
		}
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- f.serveUDP(ctx, uc) }()
		}
	}
	sem := make(chan struct{}, maxTCPConns)
	for _, ln := range lns {
		servers = append(servers, &dns.Server{Listener: &limitListener{Listener: ln, sem: sem},
			Handler: h, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 128,
			IdleTimeout: func() time.Duration { return 8 * time.Second }})
	}
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.ActivateAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	for _, s := range servers {
		s.Shutdown()
	}
	// A server that had not started yet when Shutdown came ignores it:
	// closing its socket ends it either way.
	for _, pc := range pcs {
		pc.Close()
	}
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// limitListener holds at most cap(sem) connections open at once.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// batchConn is the batch half of x/net's ipv4 and ipv6 PacketConns
// (their Message types are the same type).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpBatch is how many datagrams one recvmmsg/sendmmsg moves at most.
const udpBatch = 32

// serveUDP answers the queries arriving on c until ctx ends (Serve then
// closes c). Several run on one socket, one per CPU, each reading and
// writing batches (recvmmsg, sendmmsg). Answers from the cache and the
// local names are sent from the loop; a query that must go upstream gets
// its own goroutine (at most maxInflight: answerNow holds a place for
// it). A datagram that does not parse as a DNS message gets nothing.
func (f *Forwarder) serveUDP(ctx context.Context, c *net.UDPConn) error {
	var pc batchConn = ipv4.NewPacketConn(c)
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		pc = ipv6.NewPacketConn(c)
	}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, 0, udpBatch)
	bufs := make([][]byte, udpBatch)
	outBufs := make([][]byte, udpBatch)
	for i := range in {
		bufs[i] = make([]byte, dns.MaxMsgSize)
		in[i].Buffers = [][]byte{bufs[i]}
		outBufs[i] = make([]byte, 0, ednsSize)
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		out = out[:0]
		for i := range n {
			from, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			req := new(dns.Msg)
			if req.Unpack(bufs[i][:in[i].N]) != nil {
				continue
			}
			ap := from.AddrPort()
			r, raw, p := f.answerNow(req, ap.Addr(), false, outBufs[len(out)])
			if p != nil {
				go func() {
					if r := f.answerLater(ctx, p); r != nil {
						if b, err := r.Pack(); err == nil {
							c.WriteToUDPAddrPort(b, ap)
						}
					}
				}()
				continue
			}
			if raw == nil && r != nil {
				raw, _ = r.PackBuffer(outBufs[len(out)])
			}
			if raw == nil {
				continue
			}
			out = append(out, ipv4.Message{Buffers: [][]byte{raw}, Addr: from})
		}
		for sent := 0; sent < len(out); {
			k, err := pc.WriteBatch(out[sent:], 0)
			if err != nil {
				break // the client's problem (or a full buffer): the rest are lost, as one datagram would be
			}
			sent += k
		}
	}
}
