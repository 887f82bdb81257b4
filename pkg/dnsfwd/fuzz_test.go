package dnsfwd

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary bytes from a LAN client: whatever parses is
// answered with a reply that packs and carries the query's ID, or not at
// all; nothing panics.
func FuzzHandle(f *testing.F) {
	for _, m := range []*dns.Msg{query("www.example", dns.TypeA), queryEDNS("nas.lan", dns.TypeAAAA, true),
		query("5.1.168.192.in-addr.arpa", dns.TypePTR), query("laptop", dns.TypeANY)} {
		b, _ := m.Pack()
		f.Add(b, false)
	}
	up := newFake()
	up.add("www.example. 300 IN A 192.0.2.10", "www.example. 300 IN A 10.0.0.1")
	fw, _ := testForwarder(f, up, func(c *Config) { c.ClientRate = 1 << 30 })
	f.Fuzz(func(t *testing.T, b []byte, tcp bool) {
		if len(b) > dns.MaxMsgSize {
			return
		}
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		r := fw.Handle(context.Background(), m, host1, tcp)
		if r == nil {
			return
		}
		if r.Id != m.Id {
			t.Fatalf("reply ID %d, query %d", r.Id, m.Id)
		}
		w, err := r.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
		if !tcp && len(w) > ednsSize {
			t.Fatalf("UDP reply of %d bytes", len(w))
		}
	})
}
