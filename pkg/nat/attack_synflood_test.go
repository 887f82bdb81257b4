package nat

import (
	"fmt"
	"testing"
	"time"
)

// spoofed is the i-th forged WAN source address (TEST-NET-2 and -3 and
// public space, never the server the tests use).
func spoofed(i int) string {
	return fmt.Sprintf("100.%d.%d.%d", 64+i>>16&63, i>>8&255, i&255)
}

func countForwarded(r *rig) (n int, states map[string]int) {
	states = map[string]int{}
	for _, s := range r.sessions() {
		if s.Forwarded {
			n++
			states[s.State]++
		}
	}
	return n, states
}

// An attacker floods a port forward and the DMZ with forged SYNs from
// spoofed sources. The LAN servers answer each with a SYN-ACK, as real
// servers do. The forged sessions must not become established (no ACK of
// the SYN-ACK ever comes), must not use up the LAN hosts' own quota — the
// hosts' own new outbound flows still work — must stay within their own
// bound, and must be gone after the transitory timeout.
func TestAttack_ForgedSYNsHoldTable(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}}
		c.DMZ = mustAddr(hostC)
	})
	hostMax := int(r.e.hostMax)
	flood := hostMax + hostMax/2
	for i := 0; i < flood; i++ {
		src := spoofed(i)
		sp := uint16(1024 + i%60000)
		for _, tc := range []struct {
			dp   uint16
			host string
			port uint16
		}{{8080, hostA, 80}, {uint16(10000 + i), hostC, uint16(10000 + i)}} {
			res := r.send(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: sp, DP: tc.dp, Flags: "S", Seq: uint32(i)}))
			if res.Verdict != Forward {
				continue // refused: fine, as long as the hosts' own traffic works
			}
			// The LAN server answers the SYN.
			r.send(Outbound, tcpPkt(t, pk{Src: tc.host, Dst: src, SP: tc.port, DP: sp, Flags: "SA", Seq: 777}))
		}
	}
	n, states := countForwarded(r)
	if states["established"] != 0 {
		t.Fatalf("forged SYNs became established: %v", states)
	}
	if limit := 2 * max(hostMax/4, 1); n > limit {
		t.Fatalf("%d sessions created from the WAN, more than the inbound quota allows (%d)", n, limit)
	}
	// The forwarded and the DMZ host's own new flows (a DNS query) still work.
	for i, h := range []string{hostA, hostC} {
		r.must(Outbound, udpPkt(t, pk{Src: h, Dst: srv, SP: uint16(53000 + i), DP: 53}), Forward)
		r.must(Outbound, tcpPkt(t, pk{Src: h, Dst: srv, SP: uint16(41000 + i), DP: 443, Flags: "S"}), Forward)
	}
	// A real client still gets through the forward during the flood, and its
	// completed handshake is established.
	r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 50000, DP: 8080, Flags: "S"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv2, SP: 80, DP: 50000, Flags: "SA", Seq: 9000}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 50000, DP: 8080, Flags: "A", Seq: 1001, Ack: 9001}), Forward)

	// After the transitory timeout only the real connection and the hosts'
	// own flows are left.
	r.advance(r.e.cfg.Timeouts.TCPTransitory + 3*time.Second)
	for _, s := range r.sessions() {
		if s.Forwarded && s.Remote.Addr().String() != srv2 {
			t.Fatalf("forged session %v (%s) outlived the transitory timeout", s.Remote, s.State)
		}
		if s.Forwarded && s.State != "established" {
			t.Fatalf("the real client's connection is %s", s.State)
		}
	}
	if n, _ := countForwarded(r); n != 1 {
		t.Fatalf("%d WAN-created sessions left, want the real client's only", n)
	}
}

// Sessions that WAN clients complete (a botnet with real addresses) count
// against their own per-host quota, never against the LAN host's quota for
// its own outbound flows.
func TestAttack_CompletedInboundFloodKeepsHostQuota(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}}
	})
	hostMax := int(r.e.hostMax)
	admitted := 0
	for i := 0; i < hostMax+10; i++ {
		src := spoofed(i)
		res := r.send(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: 40000, DP: 8080, Flags: "S"}))
		if res.Verdict != Forward {
			continue
		}
		admitted++
		r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: src, SP: 80, DP: 40000, Flags: "SA", Seq: 5000}), Forward)
		r.must(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: 40000, DP: 8080, Flags: "A", Seq: 1001, Ack: 5001}), Forward)
	}
	if admitted >= hostMax {
		t.Fatalf("%d connections from the WAN admitted: the per-host inbound quota did not hold", admitted)
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 53000, DP: 53}), Forward)
}

