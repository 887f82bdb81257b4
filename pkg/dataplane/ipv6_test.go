package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/ndp6"
)

// The IPv6 bench: delegated 2600:100:0:100::/56, the LAN /64 of it, the
// router ::1 there; the WAN 2600:5::/64 with the router at ::2 and the
// default router fe80::1. Real global prefixes: fw6 does not forward
// documentation ones.
var (
	delegated6 = netip.MustParsePrefix("2600:100:0:100::/56")
	lan64      = netip.MustParsePrefix("2600:100:0:100::/64")
	router6    = netip.MustParseAddr("2600:100:0:100::1")
	host6      = netip.MustParseAddr("2600:100:0:100::10")
	hostLL6    = netip.MustParseAddr("fe80::10")
	wan6       = netip.MustParseAddr("2600:5::2")
	gwLL6      = netip.MustParseAddr("fe80::1")
	remote6    = netip.MustParseAddr("2600:9::10")
)

func ll(mac [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

func ipv6Engines(t testing.TB, lanMAC, wanMAC [6]byte) *IPv6Config {
	e, err := fw6.New(fw6.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAddresses(fw6.Addresses{Delegated: []netip.Prefix{delegated6}, LAN: []netip.Prefix{lan64},
		RouterLAN: []netip.Addr{ll(lanMAC), router6}, RouterWAN: []netip.Addr{ll(wanMAC), wan6}}); err != nil {
		t.Fatal(err)
	}
	lan, err := ndp6.New(ndp6.Config{MAC: lanMAC, Router: true, DADTransmits: -1})
	if err != nil {
		t.Fatal(err)
	}
	wan, err := ndp6.New(ndp6.Config{MAC: wanMAC, DADTransmits: -1})
	if err != nil {
		t.Fatal(err)
	}
	lan.AddAddress(ll(lanMAC), 0)
	lan.AddAddress(router6, 0)
	wan.AddAddress(ll(wanMAC), 0)
	wan.AddAddress(wan6, 0)
	return &IPv6Config{Engine: e, LAN: lan, WAN: wan}
}

func newBench6(t *testing.T) *bench {
	b := newBenchWith(t, benchOpts{ipv6: ipv6Engines})
	b.dp.SetIPv6Route(IPv6Route{Gateway: gwLL6, OnLink: []netip.Prefix{netip.MustParsePrefix("2600:5::/64")}})
	return b
}

func ndFrame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, m ndp.Message) []byte {
	f, err := ndp6.Marshal([6]byte(dstMAC), [6]byte(srcMAC), src, dst, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tcp6Frame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sp, dp uint16, syn, ack bool, hop uint8) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: hop, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	tc := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: syn, ACK: ack, Seq: 1000, Window: 65535}
	tc.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip, tc)
}

// readUntil reads frames on l until one satisfies ok.
func (b *bench) readUntil(l *link.PipeEnd, what string, ok func(gopacket.Packet) bool) gopacket.Packet {
	b.t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		fs, _ := link.ReadFrames(l, 1, 200*time.Millisecond)
		for _, f := range fs {
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if ok(p) {
				return p
			}
		}
	}
	b.t.Fatalf("no %s on %s", what, l.Name())
	return nil
}

func icmp6Type(p gopacket.Packet) uint8 {
	if l, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		return l.TypeCode.Type()
	}
	return 0
}

func TestIPv6NeighbourSolicitationAnswered(t *testing.T) {
	b := newBench6(t)
	for _, target := range []netip.Addr{ll([6]byte(b.lanMAC())), router6} {
		b.write(b.lan, ndFrame(t, hostMAC, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, hostLL6, ndp6.SolicitedNode(target),
			&ndp.NeighborSolicitation{TargetAddress: target, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: hostMAC}}}))
		p := b.readUntil(b.lan, "neighbour advertisement", func(p gopacket.Packet) bool { return icmp6Type(p) == ndp6.TypeNeighborAdvertisement })
		na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		if !ok || !na.Router() || !na.Solicited() || na.TargetAddress.String() != target.String() || eth(p).DstMAC.String() != hostMAC.String() {
			t.Fatalf("answer to the solicitation for %v: %v", target, p)
		}
	}
	// Solicitations are routerd's to answer: self0 does not get them.
	b.none(b.kernel)
	// A LAN host's advertisement goes to self0 too (its kernel resolves hosts).
	b.write(b.lan, ndFrame(t, hostMAC, b.lanMAC(), host6, router6, &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: host6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: hostMAC}}}))
	b.readUntil(b.kernel, "advertisement handed to self0", func(p gopacket.Packet) bool { return icmp6Type(p) == ndp6.TypeNeighborAdvertisement })
}

