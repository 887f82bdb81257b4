package ndp6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// RFC 4861 §7.1.1/§7.1.2/§6.1: every rule of receipt validation drops the
// frame with the error naming it; the valid frame passes.
func TestRFC4861_7_1_ValidationRules(t *testing.T) {
	valid := hostNS(t, hostMAC, hostLL, routerGUA)
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	ip := EthHeaderLen
	icmp := EthHeaderLen + IPv6HeaderLen
	dadNoSN := ndFrame(t, hostMAC, MulticastMAC(AllNodes), netip.IPv6Unspecified(), AllNodes, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice()})
	dadSLLA := ndFrame(t, hostMAC, MulticastMAC(SolicitedNode(routerGUA)), netip.IPv6Unspecified(), SolicitedNode(routerGUA), 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice(), Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}})
	naSolMcast := hostNA(t, hostMAC, hostGUA, AllNodes, FlagSolicited, hostMAC)
	nsMcastTarget := ndFrame(t, hostMAC, MulticastMAC(SolicitedNode(routerGUA)), hostLL, SolicitedNode(routerGUA), 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: AllNodes.AsSlice()})
	raGlobal := ndFrame(t, hostMAC, MulticastMAC(AllNodes), hostGUA, AllNodes, 255, layers.ICMPv6TypeRouterAdvertisement,
		&layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: 1800})
	rsUnspecSLLA := ndFrame(t, hostMAC, MulticastMAC(AllRouters), netip.IPv6Unspecified(), AllRouters, 255, layers.ICMPv6TypeRouterSolicitation,
		&layers.ICMPv6RouterSolicitation{Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}})
	fixSum := func(b []byte) []byte {
		b[icmp+2], b[icmp+3] = 0, 0
		src := netip.AddrFrom16([16]byte(b[ip+8 : ip+24]))
		dst := netip.AddrFrom16([16]byte(b[ip+24 : ip+40]))
		c := checksum(src, dst, b[icmp:])
		b[icmp+2], b[icmp+3] = byte(c>>8), byte(c)
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"valid solicitation", valid, nil},
		{"hop limit 254", mut(func(b []byte) { b[ip+7] = 254 }), ErrHopLimit},
		{"code 1", fixSum(mut(func(b []byte) { b[icmp+1] = 1 })), ErrCode},
		{"bad checksum", mut(func(b []byte) { b[icmp+2] ^= 0xff }), ErrChecksum},
		{"ICMPv6 length 20", fixSum(mut(func(b []byte) { b[ip+5] = 20 })[:icmp+20]), ErrLength},
		{"payload length past frame", mut(func(b []byte) { b[ip+5] = 200 }), ErrTruncated},
		{"option length 0", fixSum(mut(func(b []byte) { b[icmp+25] = 0 })), ErrOption},
		{"option past the end", fixSum(mut(func(b []byte) { b[icmp+25] = 2 })), ErrOption},
		{"LLA option of 16 bytes", fixSum(append(mut(func(b []byte) { b[ip+5] += 8; b[icmp+25] = 2 }), make([]byte, 8)...)), ErrOption},
		{"multicast target", nsMcastTarget, ErrTarget},
		{"multicast source", fixSum(mut(func(b []byte) { b[ip+8] = 0xff })), ErrSource},
		{"DAD probe not to solicited-node", dadNoSN, ErrDADDestination},
		{"DAD probe with SLLA", dadSLLA, ErrUnspecifiedSLLA},
		{"solicited advertisement to multicast", naSolMcast, ErrSolicitedMcast},
		{"router advertisement from a global address", raGlobal, ErrRASource},
		{"router solicitation from :: with SLLA", rsUnspecSLLA, ErrUnspecifiedSLLA},
		{"not ICMPv6", mut(func(b []byte) { b[ip+6] = 17 }), ErrNotND},
		{"ICMPv6 echo", fixSum(mut(func(b []byte) { b[icmp] = 128 })), ErrNotND},
		{"IPv4 EtherType", mut(func(b []byte) { b[12], b[13] = 8, 0 }), ErrNotIPv6},
		{"runt", valid[:50], ErrShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.frame)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
			n := newNode(t, nil)
			out := n.Handle(nil, tc.frame, 0)
			if tc.want != nil {
				if len(out) != 0 || n.Counters().Invalid != 1 {
					t.Fatalf("invalid frame answered (%d frames) or not counted: %+v", len(out), n.Counters())
				}
				if r, i, q := n.Usage(); r+i+q != 0 {
					t.Fatalf("invalid frame changed the cache: %d %d %d", r, i, q)
				}
			}
		})
	}
}

