package dataplane

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/landev"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/ndp6"
)

var (
	hostMAC  = net.HardwareAddr{0xae, 0x55, 0x81, 0xe0, 0x95, 0xb2}
	host2MAC = net.HardwareAddr{0xea, 0x21, 0xef, 0x2e, 0xba, 0x05}
	gwMAC    = net.HardwareAddr{0xde, 0x02, 0x18, 0xf7, 0x9b, 0xdd}
	nhMAC    = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0xfe}
)

const (
	routerIP = "192.168.1.1"
	host     = "192.168.1.10"
	host2    = "192.168.1.11"
	extIP    = "203.0.113.2"
	gwIP     = "203.0.113.1"
	remote   = "198.51.100.10"
)

type bench struct {
	t                testing.TB
	lan, wan, kernel *link.PipeEnd // the test's ends: LAN segment, ISP, router's own stack
	lanRouter        link.Link
	dp               *Dataplane
	dhcp             chan []byte
	cancel           func()
	done             sync.WaitGroup
}

func newBench(t *testing.T) *bench { return newBenchWith(t, benchOpts{}) }

// benchOpts says which of the router's ports take offloaded frames (as a
// veth or virtio port with PACKET_VNET_HDR does); the test's end of the
// pipe writes them either way.
type benchOpts struct {
	lanOffloads, wanOffloads bool
	payloadHelper            func(proto uint8, sport, dport uint16) bool
	// ipv6 builds the IPv6 engines for the router's port MACs (nil: IPv6 off).
	ipv6 func(t testing.TB, lanMAC, wanMAC [6]byte) *IPv6Config
	// wrapWAN puts something between the router and its WAN port (the
	// framing of pkg/wanport).
	wrapWAN func(link.Link) link.Link
	// devices is the LAN device table and MAC filter (nil: none).
	devices *landev.Table
	// offload is the kernel's flow table (nil: flow offload off); the
	// LAN port is ifindex 1, the WAN port 2.
	offload Offloader
	// clock is the data plane's (nil: time since New).
	clock func() time.Duration
}

func newBenchWith(t testing.TB, o benchOpts) *bench {
	t.Helper()
	mk := func(a, b string, offloads bool) (*link.PipeEnd, link.Link) {
		// The test's end may write offloaded frames; the router's end
		// takes them only if asked.
		x, y, err := link.NewPipe(link.PipeConfig{NameA: a, NameB: b, PollTimeout: 5 * time.Millisecond, Offloads: true})
		if err != nil {
			t.Fatal(err)
		}
		if !offloads {
			return x, noOffloads{y}
		}
		return x, y
	}
	lanTest, lanRouter := mk("lan-seg", "eth0", o.lanOffloads)
	wanTest, wanRouter := mk("isp", "eth1", o.wanOffloads)
	kTest, kRouter := mk("self0-kernel", "self0", false)
	if o.wrapWAN != nil {
		wanRouter = o.wrapWAN(wanRouter)
	}
	e, err := nat.New(nat.DefaultConfig(netip.MustParsePrefix("192.168.1.1/24")))
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, lan: lanTest, wan: wanTest, kernel: kTest, lanRouter: lanRouter, dhcp: make(chan []byte, 4)}
	var v6 *IPv6Config
	if o.ipv6 != nil {
		v6 = o.ipv6(t, [6]byte(lanRouter.MAC()), [6]byte(wanRouter.MAC()))
	}
	b.dp, err = New(Config{LAN: lanRouter, WAN: wanRouter, Self: kRouter, LANAddr: netip.MustParsePrefix("192.168.1.1/24"),
		NextHopMAC: nhMAC, Engine: e, TickEvery: 10 * time.Millisecond, PayloadHelper: o.payloadHelper,
		WANDHCP: func(f []byte) { b.dhcp <- append([]byte(nil), f[42:]...) }, IPv6: v6, Devices: o.devices,
		Offload: offloadConfig(o.offload), Clock: o.clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.done.Add(1)
	go func() { defer b.done.Done(); b.dp.Run(ctx) }()
	t.Cleanup(func() { cancel(); b.done.Wait() })
	return b
}

func offloadConfig(k Offloader) *OffloadConfig {
	if k == nil {
		return nil
	}
	return &OffloadConfig{Kernel: k, LANIfindex: 1, WANIfindex: 2, FoldEvery: 20 * time.Millisecond}
}

// noOffloads is a pipe end that refuses offloaded frames, like a port
// without PACKET_VNET_HDR (or self0's TAP).
type noOffloads struct{ *link.PipeEnd }

func (noOffloads) Offloads() bool { return false }

func (n noOffloads) WriteBatch(frames []link.Frame) (int, error) {
	for _, f := range frames {
		if !f.Offload.IsZero() {
			panic("the data plane wrote an offloaded frame to a port without offloads")
		}
	}
	return n.PipeEnd.WriteBatch(frames)
}

func (b *bench) lanMAC() net.HardwareAddr { return b.lan.Peer().MAC() }
func (b *bench) wanMAC() net.HardwareAddr { return b.wan.Peer().MAC() }

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func arpFrame(t testing.TB, op uint16, srcMAC net.HardwareAddr, srcIP string, dstMAC net.HardwareAddr, dstIP string) []byte {
	ethDst := dstMAC
	if op == layers.ARPRequest {
		ethDst = layers.EthernetBroadcast
		dstMAC = make(net.HardwareAddr, 6)
	}
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: ethDst, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: srcMAC, SourceProtAddress: net.ParseIP(srcIP).To4(),
			DstHwAddress: dstMAC, DstProtAddress: net.ParseIP(dstIP).To4()})
}

