package dhcpv6

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	d6 "github.com/insomniacslk/dhcp/dhcpv6"
)

var (
	serverMAC = net.HardwareAddr{0x02, 0x54, 0, 0, 0, 1}
	serverLL  = netip.MustParseAddr("fe80::54ff:fe00:1")
)

func TestLinkLocalIsModifiedEUI64(t *testing.T) {
	for _, tc := range []struct {
		mac  string
		want string
	}{
		{"00:11:22:33:44:55", "fe80::211:22ff:fe33:4455"},
		{"02:00:5e:00:00:01", "fe80::5eff:fe00:1"},
		{"52:54:00:12:34:56", "fe80::5054:ff:fe12:3456"},
	} {
		mac, _ := net.ParseMAC(tc.mac)
		if got := LinkLocal(mac); got.String() != tc.want {
			t.Errorf("LinkLocal(%s) = %v, want %s", tc.mac, got, tc.want)
		}
	}
	if LinkLocal(net.HardwareAddr{1, 2, 3}).IsValid() {
		t.Error("LinkLocal of a 3-byte address is valid")
	}
}

// gopacket decodes what AppendClientFrame builds, checksum included.
func TestAppendClientFrameDecodesWithGopacket(t *testing.T) {
	sol := &d6.Message{MessageType: d6.MessageTypeSolicit, TransactionID: d6.TransactionID{0xaa, 0xbb, 0xcc}}
	sol.AddOption(d6.OptElapsedTime(0))
	msg := sol.ToBytes()
	odd := &d6.Message{MessageType: d6.MessageTypeSolicit, TransactionID: d6.TransactionID{0xaa, 0xbb, 0xcc}}
	odd.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionClientID, OptionData: []byte{0, 3, 0, 1, 2}})
	src := LinkLocal(clientMAC)
	for _, tc := range []struct {
		dst     netip.Addr
		dstMAC  net.HardwareAddr
		wantMAC string
		hops    uint8
	}{
		{AllServers, nil, "33:33:00:01:00:02", 1},
		{serverLL, serverMAC, serverMAC.String(), 64},
		{netip.MustParseAddr("2001:db8::547"), serverMAC, serverMAC.String(), 64},
	} {
		for _, odd := range [][]byte{msg, odd.ToBytes()} { // even and odd lengths
			f := AppendClientFrame([]byte{0xde, 0xad}, clientMAC, tc.dstMAC, src, tc.dst, odd)
			if !bytes.Equal(f[:2], []byte{0xde, 0xad}) {
				t.Fatal("AppendClientFrame overwrote the prefix of b")
			}
			p := gopacket.NewPacket(f[2:], layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if eth == nil || ip == nil || udp == nil || p.ErrorLayer() != nil {
				t.Fatalf("does not decode: %v", p)
			}
			if eth.DstMAC.String() != tc.wantMAC || !bytes.Equal(eth.SrcMAC, clientMAC) {
				t.Errorf("to %v: MACs %v → %v", tc.dst, eth.SrcMAC, eth.DstMAC)
			}
			if !ip.SrcIP.Equal(src.AsSlice()) || !ip.DstIP.Equal(tc.dst.AsSlice()) || ip.HopLimit != tc.hops ||
				ip.TrafficClass != 0 || ip.FlowLabel != 0 || ip.NextHeader != layers.IPProtocolUDP || int(ip.Length) != 8+len(odd) {
				t.Errorf("to %v: IPv6 header %+v", tc.dst, ip)
			}
			if udp.SrcPort != 546 || udp.DstPort != 547 || !bytes.Equal(udp.Payload, odd) {
				t.Errorf("UDP %d→%d payload %x", udp.SrcPort, udp.DstPort, udp.Payload)
			}
			udp.SetNetworkLayerForChecksum(ip)
			if err, r := udp.VerifyChecksum(); err != nil || !r.Valid || udp.Checksum == 0 {
				t.Errorf("to %v: UDP checksum %#x invalid (%+v, %v)", tc.dst, udp.Checksum, r, err)
			}
		}
	}
}