func TestIPv6ForwardingResolvesNextHops(t *testing.T) {
	b := newBench6(t)
	b.write(b.lan, tcp6Frame(t, hostMAC, b.lanMAC(), host6, remote6, 40000, 443, true, false, 64))
	// The router asks for its default router on the WAN…
	b.readUntil(b.wan, "solicitation for the default router", func(p gopacket.Packet) bool {
		ns, ok := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
		return ok && ns.TargetAddress.String() == gwLL6.String()
	})
	b.write(b.wan, ndFrame(t, gwMAC, b.wanMAC(), gwLL6, ll([6]byte(b.wanMAC())), &ndp.NeighborAdvertisement{Router: true, Solicited: true, Override: true,
		TargetAddress: gwLL6, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: gwMAC}}}))
	// …and sends the SYN on, hop limit decremented, to its MAC.
	p := b.readUntil(b.wan, "forwarded SYN", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeTCP) != nil })
	ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if eth(p).DstMAC.String() != gwMAC.String() || eth(p).SrcMAC.String() != b.wanMAC().String() || ip.HopLimit != 63 || ip.SrcIP.String() != host6.String() {
		t.Fatalf("forwarded SYN: %v", p)
	}
	// The answer comes back; the router resolves the LAN host first.
	b.write(b.wan, tcp6Frame(t, gwMAC, b.wanMAC(), remote6, host6, 443, 40000, true, true, 60))
	b.readUntil(b.lan, "solicitation for the LAN host", func(p gopacket.Packet) bool {
		ns, ok := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
		return ok && ns.TargetAddress.String() == host6.String()
	})
	b.write(b.lan, ndFrame(t, hostMAC, b.lanMAC(), host6, router6, &ndp.NeighborAdvertisement{Solicited: true, Override: true,
		TargetAddress: host6, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: hostMAC}}}))
	p = b.readUntil(b.lan, "SYN-ACK for the LAN host", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeTCP) != nil })
	if eth(p).DstMAC.String() != hostMAC.String() || p.Layer(layers.LayerTypeIPv6).(*layers.IPv6).HopLimit != 59 {
		t.Fatalf("SYN-ACK: %v", p)
	}
	// An unsolicited SYN from the WAN to the host is not forwarded.
	b.write(b.wan, tcp6Frame(t, gwMAC, b.wanMAC(), remote6, host6, 5555, 22, true, false, 60))
	time.Sleep(50 * time.Millisecond)
	if fs, _ := link.ReadFrames(b.lan, 4, 100*time.Millisecond); len(fs) > 0 {
		for _, f := range fs {
			if p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default); p.Layer(layers.LayerTypeTCP) != nil {
				t.Fatalf("unsolicited SYN forwarded: %v", p)
			}
		}
	}
}

func TestIPv6HopLimitAndNoRoute(t *testing.T) {
	b := newBench6(t)
	b.write(b.lan, tcp6Frame(t, hostMAC, b.lanMAC(), host6, remote6, 40000, 443, true, false, 1))
	p := b.readUntil(b.lan, "time exceeded", func(p gopacket.Packet) bool { return icmp6Type(p) == layers.ICMPv6TypeTimeExceeded })
	if eth(p).DstMAC.String() != hostMAC.String() || p.Layer(layers.LayerTypeIPv6).(*layers.IPv6).DstIP.String() != host6.String() {
		t.Fatalf("time exceeded: %v", p)
	}
	b.dp.SetIPv6Route(IPv6Route{})
	b.write(b.lan, tcp6Frame(t, hostMAC, b.lanMAC(), host6, remote6, 40001, 443, true, false, 64))
	p = b.readUntil(b.lan, "destination unreachable", func(p gopacket.Packet) bool { return icmp6Type(p) == layers.ICMPv6TypeDestinationUnreachable })
	if c := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6).TypeCode.Code(); c != 0 {
		t.Fatalf("no route: code %d", c)
	}
	if b.dp.Counters().NoWANRoute6 == 0 {
		t.Fatal("NoWANRoute6 not counted")
	}
}

