package nat

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// RFC 4787 (UDP) requirements, numbered as in the conformance checklist of
// passthrough-reference.md §4.

func TestRFC4787_REQ1_EndpointIndependentMapping(t *testing.T) {
	r := newRig(t, nil)
	var ext []uint16
	for _, dst := range []struct {
		ip   string
		port uint16
	}{{srv, 3478}, {srv2, 3478}, {srv, 3479}, {srv2, 9}} {
		d := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: dst.ip, SP: 40000, DP: dst.port}), Forward)
		if d.Src() != extIP {
			t.Fatalf("source %s, want %s", d.Src(), extIP)
		}
		ext = append(ext, d.SPort())
	}
	for _, p := range ext {
		if p != ext[0] {
			t.Fatalf("external ports %v differ per destination: mapping is not endpoint-independent", ext)
		}
	}
	if ext[0] != 40000 {
		t.Fatalf("free source port 40000 not preserved: got %d", ext[0])
	}
}

func TestRFC4787_REQ3_NoPortOverloadingAndRangePreservation(t *testing.T) {
	r := newRig(t, nil)
	seen := map[uint16]string{}
	for i := 0; i < 50; i++ {
		h := fmt.Sprintf("192.168.1.%d", 20+i)
		for _, sp := range []uint16{500, 40000} {
			d := r.must(Outbound, udpPkt(t, pk{Src: h, Dst: srv, SP: sp, DP: 500}), Forward)
			p := d.SPort()
			if prev, ok := seen[p]; ok {
				t.Fatalf("external port %d given to %s:%d and %s: port overloading", p, h, sp, prev)
			}
			seen[p] = fmt.Sprintf("%s:%d", h, sp)
			if (sp < 1024) != (p < 1024) {
				t.Fatalf("port %d mapped to %d: range not preserved (REQ-3a)", sp, p)
			}
			if i == 0 && p != sp {
				t.Fatalf("first host's free port %d not preserved (got %d)", sp, p)
			}
		}
	}
}

func TestRFC4787_REQ5_MappingTimer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"default 300s", 0}, {"configured 120s", 120 * time.Second}, {"configured 600s", 600 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				if tc.timeout != 0 {
					c.Timeouts.UDP = tc.timeout
				}
			})
			want := r.e.Config().Timeouts.UDP
			if tc.timeout == 0 && want != 300*time.Second {
				t.Fatalf("default UDP timeout %v, want 300s (REQ-5c)", want)
			}
			r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
			r.advance(want - time.Second)
			r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000}), Forward)
			// The inbound packet refreshed it (allowed by REQ-6); now stay idle.
			r.advance(want)
			if n := len(r.sessions()); n != 1 {
				t.Fatalf("mapping gone after exactly the timeout (%d sessions)", n)
			}
			r.advance(2 * time.Second)
			r.mustDrop(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000}), ReasonNoMapping)
			if c := r.e.Counters(); c.Sessions != 0 || c.Mappings != 0 {
				t.Fatalf("after expiry: %d sessions %d mappings", c.Sessions, c.Mappings)
			}
		})
	}
}

func TestRFC4787_REQ6_OutboundRefreshes(t *testing.T) {
	r := newRig(t, nil)
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	for i := 0; i < 5; i++ {
		r.advance(250 * time.Second)
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	}
	r.advance(250 * time.Second)
	r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000}), Forward)
}

func TestRFC4787_REQ8_Filtering(t *testing.T) {
	type probe struct {
		src  string
		port uint16
	}
	contacted := probe{srv, 3478}
	otherPort := probe{srv, 3479}
	otherAddr := probe{srv2, 3478}
	for _, tc := range []struct {
		f    Filtering
		pass map[probe]bool
	}{
		{EndpointIndependent, map[probe]bool{contacted: true, otherPort: true, otherAddr: true}},
		{AddressDependent, map[probe]bool{contacted: true, otherPort: true, otherAddr: false}},
		{AddressPortDependent, map[probe]bool{contacted: true, otherPort: false, otherAddr: false}},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Filtering = tc.f })
			if tc.f == AddressDependent && DefaultConfig(r.e.Config().LAN).Filtering != AddressDependent {
				t.Fatal("default filtering is not address-dependent")
			}
			r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: contacted.src, SP: 5000, DP: contacted.port}), Forward)
			for _, p := range []probe{contacted, otherPort, otherAddr} {
				res := r.send(Inbound, udpPkt(t, pk{Src: p.src, Dst: extIP, SP: p.port, DP: 5000}))
				if got := res.Verdict == Forward; got != tc.pass[p] {
					t.Errorf("from %s:%d: verdict %v (%v), want pass=%v", p.src, p.port, res.Verdict, res.Reason, tc.pass[p])
				}
				if res.Verdict == Forward {
					if d := oracle(t, res.Packet); d.Dst() != hostA || d.DPort() != 5000 {
						t.Errorf("delivered to %s:%d", d.Dst(), d.DPort())
					}
				}
			}
			if n := len(r.sessions()); n != 1 {
				t.Fatalf("inbound packets created state: %d sessions", n)
			}
		})
	}
}

