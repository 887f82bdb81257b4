package qos

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// source sends packets of size bytes every gap in tier t, flow hash h.
type source struct {
	size int
	gap  time.Duration
	h    uint32
	t    int
	next time.Duration

	sent, got int
	bytes     int
	worst     time.Duration
	sumDelay  time.Duration

	// responsive: the source behaves like a TCP sender, roughly: it
	// halves its rate when it notices a loss (a gap in what arrives, at
	// most once per 50 ms) and speeds up by 2% every 10 ms otherwise.
	responsive bool
	// ecn: its packets carry an IPv4 header at ecnOff with ECT(0), and a
	// mark (CE) slows it down as a loss does.
	ecn       bool
	marks     int
	seq, want uint32
	lastCut   time.Duration
	lastGrow  time.Duration
}

// simulate runs the sources against s for d in steps of 100 µs (only
// packets delivered during the last half are measured); the packet's first
// bytes carry its source and send time.
func simulate(s *Shaper, d time.Duration, srcs ...*source) {
	buf := make([]byte, 2048)
	const step = 100 * time.Microsecond
	for now := time.Duration(0); now < d; now += step {
		for i, src := range srcs {
			for src.next <= now {
				p := buf[:src.size]
				p[0] = byte(i)
				binary.BigEndian.PutUint64(p[1:], uint64(src.next))
				binary.BigEndian.PutUint32(p[9:], src.seq)
				src.seq++
				src.sent++
				if src.ecn {
					ect0IPv4(p[ecnOff:])
					s.EnqueueIP(p, ecnOff, src.h, src.t, src.next)
				} else {
					s.Enqueue(p, src.h, src.t, src.next)
				}
				src.next += src.gap
			}
		}
		for _, src := range srcs {
			if src.responsive && now-src.lastGrow >= 10*time.Millisecond {
				src.gap = src.gap * 98 / 100
				src.lastGrow = now
			}
		}
		for {
			p := s.Dequeue(now)
			if p == nil {
				break
			}
			src := srcs[p[0]]
			sentAt := time.Duration(binary.BigEndian.Uint64(p[1:]))
			ce := false
			if src.ecn {
				ip := p[ecnOff:]
				ce = ip[1]&3 == 3
				if ce {
					src.marks++
				}
				if ipChecksum(ip[:20]) != 0 {
					panic("a marked IPv4 header's checksum is wrong")
				}
			}
			if seq := binary.BigEndian.Uint32(p[9:]); src.responsive {
				if (seq != src.want || ce) && now-src.lastCut > 50*time.Millisecond {
					src.gap *= 2
					src.lastCut = now
				}
				src.want = seq + 1
			}
			if now >= d/2 {
				src.got++
				src.bytes += len(p)
				delay := now - sentAt
				src.sumDelay += delay
				src.worst = max(src.worst, delay)
			}
			s.Release(p)
		}
	}
}

func (src *source) mbit(d time.Duration) float64 {
	return float64(src.bytes*8) / (d / 2).Seconds() / 1e6
}

func (src *source) avgDelay() time.Duration {
	if src.got == 0 {
		return 0
	}
	return src.sumDelay / time.Duration(src.got)
}

// A bulk flow that behaves like TCP (it backs off on loss): the shaper
// holds the rate, and CoDel keeps the queue near its 5 ms target by
// dropping, where a plain FIFO would fill up to its limit.
func TestRateAndCoDel(t *testing.T) {
	s := New(Config{Rate: 20e6})
	bulk := &source{size: 1500, gap: 300 * time.Microsecond, h: 1, responsive: true}
	const d = 10 * time.Second
	simulate(s, d, bulk)
	if r := bulk.mbit(d); r > 20.6 {
		t.Errorf("bulk flow got %.2f Mbit/s through a 20 Mbit/s shaper", r)
	}
	st := s.Stats()
	if st.Dropped[Normal] == 0 {
		t.Error("CoDel dropped nothing from a flow sending faster than the rate")
	}
	if a := bulk.avgDelay(); a > 20*time.Millisecond {
		t.Errorf("the bulk flow's queue delay averages %v: CoDel does not hold it near 5 ms", a)
	}
	// An unresponsive flood at twice the rate gets the rate exactly, and
	// is held by the limits: the queue stays within MemLimit.
	s = New(Config{Rate: 20e6, MemLimit: 256 << 10})
	flood := &source{size: 1500, gap: 300 * time.Microsecond, h: 1}
	simulate(s, 4*time.Second, flood)
	if r := flood.mbit(4 * time.Second); r < 19.6 || r > 20.4 {
		t.Errorf("a flood got %.2f Mbit/s through a 20 Mbit/s shaper", r)
	}
	if st := s.Stats(); st.QueuedBytes > 256<<10 || st.Overlimit[Normal] == 0 {
		t.Errorf("an unresponsive flood: %+v", st)
	}
}

