package fw6

import (
	"unsafe"

	"github.com/passgate/passgate/pkg/cacheline"
	"github.com/passgate/passgate/pkg/packet"
)

// Prefetching a batch, as pkg/nat does it. A packet's processing reads
// two places at random in a large table: its index slot and the session
// record that slot names. The data plane, before it processes a batch,
// calls PrefetchSlot for every packet (each prefetches the index slot of
// a TCP or UDP packet without extension headers and returns a Hint), then
// PrefetchSession with every hint (each reads its slot, by then in cache,
// and prefetches the record). The misses of the batch then overlap, first
// all the slots', then all the records'. Nothing changes and nothing is
// validated: a malformed packet, or one without a session, prefetches
// nothing useful.
//
// Until 2026-12-04 a single Prefetch loaded the slot and then the record,
// so each packet's two misses came one after the other and a batch
// overlapped only as many of them as the CPU's reorder window held: at
// 100,000 flows 204-218 ns a packet (docs/performance.md).

// A Hint is what PrefetchSession needs of a packet: its home slot, in
// bits 1-31, and bit 0 set when the hint is one. The zero Hint prefetches
// nothing.
type Hint uint64

// PrefetchSlot prefetches the index slot of an IPv6 TCP or UDP packet
// (the IPv6 header onwards) arriving from dir, and returns its Hint.
func (e *Engine) PrefetchSlot(b []byte, dir Dir) Hint {
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
	h := t.hash(&k) & t.mask
	if h >= 1<<31 {
		return 0 // beyond what a hint holds; the configuration allows far fewer
	}
	cacheline.Prefetch(unsafe.Pointer(&t.idx[h]))
	return Hint(h<<1 | 1)
}

// PrefetchSession prefetches the session record the home slot of h
// names, if any: every cache line of it, since a packet reads the key at
// its start and updates the counters at its end, and an 88-byte record
// that starts late in a line spans three. A key that sits a probe or more
// beyond its home slot has another key's record prefetched; at the
// indexes' load (≤ 0.5, mostly far less) that is the rare case.
func (e *Engine) PrefetchSession(h Hint) {
	if h&1 == 0 {
		return
	}
	t := e.t
	pos := uint64(h) >> 1
	if pos >= uint64(len(t.idx)) {
		return // a hint from before a reconfiguration replaced the table
	}
	v := t.idx[pos]
	if v == 0 || v-1 >= t.hwm {
		return
	}
	s := unsafe.Pointer(t.s(v - 1))
	first := uintptr(s) &^ (cacheline.Size - 1)
	last := (uintptr(s) + unsafe.Sizeof(session{}) - 1) &^ (cacheline.Size - 1)
	cacheline.Prefetch(s)
	for l := first + cacheline.Size; l <= last; l += cacheline.Size {
		cacheline.Prefetch(unsafe.Add(s, l-uintptr(s)))
	}
}
