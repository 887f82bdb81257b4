package passthrough

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// esp builds a raw ESP packet (SPI, sequence number, opaque payload).
func esp(t *testing.T, src, dst string, spi, seq uint32) []byte {
	b := make([]byte, 8+40)
	binary.BigEndian.PutUint32(b[0:], spi)
	binary.BigEndian.PutUint32(b[4:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = byte(spi) ^ byte(i*7)
	}
	return ipPkt(t, src, dst, layers.IPProtocolESP, b)
}

// espOut sends ESP from a LAN host and checks it leaves unchanged but for
// the source address.
func (r *rig) espOut(host, srv string, spi, seq uint32) {
	r.t.Helper()
	in := esp(r.t, host, srv, spi, seq)
	d := r.must(nat.Outbound, append([]byte(nil), in...), nat.Forward)
	if d.Src() != extIP || !bytes.Equal(d.IP.Payload, in[20:]) {
		r.t.Fatalf("outbound ESP changed: src %s", d.Src())
	}
}

// espIn sends ESP from a server and checks which host receives it.
func (r *rig) espIn(srv string, spi, seq uint32, want string) {
	r.t.Helper()
	in := esp(r.t, srv, extIP, spi, seq)
	d := r.must(nat.Inbound, append([]byte(nil), in...), nat.Forward)
	if d.Dst() != want || !bytes.Equal(d.IP.Payload, in[20:]) {
		r.t.Fatalf("inbound SPI %#x went to %s, want %s (payload intact: %v)", spi, d.Dst(), want, bytes.Equal(d.IP.Payload, in[20:]))
	}
}

func TestRawESPThreeClientsOneServer(t *testing.T) {
	r := newRig(t, nil)
	out := []uint32{0xff0af349, 0x0fdd62cf, 0x11111111}
	in := []uint32{0xcaca5d34, 0x841306d7, 0x22222222}
	// All three start at once. Learning is serialised per server: while
	// lan1's SA learns its inbound SPI, the others' packets are held back.
	r.espOut(lan1, server, out[0], 1)
	r.mustDrop(nat.Outbound, esp(t, lan2, server, out[1], 1), nat.ReasonBlocked)
	r.mustDrop(nat.Outbound, esp(t, lan3, server, out[2], 1), nat.ReasonBlocked)
	// Each reply binds to the one learning client; after a round trip the
	// next client's retransmission goes out and learns in turn.
	for i, h := range lans {
		r.espUp(h, server, out[i], in[i])
	}
	// Interleaved traffic, any order, stays with its client.
	for seq := uint32(5); seq < 8; seq++ {
		for i := len(lans) - 1; i >= 0; i-- {
			r.espIn(server, in[i], seq, lans[i])
			r.espOut(lans[i], server, out[i], seq)
		}
	}
	if c := r.p.Counters(); c.ESPLearned != 3 || c.IPsec.Created != 3 || r.p.ESPLimits().ESPSerialised != 2 {
		t.Fatalf("learned %d created %d serialised %d", c.ESPLearned, c.IPsec.Created, r.p.ESPLimits().ESPSerialised)
	}
	// An unknown SPI with nothing to learn is dropped, never guessed.
	r.mustDrop(nat.Inbound, esp(t, server, extIP, 0x99999999, 1), nat.ReasonNoMapping)
}

func TestRawESPInterleavedRekeys(t *testing.T) {
	r := newRig(t, nil)
	r.espUp(lan1, server, 0xa1, 0xb1)
	r.espUp(lan2, server, 0xa2, 0xb2)
	// lan2 rekeys first: new outbound SPI; the server answers on a new SPI.
	r.espOut(lan2, server, 0xa2+0x100, 1)
	// Old SAs still carry traffic during the rekey and are never misrouted,
	// although lan2's new SA is waiting for an inbound SPI.
	r.espIn(server, 0xb1, 2, lan1)
	r.espIn(server, 0xb2, 2, lan2)
	r.espIn(server, 0xb2+0x100, 1, lan2)
	// lan2's new SA carries a round trip: its binding is confirmed.
	r.espOut(lan2, server, 0xa2+0x100, 2)
	r.espIn(server, 0xb2+0x100, 2, lan2)
	r.advance(time.Second)
	// Now lan1 rekeys; its new inbound SPI is learnt.
	r.espOut(lan1, server, 0xa1+0x100, 1)
	r.espIn(server, 0xb1+0x100, 1, lan1)
	// Old SAs go idle and expire; new ones live on.
	for i := 0; i < 7; i++ {
		r.advance(100 * time.Second)
		r.espOut(lan1, server, 0xa1+0x100, uint32(2+i))
		r.espIn(server, 0xb1+0x100, uint32(2+i), lan1)
		r.espOut(lan2, server, 0xa2+0x100, uint32(2+i))
		r.espIn(server, 0xb2+0x100, uint32(2+i), lan2)
	}
	r.mustDrop(nat.Inbound, esp(t, server, extIP, 0xb1, 9), nat.ReasonNoMapping)
	if n := len(r.p.Sessions()); n != 2 {
		t.Fatalf("%d ESP SAs listed after expiry, want 2", n)
	}
}

func TestRawESPClientsToDifferentServers(t *testing.T) {
	r := newRig(t, nil)
	r.espOut(lan1, server, 1, 1)
	r.espOut(lan2, server2, 1, 1) // same SPI value, other server
	r.espIn(server2, 7, 1, lan2)
	r.espIn(server, 7, 1, lan1)
}

func TestRawESPUnboundTimeout(t *testing.T) {
	r := newRig(t, nil)
	r.espOut(lan1, server, 1, 1)
	r.advance(ESPUnboundTimeout + 2*time.Second)
	r.espOut(lan2, server, 2, 1)
	// lan1's SA waited too long; the reply is lan2's.
	r.espIn(server, 9, 1, lan2)
}

func TestRawESPSingleClientMode(t *testing.T) {
	r := newRig(t, func(_ *nat.Config, c *Config) { c.ESPMode = SingleClient })
	r.espOut(lan1, server, 1, 1)
	r.mustDrop(nat.Outbound, esp(t, lan2, server, 2, 1), nat.ReasonBlocked)
	r.espIn(server, 100, 1, lan1)
	r.espIn(server, 101, 1, lan1) // any SPI from that server goes to its one host
	r.espOut(lan2, server2, 3, 1) // another server is fine
	if r.p.Counters().ESPConflicts != 1 {
		t.Fatal("conflict not counted")
	}
}

// ike builds an IKE message (header only plus some body) with initiator SPI spi.
func ike(spi uint64, exch byte, nonESP bool, body int) []byte {
	b := make([]byte, 28+body)
	binary.BigEndian.PutUint64(b, spi)
	b[17], b[18] = 0x20, exch
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	if nonESP {
		return append([]byte{0, 0, 0, 0}, b...)
	}
	return b
}

func TestIKENATTThreeClients(t *testing.T) {
	for _, v := range []struct {
		name        string
		version     byte
		init, float byte // exchange types: before and after the float to 4500
	}{{"IKEv2", 0x20, 34, 35}, {"IKEv1 main mode", 0x10, 2, 2}} {
		t.Run(v.name, func(t *testing.T) { ikeNATT(t, v.version, v.init, v.float) })
	}
}

func ikeNATT(t *testing.T, version, initExch, floatExch byte) {
	r := newRig(t, nil)
	msg := func(spi uint64, exch byte, nonESP bool, body int) []byte {
		m := ike(spi, exch, nonESP, body)
		off := 17
		if nonESP {
			off += 4
		}
		m[off] = version
		return m
	}
	spis := []uint64{0x0348aa7fa06ba5cc, 0x39e1ae804cff5412, 0x094ac6144efaf98c}
	ext500 := map[string]uint16{}
	for i, h := range lans {
		d := r.must(nat.Outbound, nattest.UDP(t, pk{Src: h, Dst: server, SP: 500, DP: 500, Payload: msg(spis[i], initExch, false, 200)}), nat.Forward)
		ext500[h] = d.SPort()
	}
	if ext500[lan1] != 500 || ext500[lan2] == 500 || ext500[lan3] == 500 || ext500[lan2] == ext500[lan3] || ext500[lan2] >= 1024 || ext500[lan3] >= 1024 {
		t.Fatalf("IKE ports %v: the first client keeps 500, the others get distinct ports below 1024", ext500)
	}
	for i, h := range lans {
		d := r.must(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 500, DP: ext500[h], Payload: msg(spis[i], initExch, false, 200)}), nat.Forward)
		if d.Dst() != h || d.DPort() != 500 {
			t.Fatalf("IKE response to %s:%d", d.Dst(), d.DPort())
		}
	}
	// Float to 4500: non-ESP marker, then ESP-in-UDP with zero checksums.
	ext4500 := map[string]uint16{}
	seen := map[uint16]bool{}
	for i, h := range lans {
		m := msg(spis[i], floatExch, true, 300)
		d := r.must(nat.Outbound, nattest.UDP(t, pk{Src: h, Dst: server, SP: 4500, DP: 4500, Payload: m}), nat.Forward)
		if !bytes.Equal(d.UDP.Payload, m) {
			t.Fatal("IKE on 4500 changed")
		}
		if seen[d.SPort()] {
			t.Fatal("two clients share an external 4500 port")
		}
		seen[d.SPort()] = true
		ext4500[h] = d.SPort()
	}
	for round := 0; round < 3; round++ {
		for i, h := range lans {
			espInUDP := make([]byte, 120)
			binary.BigEndian.PutUint32(espInUDP, 0xc2ce918f+uint32(i))
			res := r.e.Translate(nattest.UDP(t, pk{Src: h, Dst: server, SP: 4500, DP: 4500, Payload: espInUDP, ZeroCsum: true}), nat.Outbound)
			if res.Verdict != nat.Forward || be16(res.Packet, 26) != 0 || !bytes.Equal(res.Packet[28:], espInUDP) {
				t.Fatalf("ESP-in-UDP: %v, checksum %#x", res.Verdict, be16(res.Packet, 26))
			}
			res = r.e.Translate(nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 4500, DP: ext4500[h], Payload: espInUDP, ZeroCsum: true}), nat.Inbound)
			if res.Verdict != nat.Forward || be16(res.Packet, 26) != 0 || nattest.Oracle(t, res.Packet).Dst() != h {
				t.Fatalf("inbound ESP-in-UDP: %v", res.Verdict)
			}
		}
	}
	// NAT-T keepalives every 20 s keep the mapping for ten minutes; then
	// 125 s of silence is still survived (RFC 4787 REQ-5: ≥ 120 s).
	for i := 0; i < 30; i++ {
		r.advance(20 * time.Second)
		d := r.must(nat.Outbound, nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 4500, DP: 4500, Payload: []byte{0xff}}), nat.Forward)
		if d.SPort() != ext4500[lan1] || !bytes.Equal(d.UDP.Payload, []byte{0xff}) {
			t.Fatalf("keepalive %d left from port %d", i, d.SPort())
		}
	}
	r.advance(125 * time.Second)
	d := r.must(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 4500, DP: ext4500[lan1], Payload: msg(spis[0], floatExch, true, 60)}), nat.Forward)
	if d.Dst() != lan1 {
		t.Fatal("NAT-T mapping lost")
	}
}

