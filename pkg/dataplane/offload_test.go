package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/packet"
)

// These tests send frames with offloads (partial checksums, GSO
// super-packets) through the data plane on pipes, as a veth or virtio port
// with PACKET_VNET_HDR delivers them, and check with gopacket every frame
// that comes out: translated, checksums right (once completed), and for a
// super-packet every segment.

// makePartial turns the complete TCP or UDP checksum of an Ethernet/IPv4
// frame into a partial one (the pseudo-header sum), as a sender with TX
// checksum offload hands it over, and returns its Offload.
func makePartial(f []byte) link.Offload {
	ip := packet.IPv4(f[14:])
	ihl := ip.HeaderLen()
	at, off := ihl+16, uint16(16)
	if ip.Protocol() == packet.ProtoUDP {
		at, off = ihl+6, 6
	}
	sum := packet.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), ip.TotalLen()-ihl)
	binary.BigEndian.PutUint16(ip[at:], ^packet.Fold(sum))
	return link.Offload{NeedsCsum: true, CsumStart: uint16(14 + ihl), CsumOffset: off}
}

// superTCP builds a TCP super-packet of payload bytes in segments of mss
// from src to dst (with DF), flags ACK|PSH (and more), and its offload.
func superTCP(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, sp, dp uint16, seq uint32, mss, payload int, df bool, extra func(*layers.TCP)) ([]byte, link.Offload, []byte) {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 1000, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	if df {
		ip.Flags = layers.IPv4DontFragment
	}
	tc := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: 777, ACK: true, PSH: true, Window: 1000}
	if extra != nil {
		extra(tc)
	}
	tc.SetNetworkLayerForChecksum(ip)
	data := make([]byte, payload)
	for i := range data {
		data[i] = byte(i*31 + i>>8)
	}
	f := ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc, gopacket.Payload(data))
	o := makePartial(f)
	o.GSO, o.GSOSize = link.GSOTCPv4, uint16(mss)
	return f, o, data
}

// superUDP builds a UDP super-packet (UDP_SEGMENT): n datagrams of size
// bytes (the last last bytes), and its offload.
func superUDP(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, sp, dp uint16, size, n, last int) ([]byte, link.Offload, []byte) {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: 50, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	u.SetNetworkLayerForChecksum(ip)
	data := make([]byte, size*(n-1)+last)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	f := ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload(data))
	o := makePartial(f)
	o.GSO, o.GSOSize = link.GSOUDPL4, uint16(size)
	return f, o, data
}

// readAll reads frames from l until none arrives for a while.
func readAll(t *testing.T, l link.Link) []linkFrame {
	t.Helper()
	var out []linkFrame
	buf := make([]link.Frame, 64)
	for idle := time.Now().Add(2 * time.Second); time.Now().Before(idle); {
		n, err := l.ReadBatch(buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range buf[:n] {
			out = append(out, linkFrame{data: append([]byte(nil), f.Data...), off: f.Offload})
		}
		if n > 0 {
			idle = time.Now().Add(100 * time.Millisecond)
		} else if len(out) > 0 {
			break
		}
	}
	return out
}

type linkFrame struct {
	data []byte
	off  link.Offload
}

// checked decodes a frame and fails the test unless every checksum in it
// is right.
func checked(t *testing.T, f []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("frame does not decode: %v", el.Error())
	}
	if nl := p.NetworkLayer(); nl != nil {
		if l4, ok := p.TransportLayer().(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			l4.SetNetworkLayerForChecksum(nl)
		}
	}
	if err, bad := p.VerifyChecksums(); err != nil || len(bad) > 0 {
		t.Fatalf("checksums: %v %+v", err, bad)
	}
	return p
}

// completeCopy returns f with its partial checksum completed, as the port
// would.
func completeCopy(t *testing.T, f []byte, o link.Offload) []byte {
	t.Helper()
	c := append([]byte(nil), f...)
	if !fillChecksum(c, o) {
		t.Fatalf("offload %+v does not fit the frame", o)
	}
	return c
}

