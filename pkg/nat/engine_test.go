package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

func TestTTLDecrementAndTimeExceeded(t *testing.T) {
	r := newRig(t, nil)
	d := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 33434, TTL: 2}), Forward)
	if d.IP.TTL != 1 {
		t.Fatalf("TTL %d, want 1", d.IP.TTL)
	}
	// traceroute's first probe: the router must appear as a hop.
	res := r.send(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 33435, TTL: 1}))
	if res.Verdict != Reply {
		t.Fatalf("TTL 1: %v %v", res.Verdict, res.Reason)
	}
	d = oracle(t, res.Packet)
	if d.Src() != router || d.Dst() != hostA || d.ICMP.TypeCode != layers.CreateICMPv4TypeCode(11, 0) {
		t.Fatalf("got %v %s→%s", d.ICMP.TypeCode, d.Src(), d.Dst())
	}
	// Inbound with TTL 1: time exceeded from the external address.
	res = r.send(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 5000, TTL: 1}))
	if res.Verdict != Reply {
		t.Fatalf("inbound TTL 1: %v %v", res.Verdict, res.Reason)
	}
	if d = oracle(t, res.Packet); d.Src() != extIP || d.Dst() != srv {
		t.Fatalf("inbound time exceeded %s→%s", d.Src(), d.Dst())
	}
}

func TestPortForwardAndDMZ(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{
			{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80},
			{Name: "game", Proto: 17, ExtStart: 27015, ExtEnd: 27017, Host: mustAddr(hostB), IntStart: 37015},
		}
		c.DMZ = mustAddr(hostC)
	})
	d := r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 50000, DP: 8080, Flags: "S"}), Forward)
	if d.Dst() != hostA || d.DPort() != 80 {
		t.Fatalf("tcp/8080 → %s:%d", d.Dst(), d.DPort())
	}
	for p := uint16(27015); p <= 27017; p++ {
		d = r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1000, DP: p}), Forward)
		if d.Dst() != hostB || d.DPort() != p+10000 {
			t.Fatalf("udp/%d → %s:%d", p, d.Dst(), d.DPort())
		}
	}
	// The forward's own traffic keeps the forward's external port (EIM).
	d = r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv2, SP: 80, DP: 443, Flags: "S"}), Forward)
	if d.SPort() != 8080 {
		t.Fatalf("forwarded endpoint went out as port %d, want 8080", d.SPort())
	}
	// Forwards take precedence over the DMZ; everything else goes to the DMZ.
	d = r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1000, DP: 9999}), Forward)
	if d.Dst() != hostC || d.DPort() != 9999 {
		t.Fatalf("DMZ got %s:%d", d.Dst(), d.DPort())
	}
	d = r.must(Outbound, udpPkt(t, pk{Src: hostC, Dst: srv, SP: 9999, DP: 1000}), Forward)
	if d.SPort() != 9999 {
		t.Fatalf("DMZ reply from port %d", d.SPort())
	}
	// A forward never accepts a TCP segment that is not a SYN.
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv2, Dst: extIP, SP: 50001, DP: 8080, Flags: "A"}), ReasonNoSession)
}