func TestIKEFragmented(t *testing.T) {
	r := newRig(t, nil)
	big := nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 4500, DP: 4500, ID: 4321, Payload: ike(7, 35, true, 2900)})
	frags := nattest.Fragments(big, 1400)
	// The later fragments first, then the first one.
	var got [][]byte
	for _, i := range []int{2, 1, 0} {
		res := r.e.Translate(frags[i], nat.Outbound)
		switch res.Verdict {
		case nat.Held:
		case nat.Forward:
			got = append(got, res.Packet)
			got = append(got, r.e.More()...)
		default:
			t.Fatalf("fragment %d: %v %v", i, res.Verdict, res.Reason)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d fragments forwarded", len(got))
	}
	for _, g := range got {
		if d := nattest.Oracle(t, g); d.Src() != extIP {
			t.Fatal("fragment not translated")
		}
	}
}

func TestIKESharedPort500(t *testing.T) {
	r := newRig(t, func(_ *nat.Config, c *Config) { c.IKESharePort = true })
	spis := []uint64{0x094ac6144efaf98c, 0xb9a1a4b9b506f010, 0x1234}
	for i, h := range lans {
		d := r.must(nat.Outbound, nattest.UDP(t, pk{Src: h, Dst: server, SP: 500, DP: 500, Payload: ike(spis[i], 2, false, 100)}), nat.Forward)
		if d.SPort() != 500 || d.Src() != extIP {
			t.Fatalf("shared IKE left as %s:%d", d.Src(), d.SPort())
		}
	}
	for _, i := range []int{2, 0, 1} {
		d := r.must(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 500, DP: 500, Payload: ike(spis[i], 2, false, 100)}), nat.Forward)
		if d.Dst() != lans[i] || d.DPort() != 500 {
			t.Fatalf("IKE for SPI %x went to %s", spis[i], d.Dst())
		}
	}
	r.mustDrop(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 500, DP: 500, Payload: ike(99, 2, false, 100)}), nat.ReasonNoMapping)
	// Another host may not take over a live SPI.
	r.mustDrop(nat.Outbound, nattest.UDP(t, pk{Src: lan2, Dst: server, SP: 500, DP: 500, Payload: ike(spis[0], 2, false, 100)}), nat.ReasonFiltered)
}

