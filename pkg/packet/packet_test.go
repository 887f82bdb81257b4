package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestChecksumKnownVector(t *testing.T) {
	// RFC 1071 §3 example bytes: sum 0xddf2, checksum ^0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got, want := Checksum(b), ^uint16(0xddf2); got != want {
		t.Fatalf("Checksum = %#04x, want %#04x", got, want)
	}
	// Odd length: the last byte is padded with zero.
	if got, want := Checksum([]byte{0x01}), ^uint16(0x0100); got != want {
		t.Fatalf("odd Checksum = %#04x, want %#04x", got, want)
	}
}

// Incremental updates must agree with a full recomputation for any data and
// any change (RFC 1624 eqn 3 avoids the -0 pitfall of eqn 2).
func TestIncrementalMatchesFull(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		n := 2 + 2*r.IntN(40)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%7 == 0 { // all-zero and all-ones words exercise the corner cases
			for j := range b {
				b[j] = 0
			}
		}
		if i%11 == 0 {
			for j := range b {
				b[j] = 0xff
			}
		}
		hc := Checksum(b)
		off := 2 * r.IntN(n/2)
		old := binary.BigEndian.Uint16(b[off:])
		nw := uint16(r.Uint32())
		binary.BigEndian.PutUint16(b[off:], nw)
		got := Update16(hc, old, nw)
		// Both 0x0000 and 0xffff are valid encodings only if the data sums
		// to zero; verify by summing data plus checksum.
		if s := Fold(Sum(b, uint32(got))); s != 0 {
			t.Fatalf("case %d: incremental checksum %#04x does not verify (residue %#04x)", i, got, s)
		}
		if n >= 4 {
			off4 := 4 * r.IntN(n/4)
			old32 := binary.BigEndian.Uint32(b[off4:])
			new32 := r.Uint32()
			binary.BigEndian.PutUint32(b[off4:], new32)
			got = Update32(got, old32, new32)
			if s := Fold(Sum(b, uint32(got))); s != 0 {
				t.Fatalf("case %d: Update32 does not verify", i)
			}
		}
	}
}

func TestUDPZeroChecksumStaysZero(t *testing.T) {
	if got := UpdateUDP(0, 1234, 4321); got != 0 {
		t.Fatalf("zero UDP checksum became %#04x", got)
	}
	if got := UpdateUDP32(0, 0x0a000001, 0xcb007102); got != 0 {
		t.Fatalf("zero UDP checksum became %#04x", got)
	}
	// A computed zero is sent as 0xffff: choose old/new so the result folds to 0.
	hc := uint16(0x1234)
	// ~(~hc + ~old + new) == 0  <=> ~hc + ~old + new == 0xffff; pick old=0: new = hc
	if got := UpdateUDP(hc, 0x0000, 0x0000+hc-0); got == 0 {
		t.Fatalf("UDP checksum computed as 0 must be sent as 0xffff")
	}
}

func buildUDP(t *testing.T, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 77,
		SrcIP: []byte{192, 168, 1, 10}, DstIP: []byte{203, 0, 113, 1}, Flags: layers.IPv4DontFragment}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 9999}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIPv4ViewAgainstGopacket(t *testing.T) {
	b := buildUDP(t, []byte("hello"))
	p := IPv4(b)
	if e := p.Check(); e != IPv4OK {
		t.Fatalf("Check = %v", e)
	}
	if p.Src() != 0xc0a8010a || p.Dst() != 0xcb007101 || p.Protocol() != ProtoUDP || p.ID() != 77 || !p.DF() || p.TTL() != 64 {
		t.Fatalf("bad view fields")
	}
	p.SetSrc(0xcb007102)
	p.DecTTL()
	u := UDP(p.Payload())
	u.SetChecksum(UpdateUDP32(u.Checksum(), 0xc0a8010a, 0xcb007102))
	u.SetSrcPort(40000)
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ud := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip.SrcIP.String() != "203.0.113.2" || ip.TTL != 63 || ud.SrcPort != 40000 {
		t.Fatalf("rewrite not seen by gopacket: %v %v %v", ip.SrcIP, ip.TTL, ud.SrcPort)
	}
	if Checksum(b[:20]) != 0 {
		t.Fatal("IPv4 header checksum wrong after rewrite")
	}
	ps := PseudoHeaderSum(p.Src(), p.Dst(), ProtoUDP, len(u))
	if Fold(Sum(u, ps)) != 0 {
		t.Fatal("UDP checksum wrong after rewrite")
	}
}

func TestIPv4CheckRejects(t *testing.T) {
	good := buildUDP(t, []byte("x"))
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want IPv4Error
	}{
		{"short", func(b []byte) []byte { return b[:19] }, IPv4Truncated},
		{"version6", func(b []byte) []byte { b[0] = 0x65; return b }, IPv4BadVersion},
		{"ihl4", func(b []byte) []byte { b[0] = 0x44; return b }, IPv4BadHeaderLen},
		{"ihl15", func(b []byte) []byte { b[0] = 0x4f; return b }, IPv4BadHeaderLen},
		{"totallen big", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 1000); return b }, IPv4BadTotalLen},
		{"totallen small", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 10); return b }, IPv4BadTotalLen},
		{"checksum", func(b []byte) []byte { b[10] ^= 1; return b }, IPv4BadChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if got := IPv4(c.mut(b)).Check(); got != c.want {
				t.Fatalf("Check = %v, want %v", got, c.want)
			}
		})
	}
}

