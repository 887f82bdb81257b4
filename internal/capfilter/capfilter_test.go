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

// frame6 builds an Ethernet frame holding an IPv6 packet from src to dst:
// ext are extension headers (gopacket's IPv6Destination or IPv6Fragment
// layers), then the upper layer l4 with proto as its Next Header.
func frame6(t *testing.T, src, dst string, proto layers.IPProtocol, ext []gopacket.SerializableLayer, l4 ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst), NextHeader: proto}
	for _, l := range l4 {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(ip)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(ip)
		}
	}
	if len(ext) > 0 {
		ip.NextHeader = layers.IPProtocolIPv6Destination
		if _, ok := ext[0].(*layers.IPv6Fragment); ok {
			ip.NextHeader = layers.IPProtocolIPv6Fragment
		}
	}
	ls := append(append([]gopacket.SerializableLayer{eth, ip}, ext...), l4...)
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
	mislabelled := append(append([]byte(nil), tcp[:12]...), 0x86, 0xdd) // IPv4 in an IPv6 EtherType
	mislabelled = append(mislabelled, tcp[14:]...)
	truncated := tcp[:14+20+2] // header says more than there is
	tcp6 := frame6(t, "2600:1:2:3::10", "2600:9::1", layers.IPProtocolTCP, nil, &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Window: 1000})
	// UDP behind a Destination Options header: the walk finds the ports.
	dstopts := &layers.IPv6Destination{}
	dstopts.NextHeader = layers.IPProtocolUDP
	dstopts.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	udp6 := frame6(t, "2600:1:2:3::11", "2600:9::53", layers.IPProtocolUDP, []gopacket.SerializableLayer{dstopts},
		&layers.UDP{SrcPort: 53, DstPort: 5353}, gopacket.Payload("x"))
	icmp6 := frame6(t, "2600:1:2:3::10", "2600:9::1", layers.IPProtocolICMPv6, nil,
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload("\x00\x01\x00\x01"))
	// A later fragment of a UDP datagram: protocol udp, no ports.
	frag6 := frame6(t, "2600:1:2:3::11", "2600:9::53", layers.IPProtocolUDP,
		[]gopacket.SerializableLayer{&layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 100, Identification: 7}},
		gopacket.Payload("\x00\x35\x14\xe9 not a header"))
	esp6 := frame6(t, "2600:1:2:3::12", "2600:9::9", layers.IPProtocolESP, nil, gopacket.Payload("\x00\x00\x10\x01\x00\x00\x00\x01data"))
	badext := append([]byte(nil), udp6...)
	badext[14+41] = 200 // the Destination Options header runs past the packet
	frames := map[string][]byte{"tcp": tcp, "udp": udp, "icmp": icmp, "gre": gre, "esp": esp, "arp": arp,
		"mislabelled": mislabelled, "truncated": truncated, "runt": tcp[:10],
		"tcp6": tcp6, "udp6": udp6, "icmp6": icmp6, "frag6": frag6, "esp6": esp6, "badext": badext}

	cases := []struct {
		filter string
		match  string // the frames that match, in the order of order below
	}{
		{"host 192.168.1.10", "tcp icmp"},
		{"host 203.0.113.9", "gre esp"},
		{"port 443", "tcp tcp6"},
		{"port 53", "udp udp6"},   // source port
		{"port 5353", "udp udp6"}, // destination port
		{"port 1", ""},            // ICMP echo id 1 is not a port
		{"proto tcp", "tcp tcp6"},
		{"proto udp", "udp udp6 frag6"}, // a later fragment has a protocol, no ports
		{"proto icmp", "icmp"},
		{"proto gre", "gre"},
		{"proto esp", "esp esp6"},
		{"proto arp", "arp"},
		{"host 192.168.1.10 and proto icmp", "icmp"},
		{"host 192.168.1.10 and port 443 and proto tcp", "tcp"},
		{"host 192.168.1.10 and proto udp", ""},
		{"  proto   gre  ", "gre"},
		// IPv6.
		{"host 2600:1:2:3::10", "tcp6 icmp6"},
		{"host 2600:9:0:0:0:0:0:53", "udp6 frag6"},
		{"host ::ffff:192.168.1.10", "tcp icmp"}, // an IPv4-mapped address is the IPv4 one
		{"proto icmp", "icmp"},
		{"proto icmp6", "icmp6"},
		{"proto icmpv6", "icmp6"},
		{"proto ip", "tcp udp icmp gre esp"},
		{"proto ip6", "tcp6 udp6 icmp6 frag6 esp6"},
		{"proto ip6 and port 53", "udp6"},
		{"host 2600:9::53 and proto udp", "udp6 frag6"},
		{"host 2600:9::53 and port 53", "udp6"},
		{"host 2600:1:2:3::10 and proto icmp", ""},
	}
	order := []string{"tcp", "udp", "icmp", "gre", "esp", "arp", "mislabelled", "truncated", "runt",
		"tcp6", "udp6", "icmp6", "frag6", "esp6", "badext"}
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
		"host 2600:9::1":             "",
		"host fe80::1%eth0":          "not an IPv4 or IPv6 address",
		"host router":                "not an IPv4 or IPv6 address",
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
	m6, err := Parse("host 2600:9::1 and port 443 and proto tcp")
	if err != nil {
		t.Fatal(err)
	}
	f6 := frame6(t, "2600:1:2:3::10", "2600:9::1", layers.IPProtocolTCP, nil, &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true})
	if !m6(f6) {
		t.Fatal("the IPv6 frame does not match")
	}
	if n := testing.AllocsPerRun(100, func() { m6(f6) }); n != 0 {
		t.Errorf("match allocates %v times per IPv6 frame", n)
	}
}

// FuzzMatch feeds arbitrary frames to a filter of every term: the match
// never panics and agrees with itself.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd"+"\x60\x00\x00\x00\x00\x08\x3c\x40"+strings.Repeat("\x00", 32)+"\x11\x00\x01\x04\x00\x00\x00\x00"), "proto udp")
	f.Add([]byte("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"+"\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11\x00\x00"+strings.Repeat("\x00", 16)), "port 53")
	f.Fuzz(func(t *testing.T, frame []byte, filter string) {
		for _, flt := range []string{filter, "host 2600:9::1 and port 53 and proto udp", "proto icmp6", "proto ip and port 0", "proto arp"} {
			m, err := Parse(flt)
			if err != nil || m == nil {
				continue
			}
			if m(frame) != m(frame) {
				t.Fatalf("%q does not agree with itself", flt)
			}
		}
	})
}
