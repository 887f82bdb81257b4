package nat

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// WAN packets claiming a LAN source — another LAN host, the router's own
// LAN address, the subnet's network or broadcast address — are ingress
// filtered: dropped and counted, whatever they are addressed to (a port
// forward, the DMZ, a mapping open to any endpoint).
func TestAttack_SpoofedLANSourceFromWAN(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Filtering = EndpointIndependent
		c.PortForwards = []PortForward{{Name: "game", Proto: 17, ExtStart: 5000, ExtEnd: 5000, Host: mustAddr(hostA), IntStart: 5000}}
		c.DMZ = mustAddr(hostC)
	})
	r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 6000, DP: 1053}), Forward)
	sent := 0
	for _, src := range []string{hostB, router, "192.168.1.0", "192.168.1.255", hostA} {
		for _, b := range [][]byte{
			udpPkt(t, pk{Src: src, Dst: extIP, SP: 53, DP: 5000}),             // the forward
			tcpPkt(t, pk{Src: src, Dst: extIP, SP: 4444, DP: 22, Flags: "S"}), // the DMZ
			udpPkt(t, pk{Src: src, Dst: extIP, SP: 53, DP: 6000}),             // B's open mapping
			icmpPkt(t, pk{Src: src, Dst: extIP}, 8, 1, 1),                     // ping the router
			icmpErrPkt(t, src, extIP, 3, 3, udpPkt(t, pk{Src: extIP, Dst: srv, SP: 6000, DP: 1053})),
		} {
			res := r.send(Inbound, b)
			sent++
			if res.Verdict != Drop || res.Reason != ReasonLANSourceFromWAN {
				t.Fatalf("WAN packet from %s: %v %v, want drop %v", src, res.Verdict, res.Reason, ReasonLANSourceFromWAN)
			}
		}
	}
	if got := r.e.Counters().Drops[ReasonLANSourceFromWAN]; got != uint64(sent) {
		t.Fatalf("counted %d, want %d", got, sent)
	}
	for _, s := range r.sessions() {
		if s.Forwarded {
			t.Fatalf("spoofed packet opened %+v", s)
		}
	}
	// Real remotes are unaffected.
	r.must(Inbound, udpPkt(t, pk{Src: srv2, Dst: extIP, SP: 53, DP: 5000}), Forward)
}

// ipOpt builds a UDP datagram with IPv4 options.
func ipOpt(t *testing.T, p pk, opts ...layers.IPv4Option) []byte {
	ip := ipLayer(p, layers.IPProtocolUDP)
	ip.Options = opts
	u := &layers.UDP{SrcPort: layers.UDPPort(p.SP), DstPort: layers.UDPPort(p.DP)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, u)
}

func route(typ uint8, addrs ...string) layers.IPv4Option {
	data := []byte{4} // pointer to the first address
	for _, a := range addrs {
		data = append(data, ip4(a)...)
	}
	return layers.IPv4Option{OptionType: typ, OptionLength: uint8(2 + len(data)), OptionData: data}
}

// Loose and strict source routes (RFC 7126 §4.3, §4.4: drop by default) are
// dropped and counted from either side, also when other options come
// first; other options pass.
func TestAttack_SourceRouteOptions(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "game", Proto: 17, ExtStart: 5000, ExtEnd: 5000, Host: mustAddr(hostA), IntStart: 5000}}
	})
	nop := layers.IPv4Option{OptionType: 1}
	const lsrr, ssrr = 131, 137
	cases := []struct {
		dir  Dir
		p    pk
		opts []layers.IPv4Option
	}{
		{Inbound, pk{Src: srv, Dst: extIP, SP: 53, DP: 5000}, []layers.IPv4Option{route(lsrr, hostB)}},
		{Inbound, pk{Src: srv, Dst: extIP, SP: 53, DP: 5000}, []layers.IPv4Option{route(ssrr, router, hostB)}},
		{Inbound, pk{Src: srv, Dst: extIP, SP: 53, DP: 5000}, []layers.IPv4Option{nop, nop, route(lsrr, hostB)}},
		{Outbound, pk{Src: hostA, Dst: srv, SP: 5000, DP: 53}, []layers.IPv4Option{route(lsrr, srv2)}},
		{Outbound, pk{Src: hostA, Dst: srv, SP: 5001, DP: 53}, []layers.IPv4Option{nop, route(ssrr, srv2)}},
	}
	for i, tc := range cases {
		res := r.send(tc.dir, ipOpt(t, tc.p, tc.opts...))
		if res.Verdict != Drop || res.Reason != ReasonSourceRoute {
			t.Fatalf("case %d: %v %v, want drop %v", i, res.Verdict, res.Reason, ReasonSourceRoute)
		}
	}
	if got := r.e.Counters().Drops[ReasonSourceRoute]; got != uint64(len(cases)) {
		t.Fatalf("counted %d source-routed packets, want %d", got, len(cases))
	}
	// Record route (type 7) and NOPs are not source routes.
	rr := layers.IPv4Option{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}
	r.must(Inbound, ipOpt(t, pk{Src: srv, Dst: extIP, SP: 53, DP: 5000}, nop, rr), Forward)
	r.must(Outbound, ipOpt(t, pk{Src: hostA, Dst: srv, SP: 5002, DP: 53}, rr), Forward)
}