func TestL2TPPortPreservationAndReplyFromOtherPort(t *testing.T) {
	for _, f := range []nat.Filtering{nat.AddressDependent, nat.AddressPortDependent} {
		t.Run(f.String(), func(t *testing.T) {
			r := newRig(t, func(c *nat.Config, _ *Config) { c.Filtering = f })
			var ext []uint16
			for _, h := range lans {
				d := r.must(nat.Outbound, nattest.UDP(t, pk{Src: h, Dst: server, SP: 1701, DP: 1701, Payload: []byte{0xc8, 2, 0, 20}}), nat.Forward)
				ext = append(ext, d.SPort())
			}
			if ext[0] != 1701 || ext[1] == 1701 || ext[2] == 1701 || ext[1] == ext[2] {
				t.Fatalf("L2TP ports %v", ext)
			}
			// RFC 2661 §8.1: the LNS may answer from another port.
			for i, h := range lans {
				d := r.must(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 34567, DP: ext[i], Payload: []byte{0xc8, 2, 0, 20}}), nat.Forward)
				if d.Dst() != h || d.DPort() != 1701 {
					t.Fatalf("reply from another port to %s:%d", d.Dst(), d.DPort())
				}
			}
			if f == nat.AddressPortDependent {
				// Only L2TP gets the exception.
				r.must(nat.Outbound, nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 6000, DP: 53}), nat.Forward)
				r.mustDrop(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 54, DP: 6000}), nat.ReasonFiltered)
			}
		})
	}
}
