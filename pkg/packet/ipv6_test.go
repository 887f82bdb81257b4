package packet

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Addresses from ordinary global unicast space (the forwarding engine
// refuses the documentation prefixes, and its tests share these).
var (
	v6a = net.ParseIP("2a00:1:2:3::10")
	v6b = net.ParseIP("2600:5:6:7::20")
)

func ip6Layer(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: next, HopLimit: 64, SrcIP: v6a, DstIP: v6b}
}

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func TestIPv6ViewAgainstGopacket(t *testing.T) {
	ip := ip6Layer(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 5353, DstPort: 53}
	u.SetNetworkLayerForChecksum(ip)
	b := ser(t, ip, u, gopacket.Payload("hello"))
	b = append(b, 0, 0, 0, 0) // link-layer padding beyond the payload length
	p := IPv6(b)
	if e := p.Check(); e != IPv6OK {
		t.Fatalf("Check: %v", e)
	}
	if p.Version() != 6 || p.TrafficClass() != 0xb8 || p.FlowLabel() != 0x12345 || p.HopLimit() != 64 ||
		p.NextHeader() != ProtoUDP || p.PayloadLen() != 8+5 || len(p.Payload()) != 13 {
		t.Fatalf("fields: tc %#x fl %#x hl %d nh %d pl %d", p.TrafficClass(), p.FlowLabel(), p.HopLimit(), p.NextHeader(), p.PayloadLen())
	}
	if !bytes.Equal(p.Src(), v6a) || !bytes.Equal(p.Dst(), v6b) || p.SrcAddr().String() != "2a00:1:2:3::10" || p.DstAddr().String() != "2600:5:6:7::20" {
		t.Fatalf("addresses %v %v", p.SrcAddr(), p.DstAddr())
	}
	// UDP checksum over the IPv6 pseudo-header.
	l4 := p.Payload()
	if s := Fold(Sum(l4, PseudoHeaderSum6(p.Src(), p.Dst(), ProtoUDP, len(l4)))); s != 0 {
		t.Fatalf("UDP over IPv6 does not verify with PseudoHeaderSum6: residue %#x", s)
	}
	p.DecHopLimit()
	if p.HopLimit() != 63 {
		t.Fatal("DecHopLimit")
	}
}

func TestIPv6CheckRejects(t *testing.T) {
	good := ser(t, ip6Layer(layers.IPProtocolNoNextHeader))
	for _, c := range []struct {
		name string
		mod  func([]byte) []byte
		want IPv6Error
	}{
		{"short", func(b []byte) []byte { return b[:39] }, IPv6Truncated},
		{"version 4", func(b []byte) []byte { b[0] = 0x45; return b }, IPv6BadVersion},
		{"payload beyond buffer", func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 1); return b }, IPv6BadLength},
		{"jumbogram", func(b []byte) []byte { b[6] = ProtoHopByHop; return append(b, make([]byte, 8)...) }, IPv6BadLength},
		{"ok", func(b []byte) []byte { return b }, IPv6OK},
	} {
		b := c.mod(append([]byte(nil), good...))
		if got := IPv6(b).Check(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestIPv6PutHeaderAgainstGopacket(t *testing.T) {
	b := make([]byte, IPv6HeaderLen+4)
	h := IPv6Header{TrafficClass: 0x2e, FlowLabel: 0xabcde, NextHeader: ProtoNoNext, HopLimit: 255}
	copy(h.Src[:], v6a)
	copy(h.Dst[:], v6b)
	IPv6(b).PutHeader(h)
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil || ip.TrafficClass != 0x2e || ip.FlowLabel != 0xabcde || ip.Length != 4 || ip.HopLimit != 255 ||
		!ip.SrcIP.Equal(v6a) || !ip.DstIP.Equal(v6b) || ip.NextHeader != layers.IPProtocolNoNextHeader {
		t.Fatalf("gopacket sees %+v", ip)
	}
}

// opts returns an option area of n bytes (n+2 a multiple of 8) filled with
// one PadN option, as gopacket serialises it.
func padOpt(n int) []*layers.IPv6DestinationOption {
	return []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: uint8(n - 2), ActualLength: n, OptionData: make([]byte, n-2)}}
}

func hbhPad(n int) []*layers.IPv6HopByHopOption {
	return []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: uint8(n - 2), ActualLength: n, OptionData: make([]byte, n-2)}}
}

// upperOffset is where gopacket's decoding found the transport (or ICMPv6)
// layer, or the fragment payload after a Fragment header, and its type.
func upperOffset(t *testing.T, b []byte) (int, gopacket.LayerType) {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	for _, l := range pkt.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv6,
			gopacket.LayerTypeFragment: // gopacket does not decode past a Fragment header
			return len(b) - len(l.LayerContents()) - len(l.LayerPayload()), l.LayerType()
		}
	}
	t.Fatalf("gopacket found no upper layer in %v", pkt)
	return 0, 0
}

