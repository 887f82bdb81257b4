package capfilter

import (
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

// frame builds an Ethernet frame with gopacket: an IPv4 packet from src to
// dst carrying l4 (TCP, UDP, ICMP, GRE or raw ESP), or an ARP request when
// l4 is nil and src is "arp".
func frame(t *testing.T, src, dst string, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	var ls []gopacket.SerializableLayer
	if src == "arp" {
		eth.EthernetType = layers.EthernetTypeARP
		ls = []gopacket.SerializableLayer{eth, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: macA,
			SourceProtAddress: net.IPv4(10, 0, 0, 1).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: net.IPv4(10, 0, 0, 2).To4()}}
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		switch l := l4[0].(type) {
		case *layers.TCP:
			ip.Protocol = layers.IPProtocolTCP
			l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			ip.Protocol = layers.IPProtocolUDP
			l.SetNetworkLayerForChecksum(ip)
		case *layers.ICMPv4:
			ip.Protocol = layers.IPProtocolICMPv4
		case *layers.GRE:
			ip.Protocol = layers.IPProtocolGRE
		case gopacket.Payload:
			ip.Protocol = layers.IPProtocolESP
		}
		ls = append([]gopacket.SerializableLayer{eth, ip}, l4...)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseAndMatch(t *testing.T) {
	tcp := frame(t, "192.168.1.10", "203.0.113.5", &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Window: 1000})
	udp := frame(t, "192.168.1.11", "198.51.100.7", &layers.UDP{SrcPort: 53, DstPort: 5353}, gopacket.Payload("x"))
	icmp := frame(t, "192.168.1.10", "8.8.8.8", &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	gre := frame(t, "192.168.1.12", "203.0.113.9", &layers.GRE{Protocol: layers.EthernetTypePPP})
	esp := frame(t, "192.168.1.12", "203.0.113.9", gopacket.Payload("\x00\x00\x10\x01\x00\x00\x00\x01data"))
	arp := frame(t, "arp", "")
	ipv6 := append(append([]byte(nil), tcp[:12]...), 0x86, 0xdd)
	ipv6 = append(ipv6, tcp[14:]...)
	truncated := tcp[:14+20+2] // header says more than there is
	frames := map[string][]byte{"tcp": tcp, "udp": udp, "icmp": icmp, "gre": gre, "esp": esp, "arp": arp,
		"ipv6": ipv6, "truncated": truncated, "runt": tcp[:10]}

	cases := []struct {
		filter string
		match  string // the frames that match, in the order tcp udp icmp gre esp arp ipv6 truncated runt
	}{
		{"host 192.168.1.10", "tcp icmp"},
		{"host 203.0.113.9", "gre esp"},
		{"port 443", "tcp"},
		{"port 53", "udp"},   // source port
		{"port 5353", "udp"}, // destination port
		{"port 1", ""},       // ICMP echo id 1 is not a port
		{"proto tcp", "tcp"},
		{"proto udp", "udp"},
		{"proto icmp", "icmp"},
		{"proto gre", "gre"},
		{"proto esp", "esp"},
		{"proto arp", "arp"},
		{"host 192.168.1.10 and proto icmp", "icmp"},
		{"host 192.168.1.10 and port 443 and proto tcp", "tcp"},
		{"host 192.168.1.10 and proto udp", ""},
		{"  proto   gre  ", "gre"},
	}
	order := []string{"tcp", "udp", "icmp", "gre", "esp", "arp", "ipv6", "truncated", "runt"}
	for _, c := range cases {
		m, err := Parse(c.filter)
		if err != nil || m == nil {
			t.Errorf("Parse(%q) = %v, %v", c.filter, m != nil, err)
			continue
		}
		var got []string
		for _, name := range order {
			if m(frames[name]) {
				got = append(got, name)
			}
		}
		if strings.Join(got, " ") != c.match {
			t.Errorf("%q matches [%s], want [%s]", c.filter, strings.Join(got, " "), c.match)
		}
	}
}

func TestEmptyFilterMatchesEverything(t *testing.T) {
	for _, f := range []string{"", "   ", "and"} {
		if m, err := Parse(f); m != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil (everything) and no error", f, m != nil, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for filter, want := range map[string]string{
		"host":                       `"host" needs a value`,
		"host 192.168.1.1 and":       "", // a trailing "and" is skipped
		"host 2001:db8::1":           "not an IPv4 address",
		"host router":                "not an IPv4 address",
		"port 65536":                 "not a port",
		"port -1":                    "not a port",
		"proto sctp":                 `unknown protocol "sctp"`,
		"net 10.0.0.0/8":             `unknown term "net"`,
		"proto arp and host 1.2.3.4": "give it alone",
		"port 80 and proto arp":      "give it alone",
	} {
		_, err := Parse(filter)
		switch {
		case want == "" && err != nil:
			t.Errorf("Parse(%q): %v", filter, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("Parse(%q): error %v, want one saying %q", filter, err, want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, err := Parse("host 192.168.1.10 and port 443 and proto tcp")
	if err != nil {
		t.Fatal(err)
	}
	f := frame(t, "192.168.1.10", "203.0.113.5", &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true})
	if n := testing.AllocsPerRun(100, func() { m(f) }); n != 0 {
		t.Errorf("match allocates %v times per frame", n)
	}
}
