// Package qos is the egress scheduler of a shaped port (issue #18): a
// token bucket at the configured rate, so that the queue forms in the
// router and not in the modem, in front of flow queuing with CoDel per
// flow (RFC 8290, FQ-CoDel) in two tiers: a priority tier (VPN tunnels,
// DNS, small TCP ACKs by default; see Classify) served with three times
// the weight of the normal one, so VPN traffic keeps its rate under load
// without starving the rest. New (sparse) flows of either tier are
// served before the busy flows of both, so a ping, a DNS query or a
// game's packets see almost no queue whatever their tier.
//
// A Shaper is sans-IO: Enqueue copies a packet in with its flow hash and
// tier, Dequeue hands out what the rate allows at a given time, Next
// says when the next one will be allowed. It is bounded in packets and
// bytes; when full, packets are dropped from the head of the fattest flow
// (RFC 8290 §4.1). Not safe for concurrent use.
package qos

import (
	"math"
	"math/bits"
	"time"
)

// Tiers.
const (
	Normal = iota
	Priority
	numTiers
)

// tierWeight is each tier's share of the deficit round robin between
// tiers, in quanta.
var tierWeight = [numTiers]int{1, 3}

// Config sets a Shaper up; zero fields take the defaults.
type Config struct {
	Rate     uint64        // bits per second; 0: not shaped (Dequeue hands out everything)
	Burst    int           // bytes the bucket holds (default: 2 ms at the rate, at least a full frame; see refill)
	Quantum  int           // bytes per flow per round (default 1514)
	Target   time.Duration // CoDel target (default 5 ms)
	Interval time.Duration // CoDel interval (default 100 ms)
	Flows    int           // flow queues per tier (default 1024)
	Limit    int           // packets queued in all (default 10240)
	MemLimit int           // bytes queued in all (default 4 MiB)
}

func (c *Config) defaults() {
	if c.Quantum <= 0 {
		c.Quantum = 1514
	}
	if c.Target <= 0 {
		c.Target = 5 * time.Millisecond
	}
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.Flows <= 0 {
		c.Flows = 1024
	}
	if c.Limit <= 0 {
		c.Limit = 10240
	}
	if c.MemLimit <= 0 {
		c.MemLimit = 4 << 20
	}
	if c.Burst <= 0 {
		c.Burst = max(int(c.Rate/8/500), 1514) // 2 ms
	}
}

// Stats are a shaper's counters, per tier where it matters.
type Stats struct {
	Rate           uint64
	Sent, Bytes    [numTiers]uint64
	Dropped        [numTiers]uint64 // by CoDel (the queue stayed above target)
	Marked         [numTiers]uint64 // by CoDel: ECN Congestion Experienced instead of a drop
	Overlimit      [numTiers]uint64 // by the packet or byte limit
	Queued         [numTiers]int    // packets now
	QueuedBytes    int
	LongestSojourn time.Duration // of the packets handed out since the last Stats
	// LateBytes is the line the shaper did not use: bytes of rate earned
	// while packets waited, beyond what the bucket holds, because the
	// sender came late (see refill). LateBytes·8/Rate is that time.
	LateBytes uint64
}

type pkt struct {
	data []byte
	enq  time.Duration
	ip   int // offset of the IP header in data; -1: none (never marked)
}

// flow is one flow queue with its CoDel state (RFC 8290 §5, RFC 8289).
type flow struct {
	q       []pkt
	head    int
	bytes   int
	deficit int
	active  bool // on the new or old list
	// CoDel.
	firstAbove time.Duration
	dropNext   time.Duration
	count      uint32
	lastCount  uint32
	dropping   bool
}

func (f *flow) len() int { return len(f.q) - f.head }

func (f *flow) pop() pkt {
	p := f.q[f.head]
	f.q[f.head] = pkt{}
	f.head++
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	}
	f.bytes -= len(p.data)
	return p
}

type tier struct {
	flows        []flow
	newFl, oldFl []int // indexes into flows
	deficit      int
	packets      int
}

// Shaper is one shaped port's scheduler.
type Shaper struct {
	cfg    Config
	tiers  [numTiers]tier
	tokens int           // bytes
	last   time.Duration // of the last refill
	since  time.Duration // when the queue last went from empty to not
	cur    int           // tier served last in the round robin
	bytes  int
	pool   [][]byte
	st     Stats
}

// New returns an empty shaper.
func New(c Config) *Shaper {
	c.defaults()
	s := &Shaper{cfg: c, tokens: c.Burst}
	for i := range s.tiers {
		s.tiers[i].flows = make([]flow, c.Flows)
	}
	s.st.Rate = c.Rate
	return s
}

