package fw6

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/internal/pkttest"
	"github.com/passgate/passgate/pkg/packet"
)

// Addresses. The engine refuses the documentation prefixes (RFC 3849,
// RFC 9637) as RFC 6092 REC-3 asks, so the tests use ordinary global
// unicast space; no packet leaves a test.
const (
	lanPrefix   = "2a00:1:2:3::/64"
	ulaPrefix   = "fd12:3456:789a:1::/64"
	delegated   = "2a00:1:2::/56"
	routerLAN   = "2a00:1:2:3::1"
	routerULA   = "fd12:3456:789a:1::1"
	routerLANLL = "fe80::1"
	routerWAN   = "2600:1:0:1::2"
	routerWANLL = "fe80::2"
	ispLL       = "fe80::99"
	hostA       = "2a00:1:2:3::10"
	hostB       = "2a00:1:2:3::11"
	hostC       = "2a00:1:2:3::12"
	hostULA     = "fd12:3456:789a:1::10"
	hostLL      = "fe80::10"
	unassigned  = "2a00:1:2:7::5" // in the delegated /56, not on the LAN
	srv         = "2600:5:6:7::20"
	srv2        = "2a01:4f8:1:2::30"
)

func ip(s string) net.IP { return net.ParseIP(s) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func defaultAddrs() Addresses {
	return Addresses{
		Delegated: []netip.Prefix{netip.MustParsePrefix(delegated)},
		LAN:       []netip.Prefix{netip.MustParsePrefix(lanPrefix), netip.MustParsePrefix(ulaPrefix)},
		RouterLAN: []netip.Addr{mustAddr(routerLANLL), mustAddr(routerLAN), mustAddr(routerULA)},
		RouterWAN: []netip.Addr{mustAddr(routerWANLL), mustAddr(routerWAN)},
	}
}

type gopacketLayer = gopacket.SerializableLayer

// pk describes a packet to build; zero fields take defaults.
type pk struct {
	Src, Dst string
	SP, DP   uint16
	HL       uint8  // hop limit, default 64
	Flags    string // TCP: any of "SAFRP"
	Payload  []byte
	MSS      uint16 // TCP SYN MSS option when non-zero
	Seq, Ack uint32
	Ext      []gopacket.SerializableLayer // extension headers after the IPv6 header, in order
}

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ip6 is the IPv6 header for p, with p.Ext chained in front of proto.
func ip6(p pk, proto layers.IPProtocol) (*layers.IPv6, []gopacket.SerializableLayer) {
	hl := p.HL
	if hl == 0 {
		hl = 64
	}
	l := &layers.IPv6{Version: 6, HopLimit: hl, NextHeader: proto, SrcIP: ip(p.Src), DstIP: ip(p.Dst)}
	ls := []gopacket.SerializableLayer{l}
	if len(p.Ext) > 0 {
		l.NextHeader = extProto(p.Ext[0])
		for i, x := range p.Ext {
			next := proto
			if i+1 < len(p.Ext) {
				next = extProto(p.Ext[i+1])
			}
			setNext(x, next)
			ls = append(ls, x)
		}
	}
	return l, ls
}

func extProto(l gopacket.SerializableLayer) layers.IPProtocol {
	switch l.(type) {
	case *layers.IPv6Destination:
		return layers.IPProtocolIPv6Destination
	case *layers.IPv6Routing:
		return layers.IPProtocolIPv6Routing
	case *layers.IPv6Fragment:
		return layers.IPProtocolIPv6Fragment
	}
	panic("extension header type")
}

func setNext(l gopacket.SerializableLayer, next layers.IPProtocol) {
	switch x := l.(type) {
	case *layers.IPv6Destination:
		x.NextHeader = next
	case *layers.IPv6Routing:
		x.NextHeader = next
	case *layers.IPv6Fragment:
		x.NextHeader = next
	}
}

// dstOpts is an 8-byte Destination Options header (one PadN option).
func dstOpts() *layers.IPv6Destination {
	return &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, ActualLength: 6, OptionData: make([]byte, 4)}}}
}

