package dnsfwd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// fakeUpstream is an in-memory upstream resolver: a zone of records and
// negative answers, per server, with failures on demand and a log of the
// queries it saw.
type fakeUpstream struct {
	mu      sync.Mutex
	records map[string][]dns.RR // "name/type" → answer
	nx      map[string]bool     // names that do not exist (answered with an SOA)
	down    map[netip.AddrPort]error
	seen    []seenQuery
	mangle  func(*dns.Msg) // changes every answer, if set
}

type seenQuery struct {
	server netip.AddrPort
	q      *dns.Msg
	tcp    bool
}

func newFake() *fakeUpstream {
	return &fakeUpstream{records: map[string][]dns.RR{}, nx: map[string]bool{}, down: map[netip.AddrPort]error{}}
}

func (f *fakeUpstream) add(rrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
		f.records[k] = append(f.records[k], rr)
	}
}

func (f *fakeUpstream) setDown(s netip.AddrPort, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.down, s)
	} else {
		f.down[s] = err
	}
}

func (f *fakeUpstream) queries() []seenQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenQuery(nil), f.seen...)
}

var fakeSOA = "example. 300 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 30"

func (f *fakeUpstream) Exchange(ctx context.Context, q *dns.Msg, server netip.AddrPort, tcp bool) (*dns.Msg, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, seenQuery{server, q.Copy(), tcp})
	if err := f.down[server]; err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	qq := q.Question[0]
	name := strings.ToLower(qq.Name)
	switch {
	case f.nx[name]:
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR(fakeSOA)
		m.Ns = []dns.RR{soa}
	default:
		for _, rr := range f.records[name+"/"+dns.TypeToString[qq.Qtype]] {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
		if o := q.IsEdns0(); o != nil && o.Do() {
			for _, rr := range f.records[name+"/RRSIG"] {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
	}
	if o := q.IsEdns0(); o != nil {
		m.SetEdns0(1232, o.Do())
	}
	if !tcp && m.Len() > 512 && (q.IsEdns0() == nil || m.Len() > int(q.IsEdns0().UDPSize())) {
		m.Truncate(512)
	}
	if f.mangle != nil {
		f.mangle(m)
	}
	return m, nil
}

// clock is a settable clock for the cache and the rate limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	up1    = netip.MustParseAddrPort("198.51.100.1:53")
	up2    = netip.MustParseAddrPort("198.51.100.2:53")
	lanNet = netip.MustParsePrefix("192.168.1.0/24")
	host1  = netip.MustParseAddr("192.168.1.100")
)

func testForwarder(t interface{ Fatal(...any) }, ex Exchanger, mod func(*Config)) (*Forwarder, *clock) {
	c := &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	cfg := Config{Upstreams: []netip.AddrPort{up1, up2}, Clients: []netip.Prefix{lanNet}, RebindProtection: true,
		Hosts: []Host{{Name: "router", Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.1")}}}}
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(cfg, Options{Exchange: ex, Now: c.now,
		Leases: func() []Host {
			return []Host{{Name: "Laptop_Anna.home", Addrs: []netip.Addr{host1}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m
}

func queryEDNS(name string, qtype uint16, do bool) *dns.Msg {
	m := query(name, qtype)
	m.SetEdns0(4096, do)
	return m
}

var errTimeout = &net.OpError{Op: "read", Err: errors.New("i/o timeout")}