func udpFrame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, sp, dp uint16, payload string) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	u.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload(payload))
}

func icmpFrame(t *testing.T, srcMAC, dstMAC net.HardwareAddr, src, dst string, typ uint8) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip,
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 1, Seq: 1})
}

func (b *bench) write(l *link.PipeEnd, frames ...[]byte) {
	b.t.Helper()
	if err := link.WriteFrames(l, frames...); err != nil {
		b.t.Fatal(err)
	}
}

// read returns the next frame on l, decoded.
func (b *bench) read(l *link.PipeEnd) gopacket.Packet {
	b.t.Helper()
	fs, err := link.ReadFrames(l, 1, 2*time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	p := gopacket.NewPacket(fs[0], layers.LayerTypeEthernet, gopacket.Default)
	return p
}

func (b *bench) none(l *link.PipeEnd) {
	b.t.Helper()
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		fs, _ := link.ReadFrames(l, 1, time.Until(end))
		if len(fs) > 0 && !isMLDReport(fs[0]) {
			b.t.Fatalf("unexpected frame on %s: % x", l.Name(), fs[0])
		}
	}
}

// isMLDReport: ndp6 reports its groups by MLD on both ports (a join at
// start, repeated within a second), which tests of other traffic skip.
func isMLDReport(f []byte) bool {
	const icmp = 14 + 40 + 8
	return len(f) > icmp && f[12] == 0x86 && f[13] == 0xdd && f[14+6] == 0 &&
		(f[icmp] == ndp6.TypeMLDv2Report || f[icmp] == ndp6.TypeMLDv1Report || f[icmp] == ndp6.TypeMLDv1Done)
}

func eth(p gopacket.Packet) *layers.Ethernet {
	return p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
}
func ip4(p gopacket.Packet) *layers.IPv4 {
	l, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	return l
}
func arpOf(p gopacket.Packet) *layers.ARP {
	l, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	return l
}