func TestWalkAgainstGopacket(t *testing.T) {
	udp := func(ip *layers.IPv6) *layers.UDP {
		u := &layers.UDP{SrcPort: 1000, DstPort: 2000}
		u.SetNetworkLayerForChecksum(ip)
		return u
	}
	cases := []struct {
		name    string
		build   func() []byte
		headers int
		proto   uint8
		check   func(*testing.T, Chain)
	}{
		{"no extension headers", func() []byte {
			ip := ip6Layer(layers.IPProtocolUDP)
			return ser(t, ip, udp(ip))
		}, 0, ProtoUDP, nil},
		{"hop-by-hop then destination options", func() []byte {
			ip := ip6Layer(layers.IPProtocolIPv6HopByHop)
			ip.HopByHop = &layers.IPv6HopByHop{Options: hbhPad(6)}
			ip.HopByHop.NextHeader = layers.IPProtocolIPv6Destination
			d := &layers.IPv6Destination{Options: padOpt(14)}
			d.NextHeader = layers.IPProtocolUDP
			return ser(t, ip, d, udp(ip))
		}, 2, ProtoUDP, nil},
		{"routing type 2 then fragment (atomic)", func() []byte {
			ip := ip6Layer(layers.IPProtocolIPv6Routing)
			r := &layers.IPv6Routing{RoutingType: 2, SegmentsLeft: 0, Reserved: make([]byte, 4), Data: make([]byte, 16)}
			r.NextHeader = layers.IPProtocolIPv6Fragment
			f := &layers.IPv6Fragment{NextHeader: layers.IPProtocolICMPv6, Identification: 0xdeadbeef}
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
			ic.SetNetworkLayerForChecksum(ip)
			return ser(t, ip, r, f, ic, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1})
		}, 2, ProtoICMPv6, func(t *testing.T, c Chain) {
			if !c.Routing || c.RoutingType != 2 || !c.Frag || c.Fragmented() || c.FragID != 0xdeadbeef {
				t.Fatalf("chain %+v", c)
			}
		}},
		{"first fragment", func() []byte {
			ip := ip6Layer(layers.IPProtocolIPv6Fragment)
			f := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, MoreFragments: true, Identification: 9}
			tc := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, Window: 1}
			tc.SetNetworkLayerForChecksum(ip)
			return ser(t, ip, f, tc)
		}, 1, ProtoTCP, func(t *testing.T, c Chain) {
			if !c.Fragmented() || c.LaterFragment() || !c.MoreFrags {
				t.Fatalf("chain %+v", c)
			}
		}},
		{"AH", func() []byte {
			// gopacket decodes AH but does not serialise it: write the
			// 24-byte header by hand (payload length 4 → (4+2)*4 bytes).
			ip := ip6Layer(layers.IPProtocolUDP)
			body := ser(t, ip, udp(ip))
			ah := make([]byte, 24)
			ah[0], ah[1] = ProtoUDP, 4
			binary.BigEndian.PutUint32(ah[4:], 0x1000)
			b := append(append(append([]byte(nil), body[:40]...), ah...), body[40:]...)
			b[6] = ProtoAH
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
			return b
		}, 1, ProtoUDP, func(t *testing.T, c Chain) {
			if !c.AH {
				t.Fatal("AH not reported")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			p := IPv6(b)
			if e := p.Check(); e != IPv6OK {
				t.Fatal(e)
			}
			ch, err := p.Walk()
			if err != ChainOK {
				t.Fatalf("Walk: %v", err)
			}
			off, _ := upperOffset(t, b)
			if ch.Offset != off || ch.Proto != c.proto || ch.Headers != c.headers {
				t.Fatalf("Walk: offset %d proto %d headers %d; gopacket: offset %d; want proto %d headers %d",
					ch.Offset, ch.Proto, ch.Headers, off, c.proto, c.headers)
			}
			if c.check != nil {
				c.check(t, ch)
			}
		})
	}
}