// segments returns the frames a super-packet stands for, checking what
// the data plane passed on: a super-packet with a pseudo-header checksum
// over the whole packet, cut here with segment; or segments already.
func segmentsOf(t *testing.T, got []linkFrame, wantSuper bool) [][]byte {
	t.Helper()
	if !wantSuper {
		var out [][]byte
		for _, f := range got {
			if !f.off.IsZero() {
				t.Fatalf("a port without offloads got a frame with offload %+v", f.off)
			}
			out = append(out, f.data)
		}
		return out
	}
	if len(got) != 1 || got[0].off.GSO == link.GSONone {
		t.Fatalf("want one super-packet, got %d frames (first offload %+v)", len(got), got[0].off)
	}
	f, o := got[0].data, got[0].off
	ip := packet.IPv4(f[14:])
	if ip.Check() != packet.IPv4OK || ip.TotalLen() != len(f)-14 {
		t.Fatalf("super-packet's IP header: %v, total length %d of %d", ip.Check(), ip.TotalLen(), len(f)-14)
	}
	at := int(o.CsumStart + o.CsumOffset)
	want := ^packet.Fold(packet.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), ip.TotalLen()-ip.HeaderLen()))
	if got := binary.BigEndian.Uint16(f[at:]); got != want {
		t.Fatalf("super-packet's partial checksum %#04x, want the translated pseudo-header sum %#04x", got, want)
	}
	var out [][]byte
	segment(f, o, func(n int) []byte { return make([]byte, n) }, func(s []byte) { out = append(out, s) })
	return out
}

// checkTCPSegments checks segments against the super-packet they came
// from: each at most mss bytes, sequence numbers following, IP IDs
// following, PSH on the last only, checksums right, payload in order.
func checkTCPSegments(t *testing.T, segs [][]byte, seq uint32, mss int, data []byte, src, dst string, sp, dp uint16) {
	t.Helper()
	want := (len(data) + mss - 1) / mss
	if len(segs) != want {
		t.Fatalf("%d segments, want %d", len(segs), want)
	}
	var joined []byte
	var id0 uint16
	for i, s := range segs {
		p := checked(t, s)
		ip, tc := ip4(p), p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if i == 0 {
			id0 = ip.Id
		}
		last := i == len(segs)-1
		if ip.SrcIP.String() != src || ip.DstIP.String() != dst || uint16(tc.SrcPort) != sp || uint16(tc.DstPort) != dp {
			t.Fatalf("segment %d: %v:%d → %v:%d, want %s:%d → %s:%d", i, ip.SrcIP, tc.SrcPort, ip.DstIP, tc.DstPort, src, sp, dst, dp)
		}
		if ip.TTL != 63 || ip.Id != id0+uint16(i) || int(ip.Length) != len(s)-14 {
			t.Fatalf("segment %d: TTL %d, ID %d (first %d), length %d of %d", i, ip.TTL, ip.Id, id0, ip.Length, len(s)-14)
		}
		if tc.Seq != seq+uint32(len(joined)) || !tc.ACK || tc.PSH != last || tc.Ack != 777 {
			t.Fatalf("segment %d: seq %d (want %d), ACK %v PSH %v ack %d", i, tc.Seq, seq+uint32(len(joined)), tc.ACK, tc.PSH, tc.Ack)
		}
		if len(tc.Payload) > mss || (!last && len(tc.Payload) != mss) {
			t.Fatalf("segment %d carries %d bytes, mss %d", i, len(tc.Payload), mss)
		}
		joined = append(joined, tc.Payload...)
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("the segments' payloads are not the super-packet's")
	}
}

// established opens a TCP connection from host:sp to remote:dp through the
// NAT and returns the external port.
func (b *bench) established(sp, dp uint16) uint16 {
	b.t.Helper()
	t := b.t
	syn := func(srcMAC, dstMAC net.HardwareAddr, src, dst string, s, d uint16, ack bool) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
		tc := &layers.TCP{SrcPort: layers.TCPPort(s), DstPort: layers.TCPPort(d), Seq: 1, SYN: true, ACK: ack, Window: 1000}
		tc.SetNetworkLayerForChecksum(ip)
		return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc)
	}
	b.write(b.lan, syn(hostMAC, b.lanMAC(), host, remote, sp, dp, false))
	p := b.read(b.wan)
	ext := uint16(p.Layer(layers.LayerTypeTCP).(*layers.TCP).SrcPort)
	b.write(b.wan, syn(gwMAC, b.wanMAC(), remote, extIP, dp, ext, true))
	b.read(b.lan)
	return ext
}

