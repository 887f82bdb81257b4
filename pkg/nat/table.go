package nat

import (
	"math/bits"

	"github.com/passgate/passgate/pkg/hugemem"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/slotindex"
)

// The flow table. Sessions (one per 5-tuple) live in one array of 64-byte
// records and are found through two open-addressed indexes of uint32 slots
// (each with a tag of the key's hash beside the session's number, so a
// probe reads only the record it wants); all three on huge pages:
//
//   - out: (proto, internal addr:port, remote addr:port) → session, the
//     LAN→WAN lookup;
//   - in:  (proto, external port, remote addr) → first session of a short
//     chain linked through session.inNext, the WAN→LAN lookup. The chain
//     holds the sessions of one mapping with one remote address (normally
//     one), so address-dependent filtering is "does the slot exist" and
//     address-and-port-dependent filtering is a walk of that chain.
//
// Mappings (endpoint-independent: one external port per internal
// addr:port and protocol) are reference-counted by their sessions and found
// by (proto, internal addr:port) through a third index, and by external port
// through a direct array per protocol. Everything is addressed by index, so
// nothing on the lookup path allocates or chases Go pointers. The lookups
// are written out here; sizing, hashing, insertion and deletion without
// tombstones are pkg/slotindex's, which pkg/fw6's table shares.
//
// Every index is sized for everything it can hold, at load ≤ 0.5: the
// session indexes for max sessions, the mapping index for one dynamic
// mapping per session plus the port forwards' static mappings (at most one
// per external port and protocol, 3×65,536 in all). Probe loops are still
// bounded by the index length, so a broken invariant shows as a refused
// packet (ReasonTableFull), never as a frozen engine.

const (
	none   = ^uint32(0)
	noSlot = slotindex.NoSlot
)

// Session flags.
const (
	flagReplied = 1 << iota // a WAN→LAN packet matched this session
	flagInbound             // created by a WAN→LAN packet (port forward, DMZ)
	flagHelper              // a Helper watches this session (ALG)
)

type session struct {
	intIP    uint32
	remIP    uint32
	intPort  uint16
	remPort  uint16
	extPort  uint16
	proto    uint8 // 0 when the slot is free
	state    uint8
	flags    uint8
	_        [3]byte
	lastSeen uint32 // engine seconds
	created  uint32
	inNext   uint32 // next session in the inbound chain, or next free slot
	mapping  uint32
	pktsOut  uint32
	pktsIn   uint32
	synAck   uint32 // opened from the WAN, syn-received: the LAN side's SYN sequence number (state.go)
	bytesOut uint64
	bytesIn  uint64
}

type mapping struct {
	intIP   uint32
	intPort uint16
	extPort uint16
	proto   uint8 // 0 when free
	static  bool  // port forward: permanent, endpoint-independent filtering
	// alias: a port forward to an internal endpoint that another forward
	// (the one with the lowest external port, the primary) also reaches.
	// Only the primary is in mapIdx, so the host's own new connections from
	// that endpoint leave on the primary's port; sessions opened through an
	// alias keep the alias's port (replies leave on the port the remote used).
	alias bool
	refs  uint32
}

// protoIndex maps TCP/UDP/ICMP to 0/1/2 for the external port arrays.
func protoIndex(proto uint8) int {
	switch proto {
	case 6:
		return 0
	case 17:
		return 1
	default:
		return 2
	}
}

type table struct {
	sess     []session // max records; slots below hwm have been used
	hwm      uint32    // slots ever handed out
	free     uint32    // head of the free list (slot index) or none
	count    uint32
	max      uint32
	out, in  []uint32 // slot value: tag | session index + 1; 0 = empty (slotVal)
	mask     uint64
	seed     uint64
	idxBits  uint32 // low bits of a slot holding session index + 1
	idxMask  uint32
	tagShift uint32 // a hash shifted right by this is the slot's tag
	maps     []mapping
	mapFree  []uint32
	mapIdx   []uint32 // slot value: mapping index + 1
	mapMask  uint64
	extPorts [3][65536]uint32 // mapping index + 1
	// portBits has a bit set for each external port in use (extPorts
	// non-zero), so a free port is found a word (64 ports) at a time.
	portBits [3][1024]uint64
}

