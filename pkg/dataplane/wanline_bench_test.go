package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/wanport"
)

// BenchmarkWANLine forwards UDP through the whole data plane (LAN port,
// NAT engine, WAN port, in-memory links) over each kind of WAN line:
// plain Ethernet, an ISP VLAN, PPPoE, PPPoE in a VLAN. The ns/pkt of one
// line against plain Ethernet's, in the same run, is what the line's
// framing costs a forwarded packet. up: LAN to WAN (new frames built);
// down: WAN to LAN (headers removed).
func BenchmarkWANLine(b *testing.B) {
	for _, line := range []struct {
		name  string
		vlan  uint16
		pppoe bool
	}{{"plain", 0, false}, {"vlan", 7, false}, {"pppoe", 0, true}, {"pppoe-vlan", 7, true}} {
		for _, size := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%dB", line.name, size), func(b *testing.B) {
				w := newWANLineBench(b, line.vlan, line.pppoe, size)
				b.Run("up", func(b *testing.B) { w.run(b, w.lan, w.up, w.wan) })
				b.Run("down", func(b *testing.B) { w.run(b, w.wan, w.down, w.lan) })
			})
		}
	}
}

// wanLineBench is a data plane with 64 flows set up through a WAN line,
// and a batch of frames for each direction.
type wanLineBench struct {
	*bench
	up, down [][]byte
}

const wanLineFlows = 64

func newWANLineBench(b *testing.B, vlan uint16, pppoe bool, size int) *wanLineBench {
	acMAC := net.HardwareAddr{0x02, 0xac, 0, 0, 0, 1}
	var port *wanport.Port
	o := benchOpts{}
	if vlan != 0 || pppoe {
		o.wrapWAN = func(l link.Link) link.Link {
			port = wanport.New(l, wanport.Config{VLAN: vlan, PPPoE: pppoe, MTU: 1492})
			return port
		}
	}
	w := &wanLineBench{bench: newBenchWith(b, o)}
	w.write(w.lan, arpFrame(b, layers.ARPRequest, hostMAC, host, nil, routerIP))
	w.read(w.lan)
	peerMAC := gwMAC
	switch {
	case pppoe:
		peer := netip.MustParseAddr("10.64.64.64")
		port.SetSession(&wanport.Session{ID: 0x2a, AC: acMAC})
		w.dp.SetWANPeer(peer, acMAC)
		w.dp.SetWAN(netip.PrefixFrom(netip.MustParseAddr(extIP), 32), peer)
		peerMAC = acMAC
	case vlan != 0:
		// The gateway's ARP reply must come tagged.
		w.dp.SetWAN(netip.MustParsePrefix(extIP+"/24"), netip.MustParseAddr(gwIP))
		w.read(w.wan)
		w.write(w.wan, frame(arpFrame(b, layers.ARPReply, gwMAC, gwIP, w.wanMAC(), extIP), vlan, false))
		for deadline := time.Now().Add(2 * time.Second); w.dp.ARPEntries("wan")[netip.MustParseAddr(gwIP)] == nil; {
			if time.Now().After(deadline) {
				b.Fatal("gateway not learnt")
			}
			time.Sleep(time.Millisecond)
		}
	default:
		w.upWAN()
	}
	payload := string(make([]byte, size-14-20-8))
	for i := range wanLineFlows {
		w.up = append(w.up, udpFrame(b, hostMAC, w.lanMAC(), host, remote, uint16(5000+i), 9000, payload))
	}
	// The first pass creates the mappings; the replies go to their ports.
	for i, f := range w.collect(b, w.lan, w.up, w.wan) {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			b.Fatalf("flow %d: WAN frame %v", i, p)
		}
		inner := udpFrame(b, peerMAC, w.wanMAC(), remote, extIP, 9000, uint16(u.SrcPort), payload)
		w.down = append(w.down, frame(inner, vlan, pppoe))
	}
	w.collect(b, w.wan, w.down, w.lan)
	return w
}

// frame puts an untagged Ethernet frame on the line: in a PPPoE session
// (0x2a), then in VLAN vlan.
func frame(inner []byte, vlan uint16, pppoe bool) []byte {
	out := append([]byte(nil), inner[:12]...)
	if vlan != 0 {
		out = append(out, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	if pppoe {
		n := len(inner) - 14 + 2
		out = append(out, 0x88, 0x64, 0x11, 0x00, 0x00, 0x2a, byte(n>>8), byte(n), 0x00, 0x21)
	} else {
		out = append(out, inner[12:14]...)
	}
	return append(out, inner[14:]...)
}

// collect writes frames on from and returns as many read on to.
func (w *wanLineBench) collect(b *testing.B, from *link.PipeEnd, frames [][]byte, to *link.PipeEnd) [][]byte {
	if err := link.WriteFrames(from, frames...); err != nil {
		b.Fatal(err)
	}
	var got [][]byte
	for len(got) < len(frames) {
		fs, err := link.ReadFrames(to, len(frames)-len(got), 2*time.Second)
		if err != nil || len(fs) == 0 {
			b.Fatalf("%d of %d frames forwarded (%v)", len(got), len(frames), err)
		}
		got = append(got, fs...)
	}
	return got
}

// run forwards at least b.N frames, a batch at a time, and reports the
// time per packet.
func (w *wanLineBench) run(b *testing.B, from *link.PipeEnd, frames [][]byte, to *link.PipeEnd) {
	buf := make([]link.Frame, len(frames))
	b.SetBytes(int64(len(frames[0])))
	b.ResetTimer()
	done := 0
	for done < b.N {
		if err := link.WriteFrames(from, frames...); err != nil {
			b.Fatal(err)
		}
		stuck := time.Now().Add(2 * time.Second)
		for got := 0; got < len(frames); {
			n, err := to.ReadBatch(buf[:len(frames)-got])
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 && time.Now().After(stuck) {
				b.Fatalf("%d of %d frames of a batch forwarded", got, len(frames))
			}
			got += n
		}
		done += len(frames)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/pkt")
}