// RFC 4861 §7.2.4: a solicitation for each of the router's addresses
// (link-local, global, ULA) is answered by a unicast advertisement with
// Router, Solicited and Override set, the target link-layer address, from
// the target, hop limit 255, correct checksum — checked by gopacket.
func TestRFC4861_7_2_4_AnswersSolicitationsForOwnAddresses(t *testing.T) {
	for _, target := range []netip.Addr{routerLL, routerGUA, routerULA} {
		t.Run(target.String(), func(t *testing.T) {
			n := newNode(t, nil)
			src := hostGUA
			if target.IsLinkLocalUnicast() {
				src = hostLL
			}
			out := n.Handle(nil, hostNS(t, hostMAC, src, target), 0)
			if len(out) != 1 {
				t.Fatalf("%d frames, want one advertisement", len(out))
			}
			d := decode(t, out[0])
			if d.na == nil {
				t.Fatalf("not an advertisement: %x", out[0])
			}
			if !bytes.Equal(d.eth.DstMAC, hostMAC[:]) || !bytes.Equal(d.eth.SrcMAC, routerMAC[:]) {
				t.Errorf("Ethernet %v → %v", d.eth.SrcMAC, d.eth.DstMAC)
			}
			if addr(d.ip.SrcIP) != target || addr(d.ip.DstIP) != src {
				t.Errorf("IPv6 %v → %v, want %v → %v", d.ip.SrcIP, d.ip.DstIP, target, src)
			}
			if !d.na.Router() || !d.na.Solicited() || !d.na.Override() {
				t.Errorf("flags %#x, want R, S and O", d.na.Flags)
			}
			if addr(d.na.TargetAddress) != target {
				t.Errorf("target %v", d.na.TargetAddress)
			}
			if tlla, ok := option(d.na.Options, layers.ICMPv6OptTargetAddress); !ok || !bytes.Equal(tlla, routerMAC[:]) {
				t.Errorf("target link-layer address %x, want %x", tlla, routerMAC)
			}
			// §7.2.3: the solicitation's SLLA made the host a STALE neighbour.
			if e, ok := n.Lookup(src, 0); !ok || e.State != Stale || e.MAC != hostMAC {
				t.Errorf("host entry %+v, %v; want STALE at %x", e, ok, hostMAC)
			}
		})
	}
}

// On the WAN port routerd is a host: the Router flag is clear.
func TestRFC4861_7_2_4_WANPortClearsRouterFlag(t *testing.T) {
	n := newNode(t, func(c *Config) { c.Router = false })
	out := n.Handle(nil, hostNS(t, hostMAC, hostLL, routerLL), 0)
	if len(out) != 1 {
		t.Fatalf("%d frames", len(out))
	}
	if d := decode(t, out[0]); d.na.Router() || !d.na.Solicited() || !d.na.Override() {
		t.Errorf("flags %#x, want S and O only", d.na.Flags)
	}
}

