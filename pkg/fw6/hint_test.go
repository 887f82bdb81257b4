package fw6

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// ProcessHinted takes the session a Hint names once the packet's key
// matches the record's, instead of looking the key up (prefetch.go). A
// hint is only a guess: these tests give the fast engine of an enginePair
// (fast_test.go) right, stale, foreign, made-up and random hints and
// compare everything with the general engine, which gets none.

// hintFor is the hint the data plane passes for b: PrefetchSlot's, then
// PrefetchSession's.
func hintFor(e *Engine, b []byte, dir Dir) Hint {
	return e.PrefetchSession(e.PrefetchSlot(b, dir))
}

// hintStrategy is a way to pick the fast engine's hint for a packet.
type hintStrategy struct {
	name string
	make func(p *enginePair) func([]byte, Dir) Hint
}

func hintStrategies(rng *rand.Rand, variants [][]byte, dirs []Dir) []hintStrategy {
	return []hintStrategy{
		{"right", func(p *enginePair) func([]byte, Dir) Hint {
			return func(b []byte, dir Dir) Hint { return hintFor(p.fast, b, dir) }
		}},
		// The hint of a packet a few packets back, whatever became of its
		// session since (expired, removed, its record reused).
		{"stale", func(p *enginePair) func([]byte, Dir) Hint {
			var ring [7]Hint
			n := 0
			return func(b []byte, dir Dir) Hint {
				h := ring[n%len(ring)]
				ring[n%len(ring)] = hintFor(p.fast, b, dir)
				n++
				return h
			}
		}},
		// Another packet's hint, taken now.
		{"foreign", func(p *enginePair) func([]byte, Dir) Hint {
			return func([]byte, Dir) Hint {
				k := rng.IntN(len(variants))
				return hintFor(p.fast, variants[k], dirs[k])
			}
		}},
		// Any session number around the records in use, or a slot hint
		// (SlotHint's form) of any slot around the index's length.
		{"made-up", func(p *enginePair) func([]byte, Dir) Hint {
			return func([]byte, Dir) Hint {
				if rng.IntN(4) == 0 {
					return Hint(rng.Uint64N(uint64(len(p.fast.t.idx))+3))<<32 | hintValid
				}
				i := rng.Uint32N(p.fast.t.hwm + 3)
				if rng.IntN(8) == 0 {
					i = ^uint32(rng.IntN(2))
				}
				return Hint(i)<<32 | hintSession | hintValid
			}
		}},
		{"random", func(p *enginePair) func([]byte, Dir) Hint {
			return func([]byte, Dir) Hint { return Hint(rng.Uint64()) }
		}},
	}
}

// TestHintedMatchesGeneral is TestFastPathMatchesGeneral and
// TestFastPathMutations with each kind of hint, under both filtering
// behaviours and transparent mode.
func TestHintedMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	_, variants, dirs := fastPathTraffic(t)
	for _, strategy := range hintStrategies(rng, variants, dirs) {
		t.Run(strategy.name, func(t *testing.T) {
			for _, cf := range []int{0, 1, 3} { // default, eif, transparent
				p := newEnginePair(t, fastPathConfigs[cf].mod)
				setup, variants, dirs := fastPathTraffic(t)
				setup(p)
				p.hint = strategy.make(p)
				for round := 0; round < 4; round++ {
					for k, b := range variants {
						p.send(dirs[k], b)
					}
					if round%2 == 0 {
						p.age(time.Duration(round+1) * 2 * time.Minute)
					} else {
						p.advance(time.Duration(round+1) * 5 * time.Minute)
					}
				}
				for n := 0; n < 5000; n++ {
					k := rng.IntN(len(variants))
					p.send(dirs[k], mutate(rng, variants[k]))
					if n%2500 == 2499 {
						p.age(3 * time.Minute)
					}
				}
				if p.fastTaken < 20 {
					t.Fatalf("%s: the fast path took %d packets", fastPathConfigs[cf].name, p.fastTaken)
				}
				checkKeysUnique(t, p.fast)
			}
		})
	}
}

