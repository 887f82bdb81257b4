package dataplane

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
)

// TestSeveralReadersPerPort wires two links on each of the LAN and WAN
// ports, as a fanout group gives them, and checks that each member's
// frames are forwarded, that reader i sends on member i of the other port,
// that the control plane (the gateway's ARP) uses member 0, and that the
// port counters sum the members.
func TestSeveralReadersPerPort(t *testing.T) {
	lanMACr := link.PipeMAC("eth0")
	wanMACr := link.PipeMAC("eth1")
	pipes := func(mac net.HardwareAddr, names ...string) (test []*link.PipeEnd, router []link.Link) {
		for _, n := range names {
			x, y, err := link.NewPipe(link.PipeConfig{NameA: n, NameB: n + "-router", MACB: mac, PollTimeout: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			test, router = append(test, x), append(router, y)
		}
		return test, router
	}
	lan, lanR := pipes(lanMACr, "lan0", "lan1")
	wan, wanR := pipes(wanMACr, "wan0", "wan1")
	e, err := nat.New(nat.DefaultConfig(netip.MustParsePrefix("192.168.1.1/24")))
	if err != nil {
		t.Fatal(err)
	}
	dp, err := New(Config{LAN: lanR[0], MoreLAN: lanR[1:], WAN: wanR[0], MoreWAN: wanR[1:],
		LANAddr: netip.MustParsePrefix("192.168.1.1/24"), NextHopMAC: nhMAC, Engine: e, TickEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); dp.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	b := &bench{t: t}
	decode := func(f []byte) gopacket.Packet {
		return gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	}

	dp.SetWAN(netip.MustParsePrefix(extIP+"/24"), netip.MustParseAddr(gwIP))
	if a := arpOf(b.read(wan[0])); a == nil || net.IP(a.DstProtAddress).String() != gwIP {
		t.Fatal("the gateway's ARP request did not leave on the first WAN link")
	}
	b.write(wan[1], arpFrame(t, layers.ARPReply, gwMAC, gwIP, wanMACr, extIP))
	for deadline := time.Now().Add(2 * time.Second); dp.ARPEntries("wan")[netip.MustParseAddr(gwIP)] == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the gateway's ARP reply on the second WAN link was not learnt")
		}
		time.Sleep(time.Millisecond)
	}
	// Each host asks for the router on the member its frames arrive on,
	// and the answer leaves by that member.
	b.write(lan[0], arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(lan[0])
	b.write(lan[1], arpFrame(t, layers.ARPRequest, host2MAC, host2, nil, routerIP))
	b.read(lan[1])

	// Host 1's flow arrives on LAN member 0, host 2's on member 1.
	var ext [2]uint16
	for i, src := range []struct {
		mac net.HardwareAddr
		ip  string
	}{{hostMAC, host}, {host2MAC, host2}} {
		deadline := time.Now().Add(2 * time.Second)
		for {
			b.write(lan[i], udpFrame(t, src.mac, lanMACr, src.ip, remote, 5000, 9000, "out"))
			fs, _ := link.ReadFrames(wan[i], 1, 100*time.Millisecond)
			if len(fs) == 1 {
				p := decode(fs[0])
				if ip := ip4(p); ip == nil || ip.SrcIP.String() != extIP || eth(p).DstMAC.String() != gwMAC.String() {
					t.Fatalf("LAN member %d: forwarded frame %v", i, p)
				}
				ext[i] = uint16(p.Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("LAN member %d's frame did not leave on WAN member %d", i, i)
			}
		}
		b.none(wan[1-i])
	}
	// The replies arrive on the other WAN members than the requests left
	// by; each goes out on the LAN member of its reader.
	for i, dst := range []string{host, host2} {
		b.write(wan[1-i], udpFrame(t, gwMAC, wanMACr, remote, extIP, 9000, ext[i], "back"))
		p := b.read(lan[1-i])
		if ip := ip4(p); ip == nil || ip.DstIP.String() != dst {
			t.Fatalf("reply to %s: %v", dst, p)
		}
	}
	ports := dp.Ports()
	if len(ports) != 2 || ports[0].Readers != 2 || ports[1].Readers != 2 {
		t.Fatalf("Ports: %+v, want two with 2 readers each", ports)
	}
	var lanRx, wanTx uint64
	for _, l := range lanR {
		lanRx += l.Stats().RxPackets
	}
	for _, l := range wanR {
		wanTx += l.Stats().TxPackets
	}
	if ports[0].RxPackets != lanRx || ports[1].TxPackets != wanTx || lanRx < 4 || wanTx < 3 {
		t.Errorf("port counters %+v; the members received %d on the LAN and sent %d on the WAN", ports, lanRx, wanTx)
	}
}
