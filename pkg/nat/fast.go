package nat

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// The established-flow fast path. Most packets a router forwards belong to
// a TCP connection in the established state or a UDP flow it already
// knows, and need none of the general path's branches: no IP options, no
// fragment, TTL above 1, within the outgoing MTU, no SYN, FIN or RST, no
// helper watching the session. fast translates exactly those packets with
// the work written out in one function, and reports false, having changed
// nothing, for every other packet, which then takes the general path
// (outbound, inbound). For the packets it accepts it must do what the
// general path does, to the byte and the counter:
// TestFastPathMatchesGeneral and FuzzFastPath compare the two on the same
// traffic, so a check added to the general path that the fast path lacks
// shows there.
//
// What is saved (2026-12-04, amd64): the calls between Translate,
// outbound, outL4, rewriteEndpoint, SetSrc/SetDst and finish, the header
// fields each of them re-reads, and one of the two stores and reloads of
// the IPv4 header checksum (the address and the TTL change are applied
// to it in registers, in the general path's order, so the result is the
// same bits).

// Fast-path limits: a 20-byte IPv4 header and a whole transport header.
const (
	fastMinUDP   = packet.IPv4HeaderLen + packet.UDPHeaderLen
	fastMinTCP   = packet.IPv4HeaderLen + packet.TCPHeaderLen
	tcpSynFinRst = packet.TCPSyn | packet.TCPFin | packet.TCPRst
)

// fast translates b, arrived on side dir, if it is an established flow's
// packet (see above), and reports whether it did. It is one function on
// purpose: split into helpers (header, transport, rewrite) it cost 2-3 ns
// a packet more in calls and spilled registers.
func (e *Engine) fast(b []byte, dir Dir, h Hint) bool {
	mtu := e.cfg.WANMTU
	if dir == Inbound {
		mtu = e.cfg.LANMTU
	}
	// IPv4 without options; fragment bits (MF, offset) clear; TTL above 1
	// (the general path answers TTL 1 with time exceeded); not above the
	// outgoing MTU; a valid header checksum.
	if len(b) < fastMinUDP || b[0] != 0x45 {
		return false
	}
	tl := int(binary.BigEndian.Uint16(b[2:]))
	if tl < fastMinUDP || tl > len(b) || tl > mtu || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 || b[8] <= 1 {
		return false
	}
	p := packet.IPv4(b[:tl])
	if !p.Checksum20OK() {
		return false
	}
	src, dst := p.Src(), p.Dst()
	proto := p.Protocol()
	l4 := p[packet.IPv4HeaderLen:]
	sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	// A whole transport header; TCP without SYN, FIN or RST (state
	// changes and the MSS clamp are the general path's); UDP the helper
	// does not take.
	switch proto {
	case packet.ProtoTCP:
		if tl < fastMinTCP || l4[12]>>4 < 5 || l4[13]&tcpSynFinRst != 0 {
			return false
		}
	case packet.ProtoUDP:
		if e.helper != nil && e.helper.ShareUDP(sp, dp) {
			return false
		}
	default:
		return false
	}
	var s *session
	var i uint32
	if dir == Outbound {
		// Not for the router, from a LAN host other than the router
		// itself (its own packets keep their TTL), to a unicast WAN
		// address that is not the router's external one (hairpinning).
		if dst == e.lanIP || dst == e.lanBcast || dst>>28 == 0xe || dst == 0xffffffff ||
			src&e.lanMask != e.lanNet || src == e.lanBcast || src == e.lanNet || src == e.lanIP ||
			dst&e.lanMask == e.lanNet || isMartian(dst) || e.ext == 0 || dst == e.ext {
			return false
		}
		if i = e.t.hintedOut(h, proto, src, sp, dst, dp); i == none {
			i = e.t.lookupOut(proto, src, sp, dst, dp)
		}
	} else {
		if dst != e.ext || e.ext == 0 || isMartian(src) || src == e.ext || src&e.lanMask == e.lanNet {
			return false
		}
		if i = e.t.hintedIn(h, proto, dp, src, sp); i == none {
			i, _ = e.t.lookupIn(proto, dp, src, sp)
		}
	}
	// A session that has not expired, that no helper watches, and if TCP
	// established (a segment without SYN, FIN or RST leaves it so).
	if i == none {
		return false
	}
	s = e.t.s(i)
	if s.flags&flagHelper != 0 || e.expired(s) || (proto == packet.ProtoTCP && s.state != stEstablished) {
		return false
	}
	// What outL4/inL4, rewriteEndpoint and finish do with such a packet.
	var addrOff, portOff int // the endpoint rewritten: source, or destination
	var ip uint32
	var port uint16
	if dir == Outbound {
		s.lastSeen = e.now
		s.pktsOut++
		s.bytesOut += uint64(tl)
		addrOff, portOff, ip, port = 12, 0, e.ext, s.extPort
	} else {
		s.flags |= flagReplied
		s.lastSeen = e.now
		s.pktsIn++
		s.bytesIn += uint64(tl)
		addrOff, portOff, ip, port = 16, 2, s.intIP, s.intPort
	}
	oldIP := binary.BigEndian.Uint32(p[addrOff:])
	oldPort := binary.BigEndian.Uint16(l4[portOff:])
	ttl := binary.BigEndian.Uint16(p[8:]) // TTL and protocol
	hc := packet.Update32(p.Checksum(), oldIP, ip)
	hc = packet.Update16(hc, ttl, ttl-0x100)
	binary.BigEndian.PutUint32(p[addrOff:], ip)
	p[8] = byte(ttl>>8) - 1
	p.SetChecksum(hc)
	binary.BigEndian.PutUint16(l4[portOff:], port)
	if proto == packet.ProtoTCP {
		c := binary.BigEndian.Uint16(l4[16:])
		binary.BigEndian.PutUint16(l4[16:], packet.UpdateAddrPort(c, oldIP, ip, oldPort, port))
	} else {
		c := binary.BigEndian.Uint16(l4[6:])
		binary.BigEndian.PutUint16(l4[6:], packet.UpdateUDPAddrPort(c, oldIP, ip, oldPort, port))
	}
	e.pkt = p
	e.fastIdx, e.fastDir = i, dir
	return true
}
