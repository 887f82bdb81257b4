// Package dnsfwd is the router's DNS forwarder for the LAN: it answers the
// names of LAN devices itself, forwards everything else to the upstream
// resolvers (the WAN's or configured ones) with failover, caches answers
// within a fixed memory budget (positive and negative, RFC 2308), serves
// stale answers for a while when every upstream fails (RFC 8767), drops
// private addresses in public answers (DNS rebinding protection), passes
// DNSSEC through untouched (DO/CD/AD bits and signatures) and limits each
// client's query rate.
//
// The core, Handle, takes a parsed query and returns the reply, so it is
// tested without sockets; Serve runs it on a UDP socket and a TCP listener
// with bounded concurrency. Upstreams are reached through the Exchanger
// seam: NetExchanger for the network, a fake in tests.
package dnsfwd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Limits and defaults.
const (
	MaxUpstreams      = 8
	MaxHosts          = 1024 // static host entries
	DefaultCacheBytes = 4 << 20
	DefaultStale      = 30 * time.Minute // RFC 8767 §5 suggests 1-3 days; a home router keeps it short
	staleTTL          = 30               // seconds, RFC 8767 §4
	maxTTL            = 24 * 3600        // cap on cached positive TTLs
	maxNegTTL         = 3 * 3600         // RFC 2308 §5 recommends 1-3 hours
	ednsSize          = 1232             // our EDNS0 UDP size, towards clients and upstreams
	queryTimeout      = 2 * time.Second  // per upstream attempt
	clientTimeout     = 5 * time.Second  // whole query
	maxInflight       = 256              // queries being resolved at once
)

// Host is a local name and its addresses.
type Host struct {
	Name  string // a single label or a name under the local domain
	Addrs []netip.Addr
}

// Config is what the forwarder does; Reconfigure changes it at any time.
type Config struct {
	// Upstreams are asked in this order, skipping those marked down, then
	// the TLS ones (DNS over TLS, RFC 7858).
	Upstreams []netip.AddrPort
	TLS       []TLSUpstream
	// Domain is the local domain (default "lan"): NAME.Domain answers
	// from the hosts and never leaves the router.
	Domain string
	// Hosts are static names (set dns host NAME address A).
	Hosts []Host
	// Clients are the prefixes allowed to ask (the LAN's); others are
	// REFUSED, so the forwarder is never an open resolver.
	Clients []netip.Prefix
	// RebindProtection drops private, loopback and link-local addresses
	// in answers for public names, except names under RebindAllow.
	RebindProtection bool
	RebindAllow      []string
	// CacheBytes bounds the cache (default DefaultCacheBytes); Stale is
	// how long an expired answer may still be served when every upstream
	// fails (default DefaultStale; negative: never).
	CacheBytes int
	Stale      time.Duration
	// ClientRate and ClientBurst bound each client's queries per second
	// (defaults 100 and 200).
	ClientRate, ClientBurst int
}

// Options are the forwarder's connections to the rest of the router.
type Options struct {
	// Exchange reaches the upstreams (over TLS too when it is a
	// TLSExchanger); nil: a new NetExchanger.
	Exchange Exchanger
	// Leases returns the current dynamic names (DHCP leases); it is called
	// at most every few seconds. Nil: none.
	Leases func() []Host
	// Now is the clock; nil: time.Now.
	Now  func() time.Time
	Logf func(format string, args ...any)
}

// Counters count what the forwarder did since it started.
type Counters struct {
	Queries, CacheHits, CacheMisses, Local, Forwarded uint64
	Stale, ServFail, Refused, RateLimited, Overloaded uint64
	RebindDropped                                     uint64
}

// Forwarder answers DNS queries from the LAN.
type Forwarder struct {
	opts Options

	mu    sync.Mutex // serialises Reconfigure; guards cfg, ups
	cfg   Config
	ups   []*upstream
	snap  atomic.Pointer[snapshot] // cfg and ups for the queries
	local *localNames

	cache   *cache
	limiter *limiter
	flight  flightGroup
	sem     chan struct{}

	queries, hits, misses, localN, forwarded          atomic.Uint64
	stale, servfail, refused, ratelimited, overloaded atomic.Uint64
	rebind                                            atomic.Uint64
}

