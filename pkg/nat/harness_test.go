package nat

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// Addresses used throughout the tests (documentation ranges).
const (
	hostA  = "192.168.1.10"
	hostB  = "192.168.1.11"
	hostC  = "192.168.1.12"
	router = "192.168.1.1"
	extIP  = "203.0.113.2"
	srv    = "198.51.100.10"
	srv2   = "198.51.100.11"
)

type rig struct {
	t   testing.TB
	e   *Engine
	now time.Duration
}

func newRig(t testing.TB, mod func(*Config)) *rig {
	t.Helper()
	c := DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
	c.Seed = 42
	c.MaxSessions = 4096
	if mod != nil {
		mod(&c)
	}
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.SetExternal(netip.MustParseAddr(extIP))
	r := &rig{t: t, e: e, now: 1000 * time.Second}
	e.Tick(r.now)
	return r
}

// advance moves the virtual clock and returns what Tick emitted to the WAN.
func (r *rig) advance(d time.Duration) [][]byte {
	r.now += d
	return r.e.Tick(r.now)
}

func ip4(s string) net.IP { return net.ParseIP(s).To4() }

type pk struct {
	src, dst string
	sp, dp   uint16
	ttl      uint8
	id       uint16
	df       bool
	flags    string // TCP: any of "SAFRP"
	payload  []byte
	mss      uint16 // TCP SYN MSS option when non-zero
	zeroCsum bool   // UDP: send with checksum 0
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ipLayer(p pk, proto layers.IPProtocol) *layers.IPv4 {
	ttl := p.ttl
	if ttl == 0 {
		ttl = 64
	}
	l := &layers.IPv4{Version: 4, TTL: ttl, Protocol: proto, Id: p.id, SrcIP: ip4(p.src), DstIP: ip4(p.dst)}
	if p.df {
		l.Flags = layers.IPv4DontFragment
	}
	return l
}

func udpPkt(t testing.TB, p pk) []byte {
	ip := ipLayer(p, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(p.sp), DstPort: layers.UDPPort(p.dp)}
	u.SetNetworkLayerForChecksum(ip)
	b := serialize(t, ip, u, gopacket.Payload(p.payload))
	if p.zeroCsum {
		binary.BigEndian.PutUint16(b[20+6:], 0)
	}
	return b
}

func tcpPkt(t testing.TB, p pk) []byte {
	ip := ipLayer(p, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(p.sp), DstPort: layers.TCPPort(p.dp), Seq: 1000, Window: 65535}
	for _, f := range p.flags {
		switch f {
		case 'S':
			tc.SYN = true
		case 'A':
			tc.ACK = true
			tc.Ack = 1
		case 'F':
			tc.FIN = true
		case 'R':
			tc.RST = true
		case 'P':
			tc.PSH = true
		}
	}
	if p.mss != 0 {
		tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(p.mss >> 8), byte(p.mss)}}}
	}
	tc.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, tc, gopacket.Payload(p.payload))
}

func icmpPkt(t testing.TB, p pk, typ uint8, id, seq uint16) []byte {
	ip := ipLayer(p, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return serialize(t, ip, ic, gopacket.Payload(p.payload))
}

// icmpErrPkt builds an ICMP error from src to dst embedding orig.
func icmpErrPkt(t testing.TB, src, dst string, typ, code uint8, orig []byte) []byte {
	ip := ipLayer(pk{src: src, dst: dst}, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	return serialize(t, ip, ic, gopacket.Payload(orig))
}

// decoded is what the gopacket oracle saw in a packet.
type decoded struct {
	ip   *layers.IPv4
	tcp  *layers.TCP
	udp  *layers.UDP
	icmp *layers.ICMPv4
	pkt  gopacket.Packet
}

func (d decoded) src() string { return d.ip.SrcIP.String() }
func (d decoded) dst() string { return d.ip.DstIP.String() }
func (d decoded) sport() uint16 {
	switch {
	case d.tcp != nil:
		return uint16(d.tcp.SrcPort)
	case d.udp != nil:
		return uint16(d.udp.SrcPort)
	}
	return d.icmp.Id
}
func (d decoded) dport() uint16 {
	switch {
	case d.tcp != nil:
		return uint16(d.tcp.DstPort)
	case d.udp != nil:
		return uint16(d.udp.DstPort)
	}
	return d.icmp.Id
}

// oracle decodes b with gopacket and fails the test unless it decodes
// cleanly with every checksum correct.
func oracle(t testing.TB, b []byte) decoded {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.DecodeOptions{})
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode translated packet: %v\n% x", el.Error(), b)
	}
	d := decoded{pkt: pkt}
	d.ip, _ = pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if d.ip == nil {
		t.Fatalf("no IPv4 layer")
	}
	if err, res := d.ip.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("bad IPv4 header checksum: %v %+v", err, res)
	}
	d.tcp, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	d.udp, _ = pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d.icmp, _ = pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if d.ip.Flags&layers.IPv4MoreFragments != 0 || d.ip.FragOffset != 0 {
		return d // transport checksums cover the whole datagram
	}
	if d.tcp != nil {
		d.tcp.SetNetworkLayerForChecksum(d.ip)
		if err, res := d.tcp.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad TCP checksum: %v %+v", err, res)
		}
	}
	if d.udp != nil {
		d.udp.SetNetworkLayerForChecksum(d.ip)
		if err, res := d.udp.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad UDP checksum: %v %+v", err, res)
		}
	}
	if d.icmp != nil {
		if err, res := d.icmp.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad ICMP checksum: %v %+v", err, res)
		}
	}
	return d
}

// embeddedOracle decodes the packet embedded in an ICMP error.
func embeddedOracle(t testing.TB, d decoded) *layers.IPv4 {
	t.Helper()
	inner := gopacket.NewPacket(d.icmp.Payload, layers.LayerTypeIPv4, gopacket.DecodeOptions{})
	ip, _ := inner.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		t.Fatalf("no embedded IPv4 header")
	}
	if err, res := ip.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("bad embedded IPv4 checksum: %+v", res)
	}
	return ip
}

func (r *rig) send(dir Dir, b []byte) Result {
	r.t.Helper()
	return r.e.Translate(b, dir)
}

// mustForward translates b and requires the given verdict, returning the
// oracle's view of the result.
func (r *rig) must(dir Dir, b []byte, want Verdict) decoded {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != want {
		r.t.Fatalf("verdict %v (reason %v), want %v", res.Verdict, res.Reason, want)
	}
	return oracle(r.t, res.Packet)
}

func (r *rig) mustDrop(dir Dir, b []byte, reason Reason) {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != Drop || res.Reason != reason {
		r.t.Fatalf("verdict %v reason %v, want drop %v", res.Verdict, res.Reason, reason)
	}
}

func (r *rig) sessions() []SessionInfo {
	var out []SessionInfo
	r.e.Sessions(func(s SessionInfo) bool { out = append(out, s); return true })
	return out
}

var _ = packet.ProtoTCP

func gopacketPayload(b []byte) gopacket.Payload { return gopacket.Payload(b) }
