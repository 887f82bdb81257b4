package dnsfwd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Exchanger sends one query to one upstream server and returns its answer.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort, tcp bool) (*dns.Msg, error)
}

// NetExchanger asks over the network: UDP and TCP on a fresh socket (and
// so a random source port) for every query; TLS on kept connections
// (tls.go).
type NetExchanger struct {
	// RootCAs verifies the TLS upstreams' certificates; nil: the system's,
	// or the built-in ones where the system has none (internal/tlsroots).
	RootCAs *x509.CertPool
	pool    tlsPool
}

// Exchange implements Exchanger.
func (*NetExchanger) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort, tcp bool) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", UDPSize: ednsSize, Timeout: queryTimeout}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.ExchangeContext(ctx, m, server.String())
	return r, err
}

// upstream is one upstream server and its health.
type upstream struct {
	addr    netip.AddrPort
	tlsName string // "": plain DNS; else DNS over TLS, checked for this name

	mu        sync.Mutex
	fails     int       // consecutive failures
	downUntil time.Time // skipped before this, unless every upstream is down
	lastErr   string
	rtt       time.Duration
	answered  uint64
	failed    uint64
}

// downAfter consecutive failures mark an upstream down, for a backoff that
// doubles from backoffMin to backoffMax.
const (
	downAfter  = 2
	backoffMin = 5 * time.Second
	backoffMax = 5 * time.Minute
)

func (u *upstream) ok(rtt time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fails, u.downUntil, u.rtt = 0, time.Time{}, rtt
	u.answered++
}

func (u *upstream) fail(now time.Time, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fails++
	u.failed++
	u.lastErr = err.Error()
	if u.fails >= downAfter {
		d := backoffMin << min(u.fails-downAfter, 6)
		u.downUntil = now.Add(min(d, backoffMax))
	}
}

func (u *upstream) down(now time.Time) (bool, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return now.Before(u.downUntil), u.downUntil
}

// order is the order to try the upstreams in: those up, as configured,
// then those down, the soonest due first (so with every upstream down the
// forwarder still tries, and notices one coming back).
func order(ups []*upstream, now time.Time) []*upstream {
	var up, down []*upstream
	for _, u := range ups {
		if d, _ := u.down(now); d {
			down = append(down, u)
		} else {
			up = append(up, u)
		}
	}
	slices.SortStableFunc(down, func(a, b *upstream) int {
		_, ta := a.down(now)
		_, tb := b.down(now)
		return ta.Compare(tb)
	})
	return append(up, down...)
}

// ask tries the upstreams in order until one gives a usable answer. When
// none does, the error says why for each, and the last answer that came
// back with an error code (SERVFAIL from a validating resolver for a
// broken signature, say) is returned with it, for the client to get.
func (f *Forwarder) ask(ctx context.Context, ups []*upstream, q *dns.Msg) (*dns.Msg, error) {
	var errs []string
	var failed *dns.Msg
	for _, u := range order(ups, f.opts.Now()) {
		if ctx.Err() != nil {
			break
		}
		start := f.opts.Now()
		m, err := f.exchange(ctx, u, q)
		if err != nil {
			u.fail(f.opts.Now(), err)
			errs = append(errs, err.Error())
			if m != nil {
				failed = m
			}
			continue
		}
		u.ok(f.opts.Now().Sub(start))
		return m, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("timed out")
	}
	return failed, errors.New(strings.Join(errs, "; "))
}

