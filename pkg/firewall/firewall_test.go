package firewall

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// rules parses "set firewall rule ..." lines.
func rules(t *testing.T, lines ...string) []config.FirewallRule {
	t.Helper()
	c := config.Default()
	for _, l := range lines {
		if err := c.Set(strings.Fields("firewall rule " + l)); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return c.Firewall.Rules
}

var (
	tv     = [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	laptop = [6]byte{0x02, 0xaa, 0, 0, 0, 1}
	a4     = func(s string) uint32 { return packet.AddrTo4(netip.MustParseAddr(s)) }
	// Wednesday 2026-12-02 in UTC.
	wed = func(hm string) time.Time {
		t, _ := time.Parse("2006-01-02 15:04", "2026-12-02 "+hm)
		return t
	}
)

func out(mac [6]byte, host, remote string, proto uint8, dport uint16) nat.NewFlow {
	return nat.NewFlow{Proto: proto, Host: a4(host), HostPort: 40000, Remote: a4(remote), RemotePort: dport, MAC: mac, HasMAC: true}
}

func TestDecide(t *testing.T) {
	s := New(rules(t,
		"block-tv from 02:11:22:33:44:55 to wan action drop",
		"no-smtp protocol tcp port 25 action reject order 5",
		"dns-ok to 192.0.2.53 protocol udp port 53 action accept order 1",
		"no-dns protocol tcp-udp port 53 action drop order 2",
		"kids from kids-tablet to wan action reject",
		"nas-in from wan to 192.168.1.9 protocol tcp port 8000-8010 action drop",
		"ping-off protocol icmp from 192.168.1.0/28 action drop",
	), wed("12:00"), Options{})
	s.SetNames(map[string][][6]byte{"kids-tablet": {{0x02, 0xbb, 0, 0, 0, 7}}})
	tcp, udp, icmp := uint8(packet.ProtoTCP), uint8(packet.ProtoUDP), uint8(packet.ProtoICMP)
	for _, c := range []struct {
		name string
		f    nat.NewFlow
		want nat.FilterVerdict
	}{
		{"tv to the internet", out(tv, "192.168.1.20", "198.51.100.7", tcp, 443), nat.FilterDrop},
		{"laptop to the internet", out(laptop, "192.168.1.21", "198.51.100.7", tcp, 443), nat.FilterAccept},
		{"smtp rejected (order 5 before the tv's 0? no: 0 runs first)", out(laptop, "192.168.1.21", "198.51.100.7", tcp, 25), nat.FilterReject},
		{"dns to the chosen server", out(laptop, "192.168.1.21", "192.0.2.53", udp, 53), nat.FilterAccept},
		{"dns elsewhere", out(laptop, "192.168.1.21", "8.8.8.8", udp, 53), nat.FilterDrop},
		{"the tablet by name", out([6]byte{0x02, 0xbb, 0, 0, 0, 7}, "192.168.1.22", "198.51.100.7", udp, 3478), nat.FilterReject},
		{"inbound to the nas port", nat.NewFlow{Proto: tcp, Inbound: true, Host: a4("192.168.1.9"), HostPort: 8005, Remote: a4("203.0.113.9"), RemotePort: 5555}, nat.FilterDrop},
		{"inbound elsewhere", nat.NewFlow{Proto: tcp, Inbound: true, Host: a4("192.168.1.9"), HostPort: 22, Remote: a4("203.0.113.9"), RemotePort: 5555}, nat.FilterAccept},
		{"ping from the low hosts", out(laptop, "192.168.1.5", "198.51.100.7", icmp, 0), nat.FilterDrop},
		{"ping from others", out(laptop, "192.168.1.50", "198.51.100.7", icmp, 0), nat.FilterAccept},
	} {
		if got := s.Decide(c.f); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	counts := map[string]uint64{}
	for _, c := range s.Counts() {
		counts[c.Name] = c.Hits
	}
	if counts["block-tv"] != 1 || counts["no-dns"] != 1 || counts["dns-ok"] != 1 || counts["kids"] != 1 {
		t.Errorf("counts %v", counts)
	}
	// The order: order, then name.
	var names []string
	for _, c := range s.Counts() {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "block-tv kids nas-in ping-off dns-ok no-dns no-smtp" {
		t.Errorf("order %v", names)
	}
}

func TestTimeWindows(t *testing.T) {
	s := New(rules(t, "night from 02:11:22:33:44:55 to wan time 21:00-07:00 days mon-fri action drop"), wed("12:00"), Options{})
	f := out(tv, "192.168.1.20", "198.51.100.7", packet.ProtoTCP, 443)
	for _, c := range []struct {
		at   time.Time
		want nat.FilterVerdict
	}{
		{wed("12:00"), nat.FilterAccept},
		{wed("20:59"), nat.FilterAccept},
		{wed("21:00"), nat.FilterDrop},
		{wed("23:59"), nat.FilterDrop},
		{wed("06:59"), nat.FilterDrop},                    // Tuesday night's window
		{wed("07:00"), nat.FilterAccept},                  // over
		{wed("21:00").AddDate(0, 0, 2), nat.FilterDrop},   // Friday night: fri is listed
		{wed("21:00").AddDate(0, 0, 3), nat.FilterAccept}, // Saturday night: not listed
		{wed("06:00").AddDate(0, 0, 5), nat.FilterAccept}, // Monday 06:00 belongs to Sunday night
		{wed("06:00").AddDate(0, 0, 6), nat.FilterDrop},   // Tuesday 06:00 belongs to Monday night
	} {
		s.Tick(c.at)
		if got := s.Decide(f); got != c.want {
			t.Errorf("%s: %v, want %v", c.at.Format("Mon 15:04"), got, c.want)
		}
	}
	if !s.Tick(wed("08:00")) || s.Tick(wed("08:01")) {
		t.Error("Tick must say when a window opens or closes, and only then")
	}
	// In the router's time zone.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data")
	}
	s = New(rules(t, "night to wan time 21:00-07:00 action drop"), wed("20:30"), Options{Location: berlin}) // 21:30 in Berlin
	if s.Decide(f) != nat.FilterDrop {
		t.Error("the window is not in the router's time zone")
	}
}

func TestWouldAndMACOf(t *testing.T) {
	s := New(rules(t, "block-tv from 02:11:22:33:44:55 action drop", "in from wan to 02:11:22:33:44:55 action drop"), wed("12:00"),
		Options{MACOf: func(ip uint32) ([6]byte, bool) { return tv, ip == a4("192.168.1.20") }})
	si := nat.SessionInfo{Protocol: packet.ProtoTCP, Internal: netip.MustParseAddrPort("192.168.1.20:40000"), Remote: netip.MustParseAddrPort("198.51.100.7:443")}
	if s.Would(si) != nat.FilterDrop {
		t.Error("Would: the device's running session is not found by its address")
	}
	si.Forwarded = true
	if s.Would(si) != nat.FilterDrop {
		t.Error("Would: a connection from the WAN to the device")
	}
	for _, c := range s.Counts() {
		if c.Hits != 0 {
			t.Errorf("Would counted %+v", c)
		}
	}
}

func TestSelfAndLog(t *testing.T) {
	var hits []Hit
	s := New(rules(t, "no-ssh from 02:11:22:33:44:55 to self protocol tcp port 22 action drop log enable"), wed("12:00"),
		Options{OnLog: func(h Hit) { hits = append(hits, h) }})
	if !s.HasSelf() {
		t.Fatal("HasSelf")
	}
	syn := tcp4(t, "192.168.1.20", "192.168.1.1", 40000, 22, packet.TCPSyn)
	ack := tcp4(t, "192.168.1.20", "192.168.1.1", 40000, 22, packet.TCPAck)
	if s.DecideSelf(syn, false, tv) != nat.FilterDrop || s.DecideSelf(ack, false, tv) != nat.FilterDrop {
		t.Error("the tv's SSH to the router passes")
	}
	if s.DecideSelf(syn, false, laptop) != nat.FilterAccept || s.DecideSelf(syn, true, tv) != nat.FilterAccept {
		t.Error("others' SSH, or from the WAN, is dropped")
	}
	if len(hits) != 1 || hits[0].Rule != "no-ssh" || hits[0].Src.String() != "192.168.1.20:40000" || !hits[0].HasMAC {
		t.Errorf("logged %+v: want the SYN once", hits)
	}
	if s.WouldSelf(netip.MustParseAddr("192.168.1.20"), tv, true, packet.ProtoTCP, 22) != nat.FilterDrop {
		t.Error("WouldSelf")
	}
}

func TestCarryCounts(t *testing.T) {
	old := New(rules(t, "a action drop", "b action drop"), wed("12:00"), Options{})
	old.Decide(out(tv, "192.168.1.20", "198.51.100.7", packet.ProtoTCP, 443))
	s := New(rules(t, "a action drop", "b action accept"), wed("12:00"), Options{})
	s.CarryCounts(old)
	if c := s.Counts(); c[0].Hits != 1 || c[1].Hits != 0 {
		t.Errorf("%+v", c)
	}
}

func tcp4(t *testing.T, src, dst string, sp, dp uint16, flags uint8) packet.IPv4 {
	b := make([]byte, packet.IPv4HeaderLen+packet.TCPHeaderLen)
	packet.IPv4(b).PutHeader(packet.IPv4Header{TTL: 64, Protocol: packet.ProtoTCP, Src: a4(src), Dst: a4(dst)})
	l4 := b[packet.IPv4HeaderLen:]
	l4[0], l4[1], l4[2], l4[3] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
	l4[12] = 5 << 4
	l4[13] = flags
	return packet.IPv4(b)
}

// BenchmarkDecide: a new connection run through 100 rules that do not
// match it (the worst case: every rule looked at), and through one that
// matches first.
func BenchmarkDecide(b *testing.B) {
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("r%03d from 02:00:00:00:%02x:%02x to wan protocol tcp port %d action drop", i, i/256, i%256, 1000+i))
	}
	t := &testing.T{}
	s := New(rules(t, lines...), wed("12:00"), Options{})
	f := out(laptop, "192.168.1.21", "198.51.100.7", packet.ProtoTCP, 443)
	b.Run("100-rules-no-match", func(b *testing.B) {
		for b.Loop() {
			if s.Decide(f) != nat.FilterAccept {
				b.Fatal("matched")
			}
		}
	})
	hit := out([6]byte{2, 0, 0, 0, 0, 0}, "192.168.1.21", "198.51.100.7", packet.ProtoTCP, 1000)
	b.Run("first-rule-matches", func(b *testing.B) {
		for b.Loop() {
			if s.Decide(hit) != nat.FilterDrop {
				b.Fatal("not matched")
			}
		}
	})
}

// IPv6: the same rules by zone, MAC or name; IPv4 prefixes never match.
func TestDecide6(t *testing.T) {
	s := New(rules(t, "tv-off from 02:11:22:33:44:55 to wan action drop", "v4-only from 192.168.1.0/24 protocol udp action reject",
		"in from wan to 02:aa:00:00:00:01 protocol tcp port 22 action drop"), wed("12:00"),
		Options{MACOf6: func(a netip.Addr) ([6]byte, bool) { return laptop, a == netip.MustParseAddr("2a00:1:2:3::21") }})
	f := fw6.NewFlow{Proto: packet.ProtoTCP, Host: netip.MustParseAddr("2a00:1:2:3::20"), HostPort: 40000,
		Remote: netip.MustParseAddr("2600:5:6:7::20"), RemotePort: 443, MAC: tv, HasMAC: true}
	if s.Decide6(f) != fw6.FilterDrop {
		t.Error("the tv's IPv6 connection passes")
	}
	f.MAC, f.Proto = laptop, packet.ProtoUDP
	if s.Decide6(f) != fw6.FilterAccept {
		t.Error("an IPv4 prefix rule matched IPv6")
	}
	in := fw6.NewFlow{Proto: packet.ProtoTCP, Inbound: true, Host: netip.MustParseAddr("2a00:1:2:3::21"), HostPort: 22,
		Remote: netip.MustParseAddr("2600:5:6:7::20"), RemotePort: 5555}
	if s.Decide6(in) != fw6.FilterDrop {
		t.Error("an inbound IPv6 connection to the laptop's SSH passes (its MAC from the neighbour cache)")
	}
	se := fw6.Session{Protocol: packet.ProtoTCP, Inbound: true, LAN: netip.MustParseAddrPort("[2a00:1:2:3::21]:22"), Remote: netip.MustParseAddrPort("[2600:5:6:7::20]:5555")}
	if s.Would6(se) != fw6.FilterDrop {
		t.Error("Would6")
	}
}

// Rules to the router over IPv6: the device's SSH to the router's IPv6
// address is dropped, others' is not; IPv4 prefixes never match.
func TestSelf6(t *testing.T) {
	s := New(rules(t, "no-ssh from 02:11:22:33:44:55 to self protocol tcp port 22 action reject",
		"v4 from 192.168.1.0/24 to self action drop"), wed("12:00"), Options{})
	b := make([]byte, packet.IPv6HeaderLen+packet.TCPHeaderLen)
	b[0], b[6] = 0x60, packet.ProtoTCP
	src, dst := netip.MustParseAddr("2a00:1:2:3::20").As16(), netip.MustParseAddr("2a00:1:2:3::1").As16()
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	l4 := b[packet.IPv6HeaderLen:]
	l4[0], l4[1], l4[2], l4[3], l4[12], l4[13] = 0x9c, 0x40, 0, 22, 5<<4, packet.TCPSyn
	if s.DecideSelf6(packet.IPv6(b), false, tv) != fw6.FilterReject {
		t.Error("the tv's SSH to the router over IPv6 passes")
	}
	if s.DecideSelf6(packet.IPv6(b), false, laptop) != fw6.FilterAccept {
		t.Error("the laptop's SSH over IPv6 is refused (an IPv4 prefix matched IPv6?)")
	}
	if s.WouldSelf(netip.MustParseAddr("2a00:1:2:3::20"), tv, true, packet.ProtoTCP, 22) != nat.FilterReject {
		t.Error("WouldSelf over IPv6")
	}
}

// icmp4 is an ICMP packet of type and code from src to dst.
func icmp4(src, dst string, typ, code uint8) packet.IPv4 {
	b := make([]byte, packet.IPv4HeaderLen+8)
	packet.IPv4(b).PutHeader(packet.IPv4Header{TTL: 64, Protocol: packet.ProtoICMP, Src: a4(src), Dst: a4(dst)})
	b[packet.IPv4HeaderLen], b[packet.IPv4HeaderLen+1] = typ, code
	return packet.IPv4(b)
}

// icmp6 is an ICMPv6 packet of type from src to dst.
func icmp6(src, dst string, typ uint8) packet.IPv6 {
	b := make([]byte, packet.IPv6HeaderLen+8)
	b[0], b[6], b[7] = 0x60, packet.ProtoICMPv6, 255
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	b[packet.IPv6HeaderLen] = typ
	return packet.IPv6(b)
}

// icmp-type: per packet to the router (the type it carries), and for a
// session through the router (always an echo request), IPv4 and IPv6;
// neighbour discovery and packet-too-big to the router are never matched.
func TestICMPType(t *testing.T) {
	s := New(rules(t,
		"no-ping from lan to self icmp-type echo-request action drop",
		"no-ts to self icmp-type timestamp-request action reject",
		"ptb from wan to self icmp-type packet-too-big action drop",
		"ns from lan icmp-type neighbour-solicitation action drop",
		"all-v6-ra from lan to self protocol icmp icmp-type router-solicitation action drop",
		"no-out-ping from 02:11:22:33:44:55 to wan icmp-type echo-request action reject",
		"v6-137 from wan to self icmp-type v6:200 action drop",
	), wed("12:00"), Options{})
	const lanA, rtr, wanA = "192.168.1.20", "192.168.1.1", "203.0.113.9"
	const lan6, rtr6, wan6 = "2a00:1:2:3::20", "2a00:1:2:3::1", "2600:5:6:7::20"
	for _, c := range []struct {
		name    string
		p       packet.IPv4
		fromWAN bool
		want    nat.FilterVerdict
	}{
		{"ping to the router", icmp4(lanA, rtr, packet.ICMPEcho, 0), false, nat.FilterDrop},
		{"ping from the wan", icmp4(wanA, rtr, packet.ICMPEcho, 0), true, nat.FilterAccept},
		{"echo reply", icmp4(lanA, rtr, packet.ICMPEchoReply, 0), false, nat.FilterAccept},
		{"timestamp", icmp4(wanA, rtr, 13, 0), true, nat.FilterReject},
		{"fragmentation needed", icmp4(wanA, rtr, 3, 4), true, nat.FilterDrop},
		{"port unreachable", icmp4(wanA, rtr, 3, 3), true, nat.FilterAccept},
		{"router solicitation on v4", icmp4(lanA, rtr, 10, 0), false, nat.FilterDrop},
		{"tcp is no icmp", tcp4(t, lanA, rtr, 40000, 8, packet.TCPSyn), false, nat.FilterAccept},
	} {
		if got := s.DecideSelf(c.p, c.fromWAN, laptop); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name    string
		p       packet.IPv6
		fromWAN bool
		want    fw6.FilterVerdict
	}{
		{"ping6 to the router", icmp6(lan6, rtr6, packet.ICMPv6EchoRequest), false, fw6.FilterDrop},
		{"ping6 from the wan", icmp6(wan6, rtr6, packet.ICMPv6EchoRequest), true, fw6.FilterAccept},
		{"echo reply", icmp6(lan6, rtr6, packet.ICMPv6EchoReply), false, fw6.FilterAccept},
		{"packet too big: exempt", icmp6(wan6, rtr6, packet.ICMPv6PacketTooBig), true, fw6.FilterAccept},
		{"neighbour solicitation: exempt", icmp6(lan6, rtr6, packet.ICMPv6NeighborSolicit), false, fw6.FilterAccept},
		{"router solicitation: exempt", icmp6(lan6, rtr6, packet.ICMPv6RouterSolicit), false, fw6.FilterAccept},
		{"a number", icmp6(wan6, rtr6, 200), true, fw6.FilterDrop},
		{"v6 number on v4", nil, false, 0},
	} {
		if c.p == nil {
			if s.DecideSelf(icmp4(wanA, rtr, 200, 0), true, laptop) != nat.FilterAccept {
				t.Error("icmp-type v6:200 matched ICMP type 200 on IPv4")
			}
			continue
		}
		if got := s.DecideSelf6(c.p, c.fromWAN, laptop); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Through the router: an ICMP session is an echo request's.
	if got := s.Decide(out(tv, lanA, "198.51.100.7", packet.ProtoICMP, 0)); got != nat.FilterReject {
		t.Errorf("the tv's ping out: %v", got)
	}
	if got := s.Decide(out(tv, lanA, "198.51.100.7", packet.ProtoTCP, 443)); got != nat.FilterAccept {
		t.Errorf("the tv's https: %v (icmp-type must imply ICMP)", got)
	}
	f := fw6.NewFlow{Proto: packet.ProtoICMPv6, Host: netip.MustParseAddr(lan6), HostPort: 7, Remote: netip.MustParseAddr(wan6), MAC: tv, HasMAC: true}
	if got := s.Decide6(f); got != fw6.FilterReject {
		t.Errorf("the tv's ping6 out: %v", got)
	}
	f.Proto, f.RemotePort = packet.ProtoUDP, 53
	if got := s.Decide6(f); got != fw6.FilterAccept {
		t.Errorf("the tv's udp6: %v", got)
	}
}