// upWAN gives the router its WAN address and answers its gateway ARP.
func (b *bench) upWAN() {
	b.t.Helper()
	b.dp.SetWAN(netip.MustParsePrefix(extIP+"/24"), netip.MustParseAddr(gwIP))
	p := b.read(b.wan)
	a := arpOf(p)
	if a == nil || a.Operation != layers.ARPRequest || net.IP(a.DstProtAddress).String() != gwIP || net.IP(a.SourceProtAddress).String() != extIP {
		b.t.Fatalf("expected ARP request for the gateway, got %v", p)
	}
	if eth(p).DstMAC.String() != "ff:ff:ff:ff:ff:ff" || net.HardwareAddr(a.DstHwAddress).String() != "00:00:00:00:00:00" {
		b.t.Fatalf("an ARP request goes to the broadcast address and asks for an unknown MAC: %v", p)
	}
	b.write(b.wan, arpFrame(b.t, layers.ARPReply, gwMAC, gwIP, b.wanMAC(), extIP))
	for deadline := time.Now().Add(2 * time.Second); b.dp.ARPEntries("wan")[netip.MustParseAddr(gwIP)] == nil; {
		if time.Now().After(deadline) {
			b.t.Fatal("gateway not learnt")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestARPForRouterAndLearning(t *testing.T) {
	b := newBench(t)
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	reply := b.read(b.lan)
	a := arpOf(reply)
	if a == nil || a.Operation != layers.ARPReply || net.HardwareAddr(a.SourceHwAddress).String() != b.lanMAC().String() ||
		net.IP(a.SourceProtAddress).String() != routerIP {
		t.Fatalf("no ARP reply for the router's address")
	}
	if net.HardwareAddr(a.DstHwAddress).String() != hostMAC.String() || net.IP(a.DstProtAddress).String() != host ||
		eth(reply).DstMAC.String() != hostMAC.String() || eth(reply).SrcMAC.String() != b.lanMAC().String() {
		t.Fatalf("ARP reply not addressed to the asking host: %v", reply)
	}
	if got := b.dp.ARPEntries("lan")[netip.MustParseAddr(host)]; got.String() != hostMAC.String() {
		t.Fatalf("host not learnt: %v", got)
	}
	// The WAN side answers ARP for the WAN address.
	b.upWAN()
	b.write(b.wan, arpFrame(t, layers.ARPRequest, gwMAC, gwIP, nil, extIP))
	a = arpOf(b.read(b.wan))
	if a == nil || a.Operation != layers.ARPReply || net.HardwareAddr(a.SourceHwAddress).String() != b.wanMAC().String() {
		t.Fatal("no ARP reply for the WAN address")
	}
}

func TestForwardBothWays(t *testing.T) {
	b := newBench(t)
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	// Before the WAN is up, nothing leaves.
	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, "early"))
	b.none(b.wan)
	b.upWAN()
	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, "hello"))
	p := b.read(b.wan)
	if e := eth(p); e.DstMAC.String() != gwMAC.String() || e.SrcMAC.String() != b.wanMAC().String() {
		t.Fatalf("WAN frame %v → %v", e.SrcMAC, e.DstMAC)
	}
	if ip := ip4(p); ip.SrcIP.String() != extIP || ip.TTL != 63 {
		t.Fatalf("not translated: %v", ip.SrcIP)
	}
	ext := p.Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort
	b.write(b.wan, udpFrame(t, gwMAC, b.wanMAC(), remote, extIP, 9000, uint16(ext), "reply"))
	p = b.read(b.lan)
	if e := eth(p); e.DstMAC.String() != hostMAC.String() || e.SrcMAC.String() != b.lanMAC().String() {
		t.Fatalf("LAN frame %v → %v", e.SrcMAC, e.DstMAC)
	}
	if ip4(p).DstIP.String() != host || string(p.ApplicationLayer().Payload()) != "reply" {
		t.Fatal("reply not delivered")
	}
}

