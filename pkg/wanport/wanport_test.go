package wanport

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/link"
)

var (
	acMAC  = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 1}
	gwMAC  = net.HardwareAddr{0x02, 0x99, 0, 0, 0, 1} // what the data plane's ARP would give
	lineIP = []byte{203, 0, 113, 2}
)

// udpFrame is an untagged Ethernet frame with IPv4/UDP from src, built by
// gopacket (the independent oracle).
func udpFrame(t *testing.T, dst, src net.HardwareAddr, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: lineIP, DstIP: net.IP{198, 51, 100, 7}, Flags: layers.IPv4DontFragment}
	udp := &layers.UDP{SrcPort: 4500, DstPort: 4500}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(bytes.Repeat([]byte{0xab}, payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lineSide returns the port under test over a pipe and the other end (the
// ISP's side).
func lineSide(t *testing.T, c Config) (*Port, link.Link) {
	t.Helper()
	a, b, err := link.NewPipe(link.PipeConfig{NameA: "wan", NameB: "isp", MTU: 1500, PollTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return New(a, c), b
}

func write(t *testing.T, l link.Link, frames ...[]byte) {
	t.Helper()
	if _, err := l.WriteBatch(link.Plain(frames...)); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, l link.Link, want int) [][]byte {
	t.Helper()
	var out [][]byte
	frames := make([]link.Frame, 16)
	deadline := time.Now().Add(2 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := l.ReadBatch(frames)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames[:n] {
			out = append(out, bytes.Clone(f.Data))
		}
	}
	return out
}

// readNone checks that nothing reaches the reader within a poll.
func readNone(t *testing.T, l link.Link) {
	t.Helper()
	frames := make([]link.Frame, 16)
	for range 3 {
		if n, _ := l.ReadBatch(frames); n != 0 {
			t.Fatalf("%d frames came through: % x", n, frames[0].Data)
		}
	}
}

func TestVLANTagAddedAndRemoved(t *testing.T) {
	p, isp := lineSide(t, Config{VLAN: 7, Priority: 5})
	f := udpFrame(t, gwMAC, p.MAC(), 100)
	write(t, p, f)
	got := readAll(t, isp, 1)
	if len(got) != 1 {
		t.Fatalf("%d frames at the ISP", len(got))
	}
	pkt := gopacket.NewPacket(got[0], layers.LayerTypeEthernet, gopacket.Default)
	tag, ok := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	if !ok || tag.VLANIdentifier != 7 || tag.Priority != 5 || tag.Type != layers.EthernetTypeIPv4 {
		t.Fatalf("tag %+v in %v", tag, pkt)
	}
	if ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); !ok || !ip.DstIP.Equal(net.IP{198, 51, 100, 7}) {
		t.Fatalf("no IPv4 inside the tag: %v", pkt)
	}
	// Back: the tagged frame arrives untagged, the same bytes as sent.
	write(t, isp, got[0])
	back := readAll(t, p, 1)
	if len(back) != 1 || !bytes.Equal(back[0], f) {
		t.Fatalf("untagged frame % x, want % x", back, f)
	}
	// Untagged and other VLANs are not the ISP's: dropped.
	other := bytes.Clone(got[0])
	other[15] = 8
	write(t, isp, f, other)
	readNone(t, p)
	if c := p.Counters(); c.RxWrongVLAN != 2 {
		t.Errorf("RxWrongVLAN %d, want 2", c.RxWrongVLAN)
	}
}

func TestPPPoESessionFraming(t *testing.T) {
	var control [][]byte
	p, isp := lineSide(t, Config{VLAN: 10, PPPoE: true, MTU: 1492, Control: func(b []byte) { control = append(control, bytes.Clone(b)) }})
	if p.MTU() != 1492 || p.Offloads() {
		t.Fatalf("MTU %d offloads %v", p.MTU(), p.Offloads())
	}
	f := udpFrame(t, gwMAC, p.MAC(), 200)

	// No session yet: IPv4 is not sent.
	write(t, p, f)
	readNone(t, isp)
	if c := p.Counters(); c.TxNoSession != 1 {
		t.Fatalf("TxNoSession %d", c.TxNoSession)
	}

	p.SetSession(&Session{ID: 0x1234, AC: acMAC})
	write(t, p, f)
	got := readAll(t, isp, 1)
	if len(got) != 1 {
		t.Fatalf("%d frames at the concentrator", len(got))
	}
	pkt := gopacket.NewPacket(got[0], layers.LayerTypeEthernet, gopacket.Default)
	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	pe, ok := pkt.Layer(layers.LayerTypePPPoE).(*layers.PPPoE)
	ppp, ok2 := pkt.Layer(layers.LayerTypePPP).(*layers.PPP)
	ip, ok3 := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !bytes.Equal(eth.DstMAC, acMAC) || !ok || !ok2 || !ok3 || pe.SessionId != 0x1234 || pe.Code != layers.PPPoECodeSession ||
		int(pe.Length) != len(f)-14+2 || ppp.PPPType != layers.PPPTypeIPv4 || !ip.DstIP.Equal(net.IP{198, 51, 100, 7}) {
		t.Fatalf("session frame: %v", pkt)
	}
	if tag := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); tag.VLANIdentifier != 10 || tag.Type != layers.EthernetTypePPPoESession {
		t.Fatalf("tag %+v", tag)
	}

	// The reply, padded as Ethernet may pad it, comes back as plain IPv4.
	reply := append(bytes.Clone(got[0]), 0, 0, 0, 0)
	copy(reply[0:6], p.MAC())
	copy(reply[6:12], acMAC)
	write(t, isp, reply)
	back := readAll(t, p, 1)
	want := bytes.Clone(f)
	copy(want[0:6], p.MAC())
	copy(want[6:12], acMAC)
	if len(back) != 1 || !bytes.Equal(back[0], want) {
		t.Fatalf("decapsulated % x\nwant % x", back, want)
	}

	// Another session, another concentrator, LCP and discovery.
	wrongID := bytes.Clone(reply)
	wrongID[20] ^= 0xff
	wrongAC := bytes.Clone(reply)
	wrongAC[11] ^= 1
	lcp := bytes.Clone(reply[:18+8+8])
	lcp[22], lcp[23] = 0, 10 // PPPoE length: protocol + 8 bytes
	lcp[24], lcp[25] = 0xc0, 0x21
	disc := bytes.Clone(reply[:18+6])
	disc[16], disc[17] = 0x88, 0x63
	write(t, isp, wrongID, wrongAC, lcp, disc)
	readNone(t, p)
	if c := p.Counters(); c.RxNoSession != 2 || c.RxControl != 2 || len(control) != 2 {
		t.Fatalf("counters %+v, %d control frames", c, len(control))
	}
	// Control frames arrive untagged, cut to the PPPoE length.
	if len(control[0]) != 14+6+10 || control[0][12] != 0x88 || control[0][13] != 0x64 || control[1][13] != 0x63 {
		t.Errorf("control frames % x", control)
	}

	// Too big for the session, ARP, and a frame of the client's own.
	write(t, p, udpFrame(t, gwMAC, p.MAC(), 1492-28+1))
	arp := bytes.Clone(f[:42])
	arp[12], arp[13] = 0x08, 0x06
	write(t, p, arp)
	own := bytes.Clone(lcp[:14])
	copy(own[12:], []byte{0x88, 0x63})
	own = append(own[:12], 0x88, 0x63, 0x11, 0x09, 0, 0, 0, 0)
	write(t, p, own)
	got = readAll(t, isp, 1)
	if len(got) != 1 || got[0][16] != 0x88 || got[0][17] != 0x63 || got[0][14]&0x0f != 0 || got[0][15] != 10 {
		t.Fatalf("the client's frame went out as % x", got)
	}
	if c := p.Counters(); c.TxTooBig != 1 || c.TxNotCarried != 1 {
		t.Errorf("counters %+v", c)
	}

	p.SetSession(nil)
	write(t, p, f)
	readNone(t, isp)
}

// TestPlainPassThrough: a Port without VLAN or PPPoE changes nothing.
func TestPlainPassThrough(t *testing.T) {
	p, isp := lineSide(t, Config{})
	f := udpFrame(t, gwMAC, p.MAC(), 60)
	write(t, p, f)
	if got := readAll(t, isp, 1); len(got) != 1 || !bytes.Equal(got[0], f) {
		t.Fatalf("% x", got)
	}
	write(t, isp, f)
	if got := readAll(t, p, 1); len(got) != 1 || !bytes.Equal(got[0], f) {
		t.Fatalf("% x", got)
	}
}