// TestHintedStale: a hint naming a session that was removed, its record
// then reused by another flow; naming another live flow's session that
// differs from the packet's key in one field only (each field in turn,
// both directions); naming an expired session; or from before a
// reconfiguration replaced the table, must not process the packet with
// that session.
func TestHintedStale(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		p := newEnginePair(t, nil)
		mk := func(src string, sp uint16, dst string, dp uint16, flags string) []byte {
			if proto == packet.ProtoTCP {
				return tcp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags, Payload: []byte("x")})
			}
			return udp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Payload: []byte("x")})
		}
		type flow struct {
			host   string
			sp     uint16
			remote string
			dp     uint16
		}
		open := func(f flow) {
			if r := p.send(FromLAN, mk(f.host, f.sp, f.remote, f.dp, "S")); r.Verdict != Forward {
				t.Fatalf("open %+v: %v %v", f, r.Verdict, r.Reason)
			}
			p.send(FromWAN, mk(f.remote, f.dp, f.host, f.sp, "SA"))
			p.send(FromLAN, mk(f.host, f.sp, f.remote, f.dp, "A"))
		}
		out := func(f flow) []byte { return mk(f.host, f.sp, f.remote, f.dp, "A") }
		in := func(f flow) []byte { return mk(f.remote, f.dp, f.host, f.sp, "A") }
		sessionOf := func(f flow) uint32 {
			return p.fast.t.lookup(&key{proto: proto, lan: a6(f.host), lport: f.sp, rem: a6(f.remote), rport: f.dp})
		}
		// named requires h to name session i, as PrefetchSession's hint of
		// a key in its home slot does (the table is nearly empty).
		named := func(h Hint, i uint32) {
			t.Helper()
			if h&(hintValid|hintSession) != hintValid|hintSession || uint32(h>>32) != i {
				t.Fatalf("hint %#x does not name session %d", uint64(h), i)
			}
		}
		// hinted sends b from dir with hint h, and requires the fast
		// path to have forwarded it with session want (none: refused, or
		// a session created by the general path).
		hinted := func(dir Dir, b []byte, h Hint, want uint32) {
			t.Helper()
			p.hint = func([]byte, Dir) Hint { return h }
			var before uint32
			if want != none {
				before = p.fast.t.s(want).pktsOut + p.fast.t.s(want).pktsIn
			}
			r := p.send(dir, b)
			if want != none && (r.Verdict != Forward || p.fast.t.s(want).pktsOut+p.fast.t.s(want).pktsIn != before+1) {
				t.Fatalf("%v packet with hint %#x: %v %v, session %d not counted", dir, uint64(h), r.Verdict, r.Reason, want)
			}
			p.hint = nil
		}

		a := flow{hostA, 40000, srv, 443}
		open(a)
		iA := sessionOf(a)
		hAOut, hAIn := hintFor(p.fast, out(a), FromLAN), hintFor(p.fast, in(a), FromWAN)
		named(hAOut, iA)
		named(hAIn, iA)

		// Remove A; C, another flow, takes its record.
		drop := func(s Session) bool { return s.LAN.Port() == 40000 && s.LAN.Addr().String() == hostA }
		p.fast.Flush(drop)
		p.slow.Flush(drop)
		p.compare()
		c := flow{hostC, 40000, srv, 443}
		open(c)
		iC := sessionOf(c)
		if iC != iA {
			t.Fatalf("C has session %d, not A's old %d: the test needs the record reused", iC, iA)
		}
		// A's packets with A's stale hints (now naming C): from the WAN
		// nothing matches (refused); from the LAN a new session for A.
		hinted(FromWAN, in(a), hAIn, none)
		hinted(FromLAN, out(a), hAOut, none)
		iA2 := sessionOf(a)
		if iA2 == none || iA2 == iC {
			t.Fatalf("A's packet made session %d (C is %d)", iA2, iC)
		}
		// And now the stale hint names C while A has a session: A's
		// packets are A's session's, C's hint notwithstanding.
		hinted(FromWAN, in(a), hAIn, iA2)
		hinted(FromLAN, out(a), hAOut, iA2)

		// Flows that differ from C in one field each: the LAN address
		// (A), the LAN port, the remote address, the remote port; and the
		// same 5-tuple in the other protocol.
		flows := []flow{a, c, {hostC, 40001, srv, 443}, {hostC, 40000, srv2, 443}, {hostC, 40000, srv, 444}}
		for _, f := range flows[2:] {
			open(f)
		}
		other := uint8(packet.ProtoUDP)
		if proto == packet.ProtoUDP {
			other = packet.ProtoTCP
		}
		var otherOut, otherIn []byte
		if other == packet.ProtoTCP {
			p.send(FromLAN, tcp6(t, pk{Src: hostC, Dst: srv, SP: 40000, DP: 443, Flags: "S"}))
			p.send(FromWAN, tcp6(t, pk{Src: srv, Dst: hostC, SP: 443, DP: 40000, Flags: "SA"}))
			p.send(FromLAN, tcp6(t, pk{Src: hostC, Dst: srv, SP: 40000, DP: 443, Flags: "A"}))
			otherOut = tcp6(t, pk{Src: hostC, Dst: srv, SP: 40000, DP: 443, Flags: "A", Payload: []byte("x")})
			otherIn = tcp6(t, pk{Src: srv, Dst: hostC, SP: 443, DP: 40000, Flags: "A", Payload: []byte("x")})
		} else {
			otherOut = udp6(t, pk{Src: hostC, Dst: srv, SP: 40000, DP: 443, Payload: []byte("x")})
			otherIn = udp6(t, pk{Src: srv, Dst: hostC, SP: 443, DP: 40000, Payload: []byte("x")})
			p.send(FromLAN, otherOut)
		}
		iOther := p.fast.t.lookup(&key{proto: other, lan: a6(hostC), lport: 40000, rem: a6(srv), rport: 443})
		if iOther == none {
			t.Fatal("the other protocol's session was not made")
		}
		ids := make([]uint32, len(flows))
		for k, f := range flows {
			if ids[k] = sessionOf(f); ids[k] == none {
				t.Fatalf("flow %+v has no session", f)
			}
		}
		for k, f := range flows {
			for m := range flows {
				hg := Hint(ids[m])<<32 | hintSession | hintValid
				hinted(FromLAN, out(f), hg, ids[k])
				hinted(FromWAN, in(f), hg, ids[k])
			}
			hOther := Hint(iOther)<<32 | hintSession | hintValid
			hinted(FromLAN, out(f), hOther, ids[k])
			hinted(FromWAN, in(f), hOther, ids[k])
		}
		hC := Hint(iC)<<32 | hintSession | hintValid
		hinted(FromLAN, otherOut, hC, iOther)
		hinted(FromWAN, otherIn, hC, iOther)

		// An expired session named by its own hint: the fast path
		// declines it as it declines the lookup's, and the general path
		// removes it (the WAN's packet is refused).
		hCIn := hintFor(p.fast, in(c), FromWAN)
		named(hCIn, iC)
		p.age(3 * time.Hour)
		hinted(FromWAN, in(c), hCIn, none)
		if sessionOf(c) != none {
			t.Fatal("the expired session is still there")
		}

		// A hint from before a reconfiguration replaced the table (a new
		// size): the new table's first records hold other flows.
		hAOut = hintFor(p.fast, out(a), FromLAN)
		named(hAOut, sessionOf(a))
		for _, e := range []*Engine{p.fast, p.slow} {
			cfg := e.Config()
			cfg.MaxSessions = 2048
			if _, err := e.Reconfigure(cfg); err != nil {
				t.Fatal(err)
			}
		}
		p.compare()
		hinted(FromLAN, out(a), hAOut, none) // the table is empty: a new session
		for _, f := range flows[1:] {
			open(f)
		}
		hinted(FromWAN, in(c), hAOut, sessionOf(c))
		for _, f := range flows {
			hinted(FromLAN, out(f), hAOut, sessionOf(f))
		}
		checkKeysUnique(t, p.fast)
	}
}

