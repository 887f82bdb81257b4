package fw6

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// Attack tests: written as the attacker would send, each checks what the
// attacker gets and what it costs the household.

// lanAddr is a random address in the LAN /64.
func lanAddr(rng *rand.Rand) string {
	return fmt.Sprintf("2a00:1:2:3:%x:%x:%x:%x", rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff)
}

func wanAddr(rng *rand.Rand) string {
	return fmt.Sprintf("2600:%x:%x::%x", rng.Uint32()&0xffff|1, rng.Uint32()&0xffff, rng.Uint32()&0xffff)
}

// TestAttack_WANScanOfTheLANPrefix: an attacker sweeps the delegated /64
// with every probe the defaults might admit — SYNs, UDP, echo requests
// (InboundPing), ESP and IKE (InboundIPsec) — to random addresses. What it
// can make the router hold is the ring of unconfirmed sessions opened from
// the WAN (MaxSessions/32 here) and 64 held SYNs; the LAN's own flows
// still open, and nothing the attacker sent was answered by a LAN host.
func TestAttack_WANScanOfTheLANPrefix(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20000 {
		dst, src := lanAddr(rng), wanAddr(rng)
		var b []byte
		switch i % 5 {
		case 0:
			b = tcp6(t, pk{Src: src, Dst: dst, SP: 40000, DP: 22, Flags: "S"})
		case 1:
			b = udp6(t, pk{Src: src, Dst: dst, SP: 40000, DP: 161})
		case 2:
			b = icmp6(t, pk{Src: src, Dst: dst}, packet.ICMPv6EchoRequest, uint16(i), 1)
		case 3:
			b = raw6(t, pk{Src: src, Dst: dst}, packet.ProtoESP, esp(uint32(i)))
		case 4:
			b = udp6(t, pk{Src: src, Dst: dst, SP: 500, DP: 500})
		}
		r.send(FromWAN, b)
		if i%1000 == 0 {
			checkTable(t, r.e)
		}
	}
	c := r.e.Counters()
	if c.Sessions > 1+r.e.unconfirmedMax() {
		t.Fatalf("the scan holds %d sessions; unconfirmed ones are capped at %d", c.Sessions, r.e.unconfirmedMax())
	}
	if r.e.pending.n > maxHeldSYN {
		t.Fatal("held SYN table overflowed")
	}
	if len(r.e.in.perHost) > r.e.unconfirmedMax() {
		t.Fatalf("%d inbound quota entries", len(r.e.in.perHost))
	}
	// The household is unaffected: its connection lives, new flows open.
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), Forward)
	for i := range 200 {
		r.must(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: uint16(2000 + i), DP: 53}), Forward)
	}
	// Held SYNs are answered at the error rate, never more.
	out := r.advance(7 * time.Second)
	if len(out) > r.e.cfg.ICMPErrorBurst {
		t.Fatalf("%d errors in one burst", len(out))
	}
	checkTable(t, r.e)
}

