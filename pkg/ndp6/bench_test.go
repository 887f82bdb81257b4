package ndp6

import (
	"testing"

	"github.com/mdlayher/ndp"
)

// BenchmarkParse is the receive path's decoder; BenchmarkParseMdlayher is
// mdlayher/ndp's on the same solicitation, for the package doc's choice.
func BenchmarkParse(b *testing.B) {
	f := hostNS(b, hostMAC, hostLL, routerGUA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMdlayher(b *testing.B) {
	f := hostNS(b, hostMAC, hostLL, routerGUA)[EthHeaderLen+IPv6HeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ndp.ParseMessage(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveReachable is the forwarding path's lookup.
func BenchmarkResolveReachable(b *testing.B) {
	n := newNode(b, nil)
	n.Resolve(nil, hostGUA, nil, 0)
	n.Handle(nil, hostNA(b, hostMAC, hostGUA, routerGUA, FlagSolicited|FlagOverride, hostMAC), 0)
	pkt := ipv6Packet(b, wanSrc, hostGUA)
	out := make([][]byte, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		if _, v, _ := n.Resolve(out, hostGUA, pkt, 0); v != Resolved {
			b.Fatal(v)
		}
	}
}

// BenchmarkHandleSolicitation answers a solicitation for the router.
func BenchmarkHandleSolicitation(b *testing.B) {
	n := newNode(b, nil)
	f := hostNS(b, hostMAC, hostLL, routerGUA)
	out := make([][]byte, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		if o := n.Handle(out[:0], f, 0); len(o) != 1 {
			b.Fatal(len(o))
		}
	}
}
