package fw6

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/passgate/passgate/pkg/packet"
)

// The fast path (fast.go) must do exactly what the general path does with
// the packets it takes, and leave every other packet to it untouched. These
// tests run two engines side by side on the same traffic, one of them with
// the general path only, and compare everything after every packet: the
// result and the packet bytes, the counters, every session record, both
// session indexes, the per-host quotas, the inbound ring, the admission,
// the held SYNs and the fragment table.

// enginePair is two engines with the same configuration and addresses;
// slow takes the general path only.
type enginePair struct {
	t          testing.TB
	fast, slow *Engine
	now        time.Duration
	fastTaken  int // packets the fast path most likely took
	// hint, when set, gives the Hint the fast engine's ProcessHinted gets
	// for each packet (hint_test.go); the general engine gets none.
	hint func(b []byte, dir Dir) Hint
}

func newEnginePair(t testing.TB, mod func(*Config)) *enginePair {
	mk := func() *Engine {
		c := DefaultConfig()
		c.Seed = 42
		c.MaxSessions = 1024
		c.WANMTU = 1400
		c.Allow = []AllowRule{
			{Name: "ssh", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: mustAddr(hostC)},
			{Name: "game", Proto: packet.ProtoUDP, PortStart: 9000, PortEnd: 9001, Host: mustAddr(hostC)},
			{Name: "pptp", Proto: packet.ProtoTCP, PortStart: 1723, PortEnd: 1723, Host: mustAddr(hostC)},
		}
		if mod != nil {
			mod(&c)
		}
		e, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetAddresses(defaultAddrs()); err != nil {
			t.Fatal(err)
		}
		return e
	}
	p := &enginePair{t: t, fast: mk(), slow: mk(), now: 1000 * time.Second}
	p.slow.slowOnly = true
	p.fast.Tick(p.now)
	p.slow.Tick(p.now)
	return p
}

// age moves both engines' clocks without a Tick, so that sessions expire
// without the sweep removing them: the lookup finds them expired.
func (p *enginePair) age(d time.Duration) {
	p.now += d
	p.fast.now = uint32(p.now / time.Second)
	p.slow.now = uint32(p.now / time.Second)
}

// advance moves both clocks with a Tick, which sweeps and sends held SYNs'
// errors.
func (p *enginePair) advance(d time.Duration) {
	p.t.Helper()
	p.now += d
	a, b := p.fast.Tick(p.now), p.slow.Tick(p.now)
	if len(a) != len(b) {
		p.t.Fatalf("tick: %d packets against %d", len(a), len(b))
	}
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			p.t.Fatalf("tick: packet %d differs", k)
		}
	}
	p.compare()
}

// send processes b in both engines and compares them.
func (p *enginePair) send(dir Dir, b []byte) Result {
	p.t.Helper()
	bf, bs := append(make([]byte, 0, len(b)+8), b...), append(make([]byte, 0, len(b)+8), b...)
	created := p.fast.cnt.SessionsCreated
	var h Hint
	if p.hint != nil {
		h = p.hint(b, dir)
	}
	rf := p.fast.ProcessHinted(bf, dir, h)
	rs := p.slow.Process(bs, dir)
	if rf.Verdict != rs.Verdict || rf.Reason != rs.Reason || !bytes.Equal(rf.Packet, rs.Packet) || !bytes.Equal(bf, bs) ||
		len(rf.Packet) != len(rs.Packet) || (rf.Packet == nil) != (rs.Packet == nil) {
		p.t.Fatalf("%v packet\n% x\nfast: %v %v\n% x\ngeneral: %v %v\n% x", dir, b, rf.Verdict, rf.Reason, rf.Packet, rs.Verdict, rs.Reason, rs.Packet)
	}
	if rf.Verdict == Forward && len(rf.Packet) > 0 && &rf.Packet[0] != &bf[0] {
		p.t.Fatalf("forwarded packet is not the input buffer")
	}
	p.compare()
	if rf.Verdict == Forward && created == p.fast.cnt.SessionsCreated && fastShape(b) {
		p.fastTaken++
	}
	return rf
}