// A unicast solicitation without SLLA is answered to the Ethernet source;
// solicitations for other addresses, and ones that are not for the router
// at the Ethernet or IPv6 layer, are ignored.
func TestRFC4861_7_2_4_WhatIsNotAnswered(t *testing.T) {
	n := newNode(t, nil)
	uni := ndFrame(t, hostMAC, routerMAC, hostGUA, routerGUA, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice()})
	out := n.Handle(nil, uni, 0)
	if len(out) != 1 || !bytes.Equal(decode(t, out[0]).eth.DstMAC, hostMAC[:]) {
		t.Fatalf("unicast solicitation without SLLA: %d frames", len(out))
	}
	if _, ok := n.Lookup(hostGUA, 0); ok {
		t.Error("a solicitation without SLLA created an entry")
	}
	other := hostNS(t, hostMAC, hostGUA, host2GUA)
	otherMAC := ndFrame(t, hostMAC, host2MAC, hostGUA, routerGUA, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice()})
	ownMAC := hostNS(t, routerMAC, hostGUA, routerGUA)
	for name, f := range map[string][]byte{"other target": other, "other MAC": otherMAC, "our own MAC as source": ownMAC} {
		if out := n.Handle(nil, f, 0); len(out) != 0 {
			t.Errorf("%s: answered", name)
		}
	}
}

// RFC 4861 §7.2.4: another node's DAD probe for an address the router holds
// is answered to all-nodes with Solicited clear, so the prober sees the
// conflict.
func TestRFC4861_7_2_4_DefendsAgainstDADProbe(t *testing.T) {
	n := newNode(t, nil)
	dst := SolicitedNode(routerGUA)
	probe := ndFrame(t, hostMAC, MulticastMAC(dst), netip.IPv6Unspecified(), dst, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice()})
	out := n.Handle(nil, probe, 0)
	if len(out) != 1 {
		t.Fatalf("%d frames", len(out))
	}
	d := decode(t, out[0])
	if addr(d.ip.DstIP) != AllNodes || !bytes.Equal(d.eth.DstMAC, []byte{0x33, 0x33, 0, 0, 0, 1}) {
		t.Errorf("sent to %v / %v, want ff02::1 / 33:33:00:00:00:01", d.ip.DstIP, d.eth.DstMAC)
	}
	if d.na.Solicited() || !d.na.Override() || !d.na.Router() {
		t.Errorf("flags %#x, want R and O without S", d.na.Flags)
	}
}

