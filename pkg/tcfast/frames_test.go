package tcfast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The test network, as a NAPT router between a LAN host and a remote
// server sees it. The namespace test builds it; the program tests use its
// addresses.
var (
	hostIP     = netip.MustParseAddr("192.168.1.10") // the LAN host
	lanPrefix  = netip.MustParsePrefix("192.168.1.1/24")
	extIP      = netip.MustParseAddr("203.0.113.2")  // the router's WAN address
	remoteIP   = netip.MustParseAddr("198.51.100.7") // the server on the WAN side
	hostMAC    = [6]byte{0x02, 0, 0, 0, 0x01, 0x0a}
	lanPortMAC = [6]byte{0x02, 0, 0, 0, 0x01, 0x01}
	wanPortMAC = [6]byte{0x02, 0, 0, 0, 0x02, 0x01}
	remoteMAC  = [6]byte{0x02, 0, 0, 0, 0x02, 0x0b} // the WAN next hop
)

const (
	udpHostPort   = 40000
	udpRemotePort = 5000
	tcpHostPort   = 40001
	tcpRemotePort = 443
)

// pkt is a frame to build with gopacket: Ethernet, IPv4, TCP or UDP,
// payload.
type pkt struct {
	eth     layers.Ethernet
	ip      layers.IPv4
	tcp     *layers.TCP
	udp     *layers.UDP
	payload []byte
	noUDP   bool // UDP without a checksum (0)
	pad     int  // Ethernet padding after the IPv4 packet
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// basePkt is an established flow's frame arriving on the LAN (out) or
// WAN (!out) port, with the ext port the router chose.
func basePkt(proto uint8, out bool, extPort uint16) pkt {
	p := pkt{
		eth: layers.Ethernet{EthernetType: layers.EthernetTypeIPv4},
		ip: layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
			TOS: 0x28, Protocol: layers.IPProtocol(proto)},
		payload: payload(100),
	}
	hp, rp := uint16(udpHostPort), uint16(udpRemotePort)
	if proto == ProtoTCP {
		hp, rp = tcpHostPort, tcpRemotePort
	}
	var sp, dp uint16
	if out {
		p.eth.SrcMAC, p.eth.DstMAC = hostMAC[:], lanPortMAC[:]
		p.ip.SrcIP, p.ip.DstIP = hostIP.AsSlice(), remoteIP.AsSlice()
		sp, dp = hp, rp
	} else {
		p.eth.SrcMAC, p.eth.DstMAC = remoteMAC[:], wanPortMAC[:]
		p.ip.SrcIP, p.ip.DstIP = remoteIP.AsSlice(), extIP.AsSlice()
		sp, dp = rp, extPort
	}
	if proto == ProtoTCP {
		p.tcp = &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp),
			Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}
	} else {
		p.udp = &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	}
	return p
}

// clone copies p deeply enough to change it.
func (p pkt) clone() pkt {
	q := p
	q.eth.SrcMAC = append(net.HardwareAddr(nil), p.eth.SrcMAC...)
	q.eth.DstMAC = append(net.HardwareAddr(nil), p.eth.DstMAC...)
	q.ip.SrcIP = append(net.IP(nil), p.ip.SrcIP...)
	q.ip.DstIP = append(net.IP(nil), p.ip.DstIP...)
	q.ip.Options = append([]layers.IPv4Option(nil), p.ip.Options...)
	if p.tcp != nil {
		t := *p.tcp
		t.Options = append([]layers.TCPOption(nil), p.tcp.Options...)
		q.tcp = &t
	}
	if p.udp != nil {
		u := *p.udp
		q.udp = &u
	}
	return q
}

