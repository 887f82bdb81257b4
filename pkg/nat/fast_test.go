package nat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// The fast path (fast.go) must do exactly what the general path does with
// the packets it takes, and leave every other packet to it untouched. These
// tests run two engines side by side on the same traffic, one of them with
// the general path only, and compare everything: the result and the packet
// bytes, the further packets, the counters, every session record and both
// session indexes.

// pairHelper claims TCP sessions to port 21 (and drops their segments)
// and shares UDP 500↔500 (dropping it), so that both reasons to leave the
// fast path show in the results; it does nothing else.
type pairHelper struct{}

func (pairHelper) Blocked(uint8, uint16) bool { return false }
func (pairHelper) OutOther(packet.IPv4, uint32) (Verdict, Reason) {
	return Drop, ReasonProtocol
}
func (pairHelper) InOther(packet.IPv4, uint32) (uint32, Verdict, Reason) {
	return 0, Drop, ReasonProtocol
}
func (pairHelper) InError(uint8, uint32, []byte) (uint32, bool) { return 0, false }
func (pairHelper) Unclaimed(uint8, uint32) bool                 { return true }
func (pairHelper) ClaimTCP(dport uint16) bool                   { return dport == 21 }
func (pairHelper) TCP(Dir, Flow, TCPState, packet.IPv4, packet.TCP, uint32) (Verdict, Reason) {
	return Drop, ReasonProtocol // visible: the claimed session's packets are the helper's
}
func (pairHelper) Closed(Flow)                       {}
func (pairHelper) ShareUDP(sport, dport uint16) bool { return sport == 500 && dport == 500 }
func (pairHelper) AnyPortReply(uint8, uint16) bool   { return false }
func (pairHelper) Tick(uint32)                       {}
func (pairHelper) OutShared(packet.IPv4, packet.UDP, uint32) (Verdict, Reason) {
	return Drop, ReasonProtocol
}
func (pairHelper) InShared(packet.IPv4, packet.UDP, uint32) (uint32, Verdict, Reason) {
	return 0, Drop, ReasonProtocol
}

// enginePair is two engines with the same configuration; slow takes the
// general path only.
type enginePair struct {
	t          testing.TB
	fast, slow *Engine
	now        time.Duration
	fastTaken  int // packets the fast path translated
	// hint, when set, gives the Hint the fast engine's TranslateHinted
	// gets for each packet (hint_test.go); the general engine gets none.
	hint func(b []byte, dir Dir) Hint
}

