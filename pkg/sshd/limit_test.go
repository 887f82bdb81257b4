package sshd

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.168.1.20")
	b := netip.MustParseAddr("192.168.1.21")
	// three free failures
	for i := 0; i < 3; i++ {
		if d := l.wait(a); d != 0 {
			t.Fatalf("attempt %d waits %v", i+1, d)
		}
		l.fail(a)
	}
	// then 1s, 2s, 4s ... after the last failure
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		d := l.wait(a)
		if d != want {
			t.Fatalf("attempt %d waits %v, want %v", i+4, d, want)
		}
		now = now.Add(d)
		l.fail(a)
	}
	// parallel attempts queue up instead of all going at once
	d1, d2 := l.wait(a), l.wait(a)
	if d1 != 16*time.Second || d2 != 32*time.Second {
		t.Errorf("parallel attempts wait %v and %v", d1, d2)
	}
	// other addresses are not affected
	if d := l.wait(b); d != 0 {
		t.Errorf("another address waits %v", d)
	}
	// capped at Max
	for i := 0; i < 10; i++ {
		l.fail(a)
	}
	now = now.Add(l.Forget + time.Minute) // quiet for longer than Forget
	if d := l.wait(a); d != 0 {
		t.Errorf("failures not forgotten after %v: waits %v", l.Forget, d)
	}
	for i := 0; i < 20; i++ {
		l.fail(b)
	}
	if d := l.wait(b); d > l.Max {
		t.Errorf("delay %v above the maximum %v", d, l.Max)
	}
	l.succeed(b)
	if d := l.wait(b); d != 0 {
		t.Errorf("a success did not clear the address: %v", d)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiter()
	for i := 0; i < maxTracked+100; i++ {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.state); n > maxTracked {
		t.Errorf("%d addresses tracked", n)
	}
}
