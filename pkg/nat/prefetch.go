package nat

import (
	"unsafe"

	"github.com/passgate/passgate/pkg/cacheline"
	"github.com/passgate/passgate/pkg/packet"
)

// Prefetching a batch. A packet's translation reads two places at random
// in a large table: its index slot, and the session record that slot
// names. The data plane, before it translates a batch, calls PrefetchSlot
// for every packet (each prefetches an index slot and returns a Hint),
// then PrefetchSession with every hint (each reads its slot, by then in
// cache, and prefetches the session record). The misses of the batch then
// overlap, first all the slots', then all the records'. Nothing changes:
// a malformed packet or a packet without a session just prefetches
// nothing useful.
//
// A hint holds the key's tag as well as its home slot, so PrefetchSession
// prefetches the record of the slot whose tag matches, probing as far as
// the home slot's cache line goes, and not merely the home slot's record:
// a key that sits a probe or more beyond its home slot (at load 0.4 one
// in three) would otherwise miss on its record when translated, the
// prefetch spent on another key's (2026-12-04: at 100,000 flows in a
// table of 131,072 sessions, 81-84 ns a packet with the home slot's
// record, docs/performance.md).

// A Hint is what PrefetchSession needs of a packet: from bit 32 up the
// tag of its key, in place as in a slot value (table.tag); in bits 2-31
// its home slot; bit 1 set for the inbound index; bit 0 set when the
// hint is one. The zero Hint prefetches nothing.
type Hint uint64

// hintSlotBits bounds the home slot a hint holds. The configuration
// allows at most 2^24 sessions, whose indexes have 2^25 slots.
const hintSlotBits = 30

func newHint(tag uint32, slot uint64, inbound bool) Hint {
	if slot >= 1<<hintSlotBits {
		return 0
	}
	h := Hint(tag)<<32 | Hint(slot)<<2 | 1
	if inbound {
		h |= 2
	}
	return h
}

// PrefetchSlot prefetches the index slot of an IPv4 TCP or UDP packet
// (the IP header onwards) travelling in dir, and returns its Hint.
func (e *Engine) PrefetchSlot(b []byte, dir Dir) Hint {
	p := packet.IPv4(b)
	if len(p) < packet.IPv4HeaderLen || p.Version() != 4 {
		return 0
	}
	hl := p.HeaderLen()
	proto := p.Protocol()
	if (proto != packet.ProtoTCP && proto != packet.ProtoUDP) || len(p) < hl+4 || p.FragOffset() != 0 {
		return 0
	}
	src, dst := p.Src(), p.Dst()
	ports := packet.Ports(p[hl:])
	sp, dp := ports.Src(), ports.Dst()
	t := e.t
	if dir == Outbound {
		hash := t.hashOut(proto, src, sp, dst, dp)
		h := hash & t.mask
		cacheline.Prefetch(unsafe.Pointer(&t.out[h]))
		return newHint(t.tag(hash), h, false)
	}
	hash := t.hashIn(proto, dp, src)
	h := hash & t.mask
	cacheline.Prefetch(unsafe.Pointer(&t.in[h]))
	return newHint(t.tag(hash), h, true)
}

// PrefetchSession prefetches the session record that h's key most likely
// has: that of the first slot from its home slot on, within the home
// slot's cache line (the line PrefetchSlot fetched), whose tag is the
// key's. It reads no further, so it never waits on a line not
// prefetched; a key beyond the line, or a slot of another key with the
// same tag, costs this prefetch, not the translation's correctness.
func (e *Engine) PrefetchSession(h Hint) {
	if i := e.t.hinted(h); i != none {
		cacheline.Prefetch(unsafe.Pointer(e.t.s(i)))
	}
}

// hinted is the session PrefetchSession prefetches for h, or none.
func (t *table) hinted(h Hint) uint32 {
	if h&1 == 0 {
		return none
	}
	idx := t.out
	if h&2 != 0 {
		idx = t.in
	}
	pos := uint64(uint32(h)) >> 2
	if pos >= uint64(len(idx)) {
		return none // a hint from before a reconfiguration replaced the table
	}
	tag := uint32(h >> 32)
	for {
		v := idx[pos]
		if v == 0 {
			return none
		}
		if v&^t.idxMask == tag {
			return t.slotIdx(v)
		}
		if pos++; pos%slotsPerLine == 0 || pos == uint64(len(idx)) {
			return none
		}
	}
}

// slotsPerLine is how many index slots share a cache line; the indexes
// start on a line (huge pages, or the Go heap's page-aligned spans for
// large slices).
const slotsPerLine = cacheline.Size / 4
