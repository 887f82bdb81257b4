package fw6

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// The forwarding duties of an IPv6 router: RFC 8200 §3 (hop limit), RFC
// 4443 (Time Exceeded, Packet Too Big, the rules of §2.4 and its rate
// limiting), RFC 8200 §5 (routers never fragment).

func TestRFC4443_S33_HopLimitTimeExceeded(t *testing.T) {
	r := newRig(t, nil)
	// Forwarded with hop limit 2: leaves with 1.
	d := r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 33434, HL: 2}), Forward)
	if d.IP.HopLimit != 1 {
		t.Fatalf("hop limit %d, want 1", d.IP.HopLimit)
	}
	for _, hl := range []uint8{1, 0} {
		probe := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 33435, HL: hl})
		orig := append([]byte(nil), probe...)
		if hl == 0 {
			probe[7], orig[7] = 0, 0
		}
		d := r.mustReply(FromLAN, probe, packet.ICMPv6TimeExceeded, packet.ICMPv6HopLimitExceeded, ReasonHopLimit)
		// From the router's address in the sender's prefix (what
		// traceroute shows), to the sender, quoting the packet as received.
		if d.Src() != routerLAN || d.Dst() != hostA {
			t.Fatalf("Time Exceeded %s→%s", d.Src(), d.Dst())
		}
		if !bytes.Equal(d.ICMP.Payload[4:], orig) {
			t.Fatal("Time Exceeded does not quote the packet as received")
		}
	}
	// A LAN host of the ULA prefix hears from the router's ULA address.
	d = r.mustReply(FromLAN, udp6(t, pk{Src: hostULA, Dst: srv, SP: 5000, DP: 33435, HL: 1}), 1, packet.ICMPv6SourcePolicy, ReasonULA)
	if d.Src() != routerULA {
		t.Fatalf("error to a ULA host from %s", d.Src())
	}
	// Inbound: the error comes from the router's WAN address; an
	// unsolicited packet gets nothing (the firewall decides first).
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 6000, DP: 53}), Forward)
	d = r.mustReply(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 6000, HL: 1}), packet.ICMPv6TimeExceeded, 0, ReasonHopLimit)
	if d.Src() != routerWAN || d.Dst() != srv {
		t.Fatalf("inbound Time Exceeded %s→%s", d.Src(), d.Dst())
	}
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 6001, HL: 1}), ReasonNoSession)
}

func TestRFC4443_S32_PacketTooBigNeverFragment(t *testing.T) {
	r := newRig(t, func(c *Config) { c.WANMTU = 1400; c.LANMTU = 1500 })
	big := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443, Payload: make([]byte, 1401-48)})
	if len(big) != 1401 {
		t.Fatalf("built %d bytes", len(big))
	}
	d := r.mustReply(FromLAN, big, packet.ICMPv6PacketTooBig, 0, ReasonTooBig)
	if mtu := packet.ICMPv6(d.Packet[40:]).Param(); mtu != 1400 || d.Src() != routerLAN || d.Dst() != hostA {
		t.Fatalf("Packet Too Big MTU %d %s→%s", mtu, d.Src(), d.Dst())
	}
	// RFC 4443 §2.4 (c): as much of the packet as fits in 1280 bytes.
	if len(d.Packet) != packet.IPv6MinMTU || !bytes.Equal(d.ICMP.Payload[4:], big[:1280-48]) {
		t.Fatalf("error is %d bytes", len(d.Packet))
	}
	// Exactly the MTU passes.
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443, Payload: make([]byte, 1400-48)}), Forward)
	// Inbound larger than the LAN MTU (a tracked flow).
	r2 := newRig(t, func(c *Config) { c.LANMTU = 1280 })
	r2.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443}), Forward)
	d = r2.mustReply(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 5000, Payload: make([]byte, 1300)}), packet.ICMPv6PacketTooBig, 0, ReasonTooBig)
	if mtu := packet.ICMPv6(d.Packet[40:]).Param(); mtu != 1280 || d.Src() != routerWAN || d.Dst() != srv {
		t.Fatalf("inbound Packet Too Big MTU %d %s→%s", mtu, d.Src(), d.Dst())
	}
}

func TestRFC4443_S24e_NoErrorAboutErrorsOrNonUnicastSources(t *testing.T) {
	r := newRig(t, nil)
	// An ICMPv6 error with hop limit 1 is dropped without an error.
	inner := udp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 2})
	r.mustDrop(FromLAN, func() []byte {
		b := icmpErr6(t, hostA, srv, 1, 4, 0, inner)
		b[7] = 1
		return b
	}(), ReasonHopLimit)
	// A later fragment gets no error either (its first fragment did).
	frag := udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2, HL: 1, Ext: []gopacketLayer{&layers.IPv6Fragment{FragmentOffset: 100, Identification: 5}}})
	r.mustDrop(FromLAN, frag, ReasonHopLimit)
	if n := r.e.Counters().ICMPErrorsSent; n != 0 {
		t.Fatalf("%d errors sent", n)
	}
}

