package loginlimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.168.1.20")
	b := netip.MustParseAddr("192.168.1.21")
	// three free failures
	for i := 0; i < 3; i++ {
		if d := l.Wait(a); d != 0 {
			t.Fatalf("attempt %d waits %v", i+1, d)
		}
		l.Fail(a)
	}
	// then 1s, 2s, 4s ... after the last failure
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		d := l.Wait(a)
		if d != want {
			t.Fatalf("attempt %d waits %v, want %v", i+4, d, want)
		}
		now = now.Add(d)
		l.Fail(a)
	}
	// parallel attempts queue up instead of all going at once
	d1, d2 := l.Wait(a), l.Wait(a)
	if d1 != 16*time.Second || d2 != 32*time.Second {
		t.Errorf("parallel attempts wait %v and %v", d1, d2)
	}
	// other addresses are not affected
	if d := l.Wait(b); d != 0 {
		t.Errorf("another address waits %v", d)
	}
	// capped at Max
	for i := 0; i < 10; i++ {
		l.Fail(a)
	}
	now = now.Add(l.Forget + time.Minute) // quiet for longer than Forget
	if d := l.Wait(a); d != 0 {
		t.Errorf("failures not forgotten after %v: waits %v", l.Forget, d)
	}
	for i := 0; i < 20; i++ {
		l.Fail(b)
	}
	if d := l.Wait(b); d > l.Max {
		t.Errorf("delay %v above the maximum %v", d, l.Max)
	}
	l.Succeed(b)
	if d := l.Wait(b); d != 0 {
		t.Errorf("a success did not clear the address: %v", d)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := New()
	for i := 0; i < maxTracked+100; i++ {
		l.Fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.state); n > maxTracked {
		t.Errorf("%d addresses tracked", n)
	}
}

func TestPeekBooksNoTurn(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New()
	l.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.168.1.20")
	for i := 0; i < 3; i++ {
		if d := l.Peek(a); d != 0 {
			t.Fatalf("after %d failures Peek = %v, want 0", i, d)
		}
		l.Fail(a)
	}
	for range 3 {
		if d := l.Peek(a); d != time.Second {
			t.Fatalf("Peek after 3 failures = %v, want 1s each time", d)
		}
	}
	now = now.Add(time.Second)
	if d := l.Peek(a); d != 0 {
		t.Errorf("Peek once the turn came = %v", d)
	}
	if d := l.Wait(a); d != 0 {
		t.Errorf("Wait after Peeks = %v, want 0 (Peek booked turns)", d)
	}
}