func tcp6(t testing.TB, p pk) []byte {
	ipl, ls := ip6(p, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(p.SP), DstPort: layers.TCPPort(p.DP), Seq: p.Seq, Window: 65535}
	if tc.Seq == 0 {
		tc.Seq = 1000
	}
	pkttest.SetTCPFlags(tc, p.Flags, p.Ack)
	if p.MSS != 0 {
		tc.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(p.MSS >> 8), byte(p.MSS)}}}
	}
	tc.SetNetworkLayerForChecksum(ipl)
	return ser(t, append(ls, tc, gopacket.Payload(p.Payload))...)
}

func udp6(t testing.TB, p pk) []byte {
	ipl, ls := ip6(p, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(p.SP), DstPort: layers.UDPPort(p.DP)}
	u.SetNetworkLayerForChecksum(ipl)
	return ser(t, append(ls, u, gopacket.Payload(p.Payload))...)
}

// icmp6 builds an informational ICMPv6 message; echo gets id and seq.
func icmp6(t testing.TB, p pk, typ uint8, id, seq uint16) []byte {
	ipl, ls := ip6(p, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ipl)
	body := make([]byte, 4)
	binary.BigEndian.PutUint16(body, id)
	binary.BigEndian.PutUint16(body[2:], seq)
	return ser(t, append(ls, ic, gopacket.Payload(append(body, p.Payload...)))...)
}

// icmpErr6 builds an ICMPv6 error from src to dst quoting orig.
func icmpErr6(t testing.TB, src, dst string, typ, code uint8, param uint32, orig []byte) []byte {
	ipl, ls := ip6(pk{Src: src, Dst: dst}, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(ipl)
	body := make([]byte, 4)
	binary.BigEndian.PutUint32(body, param)
	return ser(t, append(ls, ic, gopacket.Payload(append(body, orig...)))...)
}

// raw6 builds a packet of any protocol with payload as its upper layer.
func raw6(t testing.TB, p pk, proto uint8, payload []byte) []byte {
	_, ls := ip6(p, layers.IPProtocol(proto))
	return ser(t, append(ls, gopacket.Payload(payload))...)
}

// esp is an ESP header with SPI spi and sequence 1, and some ciphertext.
func esp(spi uint32) []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b, spi)
	binary.BigEndian.PutUint32(b[4:], 1)
	return b
}

// gre is an enhanced GRE (PPTP) header with call ID id.
func gre(id uint16) []byte {
	b := []byte{0x20, 0x01, 0x88, 0x0b, 0, 4, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint16(b[6:], id)
	return b
}

// decoded is what the gopacket oracle saw.
type decoded struct {
	IP     *layers.IPv6
	TCP    *layers.TCP
	UDP    *layers.UDP
	ICMP   *layers.ICMPv6
	Pkt    gopacket.Packet
	Packet []byte
}

func (d decoded) Src() string { return d.IP.SrcIP.String() }
func (d decoded) Dst() string { return d.IP.DstIP.String() }

// oracle decodes b with gopacket and fails unless it decodes cleanly with
// every transport checksum correct.
func oracle(t testing.TB, b []byte) decoded {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	d := decoded{Pkt: pkt, Packet: b}
	d.IP, _ = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if d.IP == nil {
		t.Fatalf("gopacket: no IPv6 layer in % x", b)
	}
	if int(d.IP.Length)+40 != len(b) {
		t.Fatalf("payload length %d for %d bytes", d.IP.Length, len(b))
	}
	d.TCP, _ = pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	d.UDP, _ = pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d.ICMP, _ = pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if pkt.Layer(layers.LayerTypeIPv6Fragment) != nil {
		return d
	}
	// The layers the engine looks at must decode, with their checksums
	// right; what follows them (a tunnelled packet, or a protocol gopacket
	// does not know) is not the engine's concern.
	ch, err := packet.IPv6(b).Walk()
	if err != packet.ChainOK {
		return d
	}
	switch {
	case ch.Proto == packet.ProtoTCP && d.TCP == nil,
		ch.Proto == packet.ProtoUDP && d.UDP == nil,
		ch.Proto == packet.ProtoICMPv6 && d.ICMP == nil:
		t.Fatalf("gopacket cannot decode the upper layer (%d): %v", ch.Proto, pkt.ErrorLayer())
	}
	nl := pkt.NetworkLayer()
	switch ch.Proto {
	case packet.ProtoTCP:
		d.TCP.SetNetworkLayerForChecksum(nl)
		if err, res := d.TCP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad TCP checksum: %v %+v", err, res)
		}
	case packet.ProtoUDP:
		d.UDP.SetNetworkLayerForChecksum(nl)
		if err, res := d.UDP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad UDP checksum: %v %+v", err, res)
		}
	case packet.ProtoICMPv6:
		d.ICMP.SetNetworkLayerForChecksum(nl)
		if err, res := d.ICMP.VerifyChecksum(); err != nil || !res.Valid {
			t.Fatalf("bad ICMPv6 checksum: %v %+v", err, res)
		}
	}
	return d
}

