package ndp6

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The test link: the router's port and two hosts.
var (
	routerMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	hostMAC   = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	host2MAC  = [6]byte{0x02, 0, 0, 0, 0, 0x0b}

	routerLL  = netip.MustParseAddr("fe80::1")
	routerGUA = netip.MustParseAddr("2001:db8:1:2::1")
	routerULA = netip.MustParseAddr("fd00:1:2:3::1")
	hostLL    = netip.MustParseAddr("fe80::a")
	hostGUA   = netip.MustParseAddr("2001:db8:1:2::a")
	host2GUA  = netip.MustParseAddr("2001:db8:1:2::b")
	wanSrc    = netip.MustParseAddr("2001:db8:ffff::99")
)

// newNode returns a LAN node with its three addresses assigned (DAD off).
func newNode(t testing.TB, mod func(*Config)) *Node {
	t.Helper()
	cfg := Config{MAC: routerMAC, Router: true, DADTransmits: -1, Seed: 1}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{routerLL, routerGUA, routerULA} {
		if err := n.AddAddress(a, 0); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func hw(m [6]byte) net.HardwareAddr { return net.HardwareAddr(m[:]) }

// ndFrame builds an ND frame with gopacket (lengths and checksum computed
// by gopacket): the frames a real host would send.
func ndFrame(t testing.TB, srcMAC, dstMAC [6]byte, src, dst netip.Addr, hop uint8, typ uint8, msg gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: hw(srcMAC), DstMAC: hw(dstMAC), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, msg); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// hostNS is a host's solicitation for target, multicast to its
// solicited-node group, with the host's SLLA.
func hostNS(t testing.TB, mac [6]byte, src, target netip.Addr) []byte {
	dst := SolicitedNode(target)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: mac[:]}}}
	return ndFrame(t, mac, MulticastMAC(dst), src, dst, 255, layers.ICMPv6TypeNeighborSolicitation, ns)
}

// hostNA is target's advertisement to the router with flags and a TLLA
// (unless tlla is zero).
func hostNA(t testing.TB, mac [6]byte, target netip.Addr, dst netip.Addr, flags uint8, tlla [6]byte) []byte {
	na := &layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: target.AsSlice()}
	if tlla != ([6]byte{}) {
		na.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: tlla[:]}}
	}
	dstMAC := routerMAC
	if dst.IsMulticast() {
		dstMAC = MulticastMAC(dst)
	}
	return ndFrame(t, mac, dstMAC, target, dst, 255, layers.ICMPv6TypeNeighborAdvertisement, na)
}

// decoded is a frame this package sent, decoded and checked by gopacket.
type decoded struct {
	eth  *layers.Ethernet
	ip   *layers.IPv6
	icmp *layers.ICMPv6
	ns   *layers.ICMPv6NeighborSolicitation
	na   *layers.ICMPv6NeighborAdvertisement
}

// decode is the oracle: gopacket must decode f as Ethernet/IPv6/ICMPv6 ND
// with a valid checksum and hop limit 255.
func decode(t testing.TB, f []byte) decoded {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode %x: %v", f, el.Error())
	}
	var d decoded
	d.eth, _ = pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d.ip, _ = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	d.icmp, _ = pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if d.eth == nil || d.ip == nil || d.icmp == nil {
		t.Fatalf("frame is not Ethernet/IPv6/ICMPv6: %v", pkt)
	}
	if err := d.icmp.SetNetworkLayerForChecksum(d.ip); err != nil {
		t.Fatal(err)
	}
	if err, res := d.icmp.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("ICMPv6 checksum wrong: %v %+v", err, res)
	}
	if d.ip.HopLimit != 255 {
		t.Fatalf("hop limit %d, want 255", d.ip.HopLimit)
	}
	if d.icmp.TypeCode.Code() != 0 {
		t.Fatalf("code %d", d.icmp.TypeCode.Code())
	}
	d.ns, _ = pkt.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	d.na, _ = pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	return d
}

func option(opts layers.ICMPv6Options, typ layers.ICMPv6Opt) ([]byte, bool) {
	for _, o := range opts {
		if o.Type == typ {
			return o.Data, true
		}
	}
	return nil, false
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a
}

// ipv6Packet is a UDP packet from src to dst in an Ethernet frame with a
// zero destination MAC: what the data plane hands Resolve.
func ipv6Packet(t testing.TB, src, dst netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: hw(routerMAC), DstMAC: make(net.HardwareAddr, 6), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 63, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: 4000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload("hello")); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// tickND is Tick without the MLD reports: the tests of Neighbor Discovery
// look at its frames only (mld_test.go looks at the reports).
func tickND(n *Node, failed [][]byte, now time.Duration) ([][]byte, [][]byte) {
	out, failed := n.Tick(nil, failed, now)
	return slices.DeleteFunc(out, isMLD), failed
}

// isMLD reports whether f carries an MLD message behind a Hop-by-Hop
// header, as the node sends them.
func isMLD(f []byte) bool {
	ip := f[EthHeaderLen:]
	return len(ip) > IPv6HeaderLen+8 && ip[6] == 0 && ip[IPv6HeaderLen] == protoICMPv6 &&
		(ip[IPv6HeaderLen+8] == TypeMLDv2Report || ip[IPv6HeaderLen+8] == TypeMLDv1Report || ip[IPv6HeaderLen+8] == TypeMLDv1Done)
}
