package ndp6

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// lan plays the hosts that exist on the LAN: it answers the router's
// solicitations for them (multicast resolution and unicast probes) and
// nothing else, as a real link would during a scan of non-existent
// addresses.
type lan struct {
	t     *testing.T
	n     *Node
	hosts map[netip.Addr][6]byte
	ns    int // solicitations seen
}

func (l *lan) deliver(frames [][]byte, now time.Duration) {
	for _, f := range frames {
		m, err := Parse(f)
		if err != nil || m.Type != TypeNeighborSolicitation {
			continue
		}
		l.ns++
		if mac, ok := l.hosts[m.Target]; ok {
			na := hostNA(l.t, mac, m.Target, m.Src, FlagSolicited|FlagOverride, mac)
			l.deliver(l.n.Handle(nil, na, now), now)
		}
	}
}

func scanTarget(r *rand.Rand) netip.Addr {
	a := routerGUA.As16()
	for i := 8; i < 16; i++ {
		a[i] = byte(r.Uint32())
	}
	return netip.AddrFrom16(a)
}

// TestAttack_NeighbourCacheExhaustion is RFC 6583's attack, played as the
// attacker plays it: from the WAN, packets to hundreds of thousands of
// random addresses of the LAN /64, none of which exists, first from one
// source, then from a new spoofed source /64 every packet, while the real
// LAN hosts keep talking. The router must keep every existing entry
// (REACHABLE and STALE), keep INCOMPLETE entries, queued packets and
// solicitations within their caps, keep memory flat, and still resolve a
// new host for its own traffic (the reserved slots) — and, while the
// scanner uses one source, for another WAN sender too (the per-source
// rate).
func TestAttack_NeighbourCacheExhaustion(t *testing.T) {
	n := newNode(t, nil)
	cfg := n.Config()
	r := rand.New(rand.NewPCG(6583, 1))
	l := &lan{t: t, n: n, hosts: map[netip.Addr][6]byte{}}
	var legit []netip.Addr
	for i := 0; i < 40; i++ {
		a := routerGUA.As16()
		a[14], a[15] = 0x10, byte(i)
		addr := netip.AddrFrom16(a)
		mac := [6]byte{0x02, 0x10, 0, 0, 0, byte(i)}
		l.hosts[addr] = mac
		legit = append(legit, addr)
	}
	// Half the hosts were resolved long ago (STALE by now), half just now.
	var now time.Duration
	for i, a := range legit {
		if i == 20 {
			now = 100 * time.Second
		}
		_, v, out := n.Resolve(nil, a, ipv6Packet(t, routerGUA, a), now)
		if v != Queued {
			t.Fatalf("resolving %v: %v", a, v)
		}
		l.deliver(out, now)
	}
	if res, inc, _ := n.Usage(); res != 40 || inc != 0 {
		t.Fatalf("setup: %d resolved, %d incomplete", res, inc)
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	check := func(phase string) {
		t.Helper()
		res, inc, q := n.Usage()
		if inc > cfg.MaxIncomplete || q > cfg.MaxQueued || res > cfg.MaxNeighbours {
			t.Fatalf("%s at %v: %d resolved, %d incomplete (cap %d), %d queued (cap %d)", phase, now, res, inc, cfg.MaxIncomplete, q, cfg.MaxQueued)
		}
		for _, a := range legit {
			e, ok := n.Lookup(a, now)
			if !ok || e.State == Incomplete || e.MAC != l.hosts[a] {
				t.Fatalf("%s at %v: existing neighbour %v lost: %+v %v", phase, now, a, e, ok)
			}
		}
	}
	scanner := wanSrc
	var scanNS, answered int
	step := func(src netip.Addr, i int) {
		dst := scanTarget(r)
		_, _, out := n.Resolve(nil, dst, ipv6Packet(t, src, dst), now)
		scanNS += len(out)
		l.deliver(out, now)
		now += time.Millisecond
		if i%100 == 0 {
			out, _ := tickND(n, nil, now)
			scanNS += len(out)
			l.deliver(out, now)
		}
		if i%1000 == 0 {
			// The real hosts keep receiving traffic: their entries go
			// through DELAY and PROBE and are answered.
			for _, a := range legit[:10] {
				mac, v, out := n.Resolve(nil, a, ipv6Packet(t, scanner, a), now)
				if v != Resolved || mac != l.hosts[a] {
					t.Fatalf("at %v: traffic to existing neighbour %v: %v", now, a, v)
				}
				l.deliver(out, now)
			}
			check("scan")
		}
	}

	// Phase 1: one scanning source, 100 000 packets in 100 s.
	const packets = 100000
	start := now
	for i := 0; i < packets; i++ {
		step(scanner, i)
		if i == packets/2 {
			// Another WAN sender reaches a host that just joined.
			newHost := netip.MustParseAddr("2001:db8:1:2::beef")
			l.hosts[newHost] = [6]byte{0x02, 0xbe, 0xef, 0, 0, 1}
			other := netip.MustParseAddr("2001:db8:aaaa::1")
			_, v, out := n.Resolve(nil, newHost, ipv6Packet(t, other, newHost), now)
			if v != Queued {
				t.Fatalf("during a one-source scan another sender's resolution was %v (%+v)", v, n.Counters())
			}
			l.deliver(out, now)
			if e, _ := n.Lookup(newHost, now); e.State != Reachable {
				t.Fatalf("new host not resolved: %+v", e)
			}
			legit = append(legit, newHost)
			answered++
		}
	}
	// The one source got at most its burst plus its rate of resolutions,
	// each with at most MAX_MULTICAST_SOLICIT solicitations.
	secs := (now - start).Seconds()
	maxNS := int((float64(cfg.SourceBurst)+cfg.SourceRate*secs)*MaxMulticastSolicit) + 1000 // + the real hosts' probes
	if scanNS > maxNS {
		t.Errorf("one source made the router send %d solicitations in %.0f s (bound %d)", scanNS, secs, maxNS)
	}
	if n.Counters().SourceLimited < packets/2 {
		t.Errorf("per-source limit barely used: %+v", n.Counters())
	}
	check("after one-source scan")

	// Phase 2: every packet from a new spoofed /64.
	scanNS = 0
	start = now
	for i := 0; i < packets; i++ {
		var src [16]byte
		for j := range src {
			src[j] = byte(r.Uint32())
		}
		src[0], src[1] = 0x20, 0x01
		step(netip.AddrFrom16(src), i)
		if i == packets/2 {
			// The router's own traffic to a host that just joined still
			// resolves: the reserved INCOMPLETE slots.
			newHost := netip.MustParseAddr("2001:db8:1:2::cafe")
			l.hosts[newHost] = [6]byte{0x02, 0xca, 0xfe, 0, 0, 1}
			_, v, out := n.Resolve(nil, newHost, ipv6Packet(t, routerGUA, newHost), now)
			if v != Queued {
				t.Fatalf("during a spoofed scan the router's own resolution was %v (%+v)", v, n.Counters())
			}
			l.deliver(out, now)
			if e, _ := n.Lookup(newHost, now); e.State != Reachable {
				t.Fatalf("new host not resolved: %+v", e)
			}
			legit = append(legit, newHost)
		}
	}
	// Solicitations are bounded by the INCOMPLETE cap: each slot emits at
	// most MAX_MULTICAST_SOLICIT per MAX_MULTICAST_SOLICIT × RetransTimer.
	secs = (now - start).Seconds()
	maxNS = int(float64(cfg.MaxIncomplete)*(secs/cfg.RetransTimer.Seconds()+MaxMulticastSolicit)) + 1000
	if scanNS > maxNS {
		t.Errorf("spoofed scan made the router send %d solicitations in %.0f s (bound %d)", scanNS, secs, maxNS)
	}
	if n.Counters().IncompleteFull < packets/2 {
		t.Errorf("INCOMPLETE cap barely used: %+v", n.Counters())
	}
	check("after spoofed scan")

	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes over 200 000 scan packets", grew)
	}
	t.Logf("counters after 2×%d scan packets: %+v; %d solicitations in phase 2", packets, n.Counters(), scanNS)
}