// TestSuperPacketTCP sends TCP super-packets both ways through the NAT and
// checks every segment, with the egress port taking offloads (one
// super-packet out, translated once) and without (segments cut here).
func TestSuperPacketTCP(t *testing.T) {
	for _, offloads := range []bool{true, false} {
		t.Run(fmt.Sprintf("egress-offloads=%v", offloads), func(t *testing.T) {
			b := newBenchWith(t, benchOpts{lanOffloads: offloads, wanOffloads: offloads})
			b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
			b.read(b.lan)
			b.upWAN()
			ext := b.established(40000, 443)

			const mss = 1448
			f, o, data := superTCP(t, hostMAC, b.lanMAC(), host, remote, 40000, 443, 5000, mss, 20*mss+333, true, nil)
			if err := writeOffloaded(b.lan, f, o); err != nil {
				t.Fatal(err)
			}
			segs := segmentsOf(t, readAll(t, b.wan), offloads)
			checkTCPSegments(t, segs, 5000, mss, data, extIP, remote, ext, 443)
			for _, s := range segs {
				if e := eth(checked(t, s)); e.DstMAC.String() != gwMAC.String() || e.SrcMAC.String() != b.wanMAC().String() {
					t.Fatalf("segment sent %v → %v", e.SrcMAC, e.DstMAC)
				}
			}

			// A download: GRO on the WAN NIC.
			f, o, data = superTCP(t, gwMAC, b.wanMAC(), remote, extIP, 443, ext, 9000, mss, 44*mss, true, nil)
			if err := writeOffloaded(b.wan, f, o); err != nil {
				t.Fatal(err)
			}
			segs = segmentsOf(t, readAll(t, b.lan), offloads)
			checkTCPSegments(t, segs, 9000, mss, data, remote, host, 443, 40000)
			c := b.dp.Counters()
			if c.SuperPackets != 2 || c.OffloadInvalid != 0 || (c.SuperSegmented == 2) == offloads {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

func writeOffloaded(l *link.PipeEnd, f []byte, o link.Offload) error {
	n, err := l.WriteBatch([]link.Frame{{Data: f, Offload: o}})
	if err == nil && n != 1 {
		err = fmt.Errorf("%s: frame not written", l.Name())
	}
	return err
}

// TestSuperPacketFlags checks FIN and CWR: FIN goes to the last segment,
// CWR to the first, as Linux's GSO does.
func TestSuperPacketFlags(t *testing.T) {
	b := newBenchWith(t, benchOpts{lanOffloads: true})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	b.established(40001, 80)
	f, o, _ := superTCP(t, hostMAC, b.lanMAC(), host, remote, 40001, 80, 1, 1000, 3500, true, func(tc *layers.TCP) { tc.FIN, tc.CWR, tc.ECE = true, true, true })
	o.ECN = true
	if err := writeOffloaded(b.lan, f, o); err != nil {
		t.Fatal(err)
	}
	segs := segmentsOf(t, readAll(t, b.wan), false)
	if len(segs) != 4 {
		t.Fatalf("%d segments", len(segs))
	}
	for i, s := range segs {
		tc := checked(t, s).Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tc.FIN != (i == 3) || tc.PSH != (i == 3) || tc.CWR != (i == 0) || !tc.ECE {
			t.Errorf("segment %d: FIN %v PSH %v CWR %v ECE %v", i, tc.FIN, tc.PSH, tc.CWR, tc.ECE)
		}
	}
}

// TestSuperPacketUDP sends a UDP_SEGMENT super-packet: every datagram
// comes out whole, in order, with its own length and checksum.
func TestSuperPacketUDP(t *testing.T) {
	for _, offloads := range []bool{true, false} {
		t.Run(fmt.Sprintf("egress-offloads=%v", offloads), func(t *testing.T) {
			b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: offloads})
			b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
			b.read(b.lan)
			b.upWAN()
			f, o, data := superUDP(t, hostMAC, b.lanMAC(), host, remote, 4433, 443, 1200, 10, 77)
			if err := writeOffloaded(b.lan, f, o); err != nil {
				t.Fatal(err)
			}
			segs := segmentsOf(t, readAll(t, b.wan), offloads)
			if len(segs) != 10 {
				t.Fatalf("%d datagrams, want 10", len(segs))
			}
			var joined []byte
			for i, s := range segs {
				p := checked(t, s)
				u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
				want := 1200
				if i == 9 {
					want = 77
				}
				if ip4(p).SrcIP.String() != extIP || len(u.Payload) != want || int(u.Length) != 8+want || u.DstPort != 443 {
					t.Fatalf("datagram %d: from %v, %d bytes (length field %d)", i, ip4(p).SrcIP, len(u.Payload), u.Length)
				}
				joined = append(joined, u.Payload...)
			}
			if !bytes.Equal(joined, data) {
				t.Fatal("datagrams do not carry the super-packet's payload in order")
			}
		})
	}
}

// TestPartialChecksum sends a UDP datagram and a TCP segment with partial
// checksums: a port with offloads gets them partial (the checksum field the
// translated pseudo-header sum), a port without gets them completed; either
// way the checksum is right once completed.
func TestPartialChecksum(t *testing.T) {
	for _, offloads := range []bool{true, false} {
		t.Run(fmt.Sprintf("egress-offloads=%v", offloads), func(t *testing.T) {
			b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: offloads})
			b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
			b.read(b.lan)
			b.upWAN()
			b.established(40002, 443)
			udp := udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9053, "partial")
			packet.IPv4(udp[14:])[6] |= 0x40 // DF
			packet.IPv4(udp[14:]).UpdateHeaderChecksum()
			uo := makePartial(udp)
			tcp, to, _ := superTCP(t, hostMAC, b.lanMAC(), host, remote, 40002, 443, 2, 1448, 500, true, nil)
			to.GSO, to.GSOSize = link.GSONone, 0
			for _, x := range []struct {
				f []byte
				o link.Offload
			}{{udp, uo}, {tcp, to}} {
				if err := writeOffloaded(b.lan, x.f, x.o); err != nil {
					t.Fatal(err)
				}
				got := readAll(t, b.wan)
				if len(got) != 1 {
					t.Fatalf("%d frames out", len(got))
				}
				f := got[0].data
				if offloads {
					if got[0].off != x.o {
						t.Fatalf("offload %+v, want %+v kept", got[0].off, x.o)
					}
					f = completeCopy(t, f, got[0].off)
				} else if !got[0].off.IsZero() {
					t.Fatalf("offload %+v on a port without", got[0].off)
				}
				if p := checked(t, f); ip4(p).SrcIP.String() != extIP {
					t.Fatalf("not translated: %v", ip4(p).SrcIP)
				}
			}
		})
	}
}

