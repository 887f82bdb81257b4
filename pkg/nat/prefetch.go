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

// A Hint is what PrefetchSession needs of a packet: its index slot. The
// zero Hint prefetches nothing.
type Hint uint64

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
		h := t.hashOut(proto, src, sp, dst, dp) & t.mask
		cacheline.Prefetch(unsafe.Pointer(&t.out[h]))
		return Hint(h<<1 | 1)
	}
	h := t.hashIn(proto, dp, src) & t.mask
	cacheline.Prefetch(unsafe.Pointer(&t.in[h]))
	return Hint(h<<1|1) | 1<<63
}

// PrefetchSession prefetches the session record the slot of h names, if
// any: the session a packet's key most likely has (a key may sit a probe
// or two beyond its home slot; then this prefetch is a wasted one).
func (e *Engine) PrefetchSession(h Hint) {
	if h == 0 {
		return
	}
	t := e.t
	idx := t.out
	if h&(1<<63) != 0 {
		idx = t.in
	}
	pos := uint64(h&^(1<<63)) >> 1
	if pos >= uint64(len(idx)) {
		return // a hint from before a reconfiguration replaced the table
	}
	if v := idx[pos]; v != 0 {
		cacheline.Prefetch(unsafe.Pointer(t.s(t.slotIdx(v))))
	}
}
