package nat

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/packet"
)

// fakeFilter decides by the remote port and counts what it is asked.
type fakeFilter struct {
	asked []NewFlow
	by    map[uint16]FilterVerdict // remote (outbound) or LAN (inbound) port
}

func (f *fakeFilter) Decide(n NewFlow) FilterVerdict {
	f.asked = append(f.asked, n)
	if n.Inbound {
		return f.by[n.HostPort]
	}
	return f.by[n.RemotePort]
}

func TestFilterDecidesNewSessionsOnly(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: netip.MustParseAddr(hostA), IntStart: 80}}
	})
	f := &fakeFilter{by: map[uint16]FilterVerdict{53: FilterDrop, 25: FilterReject, 80: FilterDrop}}
	r.e.SetFilter(f)
	mac := [6]byte{2, 0, 0, 0, 0, 0x0a}
	r.e.SetFrameMAC(mac, true)

	// Accepted: a session, and its later packets are not asked about.
	for range 3 {
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 443}), Forward)
	}
	if len(f.asked) != 1 || !f.asked[0].HasMAC || f.asked[0].MAC != mac || f.asked[0].Remote != packet.AddrTo4(netip.MustParseAddr(srv)) ||
		f.asked[0].RemotePort != 443 || f.asked[0].HostPort != 5000 || f.asked[0].Inbound {
		t.Fatalf("asked %+v, want once about the first packet, with the frame's MAC", f.asked)
	}
	// Dropped: no session, and asked again next time.
	r.mustDrop(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5001, DP: 53}), ReasonFirewall)
	r.mustDrop(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5001, DP: 53}), ReasonFirewall)
	// Rejected TCP: the LAN host gets a reset, as from the server (the
	// oracle checks its checksums).
	d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 5002, DP: 25, Flags: "S"}), Reply)
	if d.TCP == nil || !d.TCP.RST || !d.TCP.ACK || d.Dst() != hostA || d.Src() != srv || d.SPort() != 25 || d.DPort() != 5002 {
		t.Fatalf("reject answered %v", d.Pkt)
	}
	// Rejected UDP: administratively prohibited.
	f.by[26] = FilterReject
	d = r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5003, DP: 26}), Reply)
	if d.ICMP == nil || d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(3, 13) || d.Dst() != hostA || d.Src() != router {
		t.Fatalf("reject answered %v", d.Pkt)
	}
	if n := len(r.sessions()); n != 1 {
		t.Fatalf("%d sessions, want only the accepted one", n)
	}
	// The router's own packets carry no LAN device's MAC.
	r.e.SetFrameMAC([6]byte{}, false)
	r.must(Outbound, udpPkt(t, pk{Src: router, Dst: srv, SP: 6000, DP: 123}), Forward)
	if last := f.asked[len(f.asked)-1]; last.HasMAC {
		t.Errorf("the router's own flow was given a MAC: %+v", last)
	}
	// Inbound through a forward: asked with Inbound, and a drop is a drop.
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 4000, DP: 8080, Flags: "S"}), ReasonFirewall)
	if last := f.asked[len(f.asked)-1]; !last.Inbound || last.HostPort != 80 || last.Host != packet.AddrTo4(netip.MustParseAddr(hostA)) {
		t.Errorf("inbound asked %+v", last)
	}
	f.by[80] = FilterReject
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 4001, DP: 8080, Flags: "S"}), ReasonFirewall)
	// Flush revisits the decisions taken.
	f.by[443] = FilterDrop
	if n := r.e.Flush(func(si SessionInfo) bool { return si.Remote.Port() == 443 }); n != 1 {
		t.Errorf("Flush removed %d", n)
	}
	c := r.e.Counters()
	if c.Drops[ReasonFirewall] != 4 || c.Drops[ReasonFirewallReject] != 2 {
		t.Errorf("drops firewall %d, firewall-reject %d", c.Drops[ReasonFirewall], c.Drops[ReasonFirewallReject])
	}
}
