package fw6

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// Extension headers: RFC 7045 (don't drop what you don't know), RFC 9098
// and RFC 8883 (bounded chains, with the errors for longer ones), RFC 7112
// (first fragments carry the whole chain), RFC 8200 §4 (order, fragments).

// withExt inserts count extension headers of type typ (8 bytes each,
// chained) after the IPv6 header of b.
func withExt(b []byte, typ uint8, count, size int) []byte {
	out := append([]byte(nil), b[:40]...)
	next := b[6]
	out[6] = typ
	for i := 0; i < count; i++ {
		h := make([]byte, size)
		h[1] = byte(size/8 - 1)
		h[0] = typ
		if i == count-1 {
			h[0] = next
		}
		out = append(out, h...)
	}
	out = append(out, b[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

func TestRFC7045_UnknownHeadersAndProtocolsNotDropped(t *testing.T) {
	r := newRig(t, nil)
	// Two experimental extension headers (RFC 4727) before UDP: walked,
	// and the flow is tracked by its UDP ports.
	out := withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 6000}), packet.ProtoExp253, 2, 8)
	if res := r.send(FromLAN, out); res.Verdict != Forward {
		t.Fatalf("%v %v", res.Verdict, res.Reason)
	}
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 6000, DP: 5000}), Forward)
	// An unknown next header value is an upper-layer protocol to the
	// firewall: outbound opens, the reply comes back.
	r.must(FromLAN, raw6(t, pk{Src: hostB, Dst: srv}, 143, []byte("??")), Forward)
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostB}, 143, []byte("!!")), Forward)
	// Destination options with a hop-by-hop header first.
	hbh := withExt(withExt(tcp6(t, pk{Src: hostC, Dst: srv, SP: 1, DP: 443, Flags: "S"}), packet.ProtoDstOpts, 1, 16), packet.ProtoHopByHop, 1, 8)
	if res := r.send(FromLAN, hbh); res.Verdict != Forward {
		t.Fatalf("hop-by-hop + destination options: %v %v", res.Verdict, res.Reason)
	}
}

func TestRFC8200_S41_HopByHopNotFirstDropped(t *testing.T) {
	r := newRig(t, nil)
	b := withExt(withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoHopByHop, 1, 8), packet.ProtoDstOpts, 1, 8)
	r.mustDrop(FromLAN, b, ReasonExtHeader)
	cut := withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoDstOpts, 1, 64)
	cut = cut[:60]
	binary.BigEndian.PutUint16(cut[4:], 20)
	r.mustDrop(FromLAN, cut, ReasonExtHeader)
}

func TestRFC8883_ChainLimits(t *testing.T) {
	r := newRig(t, nil)
	// 8 extension headers: the bound, forwarded.
	if res := r.send(FromLAN, withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoDstOpts, 8, 8)); res.Verdict != Forward {
		t.Fatalf("8 headers: %v %v", res.Verdict, res.Reason)
	}
	// 9: Parameter Problem code 8, pointing at the ninth header.
	d := r.mustReply(FromLAN, withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoDstOpts, 9, 8),
		packet.ICMPv6ParamProblem, packet.ICMPv6TooManyExtHeaders, ReasonExtTooMany)
	if p := packet.ICMPv6(d.Packet[40:]).Param(); p != 40+8*8 {
		t.Fatalf("pointer %d", p)
	}
	// The upper-layer header 256 bytes in: code 7.
	d = r.mustReply(FromLAN, withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoDstOpts, 1, 216),
		packet.ICMPv6ParamProblem, packet.ICMPv6ChainTooLong, ReasonExtTooLong)
	if p := packet.ICMPv6(d.Packet[40:]).Param(); p != 256 {
		t.Fatalf("pointer %d", p)
	}
	// 248 is within the bound.
	if res := r.send(FromLAN, withExt(udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), packet.ProtoDstOpts, 1, 208)); res.Verdict != Forward {
		t.Fatalf("chain of 248 bytes: %v %v", res.Verdict, res.Reason)
	}
	// From the WAN too: the chain is judged before the firewall can be.
	r.mustReply(FromWAN, withExt(udp6(t, pk{Src: srv, Dst: hostA, SP: 2, DP: 1}), packet.ProtoDstOpts, 9, 8),
		packet.ICMPv6ParamProblem, packet.ICMPv6TooManyExtHeaders, ReasonExtTooMany)
	// But only for packets that are the router's to handle: a long chain
	// to somebody else's address, or claiming a LAN source, is answered by
	// nobody.
	sent := r.e.Counters().ICMPErrorsSent
	r.mustDrop(FromWAN, withExt(udp6(t, pk{Src: srv, Dst: srv2, SP: 2, DP: 1}), packet.ProtoDstOpts, 9, 8), ReasonNotForUs)
	r.mustDrop(FromWAN, withExt(udp6(t, pk{Src: hostB, Dst: hostA, SP: 2, DP: 1}), packet.ProtoDstOpts, 9, 8), ReasonLANSourceFromWAN)
	r.mustDrop(FromLAN, withExt(udp6(t, pk{Src: hostLL, Dst: srv, SP: 2, DP: 1}), packet.ProtoDstOpts, 9, 8), ReasonLinkLocal)
	if r.e.Counters().ICMPErrorsSent != sent {
		t.Fatal("a chain error answered for a packet that is not the router's")
	}
}

