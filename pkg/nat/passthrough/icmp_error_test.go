package passthrough

import (
	"bytes"
	"testing"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

// A router on the path between the NAT and the VPN server.
const pathRouter = "203.0.113.254"

// fragNeeded is what pathRouter sends about wan, a packet that left the
// NAT's WAN port: "fragmentation needed", next-hop MTU 1400, quoting the
// header and the first 8 bytes (RFC 792) of the packet.
func fragNeeded(t *testing.T, wan []byte) []byte {
	t.Helper()
	quote := append([]byte(nil), wan[:28]...)
	b := nattest.ICMPError(t, pathRouter, extIP, 3, 4, quote)
	c := packet.ICMP(packet.IPv4(b).Payload())
	c[6], c[7] = 1400>>8, 1400&0xff // next-hop MTU (RFC 1191)
	c.SetChecksum(0)
	c.SetChecksum(packet.Checksum(c))
	return b
}

// checkError checks an ICMP error went to host, quoting the packet host
// sent (its own address as the source, the rest unchanged).
func checkError(t *testing.T, d nattest.Decoded, host string, sent []byte) {
	t.Helper()
	if d.Dst() != host || d.Src() != pathRouter {
		t.Fatalf("ICMP error %s → %s, want %s → %s", d.Src(), d.Dst(), pathRouter, host)
	}
	emb := nattest.EmbeddedOracle(t, d)
	if emb.SrcIP.String() != host || emb.DstIP.String() != server || !bytes.Equal(emb.Payload[:8], sent[20:28]) {
		t.Fatalf("quoted packet %s → %s %x, want %s → %s %x", emb.SrcIP, emb.DstIP, emb.Payload[:8], host, server, sent[20:28])
	}
	if d.ICMP.TypeCode.Code() != 4 || d.ICMP.Seq != 1400 {
		t.Fatalf("type/code %v, next-hop MTU %d", d.ICMP.TypeCode, d.ICMP.Seq)
	}
}

// RFC 5508 REQ-4: an ICMP error about an outbound ESP or GRE packet goes
// back to the LAN host that sent it — path-MTU discovery of raw ESP and
// PPTP tunnels depends on it — and to nobody when no SA or call owns it.
func TestAttack_ICMPErrorsAboutESPAndGRE(t *testing.T) {
	r := newRig(t, nil)
	// Two raw ESP tunnels to one server, and a PPTP call from each host.
	r.espUp(lan1, server, 0x1001, 0xb001)
	r.espUp(lan2, server, 0x1002, 0xb002)
	c1 := openCtrl(r, lan1, 40001)
	a1 := c1.call(0x100, 0x700)
	c1.greRoundTrip(0x100, 0x700, a1, 1)
	c2 := openCtrl(r, lan2, 40002)
	a2 := c2.call(0x100, 0x701)
	c2.greRoundTrip(0x100, 0x701, a2, 1)

	for _, tc := range []struct {
		name string
		host string
		pkt  []byte
	}{
		{"esp lan1", lan1, esp(t, lan1, server, 0x1001, 77)},
		{"esp lan2", lan2, esp(t, lan2, server, 0x1002, 78)},
		{"gre lan1", lan1, gre(t, lan1, server, 0x700, u32(5), nil, []byte{0xff, 3, 0, 0x21, 0x45})},
		{"gre lan2", lan2, gre(t, lan2, server, 0x701, u32(6), nil, []byte{0xff, 3, 0, 0x21, 0x45})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := r.e.Translate(append([]byte(nil), tc.pkt...), nat.Outbound)
			if res.Verdict != nat.Forward {
				t.Fatalf("outbound: %v (%v)", res.Verdict, res.Reason)
			}
			d := r.must(nat.Inbound, fragNeeded(t, res.Packet), nat.Forward)
			checkError(t, d, tc.host, tc.pkt)
		})
	}
	// Errors about what no SA or call sent reach nobody: another SPI, a
	// Call ID the server did not give, another server.
	for _, pkt := range [][]byte{
		esp(t, extIP, server, 0x1003, 1),
		esp(t, extIP, server2, 0x1001, 1),
		gre(t, extIP, server, 0x702, u32(1), nil, nil),
		gre(t, extIP, server2, 0x700, u32(1), nil, nil),
	} {
		r.mustDrop(nat.Inbound, fragNeeded(t, pkt), nat.ReasonICMPNoMatch)
	}
	// Two SAs toward one server with one outbound SPI (a confused or
	// hostile server): an error about it could be either's and goes to
	// neither.
	r.espUp(lan3, server, 0x1001, 0xb003)
	r.mustDrop(nat.Inbound, fragNeeded(t, esp(t, extIP, server, 0x1001, 9)), nat.ReasonICMPNoMatch)
}
