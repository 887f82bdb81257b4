package fw6

import "github.com/passgate/passgate/pkg/slotindex"

// Fragments. The engine does not reassemble: a first fragment carries the
// upper-layer header (RFC 7112 makes that a rule; parse drops first
// fragments without it) and is filtered like any packet; when it is
// forwarded (or handed to the router), its datagram's (source,
// destination, identification) is remembered, and later fragments of that
// datagram follow it. A later fragment without that state — its first
// fragment was refused, not seen yet, or forgotten — is dropped
// (ReasonFragment): out-of-order delivery of the first fragment is rare,
// and the sender's retransmission recovers.
//
// The table is direct-mapped with fragSlots entries: a new datagram takes
// its slot from an older one (whose later fragments are then dropped), so
// memory and every operation are O(1). An entry lives fragLife seconds
// after its datagram's last fragment (RFC 8200 §4.5's reassembly time).

const (
	fragSlots = 1024
	fragLife  = 60
)

type fragEntry struct {
	src, dst addr
	id       uint32
	exp      uint32
	v        verdict
}

type fragTable struct {
	e    [fragSlots]fragEntry
	seed uint64
}

func (f *fragTable) slot(src, dst addr, id uint32) *fragEntry {
	h := slotindex.Mix(src.hi^f.seed, src.lo^uint64(id))
	h = slotindex.Mix(h^dst.hi, dst.lo)
	return &f.e[h%fragSlots]
}

// record remembers a datagram whose first fragment got verdict v.
func (f *fragTable) record(src, dst addr, id uint32, v verdict, now uint32) {
	*f.slot(src, dst, id) = fragEntry{src: src, dst: dst, id: id, exp: now + fragLife, v: v}
}

// find returns the verdict of a later fragment's first fragment.
func (f *fragTable) find(src, dst addr, id uint32, now uint32) (verdict, bool) {
	s := f.slot(src, dst, id)
	if s.v == 0 || s.src != src || s.dst != dst || s.id != id || int32(s.exp-now) < 0 {
		return 0, false
	}
	s.exp = now + fragLife
	return s.v, true
}
