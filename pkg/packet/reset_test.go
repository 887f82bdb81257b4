package packet

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The resets are checked against gopacket: it decodes them, and its
// serialization with computed checksums gives the same bytes.
func TestTCPReset(t *testing.T) {
	for _, c := range []struct {
		name          string
		syn, ack, fin bool
		rst           bool
		payload       string
		seq, ackNum   uint32
		wantFlags     uint8
		wantSeq       uint32
		wantAck       uint32
	}{
		{name: "syn", syn: true, seq: 1000, wantFlags: TCPRst | TCPAck, wantAck: 1001},
		{name: "syn wrapping", syn: true, seq: 0xffffffff, wantFlags: TCPRst | TCPAck, wantAck: 0},
		{name: "data with ack", ack: true, seq: 5000, ackNum: 777, payload: "hello", wantFlags: TCPRst, wantSeq: 777},
		{name: "fin with data, no ack", fin: true, seq: 10, payload: "abc", wantFlags: TCPRst | TCPAck, wantAck: 14},
		{name: "rst", rst: true, seq: 1},
	} {
		for _, v6 := range []bool{false, true} {
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 8080, Seq: c.seq, Ack: c.ackNum, SYN: c.syn, ACK: c.ack, FIN: c.fin, RST: c.rst, Window: 64240}
			var orig []byte
			buf := make([]byte, 100)
			var got []byte
			if v6 {
				ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: net.ParseIP("2a00:1:2:3::20"), DstIP: net.ParseIP("2a00:1:2:3::1")}
				tcp.SetNetworkLayerForChecksum(ip)
				orig = ser(t, ip, tcp, gopacket.Payload(c.payload))
				got = PutTCPReset6(buf, IPv6(orig), IPv6HeaderLen)
			} else {
				ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 1, 20}, DstIP: net.IP{198, 51, 100, 7}}
				tcp.SetNetworkLayerForChecksum(ip)
				orig = ser(t, ip, tcp, gopacket.Payload(c.payload))
				got = PutTCPReset4(buf, IPv4(orig))
			}
			name := c.name + map[bool]string{false: " v4", true: " v6"}[v6]
			if c.rst {
				if got != nil {
					t.Errorf("%s: a reset answered", name)
				}
				continue
			}
			if got == nil {
				t.Fatalf("%s: no reset", name)
			}
			first := layers.LayerTypeIPv4
			if v6 {
				first = layers.LayerTypeIPv6
			}
			if want := reserialize(t, got, first); !bytes.Equal(got, want) {
				t.Errorf("%s: reset\n% x\ngopacket with its checksums\n% x", name, got, want)
			}
			pkt := gopacket.NewPacket(got, first, gopacket.Default)
			src, dst := pkt.NetworkLayer().NetworkFlow().Endpoints()
			osrc, odst := gopacket.NewPacket(orig, first, gopacket.Default).NetworkLayer().NetworkFlow().Endpoints()
			if src != odst || dst != osrc {
				t.Errorf("%s: %v → %v, want %v → %v", name, src, dst, odst, osrc)
			}
			r := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			var fl uint8
			if r.RST {
				fl |= TCPRst
			}
			if r.ACK {
				fl |= TCPAck
			}
			if r.SYN || r.FIN || r.PSH || len(r.Payload) != 0 {
				fl |= 0x80
			}
			if r.SrcPort != 8080 || r.DstPort != 40000 || fl != c.wantFlags || r.Seq != c.wantSeq || r.Ack != c.wantAck {
				t.Errorf("%s: %d→%d flags %#x seq %d ack %d, want 8080→40000 %#x %d %d", name, r.SrcPort, r.DstPort, fl, r.Seq, r.Ack, c.wantFlags, c.wantSeq, c.wantAck)
			}
			if a := testing.AllocsPerRun(10, func() {
				if v6 {
					PutTCPReset6(buf, IPv6(orig), IPv6HeaderLen)
				} else {
					PutTCPReset4(buf, IPv4(orig))
				}
			}); a != 0 {
				t.Errorf("%s: %v allocations", name, a)
			}
		}
	}
	// Not TCP, cut short, a later fragment: no reset.
	udp := make([]byte, 28)
	IPv4(udp).PutHeader(IPv4Header{TTL: 64, Protocol: ProtoUDP, Src: 1, Dst: 2})
	short := make([]byte, 30)
	IPv4(short).PutHeader(IPv4Header{TTL: 64, Protocol: ProtoTCP, Src: 1, Dst: 2})
	frag := make([]byte, 40)
	IPv4(frag).PutHeader(IPv4Header{TTL: 64, Protocol: ProtoTCP, Src: 1, Dst: 2})
	frag[7] = 8 // offset 64
	for _, p := range [][]byte{udp, short, frag} {
		if PutTCPReset4(make([]byte, 64), IPv4(p)) != nil {
			t.Errorf("reset for % x", p)
		}
	}
}

// FuzzTCPReset: any bytes as the rejected packet (IPv4, or IPv6 with the
// TCP header at any offset): no panic, nothing written beyond the
// reset's length, and a reset that is returned is a TCP segment with RST
// set and a right checksum, addressed back to the sender.
func FuzzTCPReset(f *testing.F) {
	syn := make([]byte, IPv4HeaderLen+TCPHeaderLen)
	IPv4(syn).PutHeader(IPv4Header{TTL: 64, Protocol: ProtoTCP, Src: 0xc0a80114, Dst: 0xc6336401})
	syn[IPv4HeaderLen+12], syn[IPv4HeaderLen+13] = 0x50, TCPSyn
	f.Add(syn, 0)
	f.Add(append(make([]byte, IPv6HeaderLen), syn[IPv4HeaderLen:]...), IPv6HeaderLen)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		buf := bytes.Repeat([]byte{0xee}, 128)
		r := PutTCPReset4(buf, IPv4(b))
		if r != nil {
			if len(r) != TCPResetLen4 || r[9] != ProtoTCP || TCP(r[IPv4HeaderLen:]).Flags()&TCPRst == 0 {
				t.Fatalf("IPv4 reset % x", r)
			}
			ip := IPv4(r)
			if Checksum(r[:IPv4HeaderLen]) != 0 || Fold(Sum(r[IPv4HeaderLen:], PseudoHeaderSum(ip.Src(), ip.Dst(), ProtoTCP, TCPHeaderLen))) != 0 {
				t.Fatalf("IPv4 reset with a wrong checksum % x", r)
			}
			if ip.Src() != IPv4(b).Dst() || ip.Dst() != IPv4(b).Src() {
				t.Fatal("IPv4 reset not addressed back to the sender")
			}
		}
		if buf[TCPResetLen4] != 0xee {
			t.Fatal("PutTCPReset4 wrote beyond the reset")
		}
		buf = bytes.Repeat([]byte{0xee}, 128)
		r = PutTCPReset6(buf, IPv6(b), off)
		if r != nil {
			if len(r) != TCPResetLen6 || TCP(r[IPv6HeaderLen:]).Flags()&TCPRst == 0 ||
				Fold(Sum(r[IPv6HeaderLen:], PseudoHeaderSum6(r[8:24], r[24:40], ProtoTCP, TCPHeaderLen))) != 0 {
				t.Fatalf("IPv6 reset % x", r)
			}
			if !bytes.Equal(r[8:24], b[24:40]) || !bytes.Equal(r[24:40], b[8:24]) {
				t.Fatal("IPv6 reset not addressed back to the sender")
			}
		}
		if buf[TCPResetLen6] != 0xee {
			t.Fatal("PutTCPReset6 wrote beyond the reset")
		}
	})
}
