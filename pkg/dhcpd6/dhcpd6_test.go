package dhcpd6

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/passgate/passgate/pkg/packet"
)

var (
	routerMAC = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	routerLL  = netip.MustParseAddr("fe80::ff:fe00:1")
	hostMAC   = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x01, 0x01}
	hostLL    = netip.MustParseAddr("fe80::ff:fe00:101")
	dns1      = netip.MustParseAddr("2600:5::53")
	dns2      = netip.MustParseAddr("fd5a:1:2::1")
)

func newServer(t testing.TB) *Server {
	t.Helper()
	s, err := New(Config{MAC: routerMAC, LinkLocal: routerLL, DNS: []netip.Addr{dns1, dns2}, Domains: []string{"home.arpa", "isp.example"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clientFrame frames a DHCPv6 message from hostMAC/hostLL to dst.
func clientFrame(t testing.TB, msg []byte, src net.HardwareAddr, dst netip.Addr) []byte {
	t.Helper()
	dstMAC := net.HardwareAddr{0x33, 0x33, 0, 1, 0, 2}
	if dst == routerLL {
		dstMAC = net.HardwareAddr(routerMAC[:])
	}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: hostLL.AsSlice(), DstIP: dst.AsSlice()}
	udp := &layers.UDP{SrcPort: ClientPort, DstPort: ServerPort}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(msg)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func infoRequest(t testing.TB, mods ...dhcpv6.Modifier) *dhcpv6.Message {
	t.Helper()
	m, err := dhcpv6.NewMessage(append([]dhcpv6.Modifier{
		dhcpv6.WithClientID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: hostMAC}),
		dhcpv6.WithRequestedOptions(dhcpv6.OptionDNSRecursiveNameServer, dhcpv6.OptionDomainSearchList),
	}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.MessageType = dhcpv6.MessageTypeInformationRequest
	return m
}

// decodeReply checks the frame with gopacket (Ethernet, IPv6, UDP and its
// checksum) and decodes the DHCPv6 message with insomniacslk/dhcp.
func decodeReply(t *testing.T, f []byte) *dhcpv6.Message {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if eth == nil || ip == nil || udp == nil {
		t.Fatalf("reply is not Ethernet/IPv6/UDP: %v", p)
	}
	if eth.DstMAC.String() != hostMAC.String() || !bytes.Equal(eth.SrcMAC, routerMAC[:]) {
		t.Errorf("reply MACs %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if ip.SrcIP.String() != routerLL.String() || ip.DstIP.String() != hostLL.String() || udp.SrcPort != ServerPort || udp.DstPort != ClientPort {
		t.Errorf("reply %v:%d -> %v:%d", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort)
	}
	// Verify the checksum independently: recompute with gopacket.
	sum := udp.Checksum
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, udp, gopacket.Payload(udp.Payload))
	if got := uint16(buf.Bytes()[6])<<8 | uint16(buf.Bytes()[7]); got != sum {
		t.Errorf("UDP checksum %#04x, gopacket computes %#04x", sum, got)
	}
	m, err := dhcpv6.MessageFromBytes(udp.Payload)
	if err != nil {
		t.Fatalf("reply does not decode: %v", err)
	}
	return m
}

func TestRFC8415_18_3_6_InformationRequestReply(t *testing.T) {
	s := newServer(t)
	req := infoRequest(t)
	for _, dst := range []netip.Addr{allServers, routerLL} {
		out := s.Handle(nil, clientFrame(t, req.ToBytes(), hostMAC, dst), 0)
		if len(out) != 1 {
			t.Fatalf("to %v: %d replies, want 1", dst, len(out))
		}
		m := decodeReply(t, out[0])
		if m.MessageType != dhcpv6.MessageTypeReply || m.TransactionID != req.TransactionID {
			t.Fatalf("reply type %v xid %v, want Reply %v", m.MessageType, m.TransactionID, req.TransactionID)
		}
		if sid := m.Options.ServerID(); sid == nil || !bytes.Equal(sid.ToBytes(), []byte{0, 3, 0, 1, 2, 0, 0, 0, 0, 1}) {
			t.Errorf("server ID %v, want DUID-LL of the LAN MAC", sid)
		}
		if cid := m.Options.ClientID(); cid == nil || !bytes.Equal(cid.ToBytes(), req.Options.ClientID().ToBytes()) {
			t.Errorf("client ID not echoed: %v", cid)
		}
		if got := m.Options.DNS(); len(got) != 2 || !got[0].Equal(dns1.AsSlice()) || !got[1].Equal(dns2.AsSlice()) {
			t.Errorf("DNS %v", got)
		}
		if dl := m.Options.DomainSearchList(); dl == nil || len(dl.Labels) != 2 || dl.Labels[0] != "home.arpa" || dl.Labels[1] != "isp.example" {
			t.Errorf("domain list %v", dl)
		}
		if irt := m.Options.InformationRefreshTime(0); irt != DefaultInfoRefresh {
			t.Errorf("information refresh time %v", irt)
		}
	}
	if c := s.Counters(); c.InfoRequests != 2 || c.Replies != 2 {
		t.Errorf("counters %+v", c)
	}
}

// Requested or not, DNS is handed out (see the package documentation).
func TestInfoRequestWithoutOROGetsDNS(t *testing.T) {
	s := newServer(t)
	m, _ := dhcpv6.NewMessage()
	m.MessageType = dhcpv6.MessageTypeInformationRequest
	out := s.Handle(nil, clientFrame(t, m.ToBytes(), hostMAC, allServers), 0)
	if len(out) != 1 || len(decodeReply(t, out[0]).Options.DNS()) != 2 {
		t.Fatalf("no DNS for an Information-request without ORO or Client ID")
	}
}

func TestRFC8415_16_12_InformationRequestDiscarded(t *testing.T) {
	s := newServer(t)
	other := infoRequest(t, dhcpv6.WithServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 9, 9, 9, 9, 9}}))
	withIA := infoRequest(t, dhcpv6.WithIAID([4]byte{0, 0, 0, 1}))
	ours := infoRequest(t, dhcpv6.WithServerID(&dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr(routerMAC[:])}))
	for name, tc := range map[string]struct {
		m    *dhcpv6.Message
		want int
	}{"other server": {other, 0}, "IA_NA": {withIA, 0}, "our server ID": {ours, 1}} {
		if out := s.Handle(nil, clientFrame(t, tc.m.ToBytes(), hostMAC, allServers), 0); len(out) != tc.want {
			t.Errorf("%s: %d replies, want %d", name, len(out), tc.want)
		}
	}
}

