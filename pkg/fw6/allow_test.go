package fw6

import (
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

func TestAllowRule_AdmitsUnsolicitedInbound(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Allow = []AllowRule{
			{Name: "ssh", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: mustAddr(hostB)},
			{Name: "games", Proto: packet.ProtoUDP, PortStart: 27000, PortEnd: 27015, Host: mustAddr(hostC)},
		}
	})
	// A SYN to the allowed host and port opens a connection from the WAN.
	d := r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 22, Flags: "S", MSS: 1460}), Forward)
	if d.Dst() != hostB || d.TCP.DstPort != 22 {
		t.Fatal("not delivered")
	}
	r.must(FromLAN, tcp6(t, pk{Src: hostB, Dst: srv, SP: 22, DP: 50000, Flags: "SA", Seq: 7000}), Forward)
	s := r.sessions()
	if len(s) != 1 || !s[0].Inbound || !s[0].Rule || s[0].State != "syn-received" {
		t.Fatalf("sessions %+v", s)
	}
	// Established only by the remote's ACK of the SYN-ACK.
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 22, Flags: "A", Ack: 7001}), Forward)
	if s := r.sessions(); s[0].State != "established" {
		t.Fatal(s[0].State)
	}
	// Only a SYN opens; other ports, hosts and protocols stay closed. (srv
	// itself may now reach hostB:22 from any port: address-dependent
	// filtering.)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv2, Dst: hostB, SP: 50001, DP: 22, Flags: "A"}), ReasonNoSession)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv2, Dst: hostB, SP: 50001, DP: 22, Flags: "SA"}), ReasonNoSession)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50001, DP: 23, Flags: "S"}), ReasonUnsolicitedSYN)
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 50001, DP: 22, Flags: "S"}), ReasonUnsolicitedSYN)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostB, SP: 50001, DP: 22}), ReasonNoSession)
	// A port range, UDP.
	for _, p := range []uint16{27000, 27015} {
		r.must(FromWAN, udp6(t, pk{Src: srv, Dst: hostC, SP: 40000, DP: p}), Forward)
	}
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv, Dst: hostC, SP: 40000, DP: 27016}), ReasonNoSession)
	// The router's own addresses are never opened by a rule.
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: routerWAN, SP: 50000, DP: 22, Flags: "S"}), ReasonSelfClosed)
}

func TestAllowRule_RemovedRuleEndsItsSessions(t *testing.T) {
	rule := AllowRule{Name: "web", Proto: packet.ProtoTCP, PortStart: 443, PortEnd: 443, Host: mustAddr(hostB)}
	r := newRig(t, func(c *Config) { c.Allow = []AllowRule{rule} })
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50000, DP: 443, Flags: "S"}), Forward)
	r.established(hostB, 40000, srv, 443) // the host's own connection stays
	c := r.e.Config()
	c.Allow = nil
	if n, _ := r.e.Reconfigure(c); n != 1 {
		t.Fatalf("flushed %d, want the rule's one", n)
	}
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 50001, DP: 443, Flags: "S"}), ReasonUnsolicitedSYN)
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: hostB, SP: 443, DP: 40000, Flags: "A"}), Forward)
}

func TestAllowRule_Validation(t *testing.T) {
	for _, c := range []struct {
		rule AllowRule
		want string
	}{
		{AllowRule{Name: "x", Proto: packet.ProtoICMPv6, PortStart: 1, PortEnd: 1, Host: mustAddr(hostA)}, "not tcp or udp"},
		{AllowRule{Name: "x", Proto: packet.ProtoTCP, PortStart: 0, PortEnd: 1, Host: mustAddr(hostA)}, "port range"},
		{AllowRule{Name: "x", Proto: packet.ProtoTCP, PortStart: 9, PortEnd: 8, Host: mustAddr(hostA)}, "port range"},
		{AllowRule{Name: "x", Proto: packet.ProtoTCP, PortStart: 1, PortEnd: 1, Host: mustAddr("192.0.2.1")}, "not an IPv6 address"},
		{AllowRule{Name: "x", Proto: packet.ProtoTCP, PortStart: 1, PortEnd: 1, Host: mustAddr("fe80::1")}, "not a global or unique local"},
		{AllowRule{Name: "x", Proto: packet.ProtoTCP, PortStart: 1, PortEnd: 1, Host: mustAddr("ff02::1")}, "not a global or unique local"},
	} {
		cfg := DefaultConfig()
		cfg.Allow = []AllowRule{c.rule}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.rule, err, c.want)
		}
	}
}