// chainOf builds a packet whose chain is the given extension headers
// (8-byte Destination Options unless stated), then the upper layer.
func chainOf(hdrs []byte, hdrLen int, upper uint8, upperLen int) []byte {
	b := make([]byte, 40, 40+len(hdrs)*hdrLen+upperLen)
	b[0] = 0x60
	b[7] = 64
	copy(b[8:], v6a)
	copy(b[24:], v6b)
	prev := 6
	for _, h := range hdrs {
		b[prev] = h
		prev = len(b)
		ext := make([]byte, hdrLen)
		ext[1] = byte(hdrLen/8 - 1)
		b = append(b, ext...)
	}
	b[prev] = upper
	b = append(b, make([]byte, upperLen)...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return b
}

func TestWalkBounds(t *testing.T) {
	dst := func(n int) []byte { return bytes.Repeat([]byte{ProtoDstOpts}, n) }
	cases := []struct {
		name   string
		b      []byte
		want   ChainError
		offset int
	}{
		{"8 headers", chainOf(dst(8), 8, ProtoUDP, 8), ChainOK, 40 + 64},
		{"9 headers", chainOf(dst(9), 8, ProtoUDP, 8), ChainTooMany, 40 + 64},
		// 40 + 27*8 = 256: the upper-layer header would start at the bound.
		{"upper layer at 256", chainOf(dst(1), 216, ProtoUDP, 8), ChainTooLong, 256},
		{"upper layer at 248", chainOf(dst(1), 208, ProtoUDP, 8), ChainOK, 248},
		{"extension header at 256", chainOf(dst(2), 216, ProtoUDP, 8), ChainTooLong, 256},
		{"hop-by-hop second", chainOf([]byte{ProtoDstOpts, ProtoHopByHop}, 8, ProtoUDP, 8), ChainHopByHopNotFirst, 48},
		{"hop-by-hop first", chainOf([]byte{ProtoHopByHop, ProtoDstOpts}, 8, ProtoUDP, 8), ChainOK, 56},
		{"truncated header", chainOf(dst(1), 16, ProtoUDP, 0)[:50], ChainTruncated, 40},
		{"unknown next header is the upper layer", chainOf(dst(1), 8, 200, 0), ChainOK, 48},
		{"ESP ends the walk", chainOf(dst(1), 8, ProtoESP, 8), ChainOK, 48},
		{"mobility ends the walk", chainOf(nil, 8, ProtoMobility, 8), ChainOK, 40},
		{"shim6 is walked", chainOf([]byte{ProtoShim6}, 8, ProtoTCP, 20), ChainOK, 48},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := IPv6(c.b)
			if e := p.Check(); e != IPv6OK {
				// "truncated header" keeps the original payload length.
				binary.BigEndian.PutUint16(c.b[4:], uint16(len(c.b)-40))
			}
			ch, err := p.Walk()
			if err != c.want || ch.Offset != c.offset {
				t.Fatalf("Walk = (%+v, %v), want %v at offset %d", ch, err, c.want, c.offset)
			}
			if ch.Headers > MaxExtHeaders {
				t.Fatalf("walked %d headers", ch.Headers)
			}
		})
	}
}

func TestWalkFragments(t *testing.T) {
	frag := func(off int, m bool, next uint8, rest int) []byte {
		b := chainOf([]byte{ProtoFragment}, 8, next, rest)
		v := uint16(off)
		if m {
			v |= 1
		}
		binary.BigEndian.PutUint16(b[42:], v)
		binary.BigEndian.PutUint32(b[44:], 77)
		return b
	}
	// A later fragment: the walk stops after the Fragment header.
	ch, err := IPv6(frag(1232, true, ProtoTCP, 100)).Walk()
	if err != ChainOK || !ch.LaterFragment() || ch.FragOffset != 1232 || ch.Offset != 48 || ch.FragID != 77 {
		t.Fatalf("later fragment: %+v %v", ch, err)
	}
	// A first fragment holding only 10 bytes of its TCP header (RFC 7112).
	if _, err := IPv6(frag(0, true, ProtoTCP, 10)).Walk(); err != ChainFragmentIncomplete {
		t.Fatalf("incomplete first fragment: %v", err)
	}
	// A first fragment whose chain continues past its end.
	b := chainOf([]byte{ProtoFragment, ProtoDstOpts}, 8, ProtoTCP, 0)[:48+4]
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	binary.BigEndian.PutUint16(b[42:], 1)
	if _, err := IPv6(b).Walk(); err != ChainFragmentIncomplete {
		t.Fatalf("first fragment with a cut chain: %v", err)
	}
	// An atomic fragment is a whole packet (RFC 6946).
	ch, err = IPv6(frag(0, false, ProtoUDP, 8)).Walk()
	if err != ChainOK || ch.Fragmented() || ch.Proto != ProtoUDP {
		t.Fatalf("atomic fragment: %+v %v", ch, err)
	}
}

