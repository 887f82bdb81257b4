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

// Serve answers queries arriving on pc (UDP) and ln (TCP; nil for none)
// until ctx ends, then closes both.
func (f *Forwarder) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		ap, _ := netip.ParseAddrPort(w.RemoteAddr().String())
		_, tcp := w.LocalAddr().(*net.TCPAddr)
		if r := f.Handle(ctx, req, ap.Addr(), tcp); r != nil {
			w.WriteMsg(r)
		}
	})
	var servers []*dns.Server
	if pc != nil {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize})
	}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: &limitListener{Listener: ln, sem: make(chan struct{}, maxTCPConns)},
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