// Config returns the shaper's configuration.
func (s *Shaper) Config() Config { return s.cfg }

// buf returns a buffer of n bytes from the pool.
func (s *Shaper) buf(n int) []byte {
	for len(s.pool) > 0 {
		b := s.pool[len(s.pool)-1]
		s.pool = s.pool[:len(s.pool)-1]
		if cap(b) >= n {
			return b[:n]
		}
	}
	return make([]byte, n, max(n, 2048))
}

// Release gives a buffer Dequeue handed out back for reuse.
func (s *Shaper) Release(b []byte) {
	if len(s.pool) < 256 && cap(b) <= 1<<16 {
		s.pool = append(s.pool, b)
	}
}

// Enqueue copies p in, for flow hash in tier t, at now. It reports
// whether p was kept (false: over the limits even after dropping from the
// fattest flow, or p larger than the memory limit). p is never marked:
// see EnqueueIP.
func (s *Shaper) Enqueue(p []byte, hash uint32, t int, now time.Duration) bool {
	return s.EnqueueIP(p, -1, hash, t, now)
}

// EnqueueIP is Enqueue for a frame whose IPv4 or IPv6 header starts at
// ipOff (-1: none): when CoDel would drop it and its sender said it
// understands ECN (ECT(0) or ECT(1)), it is marked Congestion Experienced
// instead (RFC 3168, RFC 8290 §5.2) and sent.
func (s *Shaper) EnqueueIP(p []byte, ipOff int, hash uint32, t int, now time.Duration) bool {
	if t < 0 || t >= numTiers {
		t = Normal
	}
	if len(p) > s.cfg.MemLimit {
		s.st.Overlimit[t]++
		return false
	}
	for s.packets() >= s.cfg.Limit || s.bytes+len(p) > s.cfg.MemLimit {
		if !s.dropFattest() {
			s.st.Overlimit[t]++
			return false
		}
	}
	if s.packets() == 0 {
		s.since = now
	}
	tr := &s.tiers[t]
	i := int(hash % uint32(len(tr.flows)))
	f := &tr.flows[i]
	b := s.buf(len(p))
	copy(b, p)
	f.q = append(f.q, pkt{data: b, enq: now, ip: ipOff})
	f.bytes += len(b)
	s.bytes += len(b)
	tr.packets++
	if !f.active {
		f.active = true
		f.deficit = s.cfg.Quantum
		tr.newFl = append(tr.newFl, i)
	}
	return true
}

func (s *Shaper) packets() int {
	n := 0
	for i := range s.tiers {
		n += s.tiers[i].packets
	}
	return n
}

// dropFattest drops the head packet of the flow with the most bytes
// queued, the normal tier's before the priority tier's.
func (s *Shaper) dropFattest() bool {
	for t := Normal; t < numTiers; t++ {
		tr := &s.tiers[t]
		best, most := -1, 0
		for _, lists := range [][]int{tr.newFl, tr.oldFl} {
			for _, i := range lists {
				if b := tr.flows[i].bytes; b > most {
					best, most = i, b
				}
			}
		}
		if best < 0 {
			continue
		}
		p := tr.flows[best].pop()
		s.bytes -= len(p.data)
		tr.packets--
		s.st.Overlimit[t]++
		s.Release(p.data)
		return true
	}
	return false
}

// refill adds the tokens earned since the last refill; the bucket holds
// at most a burst. A sender that wakes later than a packet was due loses
// that time (at 4.5 Mbit/s the burst is one frame). Making it up while
// packets wait, as CAKE does, was tried (2026-12-05, docs/performance.md
// "The shaper under a busy host"): it kept the rate on a busy CPU, but
// what is made up goes back to back into the modem, whose small headroom
// (the shaper runs at 90 % of the line) drains it slowly, and the interop
// lab's ping under load rose to and past its 10 ms limit. Latency is what
// the shaper is for, so the time is lost instead, and counted
// (Stats.LateBytes).
func (s *Shaper) refill(now time.Duration) {
	if now <= s.last {
		return
	}
	earned := earn(now-s.last, s.cfg.Rate)
	if earned == 0 {
		return // keep the remainder for later: do not move last
	}
	burst := int64(s.cfg.Burst)
	if s.packets() > 0 {
		// What overflows the bucket after the queue filled was line the
		// sender did not use: count it (the idle part before is not).
		held := int64(s.tokens)
		if s.since > s.last {
			held = min(held+int64(min(earn(s.since-s.last, s.cfg.Rate), 1<<40)), burst)
			earned = earn(now-s.since, s.cfg.Rate)
		}
		if over := held + int64(min(earned, 1<<40)) - burst; over > 0 {
			s.st.LateBytes += uint64(over)
		}
		s.tokens = int(min(held+int64(min(earned, 1<<40)), burst))
		s.last = now
		return
	}
	s.tokens = int(min(int64(s.tokens)+int64(min(earned, 1<<40)), burst))
	s.last = now
}