func newTable(max int, seed uint64) *table {
	if max < 16 {
		max = 16
	}
	slots := slotindex.Len(uint64(max)) // ≥ 2×max: load ≤ 0.5
	idxBits := uint32(bits.Len32(uint32(max)))
	t := &table{
		free:     none,
		max:      uint32(max),
		mask:     slots - 1,
		seed:     seed | 1,
		idxBits:  idxBits,
		idxMask:  uint32(1)<<idxBits - 1,
		tagShift: 32 + idxBits,
	}
	// The arrays probed at random live on huge pages (pkg/hugemem); the
	// session records are committed as they are first used.
	t.sess = hugemem.Make[session](t, max)
	t.out = hugemem.Make[uint32](t, int(slots))
	t.in = hugemem.Make[uint32](t, int(slots))
	t.mapCapacity(0)
	return t
}

// maxMappings is the most mappings that can exist at once: each holds its
// own external port of its protocol.
const maxMappings = 3 * 65536

// mapCapacity sizes the mapping index for one dynamic mapping per session
// plus statics indexed static mappings (load ≤ 0.5), rehashing the indexed
// mappings when it grows. It never shrinks, so it is safe at any time.
func (t *table) mapCapacity(statics int) {
	n := min(uint64(t.max)+uint64(statics), maxMappings)
	slots := slotindex.Len(n)
	if slots <= uint64(len(t.mapIdx)) {
		return
	}
	t.mapIdx = make([]uint32, slots)
	t.mapMask = slots - 1
	for i := range t.maps {
		if m := &t.maps[i]; m.proto != 0 && !m.alias {
			t.insertMapIdx(uint32(i))
		}
	}
}

func (t *table) s(i uint32) *session { return &t.sess[i] }

// Session index slots hold the session's index + 1 in their low idxBits
// bits and, above them, a tag: the top bits of the key's hash (the slot
// number comes from its low bits). A probe compares the tag before it
// reads a session record, so passing a slot of another key costs no cache
// miss on that key's record, except for one in 2^(32-idxBits) — with 4 Mi
// sessions one in 512, with the default 64 Ki one in 32,768.

// slotVal is the slot value for session i under a key hashing to h.
func (t *table) slotVal(i uint32, h uint64) uint32 {
	return i + 1 | t.tag(h)
}

// tag is h's tag, in place in a slot value.
func (t *table) tag(h uint64) uint32 { return uint32(h>>t.tagShift) << t.idxBits }

// slotIdx is the session index a non-empty slot value holds.
func (t *table) slotIdx(v uint32) uint32 { return v&t.idxMask - 1 }

func (t *table) hashOut(proto uint8, ip uint32, port uint16, rip uint32, rport uint16) uint64 {
	return slotindex.Mix(uint64(ip)<<32|uint64(rip)^t.seed, uint64(port)<<24|uint64(rport)<<8|uint64(proto))
}

func (t *table) hashIn(proto uint8, ext uint16, rip uint32) uint64 {
	return slotindex.Mix(uint64(rip)^t.seed, uint64(ext)<<8|uint64(proto)|1<<40)
}

func (t *table) hashMap(proto uint8, ip uint32, port uint16) uint64 {
	return slotindex.Mix(uint64(ip)^t.seed, uint64(port)<<8|uint64(proto)|1<<41)
}

// lookupOut returns the session for an outbound 5-tuple, or none.
func (t *table) lookupOut(proto uint8, ip uint32, port uint16, rip uint32, rport uint16) uint32 {
	hash := t.hashOut(proto, ip, port, rip, rport)
	tag, h := t.tag(hash), hash&t.mask
	for n := t.mask; ; n-- {
		v := t.out[h]
		if v == 0 {
			return none
		}
		if v&^t.idxMask == tag {
			i := t.slotIdx(v)
			if s := t.s(i); s.intIP == ip && s.remIP == rip && s.intPort == port && s.remPort == rport && s.proto == proto {
				return i
			}
		}
		if n == 0 {
			return none
		}
		h = (h + 1) & t.mask
	}
}