func TestRFC8415_18_3_1_SolicitGetsNoAddrsAvail(t *testing.T) {
	s := newServer(t)
	sol, err := dhcpv6.NewSolicit(hostMAC)
	if err != nil {
		t.Fatal(err)
	}
	out := s.Handle(nil, clientFrame(t, sol.ToBytes(), hostMAC, allServers), 0)
	if len(out) != 1 {
		t.Fatalf("%d answers to a Solicit, want 1", len(out))
	}
	m := decodeReply(t, out[0])
	if m.MessageType != dhcpv6.MessageTypeAdvertise || m.TransactionID != sol.TransactionID {
		t.Fatalf("answer %v", m.MessageType)
	}
	if st := m.Options.Status(); st == nil || st.StatusCode != iana.StatusNoAddrsAvail {
		t.Errorf("status %v, want NoAddrsAvail", st)
	}
	if rt := m.Options.Get(dhcpv6.OptionSolMaxRT); len(rt) != 1 {
		t.Errorf("no SOL_MAX_RT")
	}
	if len(m.Options.DNS()) != 0 || m.Options.OneIANA() != nil {
		t.Errorf("Advertise must hold only the status, identifiers and SOL_MAX_RT: %v", m.Options)
	}
}

func TestOtherMessagesIgnored(t *testing.T) {
	s := newServer(t)
	for _, typ := range []dhcpv6.MessageType{dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind,
		dhcpv6.MessageTypeConfirm, dhcpv6.MessageTypeRelease, dhcpv6.MessageTypeDecline, dhcpv6.MessageTypeReply,
		dhcpv6.MessageTypeReconfigure, dhcpv6.MessageTypeRelayForward} {
		m := infoRequest(t)
		m.MessageType = typ
		if out := s.Handle(nil, clientFrame(t, m.ToBytes(), hostMAC, allServers), 0); len(out) != 0 {
			t.Errorf("%v answered", typ)
		}
	}
}

func TestMalformedFramesChangeNothing(t *testing.T) {
	s := newServer(t)
	good := clientFrame(t, infoRequest(t).ToBytes(), hostMAC, allServers)
	badSum := append([]byte(nil), good...)
	badSum[len(badSum)-1] ^= 0xff
	zeroSum := append([]byte(nil), good...)
	zeroSum[14+40+6], zeroSum[14+40+7] = 0, 0
	globalSrc := append([]byte(nil), good...)
	globalSrc[14+8] = 0x26
	otherDst := clientFrame(t, infoRequest(t).ToBytes(), hostMAC, netip.MustParseAddr("ff02::1"))
	shortOpt := clientFrame(t, append(infoRequest(t).ToBytes(), 0, 1, 0, 9), hostMAC, allServers)
	for name, f := range map[string][]byte{"checksum": badSum, "zero checksum": zeroSum, "global source": globalSrc,
		"other group": otherDst, "truncated option": shortOpt, "cut": good[:60], "empty": nil} {
		if out := s.Handle(nil, f, 0); len(out) != 0 {
			t.Errorf("%s: answered", name)
		}
	}
	if c := s.Counters(); c.Replies != 0 {
		t.Errorf("counters %+v", c)
	}
}

