package fw6

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/hugemem"
	"github.com/passgate/passgate/pkg/packet"
)

// rawPkt writes a minimal IPv6 TCP or UDP packet with a valid transport
// checksum into b and returns it: for benchmarks, where building millions
// of packets with gopacket would dominate.
func rawPkt(b []byte, proto uint8, src, dst addr, sp, dp uint16, payload int) []byte {
	l4 := 8
	if proto == packet.ProtoTCP {
		l4 = 20
	}
	n := 40 + l4 + payload
	b = b[:n]
	clear(b)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(l4+payload))
	b[6] = proto
	b[7] = 64
	src.put(b[8:])
	dst.put(b[24:])
	t := b[40:]
	binary.BigEndian.PutUint16(t[0:], sp)
	binary.BigEndian.PutUint16(t[2:], dp)
	cs := 6
	if proto == packet.ProtoTCP {
		t[12] = 5 << 4
		t[13] = packet.TCPAck
		cs = 16
	} else {
		binary.BigEndian.PutUint16(t[4:], uint16(l4+payload))
	}
	c := packet.Fold(packet.Sum(t, packet.PseudoHeaderSum6(b[8:24], b[24:40], proto, len(t))))
	binary.BigEndian.PutUint16(t[cs:], c)
	return b
}

func a6(s string) addr { return fromNetip(mustAddr(s)) }

func benchEngine(tb testing.TB, max int) *Engine {
	c := DefaultConfig()
	c.MaxSessions = max
	c.MaxSessionsPerHost = max
	c.Seed = 7
	e, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.SetAddresses(defaultAddrs()); err != nil {
		tb.Fatal(err)
	}
	e.Tick(time.Hour)
	return e
}

// flowSet creates n established flows and returns their outbound and
// inbound packet templates, packed one after another like frames in a
// receive ring.
func flowSet(tb testing.TB, e *Engine, proto uint8, n int) (out, in [][]byte) {
	buf := make([]byte, 2048)
	ring := make([]byte, 0, 2*n*128)
	put := func(p []byte) []byte {
		ring = append(ring, p...)
		ring = append(ring, make([]byte, 128-len(p))...)
		return ring[len(ring)-128 : len(ring)-128+len(p)]
	}
	host0, rem0 := a6(lanPrefix[:len(lanPrefix)-3]), a6("2600:5:6:7::")
	for i := 0; i < n; i++ {
		host := addr{host0.hi, host0.lo + 2 + uint64(i%100)}
		rem := addr{rem0.hi, rem0.lo + 1 + uint64(i/20000)}
		sp := uint16(10000 + i/100%20000)
		o := rawPkt(buf, proto, host, rem, sp, 443, 64)
		out = append(out, put(o))
		if res := e.Process(append(make([]byte, 0, 128), o...), FromLAN); res.Verdict != Forward {
			tb.Fatalf("setup flow %d: %v %v", i, res.Verdict, res.Reason)
		}
		in = append(in, put(rawPkt(buf, proto, rem, host, 443, sp, 64)))
	}
	return out, in
}

func benchEstablished(b *testing.B, proto uint8, dir Dir, flows int) {
	e := benchEngine(b, 1<<20)
	out, in := flowSet(b, e, proto, flows)
	tpl := out
	if dir == FromWAN {
		tpl = in
	}
	buf := make([]byte, 2048)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		t := tpl[i]
		if i++; i == len(tpl) {
			i = 0
		}
		p := buf[:len(t)]
		copy(p, t) // the engine decrements the hop limit in place: start from the original
		if e.Process(p, dir).Verdict != Forward {
			b.Fatal("not forwarded")
		}
	}
}

var benchCases = []struct {
	name  string
	proto uint8
	dir   Dir
}{
	{"tcp/out", packet.ProtoTCP, FromLAN}, {"tcp/in", packet.ProtoTCP, FromWAN},
	{"udp/out", packet.ProtoUDP, FromLAN}, {"udp/in", packet.ProtoUDP, FromWAN},
}

// BenchmarkEstablished: ns per packet of an established flow, at 1 and
// 100,000 flows (target ≤ 60 ns at 1 flow, 0 allocations).
func BenchmarkEstablished(b *testing.B) {
	for _, tc := range benchCases {
		for _, flows := range []int{1, 100000} {
			b.Run(tc.name+"/flows="+strconv.Itoa(flows), func(b *testing.B) { benchEstablished(b, tc.proto, tc.dir, flows) })
		}
	}
}