// bytes serialises p with lengths and checksums computed by gopacket.
func (p pkt) bytes(tb testing.TB) []byte {
	tb.Helper()
	p = p.clone()
	buf := gopacket.NewSerializeBuffer()
	ls := []gopacket.SerializableLayer{&p.eth, &p.ip}
	switch {
	case p.tcp != nil:
		p.tcp.SetNetworkLayerForChecksum(&p.ip)
		ls = append(ls, p.tcp)
	case p.udp != nil:
		p.udp.SetNetworkLayerForChecksum(&p.ip)
		ls = append(ls, p.udp)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	b := append([]byte(nil), buf.Bytes()...)
	if p.noUDP {
		binary.BigEndian.PutUint16(b[ethHdrLen+int(p.ip.IHL)*4+6:], 0)
	}
	return append(b, make([]byte, p.pad)...)
}

// translated is what a NAPT router makes of p: the endpoint per e, TTL
// − 1, the Ethernet header per e.
func (p pkt) translated(e Entry) pkt {
	q := p.clone()
	q.eth.DstMAC, q.eth.SrcMAC = e.DstMAC[:], e.SrcMAC[:]
	q.ip.TTL--
	addr := net.IP(e.Addr[:])
	if e.Rewrite == RewriteSource {
		q.ip.SrcIP = addr
		if q.tcp != nil {
			q.tcp.SrcPort = layers.TCPPort(e.Port)
		} else {
			q.udp.SrcPort = layers.UDPPort(e.Port)
		}
	} else {
		q.ip.DstIP = addr
		if q.tcp != nil {
			q.tcp.DstPort = layers.TCPPort(e.Port)
		} else {
			q.udp.DstPort = layers.UDPPort(e.Port)
		}
	}
	return q
}

// fixIPChecksum recomputes the IPv4 header checksum of frame f (IHL
// respected), if the header is there.
func fixIPChecksum(f []byte) {
	if len(f) < ethHdrLen+ipHdrLen {
		return
	}
	hl := int(f[ethHdrLen]&0x0f) * 4
	if hl < ipHdrLen || len(f) < ethHdrLen+hl {
		return
	}
	h := f[ethHdrLen : ethHdrLen+hl]
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], internetChecksum(h))
}

func internetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// decoded is a frame taken apart by gopacket.
type decoded struct {
	eth *layers.Ethernet
	ip  *layers.IPv4
	tcp *layers.TCP
	udp *layers.UDP
}

func decode(f []byte) (decoded, error) {
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		return decoded{}, fmt.Errorf("decode: %v", el.Error())
	}
	var d decoded
	var ok bool
	if d.eth, ok = pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !ok {
		return d, fmt.Errorf("no Ethernet layer")
	}
	if d.ip, ok = pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); !ok {
		return d, fmt.Errorf("no IPv4 layer")
	}
	d.tcp, _ = pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	d.udp, _ = pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if d.tcp == nil && d.udp == nil {
		return d, fmt.Errorf("neither TCP nor UDP")
	}
	return d, nil
}

// checksumsOK recomputes frame f's IPv4 header and transport checksums
// with gopacket's serialisation and compares them with f's. A UDP
// checksum of 0 (none) is accepted when zeroUDP.
func checksumsOK(f []byte, zeroUDP bool) error {
	d, err := decode(f)
	if err != nil {
		return err
	}
	ip := *d.ip
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	var l4 gopacket.SerializableLayer
	var got uint16
	switch {
	case d.tcp != nil:
		t := *d.tcp
		t.SetNetworkLayerForChecksum(&ip)
		l4, got = &t, d.tcp.Checksum
	default:
		u := *d.udp
		u.SetNetworkLayerForChecksum(&ip)
		l4, got = &u, d.udp.Checksum
	}
	if err := gopacket.SerializeLayers(buf, opts, &ip, l4, gopacket.Payload(l4Payload(d))); err != nil {
		return fmt.Errorf("reserialize: %v", err)
	}
	if ip.Checksum != d.ip.Checksum {
		return fmt.Errorf("IPv4 header checksum %#04x, computed %#04x", d.ip.Checksum, ip.Checksum)
	}
	want := uint16(0)
	if d.tcp != nil {
		want = l4.(*layers.TCP).Checksum
	} else {
		want = l4.(*layers.UDP).Checksum
	}
	if got != want && !(zeroUDP && d.udp != nil && got == 0) {
		return fmt.Errorf("%s checksum %#04x, computed %#04x", protoName(d), got, want)
	}
	return nil
}