func TestRFC4787_REQ9_Hairpinning(t *testing.T) {
	r := newRig(t, nil)
	// A has a mapping ext:5000 (it talked to a STUN server and learnt it).
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
	r.e.cfg.Filtering = EndpointIndependent
	r.e.apply(r.e.cfg)
	// B sends to A's external address.
	d := r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: extIP, SP: 6000, DP: 5000, Payload: []byte("hi")}), Hairpin)
	if d.Dst() != hostA || d.DPort() != 5000 {
		t.Fatalf("hairpin delivered to %s:%d, want %s:5000", d.Dst(), d.DPort(), hostA)
	}
	if d.Src() != extIP {
		t.Fatalf("hairpinned source %s: must be the external address (REQ-9a)", d.Src())
	}
	bExt := d.SPort()
	// A answers B's external endpoint; it comes back to B.
	d = r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: extIP, SP: 5000, DP: bExt}), Hairpin)
	if d.Dst() != hostB || d.DPort() != 6000 || d.Src() != extIP || d.SPort() != 5000 {
		t.Fatalf("reply hairpin %s:%d→%s:%d", d.Src(), d.SPort(), d.Dst(), d.DPort())
	}
	r.e.cfg.Hairpin = false
	r.e.apply(r.e.cfg)
	r.mustDrop(Outbound, udpPkt(t, pk{Src: hostB, Dst: extIP, SP: 6000, DP: 5000}), ReasonHairpinDisabled)
}

// Filtering protects mappings from outside endpoints; hairpinned packets
// come from the LAN and pass under every filtering behaviour.
func TestHairpinIsNotFiltered(t *testing.T) {
	for _, f := range []Filtering{AddressDependent, AddressPortDependent} {
		t.Run(f.String(), func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Filtering = f })
			r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
			d := r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: extIP, SP: 6000, DP: 5000}), Hairpin)
			if d.Dst() != hostA || d.DPort() != 5000 {
				t.Fatalf("hairpin to %s:%d", d.Dst(), d.DPort())
			}
			// An outside endpoint is still filtered.
			r.mustDrop(Inbound, udpPkt(t, pk{Src: srv2, Dst: extIP, SP: 3478, DP: 5000}), ReasonFiltered)
		})
	}
}

func TestRFC4787_REQ12_ICMPDoesNotTerminateMapping(t *testing.T) {
	r := newRig(t, nil)
	out := udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053})
	sent := r.must(Outbound, out, Forward)
	r.advance(100 * time.Second)
	// Port unreachable from the server about the translated packet.
	orig := sent.Pkt.Data()[:28]
	for i := 0; i < 3; i++ {
		d := r.must(Inbound, icmpErrPkt(t, srv, extIP, 3, 3, orig), Forward)
		if d.Dst() != hostA || d.ICMP.TypeCode.Type() != 3 || d.ICMP.TypeCode.Code() != 3 {
			t.Fatalf("error not delivered unchanged: %v to %s", d.ICMP.TypeCode, d.Dst())
		}
	}
	s := r.sessions()
	if len(s) != 1 {
		t.Fatalf("ICMP error terminated the mapping")
	}
	if s[0].Idle != 100*time.Second {
		t.Fatalf("ICMP error refreshed the session: idle %v", s[0].Idle)
	}
}

func TestRFC4787_REQ13_FragmentationNeededAndFragmenting(t *testing.T) {
	r := newRig(t, func(c *Config) { c.WANMTU = 1400 })
	big := bytes.Repeat([]byte{0xab}, 1450)
	// DF set: ICMP Fragmentation Needed with the next-hop MTU, from the router.
	res := r.send(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, DF: true, Payload: big}))
	if res.Verdict != Reply {
		t.Fatalf("verdict %v, want reply", res.Verdict)
	}
	d := oracle(t, res.Packet)
	if d.Src() != router || d.Dst() != hostA || d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
		t.Fatalf("got %v from %s to %s", d.ICMP.TypeCode, d.Src(), d.Dst())
	}
	if mtu := d.ICMP.Seq; mtu != 1400 { // next-hop MTU sits in the low half of the "unused" word
		t.Fatalf("next-hop MTU %d, want 1400", mtu)
	}
	emb := embeddedOracle(t, d)
	if emb.SrcIP.String() != hostA {
		t.Fatalf("embedded packet is not the original")
	}
	// DF clear: fragmented, every fragment valid, and they reassemble to the
	// translated datagram.
	res = r.send(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, ID: 777, Payload: big}))
	if res.Verdict != Forward || len(r.e.More()) != 1 {
		t.Fatalf("verdict %v with %d more packets", res.Verdict, len(r.e.More()))
	}
	var whole []byte
	for i, f := range append([][]byte{res.Packet}, r.e.More()...) {
		if len(f) > 1400 {
			t.Fatalf("fragment %d is %d bytes > MTU", i, len(f))
		}
		fd := oracle(t, f)
		if fd.Src() != extIP || fd.IP.Id != 777 || int(fd.IP.FragOffset)*8 != len(whole) {
			t.Fatalf("fragment %d: src %s id %d offset %d", i, fd.Src(), fd.IP.Id, fd.IP.FragOffset*8)
		}
		whole = append(whole, f[20:]...)
	}
	u := &layers.UDP{}
	if err := u.DecodeFromBytes(whole, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if u.SrcPort != 5000 || !bytes.Equal(u.Payload, big) {
		t.Fatalf("reassembled datagram wrong")
	}
}

