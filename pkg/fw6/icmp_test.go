package fw6

import (
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// RFC 4890 (ICMPv6 filtering in firewalls), §4.3 transit traffic and §4.4
// traffic to the firewall itself, with RFC 6092 REC-10's stateful rule
// for errors.

func TestRFC4890_S43_TransitICMPv6(t *testing.T) {
	cases := []struct {
		name   string
		typ    uint8
		dir    Dir
		want   Verdict
		reason Reason
	}{
		// §4.3.1 must not be dropped: errors (outbound always; inbound when
		// they quote a tracked flow, REC-10) and echo.
		{"destination unreachable out", packet.ICMPv6DestUnreachable, FromLAN, Forward, 0},
		{"packet too big out", packet.ICMPv6PacketTooBig, FromLAN, Forward, 0},
		{"time exceeded out", packet.ICMPv6TimeExceeded, FromLAN, Forward, 0},
		{"parameter problem out", packet.ICMPv6ParamProblem, FromLAN, Forward, 0},
		{"echo request out", packet.ICMPv6EchoRequest, FromLAN, Forward, 0},
		{"echo request in (InboundPing)", packet.ICMPv6EchoRequest, FromWAN, Forward, 0},
		// §4.3.2 normally not dropped: mobile IPv6 discovery.
		{"home agent discovery out", 144, FromLAN, Forward, 0},
		// §4.3.3 dropped anyway: link-scope messages never transit.
		{"router solicitation out", packet.ICMPv6RouterSolicit, FromLAN, Drop, ReasonICMPType},
		{"neighbor solicitation in", packet.ICMPv6NeighborSolicit, FromWAN, Drop, ReasonICMPType},
		{"redirect in", packet.ICMPv6Redirect, FromWAN, Drop, ReasonICMPType},
		{"MLD report out", packet.ICMPv6MLDReport, FromLAN, Drop, ReasonICMPType},
		// §4.3.5 dropped unless a good case is made.
		{"router renumbering in", packet.ICMPv6RouterRenumbering, FromWAN, Drop, ReasonICMPType},
		{"node information query out", packet.ICMPv6NodeInfoQuery, FromLAN, Drop, ReasonICMPType},
		{"node information query in", packet.ICMPv6NodeInfoQuery, FromWAN, Drop, ReasonICMPType},
		{"experimental 200 out", 200, FromLAN, Drop, ReasonICMPType},
		{"unallocated 160 in", 160, FromWAN, Drop, ReasonICMPType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			var b []byte
			src, dst := hostA, srv
			if c.dir == FromWAN {
				src, dst = srv, hostA
			}
			if packet.ICMPv6IsError(c.typ) {
				b = icmpErr6(t, src, dst, c.typ, 0, 0, udp6(t, pk{Src: dst, Dst: src, SP: 1, DP: 2}))
			} else {
				b = icmp6(t, pk{Src: src, Dst: dst}, c.typ, 9, 1)
			}
			res := r.send(c.dir, b)
			if res.Verdict != c.want || (c.want == Drop && res.Reason != c.reason) {
				t.Fatalf("%v %v, want %v %v", res.Verdict, res.Reason, c.want, c.reason)
			}
		})
	}
}

func TestRFC4890_EchoTrackedByIdentifier(t *testing.T) {
	r := newRig(t, func(c *Config) { c.InboundPing = false })
	r.must(FromLAN, icmp6(t, pk{Src: hostA, Dst: srv}, packet.ICMPv6EchoRequest, 77, 1), Forward)
	r.must(FromWAN, icmp6(t, pk{Src: srv, Dst: hostA}, packet.ICMPv6EchoReply, 77, 1), Forward)
	r.mustDrop(FromWAN, icmp6(t, pk{Src: srv, Dst: hostA}, packet.ICMPv6EchoReply, 78, 1), ReasonNoSession)
	r.mustDrop(FromWAN, icmp6(t, pk{Src: srv2, Dst: hostA}, packet.ICMPv6EchoReply, 77, 1), ReasonNoSession)
	// Inbound echo requests are refused with InboundPing off...
	r.mustDrop(FromWAN, icmp6(t, pk{Src: srv, Dst: hostB}, packet.ICMPv6EchoRequest, 5, 1), ReasonNoSession)
	r.mustDrop(FromLAN, icmp6(t, pk{Src: hostB, Dst: srv}, packet.ICMPv6EchoReply, 5, 1), ReasonNoSession)
	// ...and admitted with it on (the default): a session opened from the
	// WAN that the host's reply confirms.
	c := r.e.Config()
	c.InboundPing = true
	r.e.Reconfigure(c)
	r.must(FromWAN, icmp6(t, pk{Src: srv, Dst: hostB}, packet.ICMPv6EchoRequest, 5, 1), Forward)
	r.must(FromLAN, icmp6(t, pk{Src: hostB, Dst: srv}, packet.ICMPv6EchoReply, 5, 1), Forward)
	found := false
	for _, s := range r.sessions() {
		if s.LAN.Addr().String() == hostB && s.Inbound && s.PacketsOut == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no confirmed inbound echo session: %+v", r.sessions())
	}
	// Errors about an echo flow reach the host; errors about errors never do.
	r.must(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, 0, 0,
		icmp6(t, pk{Src: hostA, Dst: srv}, packet.ICMPv6EchoRequest, 77, 2)), Forward)
	r.mustDrop(FromWAN, icmpErr6(t, srv, hostA, packet.ICMPv6DestUnreachable, 0, 0,
		icmpErr6(t, hostA, srv, 1, 4, 0, udp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 2}))), ReasonICMPNoMatch)
}

