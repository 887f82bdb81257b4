package portmap

import (
	"net/netip"
	"time"
)

// maxLimiterSources bounds the sources the rate limiter tracks.
const maxLimiterSources = 1024

// limiter is a token bucket per source address.
type limiter struct {
	rate    float64 // tokens per second
	burst   float64
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), buckets: map[netip.Addr]*bucket{}}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
}

// allow takes a token for src and reports whether there was one.
func (l *limiter) allow(src netip.Addr, now time.Time) bool {
	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= maxLimiterSources && !l.evict(now) {
			return false // every tracked source is busy: refuse newcomers
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[src] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict forgets the sources whose buckets are full again (forgetting one
// is the same as keeping it) and reports whether any was.
func (l *limiter) evict(now time.Time) bool {
	n := len(l.buckets)
	for a, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, a)
		}
	}
	return len(l.buckets) < n
}