// TestAttack_ForgedSYNFloodAtAnAllowRule: a flood of forged SYNs at a LAN
// host's allowed SSH port churns the ring of unconfirmed sessions; a real
// client completing its handshake within the flood gets through, and the
// host's own flows keep their quota.
func TestAttack_ForgedSYNFloodAtAnAllowRule(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Allow = []AllowRule{{Name: "ssh", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: mustAddr(hostB)}}
	})
	rng := rand.New(rand.NewPCG(8, 8))
	flood := func(n int) {
		for range n {
			syn := tcp6(t, pk{Src: wanAddr(rng), Dst: hostB, SP: uint16(rng.Uint32()), DP: 22, Flags: "S"})
			if res := r.send(FromWAN, syn); res.Verdict == Forward {
				// The server answers every SYN it gets.
				d := oracle(t, res.Packet)
				r.send(FromLAN, tcp6(t, pk{Src: hostB, Dst: d.Src(), SP: 22, DP: uint16(d.TCP.SrcPort), Flags: "SA", Seq: 5000}))
			}
		}
	}
	flood(3000)
	// A real client, in the middle of the flood.
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 22, Flags: "S"}), Forward)
	r.must(FromLAN, tcp6(t, pk{Src: hostB, Dst: srv, SP: 22, DP: 50000, Flags: "SA", Seq: 9000}), Forward)
	flood(r.e.unconfirmedMax() / 2)
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 22, Flags: "A", Ack: 9001}), Forward)
	flood(3000)
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 22, Flags: "PA", Ack: 9001}), Forward)
	// A blind attacker's ACK (it never saw the SYN-ACK) confirms nothing.
	src := wanAddr(rng)
	r.must(FromWAN, tcp6(t, pk{Src: src, Dst: hostB, SP: 1, DP: 22, Flags: "S"}), Forward)
	r.must(FromLAN, tcp6(t, pk{Src: hostB, Dst: src, SP: 22, DP: 1, Flags: "SA", Seq: 123456}), Forward)
	r.must(FromWAN, tcp6(t, pk{Src: src, Dst: hostB, SP: 1, DP: 22, Flags: "A", Ack: 999}), Forward)
	for _, s := range r.sessions() {
		if s.Remote.Addr().String() == src && s.State != "syn-received" {
			t.Fatalf("blind ACK confirmed a forged connection: %+v", s)
		}
	}
	// hostB's own quota is untouched by the flood.
	for i := range 100 {
		r.must(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: uint16(3000 + i), DP: 53}), Forward)
	}
	checkTable(t, r.e)
}

// TestAttack_SpoofedSources: from the WAN, packets claiming a LAN source
// (to inject a reset or data into a LAN host's flow, or to reach one LAN
// host "from" another) never pass; from the LAN, sources outside the LAN
// prefixes are refused with a rate-limited code 5 and create nothing; a
// LAN host cycling through addresses of the /64 (which the engine cannot
// tell from many hosts; binding sources to devices is the data plane's
// source guard) fills at most the table, and never evicts a flow that has
// been answered.
func TestAttack_SpoofedSources(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 1024 })
	r.established(hostA, 40000, srv, 443)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: hostB, Dst: hostA, SP: 443, DP: 40000, Flags: "R"}), ReasonLANSourceFromWAN)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: routerLAN, Dst: hostA, SP: 443, DP: 40000, Flags: "R"}), ReasonLANSourceFromWAN)
	rng := rand.New(rand.NewPCG(9, 9))
	replies := 0
	for range 5000 {
		res := r.send(FromLAN, udp6(t, pk{Src: wanAddr(rng), Dst: srv, SP: 1, DP: 53}))
		if res.Verdict == Reply {
			replies++
		}
	}
	if replies > r.e.cfg.ICMPErrorBurst || r.e.Counters().Sessions != 1 {
		t.Fatalf("%d code-5 replies, %d sessions", replies, r.e.Counters().Sessions)
	}
	for range 20000 {
		r.send(FromLAN, udp6(t, pk{Src: lanAddr(rng), Dst: srv, SP: uint16(rng.Uint32()), DP: 53}))
	}
	if n := r.e.Counters().Sessions; n > 1024 {
		t.Fatalf("%d sessions", n)
	}
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A"}), Forward)
	checkTable(t, r.e)
}

