package nat

import (
	"math/rand/v2"
	"testing"
)

// TestTableIndexesAgainstAModel inserts and removes sessions at random and
// checks, after every step, that both indexes find exactly the live
// sessions: tagged slots, probes past other keys and deletion without
// tombstones, for tables whose size leaves many tag bits, few, and
// keys crowded onto few remotes (long inbound chains).
func TestTableIndexesAgainstAModel(t *testing.T) {
	type key struct {
		proto     uint8
		ip, rip   uint32
		port, rpt uint16
		ext       uint16
	}
	for _, tc := range []struct {
		name  string
		max   int
		ports int // distinct internal ports: fewer means more sessions per mapping
	}{
		{"small table, 27 tag bits", 16, 16},
		{"default size", 65536, 1000},
		{"1 Mi sessions, 11 tag bits", 1 << 20, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.max), 9))
			tb := newTable(tc.max, 42)
			live := map[key]uint32{}
			limit := min(tc.max, 3000)
			for step := range 20000 {
				if len(live) < limit && (len(live) == 0 || rng.IntN(3) != 0) {
					k := key{
						proto: []uint8{6, 17}[rng.IntN(2)],
						ip:    0xc0a80000 | uint32(rng.IntN(4)),
						rip:   0xc6336400 | uint32(rng.IntN(3)),
						port:  uint16(1024 + rng.IntN(tc.ports)),
						rpt:   uint16(rng.IntN(50)),
					}
					k.ext = uint16(20000 + (k.ip&3)*2000 + uint32(k.port-1024)) // one mapping per internal endpoint
					if _, ok := live[k]; ok || tb.lookupOut(k.proto, k.ip, k.port, k.rip, k.rpt) != none {
						continue
					}
					i := tb.alloc()
					if i == none {
						t.Fatalf("step %d: table full at %d of %d", step, len(live), tc.max)
					}
					*tb.s(i) = session{proto: k.proto, intIP: k.ip, intPort: k.port, remIP: k.rip, remPort: k.rpt, extPort: k.ext}
					tb.link(i)
					live[k] = i
				} else {
					for k, i := range live {
						tb.unlink(i)
						delete(live, k)
						if got := tb.lookupOut(k.proto, k.ip, k.port, k.rip, k.rpt); got != none {
							t.Fatalf("step %d: removed session still found outbound as %d", step, got)
						}
						if got, _ := tb.lookupIn(k.proto, k.ext, k.rip, k.rpt); got != none {
							t.Fatalf("step %d: removed session still found inbound as %d", step, got)
						}
						break
					}
				}
				if step%500 == 0 || len(live) < 8 {
					for k, i := range live {
						if got := tb.lookupOut(k.proto, k.ip, k.port, k.rip, k.rpt); got != i {
							t.Fatalf("step %d: outbound lookup of %+v = %d, want %d", step, k, got, i)
						}
						if got, head := tb.lookupIn(k.proto, k.ext, k.rip, k.rpt); got != i || head == none {
							t.Fatalf("step %d: inbound lookup of %+v = %d (head %d), want %d", step, k, got, head, i)
						}
					}
				}
			}
			if tb.count != uint32(len(live)) {
				t.Fatalf("count %d, model %d", tb.count, len(live))
			}
		})
	}
}
