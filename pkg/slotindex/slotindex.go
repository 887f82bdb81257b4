// Package slotindex holds the parts of an open-addressed, linear-probing
// index of uint32 slots that the flow tables of pkg/nat and pkg/fw6 share.
// A slot holds an entry's index + 1, 0 when empty; there are no
// tombstones: Delete shifts the rest of a cluster back instead.
//
// The lookups themselves stay in the tables, where the key comparison is
// written out and inlined: that is the per-packet path, and a comparison
// passed in as a function would cost a call per probe. What is here runs
// when an entry is added or removed. Every loop is bounded by the index's
// length, so a broken invariant (a full index) shows as NoSlot, never as
// a loop that does not end.
package slotindex

import "math/bits"

// NoSlot is the slot number Free and Find return when there is none.
const NoSlot = ^uint64(0)

// Len is the number of slots for an index holding at most n entries: the
// power of two at least 2n, so the load stays at most 0.5 (n ≥ 1).
func Len(n uint64) uint64 { return uint64(1) << bits.Len64(n*2-1) }

// Mix is a 64×64→128 multiply-fold hash (the "mum" construction): fast and
// well distributed. The tables key it with a random seed so that remote
// hosts cannot aim at a probe sequence.
func Mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

// Free returns the first empty slot of idx probing from h, or NoSlot after
// one full round. len(idx) is a power of two and h < len(idx).
func Free(idx []uint32, h uint64) uint64 {
	mask := uint64(len(idx) - 1)
	for n := len(idx); n > 0; n-- {
		if idx[h] == 0 {
			return h
		}
		h = (h + 1) & mask
	}
	return NoSlot
}

// Find returns the slot of idx holding v probing from h, or NoSlot.
func Find(idx []uint32, h uint64, v uint32) uint64 {
	mask := uint64(len(idx) - 1)
	for n := len(idx); n > 0; n-- {
		switch idx[h] {
		case v:
			return h
		case 0:
			return NoSlot
		}
		h = (h + 1) & mask
	}
	return NoSlot
}

// Delete empties slot i of idx and shifts later entries of its cluster
// back, so that every entry stays reachable from its home slot, home(v),
// without tombstones.
func Delete(idx []uint32, i uint64, home func(v uint32) uint64) {
	mask := uint64(len(idx) - 1)
	j := i
	for {
		idx[i] = 0
		for n := len(idx); ; n-- {
			if n == 0 {
				return // every other slot full: cannot happen at load ≤ 0.5
			}
			j = (j + 1) & mask
			if idx[j] == 0 {
				return
			}
			k := home(idx[j])
			// Leave idx[j] where it is if its home lies cyclically in (i, j].
			if i <= j {
				if i < k && k <= j {
					continue
				}
			} else if i < k || k <= j {
				continue
			}
			break
		}
		idx[i] = idx[j]
		i = j
	}
}
