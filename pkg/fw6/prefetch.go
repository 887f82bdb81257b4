package fw6

import "github.com/passgate/passgate/pkg/packet"

// Prefetch touches the table memory Process will read for a TCP or UDP
// packet without extension headers — its index slot and session record —
// without changing anything. The data plane calls it for every packet of a
// batch before processing them, so the cache misses of a large table
// overlap. It validates nothing: a malformed packet prefetches nothing
// useful.
func (e *Engine) Prefetch(b []byte, dir Dir) {
	if len(b) < packet.IPv6HeaderLen+4 || b[0]>>4 != 6 {
		return
	}
	proto := b[6]
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return
	}
	ports := packet.Ports(b[packet.IPv6HeaderLen:])
	k := key{proto: proto, lan: load(b[8:24]), lport: ports.Src(), rem: load(b[24:40]), rport: ports.Dst()}
	if dir == FromWAN {
		k.lan, k.rem, k.lport, k.rport = k.rem, k.lan, k.rport, k.lport
	}
	t := e.t
	if v := t.idx[t.hash(&k)&t.mask]; v != 0 {
		e.sink += t.s(v - 1).lastSeen
	}
}
