package dnsfwd

import (
	"net/netip"

	"github.com/miekg/dns"
)

// nonPublic are the ranges a public name has no business resolving to: a
// web page that gets one of them for its own name can reach the LAN from
// the user's browser (DNS rebinding).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// privateAddr says whether a is in a non-public range.
func privateAddr(a netip.Addr) bool {
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dropPrivate removes A and AAAA records with non-public addresses from
// m's answer and additional sections, and says how many it removed.
func dropPrivate(m *dns.Msg) int {
	n := 0
	keep := func(rrs []dns.RR) []dns.RR {
		out := rrs[:0:0]
		for _, rr := range rrs {
			var ip []byte
			switch r := rr.(type) {
			case *dns.A:
				ip = r.A
			case *dns.AAAA:
				ip = r.AAAA
			}
			if ip != nil {
				if a, ok := netip.AddrFromSlice(ip); ok && privateAddr(a.Unmap()) {
					n++
					continue
				}
			}
			out = append(out, rr)
		}
		return out
	}
	m.Answer = keep(m.Answer)
	m.Extra = keep(m.Extra)
	return n
}
