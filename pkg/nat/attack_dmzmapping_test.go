package nat

import "testing"

// The DMZ host gets all unsolicited inbound traffic: once one remote has a
// session on a DMZ port (which makes a mapping), a second remote must reach
// that port too, whatever the filtering behaviour.
func TestAttack_DMZPortServesOneRemote(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DMZ = mustAddr(hostC) })
	for _, src := range []string{srv, srv2, "198.51.100.12"} {
		d := r.must(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: 50000, DP: 443, Flags: "S"}), Forward)
		if d.Dst() != hostC || d.DPort() != 443 {
			t.Fatalf("SYN from %s delivered to %s:%d", src, d.Dst(), d.DPort())
		}
		r.must(Outbound, tcpPkt(t, pk{Src: hostC, Dst: src, SP: 443, DP: 50000, Flags: "SA", Seq: 100}), Forward)
		r.must(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: 50000, DP: 443, Flags: "A", Seq: 1001, Ack: 101}), Forward)
		d = r.must(Inbound, udpPkt(t, pk{Src: src, Dst: extIP, SP: 27005, DP: 27015}), Forward)
		if d.Dst() != hostC || d.DPort() != 27015 {
			t.Fatalf("UDP from %s delivered to %s:%d", src, d.Dst(), d.DPort())
		}
	}
	// Still only a SYN opens a TCP connection.
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: "198.51.100.13", Dst: extIP, SP: 50000, DP: 443, Flags: "SA"}), ReasonFiltered)
}

// Under endpoint-independent filtering any remote may send a SYN to a LAN
// host's mapping. The host's SYN-ACK answering a forged SYN must not create
// an established session on the host's own quota: it is a session opened
// from the WAN, unconfirmed until the remote acknowledges the SYN-ACK.
func TestAttack_ForgedSYNToOpenMapping(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Filtering = EndpointIndependent })
	out := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 6881, DP: 6881}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 6881, DP: 6881, Flags: "S"}), Forward)
	ext := out.SPort()
	for i := 0; i < int(r.e.hostMax)+10; i++ {
		src := spoofed(i)
		if res := r.send(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: 40000, DP: ext, Flags: "S"})); res.Verdict != Forward {
			t.Fatalf("SYN %d to an open mapping: %v %v", i, res.Verdict, res.Reason)
		}
		r.send(Outbound, tcpPkt(t, pk{Src: hostA, Dst: src, SP: 6881, DP: 40000, Flags: "SA", Seq: 100}))
	}
	for _, s := range r.sessions() {
		if s.Remote.Addr().String() != srv && s.State == "established" {
			t.Fatalf("a SYN-ACK to a forged SYN made %v %s", s.Remote, s.State)
		}
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 53000, DP: 53}), Forward)
	// A real peer's handshake is established.
	r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 40001, DP: ext, Flags: "S"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv2, SP: 6881, DP: 40001, Flags: "SA", Seq: 100}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 40001, DP: ext, Flags: "A", Seq: 1001, Ack: 101}), Forward)
	for _, s := range r.sessions() {
		if s.Remote.Addr().String() == srv2 && s.State != "established" {
			t.Fatalf("the real peer's connection is %s", s.State)
		}
	}
}