// fastShape reports whether b is TCP or UDP without extension headers; with
// a forwarded result that created no session, it most likely took the fast
// path (a guard that the tests exercise it at all).
func fastShape(b []byte) bool {
	return len(b) >= fastMinUDP && b[0]>>4 == 6 && (b[6] == packet.ProtoTCP || b[6] == packet.ProtoUDP) && b[7] > 1
}

func (p *enginePair) compare() {
	p.t.Helper()
	f, s := p.fast, p.slow
	if f.cnt != s.cnt {
		p.t.Fatalf("counters differ:\nfast    %+v\ngeneral %+v", f.cnt, s.cnt)
	}
	if f.adm != s.adm {
		p.t.Fatalf("admissions differ:\nfast    %+v\ngeneral %+v", f.adm, s.adm)
	}
	if f.t.hwm != s.t.hwm || f.t.count != s.t.count || f.t.free != s.t.free {
		p.t.Fatalf("tables differ: hwm %d/%d count %d/%d free %d/%d", f.t.hwm, s.t.hwm, f.t.count, s.t.count, f.t.free, s.t.free)
	}
	for i := uint32(0); i < f.t.hwm; i++ {
		if *f.t.s(i) != *s.t.s(i) {
			p.t.Fatalf("session %d differs:\nfast    %+v\ngeneral %+v", i, *f.t.s(i), *s.t.s(i))
		}
	}
	if !slices.Equal(f.t.idx, s.t.idx) || !slices.Equal(f.t.fidx, s.t.fidx) {
		p.t.Fatalf("indexes differ")
	}
	if !maps.Equal(f.perHost, s.perHost) || !maps.Equal(f.in.perHost, s.in.perHost) {
		p.t.Fatalf("per-host quotas differ")
	}
	if !slices.Equal(f.in.ring, s.in.ring) || f.in.head != s.in.head || f.in.n != s.in.n {
		p.t.Fatalf("inbound rings differ")
	}
	if f.sweep != s.sweep || f.errs != s.errs || f.ptb != s.ptb {
		p.t.Fatalf("sweep cursor or ICMPv6 buckets differ")
	}
	if f.pending != s.pending || f.frags != s.frags {
		p.t.Fatalf("held SYNs or fragment table differ")
	}
}

// planted are sessions the general path could not have created, put into
// both engines' tables directly (TCP established and UDP, LAN port 45000,
// remote port 443): their packets are refused by the address checks alone,
// so that each check the fast path repeats shows if it is missing.
var planted = []struct{ lan, rem string }{
	{hostULA, srv},          // ULA source from the LAN; ULA destination from the WAN
	{"2a00:1:2:9::5", srv},  // a source outside the LAN prefixes; unassigned destination
	{hostA, unassigned},     // to the unassigned delegated space; WAN source inside it
	{hostA, routerWAN},      // to the router; WAN source the router's own
	{hostA, hostLL},         // link-local remote
	{hostA, "fd00::1"},      // ULA remote
	{hostA, "2001:db8::1"},  // reserved remote
	{hostA, hostB},          // LAN to LAN
	{routerLAN, srv},        // the router's address without flagSelf
	{"2600:1:0:1::99", srv}, // a source on the WAN's side
	{hostA, "2a00:1:2:3::"}, // the LAN prefix's subnet-router anycast address
}

