package nat

import (
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/slotindex"
)

// IPv4 fragments. Only the first fragment carries the transport header, so
// the translation chosen for it is remembered per fragment train, keyed by
// (source, destination, protocol, IP ID) as received, and applied to the
// later fragments. Later fragments that arrive before their first fragment
// are held in a small fixed pool and released when it arrives (RFC 4787
// REQ-14: out-of-order fragments, with bounded memory).
//
// The pool is shared fairly (REQ-14 again: one host must not be able to
// stop others' fragments):
//   - a train is freed as soon as its datagram is complete (the payload
//     bytes forwarded reach the length the last fragment gives), so a host
//     sending fragmented datagrams holds a train only while one is in
//     flight, whatever its rate;
//   - one source address holds at most maxFragTrainsPerSource trains (a
//     new one replaces its own oldest); held fragments fill free slots,
//     and when none is free a source holding fewer than maxHeldPerSource
//     replaces another source's oldest;
//   - when the pool is full, a new train replaces the least recently used
//     one (fragments of one datagram arrive together, so a train that has
//     seen nothing while thousands of others arrived is the one to lose);
//   - incomplete trains expire fragTimeout after their last fragment.
// Trains sit in a fixed array found through a keyed open-addressed index
// and kept on two intrusive lists (by last use, and per source), so every
// operation is O(1) and Tick's cost is the number of trains it expires.

const (
	maxFragTrains          = 4096
	maxFragTrainsPerSource = 64
	fragTimeout            = 30 // seconds since a train's last fragment
	maxHeldFrags           = 32
	maxHeldPerSource       = 4
	maxHeldFragLen         = 2048
	fragSlots              = 2 * maxFragTrains // index slots: load ≤ 0.5
)

type fragKey struct {
	src, dst uint32
	id       uint16
	proto    uint8
}

type fragEntry struct {
	newSrc, newDst uint32
	verdict        Verdict
	mtu            uint16
}

type fragTrain struct {
	key fragKey
	fragEntry
	seen         uint32
	got, total   uint32 // payload bytes forwarded; payload length once the last fragment is seen, else 0
	prev, next   uint32 // LRU list (least recently used first), or next free
	sprev, snext uint32 // the source's trains, oldest first
	src          uint32 // the source's record
}

type fragSource struct {
	addr       uint32
	n          uint32 // trains; 0 = record free
	head, tail uint32
}

type heldFrag struct {
	key  fragKey
	used bool
	seen uint32
	n    int
	buf  [maxHeldFragLen]byte
}

type fragTable struct {
	trains     []fragTrain
	idx        []uint32 // train index + 1
	srcs       []fragSource
	srcIdx     []uint32 // source record index + 1
	free       uint32   // free trains, linked through next
	srcFree    []uint32
	head, tail uint32 // LRU list
	n          int
	seed       uint64

	held   []heldFrag
	nHeld  int
	buf    []byte   // output buffer for fragmentation, allocated on first use
	pieces [][]byte // fragments produced by the last fragmentation
	out    [][]byte // pieces after the first, then released held fragments
}

func (f *fragTable) init() {
	f.trains = make([]fragTrain, maxFragTrains)
	for i := range f.trains {
		f.trains[i].next = uint32(i + 1)
	}
	f.trains[maxFragTrains-1].next = none
	f.idx = make([]uint32, fragSlots)
	f.srcs = make([]fragSource, maxFragTrains)
	f.srcIdx = make([]uint32, fragSlots)
	f.srcFree = make([]uint32, maxFragTrains)
	for i := range f.srcFree {
		f.srcFree[i] = uint32(maxFragTrains - 1 - i)
	}
	f.head, f.tail = none, none
	f.held = make([]heldFrag, maxHeldFrags)
	f.pieces = make([][]byte, 0, 160)
	f.out = make([][]byte, 0, 160+maxHeldFrags)
}

func (f *fragTable) hashKey(k fragKey) uint64 {
	return slotindex.Mix(uint64(k.src)<<32|uint64(k.dst)^f.seed, uint64(k.id)<<8|uint64(k.proto)|1<<43) & (fragSlots - 1)
}

func (f *fragTable) hashSrc(a uint32) uint64 {
	return slotindex.Mix(uint64(a)^f.seed, 1<<44) & (fragSlots - 1)
}

func (f *fragTable) homeTrain(v uint32) uint64 { return f.hashKey(f.trains[v-1].key) }
func (f *fragTable) homeSrc(v uint32) uint64   { return f.hashSrc(f.srcs[v-1].addr) }

// lookup returns the train of k, or none.
func (f *fragTable) lookup(k fragKey) uint32 {
	h := f.hashKey(k)
	for n := fragSlots; n > 0; n-- {
		v := f.idx[h]
		if v == 0 {
			return none
		}
		if f.trains[v-1].key == k {
			return v - 1
		}
		h = (h + 1) & (fragSlots - 1)
	}
	return none
}