func TestIPv6SelfTrafficRoutedToWAN(t *testing.T) {
	b := newBench6(t)
	// The router's own SYN leaves self0 to the virtual next hop.
	b.write(b.kernel, tcp6Frame(t, b.lanMAC(), nhMAC, router6, remote6, 50000, 443, true, false, 64))
	b.readUntil(b.wan, "solicitation for the default router", func(p gopacket.Packet) bool {
		return icmp6Type(p) == ndp6.TypeNeighborSolicitation
	})
	b.write(b.wan, ndFrame(t, gwMAC, b.wanMAC(), gwLL6, ll([6]byte(b.wanMAC())), &ndp.NeighborAdvertisement{Router: true, Solicited: true, Override: true,
		TargetAddress: gwLL6, Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: gwMAC}}}))
	b.readUntil(b.wan, "the router's SYN", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeTCP) != nil })
	// The reply goes to self0, from the virtual next hop's MAC.
	b.write(b.wan, tcp6Frame(t, gwMAC, b.wanMAC(), remote6, router6, 443, 50000, true, true, 60))
	p := b.readUntil(b.kernel, "reply handed to self0", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeTCP) != nil })
	if eth(p).SrcMAC.String() != nhMAC.String() || eth(p).DstMAC.String() != b.lanMAC().String() {
		t.Fatalf("to self0: %v", p)
	}
	// self0's router solicitations never reach the LAN (routerd is the router).
	b.write(b.kernel, ndFrame(t, b.lanMAC(), net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}, ll([6]byte(b.lanMAC())), netip.MustParseAddr("ff02::2"), &ndp.RouterSolicitation{}))
	b.none(b.lan)
}

func TestIPv6OffMeansDropped(t *testing.T) {
	b := newBench(t)
	b.write(b.lan, tcp6Frame(t, hostMAC, b.lanMAC(), host6, remote6, 40000, 443, true, false, 64))
	time.Sleep(50 * time.Millisecond)
	b.none(b.wan)
	if b.dp.Counters().NonIPv4 == 0 {
		t.Fatal("an IPv6 frame with IPv6 off is not counted")
	}
}

func udp6Frame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sp, dp uint16) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	u.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}, ip, u, gopacket.Payload("x"))
}

// TestIPv6BatchHintOfARecordReused: the hint a batch's prefetch gives a
// frame (fw6.Engine.PrefetchSessions) can name a record that an earlier
// frame of the same batch freed and gave to another flow. In a full table
// of 16 sessions, one never answered (X), a batch from the LAN of a new
// flow Y (which evicts X, and takes X's record) and then X's packet: X's
// packet must get a session of its own, not be counted on Y's, which its
// hint names by then.
func TestIPv6BatchHintOfARecordReused(t *testing.T) {
	x := func(i int) uint16 { return uint16(20000 + i) }
	b := newBenchWith(t, benchOpts{ipv6: func(t testing.TB, lanMAC, wanMAC [6]byte) *IPv6Config {
		v6 := ipv6Engines(t, lanMAC, wanMAC)
		c := v6.Engine.Config()
		c.MaxSessions, c.MaxSessionsPerHost = 16, 16
		if _, err := v6.Engine.Reconfigure(c); err != nil {
			t.Fatal(err)
		}
		udp := func(src netip.Addr, sp uint16, dst netip.Addr, dp uint16, dir fw6.Dir) {
			f := udp6Frame(t, hostMAC, net.HardwareAddr(lanMAC[:]), src, dst, sp, dp)
			if r := v6.Engine.Process(f[14:], dir); r.Verdict != fw6.Forward {
				t.Fatalf("setup %v:%d → %v:%d: %v %v", src, sp, dst, dp, r.Verdict, r.Reason)
			}
		}
		// X first, unanswered; fifteen answered flows fill the table.
		udp(host6, x(0), remote6, 53, fw6.FromLAN)
		for i := 1; i < 16; i++ {
			udp(host6, x(i), remote6, 53, fw6.FromLAN)
			udp(remote6, 53, host6, x(i), fw6.FromWAN)
		}
		return v6
	}})
	b.dp.SetIPv6Route(IPv6Route{Gateway: gwLL6, OnLink: []netip.Prefix{netip.MustParsePrefix("2600:5::/64")}})
	before := b.dp.Counters().IPv6In
	// Y comes from another host: host6 is at its limit.
	hostY := netip.MustParseAddr("2600:100:0:100::11")
	b.write(b.lan, udp6Frame(t, hostMAC, b.lanMAC(), hostY, remote6, 30000, 53), // Y
		udp6Frame(t, hostMAC, b.lanMAC(), host6, remote6, x(0), 53)) // X
	for deadline := time.Now().Add(3 * time.Second); b.dp.Counters().IPv6In < before+2; {
		if time.Now().After(deadline) {
			t.Fatal("the batch was not processed")
		}
		time.Sleep(time.Millisecond)
	}
	b.dp.mu.Lock()
	defer b.dp.mu.Unlock()
	var got []string
	found := false
	b.dp.v6.Engine.Sessions(func(s fw6.Session) bool {
		got = append(got, fmt.Sprintf("%v out %d", s.LAN, s.PacketsOut))
		if s.LAN.Port() == x(0) && s.LAN.Addr() == host6 {
			found = s.PacketsOut == 1
		}
		return true
	})
	if !found {
		t.Fatalf("X's packet has no session of its own: %v", got)
	}
}
