package fw6

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// RFC 6092 ("simple security" for residential IPv6 gateways): one test per
// recommendation the engine implements, named after it.

func TestRFC6092_REC1_MulticastSourceNeverForwarded(t *testing.T) {
	r := newRig(t, nil)
	r.mustDrop(FromLAN, udp6(t, pk{Src: "ff02::1", Dst: srv, SP: 1, DP: 2}), ReasonMartianSource)
	r.mustDrop(FromWAN, udp6(t, pk{Src: "ff0e::1", Dst: hostA, SP: 1, DP: 2}), ReasonMartianSource)
	r.mustDrop(FromWAN, udp6(t, pk{Src: "ff02::1", Dst: routerWAN, SP: 1, DP: 2}), ReasonMartianSource)
}

func TestRFC6092_REC2_MulticastNotForwardedAtAnyScope(t *testing.T) {
	r := newRig(t, nil)
	for _, g := range []string{"ff05::2", "ff08::1", "ff0e::1", "ff15::1234"} {
		r.mustDrop(FromLAN, udp6(t, pk{Src: hostA, Dst: g, SP: 1, DP: 2}), ReasonMulticast)
		r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: g, SP: 1, DP: 2}), ReasonMulticast)
	}
	// Link scope is the router's own business, never forwarded.
	r.must(FromLAN, udp6(t, pk{Src: hostLL, Dst: "ff02::1:2", SP: 546, DP: 547}), ToSelf)
}

func TestRFC6092_REC3_ForbiddenAddressesNotForwarded(t *testing.T) {
	for _, a := range []string{"2001:db8::1", "3fff::1", "2001:10::1", "2001:20::1", "fec0::1", "::ffff:10.0.0.1", "::10.0.0.1", "100::1", "::1"} {
		t.Run(a, func(t *testing.T) {
			r := newRig(t, nil)
			r.mustDrop(FromLAN, udp6(t, pk{Src: hostA, Dst: a, SP: 1, DP: 2}), ReasonMartianDest)
			r.mustDrop(FromWAN, udp6(t, pk{Src: a, Dst: hostA, SP: 1, DP: 2}), ReasonMartianSource)
		})
	}
}

func TestRFC6092_REC4_RoutingHeaderType0NeverForwarded(t *testing.T) {
	r := newRig(t, nil)
	// Segments left 0: the final destination is the IPv6 destination, so
	// the transport checksum is the ordinary one.
	rh := func(typ uint8) gopacketLayer {
		return &layers.IPv6Routing{RoutingType: typ, Reserved: make([]byte, 4), Data: make([]byte, 16)}
	}
	r.mustDrop(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2, Ext: []gopacketLayer{rh(0)}}), ReasonRoutingType0)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), Forward)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 2, DP: 1, Ext: []gopacketLayer{dstOpts(), rh(0)}}), ReasonRoutingType0)
	// Other routing types are not a reason to drop (RFC 7045).
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 2, DP: 1, Ext: []gopacketLayer{rh(2)}}), Forward)
}

func TestRFC6092_REC5_OutboundSourceMustBeInterior(t *testing.T) {
	r := newRig(t, nil)
	for _, src := range []string{srv2, "2a00:1:2:4::10" /* delegated, not on the LAN */} {
		r.mustReply(FromLAN, tcp6(t, pk{Src: src, Dst: srv, SP: 1, DP: 443, Flags: "S"}), packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, ReasonSpoofedSource)
	}
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions from spoofed sources", n)
	}
}

func TestRFC6092_REC6_InboundSourceFromInteriorDropped(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53}), Forward)
	for _, src := range []string{hostA, hostB, "2a00:1:2:ff::1", routerLAN, hostULA} {
		r.mustDrop(FromWAN, udp6(t, pk{Src: src, Dst: hostA, SP: 53, DP: 5000}), ReasonLANSourceFromWAN)
	}
}

