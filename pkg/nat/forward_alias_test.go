package nat

import (
	"fmt"
	"testing"
)

// TestForwardsToSameInternalEndpoint: two forwards to one internal
// host:port both work, whatever their order in the configuration and the
// seed (RFC 4787 REQ-11: deterministic). A connection through either
// external port reaches the host, the host's replies leave on the port the
// remote used, and the host's own new connections from that endpoint leave
// on the lowest of the external ports (the primary).
func TestForwardsToSameInternalEndpoint(t *testing.T) {
	web := PortForward{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}
	alt := PortForward{Name: "alt", Proto: 6, ExtStart: 443, ExtEnd: 443, Host: mustAddr(hostA), IntStart: 80}
	rng := PortForward{Name: "range", Proto: 17, ExtStart: 6000, ExtEnd: 6002, Host: mustAddr(hostB), IntStart: 7000}
	rng2 := PortForward{Name: "range2", Proto: 17, ExtStart: 5000, ExtEnd: 5002, Host: mustAddr(hostB), IntStart: 7000}
	type flow struct {
		proto   uint8
		remote  string
		rport   uint16
		ext     uint16 // external port the remote uses
		host    string
		intPort uint16
	}
	tests := []struct {
		name     string
		forwards []PortForward
		flows    []flow
		primary  map[uint8]map[uint16]uint16 // proto → internal port → external port of the host's own connections
	}{
		{"tcp, primary listed first", []PortForward{alt, web},
			[]flow{{6, srv, 4000, 8080, hostA, 80}, {6, srv2, 4001, 443, hostA, 80}, {6, srv, 4002, 443, hostA, 80}},
			map[uint8]map[uint16]uint16{6: {80: 443}}},
		{"tcp, primary listed last", []PortForward{web, alt},
			[]flow{{6, srv2, 4001, 443, hostA, 80}, {6, srv, 4000, 8080, hostA, 80}},
			map[uint8]map[uint16]uint16{6: {80: 443}}},
		{"udp ranges onto one range", []PortForward{rng, rng2},
			[]flow{{17, srv, 4000, 6001, hostB, 7001}, {17, srv, 4001, 5001, hostB, 7001}, {17, srv2, 4000, 5002, hostB, 7002}, {17, srv2, 4000, 6000, hostB, 7000}},
			map[uint8]map[uint16]uint16{17: {7000: 5000, 7001: 5001, 7002: 5002}}},
	}
	for _, tt := range tests {
		for _, seed := range []uint64{1, 42, 0xdeadbeef} {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				r := newRig(t, func(c *Config) { c.Seed = seed; c.PortForwards = tt.forwards })
				build := func(proto uint8, p pk) []byte {
					if proto == 6 {
						return tcpPkt(t, p)
					}
					return udpPkt(t, p)
				}
				for _, f := range tt.flows {
					in := pk{Src: f.remote, Dst: extIP, SP: f.rport, DP: f.ext, Flags: "S"}
					d := r.must(Inbound, build(f.proto, in), Forward)
					if d.Dst() != f.host || d.DPort() != f.intPort {
						t.Fatalf("%s:%d → ext %d reached %s:%d, want %s:%d", f.remote, f.rport, f.ext, d.Dst(), d.DPort(), f.host, f.intPort)
					}
				}
				// Replies, after all flows exist: each leaves on its own port.
				for _, f := range tt.flows {
					out := pk{Src: f.host, Dst: f.remote, SP: f.intPort, DP: f.rport, Flags: "SA"}
					d := r.must(Outbound, build(f.proto, out), Forward)
					if d.Src() != extIP || d.SPort() != f.ext {
						t.Fatalf("reply to %s:%d left from %s:%d, want %s:%d", f.remote, f.rport, d.Src(), d.SPort(), extIP, f.ext)
					}
				}
				for proto, ports := range tt.primary {
					for ip, ext := range ports {
						host := hostA
						if proto == 17 {
							host = hostB
						}
						d := r.must(Outbound, build(proto, pk{Src: host, Dst: "198.51.100.99", SP: ip, DP: 53, Flags: "S"}), Forward)
						if d.SPort() != ext {
							t.Fatalf("the host's own connection from port %d left from %d, want the primary %d", ip, d.SPort(), ext)
						}
					}
				}
			})
		}
	}

	// The same remote endpoint through both forwards would be two
	// connections the host cannot tell apart: the second is refused.
	r := newRig(t, func(c *Config) { c.PortForwards = []PortForward{web, alt} })
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 4000, DP: 8080, Flags: "S"}), Forward)
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 4000, DP: 443, Flags: "S"}), ReasonNoSession)
	d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 80, DP: 4000, Flags: "SA"}), Forward)
	if d.SPort() != 8080 {
		t.Fatalf("reply left from %d, want 8080", d.SPort())
	}

	// Adding a forward with a lower external port by Reconfigure makes it
	// the primary; both forwards work after.
	r = newRig(t, func(c *Config) { c.PortForwards = []PortForward{web} })
	c := r.e.Config()
	c.PortForwards = []PortForward{web, alt}
	if _, err := r.e.Reconfigure(c); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []uint16{8080, 443} {
		d := r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: ext, DP: ext, Flags: "S"}), Forward)
		if d.Dst() != hostA || d.DPort() != 80 {
			t.Fatalf("after Reconfigure, ext %d reached %s:%d", ext, d.Dst(), d.DPort())
		}
	}
	if d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 80, DP: 9, Flags: "S"}), Forward); d.SPort() != 443 {
		t.Fatalf("after Reconfigure, the host's own connection left from %d, want 443", d.SPort())
	}
}