func l4Payload(d decoded) []byte {
	if d.tcp != nil {
		return d.tcp.Payload
	}
	return d.udp.Payload
}

func protoName(d decoded) string {
	if d.tcp != nil {
		return "TCP"
	}
	return "UDP"
}

// compareFrames reports the first field in which frame got differs from
// frame want, both decoded by gopacket, or a byte difference the fields
// do not show.
func compareFrames(got, want []byte) error {
	g, err := decode(got)
	if err != nil {
		return fmt.Errorf("output: %v", err)
	}
	w, err := decode(want)
	if err != nil {
		return fmt.Errorf("expected: %v", err)
	}
	type field struct {
		name      string
		got, want any
	}
	fs := []field{
		{"eth dst", g.eth.DstMAC.String(), w.eth.DstMAC.String()},
		{"eth src", g.eth.SrcMAC.String(), w.eth.SrcMAC.String()},
		{"eth type", g.eth.EthernetType, w.eth.EthernetType},
		{"ip version", g.ip.Version, w.ip.Version},
		{"ip ihl", g.ip.IHL, w.ip.IHL},
		{"ip tos", g.ip.TOS, w.ip.TOS},
		{"ip length", g.ip.Length, w.ip.Length},
		{"ip id", g.ip.Id, w.ip.Id},
		{"ip flags", g.ip.Flags, w.ip.Flags},
		{"ip frag offset", g.ip.FragOffset, w.ip.FragOffset},
		{"ip ttl", g.ip.TTL, w.ip.TTL},
		{"ip protocol", g.ip.Protocol, w.ip.Protocol},
		{"ip checksum", g.ip.Checksum, w.ip.Checksum},
		{"ip src", g.ip.SrcIP.String(), w.ip.SrcIP.String()},
		{"ip dst", g.ip.DstIP.String(), w.ip.DstIP.String()},
	}
	switch {
	case g.tcp != nil && w.tcp != nil:
		fs = append(fs,
			field{"tcp src port", g.tcp.SrcPort, w.tcp.SrcPort},
			field{"tcp dst port", g.tcp.DstPort, w.tcp.DstPort},
			field{"tcp seq", g.tcp.Seq, w.tcp.Seq},
			field{"tcp ack", g.tcp.Ack, w.tcp.Ack},
			field{"tcp data offset", g.tcp.DataOffset, w.tcp.DataOffset},
			field{"tcp flags", tcpFlagString(g.tcp), tcpFlagString(w.tcp)},
			field{"tcp window", g.tcp.Window, w.tcp.Window},
			field{"tcp checksum", g.tcp.Checksum, w.tcp.Checksum},
			field{"tcp urgent", g.tcp.Urgent, w.tcp.Urgent},
			field{"tcp options", fmt.Sprint(g.tcp.Options), fmt.Sprint(w.tcp.Options)},
		)
	case g.udp != nil && w.udp != nil:
		fs = append(fs,
			field{"udp src port", g.udp.SrcPort, w.udp.SrcPort},
			field{"udp dst port", g.udp.DstPort, w.udp.DstPort},
			field{"udp length", g.udp.Length, w.udp.Length},
			field{"udp checksum", g.udp.Checksum, w.udp.Checksum},
		)
	default:
		return fmt.Errorf("transport differs: got tcp=%v udp=%v", g.tcp != nil, g.udp != nil)
	}
	fs = append(fs, field{"payload", fmt.Sprintf("%x", l4Payload(g)), fmt.Sprintf("%x", l4Payload(w))})
	for _, f := range fs {
		if f.got != f.want {
			return fmt.Errorf("%s: got %v, want %v", f.name, f.got, f.want)
		}
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("bytes differ:\n got  %x\n want %x", got, want)
	}
	return nil
}

func tcpFlagString(t *layers.TCP) string {
	s := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{t.FIN, "F"}, {t.SYN, "S"}, {t.RST, "R"}, {t.PSH, "P"}, {t.ACK, "A"}, {t.URG, "U"}, {t.ECE, "E"}, {t.CWR, "C"}, {t.NS, "N"}} {
		if f.on {
			s += f.name
		}
	}
	return s
}