// A sparse flow (a ping every 20 ms) beside a bulk one: flow queuing
// serves it first, so it sees almost no queue.
func TestSparseFlowBesideBulk(t *testing.T) {
	s := New(Config{Rate: 10e6})
	bulk := &source{size: 1500, gap: 400 * time.Microsecond, h: 1}
	ping := &source{size: 84, gap: 20 * time.Millisecond, h: 2}
	const d = 4 * time.Second
	simulate(s, d, bulk, ping)
	if ping.worst > 2*time.Millisecond {
		t.Errorf("the sparse flow waited up to %v behind a bulk flow", ping.worst)
	}
	if r := bulk.mbit(d); r < 9.6 || r > 10.2 {
		t.Errorf("the bulk flow got %.2f Mbit/s of 10", r)
	}
}

// A sparse flow in the normal tier beside bulk in both tiers (a VPN
// stream in the priority tier, a download in the normal one): sparse
// flows are served first whatever their tier, as in FQ-CoDel, so the
// ping does not wait for the priority tier's turn (before: up to 7 ms,
// three priority quanta). At 5 Mbit/s it may wait for the bulk packet
// the bucket has just paid for (2.4 ms) and a VPN packet that is a new
// flow too (1.9 ms).
func TestSparseFlowBesideBothTiers(t *testing.T) {
	s := New(Config{Rate: 5e6})
	bulk := &source{size: 1500, gap: 1 * time.Millisecond, h: 1}                // 12 Mbit/s offered
	vpn := &source{size: 1200, gap: 4800 * time.Microsecond, h: 9, t: Priority} // 2 Mbit/s
	ping := &source{size: 84, gap: 20 * time.Millisecond, h: 2}
	const d = 6 * time.Second
	simulate(s, d, bulk, vpn, ping)
	if ping.worst > 5*time.Millisecond {
		t.Errorf("the sparse flow waited up to %v (average %v) behind two tiers of bulk", ping.worst, ping.avgDelay())
	}
	if r := vpn.mbit(d); r < 1.95 {
		t.Errorf("the VPN flow got %.2f Mbit/s of the 2 it sends", r)
	}
	if r := bulk.mbit(d); r < 2.8 || r > 3.1 {
		t.Errorf("the bulk flow got %.2f Mbit/s, want the rest (about 3)", r)
	}
}

// A TCP-like sender that understands ECN: CoDel marks its packets
// Congestion Experienced instead of dropping them, it slows down on the
// marks, and the queue is held near the target as with drops — with no
// packet lost.
func TestCoDelMarksECN(t *testing.T) {
	s := New(Config{Rate: 20e6})
	bulk := &source{size: 1500, gap: 300 * time.Microsecond, h: 1, responsive: true, ecn: true}
	const d = 10 * time.Second
	simulate(s, d, bulk)
	st := s.Stats()
	if st.Marked[Normal] == 0 || bulk.marks == 0 {
		t.Fatalf("CoDel marked nothing (stats %+v, marks seen %d)", st, bulk.marks)
	}
	if st.Dropped[Normal] != 0 || st.Overlimit[Normal] != 0 {
		t.Errorf("CoDel dropped %d (limits %d) packets of an ECN-capable flow", st.Dropped[Normal], st.Overlimit[Normal])
	}
	if a := bulk.avgDelay(); a > 20*time.Millisecond {
		t.Errorf("the ECN flow's queue delay averages %v: marks do not hold it near 5 ms", a)
	}
	// The same sender without ECN, through CoDel's drops: marks cost no
	// throughput.
	plain := &source{size: 1500, gap: 300 * time.Microsecond, h: 1, responsive: true}
	simulate(New(Config{Rate: 20e6}), d, plain)
	if r, rp := bulk.mbit(d), plain.mbit(d); r > 20.6 || r < 0.95*rp {
		t.Errorf("the ECN flow got %.2f Mbit/s of 20; without ECN it got %.2f", r, rp)
	} else {
		t.Logf("%.2f Mbit/s with ECN marks (%d), %.2f with drops", r, bulk.marks, rp)
	}
}

