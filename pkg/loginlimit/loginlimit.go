// Package loginlimit slows down password guessing: one Limiter is shared
// by every way to log in to the router (SSH, the web page), so failures
// on one count on the other.
package loginlimit

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter slows down failed logins per source address. After Free
// failures, every further login attempt from that address waits for its
// turn: the turns are Base, 2×Base, 4×Base ... apart (at most Max), so
// guessing passwords from one address, even over many parallel
// connections, gets exponentially slower. A success, or Forget of quiet
// time, clears the address.
type Limiter struct {
	Free   int           // failures allowed without delay (3)
	Base   time.Duration // first delay (1s)
	Max    time.Duration // longest delay (60s)
	Forget time.Duration // failures are forgotten after this long without one (15m)
	now    func() time.Time

	mu    sync.Mutex
	state map[netip.Addr]*failures
}

type failures struct {
	n    int       // failures counted
	last time.Time // last failure
	next time.Time // earliest time of the next attempt
}

// maxTracked bounds the table; when it is full an arbitrary entry goes.
const maxTracked = 4096

// New returns a Limiter with the defaults named in Limiter; its fields may
// be changed before it is first used.
func New() *Limiter {
	return &Limiter{Free: 3, Base: time.Second, Max: time.Minute, Forget: 15 * time.Minute,
		now: time.Now, state: map[netip.Addr]*failures{}}
}

func (l *Limiter) delay(n int) time.Duration {
	if n < l.Free {
		return 0
	}
	d := l.Base
	for i := l.Free; i < n && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// Wait returns how long an attempt from a must wait before it is
// checked, and books the turn.
func (l *Limiter) Wait(a netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.state[a]
	if f == nil {
		return 0
	}
	if now.Sub(f.last) > l.Forget {
		delete(l.state, a)
		return 0
	}
	d := l.delay(f.n)
	if d == 0 {
		return 0
	}
	at := f.next
	if at.Before(now) {
		at = now
	}
	f.next = at.Add(d)
	return at.Sub(now)
}

// Peek returns how long an attempt from a would wait now, without booking
// a turn: a web login answers "try again in N seconds" at once rather
// than holding the request open.
func (l *Limiter) Peek(a netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.state[a]
	if f == nil || now.Sub(f.last) > l.Forget || l.delay(f.n) == 0 {
		return 0
	}
	return max(f.next.Sub(now), 0)
}

// Fail counts a failure from a and returns the number of failures so far.
func (l *Limiter) Fail(a netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.state[a]
	if f == nil || now.Sub(f.last) > l.Forget {
		if len(l.state) >= maxTracked {
			l.evict()
		}
		f = &failures{}
		l.state[a] = f
	}
	f.n++
	f.last = now
	if next := now.Add(l.delay(f.n)); next.After(f.next) {
		f.next = next
	}
	return f.n
}

// Succeed clears a's failures.
func (l *Limiter) Succeed(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.state, a)
}

// evict drops an arbitrary entry (O(1): a flood of addresses must not
// make each failure scan the table). l.mu is held.
func (l *Limiter) evict() {
	for a := range l.state {
		delete(l.state, a)
		return
	}
}