// The DMZ host gets unsolicited connections, but an inbound SYN-ACK that
// answers no outbound SYN opens nothing, and a forged SYN's session is
// established only by an ACK of the DMZ host's own SYN-ACK.
func TestAttack_DMZSynAckEstablishes(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DMZ = mustAddr(hostC) })
	res := r.send(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5555, Flags: "SA"}))
	if res.Verdict != Drop {
		t.Fatalf("unsolicited SYN-ACK to the DMZ: %v", res.Verdict)
	}
	if s := r.sessions(); len(s) != 0 {
		t.Fatalf("unsolicited SYN-ACK created %+v", s)
	}

	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5556, Flags: "S"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostC, Dst: srv, SP: 5556, DP: 443, Flags: "SA", Seq: 70000}), Forward)
	// A blind attacker's ACK (it never saw the SYN-ACK) and a RST followed
	// by another segment do not establish it.
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5556, Flags: "A", Seq: 1001, Ack: 12345}), Forward)
	r.send(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5556, Flags: "R", Seq: 1001}))
	r.send(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5556, Flags: "A", Seq: 1001}))
	if s := r.sessions(); len(s) != 1 || s[0].State != "syn-received" {
		t.Fatalf("after forged ACK/RST: %+v", s)
	}
	r.advance(r.e.cfg.Timeouts.TCPTransitory + 3*time.Second)
	if s := r.sessions(); len(s) != 0 {
		t.Fatalf("unconfirmed DMZ session outlived the transitory timeout: %+v", s)
	}

	// The real handshake establishes it.
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5557, Flags: "S"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostC, Dst: srv, SP: 5557, DP: 443, Flags: "SA", Seq: 70000}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 5557, Flags: "A", Seq: 1001, Ack: 70001}), Forward)
	if s := r.sessions(); len(s) != 1 || s[0].State != "established" {
		t.Fatalf("after the real handshake: %+v", s)
	}
}

// A UDP flood from spoofed sources at the DMZ host: the host never answers,
// so the sessions stay unconfirmed and within their table-wide bound; a
// flow the DMZ host answers is confirmed and survives the flood.
func TestAttack_ForgedUDPToDMZ(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DMZ = mustAddr(hostC) })
	r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 27005, DP: 27015}), Forward)
	r.must(Outbound, udpPkt(t, pk{Src: hostC, Dst: srv, SP: 27015, DP: 27005}), Forward)
	for i := 0; i < int(r.e.hostMax); i++ {
		r.send(Inbound, udpPkt(t, pk{Src: spoofed(i), Dst: extIP, SP: 27005, DP: uint16(20000 + i)}))
	}
	n, _ := countForwarded(r)
	if limit := int(max(r.e.hostMax/8, 1)); n > limit+1 {
		t.Fatalf("%d sessions from the WAN, more than %d unconfirmed and the answered one", n, limit)
	}
	found := false
	for _, s := range r.sessions() {
		found = found || s.Remote.Addr().String() == srv
	}
	if !found {
		t.Fatal("the flow the DMZ host answered was evicted by the flood")
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostC, Dst: srv2, SP: 53001, DP: 53}), Forward)
}

// A LAN client reaching a forward through the external address (hairpin)
// completes its handshake like a WAN client.
func TestForwardHandshakeThroughHairpin(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}}
	})
	d := r.must(Outbound, tcpPkt(t, pk{Src: hostB, Dst: extIP, SP: 45000, DP: 8080, Flags: "S"}), Hairpin)
	bExt := d.SPort()
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: extIP, SP: 80, DP: bExt, Flags: "SA", Seq: 4000}), Hairpin)
	r.must(Outbound, tcpPkt(t, pk{Src: hostB, Dst: extIP, SP: 45000, DP: 8080, Flags: "A", Seq: 1001, Ack: 4001}), Hairpin)
	for _, s := range r.sessions() {
		if s.State != "established" {
			t.Fatalf("%v → %v: %s", s.Internal, s.Remote, s.State)
		}
	}
}