// The MAC filter: a blocked device gets no ARP answer and nothing
// forwarded; the others go on; lifting the filter lets it back.
func TestMACFilter(t *testing.T) {
	devs := landev.New(landev.Config{})
	b := newBenchWith(t, benchOpts{devices: devs})
	b.upWAN()
	b.dp.DoDevices(func(tb *landev.Table, _ time.Duration) { tb.SetFilter(landev.Deny, [][6]byte{[6]byte(host2MAC)}) })
	b.write(b.lan, arpFrame(t, layers.ARPRequest, host2MAC, host2, nil, routerIP))
	b.none(b.lan)
	b.write(b.lan, udpFrame(t, host2MAC, b.lanMAC(), host2, remote, 5000, 9000, "blocked"))
	b.none(b.wan)
	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, "allowed"))
	if p := b.read(b.wan); string(p.ApplicationLayer().Payload()) != "allowed" {
		t.Fatal("the allowed device's packet did not go out")
	}
	if n := b.dp.Counters().LANMACFiltered; n != 2 {
		t.Errorf("LANMACFiltered = %d, want 2", n)
	}
	var seen []landev.Device
	b.dp.DoDevices(func(tb *landev.Table, _ time.Duration) { seen = tb.Devices() })
	if len(seen) != 2 || seen[0].MAC != [6]byte(hostMAC) || seen[1].MAC != [6]byte(host2MAC) || !seen[1].Blocked || seen[1].Dropped != 2 {
		t.Errorf("devices %+v", seen)
	}
	b.dp.DoDevices(func(tb *landev.Table, _ time.Duration) { tb.SetFilter(landev.Off, nil) })
	b.write(b.lan, udpFrame(t, host2MAC, b.lanMAC(), host2, remote, 5000, 9000, "back"))
	if p := b.read(b.wan); string(p.ApplicationLayer().Payload()) != "back" {
		t.Fatal("the device is still blocked with the filter off")
	}
}

func TestInboundToUnknownHostWaitsForARP(t *testing.T) {
	b := newBench(t)
	b.upWAN()
	cfg := nat.DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
	cfg.PortForwards = []nat.PortForward{{Name: "x", Proto: 17, ExtStart: 7000, ExtEnd: 7000, Host: netip.MustParseAddr(host2), IntStart: 7000}}
	b.dp.Do(func(e *nat.Engine) {
		if _, err := e.Reconfigure(cfg); err != nil {
			t.Fatal(err)
		}
	})
	b.write(b.wan, udpFrame(t, gwMAC, b.wanMAC(), remote, extIP, 1234, 7000, "knock"))
	a := arpOf(b.read(b.lan))
	if a == nil || a.Operation != layers.ARPRequest || net.IP(a.DstProtAddress).String() != host2 {
		t.Fatal("router did not ARP for the LAN host")
	}
	b.write(b.lan, arpFrame(t, layers.ARPReply, host2MAC, host2, b.lanMAC(), routerIP))
	p := b.read(b.lan)
	if eth(p).DstMAC.String() != host2MAC.String() || string(p.ApplicationLayer().Payload()) != "knock" {
		t.Fatal("queued packet not released after ARP")
	}
}

func TestRouterOwnTrafficThroughSelf0(t *testing.T) {
	b := newBench(t)
	b.upWAN()
	// The kernel on self0 (MAC = LAN MAC) sends to its default route's
	// virtual next hop.
	b.write(b.kernel, udpFrame(t, b.lanMAC(), nhMAC, routerIP, remote, 33000, 123, "ntp"))
	p := b.read(b.wan)
	if ip4(p).SrcIP.String() != extIP {
		t.Fatal("router's own traffic not NAT-ed")
	}
	ext := p.Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort
	b.write(b.wan, udpFrame(t, gwMAC, b.wanMAC(), remote, extIP, 123, uint16(ext), "time"))
	p = b.read(b.kernel)
	if e := eth(p); e.DstMAC.String() != b.lanMAC().String() || e.SrcMAC.String() != nhMAC.String() || ip4(p).DstIP.String() != routerIP {
		t.Fatalf("reply to the router went %v → %v to %v", e.SrcMAC, e.DstMAC, ip4(p).DstIP)
	}
	b.none(b.lan)
	// LAN traffic for the router's own address goes to self0 unchanged.
	f := udpFrame(t, hostMAC, b.lanMAC(), host, routerIP, 5353, 53, "dns?")
	b.write(b.lan, f)
	p = b.read(b.kernel)
	if string(p.Data()) != string(f[:len(p.Data())]) || len(p.Data()) != 14+int(ip4(p).Length) {
		t.Fatalf("frame for the router changed on its way to self0:\n% x\n% x", p.Data(), f)
	}
	// The kernel's own frames to LAN hosts and its ARP go out of the LAN port.
	b.write(b.kernel, arpFrame(t, layers.ARPRequest, b.lanMAC(), routerIP, nil, host))
	if arpOf(b.read(b.lan)) == nil {
		t.Fatal("kernel ARP not sent on the LAN")
	}
	b.write(b.lan, arpFrame(t, layers.ARPReply, hostMAC, host, b.lanMAC(), routerIP))
	if arpOf(b.read(b.kernel)) == nil {
		t.Fatal("ARP reply not given to the kernel")
	}
	b.write(b.kernel, udpFrame(t, b.lanMAC(), hostMAC, routerIP, host, 53, 5353, "dns!"))
	if ip4(b.read(b.lan)).DstIP.String() != host {
		t.Fatal("kernel's frame to a LAN host not forwarded")
	}
}