// At a DSL-like upload rate the bucket holds one frame: after an idle
// spell the shaper sends at most two full frames back to back (the bucket
// and the one it lets it owe), so it never makes the modem queue what a
// ping behind them must wait for (two frames more were 5 ms at 4.5
// Mbit/s: the interop lab's qos case measured +4.2 ms of ping under
// load with them, +1.7 without).
func TestBurstAtLowRate(t *testing.T) {
	s := New(Config{Rate: 4.5e6})
	p := make([]byte, 1500)
	now := time.Second // idle long enough to fill the bucket
	for i := range 10 {
		s.Enqueue(p, uint32(i), Normal, now)
	}
	if n := backToBack(s, now); n > 2 {
		t.Errorf("%d full frames sent back to back at 4.5 Mbit/s, want at most 2", n)
	}
}

// backToBack dequeues what s lets out at now and counts it.
func backToBack(s *Shaper, now time.Duration) int {
	n := 0
	for b := s.Dequeue(now); b != nil; b = s.Dequeue(now) {
		n++
		s.Release(b)
	}
	return n
}

// The bytes a time is worth at a rate, exactly, where the product of
// nanoseconds and bits per second is beyond 64 bits.
func TestEarn(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate uint64
		want uint64
	}{
		{time.Second, 8e6, 1e6},
		{time.Nanosecond, 8, 0},
		{-time.Second, 8e6, 0},
		{2 * time.Millisecond, 4.5e6, 1125},
		{time.Hour, 10e9, 4.5e12},                       // 3.6e22 ns·bit/s
		{100 * time.Hour, 1e9, 4.5e13},                  // 3.6e23
		{math.MaxInt64, math.MaxUint64, math.MaxUint64}, // beyond 64 bits even after the division
	} {
		if got := earn(c.d, c.rate); got != c.want {
			t.Errorf("earn(%v, %d) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

// Hours of idle at a high rate do not overflow the bucket's arithmetic.
func TestLongIdleAtHighRate(t *testing.T) {
	s := New(Config{Rate: 10e9})
	p := make([]byte, 1500)
	for _, now := range []time.Duration{time.Hour, 5 * time.Hour, 100 * time.Hour} {
		for i := range 4 {
			s.Enqueue(p, uint32(i), Normal, now)
		}
		if n := backToBack(s, now); n != 4 {
			t.Errorf("after %v idle at 10 Gbit/s, %d of 4 frames sent at once (burst %d bytes)", now, n, s.Config().Burst)
		}
	}
}

// LateBytes counts the line a late sender did not use while packets
// waited, and not the idle time before a packet arrived.
func TestLateBytes(t *testing.T) {
	const frame = 1514
	rate := 4.5e6
	frameTime := time.Duration(frame * 8 * float64(time.Second) / rate)
	for _, c := range []struct {
		name string
		idle time.Duration // before the frames arrive
		late time.Duration // how late the sender comes for the second frame
		want uint64        // LateBytes, ±2 for the division's remainders
	}{
		{"on time", time.Second, 0, 0},
		{"late within the bucket", time.Second, frameTime / 2, 0},
		{"late by two frames", time.Second, 2 * frameTime, frame},
		{"no idle before", 0, 2 * frameTime, frame},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Config{Rate: uint64(rate)})
			if s.Config().Burst != frame {
				t.Fatalf("burst %d, want one frame", s.Config().Burst)
			}
			p := make([]byte, frame)
			now := c.idle
			for i := range 10 {
				s.Enqueue(p, uint32(i), Normal, now)
			}
			if n := backToBack(s, now); n != 1 {
				t.Fatalf("%d frames sent at once, want 1", n)
			}
			due, _ := s.Next(now)
			now = due + c.late
			if n := backToBack(s, now); n == 0 {
				t.Fatal("nothing sent when due")
			}
			got := s.Stats().LateBytes
			if got+2 < c.want || got > c.want+2 {
				t.Errorf("LateBytes %d, want about %d", got, c.want)
			}
			// Emptied, then idle for an hour: not counted.
			s.Drain(func([]byte) {})
			drained := s.Stats().LateBytes
			s.Enqueue(p, 1, Normal, now+time.Hour)
			backToBack(s, now+time.Hour)
			if s.Stats().LateBytes != drained {
				t.Errorf("idle time counted as late: %d, then %d", drained, s.Stats().LateBytes)
			}
		})
	}
}