func TestMSSOption(t *testing.T) {
	hdr := func(opts ...byte) TCP {
		b := make([]byte, 20+len(opts))
		b[12] = byte((20+len(opts))/4) << 4
		copy(b[20:], opts)
		return b
	}
	cases := []struct {
		name string
		t    TCP
		want int
	}{
		{"mss first", hdr(2, 4, 0x05, 0xb4), 22},
		{"after nops", hdr(1, 1, 1, 1, 2, 4, 0x05, 0xb4, 0, 0, 0, 0), 26},
		{"after sack-perm", hdr(4, 2, 2, 4, 0x05, 0xb4, 0, 0), 24},
		{"none", hdr(1, 1, 1, 0), -1},
		{"bad length 0", hdr(3, 0, 2, 4), -1},
		{"overrun", hdr(8, 10, 0, 0), -1},
		{"mss wrong length", hdr(2, 3, 0, 0), -1},
	}
	for _, c := range cases {
		if got := c.t.MSSOption(); got != c.want {
			t.Errorf("%s: MSSOption = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestEnhancedGREHeaderLen(t *testing.T) {
	base := []byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 2}
	if n := GRE(base).EnhancedHeaderLen(); n != 16 {
		t.Fatalf("seq+ack: %d", n)
	}
	ackOnly := []byte{0x20, 0x81, 0x88, 0x0b, 0, 0, 0x12, 0x34, 0, 0, 0, 2}
	if n := GRE(ackOnly).EnhancedHeaderLen(); n != 12 {
		t.Fatalf("ack only: %d", n)
	}
	if n := GRE(base[:10]).EnhancedHeaderLen(); n != 0 {
		t.Fatalf("truncated accepted: %d", n)
	}
	v0 := []byte{0x20, 0x00, 0x88, 0x0b, 0, 0, 0, 0}
	if n := GRE(v0).EnhancedHeaderLen(); n != 0 {
		t.Fatalf("GREv0 accepted")
	}
	if GRE(base).CallID() != 0x1234 {
		t.Fatal("call id")
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	for b.Loop() {
		Checksum(buf)
	}
}

// TestRFC2637_GREIsPPTP: enhanced GRE is version 1 carrying PPP (0x880B),
// whatever its flags; the 8 bytes an ICMP error quotes are enough.
func TestRFC2637_GREIsPPTP(t *testing.T) {
	for _, c := range []struct {
		name string
		g    []byte
		want bool
	}{
		{"enhanced, seq+ack", []byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 2}, true},
		{"quoted fixed part only", []byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0x12, 0x34}, true},
		{"no key flag (still PPTP's version and protocol)", []byte{0x00, 0x01, 0x88, 0x0b, 0, 0, 0x12, 0x34}, true},
		{"truncated before the Call ID", []byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0x12}, false},
		{"version 0", []byte{0x20, 0x00, 0x88, 0x0b, 0, 0, 0, 0}, false},
		{"version 1, IPv4 inside", []byte{0x20, 0x01, 0x08, 0x00, 0, 0, 0, 0}, false},
		{"byte-swapped protocol", []byte{0x20, 0x01, 0x0b, 0x88, 0, 0, 0, 0}, false},
		{"empty", nil, false},
	} {
		if got := GRE(c.g).IsPPTP(); got != c.want {
			t.Errorf("%s: IsPPTP = %v, want %v", c.name, got, c.want)
		}
	}
}

// sum20, the IPv4 header's fast path, must give what Sum gives folded, for
// any 20 bytes, including the all-zero and all-ones corners of one's-
// complement arithmetic.
func TestSum20MatchesSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 20)
	for i := 0; i < 100000; i++ {
		for j := range b {
			switch i % 5 {
			case 0:
				b[j] = 0
			case 1:
				b[j] = 0xff
			default:
				b[j] = byte(r.Uint32())
			}
		}
		if i%5 < 2 && i%3 == 0 {
			b[r.IntN(20)] = byte(r.Uint32())
		}
		if got, want := Fold(sum20(b)), Fold(Sum(b, 0)); got != want {
			t.Fatalf("% x: sum20 folds to %#04x, Sum to %#04x", b, got, want)
		}
	}
}

// Checksum20OK agrees with Check on 20-byte headers whose lengths Check
// accepts, valid checksums and not.
func TestChecksum20OKMatchesCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 20)
	valid := 0
	for i := 0; i < 100000; i++ {
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[0], b[2], b[3] = 0x45, 0, 20
		if i%2 == 0 {
			IPv4(b).UpdateHeaderChecksum()
		}
		if i%7 == 0 {
			b[r.IntN(20)] ^= byte(1 << r.IntN(8))
			b[0], b[2], b[3] = 0x45, 0, 20
		}
		ok := IPv4(b).Check() == IPv4OK
		if ok {
			valid++
		}
		if got := IPv4(b).Checksum20OK(); got != ok {
			t.Fatalf("% x: Checksum20OK %v, Check %v", b, got, ok)
		}
	}
	if valid < 40000 {
		t.Fatalf("only %d valid headers", valid)
	}
}

func FuzzSum20(f *testing.F) {
	f.Add(make([]byte, 20))
	f.Add([]byte{0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 20 {
			return
		}
		b = b[:20]
		if got, want := Fold(sum20(b)), Fold(Sum(b, 0)); got != want {
			t.Fatalf("% x: sum20 folds to %#04x, Sum to %#04x", b, got, want)
		}
	})
}