func TestReconfigureKeepsUnrelatedFlows(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PortForwards = []PortForward{{Name: "web", Proto: 6, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostA), IntStart: 80}}
	})
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 50000, DP: 8080, Flags: "S"}), Forward)
	r.must(Outbound, tcpPkt(t, pk{Src: hostB, Dst: srv, SP: 40000, DP: 443, Flags: "S"}), Forward)
	r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 5000, DP: 1053}), Forward)
	c := r.e.Config()
	c.Timeouts.UDP = 600 * time.Second
	c.Filtering = EndpointIndependent
	c.PortForwards = nil
	n, err := r.e.Reconfigure(c)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("flushed %d sessions, want 1 (the forward's)", n)
	}
	if got := len(r.sessions()); got != 2 {
		t.Fatalf("%d sessions left, want 2", got)
	}
	r.mustDrop(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 50002, DP: 8080, Flags: "S"}), ReasonUnsolicitedSYN)
	// The new UDP timeout applies to the existing flow.
	r.advance(500 * time.Second)
	r.must(Inbound, udpPkt(t, pk{Src: srv2, Dst: extIP, SP: 1, DP: 5000}), Forward)
	// Adding a forward over a dynamic mapping takes the port over.
	c.PortForwards = []PortForward{{Name: "x", Proto: 17, ExtStart: 5000, ExtEnd: 5000, Host: mustAddr(hostA), IntStart: 5000}}
	if n, _ = r.e.Reconfigure(c); n != 1 {
		t.Fatalf("flushed %d, want 1", n)
	}
	d := r.must(Inbound, udpPkt(t, pk{Src: srv2, Dst: extIP, SP: 1, DP: 5000}), Forward)
	if d.Dst() != hostA {
		t.Fatalf("forward not installed over dynamic mapping")
	}
	bad := c
	bad.DMZ = mustAddr("10.0.0.1")
	if _, err := r.e.Reconfigure(bad); err == nil {
		t.Fatal("DMZ outside the LAN accepted")
	}
	if r.e.Config().DMZ.IsValid() {
		t.Fatal("rejected configuration was applied")
	}
}

func TestExternalAddressChangeFlushes(t *testing.T) {
	r := newRig(t, nil)
	r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	if n := r.e.SetExternal(mustAddr("203.0.113.77")); n != 1 {
		t.Fatalf("flushed %d", n)
	}
	d := r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), Forward)
	if d.Src() != "203.0.113.77" {
		t.Fatalf("new address not used: %s", d.Src())
	}
	r.e.SetExternal(netip.Addr{})
	r.mustDrop(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053}), ReasonNoWAN)
}

func TestClassification(t *testing.T) {
	r := newRig(t, nil)
	for _, tc := range []struct {
		name string
		dir  Dir
		b    []byte
		want Verdict
		why  Reason
	}{
		{"to router", Outbound, udpPkt(t, pk{Src: hostA, Dst: router, SP: 1, DP: 53}), Local, 0},
		{"LAN broadcast", Outbound, udpPkt(t, pk{Src: hostA, Dst: "192.168.1.255", SP: 68, DP: 67}), Local, 0},
		{"multicast", Outbound, udpPkt(t, pk{Src: hostA, Dst: "224.0.0.251", SP: 5353, DP: 5353}), Local, 0},
		{"spoofed", Outbound, udpPkt(t, pk{Src: "10.1.1.1", Dst: srv, SP: 1, DP: 2}), Drop, ReasonSpoofedSource},
		{"lan to lan", Outbound, udpPkt(t, pk{Src: hostA, Dst: hostB, SP: 1, DP: 2}), Drop, ReasonLANToLAN},
		{"loopback", Outbound, udpPkt(t, pk{Src: hostA, Dst: "127.0.0.1", SP: 1, DP: 2}), Drop, ReasonMartian},
		{"not for us", Inbound, udpPkt(t, pk{Src: srv, Dst: "203.0.113.9", SP: 1, DP: 2}), Drop, ReasonNotForUs},
		{"no mapping", Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1, DP: 2}), Drop, ReasonNoMapping},
		{"gre (no passthrough here)", Outbound, ipProto(t, hostA, srv, 47), Drop, ReasonProtocol},
	} {
		res := r.send(tc.dir, tc.b)
		if res.Verdict != tc.want || (tc.want == Drop && res.Reason != tc.why) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, res.Verdict, res.Reason, tc.want, tc.why)
		}
	}
}

func ipProto(t *testing.T, src, dst string, proto uint8) []byte {
	ip := ipLayer(pk{Src: src, Dst: dst}, layers.IPProtocol(proto))
	return serialize(t, ip, nattest.Payload(make([]byte, 16)))
}

