package fw6

import (
	"unsafe"

	"github.com/passgate/passgate/pkg/cacheline"
	"github.com/passgate/passgate/pkg/packet"
)

// Prefetching a batch, as pkg/nat does it (pkg/nat/prefetch.go). A
// packet's processing reads two places at random in a large table: its
// index slot and the session record that slot names. The data plane,
// before it processes a batch, calls SlotHint for every packet (each
// hashes the packet's key into a Hint, touching no table memory), then
// PrefetchSlots with all the hints (a tight loop of prefetches of the
// index slots), then PrefetchSessions (each hint's slot, by then in
// cache, is read, every cache line of the session record it names
// prefetched, and the hint made to name that session), then
// ProcessHinted with each packet and its hint. The misses of the batch
// then overlap, first all the slots', then all the records', and the
// fast path neither hashes the key nor reads the index again. Nothing
// changes: a malformed packet, or one without a session, just prefetches
// nothing useful, and a hint naming a session that is not the packet's
// is found out (hintedSession).
//
// Why the slots' prefetches are a loop of their own: on the host
// measured a prefetch that misses holds up the instructions after it
// about as a load does, so the misses in flight are those whose
// prefetches fit in the CPU's window of instructions; with a packet's
// hashing between two prefetches (PrefetchSlot) that was a handful
// (pkg/nat, 2026-12-05, docs/performance.md).
//
// Unlike pkg/nat's, this table's index slots hold no tag, so
// PrefetchSessions names the session of the key's home slot only: a key
// that sits a probe or more beyond it gets another key's record
// prefetched and named, which the key check turns down (at the indexes'
// load, ≤ 0.5 and mostly far less, the rare case).
//
// Until 2026-12-04 a single Prefetch loaded the slot and then the record,
// so each packet's two misses came one after the other and a batch
// overlapped only as many of them as the CPU's reorder window held: at
// 100,000 flows 204-218 ns a packet (docs/performance.md).

// A Hint is what PrefetchSession needs of a packet, and what it learnt
// for ProcessHinted. Bit 0 is set when the hint is one (the zero Hint
// prefetches nothing and names nothing). SlotHint's hints have bit 1
// clear and the key's home slot from bit 32 up; PrefetchSession's have
// bit 1 set and, from bit 32 up, the session whose record it prefetched:
// a guess that ProcessHinted checks against the packet's key before it
// uses it (hintedSession), never a fact. Both directions of a flow look
// up the same key in the one index, so a hint holds no direction.
type Hint uint64

const (
	hintValid   Hint = 1
	hintSession Hint = 2
)

// PrefetchSlot prefetches the index slot of an IPv6 TCP or UDP packet
// (the IPv6 header onwards) arriving from dir, and returns its Hint:
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
	idx := e.t.idx
	if pos := uint64(h >> 32); pos < uint64(len(idx)) {
		cacheline.Prefetch(unsafe.Pointer(&idx[pos]))
	}
}

// SlotHint returns the Hint of an IPv6 TCP or UDP packet without
// extension headers (the IPv6 header onwards) arriving from dir: its
// key's home slot. It reads nothing of the table but its size and seed;
// the zero Hint when the packet has no key the fast path looks up.
func (e *Engine) SlotHint(b []byte, dir Dir) Hint {
	if len(b) < packet.IPv6HeaderLen+4 || b[0]>>4 != 6 {
		return 0
	}
	proto := b[6]
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return 0
	}
	ports := packet.Ports(b[packet.IPv6HeaderLen:])
	k := key{proto: proto, lan: load(b[8:24]), lport: ports.Src(), rem: load(b[24:40]), rport: ports.Dst()}
	if dir == FromWAN {
		k.lan, k.rem, k.lport, k.rport = k.rem, k.lan, k.rport, k.lport
	}
	t := e.t
	// The mask is below 2^27 (at most 2^26 sessions, Config.validate).
	return Hint(t.hash(&k)&t.mask)<<32 | hintValid
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
		prefetchRecord(t.s(i))
		hints[k] = Hint(i)<<32 | hintValid | hintSession
	}
}

// PrefetchSession prefetches the session record the home slot of h
// names, if any, and returns a hint naming that session, for
// ProcessHinted (which then neither hashes the key nor probes the index
// again), or the zero Hint when the slot is empty; a hint it returned
// before is returned unchanged. It reads no slot but the home slot (the
// line PrefetchSlot fetched), so it never waits on a line not
// prefetched; a key beyond its home slot costs this prefetch and the
// key check, not the result's correctness.
func (e *Engine) PrefetchSession(h Hint) Hint {
	i := e.t.hinted(h)
	if i == none {
		return 0
	}
	prefetchRecord(e.t.s(i))
	return Hint(i)<<32 | hintValid | hintSession
}

// prefetchRecord prefetches every cache line of s, since a packet reads
// the key at its start and updates the counters at its end, and an
// 88-byte record that starts late in a line spans three.
func prefetchRecord(s *session) {
	p := unsafe.Pointer(s)
	first := uintptr(p) &^ (cacheline.Size - 1)
	last := (uintptr(p) + unsafe.Sizeof(session{}) - 1) &^ (cacheline.Size - 1)
	cacheline.Prefetch(p)
	for l := first + cacheline.Size; l <= last; l += cacheline.Size {
		cacheline.Prefetch(unsafe.Add(p, l-uintptr(p)))
	}
}

// hinted is the session PrefetchSession prefetches for h, or none: h's
// session when h names one (below the records ever used), else the
// session of h's home slot.
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
	pos := uint64(h >> 32)
	if pos >= uint64(len(t.idx)) {
		return none // a hint from before a reconfiguration replaced the table
	}
	v := t.idx[pos]
	if v == 0 || v-1 >= t.hwm {
		return none
	}
	return v - 1
}

// hintedSession is the session h names if its key is k, else none (and
// the caller looks k up). It is the session lookup(k) would find,
// whatever h's history (stale, another packet's, made up), because:
//
//   - every live session is in the index under its own key (link; the
//     index has at least 2 × max slots, so an insertion never fails), and
//     a session's key is written once, by create, and never changed;
//   - no two live sessions share a key: every create(k) follows a
//     find(k) or lookup(k) that found none in the same packet's
//     processing, with no other create of k between (outbound, outICMP,
//     the WAN's admission through e.adm, pptpGRE), and find removes an
//     expired session rather than leave it beside a new one;
//     TestAttack_TwoSessionsOneKey and checkKeysUnique check it;
//   - a removed session's record is cleared (unlink: proto 0), and the
//     fast path's keys are TCP or UDP, so a free record never matches;
//     records at or above hwm were never used.
//
// An expired session is treated by the caller as lookup's would be.
func (t *table) hintedSession(h Hint, k *key) uint32 {
	if h&(hintValid|hintSession) != hintValid|hintSession {
		return none
	}
	i := uint32(h >> 32)
	if i >= t.hwm {
		return none
	}
	if s := t.s(i); s.lan == k.lan && s.rem == k.rem && s.lport == k.lport && s.rport == k.rport && s.proto == k.proto {
		return i
	}
	return none
}
