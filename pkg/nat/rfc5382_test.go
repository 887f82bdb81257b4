package nat

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// RFC 5382 (TCP) requirements.

func TestRFC5382_REQ1_EndpointIndependentMappingTCP(t *testing.T) {
	r := newRig(t, nil)
	a := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	b := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv2, SP: 40000, DP: 80, Flags: "S"}), Forward)
	if a.SPort() != b.SPort() || a.Src() != extIP {
		t.Fatalf("TCP mapping depends on destination: %d vs %d", a.SPort(), b.SPort())
	}
}

func TestRFC5382_REQ2_SimultaneousOpen(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Filtering = AddressPortDependent })
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 5000, Flags: "S"}), Forward)
	// The peer's own SYN (no ACK) crosses ours: it must pass.
	d := r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 5000, DP: 40000, Flags: "S"}), Forward)
	if d.Dst() != hostA || !d.TCP.SYN || d.TCP.ACK {
		t.Fatalf("simultaneous-open SYN not delivered intact")
	}
	if s := r.sessions(); len(s) != 1 || s[0].State != "established" {
		t.Fatalf("state %+v, want established", s)
	}
}

func TestRFC5382_REQ2_ThreeWayHandshakeBothDirections(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "ssh", Proto: 6, ExtStart: 2222, ExtEnd: 2222, Host: mustAddr(hostB), IntStart: 22}}
	})
	// LAN-initiated.
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A"}), Forward)
	// WAN-initiated through a port forward.
	d := r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 50000, DP: 2222, Flags: "S"}), Forward)
	if d.Dst() != hostB || d.DPort() != 22 {
		t.Fatalf("forward delivered to %s:%d", d.Dst(), d.DPort())
	}
	d = r.must(Outbound, tcpPkt(t, pk{Src: hostB, Dst: srv2, SP: 22, DP: 50000, Flags: "SA"}), Forward)
	if d.SPort() != 2222 {
		t.Fatalf("forwarded connection answered from port %d, want 2222", d.SPort())
	}
	// The client's ACK acknowledges the server's SYN-ACK (sequence number
	// 1000): only that establishes a connection opened from the WAN.
	r.must(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 50000, DP: 2222, Flags: "A", Ack: 1001}), Forward)
	for _, s := range r.sessions() {
		if s.State != "established" {
			t.Fatalf("%v: state %s", s.Remote, s.State)
		}
	}
}

func TestRFC5382_REQ4_UnsolicitedSYN(t *testing.T) {
	t.Run("held then port unreachable", func(t *testing.T) {
		r := newRig(t, nil)
		syn := tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 5555, DP: 40000, Flags: "S"})
		r.mustDrop(Inbound, syn, ReasonUnsolicitedSYN)
		if out := r.advance(6 * time.Second); len(out) != 0 {
			t.Fatalf("ICMP sent before 6 s")
		}
		out := r.advance(1100 * time.Millisecond)
		if len(out) != 1 {
			t.Fatalf("%d ICMP errors after >6 s, want 1", len(out))
		}
		d := oracle(t, out[0])
		if d.Src() != extIP || d.Dst() != srv || d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(3, 3) {
			t.Fatalf("got %v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
		}
		emb := embeddedOracle(t, d)
		if emb.SrcIP.String() != srv || emb.DstIP.String() != extIP {
			t.Fatal("embedded header is not the SYN")
		}
		if len(r.sessions()) != 0 {
			t.Fatal("unsolicited SYN created state")
		}
	})
	t.Run("outbound SYN meanwhile cancels", func(t *testing.T) {
		r := newRig(t, nil)
		r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 5555, DP: 40000, Flags: "S"}), ReasonUnsolicitedSYN)
		r.advance(3 * time.Second)
		d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 5555, Flags: "S"}), Forward)
		if d.SPort() != 40000 {
			t.Fatalf("port not preserved for hole punching")
		}
		if out := r.advance(10 * time.Second); len(out) != 0 {
			t.Fatal("held SYN answered although an outbound SYN was translated")
		}
	})
	t.Run("silent policy", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.UnsolicitedSYNSilent = true })
		r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 5555, DP: 40000, Flags: "S"}), ReasonUnsolicitedSYN)
		if out := r.advance(10 * time.Second); len(out) != 0 {
			t.Fatal("silent policy sent ICMP")
		}
	})
}