// TestPartialChecksumToRouterAndDHCP: the router's own stack (self0, no
// offloads) and the DHCP client get complete checksums.
func TestPartialChecksumToRouterAndDHCP(t *testing.T) {
	b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: true})
	f := udpFrame(t, hostMAC, b.lanMAC(), host, routerIP, 5300, 5301, "ntp?")
	o := makePartial(f)
	if err := writeOffloaded(b.lan, f, o); err != nil {
		t.Fatal(err)
	}
	fs, err := link.ReadFrames(b.kernel, 1, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checked(t, fs[0])
	offer := udpFrame(t, gwMAC, layers.EthernetBroadcast, gwIP, "255.255.255.255", 67, 68, "offer")
	o = makePartial(offer)
	if err := writeOffloaded(b.wan, offer, o); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-b.dhcp:
		if string(m[:5]) != "offer" {
			t.Fatalf("DHCP payload %q", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("DHCP message not handed to the client")
	}
	if c := b.dp.Counters(); c.ChecksumsFilled != 2 || c.OffloadInvalid != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// TestSuperPacketToRouter: a super-packet for the router's own address
// reaches self0 (no offloads) as checked segments.
func TestSuperPacketToRouter(t *testing.T) {
	b := newBenchWith(t, benchOpts{lanOffloads: true})
	f, o, data := superTCP(t, hostMAC, b.lanMAC(), host, routerIP, 40003, 22, 100, 1448, 5*1448, true, nil)
	if err := writeOffloaded(b.lan, f, o); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for _, g := range readAll(t, b.kernel) {
		segs = append(segs, g.data)
	}
	if len(segs) != 5 {
		t.Fatalf("%d segments to self0", len(segs))
	}
	var joined []byte
	for i, s := range segs {
		p := checked(t, s)
		if ip4(p).TTL != 64 || ip4(p).DstIP.String() != routerIP {
			t.Fatalf("segment %d changed on its way to the router: TTL %d to %v", i, ip4(p).TTL, ip4(p).DstIP)
		}
		joined = append(joined, p.Layer(layers.LayerTypeTCP).(*layers.TCP).Payload...)
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("payload differs")
	}
}

// TestSuperPacketSegmentedBeforeTranslation: without DF, and for a flow
// whose payload a helper rewrites, the super-packet is cut first and every
// segment translated on its own (the helper sees each; the engine may
// fragment each).
func TestSuperPacketSegmentedBeforeTranslation(t *testing.T) {
	var seen []uint16
	b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: true, payloadHelper: func(proto uint8, sport, dport uint16) bool {
		seen = append(seen, dport)
		return dport == 1723
	}})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	for _, c := range []struct {
		dport uint16
		df    bool
	}{{1723, true}, {8080, false}} {
		ext := b.established(41000+c.dport%100, c.dport)
		f, o, data := superTCP(t, hostMAC, b.lanMAC(), host, remote, 41000+c.dport%100, c.dport, 10, 1000, 4000, c.df, nil)
		if err := writeOffloaded(b.lan, f, o); err != nil {
			t.Fatal(err)
		}
		segs := segmentsOf(t, readAll(t, b.wan), false)
		checkTCPSegments(t, segs, 10, 1000, data, extIP, remote, ext, c.dport)
	}
	if c := b.dp.Counters(); c.SuperSegmented != 2 {
		t.Fatalf("counters %+v", c)
	}
}

