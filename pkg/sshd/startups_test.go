package sshd

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

type fakeGate struct {
	*gate
	now  time.Time
	roll float64 // what the random draw returns
	log  []string
}

func newFakeGate(st Startups, perSource int, pen Penalties) *fakeGate {
	f := &fakeGate{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), roll: 0.99}
	f.gate = newGate(st, perSource, pen, func(format string, a ...any) { f.log = append(f.log, fmt.Sprintf(format, a...)) })
	f.gate.now = func() time.Time { return f.now }
	f.gate.drop = func() float64 { return f.roll }
	return f
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestGateDefaults(t *testing.T) {
	g := newGate(Startups{}, 0, Penalties{}, func(string, ...any) {})
	if g.st != (Startups{10, 30, 100}) || g.perSrc != 4 {
		t.Errorf("startups %+v, per source %d; want OpenSSH's 10:30:100 and 4", g.st, g.perSrc)
	}
	want := Penalties{AuthFail: 5 * time.Second, NoAuth: time.Second, GraceExceeded: 10 * time.Second,
		Min: 15 * time.Second, Max: 10 * time.Minute, MaxSources: 4096}
	if g.pen != want {
		t.Errorf("penalties %+v, want %+v", g.pen, want)
	}
}

func TestGatePerSource(t *testing.T) {
	g := newFakeGate(Startups{}, 4, Penalties{})
	a, b := ip("192.0.2.7"), ip("192.0.2.8")
	for i := range 4 {
		if why := g.admit(a); why != "" {
			t.Fatalf("connection %d from a: %s", i+1, why)
		}
	}
	if why := g.admit(a); !strings.Contains(why, "at most 4 per address") {
		t.Errorf("fifth from a: %q", why)
	}
	if why := g.admit(b); why != "" {
		t.Errorf("another address: %s", why)
	}
	g.release(a, penaltyCleared)
	if why := g.admit(a); why != "" {
		t.Errorf("after a release: %s", why)
	}
	// IPv6: one /64 is one source; IPv4-mapped is the IPv4 address.
	for i := range 4 {
		if why := g.admit(ip(fmt.Sprintf("2001:db8:1:2::%x", i+1))); why != "" {
			t.Fatal(why)
		}
	}
	if why := g.admit(ip("2001:db8:1:2:ffff::1")); why == "" {
		t.Error("a fifth address of the same /64 was admitted")
	}
	if why := g.admit(ip("2001:db8:1:3::1")); why != "" {
		t.Errorf("another /64: %s", why)
	}
	if why := g.admit(ip("::ffff:192.0.2.7")); why == "" {
		t.Error("the IPv4-mapped form of a full source was admitted")
	}
}

// Random early drop: from Start on, a new connection is dropped with
// probability Rate% rising to 100% at Full.
func TestGateRandomEarlyDrop(t *testing.T) {
	g := newFakeGate(Startups{Start: 10, Rate: 30, Full: 20}, 100, Penalties{})
	src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	for i := range 10 {
		if why := g.admit(src(i)); why != "" {
			t.Fatalf("connection %d below start: %s", i+1, why)
		}
	}
	// At 10 in progress: dropped when the draw is below 0.30.
	g.roll = 0.29
	if why := g.admit(src(100)); !strings.Contains(why, "dropped at random (30%") {
		t.Errorf("draw 0.29 at start: %q", why)
	}
	g.roll = 0.31
	if why := g.admit(src(100)); why != "" {
		t.Errorf("draw 0.31 at start: %s", why)
	}
	// 11 in progress: 30 + 70·1/10 = 37%.
	g.roll = 0.36
	if why := g.admit(src(101)); !strings.Contains(why, "(37%") {
		t.Errorf("draw 0.36 at 11: %q", why)
	}
	g.roll = 0.999
	for i := 11; i < 20; i++ {
		if why := g.admit(src(i + 100)); why != "" {
			t.Fatalf("connection %d: %s", i+1, why)
		}
	}
	if why := g.admit(src(200)); !strings.Contains(why, "20 logins are in progress (at most 20)") {
		t.Errorf("at full: %q", why)
	}
	if g.total != 20 || len(g.inFlight) != 20 {
		t.Errorf("counted %d in %d sources", g.total, len(g.inFlight))
	}
}

