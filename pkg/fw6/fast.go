package fw6

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// The established-flow fast path, as pkg/nat has one. Most packets the
// router forwards belong to a TCP connection in the established state or a
// UDP flow it already tracks, and need none of the general path's
// branches: no extension header, hop limit above 1, within the outgoing
// MTU, no SYN, FIN or RST, global unicast addresses on the right sides of
// the border. fast forwards exactly those packets with the work written
// out in one function, and reports false, having changed nothing, for
// every other packet, which then takes the general path (fromLAN,
// fromWAN). For the packets it accepts it must do what the general path
// does, to the byte and the counter: TestFastPathMatchesGeneral,
// TestFastPathMutations and FuzzFastPath compare the two on the same
// traffic, so a check added to the general path that the fast path lacks
// shows there.
//
// It takes, from the LAN or the WAN (never the router's own packets):
//
//   - IPv6 with TCP or UDP as the next header (no extension headers), a
//     payload length within the buffer, a whole TCP header (data offset
//     5 or more) without SYN, FIN or RST, or a whole UDP header;
//   - hop limit above 1, length within the outgoing port's MTU;
//   - from the LAN: a global (not ULA, not reserved) destination outside
//     the LAN and delegated prefixes and not the router's, a source in a
//     LAN prefix, not ULA and not the router's; from the WAN: a global
//     source outside the LAN and delegated prefixes and the router's
//     WAN-side addresses, a global destination in a LAN prefix and not
//     the router's;
//   - a session that exists and has not expired, in the established state
//     if TCP, and is neither the router's own (flagSelf) nor a PPTP control
//     connection (flagPPTP, whose packets keep its GRE session alive).
//
// Everything else, the address classes it does not take (ULA, link-local,
// multicast) included, is declined whole rather than replicated: the
// general path decides those.

// Fast-path limits: an IPv6 header and a whole transport header.
const (
	fastMinUDP   = packet.IPv6HeaderLen + packet.UDPHeaderLen
	fastMinTCP   = packet.IPv6HeaderLen + packet.TCPHeaderLen
	tcpSynFinRst = packet.TCPSyn | packet.TCPFin | packet.TCPRst
)

// fast forwards b, arrived from dir, if it is an established flow's packet
// (see above), and reports whether it did, with the verdict counted as
// Process counts it. h is the packet's Hint (ProcessHinted): the session
// it names is taken if its key is the packet's (hintedSession), else the
// key is looked up. It is one function on purpose, as pkg/nat's is.
func (e *Engine) fast(b []byte, dir Dir, h Hint) bool {
	if len(b) < fastMinUDP || b[0]>>4 != 6 {
		return false
	}
	n := packet.IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
	if n > len(b) || b[7] <= 1 {
		return false
	}
	p := b[:n]
	proto := p[6]
	l4 := p[packet.IPv6HeaderLen:]
	switch proto {
	case packet.ProtoTCP:
		if n < fastMinTCP || l4[12]>>4 < 5 || l4[13]&tcpSynFinRst != 0 {
			return false
		}
	case packet.ProtoUDP:
		if n < fastMinUDP {
			return false
		}
	default:
		return false
	}
	src, dst := load(p[8:24]), load(p[24:40])
	sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	var k key
	switch dir {
	case FromLAN:
		// fromLAN's checks for a forwarded packet: a global destination,
		// a source in a LAN prefix and not the router's, not to the
		// router, no ULA on either side, not back into the LAN or the
		// delegated prefix.
		if n > e.cfg.WANMTU || classify(dst) != clGlobal || !e.lan.contains(src) || src.hi>>57 == 0xfc>>1 ||
			e.rUnicast.contains(src) || e.rUnicast.contains(dst) || e.lan.contains(dst) || e.delegated.contains(dst) {
			return false
		}
		k = key{proto: proto, lan: src, lport: sp, rem: dst, rport: dp}
	case FromWAN:
		// fromWAN's: global addresses both, ingress filtering of the
		// source, a destination on the LAN that is not the router's.
		if n > e.cfg.LANMTU || classify(dst) != clGlobal || classify(src) != clGlobal ||
			e.lan.contains(src) || e.delegated.contains(src) || e.rOutside.contains(src) ||
			e.rUnicast.contains(dst) || !e.lan.contains(dst) {
			return false
		}
		k = key{proto: proto, lan: dst, lport: dp, rem: src, rport: sp}
	default:
		return false
	}
	i := e.t.hintedSession(h, &k)
	if i == none {
		if i = e.t.lookup(&k); i == none {
			return false
		}
	}
	s := e.t.s(i)
	if e.now-s.lastSeen > e.tmo[s.state] || s.flags&(flagSelf|flagPPTP) != 0 ||
		(proto == packet.ProtoTCP && s.state != stEstablished) {
		return false
	}
	// What outbound (touch) or inbound and touchIn, forwarded and Process
	// do with such a packet: an established segment without SYN, FIN or
	// RST leaves the state as it is, and no MSS is clamped.
	s.lastSeen = e.now
	if dir == FromLAN {
		s.pktsOut++
		s.bytesOut += uint64(n)
	} else {
		e.adm.create = false
		s.flags |= flagReplied
		s.pktsIn++
		s.bytesIn += uint64(n)
	}
	p[7]--
	e.pkt = p
	e.cnt.Verdicts[Forward]++
	return true
}
