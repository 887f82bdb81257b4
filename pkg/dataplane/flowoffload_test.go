package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/internal/pkttest"
	"github.com/passgate/passgate/pkg/landev"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/tcfast"
)

// offBench is a bench with flow offload on (a fake kernel table), the WAN
// up and the LAN host known.
func offBench(t *testing.T, devs *landev.Table) (*bench, *fakeOffloader) {
	t.Helper()
	k := newFakeOffloader()
	b := newBenchWith(t, benchOpts{offload: k, devices: devs})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	return b, k
}

func tcpSegFrame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, sp, dp uint16, flags string) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tc := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: 1000, Window: 65535}
	pkttest.SetTCPFlags(tc, flags, 1)
	tc.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc, gopacket.Payload("data"))
}

// exchange sends n segments each way of the TCP connection host:40000 →
// remote:443 (opening it first if ext is 0) and returns its external port.
func (b *bench) exchange(n int, ext uint16) uint16 {
	t := b.t
	t.Helper()
	if ext == 0 {
		b.write(b.lan, tcpSegFrame(t, hostMAC, b.lanMAC(), host, remote, 40000, 443, "S"))
		ext = uint16(b.read(b.wan).Layer(layers.LayerTypeTCP).(*layers.TCP).SrcPort)
		b.write(b.wan, tcpSegFrame(t, gwMAC, b.wanMAC(), remote, extIP, 443, ext, "SA"))
		b.read(b.lan)
	}
	for i := 0; i < n; i++ {
		b.write(b.lan, tcpSegFrame(t, hostMAC, b.lanMAC(), host, remote, 40000, 443, "A"))
		b.read(b.wan)
		b.write(b.wan, tcpSegFrame(t, gwMAC, b.wanMAC(), remote, extIP, 443, ext, "A"))
		b.read(b.lan)
	}
	return ext
}

func be(s string) [4]byte { return netip.MustParseAddr(s).As4() }

func outKey() tcfast.Key {
	return tcfast.Key{Ifindex: 1, Proto: tcfast.ProtoTCP, Src: be(host), Dst: be(remote), SrcPort: 40000, DstPort: 443}
}

func inKey(ext uint16) tcfast.Key {
	return tcfast.Key{Ifindex: 2, Proto: tcfast.ProtoTCP, Src: be(remote), Dst: be(extIP), SrcPort: 443, DstPort: ext}
}

// waitFor polls cond until it holds or a second has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// A connection's directions go to the kernel once each has carried 16
// packets, with the rewrite, next hop and egress the data plane itself
// applied to them; not one packet before.
func TestFlowOffloadInstallsWhatTheDataPlaneDoes(t *testing.T) {
	b, k := offBench(t, nil)
	ext := b.exchange(13, 0) // with the handshake: 14 packets each way, the handshake ACK not fast
	if got := k.snapshot(); len(got) != 0 {
		t.Fatalf("installed before 16 packets: %v", got)
	}
	b.exchange(2, ext)
	got := k.snapshot()
	want := map[tcfast.Key]tcfast.Entry{
		outKey(): {Rewrite: tcfast.RewriteSource, Addr: be(extIP), Port: ext, Egress: 2, MTU: 1500,
			DstMAC: [6]byte(gwMAC), SrcMAC: [6]byte(b.wanMAC()), FromMAC: [6]byte(hostMAC)},
		inKey(ext): {Rewrite: tcfast.RewriteDestination, Addr: be(host), Port: 40000, Egress: 1, MTU: 1500,
			DstMAC: [6]byte(hostMAC), SrcMAC: [6]byte(b.lanMAC()), FromMAC: [6]byte(gwMAC)},
	}
	if len(got) != 2 || got[outKey()] != want[outKey()] || got[inKey(ext)] != want[inKey(ext)] {
		t.Fatalf("kernel table\n got %+v\nwant %+v", got, want)
	}
	b.exchange(5, ext) // installed once
	if k.puts != 2 || b.dp.Counters().OffloadInstalled != 2 || b.dp.OffloadedFlows() != 2 {
		t.Fatalf("puts %d, installed %d, flows %d; want 2 each", k.puts, b.dp.Counters().OffloadInstalled, b.dp.OffloadedFlows())
	}
}