// Penalties add up; a source is refused once they reach Min, until they
// run out; a login clears them; the first refusal and the activation are
// logged, and a flood of refusals is not.
func TestGatePenalties(t *testing.T) {
	g := newFakeGate(Startups{}, 4, Penalties{})
	a, b := ip("203.0.113.9"), ip("203.0.113.10")
	fail := func(k penaltyKind) {
		t.Helper()
		if why := g.admit(a); why != "" {
			t.Fatalf("refused before the penalty reached its minimum: %s", why)
		}
		g.release(a, k)
	}
	// Three quick failed logins: 15 s less the time between them, below
	// the minimum (as OpenSSH: it takes a fourth).
	for range 3 {
		fail(penaltyAuthFail)
		g.now = g.now.Add(100 * time.Millisecond)
	}
	fail(penaltyAuthFail)
	if why := g.admit(a); !strings.Contains(why, "is penalised for 20s more") {
		t.Errorf("after four failed logins: %q", why)
	}
	if !g.penalised(a) || g.penalised(b) {
		t.Error("penalised() disagrees")
	}
	if why := g.admit(b); why != "" {
		t.Errorf("another source: %s", why)
	}
	g.release(b, penaltyCleared)
	g.now = g.now.Add(19 * time.Second)
	if why := g.admit(a); why == "" {
		t.Error("admitted before the penalty ran out")
	}
	g.now = g.now.Add(2 * time.Second)
	if why := g.admit(a); why != "" {
		t.Errorf("still refused after the penalty ran out: %s", why)
	}
	g.release(a, penaltyCleared)

	// Timeouts: two reach the minimum (10 s each); capped at Max.
	for range 2 {
		fail(penaltyGrace)
	}
	if !g.penalised(a) {
		t.Error("two timeouts did not shut the source out")
	}
	p := g.penalty[source(a)]
	for range 100 {
		g.penalise(source(a), penaltyGrace, g.pen.GraceExceeded)
	}
	if d := p.until.Sub(g.now); d != g.pen.Max {
		t.Errorf("penalty %v, want the maximum %v", d, g.pen.Max)
	}
	// Connections closed without trying: 1 s each, fifteen to be shut out.
	c := ip("203.0.113.11")
	for i := range 15 {
		if g.penalised(c) {
			t.Fatalf("shut out after %d connections without login", i)
		}
		if why := g.admit(c); why != "" {
			t.Fatal(why)
		}
		g.release(c, penaltyNoAuth)
	}
	if !g.penalised(c) {
		t.Error("fifteen connections without login did not shut the source out")
	}
	// A login clears the source's penalty; stopping the server does not
	// penalise.
	d := ip("203.0.113.12")
	for range 3 {
		g.admit(d)
		g.release(d, penaltyAuthFail)
	}
	g.admit(d)
	g.release(d, penaltyCleared)
	if _, ok := g.penalty[d]; ok {
		t.Error("a login did not clear the penalty")
	}
	g.admit(d)
	g.release(d, penaltyNone)
	if _, ok := g.penalty[d]; ok {
		t.Error("a connection ended by the server's stop was penalised")
	}

	logged := strings.Join(g.log, "\n")
	for _, want := range []string{
		"refusing connections from 203.0.113.9 for 20s: its connections failed to log in",
		"refusing connections from 203.0.113.9 for 20s: its connections did not log in in time",
		"refusing connections from 203.0.113.11 for 15s: its connections closed without logging in",
		"refused a connection: 203.0.113.9 is penalised for 20s more",
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
}

// A flood of refused connections logs one line a minute.
func TestGateRefusalLogIsBounded(t *testing.T) {
	g := newFakeGate(Startups{}, 1, Penalties{})
	a := ip("192.0.2.1")
	g.admit(a)
	for range 10000 {
		g.admit(a)
		g.now = g.now.Add(time.Millisecond)
	}
	if len(g.log) != 1 {
		t.Errorf("%d log lines for 10000 refusals in 10 s:\n%s", len(g.log), strings.Join(g.log, "\n"))
	}
	g.now = g.now.Add(time.Minute)
	g.admit(a)
	if len(g.log) != 2 || !strings.Contains(g.log[1], "and 9999 more like it in the last 1m10s") {
		t.Errorf("the summary line: %q", g.log)
	}
	// Logins that time out, from a crowd of sources: the same.
	for i := range 1000 {
		g.timedOut(fmt.Sprintf("198.51.100.%d:4000 did not log in within 30s; closed", i%256))
		g.now = g.now.Add(10 * time.Millisecond)
	}
	if len(g.log) != 3 || !strings.Contains(g.log[2], "did not log in within 30s") {
		t.Errorf("%d log lines for 1000 timeouts in 10 s: %q", len(g.log)-2, g.log[2:])
	}
}

// The tables are bounded: connections in progress by Full, penalties by
// MaxSources (an arbitrary entry gives way, in constant time).
func TestGateBounded(t *testing.T) {
	g := newFakeGate(Startups{Full: 50}, 4, Penalties{MaxSources: 100})
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if g.admit(a) == "" {
			g.release(a, penaltyGrace)
		}
		b := netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
		g.admit(b) // held
	}
	if len(g.penalty) > 100 {
		t.Errorf("%d penalties kept, at most 100", len(g.penalty))
	}
	if g.total != 50 || len(g.inFlight) > 50 {
		t.Errorf("%d connections in progress in %d sources; at most 50", g.total, len(g.inFlight))
	}
}
