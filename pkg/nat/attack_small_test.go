package nat

import "testing"

// A LAN host sending an ICMP timestamp request to the router's external
// address must not make the router send a packet from its external
// address to itself out of the WAN port.
func TestAttack_HairpinICMPTimestamp(t *testing.T) {
	r := newRig(t, nil)
	res := r.send(Outbound, icmpPkt(t, pk{Src: hostA, Dst: extIP}, 13, 5, 1))
	if res.Verdict == Forward {
		d := oracle(t, res.Packet)
		t.Fatalf("hairpinned timestamp request left the WAN port %s→%s", d.Src(), d.Dst())
	}
	if res.Verdict != Drop || res.Reason != ReasonICMPType {
		t.Fatalf("got %v %v, want drop %v", res.Verdict, res.Reason, ReasonICMPType)
	}
	// Pinging the external address is still answered by the router.
	r.must(Outbound, icmpPkt(t, pk{Src: hostA, Dst: extIP}, 8, 5, 1), Reply)
}

// A segment that the filtering behaviour lets in (no session with that
// remote port) reaches the LAN host; the host's RST answering it must
// reach the remote, translated through the mapping, and create no session.
func TestAttack_LANResetAfterFilteredIn(t *testing.T) {
	for _, f := range []Filtering{EndpointIndependent, AddressDependent} {
		r := newRig(t, func(c *Config) { c.Filtering = f })
		out := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
		ext := out.SPort()
		r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: ext, Flags: "SA"}), Forward)
		// The same server from another port: let in by the filtering.
		d := r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 8443, DP: ext, Flags: "A"}), Forward)
		if d.Dst() != hostA || d.DPort() != 40000 {
			t.Fatalf("%v: delivered to %s:%d", f, d.Dst(), d.DPort())
		}
		before := r.e.Counters().Sessions
		d = r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 8443, Flags: "R"}), Forward)
		if d.Src() != extIP || d.SPort() != ext || !d.TCP.RST {
			t.Fatalf("%v: RST went out as %s:%d", f, d.Src(), d.SPort())
		}
		if after := r.e.Counters().Sessions; after != before {
			t.Fatalf("%v: the RST created a session (%d → %d)", f, before, after)
		}
		// A RST from an endpoint without a mapping still opens nothing.
		r.mustDrop(Outbound, tcpPkt(t, pk{Src: hostB, Dst: srv, SP: 40001, DP: 443, Flags: "R"}), ReasonNoSession)
	}
}
