package nat

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// An ICMP reply from the WAN larger than the LAN MTU with DF set must not
// be fragmented with DF cleared: like TCP and UDP, nothing is forwarded and
// "fragmentation needed" with the LAN MTU goes back to the sender, quoting
// the packet as it was received.
func TestAttack_InboundICMPDFOversize(t *testing.T) {
	r := newRig(t, func(c *Config) { c.LANMTU = 1280 })
	out := r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: srv}, 8, 7, 1), Forward)
	big := make([]byte, 1400)
	reply := icmpPkt(t, pk{Src: srv, Dst: extIP, DF: true, Payload: big}, 0, out.ICMP.Id, 1)
	res := r.send(Inbound, reply)
	if res.Verdict != Reply || len(r.e.More()) != 0 {
		t.Fatalf("oversize DF echo reply: %v %v (%d more), want an ICMP error back", res.Verdict, res.Reason, len(r.e.More()))
	}
	d := oracle(t, res.Packet)
	if d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || d.Src() != extIP || d.Dst() != srv {
		t.Fatalf("got %v %s→%s, want 3/4 %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst(), extIP, srv)
	}
	if mtu := uint16(d.ICMP.Seq); mtu != 1280 {
		t.Fatalf("next-hop MTU %d, want 1280", mtu)
	}
	emb := embeddedOracle(t, d)
	if emb.DstIP.String() != extIP || emb.SrcIP.String() != srv || emb.Flags&layers.IPv4DontFragment == 0 {
		t.Fatalf("quoted packet %s→%s flags %v: not the packet as received", emb.SrcIP, emb.DstIP, emb.Flags)
	}
	// Without DF it is fragmented to the LAN MTU, as TCP and UDP are.
	reply = icmpPkt(t, pk{Src: srv, Dst: extIP, Payload: big}, 0, out.ICMP.Id, 2)
	res = r.send(Inbound, reply)
	if res.Verdict != Forward || len(r.e.More()) == 0 {
		t.Fatalf("oversize echo reply without DF: %v %v", res.Verdict, res.Reason)
	}
	// An oversize DF packet the NAT would not forward anyway gets no error.
	r.mustDrop(Inbound, icmpPkt(t, pk{Src: srv, Dst: extIP, DF: true, Payload: big}, 0, 999, 1), ReasonNoSession)
}