// RFC 4862 §5.4.2: a new address is tentative; after a random delay of at
// most MAX_RTR_SOLICITATION_DELAY one probe goes out from ::, to the
// solicited-node group, without SLLA, with an RFC 7527 nonce; RetransTimer
// later the address is assigned and answered for.
func TestRFC4862_5_4_DuplicateAddressDetection(t *testing.T) {
	n, err := New(Config{MAC: routerMAC, Router: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.AddAddress(routerGUA, 0); err != nil {
		t.Fatal(err)
	}
	if got := n.Addresses(nil); len(got) != 1 || got[0].State != Tentative {
		t.Fatalf("addresses %+v, want one tentative", got)
	}
	if out := n.Handle(nil, hostNS(t, hostMAC, hostGUA, routerGUA), 0); len(out) != 0 {
		t.Fatal("answered for a tentative address")
	}
	var probes [][]byte
	var at time.Duration
	for now := time.Duration(0); now <= MaxRtrSolicitationDelay; now += 10 * time.Millisecond {
		if probes, _ = tickND(n, nil, now); len(probes) > 0 {
			at = now
			break
		}
	}
	if len(probes) != 1 {
		t.Fatalf("no DAD probe within %v", MaxRtrSolicitationDelay)
	}
	d := decode(t, probes[0])
	sn := SolicitedNode(routerGUA)
	if d.ns == nil || addr(d.ip.SrcIP) != netip.IPv6Unspecified() || addr(d.ip.DstIP) != sn || addr(d.ns.TargetAddress) != routerGUA {
		t.Fatalf("probe %v → %v for %v", d.ip.SrcIP, d.ip.DstIP, d.ns.TargetAddress)
	}
	if want := MulticastMAC(sn); !bytes.Equal(d.eth.DstMAC, want[:]) {
		t.Errorf("probe to MAC %v", d.eth.DstMAC)
	}
	if _, ok := option(d.ns.Options, layers.ICMPv6OptSourceAddress); ok {
		t.Error("DAD probe carries a source link-layer address")
	}
	if nonce, ok := option(d.ns.Options, 14); !ok || len(nonce) != 6 {
		t.Errorf("nonce option %x %v", nonce, ok)
	}
	if out, _ := tickND(n, nil, at+RetransTimer-time.Millisecond); len(out) != 0 || n.Addresses(nil)[0].State != Tentative {
		t.Fatal("assigned before RetransTimer")
	}
	tickND(n, nil, at+RetransTimer)
	if s := n.Addresses(nil)[0].State; s != Assigned {
		t.Fatalf("state %v after DAD, want assigned", s)
	}
	if out := n.Handle(nil, hostNS(t, hostMAC, hostGUA, routerGUA), at+RetransTimer); len(out) != 1 {
		t.Fatal("assigned address not answered")
	}
}

func tentativeNode(t *testing.T) (*Node, []byte) {
	t.Helper()
	n, err := New(Config{MAC: routerMAC, Router: true, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	n.AddAddress(routerGUA, 0)
	probes, _ := tickND(n, nil, MaxRtrSolicitationDelay)
	if len(probes) != 1 {
		t.Fatal("no probe")
	}
	return n, probes[0]
}

// RFC 4862 §5.4.3 and RFC 7527: another node's probe for our tentative
// address makes it a duplicate; our own probe looped back does not.
func TestRFC4862_5_4_3_ConflictingProbe(t *testing.T) {
	n, probe := tentativeNode(t)
	looped := append([]byte(nil), probe...)
	copy(looped[6:12], host2MAC[:]) // a reflecting bridge: another source MAC, our nonce
	n.Handle(nil, probe, MaxRtrSolicitationDelay)
	n.Handle(nil, looped, MaxRtrSolicitationDelay)
	if s := n.Addresses(nil)[0].State; s != Tentative {
		t.Fatalf("own looped probe made the address %v", s)
	}
	// A resolving node (source not ::) is ignored too.
	n.Handle(nil, hostNS(t, hostMAC, hostGUA, routerGUA), MaxRtrSolicitationDelay)
	if s := n.Addresses(nil)[0].State; s != Tentative {
		t.Fatalf("a resolution made the address %v", s)
	}
	sn := SolicitedNode(routerGUA)
	other := ndFrame(t, hostMAC, MulticastMAC(sn), netip.IPv6Unspecified(), sn, 255, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: routerGUA.AsSlice(),
			Options: layers.ICMPv6Options{{Type: 14, Data: []byte{1, 2, 3, 4, 5, 6}}}})
	if out := n.Handle(nil, other, MaxRtrSolicitationDelay); len(out) != 0 {
		t.Fatal("answered a probe for a tentative address")
	}
	a := n.Addresses(nil)[0]
	if a.State != Duplicate || a.ConflictMAC != hostMAC || n.Counters().DADConflicts != 1 {
		t.Fatalf("after a conflicting probe: %+v %+v", a, n.Counters())
	}
	tickND(n, nil, 10*time.Second)
	if out := n.Handle(nil, hostNS(t, hostMAC, hostGUA, routerGUA), 10*time.Second); len(out) != 0 || n.Addresses(nil)[0].State != Duplicate {
		t.Fatal("a duplicate address was assigned or answered")
	}
}

// RFC 4862 §5.4.4: an advertisement for the tentative address makes it a
// duplicate; one for an assigned address is counted and the router keeps
// answering (defending) it.
func TestRFC4862_5_4_4_ConflictingAdvertisement(t *testing.T) {
	n, _ := tentativeNode(t)
	n.Handle(nil, hostNA(t, hostMAC, routerGUA, AllNodes, FlagOverride, hostMAC), MaxRtrSolicitationDelay)
	if a := n.Addresses(nil)[0]; a.State != Duplicate || a.ConflictMAC != hostMAC {
		t.Fatalf("%+v", a)
	}
	m := newNode(t, nil)
	m.Handle(nil, hostNA(t, hostMAC, routerGUA, AllNodes, FlagOverride, hostMAC), 0)
	if m.Counters().AddrConflicts != 1 || m.Addresses(nil)[1].State != Assigned {
		t.Fatalf("%+v %+v", m.Counters(), m.Addresses(nil))
	}
	if out := m.Handle(nil, hostNS(t, host2MAC, host2GUA, routerGUA), 0); len(out) != 1 {
		t.Fatal("stopped defending an assigned address")
	}
}

// resolveTo drives a resolution of dst to completion with a solicited
// advertisement from mac and returns the frames released.
func resolveTo(t *testing.T, n *Node, dst netip.Addr, mac [6]byte, now time.Duration) [][]byte {
	t.Helper()
	_, v, _ := n.Resolve(nil, dst, ipv6Packet(t, wanSrc, dst), now)
	if v != Queued {
		t.Fatalf("Resolve(%v) = %v", dst, v)
	}
	return n.Handle(nil, hostNA(t, mac, dst, routerGUA, FlagSolicited|FlagOverride, mac), now)
}

// RFC 4861 §7.2.2: resolving sends a multicast solicitation (from the
// router's address in the target's prefix, with SLLA), queues the packet,
// retransmits every RetransTimer up to MAX_MULTICAST_SOLICIT and then
// gives the queued packets back as failed.
func TestRFC4861_7_2_2_ResolutionRetransmitsThenFails(t *testing.T) {
	n := newNode(t, nil)
	pkt := ipv6Packet(t, wanSrc, hostGUA)
	_, v, out := n.Resolve(nil, hostGUA, pkt, 0)
	if v != Queued || len(out) != 1 {
		t.Fatalf("Resolve = %v with %d frames", v, len(out))
	}
	d := decode(t, out[0])
	if d.ns == nil || addr(d.ns.TargetAddress) != hostGUA || addr(d.ip.DstIP) != SolicitedNode(hostGUA) || addr(d.ip.SrcIP) != routerGUA {
		t.Fatalf("solicitation %v → %v for %v", d.ip.SrcIP, d.ip.DstIP, d.ns)
	}
	if slla, ok := option(d.ns.Options, layers.ICMPv6OptSourceAddress); !ok || !bytes.Equal(slla, routerMAC[:]) {
		t.Errorf("SLLA %x", slla)
	}
	// A second packet joins the queue without a new solicitation.
	if _, v, out := n.Resolve(nil, hostGUA, pkt, sec(0.5)); v != Queued || len(out) != 0 {
		t.Fatalf("second Resolve = %v, %d frames", v, len(out))
	}
	var sent int
	var failed [][]byte
	for now := sec(0.1); now < sec(5); now += sec(0.1) {
		out, failed = tickND(n, failed, now)
		sent += len(out)
	}
	if sent != MaxMulticastSolicit-1 {
		t.Errorf("%d retransmissions, want %d", sent, MaxMulticastSolicit-1)
	}
	if len(failed) != 2 || !bytes.Equal(failed[0][EthHeaderLen:], pkt[EthHeaderLen:]) {
		t.Errorf("%d failed packets, want the 2 queued", len(failed))
	}
	if _, ok := n.Lookup(hostGUA, sec(5)); ok || n.Counters().Unresolved != 1 {
		t.Errorf("entry still there or not counted: %+v", n.Counters())
	}
	if r, i, q := n.Usage(); r+i+q != 0 {
		t.Errorf("usage %d %d %d after failure", r, i, q)
	}
}

// RFC 4861 §7.2.5: a solicited advertisement completes the resolution:
// REACHABLE, and the queued packets come out with the MAC filled in. One
// without a target link-layer address does not.
func TestRFC4861_7_2_5_AdvertisementCompletesResolution(t *testing.T) {
	n := newNode(t, nil)
	pkt := ipv6Packet(t, wanSrc, hostGUA)
	n.Resolve(nil, hostGUA, pkt, 0)
	if out := n.Handle(nil, hostNA(t, hostMAC, hostGUA, routerGUA, FlagSolicited, [6]byte{}), 0); len(out) != 0 {
		t.Fatal("an advertisement without TLLA released packets")
	}
	out := n.Handle(nil, hostNA(t, hostMAC, hostGUA, routerGUA, FlagSolicited|FlagOverride, hostMAC), sec(0.2))
	if len(out) != 1 || !bytes.Equal(out[0][0:6], hostMAC[:]) || !bytes.Equal(out[0][6:], pkt[6:]) {
		t.Fatalf("released %d frames: %x", len(out), out)
	}
	if e, _ := n.Lookup(hostGUA, sec(0.2)); e.State != Reachable || e.MAC != hostMAC || e.Router {
		t.Fatalf("entry %+v", e)
	}
	if mac, v, out := n.Resolve(nil, hostGUA, pkt, sec(1)); v != Resolved || mac != hostMAC || len(out) != 0 {
		t.Fatalf("Resolve after completion = %x %v %d", mac, v, len(out))
	}
	// An unsolicited advertisement for an unknown address creates nothing.
	n.Handle(nil, hostNA(t, host2MAC, host2GUA, AllNodes, FlagOverride, host2MAC), sec(1))
	if _, ok := n.Lookup(host2GUA, sec(1)); ok {
		t.Fatal("unsolicited advertisement created an entry")
	}
}

// RFC 4861 §7.3.3 / Appendix C: REACHABLE → STALE after ReachableTime;
// a packet sent moves it to DELAY; DelayFirstProbeTime later PROBE with
// unicast solicitations to the cached MAC; a solicited answer makes it
// REACHABLE; MAX_UNICAST_SOLICIT unanswered probes remove it.
func TestRFC4861_7_3_3_ReachabilityStateMachine(t *testing.T) {
	n := newNode(t, nil)
	resolveTo(t, n, hostGUA, hostMAC, 0)
	rt := n.ReachableTime()
	if rt < BaseReachableTime/2 || rt > BaseReachableTime*3/2 {
		t.Fatalf("reachable time %v not in [15s, 45s]", rt)
	}
	now := rt + time.Second
	if e, _ := n.Lookup(hostGUA, now); e.State != Stale {
		t.Fatalf("after ReachableTime: %v", e.State)
	}
	pkt := ipv6Packet(t, wanSrc, hostGUA)
	if mac, v, _ := n.Resolve(nil, hostGUA, pkt, now); v != Resolved || mac != hostMAC {
		t.Fatal("a STALE entry is not used")
	}
	if e, _ := n.Lookup(hostGUA, now); e.State != Delay {
		t.Fatalf("after use: %v", e.State)
	}
	if out, _ := tickND(n, nil, now+DelayFirstProbeTime-time.Millisecond); len(out) != 0 {
		t.Fatal("probe before DELAY_FIRST_PROBE_TIME")
	}
	out, _ := tickND(n, nil, now+DelayFirstProbeTime)
	if len(out) != 1 {
		t.Fatalf("%d frames entering PROBE", len(out))
	}
	d := decode(t, out[0])
	if !bytes.Equal(d.eth.DstMAC, hostMAC[:]) || addr(d.ip.DstIP) != hostGUA || addr(d.ns.TargetAddress) != hostGUA {
		t.Fatalf("probe to %v %v", d.eth.DstMAC, d.ip.DstIP)
	}
	if e, _ := n.Lookup(hostGUA, now+DelayFirstProbeTime); e.State != Probe {
		t.Fatalf("state %v, want PROBE", e.State)
	}
	now += DelayFirstProbeTime + sec(0.5)
	n.Handle(nil, hostNA(t, hostMAC, hostGUA, routerGUA, FlagSolicited|FlagOverride, hostMAC), now)
	if e, _ := n.Lookup(hostGUA, now); e.State != Reachable {
		t.Fatalf("after the answer: %v", e.State)
	}
	// Again, unanswered this time.
	now += rt + time.Second
	n.Resolve(nil, hostGUA, pkt, now)
	probes := 0
	for end := now + 20*time.Second; now < end; now += sec(0.25) {
		out, _ := tickND(n, nil, now)
		probes += len(out)
	}
	if probes != MaxUnicastSolicit {
		t.Errorf("%d probes, want %d", probes, MaxUnicastSolicit)
	}
	if _, ok := n.Lookup(hostGUA, now); ok || n.Counters().ProbeFailed != 1 {
		t.Errorf("unreachable entry kept: %+v", n.Counters())
	}
}

// RFC 4861 §7.3.1: an upper-layer hint in DELAY confirms reachability and
// no probe is sent.
func TestRFC4861_7_3_1_UpperLayerHint(t *testing.T) {
	n := newNode(t, nil)
	resolveTo(t, n, hostGUA, hostMAC, 0)
	now := n.ReachableTime() + time.Second
	n.Resolve(nil, hostGUA, nil, now)
	if !n.Confirm(hostGUA, now+time.Second) {
		t.Fatal("Confirm found no entry")
	}
	if out, _ := tickND(n, nil, now+10*time.Second); len(out) != 0 {
		t.Fatal("probed after an upper-layer confirmation")
	}
	if e, _ := n.Lookup(hostGUA, now+10*time.Second); e.State != Reachable {
		t.Fatalf("state %v", e.State)
	}
	if n.Confirm(host2GUA, now) {
		t.Fatal("confirmed a neighbour that has no entry")
	}
}

// RFC 4861 §7.2.5, the Override / Solicited table.
func TestRFC4861_7_2_5_OverrideRules(t *testing.T) {
	newMAC := [6]byte{0x02, 0, 0, 0, 0, 0x77}
	for _, tc := range []struct {
		name      string
		stale     bool // entry STALE instead of REACHABLE first
		flags     uint8
		tlla      [6]byte
		wantState State
		wantMAC   [6]byte
		router    bool
	}{
		{"O clear, new MAC, REACHABLE → STALE, MAC kept", false, 0, newMAC, Stale, hostMAC, false},
		{"O clear, new MAC, STALE → ignored", true, FlagSolicited, newMAC, Stale, hostMAC, false},
		{"O set, new MAC, unsolicited → STALE with the new MAC", false, FlagOverride, newMAC, Stale, newMAC, false},
		{"O set, new MAC, solicited → REACHABLE with the new MAC", true, FlagOverride | FlagSolicited, newMAC, Reachable, newMAC, false},
		{"same MAC, unsolicited, state unchanged", true, 0, hostMAC, Stale, hostMAC, false},
		{"no TLLA, solicited → REACHABLE", true, FlagSolicited, [6]byte{}, Reachable, hostMAC, false},
		{"Router flag recorded", false, FlagRouter | FlagOverride, hostMAC, Reachable, hostMAC, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, nil)
			resolveTo(t, n, hostGUA, hostMAC, 0)
			now := sec(1)
			if tc.stale {
				now = n.ReachableTime() + time.Second
			}
			n.Handle(nil, hostNA(t, hostMAC, hostGUA, routerGUA, tc.flags, tc.tlla), now)
			e, _ := n.Lookup(hostGUA, now)
			if e.State != tc.wantState || e.MAC != tc.wantMAC || e.Router != tc.router {
				t.Fatalf("entry %v %x router=%v, want %v %x router=%v", e.State, e.MAC, e.Router, tc.wantState, tc.wantMAC, tc.router)
			}
		})
	}
}

// RFC 4861 §7.2.3 and §6.2.6: a solicitation's or router solicitation's
// source link-layer address creates a STALE entry, replaces a different
// cached address, and completes an INCOMPLETE entry.
func TestRFC4861_7_2_3_SolicitationUpdatesCache(t *testing.T) {
	n := newNode(t, nil)
	rs := ndFrame(t, hostMAC, MulticastMAC(AllRouters), hostLL, AllRouters, 255, layers.ICMPv6TypeRouterSolicitation,
		&layers.ICMPv6RouterSolicitation{Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}})
	if out := n.Handle(nil, rs, 0); len(out) != 0 {
		t.Fatal("ndp6 answered a router solicitation (pkg/ra's job)")
	}
	if e, ok := n.Lookup(hostLL, 0); !ok || e.State != Stale || e.MAC != hostMAC {
		t.Fatalf("after RS: %+v %v", e, ok)
	}
	resolveTo(t, n, hostGUA, hostMAC, 0)
	n.Handle(nil, hostNS(t, host2MAC, hostGUA, routerGUA), sec(1))
	if e, _ := n.Lookup(hostGUA, sec(1)); e.State != Stale || e.MAC != host2MAC {
		t.Fatalf("after NS with another SLLA: %+v", e)
	}
	pkt := ipv6Packet(t, wanSrc, host2GUA)
	n.Resolve(nil, host2GUA, pkt, sec(2))
	out := n.Handle(nil, hostNS(t, host2MAC, host2GUA, routerGUA), sec(2))
	if len(out) != 2 {
		t.Fatalf("%d frames, want the queued packet and the advertisement", len(out))
	}
	if e, _ := n.Lookup(host2GUA, sec(2)); e.State != Stale || e.MAC != host2MAC {
		t.Fatalf("INCOMPLETE completed by an NS: %+v", e)
	}
}

