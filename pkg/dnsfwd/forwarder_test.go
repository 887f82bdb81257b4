package dnsfwd

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, f *Forwarder, m *dns.Msg, client netip.Addr, tcp bool) *dns.Msg {
	t.Helper()
	r := f.Handle(context.Background(), m, client, tcp)
	if r != nil {
		if r.Id != m.Id || !r.Response {
			t.Fatalf("reply ID %d response %v for query %d", r.Id, r.Response, m.Id)
		}
		if _, err := r.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
	}
	return r
}

func TestForwardThenCache(t *testing.T) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10")
	f, clk := testForwarder(t, up, nil)
	r := ask(t, f, query("WWW.Example", dns.TypeA), host1, false)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
		t.Fatalf("first answer: %v", r)
	}
	if r.Question[0].Name != "WWW.Example." {
		t.Errorf("question not echoed as asked: %v", r.Question[0].Name)
	}
	if q := up.queries(); len(q) != 1 || q[0].q.Question[0].Name != "www.example." || !q[0].q.RecursionDesired {
		t.Fatalf("upstream saw %v", q)
	}
	clk.add(100 * time.Second)
	r = ask(t, f, query("www.example", dns.TypeA), host1, false)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 200 {
		t.Fatalf("cached answer should have TTL 200: %v", r)
	}
	if n := len(up.queries()); n != 1 {
		t.Fatalf("cache hit went upstream (%d queries)", n)
	}
	clk.add(201 * time.Second)
	ask(t, f, query("www.example", dns.TypeA), host1, false)
	if n := len(up.queries()); n != 2 {
		t.Fatalf("expired answer not asked again (%d queries)", n)
	}
	if c := f.Counters(); c.CacheHits != 1 || c.Forwarded != 2 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA minimum);
// without an SOA it is not cached.
func TestNegativeCaching(t *testing.T) {
	up := newFake()
	up.nx["gone.example."] = true
	f, clk := testForwarder(t, up, nil)
	r := ask(t, f, query("gone.example", dns.TypeA), host1, false)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		t.Fatalf("NXDOMAIN with SOA expected: %v", r)
	}
	clk.add(29 * time.Second)
	ask(t, f, query("gone.example", dns.TypeA), host1, false)
	if n := len(up.queries()); n != 1 {
		t.Fatalf("NXDOMAIN not cached for the SOA minimum (30 s): %d queries", n)
	}
	clk.add(2 * time.Second)
	ask(t, f, query("gone.example", dns.TypeA), host1, false)
	if n := len(up.queries()); n != 2 {
		t.Fatalf("NXDOMAIN cached past the SOA minimum: %d queries", n)
	}
	// NODATA without an SOA: not cached.
	ask(t, f, query("nosoa.example", dns.TypeMX), host1, false)
	ask(t, f, query("nosoa.example", dns.TypeMX), host1, false)
	if n := len(up.queries()); n != 4 {
		t.Fatalf("negative answer without SOA cached: %d queries", n)
	}
}

func TestFailoverAndHealth(t *testing.T) {
	up := newFake()
	up.add("a.example. 300 IN A 192.0.2.1", "b.example. 300 IN A 192.0.2.2", "c.example. 300 IN A 192.0.2.3")
	up.setDown(up1, errTimeout)
	f, clk := testForwarder(t, up, nil)
	for _, n := range []string{"a.example", "b.example"} {
		if r := ask(t, f, query(n, dns.TypeA), host1, false); len(r.Answer) != 1 {
			t.Fatalf("%s: no failover to the second upstream: %v", n, r)
		}
	}
	// up1 failed twice: it is down and skipped.
	before := len(up.queries())
	ask(t, f, query("c.example", dns.TypeA), host1, false)
	if q := up.queries()[before:]; len(q) != 1 || q[0].server != up2 {
		t.Fatalf("down upstream asked: %v", q)
	}
	st := f.Status()
	if st.Upstreams[0].Up || !st.Upstreams[1].Up || st.Upstreams[0].LastError == "" {
		t.Fatalf("status %+v", st.Upstreams)
	}
	// The health check finds it back.
	up.setDown(up1, nil)
	clk.add(10 * time.Second)
	f.probe(context.Background())
	if !f.Status().Upstreams[0].Up {
		t.Fatal("upstream that answers again is still down after the health check")
	}
	// An upstream answering SERVFAIL is a failure too.
	up.mangle = func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure; m.Answer = nil }
	r := ask(t, f, query("d.example", dns.TypeA), host1, false)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("every upstream SERVFAIL: %v", r)
	}
	if c := f.Counters(); c.ServFail != 1 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 8767: when every upstream fails, an expired answer is served with