// fastPathTraffic is the set of flows the tests set up (setup, run once)
// and the packets of those flows, with variations at each field the fast
// path looks at (variants, with their directions).
func fastPathTraffic(t testing.TB) (setup func(p *enginePair), variants [][]byte, dirs []Dir) {
	tcp := func(src string, sp uint16, dst string, dp uint16, flags string) []byte {
		return tcp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags, Payload: []byte("hello")})
	}
	udp := func(src string, sp uint16, dst string, dp uint16) []byte {
		return udp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Payload: []byte("hello")})
	}
	// Sessions in every state and with every flag the established path
	// might treat apart:
	//   hostA:40000→srv:443   TCP established
	//   hostA:40001→srv:80    TCP syn-sent
	//   hostA:40002→srv:8080  TCP fin-out
	//   hostA:40003→srv:8081  TCP fin-in
	//   hostA:40004→srv:8082  TCP fin-both
	//   hostA:40005→srv:8083  TCP reset (an ACK from the LAN re-establishes it)
	//   hostA:40006→srv:1723  TCP established, PPTP (with its GRE session)
	//   srv:50000→hostC:22    TCP established, opened from the WAN by a rule
	//   srv2:50001→hostC:22   TCP syn-received (unconfirmed)
	//   srv:50002→hostC:1723  TCP established, rule and PPTP
	//   hostA:5000→srv:53     UDP
	//   hostB:6000→srv2:123   UDP, never answered
	//   srv:7000→hostC:9000   UDP opened from the WAN by a rule (confirmed by the LAN later)
	//   routerLAN:33000→srv:443 TCP established, the router's own
	setup = func(p *enginePair) {
		open := func(sp uint16, dp uint16) {
			p.send(FromLAN, tcp(hostA, sp, srv, dp, "S"))
			p.send(FromWAN, tcp(srv, dp, hostA, sp, "SA"))
			p.send(FromLAN, tcp(hostA, sp, srv, dp, "A"))
		}
		open(40000, 443)
		p.send(FromLAN, tcp(hostA, 40001, srv, 80, "S"))
		open(40002, 8080)
		p.send(FromLAN, tcp(hostA, 40002, srv, 8080, "FA"))
		open(40003, 8081)
		p.send(FromWAN, tcp(srv, 8081, hostA, 40003, "FA"))
		open(40004, 8082)
		p.send(FromLAN, tcp(hostA, 40004, srv, 8082, "FA"))
		p.send(FromWAN, tcp(srv, 8082, hostA, 40004, "FA"))
		open(40005, 8083)
		p.send(FromLAN, tcp(hostA, 40005, srv, 8083, "R"))
		open(40006, 1723)
		inbound := func(src string, sp, dp uint16) {
			p.send(FromWAN, tcp6(t, pk{Src: src, Dst: hostC, SP: sp, DP: dp, Flags: "S", Seq: 500}))
			p.send(FromLAN, tcp6(t, pk{Src: hostC, Dst: src, SP: dp, DP: sp, Flags: "SA", Seq: 9000, Ack: 501}))
			p.send(FromWAN, tcp6(t, pk{Src: src, Dst: hostC, SP: sp, DP: dp, Flags: "A", Seq: 501, Ack: 9001}))
		}
		inbound(srv, 50000, 22)
		p.send(FromWAN, tcp(srv2, 50001, hostC, 22, "S"))
		inbound(srv, 50002, 1723)
		p.send(FromLAN, udp(hostA, 5000, srv, 53))
		p.send(FromWAN, udp(srv, 53, hostA, 5000))
		p.send(FromLAN, udp(hostB, 6000, srv2, 123))
		p.send(FromWAN, udp(srv, 7000, hostC, 9000))
		p.send(FromSelf, tcp(routerLAN, 33000, srv, 443, "S"))
		p.send(FromWAN, tcp(srv, 443, routerLAN, 33000, "SA"))
		p.send(FromSelf, tcp(routerLAN, 33000, srv, 443, "A"))
		for _, pl := range planted {
			for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
				st := stUDP
				if proto == packet.ProtoTCP {
					st = stEstablished
				}
				k := key{proto: proto, lan: a6(pl.lan), lport: 45000, rem: a6(pl.rem), rport: 443}
				for _, e := range []*Engine{p.fast, p.slow} {
					if i, r := e.create(&k, st, 0); i == none {
						t.Fatalf("planting %+v: %v", k, r)
					}
				}
			}
		}
		p.compare()
	}
	bases := []struct {
		dir Dir
		b   []byte
	}{
		{FromLAN, tcp(hostA, 40000, srv, 443, "A")},
		{FromWAN, tcp(srv, 443, hostA, 40000, "A")},
		{FromLAN, tcp(hostA, 40000, srv, 443, "PA")},
		{FromLAN, tcp6(t, pk{Src: hostA, Dst: srv, SP: 40000, DP: 443, Flags: "A", MSS: 1460})}, // SYN variants get clamped
		{FromWAN, tcp6(t, pk{Src: srv, Dst: hostA, SP: 443, DP: 40000, Flags: "A", MSS: 1460})},
		{FromLAN, tcp(hostA, 40001, srv, 80, "A")},
		{FromWAN, tcp(srv, 80, hostA, 40001, "A")},
		{FromLAN, tcp(hostA, 40002, srv, 8080, "A")},
		{FromWAN, tcp(srv, 8080, hostA, 40002, "A")},
		{FromLAN, tcp(hostA, 40003, srv, 8081, "A")},
		{FromWAN, tcp(srv, 8082, hostA, 40004, "A")},
		{FromLAN, tcp(hostA, 40005, srv, 8083, "A")},
		{FromWAN, tcp(srv, 8083, hostA, 40005, "A")},
		{FromLAN, tcp(hostA, 40006, srv, 1723, "PA")},
		{FromWAN, tcp(srv, 1723, hostA, 40006, "PA")},
		{FromWAN, tcp(srv, 50000, hostC, 22, "A")},
		{FromLAN, tcp(hostC, 22, srv, 50000, "PA")},
		{FromWAN, tcp(srv2, 50001, hostC, 22, "A")},
		{FromWAN, tcp(srv, 50002, hostC, 1723, "A")},
		{FromLAN, tcp(hostC, 1723, srv, 50002, "A")},
		{FromLAN, udp(hostA, 5000, srv, 53)},
		{FromWAN, udp(srv, 53, hostA, 5000)},
		{FromLAN, udp(hostB, 6000, srv2, 123)},
		{FromWAN, udp(srv2, 123, hostB, 6000)},
		{FromWAN, udp(srv, 7000, hostC, 9000)},
		{FromLAN, udp(hostC, 9000, srv, 7000)},
		{FromWAN, tcp(srv, 443, routerLAN, 33000, "A")},
		{FromLAN, tcp(routerLAN, 33000, srv, 443, "A")}, // a LAN host using the router's address
		{FromLAN, udp(hostB, 7777, srv, 53)},            // no session yet: created by the general path
		{FromWAN, udp(srv, 53, hostB, 7777)},
		{FromLAN, tcp(hostB, 41000, srv, 443, "A")}, // picked up mid-stream (REC-31)
		{FromWAN, tcp(srv, 443, hostB, 41000, "A")},
	}
	for _, pl := range planted {
		bases = append(bases,
			struct {
				dir Dir
				b   []byte
			}{FromLAN, tcp(pl.lan, 45000, pl.rem, 443, "A")},
			struct {
				dir Dir
				b   []byte
			}{FromWAN, tcp(pl.rem, 443, pl.lan, 45000, "A")},
			struct {
				dir Dir
				b   []byte
			}{FromLAN, udp(pl.lan, 45000, pl.rem, 443)},
			struct {
				dir Dir
				b   []byte
			}{FromWAN, udp(pl.rem, 443, pl.lan, 45000)})
	}
	for _, base := range bases {
		add := func(b []byte) {
			variants = append(variants, b)
			dirs = append(dirs, base.dir)
		}
		cp := func() []byte { return append([]byte(nil), base.b...) }
		isTCP := base.b[6] == packet.ProtoTCP
		add(cp())
		add(append(cp(), 0, 0, 0, 0)) // link-layer padding beyond the payload length
		for _, hl := range []byte{0, 1, 2, 255} {
			b := cp()
			b[7] = hl
			add(b)
		}
		for _, v := range []byte{0x40, 0x70, 0x00, 0x6f} { // version (and traffic class)
			b := cp()
			b[0] = v
			add(b)
		}
		pl := len(base.b) - packet.IPv6HeaderLen
		for _, n := range []int{pl + 1, pl - 1, 0, 7, 8, 19, 20, 0xffff} { // payload length
			b := cp()
			binary.BigEndian.PutUint16(b[4:], uint16(n))
			add(b)
		}
		for _, n := range []int{39, 40, 47, 48, 59} { // truncated buffers
			if n < len(base.b) {
				add(append([]byte(nil), base.b[:n]...))
			}
		}
		for _, nh := range []byte{0, 44, 43, 60, 58, 6, 17, 50, 47, 136, 132} { // next header
			b := cp()
			b[6] = nh
			add(b)
		}
		if isTCP {
			for _, fl := range []byte{0x02, 0x01, 0x04, 0x12, 0x11, 0x14, 0x10, 0x18, 0x00, 0x20, 0xc0} {
				b := cp()
				b[packet.IPv6HeaderLen+13] = fl
				add(b)
			}
			for _, off := range []byte{0x40, 0x00, 0xf0, 0x50} { // data offset
				b := cp()
				b[packet.IPv6HeaderLen+12] = off
				add(b)
			}
		}
		{ // a Destination Options header in front of the transport header
			b := make([]byte, 0, len(base.b)+8)
			b = append(b, base.b[:packet.IPv6HeaderLen]...)
			b = append(b, base.b[6], 0, 1, 4, 0, 0, 0, 0)
			b = append(b, base.b[packet.IPv6HeaderLen:]...)
			b[6] = 60
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)-packet.IPv6HeaderLen))
			add(b)
		}
		// Each address: the router's, the LAN's, ULA, link-local,
		// unassigned delegated space, multicast, reserved, the WAN's.
		for _, a := range []string{routerLAN, routerULA, routerLANLL, routerWAN, routerWANLL, ispLL, hostB, hostC, hostULA, hostLL,
			unassigned, srv, srv2, "2a00:1:2::1", "ff02::1", "ff0e::1", "::", "::1", "::ffff:10.0.0.1", "2001:db8::1", "3fff::1",
			"2001:10::1", "fec0::1", "100::1", "fd00::1", "64:ff9b::1.2.3.4", "2a00:1:2:3::"} {
			for _, off := range []int{8, 24} {
				b := cp()
				copy(b[off:], mustAddr(a).AsSlice())
				add(b)
			}
		}
		for _, d := range []int{0, 2} { // each port
			b := cp()
			b[packet.IPv6HeaderLen+d] ^= 1
			add(b)
		}
		// Between the two MTUs (1400 and 1500, the pair's configurations
		// swap them), and at each of them.
		for _, n := range []int{1400, 1401, 1450, 1500, 1501} {
			b := make([]byte, n)
			copy(b, base.b)
			binary.BigEndian.PutUint16(b[4:], uint16(n-packet.IPv6HeaderLen))
			add(b)
		}
	}
	// The whole of the general path's own extension-header builders too.
	for _, base := range bases[:2] {
		src, dst := packet.IPv6(base.b).SrcAddr().String(), packet.IPv6(base.b).DstAddr().String()
		sp, dp := binary.BigEndian.Uint16(base.b[40:]), binary.BigEndian.Uint16(base.b[42:])
		variants = append(variants, tcp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: "A", Ext: []gopacket.SerializableLayer{dstOpts()}}))
		dirs = append(dirs, base.dir)
	}
	return setup, variants, dirs
}

