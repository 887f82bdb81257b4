package dnsfwd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The fast path must give exactly what the long way gives: for queries of
// every kind (EDNS0 or not, AD, RD, the spelling of the name, the ID) at
// later and later times, the reply from the variant equals the reply
// finish makes from the cached answer.
func TestFastPathMatchesLongWay(t *testing.T) {
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10", "www.example. 300 IN A 192.0.2.11",
		"alias.example. 120 IN CNAME www.example.", "alias.example. 120 IN A 192.0.2.10")
	f, clk := testForwarder(t, up, func(c *Config) { c.ClientRate, c.ClientBurst = 1<<30, 1<<30 })
	ctx := context.Background()
	kinds := []func(m *dns.Msg){
		func(m *dns.Msg) {},
		func(m *dns.Msg) { m.SetEdns0(4096, false) },
		func(m *dns.Msg) { m.AuthenticatedData = true },
		func(m *dns.Msg) { m.SetEdns0(512, false); m.AuthenticatedData = true },
		func(m *dns.Msg) { m.RecursionDesired = false },
	}
	fast := 0
	for step := range 8 {
		for _, name := range []string{"www.example", "WwW.ExAmPlE", "alias.example"} {
			for k, kind := range kinds {
				q := query(name, dns.TypeA)
				q.Id = uint16(1000*step + 10*k + 7)
				kind(q)
				got := f.Handle(ctx, q.Copy(), host1, false)
				// The long way, from the same cache.
				key := cacheKey(q.Question[0], q)
				m, _ := f.cache.get(key, clk.now(), false)
				if m == nil {
					t.Fatalf("%s: not cached", name)
				}
				want := finish(q, m, false, true)
				if got.String() != want.String() {
					t.Fatalf("step %d %s kind %d:\nfast:\n%s\nlong way:\n%s", step, name, k, got, want)
				}
				if v := f.cache.fast(key, variantIndex(q), clk.now()); v != nil {
					fast++
				}
			}
		}
		clk.add(7 * time.Second)
	}
	if fast == 0 {
		t.Fatal("no query took the fast path")
	}
	// TTLs count down on the fast path too, and it ends with the answer.
	r := f.Handle(ctx, query("alias.example", dns.TypeA), host1, false)
	if ttl := r.Answer[0].Header().Ttl; ttl != 120-56 {
		t.Errorf("TTL %d after 56 s, want 64", ttl)
	}
	clk.add(65 * time.Second)
	before := len(up.queries())
	f.Handle(ctx, query("alias.example", dns.TypeA), host1, false)
	if len(up.queries()) != before+1 {
		t.Error("an expired answer was served from its variant")
	}
}

// FuzzTTLOffsets: the wire walker never reads out of bounds, and on a
// message miekg packed it finds every record's TTL.
func FuzzTTLOffsets(f *testing.F) {
	m := query("www.example", dns.TypeA)
	m.Response = true
	rr, _ := dns.NewRR("www.example. 300 IN A 192.0.2.10")
	m.Answer = []dns.RR{rr}
	m.SetEdns0(1232, true)
	b, _ := m.Pack()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		offs, ok := ttlOffsets(b)
		if !ok {
			return
		}
		for _, o := range offs {
			if int(o)+4 > len(b) {
				t.Fatalf("offset %d past %d bytes", o, len(b))
			}
		}
		var m dns.Msg
		if m.Unpack(b) == nil && !strings.Contains(m.String(), "OPT") && len(offs) != len(m.Answer)+len(m.Ns)+len(m.Extra) {
			t.Fatalf("%d offsets for %d records", len(offs), len(m.Answer)+len(m.Ns)+len(m.Extra))
		}
	})
}