// BenchmarkEstablishedBatch is BenchmarkEstablished as the data plane runs
// it, the same way as pkg/nat's: the packets wait in a receive ring of
// 1,024 frames of 2 KiB, filled with the timer stopped (as the kernel
// fills the real one), the flows in random order (as interleaved flows
// read their records), and each batch of 64 is prefetched as
// pkg/dataplane does it (every key hashed by SlotHint, the index slots
// prefetched by PrefetchSlots, the session records by PrefetchSessions)
// and processed in place by ProcessHinted with each packet's hint.
// (Until 2026-12-04 it copied each packet from its template inside the
// timed loop, the flows in creation order, in batches of 32; until
// 2026-12-05 it prefetched with PrefetchSlot and PrefetchSession per
// packet and processed without a hint.)
func BenchmarkEstablishedBatch(b *testing.B) {
	for _, tc := range benchCases {
		for _, flows := range []int{1, 100000} {
			b.Run(tc.name+"/flows="+strconv.Itoa(flows), func(b *testing.B) {
				e := benchEngine(b, 1<<20)
				out, in := flowSet(b, e, tc.proto, flows)
				tpl := out
				if tc.dir == FromWAN {
					tpl = in
				}
				tpl = append([][]byte(nil), tpl...)
				rng := rand.New(rand.NewPCG(7, uint64(flows)))
				rng.Shuffle(len(tpl), func(i, j int) { tpl[i], tpl[j] = tpl[j], tpl[i] })
				const (
					batch     = 64
					ringSlots = 1024
					slotSize  = 2048
				)
				ring := make([]byte, ringSlots*slotSize)
				var frames [ringSlots][]byte
				next := 0
				fill := func() {
					for k := range frames {
						t := tpl[next]
						if next++; next == len(tpl) {
							next = 0
						}
						frames[k] = ring[k*slotSize : k*slotSize+len(t)]
						copy(frames[k], t)
					}
				}
				var hints [batch]Hint
				b.ReportAllocs()
				b.ResetTimer()
				for n := 0; n < b.N; {
					b.StopTimer()
					fill()
					b.StartTimer()
					for f := 0; f < ringSlots && n < b.N; f, n = f+batch, n+batch {
						bufs := frames[f : f+batch]
						for k, p := range bufs {
							hints[k] = e.SlotHint(p, tc.dir)
						}
						e.PrefetchSlots(hints[:])
						e.PrefetchSessions(hints[:])
						for k, p := range bufs {
							if e.ProcessHinted(p, tc.dir, hints[k]).Verdict != Forward {
								b.Fatal("not forwarded")
							}
						}
					}
				}
			})
		}
	}
}

// BenchmarkNewFlow measures session creation: every packet a new flow.
func BenchmarkNewFlow(b *testing.B) {
	e := benchEngine(b, 1<<22)
	buf := make([]byte, 128)
	host0, rem0 := a6("2a00:1:2:3::"), a6("2600:5:6:7::")
	b.ReportAllocs()
	i := uint64(0)
	now := time.Hour
	for b.Loop() {
		host := addr{host0.hi, host0.lo + 2 + i%200}
		rem := addr{rem0.hi, rem0.lo + 1 + i/200%60000}
		p := rawPkt(buf, packet.ProtoUDP, host, rem, uint16(1024+i/200/60000%30000), 53, 32)
		if e.Process(p, FromLAN).Verdict != Forward {
			b.Fatalf("flow %d not created: %+v", i, e.Counters())
		}
		i++
		if i%(1<<21) == 0 {
			now += time.Hour
			e.Tick(now)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// The established path must not allocate (docs/architecture.md, hot path
// rules).
func TestEstablishedPathDoesNotAllocate(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		e := benchEngine(t, 1024)
		out, in := flowSet(t, e, proto, 10)
		buf := make([]byte, 2048)
		for _, c := range []struct {
			dir Dir
			tpl [][]byte
		}{{FromLAN, out}, {FromWAN, in}} {
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				t := c.tpl[i%len(c.tpl)]
				i++
				e.Process(append(buf[:0], t...), c.dir)
			})
			if allocs != 0 {
				t.Errorf("proto %d from %v: %.1f allocs per packet", proto, c.dir, allocs)
			}
			// The batch form, as the data plane calls it.
			var hints [4]Hint
			bufs := make([][]byte, len(hints))
			for k := range bufs {
				bufs[k] = make([]byte, 2048)
			}
			allocs = testing.AllocsPerRun(1000, func() {
				for k := range hints {
					t := c.tpl[i%len(c.tpl)]
					i++
					bufs[k] = append(bufs[k][:0], t...)
					hints[k] = e.SlotHint(bufs[k], c.dir)
				}
				e.PrefetchSlots(hints[:])
				e.PrefetchSessions(hints[:])
				for k, b := range bufs {
					if e.ProcessHinted(b, c.dir, hints[k]).Verdict != Forward {
						panic("not forwarded")
					}
				}
			})
			if allocs != 0 {
				t.Errorf("proto %d from %v, batch: %.1f allocs per batch", proto, c.dir, allocs)
			}
		}
	}
}

// TestMemoryPerFlow measures the heap 1,000,000 flows take, table and
// indexes included (the figure docs/performance.md publishes).
func TestMemoryPerFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~150 MB; run without -short")
	}
	const flows = 1000000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mappedBefore := hugemem.Mapped() // the table's arrays live outside the heap
	e := benchEngine(t, flows)
	buf := make([]byte, 128)
	host0, rem0 := a6("2a00:1:2:3::"), a6("2600:5:6:7::")
	for i := uint64(0); i < flows; i++ {
		p := rawPkt(buf, packet.ProtoUDP, addr{host0.hi, host0.lo + 2 + i%1000}, addr{rem0.hi, rem0.lo + 1 + i/1000}, uint16(1024+i%50), 53, 0)
		if r := e.Process(p, FromLAN); r.Verdict != Forward {
			t.Fatalf("flow %d: %v %v", i, r.Verdict, r.Reason)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	bpf := float64(int64(after.HeapAlloc-before.HeapAlloc)+hugemem.Mapped()-mappedBefore) / flows
	t.Logf("%.1f bytes per flow at %d flows", bpf, flows)
	if bpf > 128 {
		t.Fatalf("%.1f bytes per flow, goal ≤ 128", bpf)
	}
}
