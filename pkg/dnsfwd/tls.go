package dnsfwd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/passgate/passgate/internal/tlsroots"
)

// DNS over TLS to the upstreams (RFC 7858): a connection to an upstream
// is kept and reused for the next queries (§3.4), a few per upstream, and
// the upstream's certificate must be valid for the configured name
// (strict privacy profile, RFC 8310 §5: no fallback to clear text).

// TLSUpstream is an upstream asked over TLS.
type TLSUpstream struct {
	Addr       netip.AddrPort // port 853 normally
	ServerName string         // the name its certificate must carry
}

// TLSExchanger is an Exchanger that can also ask over TLS.
type TLSExchanger interface {
	ExchangeTLS(ctx context.Context, m *dns.Msg, server netip.AddrPort, name string) (*dns.Msg, error)
}

// tlsIdle is how many idle connections are kept per TLS upstream, and
// tlsIdleTime how long one is kept unused.
const (
	tlsIdle     = 4
	tlsIdleTime = 30 * time.Second
)

type tlsKey struct {
	addr netip.AddrPort
	name string
}

type idleConn struct {
	c     *dns.Conn
	since time.Time
}

// tlsPool keeps idle TLS connections per upstream.
type tlsPool struct {
	mu   sync.Mutex
	idle map[tlsKey][]idleConn
}

func (p *tlsPool) get(k tlsKey) *dns.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := p.idle[k]; len(l) > 0; l = p.idle[k] {
		ic := l[len(l)-1]
		p.idle[k] = l[:len(l)-1]
		if time.Since(ic.since) < tlsIdleTime {
			return ic.c
		}
		ic.c.Close()
	}
	return nil
}

func (p *tlsPool) put(k tlsKey, c *dns.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[tlsKey][]idleConn{}
	}
	if len(p.idle[k]) >= tlsIdle {
		c.Close()
		return
	}
	p.idle[k] = append(p.idle[k], idleConn{c, time.Now()})
}

// ExchangeTLS asks server over TLS, checking its certificate for name,
// on a kept connection when there is one (a kept one that fails is
// dropped and the query tried once on a new one).
func (e *NetExchanger) ExchangeTLS(ctx context.Context, m *dns.Msg, server netip.AddrPort, name string) (*dns.Msg, error) {
	k := tlsKey{server, name}
	if c := e.pool.get(k); c != nil {
		if r, err := exchangeOn(ctx, c, m); err == nil {
			e.pool.put(k, c)
			return r, nil
		}
		c.Close()
	}
	if e.RootCAs == nil {
		tlsroots.Ensure() // the system's roots, or the built-in ones on a board
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: queryTimeout},
		Config: &tls.Config{ServerName: name, RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12}}
	nc, err := d.DialContext(ctx, "tcp", server.String())
	if err != nil {
		return nil, fmt.Errorf("dns over tls to %s (%s): %w", server, name, err)
	}
	c := &dns.Conn{Conn: nc, UDPSize: dns.MaxMsgSize}
	r, err := exchangeOn(ctx, c, m)
	if err != nil {
		c.Close()
		return nil, err
	}
	e.pool.put(k, c)
	return r, nil
}

// exchangeOn sends m on c and reads its answer, within ctx's deadline.
func exchangeOn(ctx context.Context, c *dns.Conn, m *dns.Msg) (*dns.Msg, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(queryTimeout)
	}
	c.SetDeadline(deadline)
	if err := c.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		r, err := c.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == m.Id {
			return r, nil
		}
		// A late answer to an earlier query on this connection: skip it.
	}
}

var errNoTLS = errors.New("this exchanger cannot ask over TLS")

// NetExchanger's TLS state.
var _ TLSExchanger = (*NetExchanger)(nil)
