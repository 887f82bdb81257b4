package nat

import (
	"github.com/passgate/passgate/pkg/packet"
)

// Translate processes one IPv4 packet (starting at the IPv4 header) that
// arrived on side dir. The packet is rewritten in place.
func (e *Engine) Translate(b []byte, dir Dir) Result {
	return e.TranslateHinted(b, dir, 0)
}

// TranslateHinted is Translate for a packet whose batch was prefetched: h
// is what PrefetchSession returned for it. The fast path then takes the
// session h names, checked against the packet's key, instead of hashing
// the key and probing the index again; a hint that does not match (any
// hint at all: stale, another packet's, the zero Hint) only costs that
// check, and the result is always Translate's.
func (e *Engine) TranslateHinted(b []byte, dir Dir, h Hint) Result {
	e.more = e.moreBuf[:0]
	if !e.slowOnly && e.fast(b, dir, h) {
		e.cnt.Verdicts[Forward]++
		return Result{Verdict: Forward, Packet: e.pkt}
	}
	e.pkt = nil
	e.fastIdx = none
	var v verdict
	if dir == Outbound {
		v = e.outbound(b)
	} else {
		v = e.inbound(b)
	}
	vd, rs := v.verdict(), v.reason()
	e.cnt.Verdicts[vd%numVerdicts]++
	if vd == Drop {
		e.cnt.Drops[rs%NumReasons]++
	}
	// Returned as a literal, not built in a variable, so that it stays in
	// registers (see Result).
	return Result{Verdict: vd, Reason: rs, Packet: e.pkt}
}

// verdict is the internal, two-byte form of a result: the Verdict in the
// low byte and the drop Reason in the high byte. The packet to send is in
// e.pkt (and e.more).
type verdict uint16

func (v verdict) verdict() Verdict { return Verdict(v) }
func (v verdict) reason() Reason   { return Reason(v >> 8) }

func drop(r Reason) verdict { return verdict(Drop) | verdict(r)<<8 }

// IPv4 source route options (RFC 791): routers drop packets carrying them
// by default (RFC 7126 §4.3, §4.4).
const (
	optLSRR = 131
	optSSRR = 137
)

// sourceRouted reports whether p's header carries a loose or strict source
// route option. The walk is bounded by the header's 40 bytes of options; it
// stops at the end-of-list option or a malformed length.
func sourceRouted(p packet.IPv4) bool {
	hl := p.HeaderLen()
	for i := packet.IPv4HeaderLen; i < hl; {
		switch p[i] {
		case 0:
			return false
		case 1:
			i++
			continue
		case optLSRR, optSSRR:
			return true
		}
		if i+1 >= hl || p[i+1] < 2 {
			return false
		}
		i += int(p[i+1])
	}
	return false
}

func isMartian(a uint32) bool {
	return a == 0 || a>>24 == 127 || a>>28 == 0xe || a == 0xffffffff
}

// finish applies the forwarding duties to a translated packet: TTL,
// fragment bookkeeping and fragmentation to the outgoing MTU.
func (e *Engine) finish(p packet.IPv4, r verdict, mtu int, origSrc, origDst uint32, decTTL bool) verdict {
	if r != verdict(Forward) && r != verdict(Hairpin) {
		return r
	}
	if decTTL {
		p.DecTTL()
	}
	if p.MF() { // a first fragment (later ones went to laterFragment)
		e.frags.record(e, fragKey{src: origSrc, dst: origDst, id: p.ID(), proto: p.Protocol()},
			p, r.verdict(), mtu)
	}
	e.pkt = p
	if len(p) > mtu {
		return e.fragmentResult(r, mtu)
	}
	return r
}

// rewriteEndpoint changes one endpoint of a TCP or UDP packet, the
// destination if dst, else the source, to ip:port. The IPv4 header
// checksum and the transport checksum (over the pseudo-header address and
// the port) are updated incrementally (RFC 1624); a zero UDP checksum
// stays zero. l4 is p's transport header, already checked to be complete.
func rewriteEndpoint(p packet.IPv4, l4 []byte, dst bool, ip uint32, port uint16) {
	ports := packet.Ports(l4)
	var oldIP uint32
	var oldPort uint16
	if dst {
		oldIP, oldPort = p.Dst(), ports.Dst()
		p.SetDst(ip)
		ports.SetDst(port)
	} else {
		oldIP, oldPort = p.Src(), ports.Src()
		p.SetSrc(ip)
		ports.SetSrc(port)
	}
	if p.Protocol() == packet.ProtoTCP {
		t := packet.TCP(l4)
		t.SetChecksum(packet.UpdateAddrPort(t.Checksum(), oldIP, ip, oldPort, port))
	} else {
		u := packet.UDP(l4)
		u.SetChecksum(packet.UpdateUDPAddrPort(u.Checksum(), oldIP, ip, oldPort, port))
	}
}
