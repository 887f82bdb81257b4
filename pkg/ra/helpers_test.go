package ra

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	routerMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	routerLL  = netip.MustParseAddr("fe80::1")
	lan64     = netip.MustParsePrefix("2001:db8:1:2::/64")
	lan64New  = netip.MustParsePrefix("2001:db8:9:2::/64")
	delegated = netip.MustParsePrefix("2001:db8:1::/56")
	ula64     = netip.MustParsePrefix("fd00:1:2:3::/64")
	ula48     = netip.MustParsePrefix("fd00:1:2::/48")
	dnsULA    = netip.MustParseAddr("fd00:1:2:3::1")
)

// homeConfig is what routerd will advertise on a LAN with a delegated
// prefix and a ULA prefix.
func homeConfig() Config {
	return Config{
		MAC: routerMAC, LinkLocal: routerLL, Other: true, MTU: 1500, DefaultRoute: true,
		Prefixes: []Prefix{{Prefix: lan64}, {Prefix: ula64}},
		Routes:   []Route{{Prefix: delegated}, {Prefix: ula48}},
		RDNSS:    []netip.Addr{dnsULA},
		DNSSL:    []string{"lan"},
	}
}

func newAdv(t testing.TB, c Config) *Advertiser {
	t.Helper()
	a, err := New(c, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type pio struct {
	onLink, auto     bool
	valid, preferred time.Duration
}

// raView is an advertisement decoded by gopacket (the oracle: layers,
// checksum) with its options read from gopacket's raw option bytes.
type raView struct {
	eth      *layers.Ethernet
	ip       *layers.IPv6
	ra       *layers.ICMPv6RouterAdvertisement
	slla     []byte
	mtu      int
	prefixes map[netip.Prefix]pio
	routes   map[netip.Prefix]time.Duration
	rdnss    map[netip.Addr]time.Duration
	dnssl    map[string]time.Duration
}

func secs(b []byte) time.Duration { return time.Duration(binary.BigEndian.Uint32(b)) * time.Second }

func decodeRA(t testing.TB, f []byte) raView {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode the RA: %v", el.Error())
	}
	v := raView{prefixes: map[netip.Prefix]pio{}, routes: map[netip.Prefix]time.Duration{}, rdnss: map[netip.Addr]time.Duration{}, dnssl: map[string]time.Duration{}}
	v.eth, _ = pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	v.ip, _ = pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	v.ra, _ = pkt.Layer(layers.LayerTypeICMPv6RouterAdvertisement).(*layers.ICMPv6RouterAdvertisement)
	if v.eth == nil || v.ip == nil || icmp == nil || v.ra == nil {
		t.Fatalf("not an Ethernet/IPv6/ICMPv6 RA: %v", pkt)
	}
	icmp.SetNetworkLayerForChecksum(v.ip)
	if err, res := icmp.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("RA checksum wrong: %v %+v", err, res)
	}
	if v.ip.HopLimit != 255 || icmp.TypeCode.Code() != 0 {
		t.Fatalf("hop limit %d code %d", v.ip.HopLimit, icmp.TypeCode.Code())
	}
	for _, o := range v.ra.Options {
		d := o.Data
		switch o.Type {
		case layers.ICMPv6OptSourceAddress:
			v.slla = d
		case layers.ICMPv6OptMTU:
			v.mtu = int(binary.BigEndian.Uint32(d[2:6]))
		case layers.ICMPv6OptPrefixInfo:
			a, _ := netip.AddrFromSlice(d[14:30])
			v.prefixes[netip.PrefixFrom(a, int(d[0]))] = pio{d[1]&0x80 != 0, d[1]&0x40 != 0, secs(d[2:6]), secs(d[6:10])}
		case 24: // Route Information
			var b [16]byte
			copy(b[:], d[6:])
			v.routes[netip.PrefixFrom(netip.AddrFrom16(b), int(d[0]))] = secs(d[2:6])
		case 25: // RDNSS
			for s := d[6:]; len(s) >= 16; s = s[16:] {
				v.rdnss[netip.AddrFrom16([16]byte(s[:16]))] = secs(d[2:6])
			}
		case 31: // DNSSL
			var labels []string
			for s := d[6:]; len(s) > 0 && int(s[0]) < len(s); {
				if s[0] == 0 {
					if len(labels) > 0 {
						v.dnssl[strings.Join(labels, ".")] = secs(d[2:6])
					}
					labels, s = nil, s[1:]
					continue
				}
				labels, s = append(labels, string(s[1:1+s[0]])), s[1+s[0]:]
			}
		}
	}
	return v
}

func (v raView) check(t testing.TB) {
	t.Helper()
	if !bytes.Equal(v.eth.DstMAC, []byte{0x33, 0x33, 0, 0, 0, 1}) || !bytes.Equal(v.eth.SrcMAC, routerMAC[:]) {
		t.Errorf("Ethernet %v → %v", v.eth.SrcMAC, v.eth.DstMAC)
	}
	if s, _ := netip.AddrFromSlice(v.ip.SrcIP); s != routerLL {
		t.Errorf("source %v, want the link-local %v", v.ip.SrcIP, routerLL)
	}
	if d, _ := netip.AddrFromSlice(v.ip.DstIP); d != netip.MustParseAddr("ff02::1") {
		t.Errorf("destination %v", v.ip.DstIP)
	}
	if !bytes.Equal(v.slla, routerMAC[:]) {
		t.Errorf("source link-layer address %x", v.slla)
	}
}

// run polls a from `from` to `to` and returns the send times and frames.
func run(a *Advertiser, from, to time.Duration) ([]time.Duration, [][]byte) {
	var at []time.Duration
	var frames [][]byte
	for now := from; now <= to; {
		out, next := a.Poll(now)
		for _, f := range out {
			at = append(at, now)
			frames = append(frames, f)
		}
		if next <= now {
			next = now + time.Millisecond
		}
		now = next
	}
	return at, frames
}