func TestRFC7112_FirstFragmentWithoutWholeChain(t *testing.T) {
	r := newRig(t, nil)
	// A first fragment whose TCP header is cut after 10 bytes.
	b := tcp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 443, Flags: "S", Ext: []gopacketLayer{&layers.IPv6Fragment{MoreFragments: true, Identification: 3}}})
	b = b[:48+10]
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	r.mustReply(FromLAN, b, packet.ICMPv6ParamProblem, packet.ICMPv6IncompleteChain, ReasonFragmentChain)
}

func TestRFC8200_S45_FragmentsFollowTheirFirst(t *testing.T) {
	r := newRig(t, nil)
	frag := func(src, dst string, sp, dp uint16, off uint16, more bool, id uint32) []byte {
		f := &layers.IPv6Fragment{FragmentOffset: off, MoreFragments: more, Identification: id}
		if off == 0 {
			return udp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Payload: make([]byte, 64), Ext: []gopacketLayer{f}})
		}
		return raw6(t, pk{Src: src, Dst: dst, Ext: []gopacketLayer{f}}, packet.ProtoUDP, bytes.Repeat([]byte{7}, 40))
	}
	// Outbound: the first fragment opens the flow, the rest follow.
	d := r.must(FromLAN, frag(hostA, srv, 5000, 53, 0, true, 1), Forward)
	if d.IP.HopLimit != 63 {
		t.Fatal("hop limit")
	}
	d = r.must(FromLAN, frag(hostA, srv, 0, 0, 9, false, 1), Forward)
	if d.IP.HopLimit != 63 {
		t.Fatal("later fragment's hop limit")
	}
	// A later fragment whose first was never seen.
	r.mustDrop(FromLAN, frag(hostA, srv, 0, 0, 9, false, 2), ReasonFragment)
	// Inbound: an answer's fragments follow its admitted first fragment...
	r.must(FromWAN, frag(srv, hostA, 53, 5000, 0, true, 9), Forward)
	r.must(FromWAN, frag(srv, hostA, 0, 0, 9, false, 9), Forward)
	// ...an unsolicited first fragment opens nothing, and its rest is dropped.
	r.mustDrop(FromWAN, frag(srv, hostB, 53, 5000, 0, true, 10), ReasonNoSession)
	r.mustDrop(FromWAN, frag(srv, hostB, 0, 0, 9, false, 10), ReasonFragment)
	// A WAN sender cannot ride on a LAN datagram's state with its own ID
	// space: state is per (source, destination, identification).
	r.mustDrop(FromWAN, frag(srv2, hostA, 0, 0, 9, false, 9), ReasonFragment)
	// Atomic fragments are whole packets (RFC 6946).
	r.must(FromLAN, frag(hostB, srv, 5001, 53, 0, false, 11), Forward)
	if c := r.e.Counters(); c.FragmentsForwarded != 2 {
		t.Fatalf("%d later fragments forwarded, want 2", c.FragmentsForwarded)
	}
	// Fragment state expires 60 s after the last fragment.
	r.must(FromLAN, frag(hostA, srv, 5000, 53, 0, true, 20), Forward)
	r.advance(61e9)
	r.mustDrop(FromLAN, frag(hostA, srv, 0, 0, 9, false, 20), ReasonFragment)
}