// quoted decodes the invoking packet an ICMPv6 error carries.
func quoted(t testing.TB, d decoded) *layers.IPv6 {
	t.Helper()
	if d.ICMP == nil || len(d.ICMP.Payload) < 4+40 {
		t.Fatalf("not an ICMPv6 error with a quote")
	}
	inner := gopacket.NewPacket(d.ICMP.Payload[4:], layers.LayerTypeIPv6, gopacket.Default)
	ip, _ := inner.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil {
		t.Fatalf("no quoted IPv6 header")
	}
	return ip
}

type rig struct {
	t   testing.TB
	e   *Engine
	now time.Duration
}

func newRig(t testing.TB, mod func(*Config)) *rig {
	t.Helper()
	c := DefaultConfig()
	c.Seed = 42
	c.MaxSessions = 4096
	if mod != nil {
		mod(&c)
	}
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAddresses(defaultAddrs()); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, e: e, now: 1000 * time.Second}
	e.Tick(r.now)
	return r
}

// advance moves the virtual clock and returns what Tick emitted.
func (r *rig) advance(d time.Duration) [][]byte {
	r.now += d
	return r.e.Tick(r.now)
}

func (r *rig) send(dir Dir, b []byte) Result {
	r.t.Helper()
	return r.e.Process(b, dir)
}

// must processes b and requires verdict want, returning the oracle's view
// of the packet to send.
func (r *rig) must(dir Dir, b []byte, want Verdict) decoded {
	r.t.Helper()
	res := r.e.Process(b, dir)
	if res.Verdict != want {
		r.t.Fatalf("%v packet: verdict %v (reason %v), want %v", dir, res.Verdict, res.Reason, want)
	}
	return oracle(r.t, res.Packet)
}

func (r *rig) mustDrop(dir Dir, b []byte, reason Reason) {
	r.t.Helper()
	res := r.e.Process(b, dir)
	if res.Verdict != Drop || res.Reason != reason {
		r.t.Fatalf("%v packet: verdict %v reason %v, want drop %v", dir, res.Verdict, res.Reason, reason)
	}
}

// mustReply processes b and requires an ICMPv6 error of type typ and code
// for reason, returning it decoded.
func (r *rig) mustReply(dir Dir, b []byte, typ, code uint8, reason Reason) decoded {
	r.t.Helper()
	res := r.e.Process(b, dir)
	if res.Verdict != Reply || res.Reason != reason {
		r.t.Fatalf("%v packet: verdict %v reason %v, want reply for %v", dir, res.Verdict, res.Reason, reason)
	}
	d := oracle(r.t, res.Packet)
	if d.ICMP == nil || d.ICMP.TypeCode != layers.CreateICMPv6TypeCode(typ, code) {
		r.t.Fatalf("reply is %v, want ICMPv6 %d/%d", d.ICMP, typ, code)
	}
	return d
}

func (r *rig) sessions() []Session {
	var out []Session
	r.e.Sessions(func(s Session) bool { out = append(out, s); return true })
	return out
}

// established opens a TCP connection from a LAN host and returns the
// inbound segment template for it.
func (r *rig) established(host string, sp uint16, remote string, dp uint16) {
	r.t.Helper()
	r.must(FromLAN, tcp6(r.t, pk{Src: host, Dst: remote, SP: sp, DP: dp, Flags: "S"}), Forward)
	r.must(FromWAN, tcp6(r.t, pk{Src: remote, Dst: host, SP: dp, DP: sp, Flags: "SA"}), Forward)
	r.must(FromLAN, tcp6(r.t, pk{Src: host, Dst: remote, SP: sp, DP: dp, Flags: "A"}), Forward)
}