func TestRFC6092_REC7_UniqueLocalStaysInside(t *testing.T) {
	r := newRig(t, nil)
	r.mustReply(FromLAN, udp6(t, pk{Src: hostULA, Dst: srv, SP: 1, DP: 2}), packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, ReasonULA)
	r.mustDrop(FromWAN, udp6(t, pk{Src: "fd00:1::1", Dst: hostA, SP: 1, DP: 2}), ReasonULA)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostULA, SP: 1, DP: 2}), ReasonULA)
}

func TestRFC6092_REC8_REC9_REC50_NoServicesOnTheWAN(t *testing.T) {
	r := newRig(t, nil)
	for _, p := range [][]byte{
		udp6(t, pk{Src: srv, Dst: routerWAN, SP: 5353, DP: 53}),               // DNS (REC-8)
		udp6(t, pk{Src: ispLL, Dst: routerWANLL, SP: 546, DP: 547}),           // DHCPv6 server port (REC-9)
		udp6(t, pk{Src: ispLL, Dst: "ff02::1:2", SP: 546, DP: 547}),           // to All_DHCP_Relay_Agents_and_Servers
		tcp6(t, pk{Src: srv, Dst: routerWAN, SP: 40000, DP: 22, Flags: "S"}),  // SSH (REC-50)
		tcp6(t, pk{Src: srv, Dst: routerLAN, SP: 40000, DP: 443, Flags: "S"}), // its LAN address from outside
	} {
		res := r.send(FromWAN, p)
		if res.Verdict != Drop {
			t.Fatalf("WAN packet to the router: %v", res.Verdict)
		}
	}
	if c := r.e.Counters(); c.Drops[ReasonSelfClosed] != 5 || c.ICMPErrorsSent != 0 {
		t.Fatalf("self-closed %d, errors %d", c.Drops[ReasonSelfClosed], c.ICMPErrorsSent)
	}
	// From the LAN the same services are the router's to answer.
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: routerLAN, SP: 5353, DP: 53}), ToSelf)
	r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: routerLAN, SP: 40000, DP: 22, Flags: "S"}), ToSelf)
}

func TestRFC6092_REC10_ErrorsMatchingNoStateDropped(t *testing.T) {
	r := newRig(t, nil)
	about := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53})
	for _, typ := range []uint8{packet.ICMPv6DestUnreachable, packet.ICMPv6PacketTooBig, packet.ICMPv6TimeExceeded, packet.ICMPv6ParamProblem} {
		r.mustDrop(FromWAN, icmpErr6(t, srv, hostA, typ, 0, 1280, about), ReasonICMPNoMatch)
	}
	// Quoting a packet the LAN host did not send.
	r.must(FromLAN, about, Forward)
	r.mustDrop(FromWAN, icmpErr6(t, srv, hostB, packet.ICMPv6DestUnreachable, 4, 0, about), ReasonICMPNoMatch)
	r.mustDrop(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, 4, 0, udp6(t, pk{Src: hostA, Dst: srv, SP: 5001, DP: 53})), ReasonICMPNoMatch)
	r.mustDrop(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, 4, 0, about[:30]), ReasonICMPBad)
}

