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

// reserialize decodes b (starting with first) with gopacket and serializes
// it again with lengths and checksums computed by gopacket: the oracle for
// the builders and checksum updates here.
func reserialize(t *testing.T, b []byte, first gopacket.LayerType) []byte {
	t.Helper()
	pkt := gopacket.NewPacket(b, first, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(pkt.NetworkLayer())
			ls = append(ls, l)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(pkt.NetworkLayer())
			ls = append(ls, l)
		case gopacket.SerializableLayer:
			ls = append(ls, l)
		default:
			t.Fatalf("layer %v not serializable", l.LayerType())
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUpdateAddrPortMatchesFull(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		b := make([]byte, 8+2*r.IntN(20))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%5 == 0 {
			clear(b)
		}
		hc := Checksum(b)
		oldA, oldP := binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint16(b[4:])
		newA, newP := r.Uint32(), uint16(r.Uint32())
		if i%3 == 0 {
			newA, newP = 0, 1 // an all-zero result would have two encodings
		}
		binary.BigEndian.PutUint32(b[0:], newA)
		binary.BigEndian.PutUint16(b[4:], newP)
		got := UpdateAddrPort(hc, oldA, newA, oldP, newP)
		if s := Fold(Sum(b, uint32(got))); s != 0 {
			t.Fatalf("case %d: UpdateAddrPort %#04x does not verify", i, got)
		}
		if want := Update16(Update32(hc, oldA, newA), oldP, newP); Fold(Sum(b, uint32(want))) != 0 {
			t.Fatalf("case %d: reference does not verify", i)
		}
		if u := UpdateUDPAddrPort(hc, oldA, newA, oldP, newP); hc != 0 && (u == 0 || Fold(Sum(b, uint32(u))) != 0) {
			t.Fatalf("case %d: UpdateUDPAddrPort %#04x", i, u)
		}
	}
	if UpdateUDPAddrPort(0, 1, 2, 3, 4) != 0 {
		t.Fatal("a zero UDP checksum must stay zero")
	}
}

func TestPortsView(t *testing.T) {
	b := buildUDP(t, nil)[IPv4HeaderLen:]
	p := Ports(b)
	if p.Src() != 5000 || p.Dst() != 9999 {
		t.Fatalf("ports %d %d", p.Src(), p.Dst())
	}
	c := UDP(b).Checksum()
	p.SetSrc(1)
	p.SetDst(2)
	if UDP(b).SrcPort() != 1 || UDP(b).DstPort() != 2 || UDP(b).Checksum() != c {
		t.Fatal("Ports setters must write the ports and nothing else")
	}
}

// The IPv4 + UDP builders produce the bytes gopacket produces.
func TestPutHeadersAgainstGopacket(t *testing.T) {
	payload := []byte("any payload")
	b := make([]byte, IPv4HeaderLen+UDPHeaderLen+len(payload))
	copy(b[IPv4HeaderLen+UDPHeaderLen:], payload)
	ip := IPv4(b)
	UDP(b[IPv4HeaderLen:]).PutHeader(1234, 5678, 0, 0xffffffff)
	ip.PutHeader(IPv4Header{TOS: 0x10, ID: 0x1234, TTL: 64, Protocol: ProtoUDP, Src: 0, Dst: 0xffffffff})
	if e := ip.Check(); e != IPv4OK {
		t.Fatalf("Check = %v", e)
	}
	if want := reserialize(t, b, layers.LayerTypeIPv4); !bytes.Equal(b, want) {
		t.Fatalf("built\n% x\ngopacket\n% x", b, want)
	}
	if ip.Version() != 4 || ip.TOS() != 0x10 || ip.ID() != 0x1234 || ip.TTL() != 64 || ip.IsFragment() {
		t.Fatal("accessors disagree with PutHeader")
	}
}

// A UDP checksum that computes to zero is sent as 0xffff.
func TestUDPPutHeaderZeroChecksum(t *testing.T) {
	b := make([]byte, UDPHeaderLen+2)
	u := UDP(b)
	u.PutHeader(1, 2, 3, 4)
	c := u.Checksum()
	// Add the checksum's value to the payload so the sum becomes all ones.
	binary.BigEndian.PutUint16(b[UDPHeaderLen:], c)
	u.PutHeader(1, 2, 3, 4)
	if u.Checksum() != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", u.Checksum())
	}
}

func TestIPv4SettersKeepChecksum(t *testing.T) {
	b := buildUDP(t, []byte("x"))
	p := IPv4(b)
	p.SetTTL(7)
	if p.TTL() != 7 || p.Check() != IPv4OK {
		t.Fatalf("SetTTL: ttl %d, %v", p.TTL(), p.Check())
	}
}

func TestIPv4FragmentFields(t *testing.T) {
	cases := []struct {
		off int
		mf  bool
	}{{0, true}, {1480, true}, {2960, false}, {8 * 0x1fff, false}}
	for _, c := range cases {
		b := buildUDP(t, make([]byte, 40))
		p := IPv4(b)
		p.SetFragment(c.off, c.mf)
		p.SetTotalLen(len(b))
		p.UpdateHeaderChecksum()
		if p.FragOffset() != c.off || p.MF() != c.mf || p.DF() || p.Check() != IPv4OK {
			t.Fatalf("%+v: offset %d mf %v df %v %v", c, p.FragOffset(), p.MF(), p.DF(), p.Check())
		}
		pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.NoCopy)
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if int(ip.FragOffset)*8 != c.off || (ip.Flags&layers.IPv4MoreFragments != 0) != c.mf {
			t.Fatalf("%+v: gopacket sees offset %d flags %v", c, ip.FragOffset, ip.Flags)
		}
	}
	b := make([]byte, 24)
	IPv4(b).SetHeaderLen(24)
	if IPv4(b).Version() != 4 || IPv4(b).HeaderLen() != 24 {
		t.Fatal("SetHeaderLen")
	}
}

