package nat

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// RFC 5508 (ICMP) requirements.

func TestRFC5508_REQ1_QueryIdentifierMapping(t *testing.T) {
	r := newRig(t, nil)
	a := r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: srv}, 8, 7, 1), Forward)
	b := r.must(Outbound, icmpPkt(t, pk{Src: hostB, Dst: srv}, 8, 7, 1), Forward)
	if a.ICMP.Id == b.ICMP.Id {
		t.Fatalf("two hosts share external identifier %d toward one server", a.ICMP.Id)
	}
	// REQ-1a: the identifier mapping is independent of the external host.
	a2 := r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: srv2}, 8, 7, 1), Forward)
	if a2.ICMP.Id != a.ICMP.Id {
		t.Fatalf("identifier mapping depends on destination: %d vs %d", a.ICMP.Id, a2.ICMP.Id)
	}
	for _, c := range []struct {
		id   uint16
		host string
	}{{a.ICMP.Id, hostA}, {b.ICMP.Id, hostB}} {
		d := r.must(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP}, 0, c.id, 1), Forward)
		if d.Dst() != c.host || d.ICMP.Id != 7 {
			t.Fatalf("echo reply for ext id %d went to %s id %d", c.id, d.Dst(), d.ICMP.Id)
		}
	}
}

func TestRFC5508_REQ2_QueryTimeout(t *testing.T) {
	r := newRig(t, nil)
	if r.e.Config().Timeouts.ICMP != 60*time.Second {
		t.Fatalf("default ICMP timeout %v, want 60s", r.e.Config().Timeouts.ICMP)
	}
	a := r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: srv}, 8, 7, 1), Forward)
	r.advance(60 * time.Second)
	r.must(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP}, 0, a.ICMP.Id, 1), Forward)
	r.advance(62 * time.Second)
	r.mustDrop(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP}, 0, a.ICMP.Id, 1), ReasonNoSession)
}

func TestRFC5508_REQ3_BadErrorsDropped(t *testing.T) {
	r := newRig(t, nil)
	sent := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	orig := append([]byte(nil), sent.Pkt.Data()[:28]...)
	bad := icmpErrPkt(t, srv, extIP, 3, 3, orig)
	bad[len(bad)-1] ^= 0xff // breaks the ICMP checksum
	r.mustDrop(Inbound, bad, ReasonICMPBad)
	emb := append([]byte(nil), orig...)
	emb[10] ^= 0xff // breaks the embedded IP header checksum
	r.mustDrop(Inbound, icmpErrPkt(t, srv, extIP, 3, 3, emb), ReasonICMPBad)
	// A wrong embedded *transport* checksum is not validated.
	emb = append([]byte(nil), orig...)
	emb[26] ^= 0xff
	r.must(Inbound, icmpErrPkt(t, srv, extIP, 3, 3, emb), Forward)
}

func TestRFC5508_REQ4_InboundErrors(t *testing.T) {
	r := newRig(t, nil)
	sent := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053, Payload: []byte("query")}), Forward)
	// Time exceeded from a router on the path, embedding the whole packet.
	d := r.must(Inbound, icmpErrPkt(t, "198.51.100.1", extIP, 11, 0, sent.Pkt.Data()), Forward)
	if d.Dst() != hostA || d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(11, 0) {
		t.Fatalf("%v to %s", d.ICMP.TypeCode, d.Dst())
	}
	emb := embeddedOracle(t, d)
	if emb.SrcIP.String() != hostA || emb.DstIP.String() != srv {
		t.Fatalf("embedded %s→%s", emb.SrcIP, emb.DstIP)
	}
	u := &layers.UDP{}
	if err := u.DecodeFromBytes(emb.Payload, nil); err != nil {
		t.Fatal(err)
	}
	u.SetNetworkLayerForChecksum(emb)
	if u.SrcPort != 5000 {
		t.Fatalf("embedded port %d", u.SrcPort)
	}
	if err, res := u.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("embedded UDP checksum not restored: %+v", res)
	}
	// No mapping: dropped.
	other := udpPkt(t, pk{Src: extIP, Dst: srv, SP: 6000, DP: 1053})
	r.mustDrop(Inbound, icmpErrPkt(t, srv, extIP, 3, 3, other[:28]), ReasonICMPNoMatch)
}

