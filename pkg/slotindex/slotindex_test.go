package slotindex

import (
	"math/rand/v2"
	"testing"
)

func TestLen(t *testing.T) {
	for _, c := range []struct{ n, want uint64 }{{1, 2}, {2, 4}, {3, 8}, {16, 32}, {17, 64}, {1 << 20, 1 << 21}} {
		if got := Len(c.n); got != c.want {
			t.Errorf("Len(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestDeleteKeepsEveryEntryReachable drives a small index through random
// inserts and deletes with homes crowded into a few slots (long clusters
// that wrap around the end), and after each step checks every entry
// against a model: each present value is found from its home, each
// removed one is not.
func TestDeleteKeepsEveryEntryReachable(t *testing.T) {
	for _, size := range []int{8, 16, 64} {
		for _, spread := range []uint64{1, 3, uint64(size)} {
			rng := rand.New(rand.NewPCG(uint64(size), spread))
			idx := make([]uint32, size)
			homes := map[uint32]uint64{} // value → home slot; present iff in the map
			home := func(v uint32) uint64 {
				h, ok := homes[v]
				if !ok {
					t.Fatalf("home of absent value %d", v)
				}
				return h
			}
			next := uint32(1)
			for step := 0; step < 4000; step++ {
				if len(homes) < size/2 && (len(homes) == 0 || rng.IntN(2) == 0) {
					h := (uint64(size) - 2 + rng.Uint64N(spread)) % uint64(size) // near the end: wraps
					s := Free(idx, h)
					if s == NoSlot {
						t.Fatalf("size %d: no free slot at load %d", size, len(homes))
					}
					idx[s] = next
					homes[next] = h
					next++
				} else {
					var v uint32
					for v = range homes {
						break
					}
					s := Find(idx, homes[v], v)
					if s == NoSlot {
						t.Fatalf("size %d step %d: %d not found before delete", size, step, v)
					}
					Delete(idx, s, home)
					delete(homes, v)
					if Find(idx, uint64(rng.IntN(size)), v) != NoSlot {
						t.Fatalf("size %d step %d: deleted %d still found", size, step, v)
					}
				}
				for v, h := range homes {
					if Find(idx, h, v) == NoSlot {
						t.Fatalf("size %d spread %d step %d: %d unreachable from home %d: %v", size, spread, step, v, h, idx)
					}
				}
				n := 0
				for _, v := range idx {
					if v != 0 {
						n++
					}
				}
				if n != len(homes) {
					t.Fatalf("size %d step %d: %d slots used, %d entries", size, step, n, len(homes))
				}
			}
		}
	}
}

// TestFullIndexIsBounded: a full index (a broken invariant) gives NoSlot
// from Free and Find instead of a loop that never ends.
func TestFullIndexIsBounded(t *testing.T) {
	idx := []uint32{1, 2, 3, 4}
	if s := Free(idx, 2); s != NoSlot {
		t.Errorf("Free on a full index = %d", s)
	}
	if s := Find(idx, 1, 9); s != NoSlot {
		t.Errorf("Find of an absent value in a full index = %d", s)
	}
	if s := Find(idx, 3, 2); s != 1 {
		t.Errorf("Find wrapping around = %d, want 1", s)
	}
	Delete(idx, 0, func(v uint32) uint64 { return uint64(v - 1) }) // each at home: nothing moves
	if idx[0] != 0 || idx[1] != 2 || idx[3] != 4 {
		t.Errorf("Delete moved entries that were at home: %v", idx)
	}
}

func TestMixIsKeyed(t *testing.T) {
	if Mix(1, 2) == Mix(2, 1) || Mix(1, 2) == Mix(1, 3) {
		t.Error("Mix collides on trivially different inputs")
	}
}