// The queue caps: MaxQueuedPerNeighbour per resolution, MaxQueued in all.
func TestQueueCaps(t *testing.T) {
	n := newNode(t, func(c *Config) { c.MaxQueuedPerNeighbour = 2; c.MaxQueued = 8 })
	pkt := ipv6Packet(t, routerGUA, hostGUA)
	var verdicts []Verdict
	for i := 0; i < 4; i++ {
		_, v, _ := n.Resolve(nil, hostGUA, pkt, 0)
		verdicts = append(verdicts, v)
	}
	if verdicts[1] != Queued || verdicts[2] != Dropped || verdicts[3] != Dropped {
		t.Fatalf("verdicts %v, want 2 queued", verdicts)
	}
	for i := 0; i < 20; i++ {
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 15: byte(100 + i)})
		n.Resolve(nil, dst, ipv6Packet(t, routerGUA, dst), 0)
	}
	if _, _, q := n.Usage(); q != 8 {
		t.Fatalf("%d queued, cap 8", q)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"no MAC":             {},
		"multicast MAC":      {MAC: [6]byte{0x33, 0x33, 0, 0, 0, 1}},
		"huge cache":         {MAC: routerMAC, MaxNeighbours: 1 << 20},
		"reserve ≥ cap":      {MAC: routerMAC, MaxIncomplete: 4, ReservedIncomplete: 4},
		"short retransmit":   {MAC: routerMAC, RetransTimer: time.Millisecond},
		"queue cap inverted": {MAC: routerMAC, MaxQueuedPerNeighbour: 10, MaxQueued: 5},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	n := newNode(t, nil)
	for _, a := range []string{"ff02::1", "::", "::1", "192.0.2.1", "::ffff:192.0.2.1"} {
		if err := n.AddAddress(netip.MustParseAddr(a), 0); err == nil {
			t.Errorf("AddAddress(%s) accepted", a)
		}
	}
}

// The forwarding path: resolving a known neighbour and parsing allocate
// nothing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	n := newNode(t, nil)
	resolveTo(t, n, hostGUA, hostMAC, 0)
	pkt := ipv6Packet(t, wanSrc, hostGUA)
	out := make([][]byte, 0, 4)
	if a := testing.AllocsPerRun(1000, func() { n.Resolve(out, hostGUA, pkt, sec(1)) }); a != 0 {
		t.Errorf("Resolve of a REACHABLE neighbour: %v allocs", a)
	}
	ns := hostNS(t, hostMAC, hostLL, routerGUA)
	if a := testing.AllocsPerRun(1000, func() { Parse(ns) }); a != 0 {
		t.Errorf("Parse: %v allocs", a)
	}
	junk := append([]byte(nil), ns...)
	junk[EthHeaderLen+7] = 1
	if a := testing.AllocsPerRun(1000, func() { n.Handle(out, junk, 0) }); a != 0 {
		t.Errorf("Handle of an invalid frame: %v allocs", a)
	}
}