// TestAttack_ExtensionHeaderBombs: chains built to exhaust a parser — a
// thousand headers, one huge header, a header chain split across
// fragments so the first fragment shows no transport header (the classic
// firewall evasion) — cost at most 8 headers of work each, open nothing
// and get at most the error rate limit's answers.
func TestAttack_ExtensionHeaderBombs(t *testing.T) {
	r := newRig(t, nil)
	base := udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 5000})
	bombs := [][]byte{
		withExt(base, packet.ProtoDstOpts, 1000, 8),
		withExt(base, packet.ProtoDstOpts, 1, 2048),
		withExt(base, packet.ProtoHopByHop, 1, 2048),
		withExt(withExt(base, packet.ProtoDstOpts, 8, 8), packet.ProtoHopByHop, 1, 8),
		withExt(withExt(base, packet.ProtoExp253, 6, 8), packet.ProtoDstOpts, 6, 8),
	}
	for _, b := range bombs {
		ch, err := packet.IPv6(b).Walk()
		if err == packet.ChainOK || ch.Headers > packet.MaxExtHeaders {
			t.Fatalf("walk: %+v %v", ch, err)
		}
	}
	errs := 0
	for i := range 4000 {
		if res := r.send(FromWAN, bombs[i%len(bombs)]); res.Verdict == Reply {
			errs++
		} else if res.Verdict != Drop {
			t.Fatalf("bomb %d: %v", i%len(bombs), res.Verdict)
		}
	}
	if errs > r.e.cfg.ICMPErrorBurst {
		t.Fatalf("%d errors for a bomb flood", errs)
	}
	// The split chain: the first fragment carries extension headers only,
	// the transport header (a SYN to port 22) is in the second.
	first := raw6(t, pk{Src: srv, Dst: hostA, Ext: []gopacketLayer{&layers.IPv6Fragment{MoreFragments: true, Identification: 77}, dstOpts()}}, packet.ProtoTCP, nil)
	if res := r.send(FromWAN, first); res.Verdict == Forward || res.Reason != ReasonFragmentChain {
		t.Fatalf("first fragment without a transport header: %v %v", res.Verdict, res.Reason)
	}
	second := raw6(t, pk{Src: srv, Dst: hostA, Ext: []gopacketLayer{&layers.IPv6Fragment{FragmentOffset: 1, Identification: 77}}}, packet.ProtoDstOpts,
		tcp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 22, Flags: "S"})[40:])
	r.mustDrop(FromWAN, second, ReasonFragment)
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions", n)
	}
}

// TestAttack_ICMPv6ErrorFloods: errors from the WAN quoting made-up flows
// are dropped without state; errors quoting a real flow pass but neither
// refresh nor end it; floods that provoke the router's own errors get the
// rate limit, per second.
func TestAttack_ICMPv6ErrorFloods(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 443)
	rng := rand.New(rand.NewPCG(10, 10))
	for i := range 10000 {
		about := udp6(t, pk{Src: hostA, Dst: wanAddr(rng), SP: uint16(rng.Uint32()), DP: 53})
		typ := uint8(1 + i%4)
		r.mustDrop(FromWAN, icmpErr6(t, wanAddr(rng), hostA, typ, 0, 0, about), ReasonICMPNoMatch)
	}
	// Spoofed "port unreachable" and "too big" about the live connection.
	about := tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"})
	r.advance(time.Hour)
	for range 100 {
		r.must(FromWAN, icmpErr6(t, wanAddr(rng), hostA, packet.ICMPv6DestUnreachable, 4, 0, about), Forward)
	}
	if s := r.sessions(); len(s) != 1 || s[0].State != "established" || s[0].Idle != time.Hour {
		t.Fatalf("errors changed the flow: %+v", s)
	}
	if n := r.e.Counters().Sessions; n != 1 {
		t.Fatalf("%d sessions", n)
	}
	// The router's own errors: a LAN host sending hop-limit-1 and
	// oversized packets as fast as it can for 3 seconds of clock.
	start := r.e.Counters().ICMPErrorsSent
	big := udp6(t, pk{Src: hostB, Dst: srv, SP: 1, DP: 2, Payload: make([]byte, 1500)})
	for step := range 3000 {
		r.send(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: 1, DP: 2, HL: 1}))
		r.send(FromLAN, big)
		if step%10 == 0 {
			r.advance(10 * time.Millisecond)
		}
	}
	sent := r.e.Counters().ICMPErrorsSent - start
	// Two buckets (Packet Too Big has its own), each burst + 100/s × 3 s.
	if limit := uint64(2 * (r.e.cfg.ICMPErrorBurst + 3*r.e.cfg.ICMPErrorRate)); sent > limit {
		t.Fatalf("%d errors in 3 s, limit %d", sent, limit)
	}
}