// fastPathConfigs are the configurations the equivalence runs under: both
// filtering behaviours, the MTUs either way round, MSS clamping off,
// transparent mode, PPTP passthrough off, unsolicited SYNs silent, the
// shortest UDP timeout and a small per-host limit.
var fastPathConfigs = []struct {
	name string
	mod  func(*Config)
}{
	{"default", nil},
	{"eif", func(c *Config) { c.Filtering = EndpointIndependent }},
	{"mtus-swapped", func(c *Config) { c.WANMTU, c.LANMTU = 1500, 1400; c.MSSClamp = 0 }},
	{"transparent", func(c *Config) { c.Transparent = true; c.Filtering = EndpointIndependent }},
	{"no-pptp", func(c *Config) { c.Passthrough.PPTP = false; c.UnsolicitedSYNSilent = true }},
	{"short", func(c *Config) { c.Timeouts.UDP = 2 * time.Minute; c.MaxSessionsPerHost = 40 }},
}

func TestFastPathMatchesGeneral(t *testing.T) {
	for _, cf := range fastPathConfigs {
		t.Run(cf.name, func(t *testing.T) {
			p := newEnginePair(t, cf.mod)
			setup, variants, dirs := fastPathTraffic(t)
			setup(p)
			for round := 0; round < 6; round++ {
				for k, b := range variants {
					p.send(dirs[k], b)
				}
				// Between rounds sessions expire, the transitory ones
				// first: found expired by the lookup (age), or removed by
				// the sweep (advance).
				if round%2 == 0 {
					p.age(time.Duration(round+1) * 2 * time.Minute)
				} else {
					p.advance(time.Duration(round+1) * 20 * time.Minute)
				}
			}
			if p.fastTaken < 100 {
				t.Fatalf("the fast path took %d packets", p.fastTaken)
			}
			t.Logf("%d packets through the fast path", p.fastTaken)
		})
	}
}