// VPN traffic in the priority tier keeps the rate it asks for (here 6 of
// 10 Mbit/s) under a bulk flow sent at 3 times the rate, with little
// delay; the bulk flow gets the rest.
func TestPriorityTierKeepsItsRate(t *testing.T) {
	s := New(Config{Rate: 10e6})
	bulk := &source{size: 1500, gap: 400 * time.Microsecond, h: 1}              // 30 Mbit/s offered
	vpn := &source{size: 1400, gap: 1867 * time.Microsecond, h: 9, t: Priority} // 6 Mbit/s
	const d = 6 * time.Second
	simulate(s, d, bulk, vpn)
	if r := vpn.mbit(d); r < 5.8 {
		t.Errorf("the VPN flow got %.2f Mbit/s of the 6 it sends", r)
	}
	if a := vpn.avgDelay(); a > 5*time.Millisecond {
		t.Errorf("the VPN flow's delay averages %v", a)
	}
	if r := bulk.mbit(d); r < 3.8 || r > 4.2 {
		t.Errorf("the bulk flow got %.2f Mbit/s, want the rest (about 4)", r)
	}
}

// A priority tier that tries to take everything gets three quarters, and
// the normal tier the rest: no starvation.
func TestNormalTierIsNotStarved(t *testing.T) {
	s := New(Config{Rate: 8e6})
	vpn := &source{size: 1500, gap: 500 * time.Microsecond, h: 9, t: Priority}
	bulk := &source{size: 1500, gap: 500 * time.Microsecond, h: 1}
	const d = 6 * time.Second
	simulate(s, d, vpn, bulk)
	if r := bulk.mbit(d); r < 1.8 || r > 2.2 {
		t.Errorf("the normal tier got %.2f Mbit/s of 8 beside a greedy priority tier, want a quarter", r)
	}
}

// The limits hold: a burst far beyond the memory limit is cut from the
// fattest flow, the shaper keeps at most MemLimit bytes.
func TestLimits(t *testing.T) {
	s := New(Config{Rate: 1e6, MemLimit: 64 << 10, Limit: 100})
	p := make([]byte, 1500)
	for i := range 1000 {
		s.Enqueue(p, uint32(i%3), Normal, 0)
	}
	st := s.Stats()
	if st.QueuedBytes > 64<<10 || st.Queued[Normal] > 100 || st.Overlimit[Normal] == 0 {
		t.Errorf("%+v", st)
	}
	if s.Enqueue(make([]byte, 65<<10), 1, Normal, 0) {
		t.Error("a packet larger than the memory limit was kept")
	}
	// Unshaped: everything comes out at once.
	u := New(Config{})
	u.Enqueue(p, 1, Normal, 0)
	u.Enqueue(p, 2, Priority, 0)
	if u.Dequeue(0) == nil || u.Dequeue(0) == nil || u.Dequeue(0) != nil {
		t.Error("an unshaped queue holds packets back")
	}
	if _, ok := u.Next(0); ok {
		t.Error("Next with nothing queued")
	}
}