func TestRFC4443_S24f_ErrorRateLimit(t *testing.T) {
	r := newRig(t, func(c *Config) { c.ICMPErrorRate = 10; c.ICMPErrorBurst = 5; c.WANMTU = 1280 })
	probe := func() Result {
		return r.send(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 33434, HL: 1}))
	}
	sent := 0
	for range 100 {
		if probe().Verdict == Reply {
			sent++
		}
	}
	if sent != 5 {
		t.Fatalf("%d Time Exceeded in a burst, want the bucket's 5", sent)
	}
	// Packet Too Big has its own bucket: a hop-limit flood does not stop
	// path-MTU discovery.
	big := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443, Payload: make([]byte, 1300)})
	if res := r.send(FromLAN, big); res.Verdict != Reply {
		t.Fatalf("Packet Too Big after a Time Exceeded flood: %v %v", res.Verdict, res.Reason)
	}
	// Refill: 10 per second.
	r.advance(500 * time.Millisecond)
	sent = 0
	for range 100 {
		if probe().Verdict == Reply {
			sent++
		}
	}
	if sent != 5 {
		t.Fatalf("%d errors after 0.5 s at 10/s, want 5", sent)
	}
	c := r.e.Counters()
	if c.ICMPErrorsLimited != 190 || c.Drops[ReasonHopLimit] != 200 {
		t.Fatalf("limited %d, hop-limit drops %d", c.ICMPErrorsLimited, c.Drops[ReasonHopLimit])
	}
}

func TestRFC4443_S22_ErrorSourceWithoutGlobalWANAddress(t *testing.T) {
	// Prefix delegation with an unnumbered WAN link: errors to the WAN come
	// from the router's LAN address; with no global address at all, none.
	r := newRig(t, nil)
	a := defaultAddrs()
	a.RouterWAN = []netip.Addr{mustAddr(routerWANLL)}
	if _, err := r.e.SetAddresses(a); err != nil {
		t.Fatal(err)
	}
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 6000, DP: 53}), Forward)
	d := r.mustReply(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 6000, HL: 1}), packet.ICMPv6TimeExceeded, 0, ReasonHopLimit)
	if d.Src() != routerLAN {
		t.Fatalf("error from %s, want %s", d.Src(), routerLAN)
	}
	a.RouterLAN = []netip.Addr{mustAddr(routerLANLL)}
	r.e.SetAddresses(a)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 6000, HL: 1}), ReasonHopLimit)
	// Toward the LAN the link-local address will do: the sender is on-link.
	d = r.mustReply(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 6000, DP: 53, HL: 1}), packet.ICMPv6TimeExceeded, 0, ReasonHopLimit)
	if d.Src() != routerLANLL {
		t.Fatalf("error from %s, want %s", d.Src(), routerLANLL)
	}
}

func TestRFC4443_S31_ErrorForTheDataPlane(t *testing.T) {
	// A neighbour that does not resolve: Address Unreachable, from the
	// router, under the same rules and rate limit.
	r := newRig(t, func(c *Config) { c.ICMPErrorBurst = 2; c.ICMPErrorRate = 1 })
	b := udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 5000})
	res := r.e.Error(b, FromWAN, packet.ICMPv6DestUnreachable, packet.ICMPv6AddrUnreachable, 0)
	if res.Verdict != Reply {
		t.Fatal(res.Verdict)
	}
	d := oracle(t, res.Packet)
	if d.ICMP.TypeCode != layers.CreateICMPv6TypeCode(1, 3) || d.Src() != routerWAN || d.Dst() != srv {
		t.Fatalf("%v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
	}
	r.e.Error(b, FromWAN, packet.ICMPv6DestUnreachable, packet.ICMPv6AddrUnreachable, 0)
	if res := r.e.Error(b, FromWAN, packet.ICMPv6DestUnreachable, packet.ICMPv6AddrUnreachable, 0); res.Verdict != Drop {
		t.Fatal("rate limit not applied")
	}
	// Not about an error; not about a chain the engine refuses.
	r.advance(10 * time.Second)
	if res := r.e.Error(icmpErr6(t, srv, hostA, 1, 4, 0, b), FromWAN, 1, 3, 0); res.Verdict != Drop {
		t.Fatal("error about an error")
	}
	if res := r.e.Error(withExt(b, packet.ProtoDstOpts, 9, 8), FromWAN, 1, 3, 0); res.Verdict != Drop || r.e.Counters().ICMPErrorsSent != 2 {
		t.Fatalf("%v, %d sent", res.Verdict, r.e.Counters().ICMPErrorsSent)
	}
}