func TestRFC6092_REC11_REC17_REC33_FilteringBehaviour(t *testing.T) {
	for _, f := range []Filtering{AddressDependent, EndpointIndependent} {
		t.Run(f.String(), func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Filtering = f })
			r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
			r.established(hostA, 40000, srv, 443)
			// Same remote address, another port: admitted by both.
			r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 3479, DP: 5000}), Forward)
			r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 444, DP: 40000, Flags: "S"}), Forward)
			// Another remote address: only endpoint-independent filtering.
			udp := r.send(FromWAN, udp6(t, pk{Src: srv2, Dst: hostA, SP: 3478, DP: 5000}))
			tcp := r.send(FromWAN, tcp6(t, pk{Src: srv2, Dst: hostA, SP: 443, DP: 40000, Flags: "S"}))
			if (udp.Verdict == Forward) != (f == EndpointIndependent) || (tcp.Verdict == Forward) != (f == EndpointIndependent) {
				t.Fatalf("other remote: udp %v %v, tcp %v %v", udp.Verdict, udp.Reason, tcp.Verdict, tcp.Reason)
			}
			// Never to another port of the host.
			r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 3478, DP: 5001}), ReasonNoSession)
			// Admission creates no state; the host's answer does.
			before := len(r.sessions())
			r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3479}), Forward)
			if len(r.sessions()) != before+1 {
				t.Fatal("the host's answer opened no session")
			}
			// The LAN host's SYN-ACK to an admitted SYN opens a session from the WAN.
			r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 444, Flags: "SA"}), Forward)
			for _, s := range r.sessions() {
				if s.Remote.Port() == 444 && (!s.Inbound || s.State != "syn-received") {
					t.Fatalf("answered SYN: %+v", s)
				}
			}
		})
	}
}

func TestRFC6092_REC12_REC14_REC16_UDPAndGenericTimeouts(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 5001}), Forward)
	r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, 200, []byte("x")), Forward) // a protocol the engine does not know
	r.advance(299 * time.Second)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 5001, DP: 5000}), Forward)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, 200, []byte("y")), Forward)
	// REC-16: the outbound refresh; the inbound one above refreshed too.
	r.advance(299 * time.Second)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 5001}), Forward)
	r.advance(301 * time.Second)
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, 200, []byte("z")), ReasonNoSession)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 5001, DP: 5000}), ReasonNoSession)
	for _, c := range []func(*Config){
		func(c *Config) { c.Timeouts.UDP = 119 * time.Second },
		func(c *Config) { c.Timeouts.Other = time.Minute },
	} {
		cfg := DefaultConfig()
		c(&cfg)
		if _, err := New(cfg); err == nil {
			t.Fatal("timeout below 2 minutes accepted")
		}
	}
}

func TestRFC6092_REC18_REC36_ErrorsAboutFlowsForwarded(t *testing.T) {
	r := newRig(t, nil)
	udpOut := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53})
	r.must(FromLAN, udpOut, Forward)
	tcpOut := tcp6(t, pk{Src: hostB, Dst: srv2, SP: 40000, DP: 443, Flags: "S"})
	r.must(FromLAN, tcpOut, Forward)
	for _, c := range []struct {
		host  string
		about []byte
	}{{hostA, udpOut}, {hostB, tcpOut}} {
		for _, typ := range []uint8{packet.ICMPv6DestUnreachable, packet.ICMPv6PacketTooBig, packet.ICMPv6TimeExceeded, packet.ICMPv6ParamProblem} {
			d := r.must(FromWAN, icmpErr6(t, "2600:9::1", c.host, typ, 0, 1400, c.about), Forward)
			if d.Dst() != c.host || d.ICMP.TypeCode.Type() != typ {
				t.Fatalf("error %d to %s", typ, d.Dst())
			}
			if q := quoted(t, d); q.SrcIP.String() != c.host {
				t.Fatal("quote changed")
			}
		}
	}
	// Only the first 8 bytes of the transport header quoted (a router
	// quoting little) still name the flow.
	r.must(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, 4, 0, udpOut[:48]), Forward)
}

func TestRFC6092_REC19_REC37_ICMPNeverEndsOrRefreshesState(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	udpOut := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53})
	r.must(FromLAN, udpOut, Forward)
	before := r.sessions()
	r.advance(100 * time.Second)
	tcpOut := tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"})
	for _, about := range [][]byte{udpOut, tcpOut} {
		for code := uint8(0); code < 7; code++ {
			r.must(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, code, 0, about), Forward)
		}
	}
	after := r.sessions()
	if len(after) != len(before) {
		t.Fatalf("%d sessions after errors, %d before", len(after), len(before))
	}
	for _, s := range after {
		if s.Idle != 100*time.Second || (s.Protocol == 6 && s.State != "established") {
			t.Fatalf("an error changed a session: %+v", s)
		}
	}
	// UDP expires on its own timer regardless of the errors.
	r.advance(201 * time.Second)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 5000}), ReasonNoSession)
}

