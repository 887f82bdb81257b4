package fw6

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// checkTable verifies the table's invariants: every live session is found
// by its key and by its filter chain, the indexes hold nothing else, the
// quotas add up and stay within their caps.
func checkTable(t testing.TB, e *Engine) {
	t.Helper()
	tb := e.t
	live := 0
	perHost := map[addr]uint32{}
	inHost := map[addr]uint32{}
	unconf := 0
	for i := uint32(0); i < tb.hwm; i++ {
		s := tb.s(i)
		if s.proto == 0 {
			continue
		}
		live++
		k := s.key()
		if got := tb.lookup(&k); got != i {
			t.Fatalf("session %d not found by its key (got %d)", i, got)
		}
		if filtered(s.proto) {
			_, head := tb.fslot(s.proto, s.lan, s.lport, s.rem)
			found := false
			prev := none
			for j, n := head, 0; j != none; j, n = tb.s(j).next, n+1 {
				if n > int(tb.max) {
					t.Fatal("filter chain loops")
				}
				if tb.s(j).prev != prev {
					t.Fatalf("filter chain: %d's prev is %d, want %d", j, tb.s(j).prev, prev)
				}
				if j == i {
					found = true
				}
				prev = j
			}
			if !found {
				t.Fatalf("session %d not in its filter chain", i)
			}
		}
		if s.flags&flagInbound != 0 {
			inHost[s.lan]++
		} else {
			perHost[s.lan]++
		}
		if unconfirmed(s) {
			unconf++
		}
	}
	if uint32(live) != tb.count || live > e.cfg.MaxSessions {
		t.Fatalf("%d live sessions, count %d, max %d", live, tb.count, e.cfg.MaxSessions)
	}
	used := 0
	for _, v := range tb.idx {
		if v != 0 {
			used++
			if tb.s(v-1).proto == 0 {
				t.Fatal("index points at a free slot")
			}
		}
	}
	if used != live {
		t.Fatalf("%d index slots for %d sessions", used, live)
	}
	for h, n := range perHost {
		if e.perHost[h] != n || n > e.hostMax {
			t.Fatalf("host quota %d, counted %d, max %d", e.perHost[h], n, e.hostMax)
		}
	}
	if len(e.perHost) != len(perHost) {
		t.Fatalf("%d quota entries for %d hosts", len(e.perHost), len(perHost))
	}
	for h, n := range inHost {
		if e.in.perHost[h] != n || n > e.inboundMax() {
			t.Fatalf("inbound quota %d, counted %d, max %d", e.in.perHost[h], n, e.inboundMax())
		}
	}
	if unconf > e.unconfirmedMax() {
		t.Fatalf("%d unconfirmed sessions from the WAN, max %d", unconf, e.unconfirmedMax())
	}
}

func TestTable_FilterChainsSurviveAnyRemovalOrder(t *testing.T) {
	for _, f := range []Filtering{AddressDependent, EndpointIndependent} {
		r := newRig(t, func(c *Config) { c.Filtering = f; c.MaxSessions = 512; c.MaxSessionsPerHost = 512 })
		rng := rand.New(rand.NewPCG(1, uint64(f)))
		// Many remotes and remote ports on few LAN endpoints: long chains.
		for i := range 400 {
			host := []string{hostA, hostB}[i%2]
			rem := []string{srv, srv2, "2600:5:6:7::21"}[rng.IntN(3)]
			r.send(FromLAN, udp6(t, pk{Src: host, Dst: rem, SP: 5000 + uint16(i%3), DP: uint16(1000 + i)}))
		}
		checkTable(t, r.e)
		// Remove in random order, checking as we go.
		for n := 0; r.e.Counters().Sessions > 0; n++ {
			i := uint32(rng.IntN(int(r.e.t.hwm)))
			if r.e.t.s(i).proto == 0 {
				continue
			}
			r.e.remove(i)
			if n%37 == 0 {
				checkTable(t, r.e)
			}
		}
		checkTable(t, r.e)
		for _, v := range r.e.t.fidx {
			if v != 0 {
				t.Fatal("filter index not empty")
			}
		}
	}
}

func TestTable_ReconfigureFilteringRebuildsIndex(t *testing.T) {
	r := newRig(t, nil)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
	r.mustDrop(FromWAN, udp6(t, pk{Src: srv2, Dst: hostA, SP: 1, DP: 5000}), ReasonNoSession)
	c := r.e.Config()
	c.Filtering = EndpointIndependent
	if n, err := r.e.Reconfigure(c); err != nil || n != 0 {
		t.Fatalf("%d %v", n, err)
	}
	checkTable(t, r.e)
	r.must(FromWAN, udp6(t, pk{Src: srv2, Dst: hostA, SP: 1, DP: 5000}), Forward)
	c.MaxSessions = 100
	if n, _ := r.e.Reconfigure(c); n != 1 || len(r.sessions()) != 0 {
		t.Fatalf("resizing flushed %d", n)
	}
	checkTable(t, r.e)
	r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 3478}), Forward)
	checkTable(t, r.e)
}

func TestTable_HostLimitAndEviction(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 64; c.MaxSessionsPerHost = 40 })
	for i := range 40 {
		r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: uint16(1000 + i), DP: 53}), Forward)
	}
	// The host's quota: refused with "administratively prohibited".
	r.mustReply(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: 2000, DP: 53}), packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, ReasonHostLimit)
	// Another host fills the rest; a full table evicts a flow that never
	// had an answer rather than refusing.
	for i := range 24 {
		r.must(FromLAN, udp6(t, pk{Src: hostB, Dst: srv, SP: uint16(1000 + i), DP: 53}), Forward)
	}
	r.must(FromLAN, udp6(t, pk{Src: hostC, Dst: srv, SP: 1000, DP: 53}), Forward)
	if c := r.e.Counters(); c.Sessions != 64 || c.SessionsEvicted != 1 {
		t.Fatalf("%d sessions, %d evicted", c.Sessions, c.SessionsEvicted)
	}
	checkTable(t, r.e)
}

func TestTable_ExpirySweepIsAmortised(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxSessions = 20000; c.MaxSessionsPerHost = 20000 })
	for i := range 10000 {
		r.must(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: uint16(1000 + i), DP: 53}), Forward)
	}
	r.advance(301 * time.Second) // expired now; this tick's sweep passes over everything
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions left after a tick of a whole sweep period", n)
	}
	for i := range 10000 {
		r.send(FromLAN, udp6(t, pk{Src: hostA, Dst: srv, SP: uint16(1000 + i), DP: 53}))
	}
	r.advance(300 * time.Second)
	r.advance(time.Second) // 1 s of a 2 s period: about half the table
	n := r.e.Counters().Sessions
	if n < 4000 || n > 6000 {
		t.Fatalf("%d of 10000 expired sessions left after half a sweep period", n)
	}
	r.advance(time.Millisecond) // 1 ms: about 5 slots visited
	if m := r.e.Counters().Sessions; n-m > 10 {
		t.Fatalf("a 1 ms tick expired %d sessions", n-m)
	}
	for range 1000 {
		r.advance(time.Millisecond)
	}
	if n := r.e.Counters().Sessions; n != 0 {
		t.Fatalf("%d sessions left after a sweep period", n)
	}
	checkTable(t, r.e)
}