func TestPingWANAndDHCPClientHook(t *testing.T) {
	b := newBench(t)
	// DHCP offers come before the WAN has an address.
	b.write(b.wan, udpFrame(t, gwMAC, layers.EthernetBroadcast, gwIP, "255.255.255.255", 67, 68, "offer"))
	select {
	case m := <-b.dhcp:
		if !strings.HasPrefix(string(m), "offer") { // the frame as received, Ethernet padding included
			t.Fatalf("DHCP payload %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("DHCP message not handed to the client")
	}
	b.upWAN()
	b.write(b.wan, icmpFrame(t, gwMAC, b.wanMAC(), remote, extIP, 8))
	p := b.read(b.wan)
	if ip4(p).SrcIP.String() != extIP || p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4).TypeCode.Type() != 0 || eth(p).DstMAC.String() != gwMAC.String() {
		t.Fatal("no echo reply on the WAN")
	}
}

func TestGarbageNeverStopsTheLoop(t *testing.T) {
	b := newBench(t)
	b.upWAN()
	// Runts never reach a port (the NIC drops them); anything from 14 bytes on can.
	junk := [][]byte{make([]byte, 14), append(make([]byte, 12), 0x08, 0x00, 0x45), append(make([]byte, 12), 0x08, 0x06, 0, 1),
		append(append([]byte(nil), b.lanMAC()...), append(make([]byte, 6), 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 1, 6)...)}
	for _, l := range []*link.PipeEnd{b.lan, b.wan, b.kernel} {
		b.write(l, junk...)
	}
	// Still answering afterwards (the kernel's frames, junk included, are
	// passed to the LAN as they are: skip them).
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	for {
		fs, err := link.ReadFrames(b.lan, 1, 2*time.Second)
		if err != nil {
			t.Fatal("data plane stopped after garbage")
		}
		if a := arpOf(gopacket.NewPacket(fs[0], layers.LayerTypeEthernet, gopacket.Default)); a != nil && a.Operation == layers.ARPReply {
			break
		}
	}
	if c := b.dp.Counters(); c.Truncated == 0 && c.NonIPv4 == 0 {
		t.Fatalf("garbage not counted: %+v", c)
	}
}

func TestCapture(t *testing.T) {
	b := newBench(t)
	var got [][]byte
	var mu sync.Mutex
	done, stop, err := b.dp.Capture("lan", 2, func(f []byte) bool { return len(f) > 13 && f[12] == 0x08 && f[13] == 0x06 },
		func(_ time.Time, f []byte) { mu.Lock(); got = append(got, append([]byte(nil), f...)); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, _, err := b.dp.Capture("lan", 1, nil, func(time.Time, []byte) {}); err == nil {
		t.Fatal("second capture on one port accepted")
	}
	if _, _, err := b.dp.Capture("dmz", 1, nil, nil); err == nil {
		t.Fatal("unknown port accepted")
	}
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("capture did not end after 2 frames")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0][21] != 1 || got[1][21] != 2 { // the request received, the reply sent
		t.Fatalf("captured %d frames", len(got))
	}
}

// A shaped WAN port sends at its rate, VPN (NAT-T) packets beside a bulk
// flow keep theirs, and removing the shaper sends what it held.
func TestShapedWAN(t *testing.T) {
	b := newBench(t)
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	if err := b.dp.SetShaper(PortWAN, 2e6, nil); err != nil { // 250 kB/s
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1000)
	start := time.Now()
	const bulk = 100 // 100 kB: 0.4 s at 2 Mbit/s
	for i := range bulk {
		b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, payload))
		if i%10 == 0 {
			b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 4500, 4500, "vpn"))
		}
	}
	// Everything comes out but what CoDel drops from the bulk flow (it
	// is sent far faster than the rate, and never slows down).
	got, vpnAt, last := 0, time.Duration(0), time.Duration(0)
	for {
		fs, err := link.ReadFrames(b.wan, 1, 300*time.Millisecond)
		if err != nil {
			break
		}
		got++
		last = time.Since(start)
		p := gopacket.NewPacket(fs[0], layers.LayerTypeEthernet, gopacket.Default)
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && u.DstPort == 4500 && vpnAt == 0 {
			vpnAt = last
		}
	}
	st := b.dp.ShaperStats()
	if len(st) != 1 || st[0].Port != "wan" || st[0].Sent[1] != bulk/10 || uint64(got) != st[0].Sent[0]+st[0].Sent[1] ||
		st[0].Sent[0]+st[0].Dropped[0] != bulk {
		t.Fatalf("got %d frames; stats %+v", got, st)
	}
	bytes := st[0].Bytes[0] + st[0].Bytes[1]
	if want := time.Duration(float64(bytes*8) / 2e6 * float64(time.Second)); last < want*8/10 || last > want*13/10 {
		t.Errorf("%d bytes through a 2 Mbit/s shaper took %v, want about %v", bytes, last, want)
	}
	if vpnAt > 100*time.Millisecond {
		t.Errorf("the first VPN packet came out after %v: behind the bulk", vpnAt)
	}
	// Removed: what it holds goes out at once.
	b.dp.SetShaper(PortWAN, 2e6, nil)
	for range 50 {
		b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, payload))
	}
	b.dp.SetShaper(PortWAN, 0, nil)
	for range 50 {
		b.read(b.wan)
	}
	if len(b.dp.ShaperStats()) != 0 {
		t.Error("a removed shaper still listed")
	}
}

