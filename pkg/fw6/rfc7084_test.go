package fw6

import (
	"net/netip"
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// RFC 7084 (Basic Requirements for IPv6 Customer Edge Routers): the
// requirements about forwarding.

func TestRFC7084_G3_NoForwardingBeforePrefixDelegation(t *testing.T) {
	c := DefaultConfig()
	c.MaxSessions = 1024
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	out := udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53})
	if res := e.Process(out, FromLAN); res.Verdict != Drop || res.Reason != ReasonNoPrefix {
		t.Fatalf("before any prefix: %v %v", res.Verdict, res.Reason)
	}
	// A ULA prefix alone (the WAN gave nothing yet) forwards nothing either.
	e.SetAddresses(Addresses{LAN: []netip.Prefix{netip.MustParsePrefix(ulaPrefix)}, RouterLAN: []netip.Addr{mustAddr(routerULA)}})
	if res := e.Process(out, FromLAN); res.Verdict != Drop || res.Reason != ReasonNoPrefix {
		t.Fatalf("with only a ULA prefix: %v %v", res.Verdict, res.Reason)
	}
	if res := e.Process(udp6(t, pk{Src: hostULA, Dst: srv, SP: 5000, DP: 53}), FromLAN); res.Verdict == Forward {
		t.Fatal("ULA source forwarded to the WAN")
	}
	// The router itself is still reachable from the LAN.
	if res := e.Process(udp6(t, pk{Src: hostULA, Dst: routerULA, SP: 5000, DP: 53}), FromLAN); res.Verdict != ToSelf {
		t.Fatalf("LAN to router: %v %v", res.Verdict, res.Reason)
	}
	e.SetAddresses(defaultAddrs())
	if res := e.Process(out, FromLAN); res.Verdict != Forward {
		t.Fatalf("after prefix delegation: %v %v", res.Verdict, res.Reason)
	}
}

func TestRFC7084_WPD5_UnassignedDelegatedPrefixIsANullRoute(t *testing.T) {
	r := newRig(t, nil)
	// From the WAN: dropped, never sent back out (a forwarding loop).
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: unassigned, SP: 1, DP: 2}), ReasonUnassigned)
	r.mustDrop(FromWAN, icmp6(t, pk{Src: srv, Dst: unassigned}, packet.ICMPv6EchoRequest, 1, 1), ReasonUnassigned)
	// From the LAN: the host learns there is no route.
	d := r.mustReply(FromLAN, udp6(t, pk{Src: hostA, Dst: unassigned, SP: 1, DP: 2}), packet.ICMPv6DestUnreachable, packet.ICMPv6NoRoute, ReasonUnassigned)
	if d.Dst() != hostA {
		t.Fatalf("error to %s", d.Dst())
	}
	// Outside the delegated prefix: not ours.
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: "2a00:1:3::1", SP: 1, DP: 2}), ReasonNotForUs)
}

func TestRFC7084_L14_SourceFromInvalidatedPrefixGetsCode5(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	r.must(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: 5000, DP: 53}), Forward)
	// The ISP renumbers: 2a00:1:2::/56 becomes 2a00:9:9::/56 (RFC 7084
	// L-13 deprecates the old /64 on the LAN; the engine forgets it).
	a := defaultAddrs()
	a.Delegated = []netip.Prefix{netip.MustParsePrefix("2a00:9:9::/56")}
	a.LAN = []netip.Prefix{netip.MustParsePrefix("2a00:9:9:3::/64"), netip.MustParsePrefix(ulaPrefix)}
	a.RouterLAN = []netip.Addr{mustAddr(routerLANLL), mustAddr("2a00:9:9:3::1"), mustAddr(routerULA)}
	n, err := r.e.SetAddresses(a)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(r.sessions()) != 0 {
		t.Fatalf("renumbering flushed %d sessions, %d left; want the old prefix's 2 gone", n, len(r.sessions()))
	}
	d := r.mustReply(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"}),
		packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, ReasonSpoofedSource)
	if d.Src() != "2a00:9:9:3::1" || d.Dst() != hostA {
		t.Fatalf("code 5 %s→%s", d.Src(), d.Dst())
	}
	// The answer for the old flow is refused from the WAN too: hostA is no
	// longer on the LAN.
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), ReasonNotForUs)
	r.must(FromLAN, udp6(t, pk{Src: "2a00:9:9:3::10", Dst: srv, SP: 5000, DP: 53}), Forward)
}

func TestRFC7084_ULA4_SiteBorderFiltersUniqueLocal(t *testing.T) {
	r := newRig(t, nil)
	// LAN ULA source to the Internet: refused, the host told (code 5
	// makes RFC 6724 hosts try another source).
	r.mustReply(FromLAN, tcp6(t, pk{Src: hostULA, Dst: srv, SP: 1, DP: 443, Flags: "S"}), packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, ReasonULA)
	// To another site's ULA: administratively prohibited.
	r.mustReply(FromLAN, tcp6(t, pk{Src: hostA, Dst: "fd99::1", SP: 1, DP: 443, Flags: "S"}), packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, ReasonULA)
	// From the WAN, either way: dropped.
	r.mustDrop(FromWAN, udp6(t, pk{Src: "fd99::1", Dst: hostA, SP: 1, DP: 2}), ReasonULA)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostULA, SP: 1, DP: 2}), ReasonULA)
	// Inside the site: the router is reachable on its ULA address.
	r.must(FromLAN, udp6(t, pk{Src: hostULA, Dst: routerULA, SP: 5000, DP: 53}), ToSelf)
}

