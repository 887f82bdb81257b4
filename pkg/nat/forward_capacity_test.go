package nat

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// within runs f in a goroutine and fails the test if it does not return
// within d (a frozen engine would never return).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v: the engine is frozen", what, d)
	}
}

// TestAttack_ForwardRangeFreezesEngine: the mapping index was sized from
// max-sessions alone, so port forwards covering more ports than that made
// addMapping probe forever and nat.New never returned. Large forwards must
// either be refused with a message or fit; nothing may spin.
func TestAttack_ForwardRangeFreezesEngine(t *testing.T) {
	lan := netip.MustParsePrefix("192.168.1.1/24")
	fwd := func(lo, hi uint16) []PortForward {
		return []PortForward{
			{Name: "all-tcp", Proto: 6, ExtStart: lo, ExtEnd: hi, Host: mustAddr(hostA), IntStart: lo},
			{Name: "all-udp", Proto: 17, ExtStart: lo, ExtEnd: hi, Host: mustAddr(hostA), IntStart: lo},
		}
	}

	// The largest allowed forwards with the smallest table: 2×56,320
	// static mappings beside 16 sessions.
	c := DefaultConfig(lan)
	c.MaxSessions = 16
	c.PortForwards = fwd(1024, 1024+MaxForwardedPorts-1)
	var e *Engine
	var err error
	within(t, 10*time.Second, "nat.New", func() { e, err = New(c) })
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, e: e, now: 1000 * time.Second}
	e.SetExternal(mustAddr(extIP))
	e.Tick(r.now)
	checkForwardAndOutbound(t, r)

	// The configuration: max-sessions 50000 and TCP+UDP forwards
	// of 1-65535. It leaves no port for the LAN's own connections, so it is
	// refused, at once, with a message that says so.
	big := DefaultConfig(lan)
	big.MaxSessions = 50000
	big.PortForwards = fwd(1, 65535)
	within(t, 5*time.Second, "nat.New", func() { _, err = New(big) })
	if err == nil || !strings.Contains(err.Error(), "dmz") {
		t.Fatalf("New with forwards of every port: err %v, want a refusal naming the dmz", err)
	}

	// Growing the forwards by Reconfigure on the same table size must fit
	// too (the index is resized, not only at New).
	c2 := DefaultConfig(lan)
	c2.MaxSessions = 16
	e2, err := New(c2)
	if err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "Reconfigure", func() { _, err = e2.Reconfigure(c) })
	if err != nil {
		t.Fatal(err)
	}
	r2 := &rig{t: t, e: e2, now: 1000 * time.Second}
	e2.SetExternal(mustAddr(extIP))
	e2.Tick(r2.now)
	checkForwardAndOutbound(t, r2)

	// A full session table answers with a verdict, never spins.
	within(t, 10*time.Second, "filling the table", func() {
		for i := 0; i < 64; i++ {
			res := r2.send(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: uint16(20000 + i), DP: 53}))
			if res.Verdict == Drop && res.Reason != ReasonTableFull && res.Reason != ReasonHostLimit {
				t.Errorf("packet %d: drop %v", i, res.Reason)
			}
		}
	})
}

func checkForwardAndOutbound(t *testing.T, r *rig) {
	t.Helper()
	d := r.must(Inbound, udpPkt(t, pk{Src: srv, Dst: extIP, SP: 4000, DP: 30000}), Forward)
	if d.Dst() != hostA || d.DPort() != 30000 {
		t.Fatalf("forwarded to %v:%d, want %s:30000", d.Dst(), d.DPort(), hostA)
	}
	d = r.must(Outbound, udpPkt(t, pk{Src: hostB, Dst: srv, SP: 40000, DP: 53}), Forward)
	if p := d.SPort(); p >= 1024 && p < 1024+MaxForwardedPorts {
		t.Fatalf("outbound mapped to forwarded port %d", p)
	}
}