func TestRFC6092_REC20_UDPLiteHasItsOwnState(t *testing.T) {
	r := newRig(t, nil)
	lite := func(src, dst string, sp, dp uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b, sp)
		binary.BigEndian.PutUint16(b[2:], dp)
		binary.BigEndian.PutUint16(b[4:], 8)
		return raw6(t, pk{Src: src, Dst: dst}, packet.ProtoUDPLite, b)
	}
	r.must(FromLAN, lite(hostA, srv, 5000, 6000), Forward)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 6000, DP: 5001}), ReasonNoSession)
	r.must(FromWAN, lite(srv, hostA, 6000, 5000), Forward)
	s := r.sessions()
	if len(s) != 1 || s[0].Protocol != packet.ProtoUDPLite || s[0].State != "udp" || s[0].LAN.Port() != 5000 {
		t.Fatalf("sessions %+v", s)
	}
}

// ah is an Authentication Header (RFC 4302) carrying next; gopacket
// decodes AH but does not serialise it.
func withAH(t *testing.T, b []byte) []byte {
	t.Helper()
	h := make([]byte, 24)
	h[0], h[1] = b[6], 4
	binary.BigEndian.PutUint32(h[4:], 0x1234)
	out := append(append(append([]byte(nil), b[:40]...), h...), b[40:]...)
	out[6] = packet.ProtoAH
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

func TestRFC6092_REC21_AHDoesNotStopAFlow(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromLAN, withAH(t, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"})), Forward)
	r.must(FromWAN, withAH(t, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "SA"})), Forward)
	if s := r.sessions(); len(s) != 1 || s[0].Protocol != packet.ProtoTCP || s[0].State != "established" {
		t.Fatalf("AH-protected TCP: %+v", s)
	}
	// Unsolicited AH-protected TCP is still unsolicited.
	r.mustDrop(FromWAN, withAH(t, tcp6(t, pk{Src: srv, Dst: hostB, SP: 443, DP: 40000, Flags: "A"})), ReasonNoSession)
}

func TestRFC6092_REC22_REC24_InboundIPsecByDefault(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(0x1001)), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 500, DP: 500, Payload: make([]byte, 28)}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 4500, DP: 4500}), Forward)
	for _, s := range r.sessions() {
		if !s.Inbound {
			t.Fatalf("IPsec from the WAN not marked as opened from the WAN: %+v", s)
		}
	}
	// Off, only flows the LAN opened pass; off flushes those it admitted.
	c := r.e.Config()
	c.InboundIPsec = false
	if n, err := r.e.Reconfigure(c); err != nil || n != 3 {
		t.Fatalf("Reconfigure: %d flushed, %v", n, err)
	}
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(0x1001)), ReasonNoSession)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 500, DP: 500}), ReasonNoSession)
	r.must(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: 500, DP: 500}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 500, DP: 500}), Forward)
}

func TestRFC6092_REC23_REC25_ESPByAddressPair(t *testing.T) {
	r := newRig(t, func(c *Config) { c.InboundIPsec = false })
	r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoESP, esp(0xa)), Forward)
	r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoESP, esp(0xb)), Forward)
	// One state record per (interior, exterior, ESP): any SPI from the
	// server comes back, no learning (REC-25).
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(0x77)), Forward)
	if s := r.sessions(); len(s) != 1 || s[0].Protocol != packet.ProtoESP || s[0].PacketsOut != 2 || s[0].PacketsIn != 1 {
		t.Fatalf("sessions %+v", s)
	}
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv2, Dst: hostA}, packet.ProtoESP, esp(0x77)), ReasonNoSession)
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostB}, packet.ProtoESP, esp(0x77)), ReasonNoSession)
	// REC-23: path-MTU errors about the ESP flow reach the host.
	about := raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoESP, esp(0xa))
	r.must(FromWAN, icmpErr6(t, "2600:9::1", hostA, packet.ICMPv6PacketTooBig, 0, 1300, about), Forward)
	r.mustDrop(FromWAN, icmpErr6(t, "2600:9::1", hostB, packet.ICMPv6PacketTooBig, 0, 1300,
		raw6(t, pk{Src: hostB, Dst: srv}, packet.ProtoESP, esp(0xa))), ReasonICMPNoMatch)
}

