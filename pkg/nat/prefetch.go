package nat

import (
	"unsafe"

	"github.com/passgate/passgate/pkg/cacheline"
	"github.com/passgate/passgate/pkg/packet"
)

// Prefetching a batch. A packet's translation reads two places at random
// in a large table: its index slot, and the session record that slot
// names. The data plane, before it translates a batch, calls SlotHint for
// every packet (each hashes the packet's key into a Hint, touching no
// table memory), then PrefetchSlots with all the hints (a tight loop of
// prefetches of the index slots), then PrefetchSessions (each hint's
// slot, by then in cache, is read, its session record prefetched, and
// the hint made to name that session), then TranslateHinted with each
// packet and its hint. The misses of the batch then overlap, first all
// the slots', then all the records', and the translation neither hashes
// the key nor reads the index again. Nothing changes: a malformed packet
// or a packet without a session just prefetches nothing useful, and a
// hint naming a session that is not the packet's is found out
// (hintedOut, hintedIn).
//
// Why the slots' prefetches are a loop of their own (2026-12-05,
// docs/performance.md): on the host measured, a prefetch that misses
// holds up the instructions after it about as a load does, so the
// misses in flight are those whose prefetches fit in the CPU's window of
// instructions. With the hashing of each packet between two prefetches
// (PrefetchSlot) that was a handful, and a batch of 64 at 100,000 flows
// spent 20 ns a packet in that stage against 8-9 at one flow; hashed
// first and prefetched in a loop of a dozen instructions each, 12-13.
//
// A hint holds the key's tag as well as its home slot, so PrefetchSession
// prefetches the record of the slot whose tag matches, probing as far as
// the home slot's cache line goes, and not merely the home slot's record:
// a key that sits a probe or more beyond its home slot (at load 0.4 one
// in three) would otherwise miss on its record when translated, the
// prefetch spent on another key's (2026-12-04: at 100,000 flows in a
// table of 131,072 sessions, 81-84 ns a packet with the home slot's
// record, docs/performance.md).

// A Hint is what PrefetchSession needs of a packet, and what it learnt
// for Translate. Bit 0 is set when the hint is one (the zero Hint
// prefetches nothing and names nothing); bit 1 is set for the inbound
// index. PrefetchSlot's hints have bit 2 clear, the tag of the key from
// bit 32 up, in place as in a slot value (table.tag), and its home slot
// in bits 3-31. PrefetchSession's have bit 2 set and, from bit 32 up, the
// session whose record it prefetched: a guess that TranslateHinted
// checks against the packet's key before it uses it (hintedOut,
// hintedIn), never a fact.
type Hint uint64

const (
	hintValid     Hint = 1
	hintInbound   Hint = 2
	hintSession   Hint = 4
	hintSlotShift      = 3
)

// hintSlotBits bounds the home slot a hint holds. The configuration
// allows at most 2^24 sessions, whose indexes have 2^25 slots.
const hintSlotBits = 32 - hintSlotShift

func newHint(tag uint32, slot uint64, inbound bool) Hint {
	if slot >= 1<<hintSlotBits {
		return 0
	}
	h := Hint(tag)<<32 | Hint(slot)<<hintSlotShift | hintValid
	if inbound {
		h |= hintInbound
	}
	return h
}

// PrefetchSlot prefetches the index slot of an IPv4 TCP or UDP packet
// (the IP header onwards) travelling in dir, and returns its Hint:
// SlotHint and PrefetchSlots for one packet. For a batch, SlotHint for
// every packet, then PrefetchSlots, overlaps more misses (see above).
func (e *Engine) PrefetchSlot(b []byte, dir Dir) Hint {
	h := e.SlotHint(b, dir)
	e.prefetchSlot(h)
	return h
}

// PrefetchSlots prefetches the index slot of each hint (from SlotHint;
// zero hints are skipped).
func (e *Engine) PrefetchSlots(hints []Hint) {
	for _, h := range hints {
		e.prefetchSlot(h)
	}
}

// prefetchSlot prefetches h's home slot, if h is SlotHint's and its slot
// is one of this table's.
func (e *Engine) prefetchSlot(h Hint) {
	if h&(hintValid|hintSession) != hintValid {
		return
	}
	t := e.t
	idx := t.out
	if h&hintInbound != 0 {
		idx = t.in
	}
	if pos := uint64(uint32(h)) >> hintSlotShift; pos < uint64(len(idx)) {
		cacheline.Prefetch(unsafe.Pointer(&idx[pos]))
	}
}