// TTL 30 for the stale window, then SERVFAIL.
func TestServeStale(t *testing.T) {
	up := newFake()
	up.add("www.example. 60 IN A 192.0.2.10")
	f, clk := testForwarder(t, up, func(c *Config) { c.Stale = 10 * time.Minute })
	ask(t, f, queryEDNS("www.example", dns.TypeA, false), host1, false)
	up.setDown(up1, errTimeout)
	up.setDown(up2, errTimeout)
	clk.add(5 * time.Minute)
	r := ask(t, f, queryEDNS("www.example", dns.TypeA, false), host1, false)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale answer expected: %v", r)
	}
	if !hasEDE(r, dns.ExtendedErrorCodeStaleAnswer) {
		t.Errorf("stale answer without EDE 3: %v", r)
	}
	clk.add(10 * time.Minute)
	r = ask(t, f, query("www.example", dns.TypeA), host1, false)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("past the stale window: %v", r)
	}
}

func hasEDE(m *dns.Msg, code uint16) bool {
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok && ede.InfoCode == code {
				return true
			}
		}
	}
	return false
}

func TestLocalNames(t *testing.T) {
	up := newFake()
	f, _ := testForwarder(t, up, func(c *Config) {
		c.Hosts = append(c.Hosts, Host{Name: "nas", Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.5"), netip.MustParseAddr("fd00::5")}})
	})
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  string // first answer's data, "" none
	}{
		{"nas.lan", dns.TypeA, dns.RcodeSuccess, "192.168.1.5"},
		{"NAS.LAN", dns.TypeAAAA, dns.RcodeSuccess, "fd00::5"},
		{"nas", dns.TypeA, dns.RcodeSuccess, "192.168.1.5"},
		{"nas.lan", dns.TypeMX, dns.RcodeSuccess, ""},
		{"laptop-anna.lan", dns.TypeA, dns.RcodeSuccess, "192.168.1.100"},
		{"router.lan", dns.TypeA, dns.RcodeSuccess, "192.168.1.1"},
		{"nobody.lan", dns.TypeA, dns.RcodeNameError, ""},
		{"lan", dns.TypeA, dns.RcodeSuccess, ""},
		{"printer", dns.TypeA, dns.RcodeNameError, ""},
		{"tv.local", dns.TypeA, dns.RcodeNameError, ""},
		{"localhost", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"localhost", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"5.1.168.192.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, "nas.lan."},
		{"100.1.168.192.in-addr.arpa", dns.TypePTR, dns.RcodeSuccess, "laptop-anna.lan."},
		{"77.1.168.192.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.0.10.in-addr.arpa", dns.TypePTR, dns.RcodeNameError, ""},
		{"168.192.in-addr.arpa", dns.TypeSOA, dns.RcodeNameError, ""},
		{"20.172.in-addr.arpa", dns.TypeNS, dns.RcodeNameError, ""},
	} {
		r := ask(t, f, query(tc.name, tc.qtype), host1, false)
		got := ""
		if len(r.Answer) > 0 {
			switch a := r.Answer[0].(type) {
			case *dns.A:
				got = a.A.String()
			case *dns.AAAA:
				got = a.AAAA.String()
			case *dns.PTR:
				got = a.Ptr
			}
		}
		if r.Rcode != tc.rcode || got != tc.want {
			t.Errorf("%s %s: rcode %s answer %q, want %s %q", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], got, dns.RcodeToString[tc.rcode], tc.want)
		}
		if r.Rcode != dns.RcodeSuccess || got == "" {
			if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Errorf("%s: negative answer without SOA: %v", tc.name, r)
			}
		}
	}
	if q := up.queries(); len(q) != 0 {
		t.Fatalf("local names leaked upstream: %v", q[0].q.Question)
	}
	// A public reverse name goes upstream.
	ask(t, f, query("10.2.0.192.in-addr.arpa", dns.TypePTR), host1, false)
	if q := up.queries(); len(q) != 1 {
		t.Fatalf("public reverse lookup not forwarded: %d", len(q))
	}
}

func TestLabel(t *testing.T) {
	for in, want := range map[string]string{
		"Laptop_Anna.home": "laptop-anna", "my phone": "my-phone", "-x-": "x", "..": "", "ÄÖ": "",
		strings.Repeat("a", 80): strings.Repeat("a", 63), "ok-1": "ok-1",
	} {
		if got := Label(in); got != want {
			t.Errorf("Label(%q) = %q, want %q", in, got, want)
		}
	}
}

