package passthrough

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat"
)

// The DMZ host gets all unsolicited inbound traffic — GRE, ESP and other
// protocols without ports too — and its answers go out; but never traffic
// of a remote another LAN host has a PPTP call or an ESP SA with.
func TestDMZGetsGREAndESP(t *testing.T) {
	const remote = "198.51.100.9"
	r := newRig(t, func(nc *nat.Config, _ *Config) { nc.DMZ = netip.MustParseAddr(lan3) })
	in := func(pkt []byte, want string) {
		t.Helper()
		d := r.must(nat.Inbound, pkt, nat.Forward)
		if d.Dst() != want {
			t.Fatalf("delivered to %s, want %s", d.Dst(), want)
		}
	}
	out := func(pkt []byte) {
		t.Helper()
		if d := r.must(nat.Outbound, pkt, nat.Forward); d.Src() != extIP {
			t.Fatalf("left with source %s", d.Src())
		}
	}
	// A PPTP server on the DMZ host: its GRE both ways, and plain GRE.
	in(gre(t, remote, extIP, 0x42, u32(1), nil, []byte{0xff, 3, 0, 0x21}), lan3)
	out(gre(t, lan3, remote, 0x99, u32(1), nil, []byte{0xff, 3, 0, 0x21}))
	in(ipPkt(t, remote, extIP, layers.IPProtocolGRE, []byte{0, 0, 0x08, 0, 0x45, 0, 0, 20}), lan3)
	// Raw ESP to an IPsec responder on the DMZ host; its answer opens an
	// SA, and the initiator's next SPI binds to it as to any LAN host.
	in(esp(t, remote, extIP, 0x5001, 1), lan3)
	r.espOut(lan3, remote, 0x6001, 1)
	r.espIn(remote, 0x5001, 2, lan3)
	// IPv6 in IPv4 (protocol 41), both ways: an IPv6 header with no
	// next header.
	v6 := make([]byte, 48)
	v6[0], v6[5], v6[6], v6[7] = 0x60, 8, 59, 64
	in(ipPkt(t, remote, extIP, layers.IPProtocolIPv6, v6), lan3)
	out(ipPkt(t, lan3, remote, layers.IPProtocolIPv6, v6))
	// Another LAN host's protocol-41 packet is nobody's answer.
	r.mustDrop(nat.Outbound, ipPkt(t, lan1, remote, layers.IPProtocolIPv6, v6), nat.ReasonProtocol)

	// lan1 has a raw ESP tunnel and a PPTP call with server: the server's
	// unknown SPIs and Call IDs are never the DMZ host's.
	r.espUp(lan1, server, 0x1001, 0xb001)
	c := openCtrl(r, lan1, 40001)
	c.call(0x100, 0x700)
	r.advance(ESPUnboundTimeout) // no learner holds the server's lock
	r.mustDrop(nat.Inbound, esp(t, server, extIP, 0xbad, 1), nat.ReasonNoMapping)
	r.mustDrop(nat.Inbound, gre(t, server, extIP, 0x4444, u32(1), nil, nil), nat.ReasonNoSession)
	r.mustDrop(nat.Outbound, gre(t, lan3, server, 0x4444, u32(1), nil, nil), nat.ReasonNoSession)

	// With PPTP passthrough off, GRE is blocked for everyone.
	r2 := newRig(t, func(nc *nat.Config, c *Config) { nc.DMZ = netip.MustParseAddr(lan3); c.PPTP = false })
	r2.mustDrop(nat.Inbound, gre(t, remote, extIP, 0x42, u32(1), nil, nil), nat.ReasonBlocked)
}