// PrefetchSessions is PrefetchSession for each hint, each replaced by
// what PrefetchSession returns.
func (e *Engine) PrefetchSessions(hints []Hint) {
	t := e.t
	for k, h := range hints {
		if h == 0 {
			continue
		}
		i := t.hinted(h)
		if i == none {
			hints[k] = 0
			continue
		}
		cacheline.Prefetch(unsafe.Pointer(t.s(i)))
		hints[k] = Hint(i)<<32 | h&(hintValid|hintInbound) | hintSession
	}
}

// SlotHint returns the Hint of an IPv4 TCP or UDP packet (the IP header
// onwards) travelling in dir: its key's home slot and tag. It reads
// nothing of the table but its size and seed; the zero Hint when the
// packet has no key the fast path looks up.
func (e *Engine) SlotHint(b []byte, dir Dir) Hint {
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
		return newHint(t.tag(hash), hash&t.mask, false)
	}
	hash := t.hashIn(proto, dp, src)
	return newHint(t.tag(hash), hash&t.mask, true)
}

// PrefetchSession prefetches the session record that h's key most likely
// has: that of the first slot from its home slot on, within the home
// slot's cache line (the line PrefetchSlot fetched), whose tag is the
// key's. It reads no further, so it never waits on a line not
// prefetched; a key beyond the line, or a slot of another key with the
// same tag, costs this prefetch, not the translation's correctness.
//
// It returns a hint naming that session, for TranslateHinted (which then
// neither hashes the key nor probes the index again), or the zero Hint
// when it found none; a hint it returned before is returned unchanged.
func (e *Engine) PrefetchSession(h Hint) Hint {
	i := e.t.hinted(h)
	if i == none {
		return 0
	}
	cacheline.Prefetch(unsafe.Pointer(e.t.s(i)))
	return Hint(i)<<32 | h&(hintValid|hintInbound) | hintSession
}

// hinted is the session PrefetchSession prefetches for h, or none: h's
// session when h names one (below the records ever used), else the
// session of the first slot in h's home line with h's tag.
func (t *table) hinted(h Hint) uint32 {
	if h&hintValid == 0 {
		return none
	}
	if h&hintSession != 0 {
		if i := uint32(h >> 32); i < t.hwm {
			return i
		}
		return none // from before a reconfiguration replaced the table
	}
	idx := t.out
	if h&hintInbound != 0 {
		idx = t.in
	}
	pos := uint64(uint32(h)) >> hintSlotShift
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

// hintedOut is the session h names if it is the outbound session of
// (proto, ip:port → rip:rport), else none (and the caller looks the key
// up). A live session is in the index under its own key and no other
// live session has that key (a removed one's record is cleared: proto
// 0), so a record whose key matches is the session lookupOut would
// find, whatever h's history: stale, from another packet, made up.
func (t *table) hintedOut(h Hint, proto uint8, ip uint32, port uint16, rip uint32, rport uint16) uint32 {
	if h&(hintValid|hintInbound|hintSession) != hintValid|hintSession {
		return none
	}
	i := uint32(h >> 32)
	if i >= t.hwm {
		return none
	}
	if s := t.s(i); s.intIP == ip && s.remIP == rip && s.intPort == port && s.remPort == rport && s.proto == proto {
		return i
	}
	return none
}

// hintedIn is the session h names, or one after it in its inbound chain,
// if that is the inbound session of (proto, ext, rip, rport), else none
// (and the caller looks the key up). Every live session with h's
// session's (proto, ext, rip) is in the one chain of that key, so a
// session found on the walk is the one lookupIn would find; a walk that
// ends without it proves nothing (h may name a session behind the
// chain's head), hence none.
func (t *table) hintedIn(h Hint, proto uint8, ext uint16, rip uint32, rport uint16) uint32 {
	if h&(hintValid|hintInbound|hintSession) != hintValid|hintInbound|hintSession {
		return none
	}
	i := uint32(h >> 32)
	if i >= t.hwm {
		return none
	}
	if s := t.s(i); s.remIP != rip || s.extPort != ext || s.proto != proto {
		return none
	}
	for n := t.max; i != none && n > 0; n-- {
		s := t.s(i)
		if s.remPort == rport {
			return i
		}
		i = s.inNext
	}
	return none
}