// TestFastPathMutations sends the flows' packets with random bits of their
// first 64 bytes flipped through both engines: 20,000 under each filtering
// behaviour.
func TestFastPathMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for c, cf := range fastPathConfigs[:2] {
		p := newEnginePair(t, cf.mod)
		setup, variants, dirs := fastPathTraffic(t)
		setup(p)
		for n := 0; n < 20000; n++ {
			k := rng.IntN(len(variants))
			p.send(dirs[k], mutate(rng, variants[k]))
			switch n % 2500 {
			case 1249:
				p.age(3 * time.Minute)
			case 2499:
				p.advance(time.Minute)
			}
		}
		t.Logf("%s: %d packets through the fast path", fastPathConfigs[c].name, p.fastTaken)
	}
}

// FuzzFastPath is TestFastPathMutations for the fuzzer: any bytes, from
// the LAN or the WAN, after the flows of fastPathTraffic exist, under the
// configuration cfg picks.
func FuzzFastPath(f *testing.F) {
	_, variants, dirs := fastPathTraffic(f)
	for k := 0; k < len(variants); k += 7 { // every variant would take 15 s of each go test
		f.Add(variants[k], uint8(dirs[k]), uint8(k))
	}
	f.Fuzz(func(t *testing.T, data []byte, dir, cfg uint8) {
		p := newEnginePair(t, fastPathConfigs[int(cfg)%len(fastPathConfigs)].mod)
		setup, _, _ := fastPathTraffic(t)
		setup(p)
		d := Dir(dir % 2)
		p.send(d, data)
		p.send(d, data)
		p.age(5 * time.Minute)
		p.send(d, data)
	})
}

