package dataplane

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// rejectAll is a SelfFilter that rejects every packet to the router.
type rejectAll struct{}

func (rejectAll) DecideSelf(packet.IPv4, bool, [6]byte) nat.FilterVerdict  { return nat.FilterReject }
func (rejectAll) DecideSelf6(packet.IPv6, bool, [6]byte) fw6.FilterVerdict { return fw6.FilterReject }

func tcpFrame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, sp, dp uint16) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tc := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: true, Seq: 1000, Window: 65535}
	tc.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc)
}

// checkReset fails unless p is a TCP reset answering a SYN of sequence
// 1000 from port sp to port dp, from src to dst, with its checksum right.
func checkReset(t *testing.T, p gopacket.Packet, src, dst string, sp, dp uint16) {
	t.Helper()
	tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("no TCP reset: %v", p)
	}
	nl := p.NetworkLayer()
	tc.SetNetworkLayerForChecksum(nl)
	if err, res := tc.VerifyChecksum(); err != nil || !res.Valid {
		t.Errorf("bad TCP checksum: %v %+v", err, res)
	}
	s, d := nl.NetworkFlow().Endpoints()
	if !tc.RST || !tc.ACK || tc.SYN || tc.Ack != 1001 || tc.SrcPort != layers.TCPPort(dp) || tc.DstPort != layers.TCPPort(sp) || s.String() != src || d.String() != dst {
		t.Errorf("reset %v → %v %+v", s, d, tc)
	}
}

// A rejected TCP connection to the router from the LAN gets a reset,
// IPv4 and IPv6, with its checksum right (gopacket); UDP gets
// administratively prohibited.
func TestSelfRejectTCPReset(t *testing.T) {
	b := newBench6(t)
	b.upWAN()
	b.dp.SetSelfFilter(rejectAll{})
	b.write(b.lan, tcpFrame(t, hostMAC, b.lanMAC(), host, routerIP, 40000, 22))
	p := b.read(b.lan)
	if e := eth(p); e.DstMAC.String() != hostMAC.String() {
		t.Errorf("reset to %v", e.DstMAC)
	}
	checkReset(t, p, routerIP, host, 40000, 22)

	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, routerIP, 5000, 53, "q"))
	p = b.read(b.lan)
	if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); !ok || ic.TypeCode != layers.CreateICMPv4TypeCode(3, 13) {
		t.Errorf("UDP rejected with %v", p)
	}

	b.write(b.lan, tcp6Frame(t, hostMAC, b.lanMAC(), host6, router6, 40000, 22, true, false, 64))
	p = b.readUntil(b.lan, "TCP reset", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeTCP) != nil })
	checkReset(t, p, router6.String(), host6.String(), 40000, 22)
	if n := b.dp.Counters().SelfFiltered; n != 3 {
		t.Errorf("SelfFiltered = %d, want 3", n)
	}
}