// The bucket: a packet goes out while tokens are left (the bucket may go
// into debt by one packet), then the next waits until the debt is paid.
func TestNext(t *testing.T) {
	s := New(Config{Rate: 8e6, Burst: 1500}) // 1 byte per µs
	p := make([]byte, 1500)
	for range 3 {
		s.Enqueue(p, 1, Normal, 0)
	}
	if s.Dequeue(0) == nil {
		t.Fatal("the first packet within the burst is held")
	}
	if s.Dequeue(0) != nil {
		t.Fatal("the second packet went out with the bucket empty")
	}
	at, ok := s.Next(0)
	if !ok || at > 2*time.Microsecond {
		t.Errorf("Next = %v, want at once (1 µs: a byte of tokens)", at)
	}
	if s.Dequeue(at) == nil {
		t.Fatal("not sent at the time Next gave")
	}
	at2, _ := s.Next(at)
	if d := at2 - at; d < 1400*time.Microsecond || d > 1600*time.Microsecond {
		t.Errorf("the third packet waits %v, want about 1.5 ms (the second's 1500 bytes at 1 byte/µs)", d)
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	s := New(Config{Rate: 100e6})
	p := make([]byte, 1500)
	now := time.Duration(0)
	for range 100 { // fill the pool
		s.Enqueue(p, 1, Normal, now)
		if b := s.Dequeue(now); b != nil {
			s.Release(b)
		}
		now += time.Millisecond
	}
	if n := testing.AllocsPerRun(1000, func() {
		s.Enqueue(p, 1, Normal, now)
		if b := s.Dequeue(now); b != nil {
			s.Release(b)
		}
		now += 200 * time.Microsecond
	}); n > 0.01 {
		t.Errorf("%v allocations per packet", n)
	}
}

func BenchmarkEnqueueDequeue(b *testing.B) {
	s := New(Config{Rate: 1e9})
	p := make([]byte, 1500)
	now := time.Duration(0)
	for i := 0; b.Loop(); i++ {
		s.Enqueue(p, uint32(i%64), i%4/3, now)
		if q := s.Dequeue(now); q != nil {
			s.Release(q)
		}
		now += 12 * time.Microsecond
	}
}

func TestClassify(t *testing.T) {
	ip4 := func(proto uint8, sp, dp uint16, flags byte, payload int) []byte {
		n := 20
		if proto == protoTCP {
			n += 20
		} else if proto == protoUDP {
			n += 8
		} else {
			n += 8
		}
		b := make([]byte, n+payload)
		b[0], b[9] = 0x45, proto
		copy(b[12:], []byte{192, 168, 1, 10, 198, 51, 100, 7})
		binary.BigEndian.PutUint16(b[20:], sp)
		binary.BigEndian.PutUint16(b[22:], dp)
		if proto == protoTCP {
			b[32], b[33] = 5<<4, flags
		}
		return b
	}
	for _, c := range []struct {
		name string
		p    []byte
		want int
	}{
		{"https", ip4(protoTCP, 50000, 443, 0x18, 1000), Normal},
		{"bare ack", ip4(protoTCP, 50000, 443, 0x10, 0), Priority},
		{"ack with data", ip4(protoTCP, 50000, 443, 0x10, 100), Normal},
		{"syn", ip4(protoTCP, 50000, 443, 0x02, 0), Normal},
		{"nat-t", ip4(protoUDP, 4500, 4500, 0, 1000), Priority},
		{"ike reply", ip4(protoUDP, 500, 500, 0, 300), Priority},
		{"dns", ip4(protoUDP, 40000, 53, 0, 40), Priority},
		{"wireguard", ip4(protoUDP, 51820, 40000, 0, 1000), Priority},
		{"pptp control", ip4(protoTCP, 40000, 1723, 0x18, 100), Priority},
		{"esp", ip4(protoESP, 0, 0, 0, 1000), Priority},
		{"gre", ip4(protoGRE, 0, 0, 0, 1000), Priority},
		{"quic", ip4(protoUDP, 50000, 443, 0, 1200), Normal},
		{"short", []byte{0x45, 0}, Priority},
	} {
		if got, _ := Classify(c.p, nil); got != c.want {
			t.Errorf("%s: tier %d, want %d", c.name, got, c.want)
		}
	}
	// A configured class.
	stun := ip4(protoUDP, 50000, 3478, 0, 100)
	if got, _ := Classify(stun, []Class{{UDP: true, First: 3478, Last: 3479}}); got != Priority {
		t.Error("a configured UDP class is not priority")
	}
	if got, _ := Classify(stun, []Class{{TCP: true, First: 3478, Last: 3479}}); got != Normal {
		t.Error("a TCP class took UDP")
	}
	// Flows differ in hash; a flow keeps its hash.
	_, h1 := Classify(ip4(protoTCP, 50000, 443, 0x18, 10), nil)
	_, h2 := Classify(ip4(protoTCP, 50001, 443, 0x18, 10), nil)
	_, h3 := Classify(ip4(protoTCP, 50000, 443, 0x10, 0), nil)
	if h1 == h2 || h1 != h3 {
		t.Errorf("hashes %x %x %x", h1, h2, h3)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 1, 187})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, p []byte) {
		tier, _ := Classify(p, []Class{{TCP: true, UDP: true, First: 1, Last: 2}})
		if tier != Normal && tier != Priority {
			t.Fatalf("tier %d", tier)
		}
	})
}

func TestDrain(t *testing.T) {
	s := New(Config{Rate: 1e6})
	p := make([]byte, 1000)
	for i := range 30 {
		s.Enqueue(p, uint32(i%3), i%2, 0)
	}
	n := 0
	s.Drain(func([]byte) { n++ })
	if st := s.Stats(); n != 30 || st.QueuedBytes != 0 || st.Queued != [numTiers]int{} || s.Dequeue(time.Hour) != nil {
		t.Errorf("drained %d, left %+v", n, st)
	}
	s.Enqueue(p, 1, Normal, 0)
	if s.Dequeue(0) == nil {
		t.Error("the shaper does not work after a drain")
	}
}

// ecnOff is where the simulated ECN sources' IPv4 header starts (after
// an Ethernet header's worth of test data).
const ecnOff = 14

// ect0IPv4 writes a 20-byte IPv4 header with ECT(0) and its checksum.
func ect0IPv4(ip []byte) {
	clear(ip[:20])
	ip[0], ip[1], ip[8], ip[9] = 0x45, 0x02, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{192, 168, 1, 10, 198, 51, 100, 10})
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip[:20]))
}

// ipChecksum is the Internet checksum of b from scratch (RFC 1071): 0
// over a header whose checksum is right.
func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
