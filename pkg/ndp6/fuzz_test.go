package ndp6

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/mdlayher/ndp"
)

func fuzzSeeds(f *testing.F) {
	t := f
	f.Add(hostNS(t, hostMAC, hostLL, routerGUA))
	f.Add(hostNS(t, hostMAC, hostGUA, routerLL))
	f.Add(hostNA(t, hostMAC, hostGUA, routerGUA, FlagSolicited|FlagOverride, hostMAC))
	f.Add(hostNA(t, hostMAC, routerGUA, AllNodes, FlagOverride, hostMAC))
	sn := SolicitedNode(routerULA)
	f.Add(ndFrame(t, hostMAC, MulticastMAC(sn), netip.IPv6Unspecified(), sn, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerULA.AsSlice(), Options: layers.ICMPv6Options{{Type: 14, Data: []byte{1, 2, 3, 4, 5, 6}}}}))
	f.Add(ndFrame(t, hostMAC, MulticastMAC(AllRouters), hostLL, AllRouters, 255, layers.ICMPv6TypeRouterSolicitation,
		&layers.ICMPv6RouterSolicitation{Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}}))
	f.Add(ndFrame(t, hostMAC, MulticastMAC(AllNodes), hostLL, AllNodes, 255, layers.ICMPv6TypeRouterAdvertisement,
		&layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: 1800, Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}}))
	f.Add([]byte{})
}

// FuzzParse: Parse never panics or reads out of bounds, and what it
// accepts keeps the RFC 4861 §7.1 invariants; a message it accepts that
// mdlayher/ndp also decodes has the same target.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if b[EthHeaderLen+7] != 255 || m.Body[1] != 0 || m.Type < TypeRouterSolicitation || m.Type > TypeRedirect {
			t.Fatalf("accepted hop limit %d code %d type %d", b[EthHeaderLen+7], m.Body[1], m.Type)
		}
		if checksum(m.Src, m.Dst, m.Body) != 0 {
			t.Fatal("accepted a bad checksum")
		}
		if len(m.Body) < minLen(m.Type) || m.Src.IsMulticast() || m.Target.IsMulticast() {
			t.Fatalf("accepted %+v", m)
		}
		if msg, err := ndp.ParseMessage(m.Body); err == nil {
			var target netip.Addr
			switch msg := msg.(type) {
			case *ndp.NeighborSolicitation:
				target = msg.TargetAddress
			case *ndp.NeighborAdvertisement:
				target = msg.TargetAddress
			}
			if target.IsValid() && target != m.Target {
				t.Fatalf("target %v, mdlayher/ndp says %v", m.Target, target)
			}
		}
	})
}

// FuzzHandle: any sequence of frames leaves the node within its caps, and
// everything it sends is valid Neighbor Discovery or a released packet.
func FuzzHandle(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		n := newNode(t, func(c *Config) { c.MaxNeighbours = 4; c.MaxIncomplete = 4; c.ReservedIncomplete = 1 })
		n.Resolve(nil, hostGUA, ipv6Packet(t, wanSrc, hostGUA), 0)
		n.Resolve(nil, hostLL, nil, 0)
		var out [][]byte
		for i := 0; i < 3; i++ {
			now := time.Duration(i) * time.Second
			out = n.Handle(out[:0], b, now)
			for _, o := range out {
				if _, err := Parse(o); err != nil && o[12] == 0x86 && o[EthHeaderLen+6] == protoICMPv6 {
					t.Fatalf("sent invalid ND %x: %v", o, err)
				}
			}
			if len(b) > EthHeaderLen+IPv6HeaderLen+2 {
				b[EthHeaderLen+IPv6HeaderLen+2]++ // vary the checksum byte: other paths
			}
			out, _ = n.Tick(out[:0], nil, now)
		}
		res, inc, q := n.Usage()
		if res > 4 || inc > 4 || q > n.Config().MaxQueued {
			t.Fatalf("usage %d %d %d beyond caps", res, inc, q)
		}
	})
}