// TestBadOffloadsDropped: offloads that do not match the packet are
// dropped and counted, and the loop goes on.
func TestBadOffloadsDropped(t *testing.T) {
	b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: true})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)
	b.upWAN()
	f, o, _ := superTCP(t, hostMAC, b.lanMAC(), host, remote, 40004, 443, 1, 1000, 5000, true, nil)
	bad := []link.Offload{
		{NeedsCsum: true, CsumStart: o.CsumStart, CsumOffset: 6, GSO: link.GSOTCPv4, GSOSize: 1000},  // UDP's offset on TCP
		{NeedsCsum: true, CsumStart: 20, CsumOffset: 16, GSO: link.GSOTCPv4, GSOSize: 1000},          // not at the TCP header
		{NeedsCsum: true, CsumStart: o.CsumStart, CsumOffset: 16, GSO: link.GSOUDPL4, GSOSize: 1000}, // UDP segments of TCP
		{NeedsCsum: true, CsumStart: o.CsumStart, CsumOffset: 16, GSO: link.GSOTCPv6, GSOSize: 1000}, // IPv6 type on IPv4
	}
	// (Offloads that cannot describe any frame never get past a link:
	// link.Offload.Valid, tested in pkg/link.)
	for _, x := range bad {
		if err := writeOffloaded(b.lan, append([]byte(nil), f...), x); err != nil {
			t.Fatal(err)
		}
	}
	b.none(b.wan)
	if c := b.dp.Counters(); c.OffloadInvalid != uint64(len(bad)) {
		t.Fatalf("counted %d of %d invalid offloads: %+v", c.OffloadInvalid, len(bad), c)
	}
	// Still forwarding.
	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, "hello"))
	if ip4(b.read(b.wan)).SrcIP.String() != extIP {
		t.Fatal("not forwarding after bad offloads")
	}
}

// TestPartialChecksumMSSClamp: the engine clamps the MSS of a SYN whose
// checksum is partial; the checksum the port completes covers the new MSS.
func TestPartialChecksumMSSClamp(t *testing.T) {
	for _, offloads := range []bool{true, false} {
		t.Run(fmt.Sprintf("egress-offloads=%v", offloads), func(t *testing.T) {
			b := newBenchWith(t, benchOpts{lanOffloads: true, wanOffloads: offloads})
			b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
			b.read(b.lan)
			b.upWAN()
			ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(host).To4(), DstIP: net.ParseIP(remote).To4()}
			tc := &layers.TCP{SrcPort: 40100, DstPort: 443, Seq: 1, SYN: true, Window: 1000,
				Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x23, 0x28}}}} // 9000
			tc.SetNetworkLayerForChecksum(ip)
			f := ser(t, &layers.Ethernet{SrcMAC: hostMAC, DstMAC: b.lanMAC(), EthernetType: layers.EthernetTypeIPv4}, ip, tc)
			if err := writeOffloaded(b.lan, f, makePartial(f)); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, b.wan)
			if len(got) != 1 {
				t.Fatalf("%d frames", len(got))
			}
			out := got[0].data
			if offloads {
				out = completeCopy(t, out, got[0].off)
			}
			syn := checked(t, out).Layer(layers.LayerTypeTCP).(*layers.TCP)
			if len(syn.Options) == 0 || syn.Options[0].OptionType != layers.TCPOptionKindMSS || binary.BigEndian.Uint16(syn.Options[0].OptionData) != 1460 {
				t.Fatalf("MSS not clamped to 1460: %+v", syn.Options)
			}
		})
	}
}