func TestRFC5382_REQ5_Timeouts(t *testing.T) {
	type step struct {
		dir   Dir
		flags string
	}
	est := []step{{Outbound, "S"}, {Inbound, "SA"}, {Outbound, "A"}}
	cases := []struct {
		name  string
		steps []step
		state string
		life  time.Duration
	}{
		{"established 2h4m", est, "established", 7440 * time.Second},
		{"syn-sent transitory 4m", []step{{Outbound, "S"}}, "syn-sent", 240 * time.Second},
		{"after RST 4m (RFC 7857)", append(est, step{Inbound, "R"}), "reset", 240 * time.Second},
		{"half-closed stays established timer", append(est, step{Outbound, "FA"}), "fin-out", 7440 * time.Second},
		{"both FINs transitory", append(est, step{Outbound, "FA"}, step{Inbound, "FA"}), "closing", 240 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			for _, s := range tc.steps {
				if s.dir == Outbound {
					r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: s.flags}), Forward)
				} else {
					r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: s.flags}), Forward)
				}
			}
			ss := r.sessions()
			if len(ss) != 1 || ss[0].State != tc.state {
				t.Fatalf("sessions %+v, want state %s", ss, tc.state)
			}
			r.advance(tc.life)
			if len(r.sessions()) != 1 {
				t.Fatalf("session gone at exactly %v", tc.life)
			}
			r.advance(2 * time.Second)
			if n := r.e.Counters().Sessions; n != 0 {
				t.Fatalf("session alive %v after %v", 2*time.Second, tc.life)
			}
		})
	}
}

func TestRFC5382_ResetThenTrafficReturnsToEstablished(t *testing.T) {
	r := newRig(t, nil)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "R"}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "A"}), Forward)
	if s := r.sessions(); s[0].State != "established" {
		t.Fatalf("state %s after non-RST in reset state", s[0].State)
	}
}

func TestRFC5382_REQ8_TCPHairpin(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}}
	})
	d := r.must(Outbound, tcpPkt(t, pk{Src: hostB, Dst: extIP, SP: 45000, DP: 8080, Flags: "S"}), Hairpin)
	if d.Dst() != hostA || d.DPort() != 80 || d.Src() != extIP {
		t.Fatalf("hairpin SYN %s:%d→%s:%d", d.Src(), d.SPort(), d.Dst(), d.DPort())
	}
	bExt := d.SPort()
	d = r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: extIP, SP: 80, DP: bExt, Flags: "SA"}), Hairpin)
	if d.Dst() != hostB || d.DPort() != 45000 || d.Src() != extIP || d.SPort() != 8080 {
		t.Fatalf("hairpin SYN-ACK %s:%d→%s:%d", d.Src(), d.SPort(), d.Dst(), d.DPort())
	}
}

func TestRFC5382_REQ9_REQ10_ICMPForTCP(t *testing.T) {
	r := newRig(t, nil)
	sent := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA"}), Forward)
	d := r.must(Inbound, icmpErrPkt(t, "198.51.100.99", extIP, 3, 1, sent.Pkt.Data()), Forward)
	emb := embeddedOracle(t, d)
	if d.Dst() != hostA || emb.SrcIP.String() != hostA {
		t.Fatalf("host unreachable not translated back")
	}
	// The embedded TCP header carries the original port again.
	if p := uint16(emb.Payload[0])<<8 | uint16(emb.Payload[1]); p != 40000 {
		t.Fatalf("embedded source port %d", p)
	}
	if s := r.sessions(); len(s) != 1 || s[0].State != "established" {
		t.Fatalf("ICMP error changed the TCP session: %+v", s)
	}
}

func TestMSSClamp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clamp    int
		wanMTU   int
		mss, out uint16
	}{
		{"auto from WAN MTU", MSSAuto, 1492, 1460, 1452},
		{"lower MSS untouched", MSSAuto, 1492, 1200, 1200},
		{"fixed value", 1300, 1500, 1460, 1300},
		{"off", 0, 1400, 1460, 1460},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.MSSClamp = tc.clamp; c.WANMTU = tc.wanMTU })
			d := r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S", MSS: tc.mss}), Forward)
			if got := mssOf(d.TCP); got != tc.out {
				t.Fatalf("outbound SYN MSS %d, want %d", got, tc.out)
			}
			d = r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA", MSS: tc.mss}), Forward)
			if got := mssOf(d.TCP); got != tc.out {
				t.Fatalf("inbound SYN-ACK MSS %d, want %d", got, tc.out)
			}
		})
	}
}

func mssOf(t *layers.TCP) uint16 {
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindMSS {
			return uint16(o.OptionData[0])<<8 | uint16(o.OptionData[1])
		}
	}
	return 0
}

func TestMSSClampUnalignedOption(t *testing.T) {
	// A NOP before MSS puts the value at an odd offset: both straddled
	// checksum words must be updated.
	r := newRig(t, func(c *Config) { c.WANMTU = 1400 })
	b := tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S"})
	ip := ipLayer(pk{Src: hostA, Dst: srv}, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Window: 100, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
	}}
	tc.SetNetworkLayerForChecksum(ip)
	b = serialize(t, ip, tc)
	d := r.must(Outbound, b, Forward)
	if got := mssOf(d.TCP); got != 1360 {
		t.Fatalf("MSS %d, want 1360", got)
	}
}