func TestRFC6092_REC26_HIPNotProhibited(t *testing.T) {
	hip := func(src, dst string) []byte {
		return raw6(t, pk{Src: src, Dst: dst}, packet.ProtoHIP, []byte{59, 4, 0x11, 0x02, 0, 0, 0, 0})
	}
	// Default mode: HIP passes both ways, unsolicited included.
	r := newRig(t, nil)
	r.must(FromLAN, hip(hostA, srv), Forward)
	r.must(FromWAN, hip(srv, hostA), Forward)
	r.must(FromWAN, hip(srv, hostB), Forward)
	// Off, only the flows a LAN host opened.
	r = newRig(t, func(c *Config) { c.InboundHIP = false })
	r.must(FromLAN, hip(hostA, srv), Forward)
	r.must(FromWAN, hip(srv, hostA), Forward)
	r.mustDrop(FromWAN, hip(srv, hostB), ReasonNoSession)
}

func TestRFC6092_REC27_Type2RoutingHeaderOfAFlowForwarded(t *testing.T) {
	// A mobile node on the LAN (its care-of address hostA) talks to a
	// correspondent; the correspondent's packets carry a type 2 routing
	// header with the home address.
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 7000, DP: 7001}), Forward)
	rh2 := &layers.IPv6Routing{RoutingType: 2, Reserved: make([]byte, 4), Data: ip("2a02:99::5")}
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 7001, DP: 7000, Ext: []gopacketLayer{rh2}}), Forward)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 7001, DP: 7000, Ext: []gopacketLayer{rh2}}), ReasonNoSession)
}

func TestRFC6092_REC28_REC30_MobilityHeaderFlows(t *testing.T) {
	// A binding update from a LAN mobile node and the answer (Mobility
	// Header, protocol 135, carrying No Next Header), then an error about
	// it; also IPv6-in-IPv6 opened from the LAN (REC-29's tunnel, when its
	// LAN end opens it).
	r := newRig(t, nil)
	mh := []byte{59, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoMobility, mh), Forward)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoMobility, mh), Forward)
	r.must(FromWAN, icmpErr6(t, "2600:9::1", hostA, packet.ICMPv6PacketTooBig, 0, 1280, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoMobility, mh)), Forward)
	inner := udp6(t, pk{Src: "2a02:99::5", Dst: srv2, SP: 1, DP: 2})
	r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoIPv6, inner), Forward)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoIPv6, inner), Forward)
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostB}, packet.ProtoIPv6, inner), ReasonNoSession)
}

func TestRFC6092_REC31_TCPHandshakesAndPickup(t *testing.T) {
	t.Run("three-way", func(t *testing.T) {
		r := newRig(t, nil)
		r.established(hostA, 40000, srv, 443)
		if s := r.sessions(); s[0].State != "established" {
			t.Fatal(s[0].State)
		}
	})
	t.Run("simultaneous open", func(t *testing.T) {
		r := newRig(t, nil)
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 5000, Flags: "S"}), Forward)
		d := r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 5000, DP: 40000, Flags: "S"}), Forward)
		if !d.TCP.SYN || d.TCP.ACK {
			t.Fatal("peer's SYN changed")
		}
		if s := r.sessions(); len(s) != 1 || s[0].State != "established" {
			t.Fatalf("%+v", s)
		}
	})
	t.Run("picked up mid-stream", func(t *testing.T) {
		r := newRig(t, nil)
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "PA", Payload: []byte("x")}), Forward)
		r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), Forward)
	})
	t.Run("close", func(t *testing.T) {
		r := newRig(t, nil)
		r.established(hostA, 40000, srv, 443)
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "FA"}), Forward)
		r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "FA"}), Forward)
		if s := r.sessions(); s[0].State != "closing" {
			t.Fatal(s[0].State)
		}
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"}), Forward)
	})
}