// What the kernel forwards is folded into the session, the device table
// and the counters, so that the session does not time out and `show`
// tells the truth.
func TestFlowOffloadFoldsTheKernelsCounters(t *testing.T) {
	devs := landev.New(landev.Config{})
	b, k := offBench(t, devs)
	ext := b.exchange(16, 0)
	var before nat.SessionInfo
	b.dp.Do(func(e *nat.Engine) { e.Sessions(func(s nat.SessionInfo) bool { before = s; return false }) })
	if !k.forward(outKey(), 1000, 1_400_000) || !k.forward(inKey(ext), 500, 26_000) {
		t.Fatal("not installed")
	}
	waitFor(t, "the kernel's packets are folded in", func() bool { return b.dp.Counters().OffloadPackets == 1500 })
	var after nat.SessionInfo
	b.dp.Do(func(e *nat.Engine) { e.Sessions(func(s nat.SessionInfo) bool { after = s; return false }) })
	if after.PacketsOut-before.PacketsOut != 1000 || after.BytesOut-before.BytesOut != 1_400_000 ||
		after.PacketsIn-before.PacketsIn != 500 || after.BytesIn-before.BytesIn != 26_000 {
		t.Fatalf("session counters before %+v after %+v", before, after)
	}
	if c := b.dp.Counters(); c.OffloadBytes != 1_426_000 {
		t.Fatalf("OffloadBytes %d", c.OffloadBytes)
	}
	// The ports: out of the LAN and into the WAN 1000 packets, back 500,
	// beside what routerd itself read and wrote.
	ports := b.dp.Ports()
	want := [2]link.Stats{
		{RxPackets: 1000, RxBytes: 1_400_000, TxPackets: 500, TxBytes: 26_000},
		{RxPackets: 500, RxBytes: 26_000, TxPackets: 1000, TxBytes: 1_400_000},
	}
	for i, w := range want {
		if ports[i].Kernel != w {
			t.Errorf("%s: the kernel's share %+v, want %+v", ports[i].Name, ports[i].Kernel, w)
		}
		if ports[i].RxPackets < 16 || ports[i].TxPackets < 16 {
			t.Errorf("%s: routerd's own counters %+v, want the 16 exchanges before the offload", ports[i].Name, ports[i].Stats)
		}
	}
	// Folded once: the next folds see no new packets.
	time.Sleep(100 * time.Millisecond)
	if c := b.dp.Counters(); c.OffloadPackets != 1500 {
		t.Fatalf("folded twice: %d", c.OffloadPackets)
	}
}

// The session's end takes it out of the kernel: a FIN or RST from either
// side (which the kernel never takes) or the session's removal.
func TestFlowOffloadRemovedWithTheSession(t *testing.T) {
	for _, c := range []struct {
		name string
		end  func(b *bench, ext uint16)
	}{
		{"fin from the lan", func(b *bench, ext uint16) {
			b.write(b.lan, tcpSegFrame(b.t, hostMAC, b.lanMAC(), host, remote, 40000, 443, "FA"))
			b.read(b.wan)
		}},
		{"rst from the wan", func(b *bench, ext uint16) {
			b.write(b.wan, tcpSegFrame(b.t, gwMAC, b.wanMAC(), remote, extIP, 443, ext, "RA"))
			b.read(b.lan)
		}},
		{"new wan address", func(b *bench, _ uint16) {
			b.dp.SetWAN(netip.MustParsePrefix("203.0.113.3/24"), netip.MustParseAddr(gwIP))
		}},
		{"flush", func(b *bench, _ uint16) { b.dp.Do(func(e *nat.Engine) { e.Flush(nil) }) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, k := offBench(t, nil)
			ext := b.exchange(16, 0)
			if len(k.snapshot()) != 2 {
				t.Fatal("not installed")
			}
			k.forward(outKey(), 7, 700) // between two folds: read as the entry goes
			c.end(b, ext)
			waitFor(t, "both directions are removed", func() bool { return len(k.snapshot()) == 0 })
			if c := b.dp.Counters(); c.OffloadRemoved != 2 || c.OffloadPackets != 7 || c.OffloadBytes != 700 {
				t.Fatalf("removed %d (want 2), packets %d bytes %d (want the last 7 and 700)", c.OffloadRemoved, c.OffloadPackets, c.OffloadBytes)
			}
			if p := b.dp.Ports(); p[0].Kernel.RxPackets != 7 || p[1].Kernel.TxBytes != 700 || p[0].Kernel.TxPackets != 0 {
				t.Fatalf("the ports' kernel share after the last read: lan %+v wan %+v", p[0].Kernel, p[1].Kernel)
			}
		})
	}
}

