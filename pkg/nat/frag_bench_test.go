package nat

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// fullFragPool returns a rig whose fragment pool holds maxFragTrains
// incomplete trains (first fragments only) from 64 LAN hosts, and a first
// fragment template for more.
func fullFragPool(b *testing.B) (*rig, []byte) {
	r := newRig(b, func(c *Config) { c.MaxSessions = 1 << 16 })
	tmpl := fragmented(b, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9}, 1192, 400)[0]
	fillFragPool(r, tmpl)
	if r.e.frags.n != maxFragTrains {
		b.Fatalf("pool holds %d trains, want %d", r.e.frags.n, maxFragTrains)
	}
	return r, tmpl
}

func fillFragPool(r *rig, tmpl []byte) {
	buf := make([]byte, len(tmpl))
	for i := 0; i < maxFragTrains; i++ {
		copy(buf, tmpl)
		p := packet.IPv4(buf)
		p.SetSrc(packet.AddrTo4(mustAddr(hostA)) + uint32(i/maxFragTrainsPerSource) + 100)
		binary.BigEndian.PutUint16(buf[4:], uint16(i))
		fixUDP(buf)
		r.e.Translate(buf, Outbound)
	}
}

// fixUDP recomputes the IPv4 header checksum and zeroes the UDP checksum
// (allowed; the engine keeps it zero), so a changed template stays valid.
func fixUDP(b []byte) {
	p := packet.IPv4(b)
	b[p.HeaderLen()+6], b[p.HeaderLen()+7] = 0, 0
	p.UpdateHeaderChecksum()
}

// BenchmarkFragmentPoolFull measures the per-packet and per-Tick cost of
// fragment tracking with the pool full of incomplete trains.
func BenchmarkFragmentPoolFull(b *testing.B) {
	b.Run("later-fragment", func(b *testing.B) {
		r, tmpl := fullFragPool(b)
		frs := fragmented(b, pk{Src: hostB, Dst: srv, SP: 5001, DP: 9, ID: 0xfff0}, 1192, 400)
		r.e.Translate(frs[0], Outbound)
		mid := frs[1] // never completes the datagram
		_ = tmpl
		buf := make([]byte, len(mid))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			copy(buf, mid)
			if res := r.e.Translate(buf, Outbound); res.Verdict != Forward {
				b.Fatal(res.Verdict, res.Reason)
			}
		}
	})
	b.Run("new-train-evicts", func(b *testing.B) {
		r, tmpl := fullFragPool(b)
		// Prepare the packets first: new IDs from rotating hosts.
		const n = 1 << 12
		pkts := make([][]byte, n)
		for i := range pkts {
			p := append([]byte(nil), tmpl...)
			packet.IPv4(p).SetSrc(packet.AddrTo4(mustAddr(hostA)) + uint32(i%64) + 100)
			binary.BigEndian.PutUint16(p[4:], uint16(0x8000+i))
			fixUDP(p)
			pkts[i] = p
		}
		buf := make([]byte, len(tmpl))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			copy(buf, pkts[i%n])
			if res := r.e.Translate(buf, Outbound); res.Verdict != Forward {
				b.Fatal(res.Verdict, res.Reason)
			}
		}
	})
	b.Run("tick-none-expire", func(b *testing.B) {
		r, _ := fullFragPool(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.now += time.Millisecond
			r.e.Tick(r.now)
		}
	})
	b.Run(fmt.Sprintf("tick-expires-%d", maxFragTrains), func(b *testing.B) {
		r, tmpl := fullFragPool(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			fillFragPool(r, tmpl)
			r.now += 31 * time.Second
			b.StartTimer()
			r.e.Tick(r.now)
		}
		b.StopTimer()
		if r.e.frags.n != 0 {
			b.Fatalf("%d trains left", r.e.frags.n)
		}
	})
}
