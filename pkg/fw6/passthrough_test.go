package fw6

import (
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// The VPN passthrough switches (pptp, l2tp, ipsec) govern the same
// protocols over IPv6: off, they are blocked both ways and counted, and
// switching one off ends its flows.

func TestPassthrough_SwitchesBlockOverIPv6(t *testing.T) {
	// inOff is why the inbound packet is refused with the switch off:
	// protocols without ports and inbound IPsec are blocked as such; a
	// TCP or UDP answer simply finds no session.
	type flow struct {
		out, in []byte
		inOff   Reason
	}
	flows := func(t *testing.T) map[string][]flow {
		return map[string][]flow{
			"pptp": {
				{tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 1723, Flags: "S"}), tcp6(t, pk{Src: srv, Dst: hostA, SP: 1723, DP: 40000, Flags: "SA"}), ReasonNoSession},
				{raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoGRE, gre(7)), raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoGRE, gre(9)), ReasonBlocked},
			},
			"l2tp": {
				{udp6(t, pk{Src: hostA, Dst: srv, SP: 1701, DP: 1701}), udp6(t, pk{Src: srv, Dst: hostA, SP: 1701, DP: 1701}), ReasonNoSession},
			},
			"ipsec": {
				{udp6(t, pk{Src: hostA, Dst: srv, SP: 500, DP: 500}), udp6(t, pk{Src: srv, Dst: hostA, SP: 500, DP: 500}), ReasonBlocked},
				{udp6(t, pk{Src: hostA, Dst: srv, SP: 4500, DP: 4500}), udp6(t, pk{Src: srv, Dst: hostA, SP: 4500, DP: 4500}), ReasonBlocked},
				{raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoESP, esp(1)), raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(2)), ReasonBlocked},
			},
		}
	}
	off := map[string]func(*Passthrough){
		"pptp":  func(p *Passthrough) { p.PPTP = false },
		"l2tp":  func(p *Passthrough) { p.L2TP = false },
		"ipsec": func(p *Passthrough) { p.IPsec = false },
	}
	blocked := map[string]func(BlockedCounters) uint64{
		"pptp":  func(b BlockedCounters) uint64 { return b.PPTP },
		"l2tp":  func(b BlockedCounters) uint64 { return b.L2TP },
		"ipsec": func(b BlockedCounters) uint64 { return b.IPsec },
	}
	for name, fs := range flows(t) {
		t.Run(name+" on", func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.InboundIPsec = false })
			for _, f := range fs {
				r.must(FromLAN, f.out, Forward)
				r.must(FromWAN, f.in, Forward)
			}
		})
		t.Run(name+" off", func(t *testing.T) {
			r := newRig(t, func(c *Config) { off[name](&c.Passthrough) })
			for _, f := range fs {
				r.mustDrop(FromLAN, f.out, ReasonBlocked)
				r.mustDrop(FromWAN, f.in, f.inOff)
			}
			if n := blocked[name](r.e.Counters().Blocked); n < uint64(len(fs)) {
				t.Fatalf("%d blocked counted", n)
			}
			if len(r.sessions()) != 0 {
				t.Fatal("a blocked protocol opened a session")
			}
		})
		t.Run(name+" switched off", func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.InboundIPsec = false })
			for _, f := range fs {
				r.must(FromLAN, f.out, Forward)
			}
			r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53}), Forward) // unrelated
			c := r.e.Config()
			off[name](&c.Passthrough)
			n, err := r.e.Reconfigure(c)
			if err != nil || n != len(fs) {
				t.Fatalf("Reconfigure flushed %d (%v), want %d", n, err, len(fs))
			}
			for _, f := range fs {
				if res := r.send(FromWAN, f.in); res.Verdict != Drop {
					t.Fatalf("after switching off: %v", res.Verdict)
				}
				r.mustDrop(FromLAN, f.out, ReasonBlocked)
			}
			if s := r.sessions(); len(s) != 1 || s[0].Remote.Port() != 53 {
				t.Fatalf("sessions left: %+v", s)
			}
		})
	}
}

func TestPassthrough_AHBlockedWithIPsecOff(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Passthrough.IPsec = false })
	r.mustDrop(FromLAN, withAH(t, tcp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 443, Flags: "S"})), ReasonBlocked)
	r.mustDrop(FromWAN, withAH(t, udp6(t, pk{Src: srv, Dst: hostA, SP: 1, DP: 443})), ReasonBlocked)
}

func TestPassthrough_PPTPControlConnectionOpensGRE(t *testing.T) {
	r := newRig(t, nil)
	r.established(hostA, 40000, srv, 1723)
	// The server's GRE may come before the client's (its first data after
	// Outgoing-Call-Reply): the control connection has opened the way.
	d := r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoGRE, gre(0x4242)), Forward)
	if d.Dst() != hostA {
		t.Fatal(d.Dst())
	}
	// Only for that server and that host.
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv2, Dst: hostA}, packet.ProtoGRE, gre(0x4242)), ReasonNoSession)
	r.mustDrop(FromWAN, raw6(t, pk{Src: srv, Dst: hostB}, packet.ProtoGRE, gre(0x4242)), ReasonNoSession)
	// The control connection's keepalives keep GRE alive while it idles.
	for range 4 {
		r.advance(200e9)
		r.must(FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 1723, Flags: "PA"}), Forward)
	}
	r.must(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoGRE, gre(0x4242)), Forward)
}

func TestPassthrough_L2TPServerAnswersFromAnotherPort(t *testing.T) {
	// RFC 2661 §8.1: address-dependent filtering (the default) lets it in.
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 1701, DP: 1701}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostA, SP: 33000, DP: 1701}), Forward)
}