func TestRFC6092_REC32_TCPWindowNotEnforced(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	for _, seq := range []uint32{1, 1 << 31, 0xfffffff0} {
		r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A", Seq: seq}), Forward)
	}
}

func TestRFC6092_REC34_UnsolicitedSYNAdministrativelyProhibited(t *testing.T) {
	t.Run("after 6 seconds", func(t *testing.T) {
		r := newRig(t, nil)
		syn := tcp6(t, pk{Src: srv, Dst: hostA, SP: 5555, DP: 22, Flags: "S"})
		r.mustDrop(FromWAN, syn, ReasonUnsolicitedSYN)
		r.mustDrop(FromWAN, syn, ReasonUnsolicitedSYN) // retransmission: one error
		if out := r.advance(6 * time.Second); len(out) != 0 {
			t.Fatal("error before 6 s")
		}
		out := r.advance(1100 * time.Millisecond)
		if len(out) != 1 {
			t.Fatalf("%d errors after 6 s, want 1", len(out))
		}
		d := oracle(t, out[0])
		if d.ICMP.TypeCode != layers.CreateICMPv6TypeCode(1, 1) || d.Src() != routerWAN || d.Dst() != srv {
			t.Fatalf("%v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
		}
		if q := quoted(t, d); q.SrcIP.String() != srv || q.DstIP.String() != hostA {
			t.Fatal("the error does not quote the SYN")
		}
	})
	t.Run("simultaneous open cancels", func(t *testing.T) {
		r := newRig(t, nil)
		r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 5555, DP: 40000, Flags: "S"}), ReasonUnsolicitedSYN)
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 5555, Flags: "S"}), Forward)
		if out := r.advance(10 * time.Second); len(out) != 0 {
			t.Fatal("error for a SYN the LAN side answered")
		}
	})
	t.Run("silent", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.UnsolicitedSYNSilent = true })
		r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 5555, DP: 22, Flags: "S"}), ReasonUnsolicitedSYN)
		if out := r.advance(10 * time.Second); len(out) != 0 {
			t.Fatal("error sent although silent")
		}
	})
}

func TestRFC6092_REC35_TCPTimeouts(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	r.must(FromLAN, tcp6(t, pk{Src: hostB, Dst: srv, SP: 40001, DP: 443, Flags: "S"}), Forward)
	r.advance(7439 * time.Second)
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), Forward)
	// The transitory one went after 4 minutes.
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 443, DP: 40001, Flags: "SA"}), ReasonNoSession)
	r.advance(7441 * time.Second)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), ReasonNoSession)
	for _, c := range []func(*Config){
		func(c *Config) { c.Timeouts.TCPEstablished = 7439 * time.Second },
		func(c *Config) { c.Timeouts.TCPTransitory = 239 * time.Second },
	} {
		cfg := DefaultConfig()
		c(&cfg)
		if _, err := New(cfg); err == nil {
			t.Fatal("TCP timeout below RFC 6092 REC-35 accepted")
		}
	}
}

func TestRFC6092_REC38_REC40_REC43_SCTPAndDCCPTracked(t *testing.T) {
	r := newRig(t, nil)
	hdr := func(sp, dp uint16) []byte {
		b := make([]byte, 16)
		binary.BigEndian.PutUint16(b, sp)
		binary.BigEndian.PutUint16(b[2:], dp)
		return b
	}
	for _, proto := range []uint8{packet.ProtoSCTP, packet.ProtoDCCP} {
		r.must(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, proto, hdr(7000, 38412)), Forward)
		r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, proto, hdr(38412, 7001)), ReasonNoSession)
	}
	// REC-40, REC-44: no shorter than TCP's established timeout.
	r.advance(7400 * time.Second)
	for _, proto := range []uint8{packet.ProtoSCTP, packet.ProtoDCCP} {
		r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, proto, hdr(38412, 7000)), Forward)
		// REC-41, REC-45: errors about the association reach the host.
		r.must(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6PacketTooBig, 0, 1300, raw6(t, pk{Src: hostA, Dst: srv}, proto, hdr(7000, 38412))), Forward)
	}
}