func TestMalformedInputDropsWithReason(t *testing.T) {
	r := newRig(t, nil)
	good := udpPkt(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 1053, Payload: []byte("abcdefgh")})
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
		want Reason
	}{
		{"empty", func(b []byte) []byte { return b[:0] }, ReasonIPv4Truncated},
		{"ipv6", func(b []byte) []byte { b[0] = 0x60; return b }, ReasonIPv4Version},
		{"ihl", func(b []byte) []byte { b[0] = 0x43; return b }, ReasonIPv4HeaderLen},
		{"total length", func(b []byte) []byte { b[3] = 0xff; return b }, ReasonIPv4TotalLen},
		{"checksum", func(b []byte) []byte { b[11] ^= 0x55; return b }, ReasonIPv4Checksum},
		{"udp truncated", func(b []byte) []byte { return fixLen(b[:24]) }, ReasonTruncated},
	} {
		b := tc.mut(append([]byte(nil), good...))
		dirs := []Dir{Outbound, Inbound}
		if tc.want == ReasonTruncated {
			dirs = dirs[:1] // an outbound packet is not addressed to the WAN side
		}
		for _, dir := range dirs {
			res := r.send(dir, append([]byte(nil), b...))
			if res.Verdict != Drop || res.Reason != tc.want {
				t.Errorf("%s dir %d: %v %v, want drop %v", tc.name, dir, res.Verdict, res.Reason, tc.want)
			}
		}
		if r.e.Counters().Drops[tc.want] == 0 {
			t.Errorf("%s: reason %v not counted", tc.name, tc.want)
		}
	}
	// Ethernet padding after the IPv4 total length is ignored.
	padded := append(append([]byte(nil), good...), 0, 0, 0, 0)
	if res := r.send(Outbound, padded); res.Verdict != Forward || len(res.Packet) != len(good) {
		t.Fatalf("padded packet: %v len %d", res.Verdict, len(res.Packet))
	}
}

// fixLen sets the IPv4 total length to len(b) and fixes the header checksum.
func fixLen(b []byte) []byte {
	b[2], b[3] = byte(len(b)>>8), byte(len(b))
	b[10], b[11] = 0, 0
	packet.IPv4(b).UpdateHeaderChecksum()
	return b
}

func TestNoStateFromUnsolicitedWANPackets(t *testing.T) {
	r := newRig(t, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		src := fmt.Sprintf("198.51.100.%d", rng.IntN(250)+1)
		sp, dp := uint16(rng.Uint32()), uint16(rng.Uint32())
		switch i % 3 {
		case 0:
			r.send(Inbound, udpPkt(t, pk{Src: src, Dst: extIP, SP: sp, DP: dp}))
		case 1:
			r.send(Inbound, tcpPkt(t, pk{Src: src, Dst: extIP, SP: sp, DP: dp, Flags: "S"}))
		default:
			r.send(Inbound, icmpPkt(t, pk{Src: src, Dst: extIP}, 0, dp, 1))
		}
	}
	c := r.e.Counters()
	if c.Sessions != 0 || c.Mappings != 0 || c.SessionsCreated != 0 {
		t.Fatalf("WAN packets created state: %+v", c)
	}
	if r.e.pending.n > maxHeldSYN {
		t.Fatal("held SYN table unbounded")
	}
}

func TestTableFullEvictsUnrepliedFirst(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 64; c.MaxSessionsPerHost = 64 })
	// 63 replied sessions and one that never saw a reply.
	for i := 0; i < 63; i++ {
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: uint16(2000 + i), DP: 1053}), Forward)
		r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: uint16(2000 + i)}), Forward)
	}
	r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 7000, DP: 1053}), Forward)
	r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 7001, DP: 1053}), Forward)
	c := r.e.Counters()
	if c.SessionsEvicted != 1 || c.Sessions != 64 {
		t.Fatalf("evicted %d, sessions %d", c.SessionsEvicted, c.Sessions)
	}
	for _, s := range r.sessions() {
		if s.Internal.Port() == 7000 {
			t.Fatal("the unreplied session survived, a replied one was evicted")
		}
	}
	// 7001 is unreplied too and gets evicted next; reply to it first so that
	// nothing is evictable: then new flows are refused with ICMP 3/13.
	r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 1053, DP: 7001}), Forward)
	res := r.send(Outbound, udpPkt(t, pk{Src: hostC, Dst: srv, SP: 7002, DP: 1053}))
	if res.Verdict != Reply || r.e.Counters().Drops[ReasonTableFull] != 1 {
		t.Fatalf("full table: %v %v", res.Verdict, res.Reason)
	}
}