func newEnginePair(t testing.TB, helper bool, mod func(*Config)) *enginePair {
	mk := func() *Engine {
		c := DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
		c.Seed = 42
		c.MaxSessions = 4096
		c.WANMTU = 1400
		if mod != nil {
			mod(&c)
		}
		e, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		if helper {
			e.SetHelper(pairHelper{})
		}
		e.SetExternal(netip.MustParseAddr(extIP))
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

func (p *enginePair) advance(d time.Duration) {
	p.now += d
	a, b := p.fast.Tick(p.now), p.slow.Tick(p.now)
	if len(a) != len(b) {
		p.t.Fatalf("tick: %d packets against %d", len(a), len(b))
	}
}

// send translates b in both engines and compares them.
func (p *enginePair) send(dir Dir, b []byte) Result {
	p.t.Helper()
	bf, bs := append(make([]byte, 0, len(b)+8), b...), append(make([]byte, 0, len(b)+8), b...)
	sinceF := p.fast.cnt
	fastHdr := p.fast.fastTook(b, dir)
	var h Hint
	if p.hint != nil {
		h = p.hint(b, dir)
	}
	rf := p.fast.TranslateHinted(bf, dir, h)
	rs := p.slow.Translate(bs, dir)
	if rf.Verdict != rs.Verdict || rf.Reason != rs.Reason || !bytes.Equal(rf.Packet, rs.Packet) || !bytes.Equal(bf, bs) {
		p.t.Fatalf("dir %d packet\n% x\nfast: %v %v\n% x\ngeneral: %v %v\n% x", dir, b, rf.Verdict, rf.Reason, rf.Packet, rs.Verdict, rs.Reason, rs.Packet)
	}
	if mf, ms := p.fast.More(), p.slow.More(); len(mf) != len(ms) {
		p.t.Fatalf("more: %d against %d", len(mf), len(ms))
	} else {
		for k := range mf {
			if !bytes.Equal(mf[k], ms[k]) {
				p.t.Fatalf("more[%d] differs", k)
			}
		}
	}
	p.compare()
	if rf.Verdict == Forward && sinceF.SessionsCreated == p.fast.cnt.SessionsCreated && fastHdr {
		p.fastTaken++
	}
	return rf
}

// fastTook reports whether b's IPv4 header is one the fast path takes;
// with a forwarded result that created no session, the packet most likely
// took it (a guard that the tests exercise the fast path at all).
func (e *Engine) fastTook(b []byte, dir Dir) bool {
	mtu := e.cfg.WANMTU
	if dir == Inbound {
		mtu = e.cfg.LANMTU
	}
	if len(b) < fastMinUDP || b[0] != 0x45 {
		return false
	}
	tl := int(binary.BigEndian.Uint16(b[2:]))
	return tl >= fastMinUDP && tl <= len(b) && tl <= mtu && binary.BigEndian.Uint16(b[6:])&0x3fff == 0 && b[8] > 1 &&
		packet.IPv4(b).Checksum20OK()
}

func (p *enginePair) compare() {
	p.t.Helper()
	f, s := p.fast, p.slow
	if f.cnt != s.cnt {
		p.t.Fatalf("counters differ:\nfast    %+v\ngeneral %+v", f.cnt, s.cnt)
	}
	if f.t.hwm != s.t.hwm || f.t.count != s.t.count || f.t.free != s.t.free {
		p.t.Fatalf("tables differ: hwm %d/%d count %d/%d", f.t.hwm, s.t.hwm, f.t.count, s.t.count)
	}
	for i := uint32(0); i < f.t.hwm; i++ {
		if *f.t.s(i) != *s.t.s(i) {
			p.t.Fatalf("session %d differs:\nfast    %+v\ngeneral %+v", i, *f.t.s(i), *s.t.s(i))
		}
	}
	for h := range f.t.out {
		if f.t.out[h] != s.t.out[h] || f.t.in[h] != s.t.in[h] {
			p.t.Fatalf("index slot %d differs", h)
		}
	}
}

// fastPathTraffic is a set of packets of established flows and their
// variations at each field the fast path looks at.
func fastPathTraffic(t testing.TB) (setup []func(p *enginePair), variants [][]byte, dirs []Dir) {
	out := func(proto uint8, src string, sp uint16, dst string, dp uint16, flags string) []byte {
		if proto == packet.ProtoTCP {
			return tcpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Flags: flags, Payload: []byte("hello")})
		}
		return udpPkt(t, pk{Src: src, Dst: dst, SP: sp, DP: dp, Payload: []byte("hello")})
	}
	// Flows: TCP hostA:40000→srv:443 (established), TCP hostA:40001→srv:21
	// (claimed by the helper), UDP hostA:5000→srv:53, UDP hostB:500→srv:500
	// (shared by the helper), TCP hostB:40002→srv2:80 left in syn-sent.
	setup = []func(p *enginePair){
		func(p *enginePair) {
			p.send(Outbound, out(6, hostA, 40000, srv, 443, "S"))
			p.send(Inbound, out(6, srv, 40000, extIP, 40000, "SA"))
			p.send(Outbound, out(6, hostA, 40000, srv, 443, "A"))
			p.send(Outbound, out(6, hostA, 40001, srv, 21, "S"))
			p.send(Inbound, out(6, srv, 21, extIP, 40001, "SA"))
			p.send(Outbound, out(17, hostA, 5000, srv, 53, ""))
			// A session for UDP 500↔500 from before the helper shared it.
			hf, hs := p.fast.helper, p.slow.helper
			p.fast.SetHelper(nil)
			p.slow.SetHelper(nil)
			p.send(Outbound, out(17, hostB, 500, srv, 500, ""))
			p.fast.SetHelper(hf)
			p.slow.SetHelper(hs)
			p.send(Outbound, out(6, hostB, 40002, srv2, 80, "S"))
		},
	}
	// The SA above came from port 40000, not 443; send the proper one too.
	setup = append(setup, func(p *enginePair) {
		p.send(Inbound, out(6, srv, 443, extIP, 40000, "SA"))
		p.send(Outbound, out(6, hostA, 40000, srv, 443, "A"))
	})
	bases := []struct {
		dir Dir
		b   []byte
	}{
		{Outbound, out(6, hostA, 40000, srv, 443, "A")},
		{Inbound, out(6, srv, 443, extIP, 40000, "A")},
		{Outbound, out(6, hostA, 40000, srv, 443, "PA")},
		{Outbound, out(6, hostA, 40001, srv, 21, "A")},
		{Inbound, out(6, srv, 21, extIP, 40001, "A")},
		{Outbound, out(17, hostA, 5000, srv, 53, "")},
		{Inbound, out(17, srv, 53, extIP, 5000, "")},
		{Outbound, out(17, hostB, 500, srv, 500, "")},
		{Inbound, out(17, srv, 500, extIP, 500, "")},
		{Outbound, out(6, hostB, 40002, srv2, 80, "A")},
		{Outbound, out(17, hostC, 7000, srv, 53, "")}, // no session yet: created by the general path
	}
	fix := func(b []byte) []byte {
		if headerFits(b) {
			packet.IPv4(b).UpdateHeaderChecksum()
		}
		return b
	}
	for _, base := range bases {
		add := func(b []byte) {
			variants = append(variants, b)
			dirs = append(dirs, base.dir)
		}
		cp := func() []byte { return append([]byte(nil), base.b...) }
		add(cp())
		add(append(cp(), 0, 0, 0, 0)) // link-layer padding
		for _, ttl := range []byte{0, 1, 2, 255} {
			b := cp()
			b[8] = ttl
			add(fix(b))
		}
		for _, frag := range []uint16{0x2000, 0x0001, 0x4000, 0x8000, 0x6000} { // MF, offset, DF, reserved bit, DF|MF
			b := cp()
			binary.BigEndian.PutUint16(b[6:], frag)
			add(fix(b))
		}
		for _, fl := range []byte{0x02, 0x01, 0x04, 0x12, 0x11, 0x14, 0x10, 0x18, 0x00, 0x20} {
			if base.b[9] != packet.ProtoTCP {
				break
			}
			b := cp()
			b[33] = fl
			add(fix(b))
		}
		{ // a bad header checksum
			b := cp()
			b[10] ^= 0x55
			add(b)
		}
		{ // a header with options (no-ops)
			b := make([]byte, 0, len(base.b)+4)
			b = append(b, base.b[:20]...)
			b = append(b, 1, 1, 1, 0)
			b = append(b, base.b[20:]...)
			b[0] = 0x46
			binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
			add(fix(b))
		}
		for _, v := range []byte{0x44, 0x55, 0x65} { // header length, version
			b := cp()
			b[0] = v
			add(fix(b))
		}
		for _, tl := range []int{len(base.b) + 1, len(base.b) - 1, 27, 28, 39, 40, 20} { // total length
			b := cp()
			binary.BigEndian.PutUint16(b[2:], uint16(tl))
			add(fix(b))
		}
		for _, n := range []int{19, 20, 27, 39} { // truncated buffers
			if n < len(base.b) {
				add(append([]byte(nil), base.b[:n]...))
			}
		}
		if base.b[9] == packet.ProtoTCP { // data offset
			for _, off := range []byte{0x40, 0x00, 0xf0} {
				b := cp()
				b[32] = off
				add(b)
			}
		}
		if base.b[9] == packet.ProtoUDP { // no UDP checksum
			b := cp()
			b[26], b[27] = 0, 0
			add(b)
		}
		for _, proto := range []byte{1, 47, 50, 6, 17} { // the protocol
			b := cp()
			b[9] = proto
			add(fix(b))
		}
		// Each address: the router's LAN address and broadcast, a LAN
		// address, multicast, broadcast, martians, the external address.
		for _, a := range []string{router, "192.168.1.255", "192.168.1.0", hostC, "224.0.0.1", "255.255.255.255", "127.0.0.1", "0.0.0.0", extIP, srv2, "10.0.0.1"} {
			for _, off := range []int{12, 16} {
				b := cp()
				copy(b[off:], ip4(a))
				add(fix(b))
			}
		}
		{ // between the two MTUs (1400 and 1500), without and with DF
			for _, df := range []bool{false, true} {
				b := make([]byte, 1450)
				copy(b, base.b)
				binary.BigEndian.PutUint16(b[2:], 1450)
				if df {
					b[6] |= 0x40
				}
				add(fix(b))
			}
		}
	}
	return setup, variants, dirs
}