// DNS rebinding: a public name answered with a LAN address is dropped; an
// allowed domain keeps it.
func TestRebindProtection(t *testing.T) {
	up := newFake()
	up.add("evil.example. 300 IN A 192.168.1.1", "evil.example. 300 IN A 192.0.2.66",
		"evil6.example. 300 IN AAAA fd00::1", "intranet.corp.example. 300 IN A 10.1.2.3",
		"lo.example. 300 IN A 127.0.0.1")
	f, _ := testForwarder(t, up, func(c *Config) { c.RebindAllow = []string{"corp.example"} })
	r := ask(t, f, queryEDNS("evil.example", dns.TypeA, false), host1, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.66" || !hasEDE(r, dns.ExtendedErrorCodeBlocked) {
		t.Fatalf("private address kept: %v", r)
	}
	for _, n := range []string{"evil6.example"} {
		if r := ask(t, f, query(n, dns.TypeAAAA), host1, false); len(r.Answer) != 0 {
			t.Errorf("%s: %v", n, r.Answer)
		}
	}
	if r := ask(t, f, query("lo.example", dns.TypeA), host1, false); len(r.Answer) != 0 {
		t.Errorf("loopback kept: %v", r.Answer)
	}
	if r := ask(t, f, query("intranet.corp.example", dns.TypeA), host1, false); len(r.Answer) != 1 {
		t.Errorf("allowed domain lost its private answer: %v", r)
	}
	if c := f.Counters(); c.RebindDropped != 3 {
		t.Errorf("rebind counter %d, want 3", c.RebindDropped)
	}
	// Off: kept.
	f2, _ := testForwarder(t, up, func(c *Config) { c.RebindProtection = false })
	if r := ask(t, f2, query("lo.example", dns.TypeA), host1, false); len(r.Answer) != 1 {
		t.Errorf("rebind protection off still drops: %v", r)
	}
}

// Not an open resolver: clients outside the LAN are refused, and nothing
// goes upstream for them.
func TestRefusesOutsiders(t *testing.T) {
	up := newFake()
	f, _ := testForwarder(t, up, nil)
	for _, a := range []string{"203.0.113.9", "192.168.2.1", "::1"} {
		r := ask(t, f, query("www.example", dns.TypeA), netip.MustParseAddr(a), false)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: %s", a, dns.RcodeToString[r.Rcode])
		}
	}
	if len(up.queries()) != 0 {
		t.Fatal("a refused query went upstream")
	}
}