func TestRFC6092_REC39_UnsolicitedSCTPInitAdministrativelyProhibited(t *testing.T) {
	sctp := func(src, dst string, sp, dp uint16, chunk uint8) []byte {
		b := make([]byte, 32)
		binary.BigEndian.PutUint16(b, sp)
		binary.BigEndian.PutUint16(b[2:], dp)
		b[12] = chunk
		return raw6(t, pk{Src: src, Dst: dst}, packet.ProtoSCTP, b)
	}
	r := newRig(t, nil)
	r.mustDrop(FromWAN, sctp(srv, hostA, 5000, 38412, 1), ReasonUnsolicitedSYN)
	r.mustDrop(FromWAN, sctp(srv, hostA, 5000, 38413, 0), ReasonNoSession) // DATA: just dropped
	out := r.advance(7 * time.Second)
	if len(out) != 1 {
		t.Fatalf("%d errors, want 1", len(out))
	}
	if d := oracle(t, out[0]); d.ICMP.TypeCode != layers.CreateICMPv6TypeCode(1, 1) || d.Dst() != srv {
		t.Fatalf("%v to %s", d.ICMP.TypeCode, d.Dst())
	}
	// The LAN side's own INIT for the same association cancels it.
	r.mustDrop(FromWAN, sctp(srv, hostA, 5000, 38412, 1), ReasonUnsolicitedSYN)
	r.must(FromLAN, sctp(hostA, srv, 38412, 5000, 1), Forward)
	if out := r.advance(7 * time.Second); len(out) != 0 {
		t.Fatal("error for an association the LAN side opened")
	}
}

func TestRFC6092_REC47_Shim6HeaderWalked(t *testing.T) {
	r := newRig(t, nil)
	out := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 6000})
	shim := make([]byte, 8)
	shim[0] = packet.ProtoUDP
	b := append(append(append([]byte(nil), out[:40]...), shim...), out[40:]...)
	b[6] = packet.ProtoShim6
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	// gopacket does not decode Shim6: the verdict is checked, not the bytes.
	if res := r.send(FromLAN, b); res.Verdict != Forward {
		t.Fatalf("%v %v", res.Verdict, res.Reason)
	}
	if s := r.sessions(); len(s) != 1 || s[0].Protocol != packet.ProtoUDP || s[0].LAN.Port() != 5000 {
		t.Fatalf("state not kept for the flow beyond Shim6: %+v", s)
	}
}

func TestRFC6092_REC49_TransparentMode(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Transparent = true; c.InboundIPsec = false; c.InboundPing = false })
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 5555, DP: 22, Flags: "S"}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 1, DP: 2}), Forward)
	r.must(FromWAN, icmp6(t, pk{Src: srv, Dst: hostB}, packet.ICMPv6EchoRequest, 3, 1), Forward)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoGRE, gre(1)), Forward)
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 5556, DP: 80, Flags: "A"}), Forward)
	// The router itself stays closed.
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: routerWAN, SP: 5555, DP: 22, Flags: "S"}), ReasonSelfClosed)
	// Leaving transparent mode ends what it let in.
	c := r.e.Config()
	c.Transparent = false
	if n, _ := r.e.Reconfigure(c); n != 4 || len(r.sessions()) != 0 {
		t.Fatalf("flushed %d, %d left", n, len(r.sessions()))
	}
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 1, DP: 2}), ReasonNoSession)
}
