package nat

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/hugemem"
	"github.com/passgate/passgate/pkg/packet"
)

// rawPkt writes a minimal IPv4 TCP/UDP packet with a valid IPv4 header
// checksum and transport checksum into b and returns it. It is for
// benchmarks, where building millions of packets with gopacket would
// dominate the measurement.
func rawPkt(b []byte, proto uint8, src, dst uint32, sp, dp uint16, payload int) []byte {
	l4 := 8
	if proto == packet.ProtoTCP {
		l4 = 20
	}
	n := 20 + l4 + payload
	b = b[:n]
	clear(b)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	b[8] = 64
	b[9] = proto
	binary.BigEndian.PutUint32(b[12:], src)
	binary.BigEndian.PutUint32(b[16:], dst)
	packet.IPv4(b).UpdateHeaderChecksum()
	t := b[20:]
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
	c := packet.Fold(packet.Sum(t, packet.PseudoHeaderSum(src, dst, proto, len(t))))
	binary.BigEndian.PutUint16(t[cs:], c)
	return b
}

func a4(s string) uint32 { return packet.AddrTo4(netip.MustParseAddr(s)) }

func benchEngine(tb testing.TB, max int) *Engine {
	c := DefaultConfig(netip.MustParsePrefix("192.168.1.1/16"))
	c.MaxSessions = max
	c.MaxSessionsPerHost = max
	c.Seed = 7
	e, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	e.SetExternal(netip.MustParseAddr(extIP))
	e.Tick(time.Hour)
	return e
}

// flowSet creates n established flows and returns their outbound and
// inbound packet templates, packed one after another in one buffer like
// frames in a receive ring.
func flowSet(tb testing.TB, e *Engine, proto uint8, n int) (out, in [][]byte) {
	ext := a4(extIP)
	buf := make([]byte, 2048)
	ring := make([]byte, 0, 2*n*128)
	put := func(p []byte) []byte {
		ring = append(ring, p...)
		ring = append(ring, make([]byte, 128-len(p))...)
		return ring[len(ring)-128 : len(ring)-128+len(p)]
	}
	for i := 0; i < n; i++ {
		// 20,000 mappings (100 hosts × 200 ports), each with 5 remotes:
		// one external address has only 64,512 ports ≥ 1024.
		host := a4("192.168.0.0") + 2 + uint32(i%100)
		sp := uint16(10000 + (i/100)%200)
		rip := a4("198.51.100.0") + uint32(i/20000)
		o := rawPkt(buf, proto, host, rip, sp, 443, 64)
		out = append(out, put(o))
		res := e.Translate(append(make([]byte, 0, 128), o...), Outbound)
		if res.Verdict != Forward {
			tb.Fatalf("setup flow %d: %v %v", i, res.Verdict, res.Reason)
		}
		xp := binary.BigEndian.Uint16(res.Packet[20:])
		in = append(in, put(rawPkt(buf, proto, rip, ext, 443, xp, 64)))
	}
	return out, in
}

func benchEstablished(b *testing.B, proto uint8, dir Dir, flows int) {
	benchEstablishedWith(b, proto, dir, flows, nil)
}

// benchEstablishedWith is benchEstablished with filter f installed (the
// firewall's rules) once the flows exist.
func benchEstablishedWith(b *testing.B, proto uint8, dir Dir, flows int, f Filter) {
	e := benchEngine(b, 1<<20)
	out, in := flowSet(b, e, proto, flows)
	if f != nil {
		e.SetFilter(f)
	}
	tpl := out
	if dir == Inbound {
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
		copy(p, t) // the engine rewrites in place: start from the original each time
		if e.Translate(p, dir).Verdict != Forward {
			b.Fatal("not forwarded")
		}
	}
}