func TestRFC4890_S44_ToTheRouter(t *testing.T) {
	r := newRig(t, nil)
	cases := []struct {
		name   string
		b      []byte
		want   Verdict
		reason Reason
	}{
		{"NS from the ISP router", icmp6(t, pk{Src: ispLL, Dst: "ff02::1:ff00:2", HL: 255}, packet.ICMPv6NeighborSolicit, 0, 0), ToSelf, 0},
		{"NS to the global address", icmp6(t, pk{Src: ispLL, Dst: routerWAN, HL: 255}, packet.ICMPv6NeighborSolicit, 0, 0), ToSelf, 0},
		{"DAD NS from ::", icmp6(t, pk{Src: "::", Dst: "ff02::1:ff00:2", HL: 255}, packet.ICMPv6NeighborSolicit, 0, 0), ToSelf, 0},
		{"RA from the ISP router", icmp6(t, pk{Src: ispLL, Dst: "ff02::1", HL: 255}, packet.ICMPv6RouterAdvert, 0, 0), ToSelf, 0},
		{"RA with hop limit 64 (forged off-link)", icmp6(t, pk{Src: ispLL, Dst: "ff02::1", HL: 64}, packet.ICMPv6RouterAdvert, 0, 0), Drop, ReasonICMPType},
		{"NA from off-link", icmp6(t, pk{Src: srv, Dst: routerWAN, HL: 64}, packet.ICMPv6NeighborAdvert, 0, 0), Drop, ReasonICMPType},
		{"MLD query", icmp6(t, pk{Src: ispLL, Dst: "ff02::1", HL: 1}, packet.ICMPv6MLDQuery, 0, 0), ToSelf, 0},
		{"MLD from a global source", icmp6(t, pk{Src: srv, Dst: "ff02::1", HL: 1}, packet.ICMPv6MLDQuery, 0, 0), Drop, ReasonICMPType},
		{"echo request", icmp6(t, pk{Src: srv, Dst: routerWAN}, packet.ICMPv6EchoRequest, 1, 1), ToSelf, 0},
		{"echo request to all-nodes", icmp6(t, pk{Src: ispLL, Dst: "ff02::1"}, packet.ICMPv6EchoRequest, 1, 1), Drop, ReasonICMPType},
		{"node information query", icmp6(t, pk{Src: srv, Dst: routerWAN}, packet.ICMPv6NodeInfoQuery, 1, 1), Drop, ReasonICMPType},
		{"echo reply nobody asked for", icmp6(t, pk{Src: srv, Dst: routerWAN}, packet.ICMPv6EchoReply, 1, 1), Drop, ReasonSelfClosed},
		{"error about nothing", icmpErr6(t, srv, routerWAN, 1, 4, 0, udp6(t, pk{Src: routerWAN, Dst: srv, SP: 1, DP: 2})), Drop, ReasonICMPNoMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := r.send(FromWAN, c.b)
			if res.Verdict != c.want || (c.want == Drop && res.Reason != c.reason) {
				t.Fatalf("%v %v, want %v %v", res.Verdict, res.Reason, c.want, c.reason)
			}
		})
	}
	r2 := newRig(t, func(c *Config) { c.IgnorePing = true })
	r2.mustDrop(FromWAN, icmp6(t, pk{Src: srv, Dst: routerWAN}, packet.ICMPv6EchoRequest, 1, 1), ReasonICMPType)
}