// TestFastPathAddresses checks the pair under address sets that change
// the fast path's checks: several LAN prefixes, no global prefix, the
// router's WAN address inside the delegated prefix.
func TestFastPathAddresses(t *testing.T) {
	sets := []Addresses{
		{
			Delegated: []netip.Prefix{netip.MustParsePrefix(delegated)},
			LAN:       []netip.Prefix{netip.MustParsePrefix(ulaPrefix), netip.MustParsePrefix("2a00:1:2:4::/64"), netip.MustParsePrefix(lanPrefix)},
			RouterLAN: []netip.Addr{mustAddr(routerLANLL), mustAddr(routerLAN)},
			RouterWAN: []netip.Addr{mustAddr(routerWANLL), mustAddr("2a00:1:2:ff::1")},
		},
		{
			LAN:       []netip.Prefix{netip.MustParsePrefix(lanPrefix)},
			RouterLAN: []netip.Addr{mustAddr(routerLANLL)},
			RouterWAN: []netip.Addr{mustAddr(routerWANLL), mustAddr(srv2)},
		},
	}
	for _, a := range sets {
		p := newEnginePair(t, nil)
		setup, variants, dirs := fastPathTraffic(t)
		setup(p)
		for _, e := range []*Engine{p.fast, p.slow} {
			if _, err := e.SetAddresses(a); err != nil {
				t.Fatal(err)
			}
		}
		p.compare()
		for round := 0; round < 2; round++ {
			for k, b := range variants {
				p.send(dirs[k], b)
			}
		}
		if p.fastTaken == 0 {
			t.Fatalf("the fast path took nothing")
		}
	}
}

// mutate returns a copy of packet v with one to three bits flipped in its
// first 64 bytes (the IPv6 header and the ports the fast path reads).
func mutate(rng *rand.Rand, v []byte) []byte {
	b := append([]byte(nil), v...)
	for m := rng.IntN(3); m >= 0 && len(b) > 0; m-- {
		b[rng.IntN(min(len(b), 64))] ^= byte(1 << rng.IntN(8))
	}
	return b
}