func TestICMPv6ChecksumAgainstGopacket(t *testing.T) {
	ip := ip6Layer(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	b := ser(t, ip, ic, &layers.ICMPv6Echo{Identifier: 0x4242, SeqNumber: 9}, gopacket.Payload("ping!"))
	p := IPv6(b)
	c := ICMPv6(p.Payload())
	if c.Type() != ICMPv6EchoRequest || c.ID() != 0x4242 || c.Seq() != 9 {
		t.Fatalf("echo fields %d %#x %d", c.Type(), c.ID(), c.Seq())
	}
	if s := ICMPv6Checksum(p.Src(), p.Dst(), c); s != 0 {
		t.Fatalf("gopacket's checksum does not verify: residue %#x", s)
	}
	want := c.Checksum()
	c.PutChecksum(p.Src(), p.Dst())
	if c.Checksum() != want {
		t.Fatalf("PutChecksum %#x, gopacket %#x", c.Checksum(), want)
	}

	// An error built by PutError decodes and verifies in gopacket.
	out := make([]byte, 40+8+len(b))
	c2 := ICMPv6(out[40:])
	c2.PutError(ICMPv6PacketTooBig, 0, 1400, b, v6b, v6a)
	var h IPv6Header
	h.NextHeader, h.HopLimit = ProtoICMPv6, 64
	copy(h.Src[:], v6b)
	copy(h.Dst[:], v6a)
	IPv6(out).PutHeader(h)
	pkt := gopacket.NewPacket(out, layers.LayerTypeIPv6, gopacket.Default)
	g, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if g == nil {
		t.Fatal("no ICMPv6 layer")
	}
	g.SetNetworkLayerForChecksum(pkt.NetworkLayer())
	if err, res := g.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("PutError checksum: %v %+v", err, res)
	}
	if g.TypeCode != layers.CreateICMPv6TypeCode(2, 0) || c2.Param() != 1400 || !bytes.Equal(c2.Invoking(), b) {
		t.Fatalf("PutError fields %v %d", g.TypeCode, c2.Param())
	}
}

func TestUpdateAddr6MatchesFull(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		msg := make([]byte, 8+2*r.IntN(40))
		for j := range msg {
			msg[j] = byte(r.Uint32())
		}
		src, dst, nsrc := make([]byte, 16), make([]byte, 16), make([]byte, 16)
		for j := range 16 {
			src[j], dst[j], nsrc[j] = byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())
		}
		if i%5 == 0 {
			clear(nsrc)
		}
		ICMPv6(msg).PutChecksum(src, dst)
		ICMPv6(msg).SetChecksum(UpdateAddr6(ICMPv6(msg).Checksum(), src, nsrc))
		if s := ICMPv6Checksum(nsrc, dst, msg); s != 0 {
			t.Fatalf("case %d: incremental address update does not verify (residue %#x)", i, s)
		}
	}
}

func TestICMPv6IsError(t *testing.T) {
	for typ, want := range map[uint8]bool{1: true, 2: true, 4: true, 127: true, 128: false, 135: false, 255: false} {
		if ICMPv6IsError(typ) != want {
			t.Errorf("ICMPv6IsError(%d) != %v", typ, want)
		}
	}
}

// FuzzIPv6Walk feeds arbitrary packets to Check and Walk: they must not
// panic, must respect their bounds, must agree with themselves on a second
// run, and a chain they accept must lie inside the packet.
func FuzzIPv6Walk(f *testing.F) {
	f.Add(chainOf([]byte{ProtoHopByHop, ProtoDstOpts, ProtoRouting}, 8, ProtoTCP, 20))
	f.Add(chainOf(bytes.Repeat([]byte{ProtoDstOpts}, 12), 8, ProtoUDP, 8))
	f.Add(chainOf([]byte{ProtoFragment}, 8, ProtoUDP, 4))
	f.Add(chainOf([]byte{ProtoAH}, 16, ProtoICMPv6, 8))
	f.Add(chainOf(nil, 8, ProtoESP, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := IPv6(b)
		if p.Check() != IPv6OK {
			return
		}
		p = p[:IPv6HeaderLen+p.PayloadLen()]
		c, err := p.Walk()
		c2, err2 := p.Walk()
		if c != c2 || err != err2 {
			t.Fatal("Walk is not deterministic")
		}
		if c.Headers > MaxExtHeaders || c.Offset < IPv6HeaderLen {
			t.Fatalf("out of bounds: %+v", c)
		}
		if err == ChainOK {
			if c.Offset > len(p) || c.Offset >= MaxHeaderChain {
				t.Fatalf("accepted chain ends at %d (packet %d): %+v", c.Offset, len(p), c)
			}
			if c.Fragmented() && !c.LaterFragment() && c.Offset+upperMin(c.Proto) > len(p) {
				t.Fatalf("accepted an incomplete first fragment: %+v", c)
			}
		}
	})
}