// TestLANHostForgesTheRoutersAddress: a LAN host sends IPv4 with the
// router's own LAN address as its source. The engine takes that source
// for the router's own traffic (it keeps its TTL and rides the router's
// sessions), so the data plane, which knows the port, refuses it: a
// forged RST must not reach the server the router talks to, nor a forged
// datagram leave on the router's mapping. The router's own flow still
// works afterwards.
func TestLANHostForgesTheRoutersAddress(t *testing.T) {
	b := newBench(t)
	b.upWAN()
	b.write(b.kernel, udpFrame(t, b.lanMAC(), nhMAC, routerIP, remote, 33000, 123, "ntp"))
	ext := b.read(b.wan).Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort
	before := b.dp.Counters().LANSpoofed
	b.write(b.lan,
		udpFrame(t, hostMAC, b.lanMAC(), routerIP, remote, 33000, 123, "forged"),
		udpFrame(t, hostMAC, b.lanMAC(), routerIP, remote, 40000, 53, "forged new flow"),
		udpFrame(t, hostMAC, b.lanMAC(), routerIP, routerIP, 40001, 53, "forged to the router"))
	b.none(b.wan)
	b.none(b.kernel)
	if n := b.dp.Counters().LANSpoofed - before; n != 3 {
		t.Fatalf("lan-source-spoofed counted %d of the 3 forged frames", n)
	}
	// The router's own flow is untouched: its reply still reaches self0.
	b.write(b.wan, udpFrame(t, gwMAC, b.wanMAC(), remote, extIP, 123, uint16(ext), "time"))
	if ip4(b.read(b.kernel)).DstIP.String() != routerIP {
		t.Fatal("the router's own flow lost its reply")
	}
}
