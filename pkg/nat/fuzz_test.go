package nat

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// FuzzTranslate feeds arbitrary bytes to the engine in both directions,
// interleaved with valid traffic that creates state for the fuzzed packets
// to hit. It checks that nothing panics and that every packet the engine
// emits (forwarded, hairpinned, replies, fragments) is a well-formed IPv4
// packet whose checksums verify.
func FuzzTranslate(f *testing.F) {
	seeds := func(t testing.TB) [][]byte {
		return [][]byte{
			udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053, Payload: []byte("x")}),
			udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000}),
			tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S", MSS: 1460}),
			tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA"}),
			icmpPkt(t, pk{Src: hostA, Dst: srv}, 8, 7, 1),
			icmpPkt(t, pk{Src: srv, Dst: extIP}, 0, 7, 1),
			icmpErrPkt(t, srv, extIP, 3, 3, udpPkt(t, pk{Src: extIP, Dst: srv, SP: 5000, DP: 1053})),
			icmpErrPkt(t, hostA, srv, 3, 3, udpPkt(t, pk{Src: srv, Dst: hostA, SP: 1053, DP: 5000})),
			udpPkt(t, pk{Src: hostB, Dst: extIP, SP: 6000, DP: 5000}),
			udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1, DP: 8080, ID: 9}),
			tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 1, DP: 2, Flags: "S"}),
		}
	}
	for i, s := range seeds(f) {
		f.Add(s, uint8(i%2), uint16(0))
		f.Add(s, uint8(i%2), uint16(len(s)/2)) // a later fragment
	}
	f.Fuzz(func(t *testing.T, data []byte, dir uint8, frag uint16) {
		r := newRig(t, func(c *Config) {
			c.WANMTU = 1280
			c.Filtering = Filtering(dir % 3)
			c.PortForwards = []PortForward{{Name: "w", Proto: 17, ExtStart: 8080, ExtEnd: 8081, Host: mustAddr(hostB), IntStart: 80}}
			c.DMZ = mustAddr(hostC)
		})
		for _, s := range seeds(t)[:6] {
			r.send(Outbound, s) // state for the fuzzed input to match
		}
		b := append([]byte(nil), data...)
		if frag != 0 && headerFits(b) {
			b[6], b[7] = byte(frag>>8)&0x3f, byte(frag)
			packet.IPv4(b).UpdateHeaderChecksum()
		}
		d := Outbound
		if dir&1 == 1 {
			d = Inbound
		}
		check := func(in []byte, res Result) {
			switch res.Verdict {
			case Reply:
				verifyEmitted(t, res.Packet, true) // built by the router
			case Forward, Hairpin:
				strict := transportValid(in)
				verifyEmitted(t, res.Packet, strict && len(r.e.More()) == 0)
				for _, m := range r.e.More() {
					verifyEmitted(t, m, false)
				}
			}
		}
		// Prefetching reads the table and changes nothing, whatever the
		// packet, and a hint made of any bits is harmless.
		before := append([]byte(nil), b...)
		r.e.PrefetchSession(r.e.PrefetchSlot(b, d))
		var raw [8]byte
		copy(raw[:], data)
		r.e.PrefetchSession(Hint(binary.LittleEndian.Uint64(raw[:])))
		// The batch form, as the data plane calls it: the packet's own
		// hint and one made of any bits, each then given to Translate.
		hints := []Hint{r.e.SlotHint(b, d), Hint(binary.LittleEndian.Uint64(raw[:]))}
		r.e.PrefetchSlots(hints)
		r.e.PrefetchSessions(hints)
		if !bytes.Equal(before, b) {
			t.Fatalf("prefetching changed the packet")
		}
		check(append([]byte(nil), b...), r.e.TranslateHinted(b, d, hints[0]))
		// Fix the IPv4 checksum so the fuzzer reaches the deeper layers.
		b = append([]byte(nil), data...)
		if headerFits(b) {
			packet.IPv4(b).UpdateHeaderChecksum()
		}
		check(append([]byte(nil), b...), r.e.TranslateHinted(b, d, hints[1]))
		for _, m := range r.advance(7 * time.Second) {
			verifyEmitted(t, m, true)
		}
	})
}

// transportValid reports whether b is a complete (unfragmented) IPv4
// datagram whose transport checksum verifies; the NAT must keep such a
// checksum valid. (It does not verify transport checksums itself, so an
// invalid one passes through, still invalid.)
func transportValid(b []byte) bool {
	p := packet.IPv4(b)
	if p.Check() != packet.IPv4OK {
		return false
	}
	p = p[:p.TotalLen()]
	if p.IsFragment() {
		return false
	}
	l4 := p.Payload()
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(l4) < 8 {
			return false
		}
		if p.Protocol() == packet.ProtoUDP && l4[6] == 0 && l4[7] == 0 {
			return true
		}
		return packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(p.Src(), p.Dst(), p.Protocol(), len(l4)))) == 0
	case packet.ProtoICMP:
		return packet.Checksum(l4) == 0
	}
	return true
}

// verifyEmitted checks an emitted packet: a valid IPv4 header that gopacket
// decodes, and when strict, a transport checksum that verifies (a zero UDP
// checksum means none).
func verifyEmitted(t *testing.T, b []byte, strict bool) {
	t.Helper()
	p := packet.IPv4(b)
	if e := p.Check(); e != packet.IPv4OK || p.TotalLen() != len(b) {
		t.Fatalf("emitted packet is not valid IPv4: %v (len %d)", e, len(b))
	}
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
	if ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip == nil {
		t.Fatalf("gopacket: no IPv4 layer")
	}
	if strict && !transportValid(b) {
		t.Fatalf("emitted packet (protocol %d) has a bad transport checksum:\n% x", p.Protocol(), b)
	}
}

func headerFits(b []byte) bool {
	return len(b) >= 20 && b[0]>>4 == 4 && b[0]&15 >= 5 && int(b[0]&15)*4 <= len(b)
}