// source returns the record of source address a, creating it, or none if
// no record is free (cannot happen: a record per train at most).
func (f *fragTable) source(a uint32) uint32 {
	h := f.hashSrc(a)
	for n := fragSlots; n > 0; n-- {
		v := f.srcIdx[h]
		if v == 0 {
			nf := len(f.srcFree)
			if nf == 0 {
				return none
			}
			si := f.srcFree[nf-1]
			f.srcFree = f.srcFree[:nf-1]
			f.srcs[si] = fragSource{addr: a, head: none, tail: none}
			f.srcIdx[h] = si + 1
			return si
		}
		if f.srcs[v-1].addr == a {
			return v - 1
		}
		h = (h + 1) & (fragSlots - 1)
	}
	return none
}

func (f *fragTable) unlinkLRU(i uint32) {
	t := &f.trains[i]
	if t.prev != none {
		f.trains[t.prev].next = t.next
	} else {
		f.head = t.next
	}
	if t.next != none {
		f.trains[t.next].prev = t.prev
	} else {
		f.tail = t.prev
	}
}

func (f *fragTable) appendLRU(i uint32) {
	t := &f.trains[i]
	t.prev, t.next = f.tail, none
	if f.tail != none {
		f.trains[f.tail].next = i
	} else {
		f.head = i
	}
	f.tail = i
}

// touch marks train i as just used.
func (f *fragTable) touch(i uint32, now uint32) {
	f.trains[i].seen = now
	if f.tail != i {
		f.unlinkLRU(i)
		f.appendLRU(i)
	}
}

// remove frees train i.
func (f *fragTable) remove(i uint32) {
	t := &f.trains[i]
	if h := slotindex.Find(f.idx, f.hashKey(t.key), i+1); h != noSlot {
		slotindex.Delete(f.idx, h, f.homeTrain)
	}
	f.unlinkLRU(i)
	s := &f.srcs[t.src]
	if t.sprev != none {
		f.trains[t.sprev].snext = t.snext
	} else {
		s.head = t.snext
	}
	if t.snext != none {
		f.trains[t.snext].sprev = t.sprev
	} else {
		s.tail = t.sprev
	}
	if s.n--; s.n == 0 {
		if h := slotindex.Find(f.srcIdx, f.hashSrc(s.addr), t.src+1); h != noSlot {
			slotindex.Delete(f.srcIdx, h, f.homeSrc)
		}
		f.srcFree = append(f.srcFree, t.src)
	}
	*t = fragTrain{next: f.free}
	f.free = i
	f.n--
}

// add creates the train of k (which has none) and returns it, or none.
func (f *fragTable) add(k fragKey, now uint32) uint32 {
	if f.n >= maxFragTrains {
		f.remove(f.head) // least recently used
	}
	si := f.source(k.src)
	if si == none {
		return none
	}
	if f.srcs[si].n >= maxFragTrainsPerSource {
		f.remove(f.srcs[si].head) // the source's oldest; its record stays (n ≥ 1)
	}
	// A free train and index slot exist now (n < maxFragTrains, load
	// ≤ 0.5); the checks only keep a broken invariant from corrupting.
	i := f.free
	h := slotindex.Free(f.idx, f.hashKey(k))
	if i == none || h == noSlot {
		if f.srcs[si].n == 0 {
			if hs := slotindex.Find(f.srcIdx, f.hashSrc(k.src), si+1); hs != noSlot {
				slotindex.Delete(f.srcIdx, hs, f.homeSrc)
			}
			f.srcFree = append(f.srcFree, si)
		}
		return none
	}
	f.free = f.trains[i].next
	f.idx[h] = i + 1
	s := &f.srcs[si]
	f.trains[i] = fragTrain{key: k, seen: now, src: si, sprev: s.tail, snext: none}
	if s.tail != none {
		f.trains[s.tail].snext = i
	} else {
		s.head = i
	}
	s.tail = i
	s.n++
	f.appendLRU(i)
	f.n++
	return i
}

// account adds a forwarded fragment's payload to train i and frees the
// train when its datagram is complete; it reports whether it did.
func (f *fragTable) account(i uint32, p packet.IPv4) bool {
	t := &f.trains[i]
	payload := uint32(len(p) - p.HeaderLen())
	t.got += payload
	if !p.MF() {
		t.total = uint32(p.FragOffset()) + payload
	}
	if t.total != 0 && t.got >= t.total {
		f.remove(i)
		return true
	}
	return false
}

func (f *fragTable) expire(now uint32) {
	for f.head != none && now-f.trains[f.head].seen > fragTimeout {
		f.remove(f.head)
	}
	if f.nHeld > 0 {
		for i := range f.held {
			if h := &f.held[i]; h.used && now-h.seen > fragTimeout {
				h.used = false
				f.nHeld--
			}
		}
	}
}