func TestRFC5508_REQ4_ErrorAboutEchoRequest(t *testing.T) {
	r := newRig(t, nil)
	sent := r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: srv, TTL: 3}, 8, 99, 5), Forward)
	d := r.must(Inbound, icmpErrPkt(t, "198.51.100.1", extIP, 11, 0, sent.Pkt.Data()), Forward)
	emb := embeddedOracle(t, d)
	ic := &layers.ICMPv4{}
	if err := ic.DecodeFromBytes(emb.Payload, nil); err != nil {
		t.Fatal(err)
	}
	if emb.SrcIP.String() != hostA || ic.Id != 99 {
		t.Fatalf("embedded echo %s id %d", emb.SrcIP, ic.Id)
	}
	if err, res := ic.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("embedded ICMP checksum: %+v", res)
	}
}

func TestRFC5508_REQ5_OutboundErrors(t *testing.T) {
	r := newRig(t, nil)
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	in := r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000, Payload: []byte("late answer")}), Forward)
	// The host's socket is closed: it sends port unreachable.
	d := r.must(Outbound, icmpErrPkt(t, hostA, srv, 3, 3, in.Pkt.Data()), Forward)
	if d.Src() != extIP || d.Dst() != srv {
		t.Fatalf("outer %s→%s", d.Src(), d.Dst())
	}
	emb := embeddedOracle(t, d)
	if emb.DstIP.String() != extIP || uint16(emb.Payload[2])<<8|uint16(emb.Payload[3]) != 5000 {
		t.Fatalf("embedded destination not the external endpoint")
	}
}

func TestRFC5508_REQ6_ErrorsNeverRefresh(t *testing.T) {
	r := newRig(t, nil)
	sent := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	for i := 0; i < 3; i++ {
		r.advance(100 * time.Second)
		r.must(Inbound, icmpErrPkt(t, srv, extIP, 3, 3, sent.Pkt.Data()), Forward)
	}
	r.advance(2 * time.Second)
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("errors kept the mapping alive past its timeout (%d sessions)", n)
	}
}

func TestRFC5508_REQ7_HairpinICMPError(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Filtering = EndpointIndependent })
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
	hp := r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: extIP, SP: 6000, DP: 5000}), Hairpin)
	// A's port is closed: A sends port unreachable to the source it saw.
	d := r.must(Outbound, icmpErrPkt(t, hostA, extIP, 3, 3, hp.Pkt.Data()), Hairpin)
	if d.Dst() != hostB || d.Src() != extIP {
		t.Fatalf("hairpinned error %s→%s", d.Src(), d.Dst())
	}
	emb := embeddedOracle(t, d)
	if emb.SrcIP.String() != hostB || uint16(emb.Payload[0])<<8|uint16(emb.Payload[1]) != 6000 {
		t.Fatalf("embedded source %s not B's own packet", emb.SrcIP)
	}
	if emb.DstIP.String() != extIP {
		t.Fatalf("embedded destination %s: B sent to the external address", emb.DstIP)
	}
}

func TestRFC5508_REQ8_CannotCreateSession(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessionsPerHost = 3 })
	for i := 0; i < 3; i++ {
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: uint16(5000 + i), DP: 1053}), Forward)
	}
	res := r.send(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5003, DP: 1053}))
	if res.Verdict != Reply {
		t.Fatalf("verdict %v, want an ICMP reply", res.Verdict)
	}
	d := oracle(t, res.Packet)
	if d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(3, 13) || d.Dst() != hostA || d.Src() != router {
		t.Fatalf("got %v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
	}
	if r.e.Counters().Drops[ReasonHostLimit] != 1 {
		t.Fatal("host-limit drop not counted")
	}
	// Another host is unaffected.
	r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 5003, DP: 1053}), Forward)
}

func TestPingRouter(t *testing.T) {
	r := newRig(t, nil)
	d := r.must(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP}, 8, 1, 1), Reply)
	if d.Src() != extIP || d.Dst() != srv || d.ICMP.TypeCode.Type() != 0 {
		t.Fatalf("echo reply %v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
	}
	d = r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: extIP}, 8, 1, 1), Reply)
	if d.Src() != extIP || d.Dst() != hostA {
		t.Fatalf("LAN ping of the external address: %s→%s", d.Src(), d.Dst())
	}
	r2 := newRig(t, func(c *Config) { c.IgnorePing = true })
	r2.mustDrop(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP}, 8, 1, 1), ReasonICMPType)
}