func BenchmarkEstablished(b *testing.B) {
	for _, tc := range []struct {
		name  string
		proto uint8
		dir   Dir
	}{
		{"tcp/out", packet.ProtoTCP, Outbound}, {"tcp/in", packet.ProtoTCP, Inbound},
		{"udp/out", packet.ProtoUDP, Outbound}, {"udp/in", packet.ProtoUDP, Inbound},
	} {
		for _, flows := range []int{1, 100000} {
			b.Run(tc.name+"/flows="+itoa(flows), func(b *testing.B) { benchEstablished(b, tc.proto, tc.dir, flows) })
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

// countFilter accepts everything and counts what it is asked.
type countFilter struct{ n int }

func (c *countFilter) Decide(NewFlow) FilterVerdict { c.n++; return FilterAccept }

// BenchmarkEstablishedFiltered: with a Filter installed, the packets of
// established flows cost what they cost without one, and the filter is
// never asked about them (the firewall decides at session creation).
func BenchmarkEstablishedFiltered(b *testing.B) {
	for _, flows := range []int{1, 100000} {
		b.Run("tcp/out/flows="+itoa(flows), func(b *testing.B) {
			f := &countFilter{}
			benchEstablishedWith(b, packet.ProtoTCP, Outbound, flows, f)
			if f.n != 0 {
				b.Fatalf("the filter was asked %d times about established flows", f.n)
			}
		})
	}
}

// BenchmarkNewFlow measures session creation: every packet is a new
// 5-tuple (many hosts and ports, each talking to many remotes). Old flows
// are expired by the clock so the table never fills.
func BenchmarkNewFlow(b *testing.B) {
	e := benchEngine(b, 1<<22)
	buf := make([]byte, 128)
	base := a4("192.168.0.0")
	srvBase := a4("198.51.100.0")
	b.ReportAllocs()
	i := uint32(0)
	now := time.Hour
	for b.Loop() {
		host := base + 2 + i%200
		sp := uint16(1024 + (i/200)%300)
		rip := srvBase + (i/60000)%250
		dp := uint16(1 + (i/200/300)%60000)
		p := rawPkt(buf, packet.ProtoUDP, host, rip, sp, dp, 32)
		if e.Translate(p, Outbound).Verdict != Forward {
			b.Fatalf("flow %d not created: %v", i, e.Counters())
		}
		i++
		if i%(1<<20) == 0 { // keep the table from filling on long runs
			now += time.Hour
			e.Tick(now)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// TestMemoryPerFlow creates 1,000,000 flows and measures the heap they take,
// table and indexes included (the figure docs/performance.md publishes).
func TestMemoryPerFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~100 MB; run without -short")
	}
	const flows = 1000000
	bpf := memoryPerFlow(t, flows)
	t.Logf("%.1f bytes per flow at %d flows", bpf, flows)
	if bpf > 128 {
		t.Fatalf("%.1f bytes per flow at %d flows, goal ≤ 128", bpf, flows)
	}
}

func memoryPerFlow(tb testing.TB, flows int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mappedBefore := hugemem.Mapped() // the table's big arrays live outside the heap
	e := benchEngine(tb, flows)
	buf := make([]byte, 128)
	base, srvBase := a4("192.168.0.0"), a4("198.51.100.0")
	for i := uint32(0); i < uint32(flows); i++ {
		host := base + 2 + i%1000
		sp := uint16(1024 + (i/1000)%50)
		rip := srvBase + i/50000
		dp := uint16(1 + (i/1000/50)%1000)
		p := rawPkt(buf, packet.ProtoUDP, host, rip, sp, dp, 0)
		if r := e.Translate(p, Outbound); r.Verdict != Forward {
			tb.Fatalf("flow %d: %v %v", i, r.Verdict, r.Reason)
		}
	}
	if got := e.Counters().Sessions; got != flows {
		tb.Fatalf("%d sessions", got)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mapped := hugemem.Mapped() - mappedBefore
	runtime.KeepAlive(e)
	return float64(int64(after.HeapAlloc-before.HeapAlloc)+mapped) / float64(flows)
}

func BenchmarkMemoryPerFlow(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(memoryPerFlow(b, 1000000), "bytes/flow")
	}
}

// The hot path must not allocate (ARCHITECTURE.md, hot path rules).
func TestEstablishedPathDoesNotAllocate(t *testing.T) {
	for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
		e := benchEngine(t, 1024)
		out, in := flowSet(t, e, proto, 10)
		buf := make([]byte, 2048)
		for _, c := range []struct {
			dir Dir
			tpl [][]byte
		}{{Outbound, out}, {Inbound, in}} {
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				t := c.tpl[i%len(c.tpl)]
				i++
				e.Translate(append(buf[:0], t...), c.dir)
			})
			if allocs != 0 {
				t.Errorf("proto %d dir %d: %.1f allocs per packet", proto, c.dir, allocs)
			}
		}
	}
}

// BenchmarkEstablishedBatch is BenchmarkEstablished as the data plane runs
// it: the packets wait in a receive ring of 1,024 frames of 2 KiB (the
// ports' default), and each batch of 64 (the data plane's read batch) is
// prefetched (index slots, then session records) and translated in place,
// each packet with its hint, as pkg/dataplane does.
//
// The ring is filled from the flows' templates with the timer stopped, as
// the kernel fills the real one: only the engine's work is timed. (Until
// 2026-12-04 each packet was copied from its template inside the timed
// loop; at 100,000 flows the templates are 25 MiB, so that copy took a
// cache miss of its own, 15-20 ns a packet that were the benchmark's, not
// the engine's. BenchmarkEstablished still times such a copy.)
func BenchmarkEstablishedBatch(b *testing.B) {
	benchEstablishedBatch(b, 1<<20, []int{1, 100000, 1000000})
}

// BenchmarkEstablishedBatchFull is BenchmarkEstablishedBatch with 100,000
// flows in a table of 131,072 sessions, whose indexes are at load 0.38:
// a third of the keys sit beyond their home slot (a router whose
// automatic table size its traffic nearly fills).
func BenchmarkEstablishedBatchFull(b *testing.B) {
	benchEstablishedBatch(b, 131072, []int{100000})
}

func benchEstablishedBatch(b *testing.B, max int, flowCounts []int) {
	for _, tc := range []struct {
		name  string
		proto uint8
		dir   Dir
	}{
		{"tcp/out", packet.ProtoTCP, Outbound}, {"tcp/in", packet.ProtoTCP, Inbound},
		{"udp/out", packet.ProtoUDP, Outbound}, {"udp/in", packet.ProtoUDP, Inbound},
	} {
		for _, flows := range flowCounts {
			b.Run(tc.name+"/flows="+itoa(flows), func(b *testing.B) {
				e := benchEngine(b, max)
				out, in := flowSet(b, e, tc.proto, flows)
				tpl := out
				if tc.dir == Inbound {
					tpl = in
				}
				// The flows' packets in a random order: flowSet makes the
				// sessions in template order, so in that order their
				// records would be read one after another, which the
				// CPU's own prefetcher follows; a router's traffic reads
				// them at random.
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
				next := 0 // the next template to put in the ring
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
							if r := e.TranslateHinted(p, tc.dir, hints[k]); r.Verdict != Forward {
								b.Fatal("not forwarded")
							}
						}
					}
				}
			})
		}
	}
}