// TestAttack_MartiansAndLoopsCostNothing: packets built to make the router
// talk to itself or loop — sources and destinations of the router's own,
// unspecified, loopback or multicast addresses — are dropped without any
// answer.
func TestAttack_MartiansAndLoopsCostNothing(t *testing.T) {
	r := newRig(t, nil)
	for _, c := range []struct{ src, dst string }{
		{routerWAN, routerWAN}, {routerWAN, hostA}, {"::", hostA}, {"::1", routerWAN}, {"ff02::1", routerWAN},
		{srv, "::"}, {srv, "ff02::1:2"}, {srv, unassigned},
	} {
		res := r.send(FromWAN, tcp6(t, pk{Src: c.src, Dst: c.dst, SP: 1, DP: 22, Flags: "S", HL: 1}))
		if res.Verdict == Forward || res.Verdict == Reply {
			t.Fatalf("%s→%s: %v", c.src, c.dst, res.Verdict)
		}
	}
	if c := r.e.Counters(); c.ICMPErrorsSent != 0 || c.Sessions != 0 || r.e.pending.n != 0 {
		t.Fatalf("martians cost %d errors, %d sessions, %d held SYNs", c.ICMPErrorsSent, c.Sessions, r.e.pending.n)
	}
}

// TestAttack_LANHostForgesTheRoutersAddress: a LAN host sends with the
// router's own LAN-side address as its source (it is inside the LAN
// prefix, so the prefix check alone passes it): a RST to tear down the
// router's own connection, a segment riding that connection, a new flow
// that would count against the router's quota and a packet to the router
// itself. Each is dropped as a spoofed source, and the router's
// connection lives on. (Before 2026-12-05 the RST closed it.)
func TestAttack_LANHostForgesTheRoutersAddress(t *testing.T) {
	for _, own := range []string{routerLAN, routerULA} {
		r := newRig(t, nil)
		dst := srv
		if own == routerULA {
			dst = hostB // a ULA source never leaves the site; aim at a LAN host's session instead
		}
		if own == routerLAN {
			r.must(FromSelf, tcp6(t, pk{Src: own, Dst: srv, SP: 50000, DP: 443, Flags: "S"}), Forward)
			r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: own, SP: 443, DP: 50000, Flags: "SA"}), ToSelf)
			r.must(FromSelf, tcp6(t, pk{Src: own, Dst: srv, SP: 50000, DP: 443, Flags: "A"}), Forward)
		}
		before := len(r.sessions())
		for _, b := range [][]byte{
			tcp6(t, pk{Src: own, Dst: dst, SP: 50000, DP: 443, Flags: "R"}),
			tcp6(t, pk{Src: own, Dst: dst, SP: 50000, DP: 443, Flags: "PA"}),
			udp6(t, pk{Src: own, Dst: dst, SP: 5353, DP: 53}),
			tcp6(t, pk{Src: own, Dst: dst, SP: 50001, DP: 443, Flags: "S"}),
			tcp6(t, pk{Src: own, Dst: routerLAN, SP: 50002, DP: 22, Flags: "S"}),
		} {
			r.mustDrop(FromLAN, b, ReasonSpoofedSource)
		}
		if n := len(r.sessions()); n != before {
			t.Fatalf("%s: %d sessions after the forged packets, %d before", own, n, before)
		}
		if own == routerLAN {
			// The router's connection is still established both ways.
			r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: own, SP: 443, DP: 50000, Flags: "A"}), ToSelf)
			r.must(FromSelf, tcp6(t, pk{Src: own, Dst: srv, SP: 50000, DP: 443, Flags: "PA"}), Forward)
		}
		checkTable(t, r.e)
	}
}