// TestPrefetchSessionNamesTheSession: in a table at its highest load, the
// hint PrefetchSession returns names the packet's own session for most
// packets (those in their home slot; the index holds no tags to probe
// further by), ProcessHinted's check accepts exactly those, and the batch
// form gives the same hints as one packet at a time.
func TestPrefetchSessionNamesTheSession(t *testing.T) {
	const max = 4096
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		e := benchEngine(t, max)
		out, in := flowSet(t, e, proto, max*15/16)
		tb := e.t
		named, total := 0, 0
		for k := range out {
			for _, dir := range []Dir{FromLAN, FromWAN} {
				b := out[k]
				if dir == FromWAN {
					b = in[k]
				}
				src, dst := load(b[8:24]), load(b[24:40])
				ports := packet.Ports(b[packet.IPv6HeaderLen:])
				ky := key{proto: proto, lan: src, lport: ports.Src(), rem: dst, rport: ports.Dst()}
				if dir == FromWAN {
					ky = key{proto: proto, lan: dst, lport: ports.Dst(), rem: src, rport: ports.Src()}
				}
				h := hintFor(e, b, dir)
				want := tb.lookup(&ky)
				got := tb.hintedSession(h, &ky)
				if want == none {
					t.Fatalf("flow %d %v: no session", k, dir)
				}
				if got != none && got != want {
					t.Fatalf("flow %d %v: hint %#x accepted for session %d, the key's is %d", k, dir, uint64(h), got, want)
				}
				if (h&hintSession != 0 && uint32(h>>32) == want) != (got == want) {
					t.Fatalf("flow %d %v: hint %#x names session %d; the check says %d", k, dir, uint64(h), want, got)
				}
				if got == want {
					named++
				}
				total++
			}
		}
		// At load 0.47 about three keys in four sit in their home slot.
		if named < total*6/10 {
			t.Errorf("proto %d: %d of %d packets' hints name their session", proto, named, total)
		}
		for _, c := range []struct {
			dir  Dir
			pkts [][]byte
		}{{FromLAN, out}, {FromWAN, in}} {
			for start := 0; start < len(c.pkts); start += 64 {
				batch := c.pkts[start:min(start+64, len(c.pkts))]
				hints := make([]Hint, len(batch))
				for k, b := range batch {
					hints[k] = e.SlotHint(b, c.dir)
				}
				e.PrefetchSlots(hints)
				e.PrefetchSessions(hints)
				for k, b := range batch {
					if want := hintFor(e, b, c.dir); hints[k] != want {
						t.Fatalf("packet %d %v: batch hint %#x, one at a time %#x", start+k, c.dir, uint64(hints[k]), uint64(want))
					}
				}
			}
		}
		t.Logf("proto %d: %d of %d packets' hints name their session", proto, named, total)
	}
}