func TestRFC7084_S2_IngressFiltering(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53}), Forward)
	for _, src := range []string{hostB, "2a00:1:2:7::1", routerWAN, routerLAN} {
		r.mustDrop(FromWAN, udp6(t, pk{Src: src, Dst: hostA, SP: 53, DP: 5000}), ReasonLANSourceFromWAN)
	}
	// Egress: LAN sources outside the LAN prefixes never leave.
	r.mustReply(FromLAN, udp6(t, pk{Src: srv2, Dst: srv, SP: 1, DP: 2}), packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, ReasonSpoofedSource)
}

// TestRFC7084_ForwardingRules walks the forwarding rules of a CE router
// (RFC 7084 with RFC 4291 §2.5.6, RFC 4193 §4.3, RFC 6092 REC-1..REC-7)
// through one table: what may cross in which direction.
func TestRFC7084_ForwardingRules(t *testing.T) {
	cases := []struct {
		name   string
		dir    Dir
		src    string
		dst    string
		hl     uint8
		want   Verdict
		reason Reason
	}{
		{"LAN global to Internet", FromLAN, hostA, srv, 64, Forward, ReasonNone},
		{"LAN to NAT64 well-known prefix", FromLAN, hostA, "64:ff9b::c000:201", 64, Forward, ReasonNone},
		{"LAN to router LAN address", FromLAN, hostA, routerLAN, 64, ToSelf, ReasonNone},
		{"LAN to router WAN address", FromLAN, hostA, routerWAN, 64, ToSelf, ReasonNone},
		{"LAN link-local to router link-local", FromLAN, hostLL, routerLANLL, 255, ToSelf, ReasonNone},
		{"LAN link-local to Internet", FromLAN, hostLL, srv, 64, Drop, ReasonLinkLocal},
		{"LAN to a link-local not the router's", FromLAN, hostA, "fe80::77", 64, Drop, ReasonLinkLocal},
		{"LAN to all-routers", FromLAN, hostLL, "ff02::2", 255, ToSelf, ReasonNone},
		{"LAN DAD to solicited-node", FromLAN, "::", "ff02::1:ff00:10", 255, ToSelf, ReasonNone},
		{"LAN to site-local multicast", FromLAN, hostA, "ff05::1:3", 64, Drop, ReasonMulticast},
		{"LAN to global multicast", FromLAN, hostA, "ff0e::101", 64, Drop, ReasonMulticast},
		{"LAN to interface-local multicast", FromLAN, hostA, "ff01::1", 64, Drop, ReasonMulticast},
		{"LAN multicast source", FromLAN, "ff02::1", srv, 64, Drop, ReasonMartianSource},
		{"LAN unspecified source to Internet", FromLAN, "::", srv, 64, Drop, ReasonMartianSource},
		{"LAN to loopback", FromLAN, hostA, "::1", 64, Drop, ReasonMartianDest},
		{"LAN to documentation", FromLAN, hostA, "2001:db8::1", 64, Drop, ReasonMartianDest},
		{"LAN to documentation 3fff::/20", FromLAN, hostA, "3fff:1::1", 64, Drop, ReasonMartianDest},
		{"LAN to ORCHIDv2", FromLAN, hostA, "2001:20::1", 64, Drop, ReasonMartianDest},
		{"LAN to site-local", FromLAN, hostA, "fec0::1", 64, Drop, ReasonMartianDest},
		{"LAN to IPv4-mapped", FromLAN, hostA, "::ffff:192.0.2.1", 64, Drop, ReasonMartianDest},
		{"LAN to discard-only", FromLAN, hostA, "100::1", 64, Drop, ReasonMartianDest},
		{"LAN to LAN", FromLAN, hostA, hostB, 64, Drop, ReasonLANToLAN},
		{"LAN hop limit 1", FromLAN, hostA, srv, 1, Reply, ReasonHopLimit},
		{"WAN to router, unsolicited UDP", FromWAN, srv, routerWAN, 64, Drop, ReasonSelfClosed},
		{"WAN link-local to LAN host", FromWAN, ispLL, hostA, 64, Drop, ReasonLinkLocal},
		{"WAN to a link-local not the router's", FromWAN, ispLL, "fe80::77", 64, Drop, ReasonLinkLocal},
		{"WAN documentation source", FromWAN, "2001:db8::5", hostA, 64, Drop, ReasonMartianSource},
		{"WAN loopback source", FromWAN, "::1", hostA, 64, Drop, ReasonMartianSource},
		{"WAN multicast source", FromWAN, "ff0e::1", hostA, 64, Drop, ReasonMartianSource},
		{"WAN to global multicast", FromWAN, srv, "ff0e::101", 64, Drop, ReasonMulticast},
		{"WAN LAN-prefix source", FromWAN, hostB, hostA, 64, Drop, ReasonLANSourceFromWAN},
		{"WAN to unassigned delegated", FromWAN, srv, unassigned, 64, Drop, ReasonUnassigned},
		{"WAN to elsewhere", FromWAN, srv, srv2, 64, Drop, ReasonNotForUs},
		{"WAN unsolicited to LAN host", FromWAN, srv, hostA, 64, Drop, ReasonNoSession},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			res := r.send(c.dir, udp6(t, pk{Src: c.src, Dst: c.dst, SP: 5000, DP: 5001, HL: c.hl}))
			if res.Verdict != c.want || (c.want != Forward && c.want != ToSelf && res.Reason != c.reason) {
				t.Fatalf("%v %v, want %v %v", res.Verdict, res.Reason, c.want, c.reason)
			}
		})
	}
}
