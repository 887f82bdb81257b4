package main

import (
	"net/netip"
	"testing"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/firewall"
	"github.com/passgate/passgate/pkg/packet"
)

// The data plane only queues a hit (no allocation under its lock); the
// logging goroutine formats it.
func TestFirewallHitQueued(t *testing.T) {
	f := newFirewallService()
	h := firewall.Hit{Rule: "no-ssh", Action: config.ActionDrop, Proto: packet.ProtoTCP,
		Src: netip.MustParseAddrPort("192.168.1.20:40000"), Dst: netip.MustParseAddrPort("192.168.1.1:22"),
		MAC: [6]byte{2, 0x11, 0x22, 0x33, 0x44, 0x55}, HasMAC: true}
	if a := testing.AllocsPerRun(10, func() { f.log.Add(h) }); a != 0 {
		t.Errorf("queueing a hit allocates %v times", a)
	}
	want := "firewall: rule no-ssh drop tcp 192.168.1.20:40000 → 192.168.1.1:22 device 02:11:22:33:44:55"
	if got := hitLine(h); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	h.Proto, h.HasMAC = packet.ProtoICMPv6, false
	h.Src, h.Dst = netip.MustParseAddrPort("[2a00::20]:0"), netip.MustParseAddrPort("[2a00::1]:0")
	if got := hitLine(h); got != "firewall: rule no-ssh drop icmp [2a00::20]:0 → [2a00::1]:0" {
		t.Errorf("%q", got)
	}
}