func TestFastPathMatchesGeneral(t *testing.T) {
	for _, helper := range []bool{false, true} {
		for _, mss := range []int{MSSAuto, 0} {
			// The MTUs either way round: packets of 1,450 bytes fit one
			// side and not the other.
			p := newEnginePair(t, helper, func(c *Config) {
				c.MSSClamp = mss
				if mss == 0 {
					c.WANMTU, c.LANMTU = 1500, 1400
				}
			})
			setup, variants, dirs := fastPathTraffic(t)
			for _, s := range setup {
				s(p)
			}
			for round := 0; round < 4; round++ {
				for k, b := range variants {
					p.send(dirs[k], b)
				}
				// Between rounds the transitory sessions (the syn-sent one)
				// expire, then the UDP ones, then all: found expired by
				// the lookup (age), or removed by the sweep (advance).
				if round%2 == 0 {
					p.age(time.Duration(round+1) * 2 * time.Minute)
				} else {
					p.advance(time.Duration(round+1) * 5 * time.Minute)
				}
			}
			if p.fastTaken < 20 {
				t.Fatalf("the fast path took %d packets", p.fastTaken)
			}
			t.Logf("helper %v, mss %d: %d packets through the fast path", helper, mss, p.fastTaken)
		}
	}
}

// TestFastPathMutations sends established flows' packets with random bytes
// of their headers changed (with the IPv4 checksum fixed or not) through
// both engines.
func TestFastPathMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newEnginePair(t, true, nil)
	setup, variants, dirs := fastPathTraffic(t)
	for _, s := range setup {
		s(p)
	}
	for n := 0; n < 20000; n++ {
		k := rng.IntN(len(variants))
		p.send(dirs[k], mutate(rng, variants[k]))
		switch n % 5000 {
		case 2499:
			p.age(3 * time.Minute)
		case 4999:
			p.advance(time.Minute)
		}
	}
}