// exchange asks one upstream: UDP, then TCP if the answer was truncated.
// An answer that does not match the question, or a SERVFAIL, REFUSED,
// NOTIMP or FORMERR, is a failure of that upstream.
func (f *Forwarder) exchange(ctx context.Context, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	server := u.addr
	actx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var m *dns.Msg
	var err error
	if u.tlsName != "" {
		te, ok := f.opts.Exchange.(TLSExchanger)
		if !ok {
			return nil, fmt.Errorf("%v: %w", server, errNoTLS)
		}
		m, err = te.ExchangeTLS(actx, q, server, u.tlsName)
	} else {
		m, err = f.opts.Exchange.Exchange(actx, q, server, false)
	}
	if err == nil && m != nil && m.Truncated && u.tlsName == "" {
		tctx, tcancel := context.WithTimeout(ctx, queryTimeout)
		m, err = f.opts.Exchange.Exchange(tctx, q, server, true)
		tcancel()
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", server, err)
	}
	if m == nil || !m.Response || m.Id != q.Id || len(m.Question) != 1 ||
		!strings.EqualFold(m.Question[0].Name, q.Question[0].Name) ||
		m.Question[0].Qtype != q.Question[0].Qtype || m.Question[0].Qclass != q.Question[0].Qclass {
		return nil, fmt.Errorf("%v: answer does not match the question", server)
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return m, nil
	}
	return m, fmt.Errorf("%v: %s", server, dns.RcodeToString[m.Rcode])
}

// healthInterval is how often Run probes the upstreams marked down.
const healthInterval = 15 * time.Second

// Run probes the upstreams that are down every healthInterval (". NS"),
// so one that comes back is used again before a query has to find out. It
// returns when ctx ends.
func (f *Forwarder) Run(ctx context.Context) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.probe(ctx)
		}
	}
}

func (f *Forwarder) probe(ctx context.Context) {
	_, ups := f.config()
	now := f.opts.Now()
	for _, u := range ups {
		if d, until := u.down(now); !d && until.IsZero() {
			continue // healthy
		}
		q := new(dns.Msg)
		q.SetQuestion(".", dns.TypeNS)
		q.SetEdns0(ednsSize, false)
		start := f.opts.Now()
		if _, err := f.exchange(ctx, u, q); err != nil {
			u.fail(f.opts.Now(), err)
			continue
		}
		u.ok(f.opts.Now().Sub(start))
		f.opts.Logf("dns: upstream %v answers again", u.addr)
	}
}

// UpstreamStatus is one upstream's health, for show dns.
type UpstreamStatus struct {
	Addr      netip.AddrPort
	TLSName   string // "" for plain DNS
	Up        bool
	DownUntil time.Time
	LastError string
	RTT       time.Duration
	Answered  uint64
	Failed    uint64
}

// Status is the forwarder's state, for show dns.
type Status struct {
	Upstreams    []UpstreamStatus
	CacheEntries int
	CacheBytes   int
	CacheBudget  int
	Domain       string
	Counters     Counters
}

// Status returns the upstreams' health, the cache's size and the counters.
func (f *Forwarder) Status() Status {
	cfg, ups := f.config()
	now := f.opts.Now()
	s := Status{Domain: strings.TrimSuffix(cfg.Domain, "."), CacheBudget: cfg.CacheBytes, Counters: f.Counters()}
	s.CacheEntries, s.CacheBytes = f.cache.stats()
	for _, u := range ups {
		d, until := u.down(now)
		u.mu.Lock()
		s.Upstreams = append(s.Upstreams, UpstreamStatus{Addr: u.addr, TLSName: u.tlsName, Up: !d, DownUntil: until, LastError: u.lastErr,
			RTT: u.rtt, Answered: u.answered, Failed: u.failed})
		u.mu.Unlock()
	}
	return s
}

// Cache lists up to n cached answers, most recently used first.
func (f *Forwarder) Cache(n int) []CacheEntry { return f.cache.list(f.opts.Now(), n) }

// FlushCache empties the cache and says how many answers it held.
func (f *Forwarder) FlushCache() int { return f.cache.flush() }

// flightGroup makes concurrent identical queries share one upstream
// exchange.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flight
}

type flight struct {
	done chan struct{}
	m    *dns.Msg
	err  error
}

func (g *flightGroup) do(key string, fn func() (*dns.Msg, error)) (*dns.Msg, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flight{}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		<-c.done
		return c.m, c.err
	}
	c := &flight{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	c.m, c.err = fn()
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
	return c.m, c.err
}