// FuzzHinted is FuzzFastPath with a hint: any bytes, either direction,
// under the configuration cfg picks, with any hint, then with the
// packet's own hint.
func FuzzHinted(f *testing.F) {
	_, variants, dirs := fastPathTraffic(f)
	for k := 0; k < len(variants); k += 7 { // every variant would take 15 s of each go test
		h := uint64(0)
		if k%2 == 1 {
			h = uint64(Hint(k%5)<<32 | hintSession | hintValid)
		}
		f.Add(variants[k], uint8(dirs[k]), uint8(k), h)
	}
	f.Fuzz(func(t *testing.T, data []byte, dir, cfg uint8, hint uint64) {
		p := newEnginePair(t, fastPathConfigs[int(cfg)%len(fastPathConfigs)].mod)
		setup, _, _ := fastPathTraffic(t)
		setup(p)
		d := Dir(dir % 2)
		p.hint = func([]byte, Dir) Hint { return Hint(hint) }
		p.send(d, data)
		p.hint = func(b []byte, d Dir) Hint { return hintFor(p.fast, b, d) }
		p.send(d, data)
		p.age(5 * time.Minute)
		p.send(d, data)
		checkKeysUnique(t, p.fast)
	})
}

// checkKeysUnique fails when two live sessions share a key. ProcessHinted
// rests on it (hintedSession): a record whose key matches a packet's is
// then the session lookup would find.
func checkKeysUnique(t testing.TB, e *Engine) {
	t.Helper()
	seen := map[key]uint32{}
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		k := s.key()
		if j, dup := seen[k]; dup {
			t.Fatalf("sessions %d and %d share the key %+v", j, i, k)
		}
		seen[k] = i
	}
}

