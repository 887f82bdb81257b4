package traceroute

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	gw     = netip.MustParseAddr("203.0.113.1")
	cgn    = netip.MustParseAddr("100.64.9.2")
	core   = netip.MustParseAddr("198.51.100.1")
	target = netip.MustParseAddr("192.0.2.9")
)

func quick(p Params) Params {
	p.Target, p.ProbeTimeout = target, 50*time.Millisecond
	return p
}

// hops renders a result as "addr" per hop, "*" for no answer, "!" after
// the target and "!N" after an unreachable.
func hops(r Result) []string {
	var out []string
	for i, h := range r.Hops {
		s := "*"
		if h.Addr.IsValid() {
			s = h.Addr.String()
		}
		switch {
		case h.Reached:
			s += "!"
		case h.Unreachable:
			s += "!N"
		}
		if h.TTL != i+1 {
			s += " (TTL wrong)"
		}
		out = append(out, s)
	}
	return out
}

func TestRun(t *testing.T) {
	none := netip.Addr{}
	for _, c := range []struct {
		name   string
		f      *Fake
		p      Params
		want   []string
		probes int
	}{
		{"three routers", &Fake{Hops: []netip.Addr{gw, cgn, core}}, Params{}, []string{"203.0.113.1", "100.64.9.2", "198.51.100.1"}, 3},
		{"the target at hop 2", &Fake{Hops: []netip.Addr{gw}}, Params{}, []string{"203.0.113.1", "192.0.2.9!"}, 3},
		{"a silent router", &Fake{Hops: []netip.Addr{gw, none, core}}, Params{}, []string{"203.0.113.1", "*", "198.51.100.1"}, 4},
		{"nobody answers", &Fake{Hops: []netip.Addr{none, none, none}}, Params{}, []string{"*", "*", "*"}, 6},
		{"a router says unreachable", &Fake{Hops: []netip.Addr{gw, cgn, core}, Unreachable: 2}, Params{}, []string{"203.0.113.1", "100.64.9.2!N"}, 3},
		{"stray errors", &Fake{Hops: []netip.Addr{gw, cgn, core}, Stray: true}, Params{}, []string{"203.0.113.1", "100.64.9.2", "198.51.100.1"}, 3},
		{"hops and rounds bounded", &Fake{Hops: make([]netip.Addr, 20)}, Params{Hops: 50, Rounds: 9}, []string{"*", "*", "*", "*", "*", "*", "*", "*"}, MaxHops * MaxRounds},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, _ := c.f.Dial()
			defer conn.Close()
			p := quick(c.p)
			start := time.Now()
			r, err := Run(context.Background(), conn, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := hops(r); !slices.Equal(got, c.want) {
				t.Errorf("hops %q, want %q", got, c.want)
			}
			if n := c.f.Probes(); n != c.probes {
				t.Errorf("%d probes, want %d", n, c.probes)
			}
			if d := time.Since(start); d > p.Limit()+200*time.Millisecond {
				t.Errorf("took %v, more than its limit %v", d, p.Limit())
			}
			if r.Target != target || r.At.IsZero() || r.Answered() != (c.want[0] != "*") {
				t.Errorf("result %+v", r)
			}
		})
	}
}

// TestRunEndsWithContext: a cancelled trace returns soon, with what it
// found.
func TestRunEndsWithContext(t *testing.T) {
	f := &Fake{Hops: []netip.Addr{gw, {}, {}}}
	conn, _ := f.Dial()
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Run(ctx, conn, Params{Target: target, ProbeTimeout: 3 * time.Second}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context's", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
	if got := hops(r); !slices.Equal(got, []string{"203.0.113.1", "*", "*"}) {
		t.Errorf("hops %q", got)
	}
}

func TestRunRefusesIPv6(t *testing.T) {
	f := &Fake{}
	conn, _ := f.Dial()
	defer conn.Close()
	if _, err := Run(context.Background(), conn, Params{Target: netip.MustParseAddr("2001:db8::1")}, nil); err == nil {
		t.Error("an IPv6 target was accepted")
	}
}

// TestTracerSharesAndKeeps: callers at once share one trace; its result
// is kept for MaxAge, then probed anew; Forget probes anew at once; an
// error is kept too.
func TestTracerSharesAndKeeps(t *testing.T) {
	f := &Fake{Hops: []netip.Addr{gw, cgn, core}, Delay: 20 * time.Millisecond}
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tr := New(Options{Params: quick(Params{}), MaxAge: 30 * time.Second, Dial: f.Dial, Now: clock})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tr.Trace(context.Background())
			if err != nil || !slices.Equal(hops(r), []string{"203.0.113.1", "100.64.9.2", "198.51.100.1"}) {
				t.Errorf("Trace: %v, %v", hops(r), err)
			}
		}()
	}
	wg.Wait()
	if n := f.Probes(); n != 3 {
		t.Errorf("10 callers at once: %d probes, want one trace's 3", n)
	}
	advance(29 * time.Second)
	tr.Trace(context.Background())
	if n := f.Probes(); n != 3 {
		t.Errorf("within MaxAge: %d probes, want 3 still", n)
	}
	advance(2 * time.Second)
	tr.Trace(context.Background())
	if n := f.Probes(); n != 6 {
		t.Errorf("after MaxAge: %d probes, want 6", n)
	}
	tr.Forget()
	tr.Trace(context.Background())
	if n := f.Probes(); n != 9 {
		t.Errorf("after Forget: %d probes, want 9", n)
	}
	if f.MaxOpen() != 1 {
		t.Errorf("%d sockets open at once, want 1", f.MaxOpen())
	}

	bad := &Fake{DialErr: errors.New("no socket for you")}
	calls := 0
	tr = New(Options{Params: quick(Params{}), Dial: func() (Conn, error) { calls++; return bad.Dial() }, Now: clock})
	for range 3 {
		if _, err := tr.Trace(context.Background()); err == nil || err.Error() != "no socket for you" {
			t.Errorf("error %v", err)
		}
	}
	if calls != 1 {
		t.Errorf("a failing socket was opened %d times in MaxAge, want 1", calls)
	}
}

// TestTracerCallerGivesUp: a caller whose context ends gets its error at
// once; the trace goes on and the next caller gets it.
func TestTracerCallerGivesUp(t *testing.T) {
	f := &Fake{Hops: []netip.Addr{gw, cgn, core}, Delay: 200 * time.Millisecond}
	tr := New(Options{Params: Params{Target: target, ProbeTimeout: time.Second}, Dial: f.Dial})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := tr.Trace(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the caller's deadline", err)
	}
	r, err := tr.Trace(context.Background())
	if err != nil || len(r.Hops) != 3 || f.Probes() != 3 {
		t.Errorf("the next caller: %v, %v, %d probes", hops(r), err, f.Probes())
	}
}
