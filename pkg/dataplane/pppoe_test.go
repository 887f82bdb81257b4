package dataplane

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/wanport"
)

// TestPPPoEWAN runs the data plane over a PPPoE line (pkg/wanport): a
// LAN host's packet leaves as a PPPoE session frame to the concentrator,
// with no ARP on the WAN, and the reply in the session reaches the host.
func TestPPPoEWAN(t *testing.T) {
	acMAC := net.HardwareAddr{0x02, 0xac, 0, 0, 0, 1}
	var port *wanport.Port
	b := newBenchWith(t, benchOpts{wrapWAN: func(l link.Link) link.Link {
		port = wanport.New(l, wanport.Config{VLAN: 7, PPPoE: true, MTU: 1492})
		return port
	}})
	b.write(b.lan, arpFrame(t, layers.ARPRequest, hostMAC, host, nil, routerIP))
	b.read(b.lan)

	peer := netip.MustParseAddr("10.64.64.64")
	port.SetSession(&wanport.Session{ID: 0x2a, AC: acMAC})
	b.dp.SetWANPeer(peer, acMAC)
	b.dp.SetWAN(netip.PrefixFrom(netip.MustParseAddr(extIP), 32), peer)
	b.none(b.wan) // no ARP for the peer

	b.write(b.lan, udpFrame(t, hostMAC, b.lanMAC(), host, remote, 5000, 9000, "hello"))
	f, err := link.ReadFrames(b.wan, 1, 2e9)
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(f[0], layers.LayerTypeEthernet, gopacket.Default)
	pe, _ := p.Layer(layers.LayerTypePPPoE).(*layers.PPPoE)
	ip := ip4(p)
	if pe == nil || pe.SessionId != 0x2a || ip == nil || ip.SrcIP.String() != extIP || eth(p).DstMAC.String() != acMAC.String() {
		t.Fatalf("WAN frame: %v", p)
	}
	if tag, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); tag == nil || tag.VLANIdentifier != 7 {
		t.Fatalf("no VLAN 7 tag: %v", p)
	}
	ext := p.Layer(layers.LayerTypeUDP).(*layers.UDP).SrcPort

	// The reply, in the session.
	inner := udpFrame(t, acMAC, b.wanMAC(), remote, extIP, 9000, uint16(ext), "reply")
	reply := append([]byte(nil), inner[:12]...)
	reply = append(reply, 0x81, 0x00, 0x00, 0x07, 0x88, 0x64, 0x11, 0x00, 0x00, 0x2a, byte((len(inner)-14+2)>>8), byte(len(inner)-14+2), 0x00, 0x21)
	reply = append(reply, inner[14:]...)
	b.write(b.wan, reply)
	p = b.read(b.lan)
	if ip4(p) == nil || ip4(p).DstIP.String() != host || string(p.ApplicationLayer().Payload()) != "reply" {
		t.Fatalf("reply not delivered: %v", p)
	}

	if c := port.Counters(); c.TxNotCarried != 0 || c.TxNoSession != 0 {
		t.Errorf("port counters %+v", c)
	}
}