// earn is the bytes d is worth at rate bits/s, without overflow (an
// hour at 10 Gbit/s is 4.5e12 bytes; the product in ns·bit/s is not
// representable).
func earn(d time.Duration, rate uint64) uint64 {
	if d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(d), rate)
	const div = 8 * uint64(time.Second)
	if hi >= div {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, div)
	return q
}

// Dequeue returns the next packet the rate allows at now (nil: none
// queued, or not yet: see Next). The caller sends it and gives the buffer
// back with Release.
func (s *Shaper) Dequeue(now time.Duration) []byte {
	if s.packets() == 0 {
		return nil
	}
	if s.cfg.Rate > 0 {
		s.refill(now)
		if s.tokens <= 0 {
			return nil
		}
	}
	// New (sparse) flows first, whatever their tier: a ping or a DNS
	// query in the normal tier does not wait for the priority tier's
	// turn. Each gets one quantum before it joins its tier's old flows,
	// so the tiers' weights still divide what the busy flows send.
	for t := numTiers - 1; t >= 0; t-- {
		if len(s.tiers[t].newFl) > 0 {
			if p, ok := s.dequeueTier(t, now, true); ok {
				return s.sent(t, p, now)
			}
		}
	}
	for range 2 * numTiers {
		t := s.pickTier()
		if t < 0 {
			return nil
		}
		if p, ok := s.dequeueTier(t, now, false); ok {
			return s.sent(t, p, now)
		}
	}
	return nil
}

// sent counts p, dequeued from tier t at now, and takes its tokens.
func (s *Shaper) sent(t int, p pkt, now time.Duration) []byte {
	if s.cfg.Rate > 0 {
		s.tokens -= len(p.data)
	}
	s.st.Sent[t]++
	s.st.Bytes[t] += uint64(len(p.data))
	if d := now - p.enq; d > s.st.LongestSojourn {
		s.st.LongestSojourn = d
	}
	return p.data
}

// pickTier chooses the tier to serve: deficit round robin by tierWeight
// among the tiers with packets.
func (s *Shaper) pickTier() int {
	for range 2 * numTiers {
		t := &s.tiers[s.cur]
		if t.packets > 0 && t.deficit > 0 {
			return s.cur
		}
		if t.packets > 0 {
			t.deficit += tierWeight[s.cur] * s.cfg.Quantum
		} else {
			t.deficit = 0
		}
		s.cur = (s.cur + 1) % numTiers
	}
	for i := range s.tiers {
		if s.tiers[i].packets > 0 {
			return i
		}
	}
	return -1
}

// dequeueTier runs FQ-CoDel's dequeue (RFC 8290 §4.2) in tier t; only
// from its new flows if newOnly.
func (s *Shaper) dequeueTier(t int, now time.Duration, newOnly bool) (pkt, bool) {
	tr := &s.tiers[t]
	for {
		var list *[]int
		switch {
		case len(tr.newFl) > 0:
			list = &tr.newFl
		case newOnly:
			return pkt{}, false
		case len(tr.oldFl) > 0:
			list = &tr.oldFl
		default:
			return pkt{}, false
		}
		i := (*list)[0]
		f := &tr.flows[i]
		if f.deficit <= 0 {
			f.deficit += s.cfg.Quantum
			*list = (*list)[1:]
			tr.oldFl = append(tr.oldFl, i)
			continue
		}
		p, ok := s.codelDequeue(t, f, now)
		if !ok {
			// Empty: a new flow goes to the old list once (so that it
			// cannot come back as new at once); an old one leaves.
			*list = (*list)[1:]
			if list == &tr.newFl && len(tr.oldFl) > 0 {
				tr.oldFl = append(tr.oldFl, i)
			} else {
				f.active = false
			}
			continue
		}
		f.deficit -= len(p.data)
		tr.deficit -= len(p.data)
		return p, true
	}
}