// A capture or a shaper needs every frame: starting one takes every flow
// out of the kernel, and none is installed while it runs. Afterwards the
// flows go back.
func TestFlowOffloadPausedByCaptureAndShaper(t *testing.T) {
	b, k := offBench(t, nil)
	ext := b.exchange(16, 0)
	_, stop, err := b.dp.Capture("wan", 1000, nil, func(time.Time, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	if got := k.snapshot(); len(got) != 0 {
		t.Fatalf("flows left in the kernel during a capture: %v", got)
	}
	b.exchange(20, ext)
	if got := k.snapshot(); len(got) != 0 {
		t.Fatalf("installed during a capture: %v", got)
	}
	stop()
	b.exchange(1, ext)
	if len(k.snapshot()) != 2 {
		t.Fatal("not installed again after the capture")
	}
	if err := b.dp.SetShaper(PortLAN, 100e6, nil); err != nil {
		t.Fatal(err)
	}
	if got := k.snapshot(); len(got) != 0 {
		t.Fatalf("flows left in the kernel with a shaper: %v", got)
	}
}

// Frames the kernel forwards are judged by nobody: a device the MAC filter
// blocks, a next hop that moved to another MAC, or an entry the data plane
// does not know of, must leave the kernel.
func TestFlowOffloadWithdrawnWhenItNoLongerHolds(t *testing.T) {
	t.Run("blocked device", func(t *testing.T) {
		devs := landev.New(landev.Config{})
		b, k := offBench(t, devs)
		b.exchange(16, 0)
		b.dp.DoDevices(func(tb *landev.Table, _ time.Duration) { tb.SetFilter(landev.Deny, [][6]byte{[6]byte(hostMAC)}) })
		if got := k.snapshot(); len(got) != 0 {
			t.Fatalf("a blocked device's flows stay in the kernel: %v", got)
		}
	})
	t.Run("gateway moved", func(t *testing.T) {
		b, k := offBench(t, nil)
		b.exchange(16, 0)
		newGW := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
		b.write(b.wan, arpFrame(t, layers.ARPReply, newGW, gwIP, b.wanMAC(), extIP))
		waitFor(t, "the flows that named the old gateway leave the kernel", func() bool { return len(k.snapshot()) == 0 })
	})
	t.Run("unknown entry", func(t *testing.T) {
		b, k := offBench(t, nil)
		stray := tcfast.Key{Ifindex: 1, Proto: tcfast.ProtoUDP, Src: be(host2), Dst: be(remote), SrcPort: 1, DstPort: 2}
		k.plant(stray, tcfast.Entry{Egress: 2, MTU: 1500, FromMAC: [6]byte(host2MAC)})
		b.exchange(1, 0)
		waitFor(t, "the unknown entry is deleted", func() bool { _, ok := k.snapshot()[stray]; return !ok })
	})
}

// Offloaded traffic keeps its senders' ARP entries, the LAN host's and the
// gateway's, from ageing out (routerd no longer sees their frames, and an
// aged entry takes the flow back from the kernel); an idle flow's entries
// still age, and the flow leaves the kernel.
func TestFlowOffloadConfirmsTheNeighbours(t *testing.T) {
	var skew atomic.Int64
	start := time.Now()
	clock := func() time.Duration { return time.Since(start) + time.Duration(skew.Load()) }
	k := newFakeOffloader()
	b := newBenchWith(t, benchOpts{offload: k, clock: clock})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	ext := b.exchange(16, 0)
	if len(k.snapshot()) != 2 {
		t.Fatal("not installed")
	}
	var sent uint64
	for _, step := range []time.Duration{4 * time.Minute, 2 * time.Minute, 4 * time.Minute} {
		skew.Add(int64(step))
		k.forward(outKey(), 10, 1000)
		k.forward(inKey(ext), 10, 1000)
		sent += 20
		waitFor(t, "the kernel's packets are folded in", func() bool { return b.dp.Counters().OffloadPackets == sent })
		if got := k.snapshot(); len(got) != 2 {
			t.Fatalf("%v after the ARP entries were learned, with traffic: the flow left the kernel", time.Duration(skew.Load()))
		}
	}
	skew.Add(int64(6 * time.Minute)) // idle: the entries age
	waitFor(t, "the idle flow leaves the kernel", func() bool { return len(k.snapshot()) == 0 })
}

// A kernel table that refuses entries (full) costs nothing but the
// counter: the flow goes on through the data plane.
func TestFlowOffloadKernelRefuses(t *testing.T) {
	k := &refusingOffloader{newFakeOffloader()}
	b := newBenchWith(t, benchOpts{offload: k})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	b.exchange(20, 0)
	if c := b.dp.Counters(); c.OffloadFailed == 0 || c.OffloadInstalled != 0 {
		t.Fatalf("failed %d, installed %d", c.OffloadFailed, c.OffloadInstalled)
	}
}

type refusingOffloader struct{ *fakeOffloader }

func (refusingOffloader) Put(k tcfast.Key, _ tcfast.Entry) error {
	return fmt.Errorf("put %v: map full", k)
}
