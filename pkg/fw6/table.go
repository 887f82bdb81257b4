package fw6

import (
	"github.com/passgate/passgate/pkg/hugemem"
	"github.com/passgate/passgate/pkg/slotindex"
)

// The flow table. Sessions live in one array of records and are found through two
// open-addressed indexes of uint32 slots (value: session index + 1):
//
//   - idx: the 5-tuple (proto, LAN address and port, remote address and
//     port) → session. Without translation both directions look up the
//     same key: LAN→WAN with (src, dst), WAN→LAN with (dst, src).
//     Protocols without ports (ESP, GRE, others) use port 0, so they are
//     tracked by address pair and protocol (RFC 6092 REC-25); ICMPv6 echo
//     uses its identifier as the LAN port.
//   - fidx: the filtering key → the first session of a chain, for
//     inbound packets that match no session: (proto, LAN address and port,
//     remote address) under address-dependent filtering, (proto, LAN
//     address and port) under endpoint-independent filtering. Only
//     sessions of protocols with ports are in it. The chain is doubly
//     linked through the sessions, so removing one is O(1) however many
//     remotes share a LAN endpoint.
//
// The lookups are written out here; sizing, hashing, insertion and
// deletion without tombstones are pkg/slotindex's, as for pkg/nat's table.
// Both indexes have at least 2 × max slots (load ≤ 0.5). Probe loops are
// bounded by the index length all the same, so a broken invariant shows as
// a refused packet, never as a frozen engine.

const (
	none   = ^uint32(0)
	noSlot = slotindex.NoSlot
)

// Session flags.
const (
	flagReplied     = 1 << iota // a WAN→LAN packet matched this session
	flagInbound                 // opened from the WAN (allow rule, inbound IPsec or ping, transparent mode, answer to an admitted SYN)
	flagSelf                    // opened by the router itself
	flagRule                    // opened through an allow rule
	flagTransparent             // opened in transparent mode
	flagPPTP                    // a PPTP control connection: keeps its GRE session
	flagSynAcked                // synIn: the LAN side's SYN-ACK was seen (state.go)
)

// key is a session's 5-tuple.
type key struct {
	lan, rem     addr
	lport, rport uint16
	proto        uint8
}

// session is 88 bytes; the fields every packet touches come first. (The
// key's fields are spelled out rather than embedded: an embedded key would
// bring its tail padding along.)
type session struct {
	lan, rem     addr
	lport, rport uint16
	proto        uint8 // 0 when the slot is free
	state        uint8
	flags        uint8
	_            uint8
	lastSeen     uint32 // engine seconds
	pktsOut      uint32
	pktsIn       uint32
	next         uint32 // next in the filter chain, or next free slot
	prev         uint32 // previous in the filter chain
	created      uint32
	synAck       uint32 // synIn: the LAN side's SYN sequence number
	bytesOut     uint64
	bytesIn      uint64
}

func (s *session) is(k *key) bool {
	return s.lan == k.lan && s.rem == k.rem && s.lport == k.lport && s.rport == k.rport && s.proto == k.proto
}

func (s *session) key() key {
	return key{lan: s.lan, rem: s.rem, lport: s.lport, rport: s.rport, proto: s.proto}
}

type table struct {
	sess  []session // max records; slots below hwm have been used
	hwm   uint32    // slots ever handed out
	free  uint32    // head of the free list or none
	count uint32
	max   uint32
	idx   []uint32
	fidx  []uint32
	mask  uint64
	seed  uint64
	eif   bool // filter keys leave out the remote address
}

func newTable(max int, seed uint64, eif bool) *table {
	if max < 16 {
		max = 16
	}
	slots := slotindex.Len(uint64(max))
	t := &table{
		free: none,
		max:  uint32(max),
		mask: slots - 1,
		seed: seed | 1,
		eif:  eif,
	}
	// As in pkg/nat: the arrays probed at random live on huge pages
	// (pkg/hugemem), so a lookup costs its cache misses and not a page
	// walk as well; the records are committed as they are first used.
	t.sess = hugemem.Make[session](t, max)
	t.idx = hugemem.Make[uint32](t, int(slots))
	t.fidx = hugemem.Make[uint32](t, int(slots))
	return t
}

func (t *table) s(i uint32) *session { return &t.sess[i] }

func (t *table) hash(k *key) uint64 {
	h := slotindex.Mix(k.lan.hi^t.seed, k.lan.lo^(uint64(k.lport)<<24|uint64(k.rport)<<8|uint64(k.proto)))
	return slotindex.Mix(h^k.rem.hi, k.rem.lo)
}

