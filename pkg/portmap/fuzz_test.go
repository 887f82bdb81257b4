package portmap

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzHandle feeds a sequence of datagrams from three LAN hosts and one
// outsider, with the clock moving, and checks the server's invariants
// after each: answers fit PCP's 1100 bytes (NAT-PMP's are 8, 12 or 16), every mapping is of a host
// that asked for it, on an unreserved port >= 1024, one per external
// port, within the caps and the maximum lifetime.
func FuzzHandle(f *testing.F) {
	f.Add(tcpReq(8080, 8080).bytes(hostA), uint8(0), uint8(1))
	f.Add(natpmpMap(NATPMPOpMapUDP, 22, 22, 0xffffffff), uint8(1), uint8(0))
	f.Add(append(tcpReq(0, 0).bytes(hostB), 2, 0, 0, 0), uint8(2), uint8(200))
	f.Fuzz(func(t *testing.T, b []byte, who, step uint8) {
		r := newRig(t, func(c *Config) { c.MaxMappings = 20; c.MaxPerHost = 8 })
		senders := []netip.AddrPort{hostA, hostB, netip.MustParseAddrPort("192.168.1.12:5350"), outsider}
		// Split b into datagrams at 0xfe bytes, so one input is a session.
		var msgs [][]byte
		start := 0
		for i, c := range b {
			if c == 0xfe && len(msgs) < 64 {
				msgs = append(msgs, b[start:i])
				start = i + 1
			}
		}
		msgs = append(msgs, b[start:])
		asked := map[netip.Addr]bool{}
		for i, m := range msgs {
			from := senders[(int(who)+i)%len(senders)]
			r.now = r.now.Add(time.Duration(step) * time.Second)
			out := r.send(m, from)
			asked[from.Addr()] = true
			if len(out) > PCPMaxSize || len(out)%4 != 0 {
				t.Fatalf("answer of %d bytes", len(out))
			}
			// Handle expires what it meets only for requests it takes
			// (not an outsider's or a rate-limited one); routerd expires
			// at NextExpiry, as here.
			if next := r.s.NextExpiry(); !next.IsZero() && !next.After(r.now) {
				r.s.Expire(r.now)
			}
			perHost := map[netip.Addr]int{}
			seen := map[extKey]bool{}
			ms := r.s.Mappings()
			if len(ms) > 20 {
				t.Fatalf("%d mappings, cap 20", len(ms))
			}
			for _, mp := range ms {
				h := mp.Internal.Addr()
				perHost[h]++
				k := extKey{mp.Proto, mp.External.Port()}
				switch {
				case !asked[h] || !lan.Contains(h):
					t.Fatalf("mapping for a host that did not ask: %v", mp)
				case mp.External.Port() < 1024 || reservedPorts(mp.Proto, mp.External.Port()):
					t.Fatalf("mapping of a reserved port: %v", mp)
				case seen[k]:
					t.Fatalf("external port mapped twice: %v", mp)
				case perHost[h] > 8:
					t.Fatalf("host %v over its cap", h)
				case mp.Expiry.After(r.now.Add(DefaultMaxLifetime)) || !mp.Expiry.After(r.now):
					t.Fatalf("expiry %v at %v", mp.Expiry, r.now)
				}
				seen[k] = true
			}
		}
	})
}