func TestMalformedQueries(t *testing.T) {
	f, _ := testForwarder(t, newFake(), nil)
	two := query("a.example", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	notify := query("a.example", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	axfr := query("example", dns.TypeAXFR)
	chaos := query("version.bind", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	resp := query("a.example", dns.TypeA)
	resp.Response = true
	for _, tc := range []struct {
		name  string
		m     *dns.Msg
		rcode int
	}{
		{"two questions", two, dns.RcodeFormatError},
		{"notify", notify, dns.RcodeNotImplemented},
		{"axfr", axfr, dns.RcodeNotImplemented},
		{"chaos", chaos, dns.RcodeNotImplemented},
	} {
		if r := ask(t, f, tc.m, host1, false); r == nil || r.Rcode != tc.rcode {
			t.Errorf("%s: %v", tc.name, r)
		}
	}
	if r := f.Handle(context.Background(), resp, host1, false); r != nil {
		t.Errorf("answered a response: %v", r)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10")
	f, clk := testForwarder(t, up, func(c *Config) { c.ClientRate, c.ClientBurst = 10, 20 })
	answered := 0
	for range 50 {
		if ask(t, f, query("www.example", dns.TypeA), host1, false) != nil {
			answered++
		}
	}
	if answered != 20 {
		t.Fatalf("%d of 50 answered at once, want the burst of 20", answered)
	}
	if ask(t, f, query("www.example", dns.TypeA), netip.MustParseAddr("192.168.1.101"), false) == nil {
		t.Fatal("another client was limited too")
	}
	if ask(t, f, query("www.example", dns.TypeA), host1, true) == nil {
		t.Fatal("TCP query limited")
	}
	clk.add(time.Second)
	answered = 0
	for range 50 {
		if ask(t, f, query("www.example", dns.TypeA), host1, false) != nil {
			answered++
		}
	}
	if answered != 10 {
		t.Fatalf("%d answered a second later, want the rate of 10", answered)
	}
}

// A large answer is truncated to what a UDP client takes (512 bytes
// without EDNS0) with TC set; over TCP it comes whole.
func TestTruncation(t *testing.T) {
	up := newFake()
	for i := range 60 {
		up.add("big.example. 300 IN A 192.0.2." + itoa(i+1))
	}
	f, _ := testForwarder(t, up, nil)
	r := ask(t, f, query("big.example", dns.TypeA), host1, false)
	if !r.Truncated || r.Len() > 512 {
		t.Fatalf("UDP without EDNS0: truncated %v, %d bytes", r.Truncated, r.Len())
	}
	if q := up.queries(); !q[len(q)-1].tcp {
		t.Error("truncated upstream answer not retried over TCP")
	}
	r = ask(t, f, query("big.example", dns.TypeA), host1, true)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("TCP: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
	r = ask(t, f, queryEDNS("big.example", dns.TypeA, false), host1, false)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("EDNS0 4096: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
}

// DNSSEC passes through: DO and CD go upstream, signatures come back to a
// DO client only, and DO and non-DO answers are cached apart.
func TestDNSSECTransparent(t *testing.T) {
	up := newFake()
	up.add("signed.example. 300 IN A 192.0.2.7",
		"signed.example. 300 IN RRSIG A 13 2 300 20270101000000 20261201000000 12345 example. dGVzdA==")
	up.mangle = func(m *dns.Msg) {
		if o := m.IsEdns0(); o != nil && o.Do() {
			m.AuthenticatedData = true
		}
	}
	f, _ := testForwarder(t, up, nil)
	q := queryEDNS("signed.example", dns.TypeA, true)
	q.CheckingDisabled = true
	r := ask(t, f, q, host1, false)
	sent := up.queries()[0].q
	if o := sent.IsEdns0(); o == nil || !o.Do() || !sent.CheckingDisabled {
		t.Fatalf("DO/CD not forwarded: %v", sent)
	}
	if len(r.Answer) != 2 || !r.AuthenticatedData || !r.CheckingDisabled {
		t.Fatalf("DO client: %v", r)
	}
	r = ask(t, f, query("signed.example", dns.TypeA), host1, false)
	if len(r.Answer) != 1 || r.AuthenticatedData || r.IsEdns0() != nil {
		t.Fatalf("plain client got DNSSEC records, AD or an OPT: %v", r)
	}
	if n := len(up.queries()); n != 2 {
		t.Fatalf("DO and plain answers share a cache entry (%d upstream queries)", n)
	}
}

// An answer that does not match the question (a spoofing attempt, or a
// broken upstream) is not used.
func TestMismatchedAnswerRefused(t *testing.T) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10")
	up.mangle = func(m *dns.Msg) { m.Question[0].Name = "other.example." }
	f, _ := testForwarder(t, up, nil)
	r := ask(t, f, query("www.example", dns.TypeA), host1, false)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("mismatched answer used: %v", r)
	}
}

func TestCacheBudget(t *testing.T) {
	up := newFake()
	for i := range 300 {
		up.add("h" + itoa(i) + ".example. 300 IN TXT \"" + strings.Repeat("x", 200) + "\"")
	}
	f, _ := testForwarder(t, up, func(c *Config) { c.CacheBytes = 32 << 10 })
	for i := range 300 {
		ask(t, f, query("h"+itoa(i)+".example", dns.TypeTXT), host1, true)
	}
	st := f.Status()
	if st.CacheBytes > 32<<10 || st.CacheEntries == 0 || st.CacheEntries >= 300 {
		t.Fatalf("cache %d entries, %d bytes, budget 32 KiB", st.CacheEntries, st.CacheBytes)
	}
	// The newest are kept.
	before := len(up.queries())
	ask(t, f, query("h299.example", dns.TypeTXT), host1, true)
	if len(up.queries()) != before {
		t.Error("the most recent answer was evicted")
	}
	if n := f.FlushCache(); n != st.CacheEntries {
		t.Errorf("flush said %d, cache had %d", n, st.CacheEntries)
	}
}

func TestConfigCheck(t *testing.T) {
	bad := []Config{
		{Upstreams: make([]netip.AddrPort, 9)},
		{Upstreams: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")}},
		{Domain: "a..b"},
		{Hosts: []Host{{Name: "bad_name"}}},
		{Hosts: []Host{{Name: "-x"}}},
	}
	for i, c := range bad {
		if err := c.Check(); err == nil {
			t.Errorf("%d: %+v accepted", i, c)
		}
	}
}
