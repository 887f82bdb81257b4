package dnsfwd

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
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
	for _, pc := range pcs {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize})
	}
	sem := make(chan struct{}, maxTCPConns)
	for _, ln := range lns {
		servers = append(servers, &dns.Server{Listener: &limitListener{Listener: ln, sem: sem},
			Handler: h, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 128,
			IdleTimeout: func() time.Duration { return 8 * time.Second }})
	}
	errs := make(chan error, len(servers))
	var wg sync.WaitGroup
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