func (t *table) hashS(s *session) uint64 {
	k := s.key()
	return t.hash(&k)
}

// hashF is the filter key's hash: the remote address is left out under
// endpoint-independent filtering.
func (t *table) hashF(proto uint8, lan addr, lport uint16, rem addr) uint64 {
	h := slotindex.Mix(lan.hi^t.seed, lan.lo^(uint64(lport)<<8|uint64(proto)|1<<40))
	if t.eif {
		return slotindex.Mix(h, 0x5bd1e995)
	}
	return slotindex.Mix(h^rem.hi, rem.lo)
}

// filtered reports whether sessions of proto are in the filter index: the
// protocols with ports.
func filtered(proto uint8) bool { return hasPorts(proto) }

// lookup returns the session with key k, or none.
func (t *table) lookup(k *key) uint32 {
	h := t.hash(k) & t.mask
	for n := t.mask; ; n-- {
		v := t.idx[h]
		if v == 0 {
			return none
		}
		if t.s(v - 1).is(k) {
			return v - 1
		}
		if n == 0 {
			return none
		}
		h = (h + 1) & t.mask
	}
}

// fslot returns the filter index slot for a key and the head of its chain,
// or the empty slot ending the probe and none.
func (t *table) fslot(proto uint8, lan addr, lport uint16, rem addr) (uint64, uint32) {
	h := t.hashF(proto, lan, lport, rem) & t.mask
	for n := t.mask; ; n-- {
		v := t.fidx[h]
		if v == 0 {
			return h, none
		}
		s := t.s(v - 1)
		if s.proto == proto && s.lan == lan && s.lport == lport && (t.eif || s.rem == rem) {
			return h, v - 1
		}
		if n == 0 {
			return noSlot, none
		}
		h = (h + 1) & t.mask
	}
}

// alloc takes a free slot; the caller fills it and calls link.
func (t *table) alloc() uint32 {
	if t.free != none {
		i := t.free
		t.free = t.s(i).next
		t.count++
		return i
	}
	if t.hwm >= t.max {
		return none
	}
	i := t.hwm
	t.hwm++
	t.count++
	return i
}

// link inserts a filled session into the indexes.
func (t *table) link(i uint32) {
	s := t.s(i)
	if h := slotindex.Free(t.idx, t.hashS(s)&t.mask); h != noSlot {
		t.idx[h] = i + 1
	}
	s.next, s.prev = none, none
	if filtered(s.proto) {
		t.flink(i)
	}
}

// flink puts session i at the head of its filter chain.
func (t *table) flink(i uint32) {
	s := t.s(i)
	slot, head := t.fslot(s.proto, s.lan, s.lport, s.rem)
	if slot == noSlot {
		s.next, s.prev = none, none
		return
	}
	s.next, s.prev = head, none
	if head != none {
		t.s(head).prev = i
	}
	t.fidx[slot] = i + 1
}

// funlink takes session i out of its filter chain.
func (t *table) funlink(i uint32) {
	s := t.s(i)
	if s.prev != none {
		t.s(s.prev).next = s.next
		if s.next != none {
			t.s(s.next).prev = s.prev
		}
		return
	}
	slot, head := t.fslot(s.proto, s.lan, s.lport, s.rem)
	if slot == noSlot || head != i {
		return // not linked (cannot happen)
	}
	if s.next == none {
		slotindex.Delete(t.fidx, slot, t.homeF)
		return
	}
	t.s(s.next).prev = none
	t.fidx[slot] = s.next + 1
}

// unlink removes session i from the indexes and frees its slot.
func (t *table) unlink(i uint32) {
	s := t.s(i)
	if h := slotindex.Find(t.idx, t.hashS(s)&t.mask, i+1); h != noSlot {
		slotindex.Delete(t.idx, h, t.home)
	}
	if filtered(s.proto) {
		t.funlink(i)
	}
	*s = session{next: t.free}
	t.free = i
	t.count--
}

// refilter rebuilds the filter index for a filtering behaviour.
func (t *table) refilter(eif bool) {
	t.eif = eif
	clear(t.fidx)
	for i := uint32(0); i < t.hwm; i++ {
		if s := t.s(i); s.proto != 0 && filtered(s.proto) {
			t.flink(i)
		}
	}
}

func (t *table) home(v uint32) uint64 { return t.hashS(t.s(v-1)) & t.mask }

func (t *table) homeF(v uint32) uint64 {
	s := t.s(v - 1)
	return t.hashF(s.proto, s.lan, s.lport, s.rem) & t.mask
}