func TestPortExhaustion(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 4096; c.MaxSessionsPerHost = 4096 })
	// 1023 privileged ports exist, UDP 68 stays with the router's DHCP
	// client: the 1023rd mapping in that range fails.
	n := 0
	for h := 0; h < 4 && n < 1100; h++ {
		for p := 1; p < 400; p++ {
			res := r.send(Outbound, udpPkt(t, pk{Src: fmt.Sprintf("192.168.1.%d", 50+h), Dst: srv, SP: uint16(p), DP: 1053}))
			if res.Verdict == Forward {
				n++
				if d := oracle(t, res.Packet); d.SPort() >= 1024 || d.SPort() == 0 {
					t.Fatalf("privileged port mapped to %d", d.SPort())
				}
			} else if res.Verdict != Reply {
				t.Fatalf("exhaustion gave %v", res.Verdict)
			}
		}
	}
	if n != 1022 || r.e.Counters().Drops[ReasonPortsExhausted] != 4*399-1022 {
		t.Fatalf("%d mappings below 1024, %d refused", n, r.e.Counters().Drops[ReasonPortsExhausted])
	}
}

func TestSessionListing(t *testing.T) {
	r := newRig(t, nil)
	r.must(Outbound, tcpPkt(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "S", Payload: make([]byte, 10)}), Forward)
	r.must(Inbound, tcpPkt(t, pk{Src: srv, Dst: extIP, SP: 443, DP: 40000, Flags: "SA"}), Forward)
	r.advance(5 * time.Second)
	s := r.sessions()
	if len(s) != 1 {
		t.Fatal(len(s))
	}
	want := SessionInfo{
		Protocol: 6, Internal: netip.MustParseAddrPort(hostA + ":40000"), External: netip.MustParseAddrPort(extIP + ":40000"),
		Remote: netip.MustParseAddrPort(srv + ":443"), State: "established", Age: 5 * time.Second, Idle: 5 * time.Second,
		Expires: 7435 * time.Second, PacketsOut: 1, PacketsIn: 1, BytesOut: 50, BytesIn: 40, Replied: true,
	}
	if s[0] != want {
		t.Fatalf("got  %+v\nwant %+v", s[0], want)
	}
	if n := r.e.Flush(func(si SessionInfo) bool { return si.Protocol == 17 }); n != 0 {
		t.Fatal("flush by protocol removed TCP")
	}
	if n := r.e.Flush(func(si SessionInfo) bool { return si.Internal.Addr() == mustAddr(hostA) }); n != 1 {
		t.Fatal("flush by host")
	}
}

func TestSweepExpiresWithoutTraffic(t *testing.T) {
	r := newRig(t, nil)
	for i := 0; i < 1000; i++ {
		r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: uint16(10000 + i), DP: 1053}), Forward)
	}
	// Small ticks, like the data plane's: a full pass takes sweepPeriod.
	for i := 0; i < 301*10+int(sweepPeriod/(100*time.Millisecond)); i++ {
		r.advance(100 * time.Millisecond)
	}
	c := r.e.Counters()
	if c.Sessions != 0 || c.Mappings != 0 || c.SessionsExpired != 1000 {
		t.Fatalf("after expiry: %+v", c)
	}
}

// The router's own traffic (from its LAN address, via self0) is originated,
// not forwarded: its TTL is not checked or decremented.
func TestRouterOwnTrafficKeepsTTL(t *testing.T) {
	r := newRig(t, nil)
	d := r.must(Outbound, udpPkt(t, pk{Src: router, Dst: srv, SP: 33000, DP: 33434, TTL: 1}), Forward)
	if d.IP.TTL != 1 || d.Src() != extIP {
		t.Fatalf("router's own packet: TTL %d src %s", d.IP.TTL, d.Src())
	}
	d = r.must(Outbound, udpPkt(t, pk{Src: hostA, Dst: srv, SP: 33000, DP: 33434, TTL: 5}), Forward)
	if d.IP.TTL != 4 {
		t.Fatalf("a LAN host's packet kept TTL %d", d.IP.TTL)
	}
}
