package dnsfwd

import (
	"net/netip"
	"sync"
	"time"
)

// limiter is a token bucket per client address, with a bounded number of
// clients: when full, the idlest buckets (full again) are forgotten.
type limiter struct {
	mu           sync.Mutex
	rate, burst  float64
	buckets      map[netip.Addr]*bucket
	maxBuckets   int
	lastCleaning time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxClients = 4096

func newLimiter(rate, burst int) *limiter {
	return &limiter{rate: float64(rate), burst: float64(burst), buckets: map[netip.Addr]*bucket{}, maxBuckets: maxClients}
}

func (l *limiter) set(rate, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate, l.burst = float64(rate), float64(burst)
}

// allow takes one token from a's bucket, if there is one.
func (l *limiter) allow(a netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[a]
	if !ok {
		if len(l.buckets) >= l.maxBuckets {
			l.cleanLocked(now)
			if len(l.buckets) >= l.maxBuckets {
				return false // every bucket is busy: a flood of sources
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[a] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// cleanLocked forgets the buckets that have refilled: their clients are
// idle and would start full anyway.
func (l *limiter) cleanLocked(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, a)
		}
	}
	l.lastCleaning = now
}
