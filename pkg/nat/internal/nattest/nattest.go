// Package nattest builds packets with gopacket and checks translated
// packets with gopacket as an independent oracle. It is shared by the
// engine's and the passthrough's tests.
package nattest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/internal/pkttest"
)

// IP4 parses a dotted IPv4 address.
func IP4(s string) net.IP { return net.ParseIP(s).To4() }

// Pkt describes a packet to build; zero fields take defaults.
type Pkt struct {
	Src, Dst string
	SP, DP   uint16
	TTL      uint8
	ID       uint16
	DF       bool
	Flags    string // TCP: any of "SAFRP"
	Payload  []byte
	MSS      uint16 // TCP SYN MSS option when non-zero
	ZeroCsum bool   // UDP: send with checksum 0
	Seq      uint32 // TCP sequence number (default 1000)
	Ack      uint32 // TCP acknowledgment number with "A" (default 1)
}

// Serialize builds a packet from layers with lengths and checksums computed.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// IPLayer is the IPv4 header for p.
func IPLayer(p Pkt, proto layers.IPProtocol) *layers.IPv4 {
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	l := &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto, Id: p.ID, SrcIP: IP4(p.Src), DstIP: IP4(p.Dst)}
	if p.DF {
		l.Flags = layers.IPv4DontFragment
	}
	return l
}

// UDP builds a UDP datagram.
func UDP(t testing.TB, p Pkt) []byte {
	ip := IPLayer(p, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(p.SP), DstPort: layers.UDPPort(p.DP)}
	u.SetNetworkLayerForChecksum(ip)
	b := Serialize(t, ip, u, gopacket.Payload(p.Payload))
	if p.ZeroCsum {
		binary.BigEndian.PutUint16(b[20+6:], 0)
	}
	return b
}

// TCP builds a TCP segment; Flags is any of "SAFRP".
func TCP(t testing.TB, p Pkt) []byte {
	ip := IPLayer(p, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(p.SP), DstPort: layers.TCPPort(p.DP), Seq: p.Seq, Window: 65535}
	if tc.Seq == 0 {
		tc.Seq = 1000
	}
	pkttest.SetTCPFlags(tc, p.Flags, p.Ack)
	if p.MSS != 0 {
		tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(p.MSS >> 8), byte(p.MSS)}}}
	}
	tc.SetNetworkLayerForChecksum(ip)
	return Serialize(t, ip, tc, gopacket.Payload(p.Payload))
}

// ICMP builds an ICMP query (echo, timestamp).
func ICMP(t testing.TB, p Pkt, typ uint8, id, seq uint16) []byte {
	ip := IPLayer(p, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return Serialize(t, ip, ic, gopacket.Payload(p.Payload))
}

// ICMPError builds an ICMP error from src to dst embedding orig.
func ICMPError(t testing.TB, src, dst string, typ, code uint8, orig []byte) []byte {
	ip := IPLayer(Pkt{Src: src, Dst: dst}, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	return Serialize(t, ip, ic, gopacket.Payload(orig))
}

// Decoded is what the gopacket oracle saw in a packet.
type Decoded struct {
	IP   *layers.IPv4
	TCP  *layers.TCP
	UDP  *layers.UDP
	ICMP *layers.ICMPv4
	Pkt  gopacket.Packet
}

func (d Decoded) Src() string { return d.IP.SrcIP.String() }
func (d Decoded) Dst() string { return d.IP.DstIP.String() }
func (d Decoded) SPort() uint16 {
	switch {
	case d.TCP != nil:
		return uint16(d.TCP.SrcPort)
	case d.UDP != nil:
		return uint16(d.UDP.SrcPort)
	}
	return d.ICMP.Id
}
func (d Decoded) DPort() uint16 {
	switch {
	case d.TCP != nil:
		return uint16(d.TCP.DstPort)
	case d.UDP != nil:
		return uint16(d.UDP.DstPort)
	}
	return d.ICMP.Id
}

// Oracle decodes b with gopacket and fails the test unless it decodes
// cleanly with every checksum correct.
func Oracle(t testing.TB, b []byte) Decoded {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.DecodeOptions{})
	if el := pkt.ErrorLayer(); el != nil && !decodedToTransport(pkt) {
		// A failure inside the payload (PPP inside GRE, an application
		// protocol gopacket guesses from a port) is not the NAT's concern;
		// the layers the NAT rewrites must decode.
		t.Fatalf("gopacket cannot decode translated packet: %v\n% x", el.Error(), b)
	}
	d := Decoded{Pkt: pkt}
	d.IP, _ = pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if d.IP == nil {
		t.Fatalf("no IPv4 layer")
	}
	if err, res := d.IP.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("bad IPv4 header checksum: %v %+v", err, res)
	}
	d.TCP, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	d.UDP, _ = pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d.ICMP, _ = pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if d.IP.Flags&layers.IPv4MoreFragments != 0 || d.IP.FragOffset != 0 {
		return d // transport checksums cover the whole datagram
	}
	if d.TCP != nil {
		d.TCP.SetNetworkLayerForChecksum(d.IP)
		if err, res := d.TCP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad TCP checksum: %v %+v", err, res)
		}
	}
	if d.UDP != nil {
		d.UDP.SetNetworkLayerForChecksum(d.IP)
		if err, res := d.UDP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad UDP checksum: %v %+v", err, res)
		}
	}
	if d.ICMP != nil {
		if err, res := d.ICMP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad ICMP checksum: %v %+v", err, res)
		}
	}
	return d
}

// EmbeddedOracle decodes the packet embedded in an ICMP error.
func EmbeddedOracle(t testing.TB, d Decoded) *layers.IPv4 {
	t.Helper()
	inner := gopacket.NewPacket(d.ICMP.Payload, layers.LayerTypeIPv4, gopacket.DecodeOptions{})
	ip, _ := inner.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		t.Fatalf("no embedded IPv4 header")
	}
	if err, res := ip.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("bad embedded IPv4 checksum: %+v", res)
	}
	return ip
}

// Payload is raw bytes as a serializable layer.
func Payload(b []byte) gopacket.SerializableLayer { return gopacket.Payload(b) }

// Fragments splits an IPv4 packet without options into fragments carrying
// at most size payload bytes each (a multiple of 8).
func Fragments(whole []byte, size int) [][]byte {
	var out [][]byte
	payload := whole[20:]
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(append([]byte(nil), whole[:20]...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		field := uint16(off / 8)
		if end < len(payload) {
			field |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], field)
		f[10], f[11] = 0, 0
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(f[i:]))
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(f[10:], ^uint16(sum))
		out = append(out, f)
	}
	return out
}

func decodedToTransport(pkt gopacket.Packet) bool {
	for _, l := range pkt.Layers() {
		switch l.LayerType() {
		case layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeGRE, layers.LayerTypeIPSecESP:
			return true
		}
	}
	return false
}