func TestSelf_RouterFlows(t *testing.T) {
	r := newRig(t, nil)
	// The router's own connection: originated, so the hop limit stays.
	d := r.must(FromSelf, tcp6(t, pk{Src: routerWAN, Dst: srv, SP: 33000, DP: 443, Flags: "S", HL: 64, MSS: 1460}), Forward)
	if d.IP.HopLimit != 64 {
		t.Fatalf("hop limit %d", d.IP.HopLimit)
	}
	r.must(FromWAN, tcp6(t, pk{Src: srv, Dst: routerWAN, SP: 443, DP: 33000, Flags: "SA"}), ToSelf)
	s := r.sessions()
	if len(s) != 1 || !s[0].Self || s[0].State != "established" {
		t.Fatalf("%+v", s)
	}
	// Errors about it reach the router; path MTU first of all.
	r.must(FromWAN, icmpErr6(t, "2600:9::1", routerWAN, packet.ICMPv6PacketTooBig, 0, 1400,
		tcp6(t, pk{Src: routerWAN, Dst: srv, SP: 33000, DP: 443, Flags: "A"})), ToSelf)
	// Its DNS from the LAN address (a WAN link without a global address).
	r.must(FromSelf, udp6(t, pk{Src: routerLAN, Dst: srv2, SP: 41000, DP: 53}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: srv2, Dst: routerLAN, SP: 53, DP: 41000}), ToSelf)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv2, Dst: routerLAN, SP: 53, DP: 41001}), ReasonSelfClosed)
	// Its pings, and answering pings.
	r.must(FromSelf, icmp6(t, pk{Src: routerWAN, Dst: srv}, packet.ICMPv6EchoRequest, 99, 1), Forward)
	r.must(FromWAN, icmp6(t, pk{Src: srv, Dst: routerWAN}, packet.ICMPv6EchoReply, 99, 1), ToSelf)
	r.must(FromWAN, icmp6(t, pk{Src: srv2, Dst: routerWAN}, packet.ICMPv6EchoRequest, 5, 1), ToSelf)
	r.must(FromSelf, icmp6(t, pk{Src: routerWAN, Dst: srv2}, packet.ICMPv6EchoReply, 5, 1), Forward)
	// Its link traffic: router solicitation, DHCPv6 to the servers' group.
	r.must(FromSelf, icmp6(t, pk{Src: routerWANLL, Dst: "ff02::2", HL: 255}, packet.ICMPv6RouterSolicit, 0, 0), Forward)
	r.must(FromSelf, udp6(t, pk{Src: routerWANLL, Dst: "ff02::1:2", SP: 546, DP: 547}), Forward)
	r.must(FromWAN, udp6(t, pk{Src: ispLL, Dst: routerWANLL, SP: 547, DP: 546}), ToSelf)
	// Not a LAN host's flow: a LAN host cannot use the router's session.
	r.mustDrop(FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 33000, Flags: "A"}), ReasonNoSession)
	// A packet claiming to be the router's that is not.
	r.mustDrop(FromSelf, udp6(t, pk{Src: hostA, Dst: srv, SP: 1, DP: 2}), ReasonSpoofedSource)
	r.mustDrop(FromSelf, udp6(t, pk{Src: routerWANLL, Dst: srv, SP: 1, DP: 2}), ReasonLinkLocal)
	// Too big for the WAN: the router's own stack hears Packet Too Big.
	r2 := newRig(t, func(c *Config) { c.WANMTU = 1280 })
	d = r2.mustReply(FromSelf, udp6(t, pk{Src: routerWAN, Dst: srv, SP: 1, DP: 2, Payload: make([]byte, 1300)}), packet.ICMPv6PacketTooBig, 0, ReasonTooBig)
	if d.Dst() != routerWAN || d.Src() == routerWAN {
		t.Fatalf("%s→%s", d.Src(), d.Dst())
	}
}

func TestSelf_QuotaOfItsOwn(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 64; c.MaxSessionsPerHost = 8 })
	for i := range 8 {
		r.must(FromSelf, udp6(t, pk{Src: routerWAN, Dst: srv, SP: 1000 + uint16(i), DP: 53}), Forward)
	}
	r.mustDrop(FromSelf, udp6(t, pk{Src: routerWAN, Dst: srv, SP: 2000, DP: 53}), ReasonHostLimit)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 2000, DP: 53}), Forward)
	r.advance(301 * time.Second)
	r.must(FromSelf, udp6(t, pk{Src: routerWAN, Dst: srv, SP: 2000, DP: 53}), Forward)
}
