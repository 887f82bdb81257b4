package fw6

import (
	"testing"
)

func TestForwardTCPBothWays(t *testing.T) {
	r := newRig(t, nil)
	d := r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S", HL: 64}), Forward)
	if d.IP.HopLimit != 63 || d.Src() != hostA || d.Dst() != srv {
		t.Fatalf("forwarded %s→%s hop limit %d", d.Src(), d.Dst(), d.IP.HopLimit)
	}
	d = r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "SA", HL: 50}), Forward)
	if d.IP.HopLimit != 49 || !d.TCP.SYN || !d.TCP.ACK {
		t.Fatalf("reply hop limit %d", d.IP.HopLimit)
	}
	r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"}), Forward)
	s := r.sessions()
	if len(s) != 1 || s[0].State != "established" || s[0].LAN.String() != "["+hostA+"]:40000" || s[0].Remote.Port() != 443 ||
		s[0].PacketsOut != 2 || s[0].PacketsIn != 1 || !s[0].Replied || s[0].Inbound {
		t.Fatalf("sessions %+v", s)
	}
}

func TestUnsolicitedInboundDropped(t *testing.T) {
	r := newRig(t, nil)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 53, DP: 5353}), ReasonNoSession)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 22, Flags: "S"}), ReasonUnsolicitedSYN)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 22, Flags: "A"}), ReasonNoSession)
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions from unsolicited packets", n)
	}
}