// New returns a forwarder with cfg.
func New(cfg Config, opts Options) (*Forwarder, error) {
	if opts.Exchange == nil {
		opts.Exchange = &NetExchanger{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	f := &Forwarder{opts: opts, sem: make(chan struct{}, maxInflight)}
	if err := f.Reconfigure(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// Check says what is wrong with c, if anything.
func (c Config) Check() error {
	if len(c.Upstreams)+len(c.TLS) > MaxUpstreams {
		return fmt.Errorf("dns forwarder: %d upstreams, at most %d", len(c.Upstreams)+len(c.TLS), MaxUpstreams)
	}
	for _, u := range c.TLS {
		if !u.Addr.IsValid() || u.Addr.Port() == 0 || u.Addr.Addr().IsUnspecified() || u.Addr.Addr().IsMulticast() {
			return fmt.Errorf("dns forwarder: TLS upstream %v is not a usable address and port", u.Addr)
		}
		if _, ok := dns.IsDomainName(u.ServerName); !ok || u.ServerName == "" || strings.Contains(u.ServerName, "..") {
			return fmt.Errorf("dns forwarder: TLS upstream %v: %q is not a server name", u.Addr, u.ServerName)
		}
	}
	for _, u := range c.Upstreams {
		if !u.IsValid() || u.Port() == 0 || u.Addr().IsUnspecified() || u.Addr().IsMulticast() {
			return fmt.Errorf("dns forwarder: upstream %v is not a usable address and port", u)
		}
	}
	if len(c.Hosts) > MaxHosts {
		return fmt.Errorf("dns forwarder: %d host entries, at most %d", len(c.Hosts), MaxHosts)
	}
	if c.Domain != "" {
		if _, ok := dns.IsDomainName(c.Domain); !ok || strings.Contains(c.Domain, "..") {
			return fmt.Errorf("dns forwarder: domain %q is not a domain name", c.Domain)
		}
	}
	for _, h := range c.Hosts {
		if !validHostName(h.Name) {
			return fmt.Errorf("dns forwarder: host name %q: use letters, digits and '-' in dot-separated labels", h.Name)
		}
	}
	return nil
}

// Reconfigure applies c. The cache is kept: answers do not depend on
// which upstream gave them.
func (f *Forwarder) Reconfigure(c Config) error {
	if err := c.Check(); err != nil {
		return err
	}
	if c.Domain == "" {
		c.Domain = "lan"
	}
	c.Domain = dns.CanonicalName(c.Domain)
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.Stale == 0 {
		c.Stale = DefaultStale
	}
	if c.ClientRate <= 0 {
		c.ClientRate = 100
	}
	if c.ClientBurst <= 0 {
		c.ClientBurst = 2 * c.ClientRate
	}
	allow := make([]string, len(c.RebindAllow)) // the caller's slice stays as it was
	for i, a := range c.RebindAllow {
		allow[i] = dns.CanonicalName(a)
	}
	c.RebindAllow = allow
	f.mu.Lock()
	defer f.mu.Unlock()
	type key struct {
		addr netip.AddrPort
		name string
	}
	old := map[key]*upstream{}
	for _, u := range f.ups {
		old[key{u.addr, u.tlsName}] = u
	}
	f.ups = f.ups[:0:0]
	add := func(a netip.AddrPort, name string) {
		u := old[key{a, name}]
		if u == nil {
			u = &upstream{addr: a, tlsName: name}
		}
		f.ups = append(f.ups, u)
	}
	for _, a := range c.Upstreams {
		add(a, "")
	}
	for _, t := range c.TLS {
		add(t.Addr, strings.ToLower(t.ServerName))
	}
	f.cfg = c
	f.snap.Store(&snapshot{cfg: c, ups: f.ups})
	if f.local == nil {
		f.local = newLocalNames(f.opts.Leases, f.opts.Now)
	}
	f.local.configure(c.Domain, c.Hosts, c.Clients)
	if f.cache == nil {
		f.cache = newCache(c.CacheBytes, c.Stale)
	} else {
		f.cache.configure(c.CacheBytes, c.Stale)
	}
	if f.limiter == nil {
		f.limiter = newLimiter(c.ClientRate, c.ClientBurst)
	} else {
		f.limiter.set(c.ClientRate, c.ClientBurst)
	}
	return nil
}

// snapshot is the configuration one query works with.
type snapshot struct {
	cfg Config
	ups []*upstream
}

// config is the current configuration and upstreams, without a lock: every
// query reads it.
func (f *Forwarder) config() (Config, []*upstream) {
	s := f.snap.Load()
	return s.cfg, s.ups
}

// Counters returns the counters.
func (f *Forwarder) Counters() Counters {
	return Counters{Queries: f.queries.Load(), CacheHits: f.hits.Load(), CacheMisses: f.misses.Load(),
		Local: f.localN.Load(), Forwarded: f.forwarded.Load(), Stale: f.stale.Load(), ServFail: f.servfail.Load(),
		Refused: f.refused.Load(), RateLimited: f.ratelimited.Load(), Overloaded: f.overloaded.Load(),
		RebindDropped: f.rebind.Load()}
}

// Handle answers req from client; nil means send nothing. tcp says the
// query came over TCP (no truncation).
func (f *Forwarder) Handle(ctx context.Context, req *dns.Msg, client netip.Addr, tcp bool) *dns.Msg {
	r, raw, p := f.answerNow(req, client, tcp, nil)
	switch {
	case raw != nil:
		m := new(dns.Msg)
		if m.Unpack(raw) != nil {
			return nil
		}
		return m
	case p == nil:
		return r
	}
	return f.answerLater(ctx, p)
}

// pending is a query that must go upstream.
type pending struct {
	req *dns.Msg
	q   dns.Question
	key string
	tcp bool
	cfg Config
	ups []*upstream
}

// answerNow does everything that needs no upstream: the checks, the local
// names and the cache. It returns the reply (nil: send nothing), or the
// reply in wire form written into out (a cached answer's fast path), or
// a pending query for answerLater.
func (f *Forwarder) answerNow(req *dns.Msg, client netip.Addr, tcp bool, out []byte) (*dns.Msg, []byte, *pending) {
	f.queries.Add(1)
	client = client.Unmap()
	cfg, ups := f.config()
	if req.Response || len(req.Question) != 1 {
		if req.Response {
			return nil, nil, nil
		}
		return f.fail(req, dns.RcodeFormatError), nil, nil
	}
	if req.Opcode != dns.OpcodeQuery {
		return f.fail(req, dns.RcodeNotImplemented), nil, nil
	}
	if !allowed(cfg.Clients, client) {
		f.refused.Add(1)
		return f.fail(req, dns.RcodeRefused), nil, nil
	}
	if !tcp && !f.limiter.allow(client, f.opts.Now()) {
		// A UDP client over its rate gets nothing (a TCP one is slowed by
		// the handshake already).
		f.ratelimited.Add(1)
		return nil, nil, nil
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET {
		return f.fail(req, dns.RcodeNotImplemented), nil, nil
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		return f.fail(req, dns.RcodeNotImplemented), nil, nil
	}
	if resp, ok := f.local.answer(req, q); ok {
		f.localN.Add(1)
		return finish(req, resp, tcp, true), nil, nil
	}
	key := cacheKey(q, req)
	now := f.opts.Now()
	kind := variantIndex(req)
	if !tcp {
		if v := f.cache.fast(key, kind, now); v != nil {
			if b, ok := v.reply(req, now, out); ok {
				f.hits.Add(1)
				return nil, b, nil
			}
		}
	}
	if m, _ := f.cache.get(key, now, false); m != nil {
		f.hits.Add(1)
		r := finish(req, m, tcp, true)
		if !tcp {
			if v := newVariant(r, now); v != nil {
				f.cache.keepVariant(key, kind, v)
			}
		}
		return r, nil, nil
	}
	f.misses.Add(1)
	select {
	case f.sem <- struct{}{}:
	default:
		f.overloaded.Add(1)
		return nil, nil, nil
	}
	return nil, nil, &pending{req: req, q: q, key: key, tcp: tcp, cfg: cfg, ups: ups} // holds a place in f.sem
}

// answerLater asks the upstreams for p (sharing the exchange with
// identical queries in flight) and answers, stale from the cache if
// every upstream fails.
func (f *Forwarder) answerLater(ctx context.Context, p *pending) *dns.Msg {
	defer func() { <-f.sem }()
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	req, tcp := p.req, p.tcp
	m, err := f.flight.do(p.key, func() (*dns.Msg, error) { return f.resolve(ctx, p.cfg, p.ups, req, p.q, p.key) })
	if err != nil {
		if m, _ := f.cache.get(p.key, f.opts.Now(), true); m != nil {
			f.stale.Add(1)
			addEDE(m, dns.ExtendedErrorCodeStaleAnswer, "every upstream failed: "+err.Error())
			return finish(req, m, tcp, true)
		}
		f.servfail.Add(1)
		if m != nil {
			// The upstream's own failure answer, with its extended errors
			// (DNSSEC bogus…).
			return finish(req, m, tcp, false)
		}
		r := f.fail(req, dns.RcodeServerFailure)
		addEDE(r, dns.ExtendedErrorCodeNetworkError, err.Error())
		return r
	}
	return finish(req, m, tcp, false) // shared with the queries that waited for it
}

// resolve asks the upstreams and caches the answer.
func (f *Forwarder) resolve(ctx context.Context, cfg Config, ups []*upstream, req *dns.Msg, q dns.Question, key string) (*dns.Msg, error) {
	if len(ups) == 0 {
		return nil, errors.New("no upstream DNS server (none from the WAN and none configured)")
	}
	out := upstreamQuery(req, q)
	m, err := f.ask(ctx, ups, out)
	if err != nil {
		return m, err // m: an upstream's failure answer, or nil; never cached
	}
	f.forwarded.Add(1)
	if cfg.RebindProtection && !underAny(q.Name, cfg.RebindAllow) {
		if n := dropPrivate(m); n > 0 {
			f.rebind.Add(uint64(n))
			f.opts.Logf("dns: dropped %d private address(es) in the answer for %s (DNS rebinding protection; allow with set dns rebind-allow DOMAIN)", n, q.Name)
			addEDE(m, dns.ExtendedErrorCodeBlocked, "private address in a public answer dropped (DNS rebinding protection)")
		}
	}
	f.cache.put(key, m, f.opts.Now())
	return m, nil
}

// upstreamQuery is the query sent upstream: the client's question with its
// DNSSEC bits, a fresh ID and our EDNS0 size.
func upstreamQuery(req *dns.Msg, q dns.Question) *dns.Msg {
	out := new(dns.Msg)
	out.Id = dns.Id()
	out.RecursionDesired = true
	out.CheckingDisabled = req.CheckingDisabled
	out.AuthenticatedData = req.AuthenticatedData
	out.Question = []dns.Question{{Name: strings.ToLower(q.Name), Qtype: q.Qtype, Qclass: q.Qclass}}
	do := false
	if o := req.IsEdns0(); o != nil {
		do = o.Do()
	}
	out.SetEdns0(ednsSize, do)
	return out
}

// fail is an error reply to req.
func (f *Forwarder) fail(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(ednsSize, o.Do())
	}
	return m
}

// finish turns an answer (from the cache, the hosts or an upstream) into
// the reply to req: its ID and question, EDNS0 as the client asked,
// truncated to what the client can take over UDP. m is changed in place
// when owned, else copied.
func finish(req, m *dns.Msg, tcp, owned bool) *dns.Msg {
	r := m
	if !owned {
		r = m.Copy()
	}
	r.Id = req.Id
	r.Response = true
	r.Opcode = req.Opcode
	r.RecursionDesired = req.RecursionDesired
	r.RecursionAvailable = true
	r.CheckingDisabled = req.CheckingDisabled
	r.Question = req.Question
	opt := r.IsEdns0()
	co := req.IsEdns0()
	size := dns.MinMsgSize
	switch {
	case co == nil && opt != nil:
		r.Extra = removeOPT(r.Extra)
	case co != nil:
		if opt == nil {
			r.SetEdns0(ednsSize, co.Do())
		} else {
			opt.SetUDPSize(ednsSize)
			opt.SetDo(co.Do())
		}
		size = max(int(co.UDPSize()), dns.MinMsgSize)
	}
	if co == nil || !co.Do() {
		stripDNSSEC(r, req.Question[0].Qtype)
		// AD only for a client that showed it understands it (RFC 6840 §5.7).
		r.AuthenticatedData = r.AuthenticatedData && req.AuthenticatedData
	}
	if !tcp {
		r.Truncate(min(size, ednsSize))
	}
	return r
}

func removeOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// stripDNSSEC removes the signatures a client that did not set DO must not
// get (RFC 4035 §3.2.1), unless it asked for them by type.
func stripDNSSEC(m *dns.Msg, qtype uint16) {
	keep := func(rrs []dns.RR) []dns.RR {
		out := rrs[:0:0]
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t != qtype && (t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3) {
				continue
			}
			out = append(out, rr)
		}
		return out
	}
	m.Answer, m.Ns = keep(m.Answer), keep(m.Ns)
	m.Extra = keep(m.Extra)
}

// addEDE attaches an extended DNS error (RFC 8914) when m has EDNS0.
func addEDE(m *dns.Msg, code uint16, text string) {
	o := m.IsEdns0()
	if o == nil {
		o = new(dns.OPT)
		o.Hdr.Name = "."
		o.Hdr.Rrtype = dns.TypeOPT
		o.SetUDPSize(ednsSize)
		m.Extra = append(m.Extra, o)
	}
	if len(text) > 200 {
		text = text[:200]
	}
	o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
}

func allowed(nets []netip.Prefix, a netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// underAny says whether name is one of domains or below one.
func underAny(name string, domains []string) bool {
	name = dns.CanonicalName(name)
	for _, d := range domains {
		if dns.IsSubDomain(d, name) {
			return true
		}
	}
	return false
}