// serverFrame builds a server-to-client frame with gopacket.
func serverFrame(t testing.TB, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport layers.UDPPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: serverMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func TestParseServerFrame(t *testing.T) {
	local := LinkLocal(clientMAC)
	msg := []byte{7, 1, 2, 3, 0, 13, 0, 2, 0, 0}
	good := func() []byte { return serverFrame(t, clientMAC, serverLL, local, 547, 546, msg) }
	edit := func(f func(b []byte)) []byte { b := good(); f(b); return b }

	got, from, err := ParseServerFrame(good(), clientMAC, local)
	if err != nil || !bytes.Equal(got, msg) || from != serverLL {
		t.Fatalf("good frame: %x from %v, %v", got, from, err)
	}
	padded := append(good(), 0, 0, 0, 0)
	if got, _, err := ParseServerFrame(padded, clientMAC, local); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("padded frame: %x, %v", got, err)
	}
	global := netip.MustParseAddr("2001:db8::547")
	if _, from, err := ParseServerFrame(serverFrame(t, clientMAC, global, local, 547, 546, msg), clientMAC, local); err != nil || from != global {
		t.Errorf("from a global address: %v, %v", from, err)
	}

	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"other MAC", serverFrame(t, serverMAC, serverLL, local, 547, 546, msg), ErrNotDHCP},
		{"multicast MAC", serverFrame(t, MulticastMAC(AllServers), serverLL, local, 547, 546, msg), ErrNotDHCP},
		{"other address", serverFrame(t, clientMAC, serverLL, netip.MustParseAddr("fe80::1"), 547, 546, msg), ErrNotDHCP},
		{"client to server", serverFrame(t, clientMAC, serverLL, local, 546, 547, msg), ErrNotDHCP},
		{"other source port", serverFrame(t, clientMAC, serverLL, local, 5547, 546, msg), ErrNotDHCP},
		{"DNS", serverFrame(t, clientMAC, serverLL, local, 53, 546, msg), ErrNotDHCP},
		{"short", good()[:61], ErrNotDHCP},
		{"IPv4", edit(func(b []byte) { b[12], b[13] = 8, 0 }), ErrNotDHCP},
		{"version 4 in IPv6", edit(func(b []byte) { b[14] = 0x40 }), ErrNotDHCP},
		{"extension header", edit(func(b []byte) { b[20] = 0 }), ErrNotDHCP},
		{"TCP", edit(func(b []byte) { b[20] = 6 }), ErrNotDHCP},
		{"bad checksum", edit(func(b []byte) { b[len(b)-1] ^= 1 }), ErrBadFrame},
		{"zero checksum", edit(func(b []byte) { b[60], b[61] = 0, 0 }), ErrBadFrame},
		{"truncated", good()[:len(good())-2], ErrBadFrame},
		{"UDP length short", edit(func(b []byte) { b[59]-- }), ErrBadFrame},
		{"UDP length long", edit(func(b []byte) { b[59]++ }), ErrBadFrame},
		{"multicast source", serverFrame(t, clientMAC, AllServers, local, 547, 546, msg), ErrBadFrame},
		{"unspecified source", serverFrame(t, clientMAC, netip.IPv6Unspecified(), local, 547, 546, msg), ErrBadFrame},
		{"too large", serverFrame(t, clientMAC, serverLL, local, 547, 546, make([]byte, MaxMessageLen+1)), ErrBadFrame},
	} {
		_, _, err := ParseServerFrame(tc.frame, clientMAC, local)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := ParseServerFrame(serverFrame(t, clientMAC, serverLL, local, 547, 546, make([]byte, MaxMessageLen)), clientMAC, local); err != nil {
		t.Errorf("a message of MaxMessageLen bytes: %v", err)
	}
}

// The data plane offers every WAN frame: the ones that are not DHCPv6 cost
// no allocation.
func TestFrameConnDeliverNotDHCPDoesNotAllocate(t *testing.T) {
	fc := NewFrameConn(clientMAC, func([]byte) error { return nil }, nil)
	other := serverFrame(t, clientMAC, serverLL, fc.LocalAddr(), 53, 5353, []byte("dns"))
	if n := testing.AllocsPerRun(1000, func() { fc.Deliver(other) }); n != 0 {
		t.Errorf("Deliver of a non-DHCPv6 frame: %v allocations", n)
	}
}

// Unicast sends resolve the server's MAC; without a way to, they fail.
func TestFrameConnUnicast(t *testing.T) {
	var last []byte
	write := func(f []byte) error { last = bytes.Clone(f); return nil }
	unicast := netip.MustParseAddr("2001:db8::547")
	fc := NewFrameConn(clientMAC, write, func(a netip.Addr) (net.HardwareAddr, error) {
		if a != unicast {
			return nil, errors.New("unknown neighbour")
		}
		return serverMAC, nil
	})
	if err := fc.Send([]byte{5, 1, 2, 3}, unicast); err != nil || !bytes.Equal(last[:6], serverMAC) {
		t.Errorf("unicast: %v, frame to %x", err, last[:6])
	}
	if err := fc.Send([]byte{5, 1, 2, 3}, netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Error("send to an unresolvable address succeeded")
	}
	if err := NewFrameConn(clientMAC, write, nil).Send([]byte{5, 1, 2, 3}, unicast); err == nil {
		t.Error("unicast without a resolver succeeded")
	}
	if err := fc.Send([]byte{5}, netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Error("send to an IPv4 address succeeded")
	}
}

// The data plane offers FrameConn every IPv6 frame from the WAN: what that
// costs for frames that are not DHCPv6, and for a server's answer.
func BenchmarkFrameConnDeliver(b *testing.B) {
	fc := NewFrameConn(clientMAC, func([]byte) error { return nil }, nil)
	other := serverFrame(b, clientMAC, serverLL, fc.LocalAddr(), 443, 50000, make([]byte, 1200))
	reply := serverFrame(b, clientMAC, serverLL, fc.LocalAddr(), 547, 546, make([]byte, 200))
	b.Run("NotDHCPv6", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fc.Deliver(other)
		}
	})
	b.Run("Reply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fc.Deliver(reply)
			<-fc.in
		}
	})
}
