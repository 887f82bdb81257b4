package nat

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// TranslateHinted takes the session a Hint names once the packet's key
// matches it, instead of looking the key up (prefetch.go). A hint is only
// a guess: these tests give the fast engine of an enginePair (fast_test.go)
// right, stale, foreign and made-up hints and compare everything with the
// general engine, which gets none.

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
		// session since (expired, removed, its slot reused).
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
		// Any session number, either direction, around the records in use.
		{"session", func(p *enginePair) func([]byte, Dir) Hint {
			return func([]byte, Dir) Hint {
				i := rng.Uint32N(p.fast.t.hwm + 3)
				if rng.IntN(8) == 0 {
					i = ^uint32(rng.IntN(2))
				}
				return Hint(i)<<32 | Hint(rng.IntN(4))<<1 | hintSession | hintValid
			}
		}},
		{"random", func(p *enginePair) func([]byte, Dir) Hint {
			return func([]byte, Dir) Hint { return Hint(rng.Uint64()) }
		}},
	}
}

// TestHintedMatchesGeneral is TestFastPathMatchesGeneral and
// TestFastPathMutations with each kind of hint.
func TestHintedMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	_, variants, dirs := fastPathTraffic(t)
	for _, strategy := range hintStrategies(rng, variants, dirs) {
		t.Run(strategy.name, func(t *testing.T) {
			for _, helper := range []bool{false, true} {
				p := newEnginePair(t, helper, nil)
				setup, variants, dirs := fastPathTraffic(t)
				for _, s := range setup {
					s(p)
				}
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
					t.Fatalf("the fast path took %d packets", p.fastTaken)
				}
				checkKeysUnique(t, p.fast)
			}
		})
	}
}

// TestHintedStale: a hint naming a session that was removed, its record
// then reused by another flow, or naming another flow's session (what
// PrefetchSession returns when another key with the same tag sits first
// in the home line), or one behind the chain's head in the inbound chain,
// must not translate the packet with that session.
func TestHintedStale(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		p := newEnginePair(t, false, nil)
		mk := func(src string, sp uint16, dst string, dp uint16, flags string) []byte {
			if proto == packet.ProtoTCP {
				return tcpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags, Payload: []byte("x")})
			}
			return udpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Payload: []byte("x")})
		}
		// open makes an established flow host:sp → remote:rp and returns
		// its external port.
		open := func(host string, sp uint16, remote string, rp uint16) uint16 {
			r := p.send(Outbound, mk(host, sp, remote, rp, "S"))
			if r.Verdict != Forward {
				t.Fatalf("open %s:%d: %v %v", host, sp, r.Verdict, r.Reason)
			}
			ext := binary.BigEndian.Uint16(r.Packet[20:])
			if proto == packet.ProtoTCP {
				p.send(Inbound, mk(remote, rp, extIP, ext, "SA"))
				p.send(Outbound, mk(host, sp, remote, rp, "A"))
			}
			return ext
		}
		sessionOf := func(b []byte, dir Dir) uint32 {
			q := packet.IPv4(b)
			l4 := q[q.HeaderLen():]
			sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
			if dir == Outbound {
				return p.fast.t.lookupOut(proto, q.Src(), sp, q.Dst(), dp)
			}
			i, _ := p.fast.t.lookupIn(proto, dp, q.Src(), sp)
			return i
		}
		extA := open(hostA, 40000, srv, 443)
		open(hostB, 40000, srv, 443) // same remote endpoint, another mapping
		aOut, aIn := mk(hostA, 40000, srv, 443, "A"), mk(srv, 443, extIP, extA, "A")
		hOut, hIn := hintFor(p.fast, aOut, Outbound), hintFor(p.fast, aIn, Inbound)
		iA := sessionOf(aOut, Outbound)
		if hOut&hintSession == 0 || uint32(hOut>>32) != iA || uint32(hIn>>32) != iA {
			t.Fatalf("hints %#x %#x do not name session %d", uint64(hOut), uint64(hIn), iA)
		}

		// Remove A; C, another flow, takes its record.
		p.fast.Flush(func(s SessionInfo) bool { return s.Internal.Port() == 40000 && s.Internal.Addr().String() == hostA })
		p.slow.Flush(func(s SessionInfo) bool { return s.Internal.Port() == 40000 && s.Internal.Addr().String() == hostA })
		extC := open(hostC, 40000, srv, 443)
		cOut := mk(hostC, 40000, srv, 443, "A")
		if i := sessionOf(cOut, Outbound); i != iA {
			t.Fatalf("C has session %d, not A's old %d: the test needs the record reused", i, iA)
		}
		p.hint = func(b []byte, dir Dir) Hint {
			if dir == Outbound {
				return hOut
			}
			return hIn
		}
		// A's packets with A's stale hints (now naming C): no session
		// for A (outbound opens a new one; inbound has none).
		p.send(Outbound, aOut)
		p.send(Inbound, aIn)
		// C's packets with the hint of B (same remote, other mapping).
		bOut := mk(hostB, 40000, srv, 443, "A")
		hB := hintFor(p.fast, bOut, Outbound)
		p.hint = func([]byte, Dir) Hint { return hB }
		p.send(Outbound, cOut)
		p.send(Inbound, mk(srv, 443, extIP, extC, "A"))

		// An inbound chain: C's mapping with a second remote port of the
		// same remote; D (linked last) heads the chain, C is behind it.
		open(hostC, 40000, srv, 444)
		dIn := mk(srv, 444, extIP, extC, "A")
		cIn := mk(srv, 443, extIP, extC, "A")
		iC, iD := sessionOf(cIn, Inbound), sessionOf(dIn, Inbound)
		if _, head := p.fast.t.inSlot(proto, extC, a4(srv)); head != iD || p.fast.t.s(iD).inNext != iC {
			t.Fatalf("chain head %d, want D %d then C %d", head, iD, iC)
		}
		hC := Hint(iC)<<32 | hintInbound | hintSession | hintValid
		hD := Hint(iD)<<32 | hintInbound | hintSession | hintValid
		for _, c := range []struct {
			b    []byte
			h    Hint
			want uint32
		}{{dIn, hC, iD}, {cIn, hD, iC}, {dIn, hD, iD}, {cIn, hC, iC}} {
			p.hint = func([]byte, Dir) Hint { return c.h }
			before := p.fast.t.s(c.want).pktsIn
			if r := p.send(Inbound, c.b); r.Verdict != Forward {
				t.Fatalf("inbound with hint %#x: %v %v", uint64(c.h), r.Verdict, r.Reason)
			}
			if p.fast.t.s(c.want).pktsIn != before+1 {
				t.Fatalf("inbound with hint %#x: session %d did not count it", uint64(c.h), c.want)
			}
		}
	}
}

