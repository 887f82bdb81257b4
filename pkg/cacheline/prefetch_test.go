package cacheline

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// Prefetching changes no memory, anywhere in a slice.
func TestPrefetchChangesNothing(t *testing.T) {
	b := make([]byte, 1<<16)
	for i := range b {
		b[i] = byte(i * 7)
	}
	for i := 0; i < len(b); i += 13 {
		Prefetch(unsafe.Pointer(&b[i]))
	}
	for i := range b {
		if b[i] != byte(i*7) {
			t.Fatalf("byte %d changed", i)
		}
	}
}

// BenchmarkRandomReads shows what the prefetch is for: reads of a table
// far larger than the caches, one at a time, and in batches of 32 whose
// lines are prefetched first.
func BenchmarkRandomReads(b *testing.B) {
	table := make([]uint64, 64<<20/8)
	idx := make([]uint32, 1<<16)
	for i := range idx {
		idx[i] = uint32(rand.IntN(len(table)))
	}
	var sink uint64
	b.Run("plain", func(b *testing.B) {
		i := 0
		for b.Loop() {
			sink += table[idx[i&(len(idx)-1)]]
			i++
		}
	})
	b.Run("prefetched-batch-32", func(b *testing.B) {
		i := 0
		for n := 0; n < b.N; n += 32 {
			for k := range 32 {
				Prefetch(unsafe.Pointer(&table[idx[(i+k)&(len(idx)-1)]]))
			}
			for k := range 32 {
				sink += table[idx[(i+k)&(len(idx)-1)]]
			}
			i += 32
		}
	})
	_ = sink
}