// An attacker floods Information-requests from 100 000 MACs: replies stay
// within the global rate, memory stays flat, and a legitimate client
// asking afterwards is answered.
func TestAttack_FloodFromManyMACs(t *testing.T) {
	s := newServer(t)
	msg := infoRequest(t).ToBytes()
	frame := clientFrame(t, msg, hostMAC, allServers)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	replies := 0
	now := time.Duration(0)
	var out [][]byte
	for i := range 100000 {
		f := append(frame[:0:0], frame...)
		f[6], f[7], f[8], f[9] = 0x02, byte(i>>16), byte(i>>8), byte(i) // Ethernet source
		now = time.Duration(i) * 10 * time.Microsecond                  // 1 s in all
		out = s.Handle(out[:0], f, now)
		replies += len(out)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if max := GlobalBurst + GlobalRate*2; replies > max {
		t.Errorf("%d replies to the flood, want at most %d", replies, max)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 64<<10 {
		t.Errorf("heap grew %d bytes during the flood", grow)
	}
	now += 2 * time.Second
	if out := s.Handle(nil, frame, now); len(out) != 1 {
		t.Fatal("a legitimate client is not answered after the flood")
	}
	// One client alone is held to its own rate.
	n := 0
	for i := range 1000 {
		n += len(s.Handle(nil, frame, now+time.Duration(i)*time.Millisecond))
	}
	if n > ClientBurst+ClientRate+1 {
		t.Errorf("one client got %d replies in a second", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"global source":  {LinkLocal: netip.MustParseAddr("2600::1")},
		"multicast DNS":  {LinkLocal: routerLL, DNS: []netip.Addr{netip.MustParseAddr("ff02::1")}},
		"IPv4 DNS":       {LinkLocal: routerLL, DNS: []netip.Addr{netip.MustParseAddr("192.0.2.1")}},
		"too many DNS":   {LinkLocal: routerLL, DNS: make([]netip.Addr, 9)},
		"bad domain":     {LinkLocal: routerLL, Domains: []string{"a..b"}},
		"domain chars":   {LinkLocal: routerLL, Domains: []string{"exa mple"}},
		"long label":     {LinkLocal: routerLL, Domains: []string{string(bytes.Repeat([]byte("a"), 64))}},
		"too many names": {LinkLocal: routerLL, Domains: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s := newServer(t)
	if err := s.SetConfig(Config{LinkLocal: routerLL, Domains: []string{"-bad"}}); err == nil || len(s.Config().DNS) != 2 {
		t.Errorf("a bad SetConfig changed the configuration: %v", err)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(clientFrame(f, infoRequest(f).ToBytes(), hostMAC, allServers))
	sol, _ := dhcpv6.NewSolicit(hostMAC)
	f.Add(clientFrame(f, sol.ToBytes(), hostMAC, allServers))
	s := newServer(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		// Fix the UDP checksum so the fuzzer reaches the options.
		if len(frame) >= 14+40+8 && frame[12] == 0x86 && frame[13] == 0xdd {
			ip := frame[14:]
			if plen := int(binary.BigEndian.Uint16(ip[4:])); plen >= 8 && 40+plen <= len(ip) {
				u := ip[40 : 40+plen]
				u[6], u[7] = 0, 0
				c := packet.Fold(packet.Sum(u, packet.PseudoHeaderSum6(ip[8:24], ip[24:40], packet.ProtoUDP, plen)))
				if c == 0 {
					c = 0xffff
				}
				binary.BigEndian.PutUint16(u[6:], c)
			}
		}
		out := s.Handle(nil, frame, 0)
		if len(out) > 1 {
			t.Fatalf("%d replies", len(out))
		}
		for _, r := range out {
			if len(r) > 1500+14 {
				t.Fatalf("reply of %d bytes", len(r))
			}
			if _, err := dhcpv6.MessageFromBytes(r[14+40+8:]); err != nil {
				t.Fatalf("reply does not decode: %v", err)
			}
		}
	})
}