func TestClampMSS(t *testing.T) {
	// SYNs with the MSS option at an even and an odd offset.
	cases := []struct {
		name    string
		opts    []layers.TCPOption
		mss     uint16
		changed bool
		want    uint16
	}{
		{"aligned", []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}, 1452, true, 1452},
		{"odd offset", []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}, 1400, true, 1400},
		{"already smaller", []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x02, 0x00}}}, 1452, false, 512},
		{"no option", nil, 1452, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 2}, DstIP: net.IP{198, 51, 100, 7}}
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, SYN: true, Window: 64240, Options: c.opts}
			tcp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			seg := TCP(IPv4(b).Payload())
			if got := seg.ClampMSS(c.mss); got != c.changed {
				t.Fatalf("ClampMSS = %v, want %v", got, c.changed)
			}
			if want := reserialize(t, b, layers.LayerTypeIPv4); !bytes.Equal(b, want) {
				t.Fatalf("checksum after clamp: % x, gopacket % x", b, want)
			}
			if off := seg.MSSOption(); c.want != 0 && binary.BigEndian.Uint16(seg[off:]) != c.want {
				t.Fatalf("MSS %d, want %d", binary.BigEndian.Uint16(seg[off:]), c.want)
			}
		})
	}
}

func TestICMPBuilders(t *testing.T) {
	orig := buildUDP(t, []byte("the packet that did not fit"))
	for _, n := range []int{len(orig), 28} { // all of it, and cut to the header + 8
		b := make([]byte, IPv4HeaderLen+ICMPHeaderLen+n)
		c := ICMP(b[IPv4HeaderLen:])
		c.PutError(ICMPUnreachable, ICMPCodeFragNeeded, 1400, orig)
		IPv4(b).PutHeader(IPv4Header{TOS: 0xc0, ID: 9, TTL: 64, Protocol: ProtoICMP, Src: 0xc0a80101, Dst: 0xc0a8010a})
		if want := reserialize(t, b, layers.LayerTypeIPv4); !bytes.Equal(b[:IPv4HeaderLen+ICMPHeaderLen], want[:IPv4HeaderLen+ICMPHeaderLen]) {
			t.Fatalf("headers % x, gopacket % x", b[:28], want[:28])
		}
		if Checksum(c) != 0 || c.Type() != ICMPUnreachable || c.Code() != ICMPCodeFragNeeded ||
			binary.BigEndian.Uint16(c[6:]) != 1400 || !bytes.Equal(c[ICMPHeaderLen:], orig[:n]) {
			t.Fatalf("bad error message % x", c)
		}
	}
	echo := []byte{ICMPEcho, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	ICMP(echo).SetChecksum(Checksum(echo))
	ICMP(echo).SetType(ICMPEchoReply)
	if ICMP(echo).Type() != ICMPEchoReply || Checksum(echo) != 0 {
		t.Fatal("SetType must keep the checksum valid")
	}
}

func TestEthernetARPBuildersAgainstGopacket(t *testing.T) {
	src := [6]byte{0x02, 0, 0, 0, 0, 1}
	dst := [6]byte{0x02, 0, 0, 0, 0, 2}
	cases := []struct {
		op        uint16
		ethDst    [6]byte
		targetMAC [6]byte
	}{
		{ARPRequest, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, [6]byte{}},
		{ARPReply, dst, dst},
	}
	for _, c := range cases {
		b := make([]byte, EthernetHeaderLen+ARPLen)
		Ethernet(b).PutHeader(c.ethDst, src, EtherTypeARP)
		a := ARP(Ethernet(b).Payload())
		a.Put(c.op, src, 0xc0a80101, c.targetMAC, 0xc0a8010a)
		if !a.Valid() || a.Op() != c.op || a.SenderIP() != 0xc0a80101 || a.TargetIP() != 0xc0a8010a ||
			[6]byte(a.SenderMAC()) != src || [6]byte(a.TargetMAC()) != c.targetMAC {
			t.Fatalf("op %d: view disagrees with Put", c.op)
		}
		pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
		eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		arp := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		if [6]byte(eth.DstMAC) != c.ethDst || [6]byte(eth.SrcMAC) != src || eth.EthernetType != layers.EthernetTypeARP {
			t.Fatalf("op %d: gopacket Ethernet %v", c.op, eth)
		}
		if arp.Operation != c.op || arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 ||
			!bytes.Equal(arp.SourceProtAddress, []byte{192, 168, 1, 1}) || !bytes.Equal(arp.DstProtAddress, []byte{192, 168, 1, 10}) ||
			[6]byte(arp.SourceHwAddress) != src || [6]byte(arp.DstHwAddress) != c.targetMAC {
			t.Fatalf("op %d: gopacket ARP %+v", c.op, arp)
		}
	}
}
