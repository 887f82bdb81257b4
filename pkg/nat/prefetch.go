package nat

import "encoding/binary"

// Prefetch touches the table memory a packet's translation will read — its
// index slot and session record — without changing anything. The data
// plane calls it for every packet of a batch before translating them, so
// the cache misses of a large table overlap instead of stalling one after
// another. It does no validation: a malformed packet just prefetches
// nothing useful.
func (e *Engine) Prefetch(b []byte, dir Dir) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	hl := int(b[0]&0x0f) * 4
	proto := b[9]
	if (proto != 6 && proto != 17) || len(b) < hl+4 || binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return
	}
	src := binary.BigEndian.Uint32(b[12:])
	dst := binary.BigEndian.Uint32(b[16:])
	sp := binary.BigEndian.Uint16(b[hl:])
	dp := binary.BigEndian.Uint16(b[hl+2:])
	t := e.t
	var v uint32
	if dir == Outbound {
		v = t.out[t.hashOut(proto, src, sp, dst, dp)&t.mask]
	} else {
		v = t.in[t.hashIn(proto, dp, src)&t.mask]
	}
	if v != 0 {
		e.sink += t.s(v - 1).lastSeen
	}
}