// TestAttack_TwoSessionsOneKey: every way a session is made, from the LAN
// and from the WAN, for one key at once — an allow rule's and the LAN
// host's answer, a held SYN and the LAN's simultaneous open, transparent
// mode, inbound IPsec beside the LAN's own ESP, two PPTP control
// connections and GRE from both sides, inbound ping beside the LAN's
// echo, a session found expired before the sweep, the router's own flow
// and a LAN host forging its address — must never leave two live
// sessions with one key: the data plane's hints (prefetch.go) rely on one
// live session per key.
func TestAttack_TwoSessionsOneKey(t *testing.T) {
	configs := []struct {
		name string
		mod  func(*Config)
	}{
		{"adf", nil},
		{"eif", func(c *Config) { c.Filtering = EndpointIndependent }},
		{"transparent", func(c *Config) { c.Transparent = true }},
	}
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				c.InboundPing, c.InboundIPsec = true, true
				c.Allow = []AllowRule{{Name: "ssh", Proto: packet.ProtoTCP, PortStart: 22, PortEnd: 22, Host: mustAddr(hostC)}}
				if cf.mod != nil {
					cf.mod(c)
				}
			})
			step := func(dir Dir, b []byte) {
				t.Helper()
				r.send(dir, b)
				checkKeysUnique(t, r.e)
			}
			tcp := func(src string, sp uint16, dst string, dp uint16, flags string) []byte {
				return tcp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags})
			}
			udp := func(src string, sp uint16, dst string, dp uint16) []byte {
				return udp6(t, pk{Src: src, Dst: dst, SP: sp, DP: dp})
			}
			// An allow rule's session, the LAN host's answers, a repeated SYN.
			step(FromWAN, tcp(srv, 50000, hostC, 22, "S"))
			step(FromLAN, tcp(hostC, 22, srv, 50000, "SA"))
			step(FromWAN, tcp(srv, 50000, hostC, 22, "A"))
			step(FromWAN, tcp(srv, 50000, hostC, 22, "S"))
			step(FromLAN, tcp(hostC, 22, srv, 50000, "S"))
			// A held unsolicited SYN, then the LAN's simultaneous open.
			step(FromWAN, tcp(srv, 443, hostA, 40010, "S"))
			step(FromLAN, tcp(hostA, 40010, srv, 443, "S"))
			step(FromWAN, tcp(srv, 443, hostA, 40010, "S"))
			step(FromWAN, tcp(srv, 443, hostA, 40010, "SA"))
			// UDP both ways first (transparent mode admits the WAN's).
			step(FromWAN, udp(srv, 53, hostB, 5353))
			step(FromLAN, udp(hostB, 5353, srv, 53))
			step(FromWAN, udp(srv, 53, hostB, 5353))
			step(FromLAN, udp(hostA, 4500, srv, 4500))
			step(FromWAN, udp(srv, 4500, hostA, 4500))
			step(FromWAN, udp(srv2, 500, hostA, 500)) // inbound IKE
			step(FromLAN, udp(hostA, 500, srv2, 500))
			// ESP: inbound IPsec's session and the LAN host's own, one
			// address pair.
			step(FromWAN, raw6(t, pk{Src: srv, Dst: hostB}, packet.ProtoESP, esp(7)))
			step(FromLAN, raw6(t, pk{Src: hostB, Dst: srv}, packet.ProtoESP, esp(8)))
			step(FromLAN, raw6(t, pk{Src: hostA, Dst: srv}, packet.ProtoESP, esp(9)))
			step(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(10)))
			// Two PPTP control connections to one server (each keeps the
			// one GRE session of the address pair), and GRE both ways.
			step(FromWAN, raw6(t, pk{Src: srv2, Dst: hostA}, packet.ProtoGRE, gre(1)))
			for _, sp := range []uint16{40020, 40021} {
				step(FromLAN, tcp(hostA, sp, srv2, 1723, "S"))
				step(FromWAN, tcp(srv2, 1723, hostA, sp, "SA"))
				step(FromLAN, tcp(hostA, sp, srv2, 1723, "A"))
				step(FromLAN, tcp(hostA, sp, srv2, 1723, "PA"))
				step(FromWAN, tcp(srv2, 1723, hostA, sp, "PA"))
			}
			step(FromLAN, raw6(t, pk{Src: hostA, Dst: srv2}, packet.ProtoGRE, gre(2)))
			step(FromWAN, raw6(t, pk{Src: srv2, Dst: hostA}, packet.ProtoGRE, gre(3)))
			// Echo with one identifier: the LAN's request, then the WAN's
			// (inbound ping), and the other order for another host.
			step(FromLAN, icmp6(t, pk{Src: hostA, Dst: srv}, packet.ICMPv6EchoRequest, 7, 1))
			step(FromWAN, icmp6(t, pk{Src: srv, Dst: hostA}, packet.ICMPv6EchoRequest, 7, 1))
			step(FromWAN, icmp6(t, pk{Src: srv, Dst: hostB}, packet.ICMPv6EchoRequest, 8, 1))
			step(FromLAN, icmp6(t, pk{Src: hostB, Dst: srv}, packet.ICMPv6EchoRequest, 8, 1))
			step(FromLAN, icmp6(t, pk{Src: hostB, Dst: srv}, packet.ICMPv6EchoReply, 8, 1))
			// The router's own flow, and a LAN host forging its address.
			step(FromSelf, tcp(routerLAN, 33000, srv, 443, "S"))
			step(FromLAN, tcp(routerLAN, 33000, srv, 443, "S"))
			step(FromWAN, tcp(srv, 443, routerLAN, 33000, "SA"))
			// Sessions found expired by their next packet, before the
			// sweep: the LAN's packets make new ones, the WAN's are
			// refused or admitted anew.
			n := len(r.sessions())
			r.now += 3 * time.Hour
			r.e.now = uint32(r.now / time.Second) // no Tick: no sweep
			step(FromLAN, udp(hostB, 5353, srv, 53))
			step(FromWAN, udp(srv, 53, hostB, 5353))
			step(FromLAN, tcp(hostA, 40010, srv, 443, "A"))
			step(FromLAN, raw6(t, pk{Src: hostB, Dst: srv}, packet.ProtoESP, esp(8)))
			step(FromWAN, raw6(t, pk{Src: srv, Dst: hostA}, packet.ProtoESP, esp(10)))
			step(FromWAN, tcp(srv, 50000, hostC, 22, "S"))
			step(FromLAN, tcp(hostC, 22, srv, 50000, "SA"))
			step(FromLAN, tcp(hostA, 40020, srv2, 1723, "PA"))
			step(FromWAN, tcp(srv2, 1723, hostA, 40020, "PA"))
			step(FromLAN, icmp6(t, pk{Src: hostA, Dst: srv}, packet.ICMPv6EchoRequest, 7, 2))
			if n < 12 {
				t.Fatalf("%d sessions before the expiry: the ways in were not taken", n)
			}
			checkTable(t, r.e)
		})
	}
}
