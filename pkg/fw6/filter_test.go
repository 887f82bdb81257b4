package fw6

import (
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

type fakeFilter struct {
	asked []NewFlow
	by    map[uint16]FilterVerdict // by remote port
}

func (f *fakeFilter) Decide6(n NewFlow) FilterVerdict {
	f.asked = append(f.asked, n)
	return f.by[n.RemotePort]
}

// The firewall's rules over IPv6: asked once per new connection with the
// frame's MAC; a drop is silent, a reject answers a TCP reset or
// administratively prohibited; the router's own connections are not asked.
func TestFilterDecidesNewSessions(t *testing.T) {
	r := newRig(t, nil)
	f := &fakeFilter{by: map[uint16]FilterVerdict{53: FilterDrop, 25: FilterReject}}
	r.e.SetFilter(f)
	mac := [6]byte{2, 0, 0, 0, 0, 0x0a}
	r.e.SetFrameMAC(mac, true)
	for range 3 {
		r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443}), Forward)
	}
	if len(f.asked) != 1 || !f.asked[0].HasMAC || f.asked[0].MAC != mac || f.asked[0].Host.String() != hostA || f.asked[0].RemotePort != 443 {
		t.Fatalf("asked %+v", f.asked)
	}
	r.mustDrop(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5001, DP: 53}), ReasonFirewall)
	// A rejected TCP connection gets a reset, as from the server (the
	// oracle checks its checksum); another protocol administratively
	// prohibited.
	res := r.e.Process(tcp6(t, pk{Src: hostA, Dst: srv, SP: 5002, DP: 25, Flags: "S"}), FromLAN)
	if res.Verdict != Reply || res.Reason != ReasonFirewallReject {
		t.Fatalf("rejected TCP: verdict %v reason %v", res.Verdict, res.Reason)
	}
	if d := oracle(t, res.Packet); d.TCP == nil || !d.TCP.RST || !d.TCP.ACK || d.Src() != srv || d.Dst() != hostA || d.TCP.SrcPort != 25 || d.TCP.DstPort != 5002 {
		t.Fatalf("rejected TCP answered %v", d.Pkt)
	}
	f.by[26] = FilterReject
	r.mustReply(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5003, DP: 26}), packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, ReasonFirewallReject)
	if n := len(r.sessions()); n != 1 {
		t.Errorf("%d sessions, want the accepted one", n)
	}
}