// record remembers the translation of a first fragment (first, already
// translated) and releases the held later fragments of the same train
// into e.more.
func (f *fragTable) record(e *Engine, k fragKey, first packet.IPv4, v Verdict, mtu int) {
	if f.seed == 0 {
		f.seed = e.t.seed ^ 0x6a09e667f3bcc909 | 1
	}
	i := f.lookup(k)
	if i == none {
		if i = f.add(k, e.now); i == none {
			return // later fragments of this train will be dropped
		}
	} else {
		f.touch(i, e.now)
	}
	t := &f.trains[i]
	t.fragEntry = fragEntry{newSrc: first.Src(), newDst: first.Dst(), verdict: v, mtu: uint16(mtu)}
	ent := t.fragEntry
	if f.account(i, first) {
		i = none // complete already (a repeated first fragment)
	}
	if f.nHeld == 0 {
		return
	}
	for j := range f.held {
		h := &f.held[j]
		if !h.used || h.key != k {
			continue
		}
		h.used = false
		f.nHeld--
		p := packet.IPv4(h.buf[:h.n])
		if p.TTL() <= 1 {
			continue
		}
		rewriteFragment(p, ent)
		e.more = append(e.more, p)
		if i != none && f.account(i, p) {
			i = none // complete; the rest (duplicates) still go out
		}
	}
}

func rewriteFragment(p packet.IPv4, ent fragEntry) {
	if p.Src() != ent.newSrc {
		p.SetSrc(ent.newSrc)
	}
	if p.Dst() != ent.newDst {
		p.SetDst(ent.newDst)
	}
	p.DecTTL()
}

// laterFragment handles a fragment with a non-zero offset.
func (e *Engine) laterFragment(p packet.IPv4, mtu int) verdict {
	f := &e.frags
	k := fragKey{src: p.Src(), dst: p.Dst(), id: p.ID(), proto: p.Protocol()}
	if i := f.lookup(k); i != none && e.now-f.trains[i].seen <= fragTimeout {
		if p.TTL() <= 1 {
			return drop(ReasonTTL)
		}
		ent := f.trains[i].fragEntry
		f.touch(i, e.now)
		f.account(i, p)
		rewriteFragment(p, ent)
		e.pkt = p
		if len(p) > int(ent.mtu) {
			return e.fragmentResult(verdict(ent.verdict), int(ent.mtu))
		}
		return verdict(ent.verdict)
	}
	if len(p) > maxHeldFragLen {
		return drop(ReasonFragment)
	}
	// A free slot; when there is none, a source still under its share
	// takes the oldest held fragment of another source, and a source at
	// its share is refused (so one source cannot keep the pool).
	free, oldest, own := -1, -1, 0
	for j := range f.held {
		h := &f.held[j]
		switch {
		case !h.used:
			if free < 0 {
				free = j
			}
		case h.key.src == k.src:
			own++
		case oldest < 0 || h.seen < f.held[oldest].seen:
			oldest = j
		}
	}
	slot := free
	if slot < 0 && own < maxHeldPerSource {
		slot = oldest
	}
	if slot < 0 {
		return drop(ReasonFragment)
	}
	h := &f.held[slot]
	if !h.used {
		f.nHeld++
	}
	h.used, h.key, h.seen, h.n = true, k, e.now, copy(h.buf[:], p)
	e.cnt.FragmentsHeld++
	return verdict(Held)
}

// fragmentResult splits e.pkt (already translated) into fragments that
// fit mtu (RFC 791; RFC 4787 REQ-13 for packets without DF) and returns them
// with any released held fragments after them.
func (e *Engine) fragmentResult(r verdict, mtu int) verdict {
	f := &e.frags
	if f.buf == nil {
		f.buf = make([]byte, 96<<10)
	}
	p := packet.IPv4(e.pkt)
	hl := p.HeaderLen()
	payload := p[hl:]
	// Later fragments carry only the options marked "copied" (RFC 791).
	var later [60]byte
	copy(later[:20], p[:20])
	ln := 20
	for i := 20; i < hl; {
		o := p[i]
		if o == 0 {
			break
		}
		if o == 1 {
			i++
			continue
		}
		if i+1 >= hl || p[i+1] < 2 || i+int(p[i+1]) > hl {
			break
		}
		l := int(p[i+1])
		if o&0x80 != 0 {
			ln += copy(later[ln:], p[i:i+l])
		}
		i += l
	}
	for ln%4 != 0 {
		later[ln] = 0
		ln++
	}
	packet.IPv4(later[:]).SetHeaderLen(ln)
	baseOff := p.FragOffset()
	mf := p.MF()
	f.pieces = f.pieces[:0]
	pos := 0
	for off := 0; off < len(payload); {
		hdr := later[:ln]
		if off == 0 {
			hdr = p[:hl]
		}
		n := min((mtu-len(hdr))&^7, len(payload)-off)
		if pos+len(hdr)+n > len(f.buf) {
			return drop(ReasonFragment)
		}
		b := f.buf[pos : pos+len(hdr)+n]
		pos += len(b)
		copy(b, hdr)
		copy(b[len(hdr):], payload[off:off+n])
		off += n
		q := packet.IPv4(b)
		q.SetTotalLen(len(b))
		q.SetFragment(baseOff+off-n, off < len(payload) || mf)
		q.UpdateHeaderChecksum()
		f.pieces = append(f.pieces, b)
	}
	// Released held fragments (already in e.more) go after the pieces.
	e.pkt = f.pieces[0]
	f.out = append(append(f.out[:0], f.pieces[1:]...), e.more...)
	e.more = f.out
	return r
}
