package nat

import "github.com/passgate/passgate/pkg/packet"

// Prefetch touches the table memory a packet's translation will read — its
// index slot and session record — without changing anything. The data
// plane calls it for every packet of a batch before translating them, so
// the cache misses of a large table overlap instead of stalling one after
// another. It does no validation: a malformed packet just prefetches
// nothing useful.
func (e *Engine) Prefetch(b []byte, dir Dir) {
	p := packet.IPv4(b)
	if len(p) < packet.IPv4HeaderLen || p.Version() != 4 {
		return
	}
	hl := p.HeaderLen()
	proto := p.Protocol()
	if (proto != packet.ProtoTCP && proto != packet.ProtoUDP) || len(p) < hl+4 || p.FragOffset() != 0 {
		return
	}
	src, dst := p.Src(), p.Dst()
	ports := packet.Ports(p[hl:])
	sp, dp := ports.Src(), ports.Dst()
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