// inSlot returns the index slot of the inbound chain for (proto, ext, rip)
// and the chain's head session, or the empty slot that ends the probe and
// none.
func (t *table) inSlot(proto uint8, ext uint16, rip uint32) (uint64, uint32) {
	hash := t.hashIn(proto, ext, rip)
	tag, h := t.tag(hash), hash&t.mask
	for n := t.mask; ; n-- {
		v := t.in[h]
		if v == 0 {
			return h, none
		}
		if v&^t.idxMask == tag {
			i := t.slotIdx(v)
			if s := t.s(i); s.remIP == rip && s.extPort == ext && s.proto == proto {
				return h, i
			}
		}
		if n == 0 {
			return noSlot, none // full: cannot happen while count ≤ max
		}
		h = (h + 1) & t.mask
	}
}

// lookupIn returns the session for an inbound tuple and the head of its
// chain (any session of that mapping with that remote address), or none.
func (t *table) lookupIn(proto uint8, ext uint16, rip uint32, rport uint16) (idx, head uint32) {
	_, head = t.inSlot(proto, ext, rip)
	for i := head; i != none; {
		s := t.s(i)
		if s.remPort == rport {
			return i, head
		}
		i = s.inNext
	}
	return none, head
}

// alloc takes a free session slot; the caller fills it and calls link.
func (t *table) alloc() uint32 {
	if t.free != none {
		i := t.free
		t.free = t.s(i).inNext
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

// link inserts a filled session into both indexes. Both have at least
// 2×max slots and hold at most max entries, so a free slot always exists;
// the probes are bounded all the same.
func (t *table) link(i uint32) {
	s := t.s(i)
	hash := t.hashOut(s.proto, s.intIP, s.intPort, s.remIP, s.remPort)
	if h := slotindex.Free(t.out, hash&t.mask); h != noSlot {
		t.out[h] = t.slotVal(i, hash)
	}
	slot, head := t.inSlot(s.proto, s.extPort, s.remIP)
	s.inNext = head
	if slot != noSlot {
		t.in[slot] = t.slotVal(i, t.hashIn(s.proto, s.extPort, s.remIP))
	}
}

// unlink removes a session from both indexes and frees its slot.
func (t *table) unlink(i uint32) {
	s := t.s(i)
	hash := t.hashOut(s.proto, s.intIP, s.intPort, s.remIP, s.remPort)
	if h := slotindex.Find(t.out, hash&t.mask, t.slotVal(i, hash)); h != noSlot {
		slotindex.Delete(t.out, h, t.homeOut)
	}

	slot, head := t.inSlot(s.proto, s.extPort, s.remIP)
	if slot == noSlot {
		// not indexed (cannot happen); nothing to unlink there
	} else if head == i {
		if s.inNext == none {
			slotindex.Delete(t.in, slot, t.homeIn)
		} else {
			// the chain's next session has the same key, so the same tag
			t.in[slot] = t.slotVal(s.inNext, t.hashIn(s.proto, s.extPort, s.remIP))
		}
	} else {
		for p, n := head, t.max; p != none && n > 0; p, n = t.s(p).inNext, n-1 {
			if ps := t.s(p); ps.inNext == i {
				ps.inNext = s.inNext
				break
			}
		}
	}
	*s = session{inNext: t.free}
	t.free = i
	t.count--
}

func (t *table) homeOut(v uint32) uint64 {
	s := t.s(t.slotIdx(v))
	return t.hashOut(s.proto, s.intIP, s.intPort, s.remIP, s.remPort) & t.mask
}

func (t *table) homeIn(v uint32) uint64 {
	s := t.s(t.slotIdx(v))
	return t.hashIn(s.proto, s.extPort, s.remIP) & t.mask
}

// Mappings.

func (t *table) lookupMapping(proto uint8, ip uint32, port uint16) uint32 {
	h := t.hashMap(proto, ip, port) & t.mapMask
	for n := t.mapMask; ; n-- {
		v := t.mapIdx[h]
		if v == 0 {
			return none
		}
		m := &t.maps[v-1]
		if m.intIP == ip && m.intPort == port && m.proto == proto {
			return v - 1
		}
		if n == 0 {
			return none
		}
		h = (h + 1) & t.mapMask
	}
}

// mappingFor is the mapping a new session of (proto, ip, port) joins: with
// exact, the one with external port ext if the endpoint has one there (a
// port-forward alias or primary), else the endpoint's indexed mapping.
func (t *table) mappingFor(proto uint8, ip uint32, port, ext uint16, exact bool) uint32 {
	if exact {
		if mi := t.mappingAt(proto, ip, port, ext); mi != none {
			return mi
		}
	}
	return t.lookupMapping(proto, ip, port)
}

// mappingAt returns the mapping of (proto, ip, port) with external port
// ext, which may be a port-forward alias, or none.
func (t *table) mappingAt(proto uint8, ip uint32, port, ext uint16) uint32 {
	if mi := t.mappingByExt(proto, ext); mi != none {
		if m := &t.maps[mi]; m.intIP == ip && m.intPort == port {
			return mi
		}
	}
	return none
}

func (t *table) mappingByExt(proto uint8, ext uint16) uint32 {
	return t.extPorts[protoIndex(proto)][ext] - 1 // none when 0
}

// addMapping installs a mapping and returns its index, or none when the
// mapping index has no free slot (cannot happen while it is sized by
// mapCapacity; the caller refuses the packet). An alias is not indexed by
// internal endpoint.
func (t *table) addMapping(proto uint8, ip uint32, port, ext uint16, static bool) uint32 {
	return t.addMappingAlias(proto, ip, port, ext, static, false)
}

func (t *table) addMappingAlias(proto uint8, ip uint32, port, ext uint16, static, alias bool) uint32 {
	var h uint64
	if !alias {
		if h = slotindex.Free(t.mapIdx, t.hashMap(proto, ip, port)&t.mapMask); h == noSlot {
			return none
		}
	}
	var i uint32
	if n := len(t.mapFree); n > 0 {
		i = t.mapFree[n-1]
		t.mapFree = t.mapFree[:n-1]
	} else {
		i = uint32(len(t.maps))
		t.maps = append(t.maps, mapping{})
	}
	t.maps[i] = mapping{intIP: ip, intPort: port, extPort: ext, proto: proto, static: static, alias: alias}
	if !alias {
		t.mapIdx[h] = i + 1
	}
	t.extPorts[protoIndex(proto)][ext] = i + 1
	t.portBits[protoIndex(proto)][ext>>6] |= 1 << (ext & 63)
	return i
}

func (t *table) insertMapIdx(i uint32) {
	m := &t.maps[i]
	if h := slotindex.Free(t.mapIdx, t.hashMap(m.proto, m.intIP, m.intPort)&t.mapMask); h != noSlot {
		t.mapIdx[h] = i + 1
	}
}

func (t *table) removeMapping(i uint32) {
	m := &t.maps[i]
	if !m.alias {
		h := t.hashMap(m.proto, m.intIP, m.intPort) & t.mapMask
		if h = slotindex.Find(t.mapIdx, h, i+1); h != noSlot {
			slotindex.Delete(t.mapIdx, h, t.homeMap)
		}
	}
	t.extPorts[protoIndex(m.proto)][m.extPort] = 0
	t.portBits[protoIndex(m.proto)][m.extPort>>6] &^= 1 << (m.extPort & 63)
	*m = mapping{}
	t.mapFree = append(t.mapFree, i)
}

func (t *table) homeMap(v uint32) uint64 {
	m := &t.maps[v-1]
	return t.hashMap(m.proto, m.intIP, m.intPort) & t.mapMask
}

// freePort returns the lowest external port in [from, to] that no mapping
// of proto uses, skipping the reserved UDP port 68 (the WAN DHCP client's);
// at most 1,024 words are looked at.
func (t *table) freePort(proto uint8, from, to uint32) (uint16, bool) {
	used := &t.portBits[protoIndex(proto)]
	for w := from >> 6; w <= to>>6; w++ {
		free := ^used[w]
		if w == from>>6 {
			free &= ^uint64(0) << (from & 63)
		}
		if w == to>>6 {
			free &= ^uint64(0) >> (63 - to&63)
		}
		if proto == packet.ProtoUDP && w == 68>>6 {
			free &^= 1 << (68 & 63)
		}
		if free != 0 {
			return uint16(w<<6 + uint32(bits.TrailingZeros64(free))), true
		}
	}
	return 0, false
}