// FuzzFastPath is TestFastPathMutations for the fuzzer: any bytes, either
// direction, after the flows of fastPathTraffic exist.
func FuzzFastPath(f *testing.F) {
	_, variants, dirs := fastPathTraffic(f)
	for k, v := range variants {
		f.Add(v, uint8(dirs[k]), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, dir uint8, fixSum bool) {
		p := newEnginePair(t, dir&2 != 0, nil)
		setup, _, _ := fastPathTraffic(t)
		for _, s := range setup {
			s(p)
		}
		b := append([]byte(nil), data...)
		if fixSum && headerFits(b) {
			packet.IPv4(b).UpdateHeaderChecksum()
		}
		p.send(Dir(dir&1), b)
		p.send(Dir(dir&1), b)
	})
}

// mutate returns a copy of packet v with one to three bits flipped in its
// first 48 bytes (the headers the fast path reads) and, half the time,
// the IPv4 header checksum made right again, so that the mutation gets
// past the checksum to the checks behind it.
func mutate(rng *rand.Rand, v []byte) []byte {
	b := append([]byte(nil), v...)
	for m := rng.IntN(3); m >= 0 && len(b) > 0; m-- {
		b[rng.IntN(min(len(b), 48))] ^= byte(1 << rng.IntN(8))
	}
	if rng.IntN(2) == 0 && headerFits(b) {
		packet.IPv4(b).UpdateHeaderChecksum()
	}
	return b
}