// TestPrefetchSessionNamesTheSession: in a table at its highest load, the
// hint PrefetchSession returns names the packet's own session for nearly
// every packet, and TranslateHinted's check accepts exactly those.
func TestPrefetchSessionNamesTheSession(t *testing.T) {
	const max = 4096
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		e := benchEngine(t, max)
		out, in := flowSet(t, e, proto, max*15/16)
		tb := e.t
		named, total := 0, 0
		for k := range out {
			for _, dir := range []Dir{Outbound, Inbound} {
				p, sp, dp := flowPacket(out, in, k, dir)
				h := hintFor(e, p, dir)
				var want, got uint32
				if dir == Outbound {
					want = tb.lookupOut(p.Protocol(), p.Src(), sp, p.Dst(), dp)
					got = tb.hintedOut(h, p.Protocol(), p.Src(), sp, p.Dst(), dp)
				} else {
					want, _ = tb.lookupIn(p.Protocol(), dp, p.Src(), sp)
					got = tb.hintedIn(h, p.Protocol(), dp, p.Src(), sp)
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
		if named < total*9/10 {
			t.Errorf("proto %d: %d of %d packets' hints name their session", proto, named, total)
		}
		// The batch form (as pkg/dataplane calls it) gives the same hints.
		for _, c := range []struct {
			dir  Dir
			pkts [][]byte
		}{{Outbound, out}, {Inbound, in}} {
			for start := 0; start < len(c.pkts); start += 64 {
				batch := c.pkts[start:min(start+64, len(c.pkts))]
				hints := make([]Hint, len(batch))
				for k, p := range batch {
					hints[k] = e.SlotHint(p, c.dir)
				}
				e.PrefetchSlots(hints)
				e.PrefetchSessions(hints)
				for k, p := range batch {
					if want := hintFor(e, p, c.dir); hints[k] != want {
						t.Fatalf("packet %d %v: batch hint %#x, one at a time %#x", start+k, c.dir, uint64(hints[k]), uint64(want))
					}
				}
			}
		}
		t.Logf("proto %d: %d of %d packets' hints name their session", proto, named, total)
	}
}

// FuzzHinted is FuzzFastPath with a hint: any bytes, either direction,
// any hint, then the packet's own hint.
func FuzzHinted(f *testing.F) {
	_, variants, dirs := fastPathTraffic(f)
	for k, v := range variants {
		f.Add(v, uint8(dirs[k]), false, uint64(0))
		f.Add(v, uint8(dirs[k]), true, uint64(1<<32|hintSession|hintValid))
	}
	f.Fuzz(func(t *testing.T, data []byte, dir uint8, fixSum bool, hint uint64) {
		p := newEnginePair(t, dir&2 != 0, nil)
		setup, _, _ := fastPathTraffic(t)
		for _, s := range setup {
			s(p)
		}
		b := append([]byte(nil), data...)
		if fixSum && headerFits(b) {
			packet.IPv4(b).UpdateHeaderChecksum()
		}
		p.hint = func([]byte, Dir) Hint { return Hint(hint) }
		p.send(Dir(dir&1), b)
		p.hint = func(b []byte, d Dir) Hint { return hintFor(p.fast, b, d) }
		p.send(Dir(dir&1), b)
	})
}

// checkKeysUnique fails when two live sessions share an outbound key
// (proto, internal endpoint, remote endpoint) or an inbound key (proto,
// external port, remote endpoint). hintedOut and hintedIn rest on it: a
// record whose key matches a packet's is then the session lookupOut and
// lookupIn would find.
func checkKeysUnique(t *testing.T, e *Engine) {
	t.Helper()
	type outKey struct {
		proto      uint8
		ip, rip    uint32
		port, rprt uint16
	}
	type inKey struct {
		proto     uint8
		ext, rprt uint16
		rip       uint32
	}
	outs, ins := map[outKey]uint32{}, map[inKey]uint32{}
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		ok := outKey{s.proto, s.intIP, s.remIP, s.intPort, s.remPort}
		if j, dup := outs[ok]; dup {
			t.Fatalf("sessions %d and %d share the outbound key %+v (external ports %d, %d)", j, i, ok, e.t.s(j).extPort, s.extPort)
		}
		outs[ok] = i
		ik := inKey{s.proto, s.extPort, s.remPort, s.remIP}
		if j, dup := ins[ik]; dup {
			t.Fatalf("sessions %d and %d share the inbound key %+v", j, i, ik)
		}
		ins[ik] = i
	}
}

// TestAttack_TwoSessionsOneKey: a remote that reaches one LAN endpoint
// through every way in at once — the DMZ, a port forward and its alias
// onto that endpoint, the endpoint's own mapping — from one source port
// must never get a second session with the key of the first: the host
// could not tell the two apart, and the data plane's hints (prefetch.go)
// rely on one live session per key.
func TestAttack_TwoSessionsOneKey(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		r := newRig(t, func(c *Config) {
			c.DMZ = mustAddr(hostC)
			c.Filtering = EndpointIndependent
			c.PortForwards = []PortForward{
				{Name: "web", Proto: proto, ExtStart: 8080, ExtEnd: 8080, Host: mustAddr(hostC), IntStart: 80},
				{Name: "alt", Proto: proto, ExtStart: 8443, ExtEnd: 8443, Host: mustAddr(hostC), IntStart: 80},
				{Name: "b", Proto: proto, ExtStart: 9000, ExtEnd: 9000, Host: mustAddr(hostB), IntStart: 9000},
			}
		})
		mk := func(src, dst string, sp, dp uint16, flags string) []byte {
			if proto == packet.ProtoTCP {
				return tcpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags})
			}
			return udpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp})
		}
		// The DMZ host's own mappings: port 80 (forwarded) and 5000 (not).
		out := r.send(Outbound, mk(hostC, srv2, 5000, 53, "S"))
		dyn := binary.BigEndian.Uint16(out.Packet[20:])
		r.send(Outbound, mk(hostC, srv2, 80, 53, "S"))
		r.send(Outbound, mk(hostB, srv2, 9000, 53, "S"))
		// One remote endpoint, every external port that leads in.
		for _, dp := range []uint16{8080, 8443, dyn, 80, 5000, 9000, 1234} {
			r.send(Inbound, mk(srv, extIP, 4000, dp, "S"))
			checkKeysUnique(t, r.e)
		}
		// And the LAN side's answers, which open sessions of their own
		// when none matches.
		for _, sp := range []uint16{80, 5000, 9000, 1234} {
			for _, h := range []string{hostB, hostC} {
				r.send(Outbound, mk(h, srv, sp, 4000, "SA"))
				checkKeysUnique(t, r.e)
			}
		}
		if len(r.sessions()) < 6 {
			t.Fatalf("%d sessions: the ways in were not taken", len(r.sessions()))
		}
	}
}