// controlLaw is CoDel's next drop time: interval / sqrt(count) after t.
func (s *Shaper) controlLaw(t time.Duration, count uint32) time.Duration {
	return t + time.Duration(float64(s.cfg.Interval)/sqrt(float64(count)))
}

func sqrt(x float64) float64 {
	// Newton's method: count is small and this is not on every packet.
	if x <= 1 {
		return 1
	}
	r := x
	for range 20 {
		r = (r + x/r) / 2
	}
	return r
}

// popOK takes f's head packet and says whether CoDel may drop it: its
// sojourn has stayed above target for at least an interval.
func (s *Shaper) popOK(t int, f *flow, now time.Duration) (pkt, bool, bool) {
	if f.len() == 0 {
		f.firstAbove = 0
		return pkt{}, false, false
	}
	p := f.pop()
	s.bytes -= len(p.data)
	s.tiers[t].packets--
	sojourn := now - p.enq
	if sojourn < s.cfg.Target || f.bytes <= s.cfg.Quantum {
		f.firstAbove = 0
		return p, true, false
	}
	if f.firstAbove == 0 {
		f.firstAbove = now + s.cfg.Interval
		return p, true, false
	}
	return p, true, now >= f.firstAbove
}

// codelDequeue is CoDel's dequeue on one flow (RFC 8289 §5.5).
func (s *Shaper) codelDequeue(t int, f *flow, now time.Duration) (pkt, bool) {
	p, ok, dropOK := s.popOK(t, f, now)
	if !ok {
		f.dropping = false
		return pkt{}, false
	}
	drop := func() {
		s.st.Dropped[t]++
		s.Release(p.data)
	}
	if f.dropping {
		if !dropOK {
			f.dropping = false
			return p, true
		}
		for now >= f.dropNext && f.dropping {
			f.count++
			if s.mark(t, p) {
				f.dropNext = s.controlLaw(f.dropNext, f.count)
				return p, true
			}
			drop()
			p, ok, dropOK = s.popOK(t, f, now)
			if !ok {
				f.dropping = false
				return pkt{}, false
			}
			if !dropOK {
				f.dropping = false
			} else {
				f.dropNext = s.controlLaw(f.dropNext, f.count)
			}
		}
		return p, true
	}
	if dropOK {
		if !s.mark(t, p) {
			drop()
			p, ok, _ = s.popOK(t, f, now)
		}
		f.dropping = true
		delta := f.count - f.lastCount
		if delta > 1 && now-f.dropNext < 16*s.cfg.Interval {
			f.count = delta
		} else {
			f.count = 1
		}
		f.lastCount = f.count
		f.dropNext = s.controlLaw(now, f.count)
		if !ok {
			return pkt{}, false
		}
	}
	return p, true
}

// mark sets Congestion Experienced on p if its sender understands ECN,
// and says whether it did (else CoDel drops it).
func (s *Shaper) mark(t int, p pkt) bool {
	if p.ip < 0 || !MarkCE(p.data[p.ip:]) {
		return false
	}
	s.st.Marked[t]++
	return true
}

// Next returns when Dequeue will next hand out a packet, at or after
// now; ok false when nothing is queued.
func (s *Shaper) Next(now time.Duration) (time.Duration, bool) {
	if s.packets() == 0 {
		return 0, false
	}
	if s.cfg.Rate == 0 {
		return now, true
	}
	s.refill(now)
	if s.tokens > 0 {
		return now, true
	}
	need := uint64(1 - s.tokens)
	return s.last + time.Duration(need*8*uint64(time.Second)/s.cfg.Rate) + 1, true
}

// Stats returns the counters and resets the longest sojourn.
func (s *Shaper) Stats() Stats {
	st := s.st
	for i := range s.tiers {
		st.Queued[i] = s.tiers[i].packets
	}
	st.QueuedBytes = s.bytes
	s.st.LongestSojourn = 0
	return st
}

// Drain hands every queued packet to fn, in tier and flow order, without
// rate or CoDel (a shaper being removed sends what it holds); fn must not
// keep the buffer past its call.
func (s *Shaper) Drain(fn func(p []byte)) {
	for t := range s.tiers {
		tr := &s.tiers[t]
		for _, lists := range [][]int{tr.newFl, tr.oldFl} {
			for _, i := range lists {
				f := &tr.flows[i]
				for f.len() > 0 {
					p := f.pop()
					s.bytes -= len(p.data)
					tr.packets--
					fn(p.data)
					s.Release(p.data)
				}
				f.active = false
			}
		}
		tr.newFl, tr.oldFl = tr.newFl[:0], tr.oldFl[:0]
	}
}
