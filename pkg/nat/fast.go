package nat

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// The established-flow fast path. Most packets a router forwards belong to
// a TCP connection in the established state or a UDP flow it already
// knows, and need none of the general path's branches: no IP options, no
// fragment, TTL above 1, within the outgoing MTU, no SYN, FIN or RST, no
// helper watching the session. fastOut and fastIn translate exactly those
// packets with the work written out in one function each, and report
// false, having changed nothing, for every other packet, which then takes
// the general path (outbound, inbound). For the packets they accept they
// must do what the general path does, to the byte and the counter:
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

// fastHeader checks the IPv4 header of b for the fast path with MTU mtu
// and returns the packet (b without link-layer padding), or nil.
func fastHeader(b []byte, mtu int) packet.IPv4 {
	if len(b) < fastMinUDP || b[0] != 0x45 {
		return nil
	}
	tl := int(binary.BigEndian.Uint16(b[2:]))
	// Fragment bits (MF, offset) clear, TTL above 1 (the general path
	// answers TTL 1 with time exceeded), not above the MTU.
	if tl < fastMinUDP || tl > len(b) || tl > mtu || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 || b[8] <= 1 {
		return nil
	}
	p := packet.IPv4(b[:tl])
	if !p.Checksum20OK() {
		return nil
	}
	return p
}

// fastL4 checks the transport header of p (proto TCP or UDP) for the fast
// path: complete, and for TCP without SYN, FIN or RST (state changes and
// the MSS clamp are the general path's). It returns the ports.
func (e *Engine) fastL4(p packet.IPv4, proto uint8) (sp, dp uint16, ok bool) {
	l4 := p[packet.IPv4HeaderLen:]
	sp, dp = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	switch proto {
	case packet.ProtoTCP:
		if len(p) < fastMinTCP || l4[12]>>4 < 5 || l4[13]&tcpSynFinRst != 0 {
			return 0, 0, false
		}
	case packet.ProtoUDP:
		if e.helper != nil && e.helper.ShareUDP(sp, dp) {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	return sp, dp, true
}

// fastSession reports whether session i may take the fast path: it exists,
// has not expired, no helper watches it, and a TCP session is established
// (a segment without SYN, FIN or RST leaves it so).
func (e *Engine) fastSession(i uint32, proto uint8) (*session, bool) {
	if i == none {
		return nil, false
	}
	s := e.t.s(i)
	if s.flags&flagHelper != 0 || e.expired(s) || (proto == packet.ProtoTCP && s.state != stEstablished) {
		return nil, false
	}
	return s, true
}

// fastRewrite rewrites one endpoint of p, the source (at offset 12, port
// at 0) or the destination (16, 2), to ip:port and decrements the TTL:
// rewriteEndpoint and DecTTL in one.
func fastRewrite(p packet.IPv4, proto uint8, addrOff, portOff int, ip uint32, port uint16) {
	oldIP := binary.BigEndian.Uint32(p[addrOff:])
	l4 := p[packet.IPv4HeaderLen:]
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
}

// fastOut is outbound for an established flow's packet (see above).
func (e *Engine) fastOut(b []byte) bool {
	p := fastHeader(b, e.cfg.WANMTU)
	if p == nil {
		return false
	}
	src, dst := p.Src(), p.Dst()
	// Not for the router, from a LAN host other than the router itself
	// (its own packets keep their TTL), to a unicast WAN address that is
	// not the router's external one (hairpinning).
	if dst == e.lanIP || dst == e.lanBcast || dst>>28 == 0xe || dst == 0xffffffff ||
		src&e.lanMask != e.lanNet || src == e.lanBcast || src == e.lanNet || src == e.lanIP ||
		dst&e.lanMask == e.lanNet || isMartian(dst) || e.ext == 0 || dst == e.ext {
		return false
	}
	proto := p.Protocol()
	sp, dp, ok := e.fastL4(p, proto)
	if !ok {
		return false
	}
	s, ok := e.fastSession(e.t.lookupOut(proto, src, sp, dst, dp), proto)
	if !ok {
		return false
	}
	s.lastSeen = e.now
	s.pktsOut++
	s.bytesOut += uint64(len(p))
	fastRewrite(p, proto, 12, 0, e.ext, s.extPort)
	e.pkt = p
	return true
}

// fastIn is inbound for an established flow's packet (see above).
func (e *Engine) fastIn(b []byte) bool {
	p := fastHeader(b, e.cfg.LANMTU)
	if p == nil {
		return false
	}
	src, dst := p.Src(), p.Dst()
	if dst != e.ext || e.ext == 0 || isMartian(src) || src == e.ext || src&e.lanMask == e.lanNet {
		return false
	}
	proto := p.Protocol()
	sp, dp, ok := e.fastL4(p, proto)
	if !ok {
		return false
	}
	i, _ := e.t.lookupIn(proto, dp, src, sp)
	s, ok := e.fastSession(i, proto)
	if !ok {
		return false
	}
	s.flags |= flagReplied
	s.lastSeen = e.now
	s.pktsIn++
	s.bytesIn += uint64(len(p))
	fastRewrite(p, proto, 16, 2, s.intIP, s.intPort)
	e.pkt = p
	return true
}