func TestRFC4787_REQ14_FragmentsInAndOutOfOrder(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			r := newRig(t, nil)
			payload := bytes.Repeat([]byte("0123456789abcdef"), 70) // 1120 bytes
			frs := nattest.Fragments(udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, ID: 4242, Payload: payload}), 400)
			var got [][]byte
			for _, i := range order {
				res := r.send(Outbound, frs[i])
				switch res.Verdict {
				case Forward:
					got = append(got, append([]byte(nil), res.Packet...))
					for _, m := range r.e.More() {
						got = append(got, append([]byte(nil), m...))
					}
				case Held:
				default:
					t.Fatalf("fragment %d: %v %v", i, res.Verdict, res.Reason)
				}
			}
			if len(got) != 3 {
				t.Fatalf("%d fragments forwarded, want 3", len(got))
			}
			parts := map[int][]byte{}
			for _, g := range got {
				d := oracle(t, g)
				if d.Src() != extIP || d.IP.TTL != 63 {
					t.Fatalf("fragment not translated: src %s ttl %d", d.Src(), d.IP.TTL)
				}
				parts[int(d.IP.FragOffset)*8] = g[20:]
			}
			var whole []byte
			for off := 0; off < 1128; off += 400 {
				whole = append(whole, parts[off]...)
			}
			u := &layers.UDP{}
			if err := u.DecodeFromBytes(whole, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			ipl := &layers.IPv4{SrcIP: ip4(extIP), DstIP: ip4(srv), Protocol: layers.IPProtocolUDP}
			u.SetNetworkLayerForChecksum(ipl)
			if err, res := u.VerifyChecksum(); err != nil || !res.Valid {
				t.Fatalf("reassembled UDP checksum invalid: %+v", res)
			}
			if !bytes.Equal(u.Payload, payload) {
				t.Fatal("payload changed")
			}
		})
	}
}

func TestFragmentMemoryIsBounded(t *testing.T) {
	r := newRig(t, nil)
	held, dropped := 0, 0
	for i := 0; i < 1000; i++ {
		frs := nattest.Fragments(udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, ID: uint16(i), Payload: make([]byte, 100)}), 64)
		switch r.send(Outbound, frs[1]).Verdict {
		case Held:
			held++
		case Drop:
			dropped++
		}
	}
	if held != maxHeldFrags || dropped != 1000-maxHeldFrags {
		t.Fatalf("held %d dropped %d, want %d held", held, dropped, maxHeldFrags)
	}
	r.advance(31 * time.Second)
	if r.send(Outbound, nattest.Fragments(udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, ID: 5000, Payload: make([]byte, 100)}), 64)[1]).Verdict != Held {
		t.Fatal("held fragments not expired")
	}
}

func TestUDPZeroChecksumStaysZero(t *testing.T) {
	r := newRig(t, nil)
	res := r.send(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 4500, DP: 4500, ZeroCsum: true, Payload: []byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7}}))
	if res.Verdict != Forward {
		t.Fatal(res.Reason)
	}
	if c := uint16(res.Packet[26])<<8 | uint16(res.Packet[27]); c != 0 {
		t.Fatalf("outbound zero UDP checksum became %#04x", c)
	}
	oracle(t, res.Packet)
	res = r.send(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 4500, DP: 4500, ZeroCsum: true, Payload: []byte{0, 0, 0, 1, 2, 3, 4, 5}}))
	if res.Verdict != Forward {
		t.Fatal(res.Reason)
	}
	if c := uint16(res.Packet[26])<<8 | uint16(res.Packet[27]); c != 0 {
		t.Fatalf("inbound zero UDP checksum became %#04x", c)
	}
}
