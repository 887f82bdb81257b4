package nat

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// outICMP translates an outbound ICMP query or error.
func (e *Engine) outICMP(p packet.IPv4, hairpin bool) verdict {
	c := packet.ICMP(p[p.HeaderLen():])
	if len(c) < packet.ICMPHeaderLen {
		return drop(ReasonTruncated)
	}
	typ := c.Type()
	switch {
	case packet.IsError(typ):
		return e.outICMPError(p, c, hairpin)
	case hairpin && typ == packet.ICMPEcho:
		// A LAN host pinging the external address pings the router.
		return e.echoReply(p, c)
	case !packet.IsQuery(typ):
		return drop(ReasonICMPType)
	}
	src, dst, id := p.Src(), p.Dst(), c.ID()
	i := e.t.lookupOut(packet.ProtoICMP, src, id, dst, 0)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		i = none
	}
	if i == none {
		if !packet.IsQueryRequest(typ) {
			return drop(ReasonNoSession)
		}
		var r Reason
		if i, r = e.newSession(packet.ProtoICMP, src, id, dst, 0, 0, 0); i == none {
			return e.refuse(p, r)
		}
	}
	s := e.t.s(i)
	s.lastSeen = e.now
	s.pktsOut++
	s.bytesOut += uint64(len(p))
	p.SetSrc(e.ext)
	c.SetID(s.extPort)
	return verdict(Forward)
}

// inICMP translates an inbound ICMP query reply or error, and answers echo
// requests to the external address.
func (e *Engine) inICMP(p packet.IPv4) verdict {
	c := packet.ICMP(p[p.HeaderLen():])
	if len(c) < packet.ICMPHeaderLen {
		return drop(ReasonTruncated)
	}
	typ := c.Type()
	if typ == packet.ICMPEcho {
		if e.cfg.IgnorePing || p.MF() {
			return drop(ReasonICMPType)
		}
		return e.echoReply(p, c)
	}
	if p.TTL() <= 1 {
		if packet.IsError(typ) {
			return drop(ReasonTTL)
		}
		return e.icmpError(p, packet.ICMPTimeExceeded, 0, 0, e.ext)
	}
	if packet.IsError(typ) {
		return e.inICMPError(p, c)
	}
	if !packet.IsQuery(typ) || packet.IsQueryRequest(typ) {
		return drop(ReasonICMPType)
	}
	i, _ := e.t.lookupIn(packet.ProtoICMP, c.ID(), p.Src(), 0)
	if i == none || e.expired(e.t.s(i)) {
		return drop(ReasonNoSession)
	}
	s := e.t.s(i)
	s.flags |= flagReplied
	s.lastSeen = e.now
	s.pktsIn++
	s.bytesIn += uint64(len(p))
	p.SetDst(s.intIP)
	c.SetID(s.intPort)
	return verdict(Forward)
}

// echoReply turns an echo request to the router into its reply, in place.
func (e *Engine) echoReply(p packet.IPv4, c packet.ICMP) verdict {
	if packet.Checksum(c) != 0 {
		return drop(ReasonICMPBad)
	}
	src, dst := p.Src(), p.Dst()
	p.SetSrc(dst)
	p.SetDst(src)
	p.SetTTL(64)
	c.SetType(packet.ICMPEchoReply)
	e.pkt = p
	return verdict(Reply)
}

// embedded validates the packet embedded in an ICMP error (RFC 5508
// REQ-3: drop on a bad ICMP checksum or a bad embedded IP header checksum;
// do not validate the embedded transport checksum). It returns the
// embedded IPv4 header and the bytes after it (at least 8).
func embedded(c packet.ICMP) (packet.IPv4, []byte, bool) {
	if len(c) < packet.ICMPHeaderLen+packet.IPv4HeaderLen+8 || packet.Checksum(c) != 0 {
		return nil, nil, false
	}
	emb := packet.IPv4(c[packet.ICMPHeaderLen:])
	if emb.Version() != 4 {
		return nil, nil, false
	}
	hl := emb.HeaderLen()
	if hl < packet.IPv4HeaderLen || len(emb) < hl+8 || packet.Checksum(emb[:hl]) != 0 || emb.FragOffset() != 0 {
		return nil, nil, false
	}
	return emb, emb[hl:], true
}

// rewriter writes fields inside an ICMP message and keeps the ICMP
// checksum in step (RFC 1624), so the embedded header can be edited field
// by field, checksums included.
type rewriter struct{ c packet.ICMP }

func (w rewriter) put16(off int, v uint16) {
	old := binary.BigEndian.Uint16(w.c[off:])
	binary.BigEndian.PutUint16(w.c[off:], v)
	w.c.SetChecksum(packet.Update16(w.c.Checksum(), old, v))
}

func (w rewriter) put32(off int, v uint32) {
	old := binary.BigEndian.Uint32(w.c[off:])
	binary.BigEndian.PutUint32(w.c[off:], v)
	w.c.SetChecksum(packet.Update32(w.c.Checksum(), old, v))
}

// rewriteEmbedded changes the embedded packet's source (src) or
// destination address to ip and that side's port (for an embedded ICMP
// query, its identifier) to port, fixing the embedded IP, transport and
// outer ICMP checksums. The rewriter works on offsets inside c so that
// every write keeps the ICMP checksum in step.
func rewriteEmbedded(c packet.ICMP, emb packet.IPv4, l4 []byte, src bool, ip uint32, port uint16) {
	w := rewriter{c}
	base := packet.ICMPHeaderLen
	addrOff, portOff := 16, 2 // in the IPv4 header, in the transport header
	oldIP, oldPort := emb.Dst(), packet.Ports(l4).Dst()
	if src {
		addrOff, portOff = 12, 0
		oldIP, oldPort = emb.Src(), packet.Ports(l4).Src()
	}
	w.put32(base+addrOff, ip)
	w.put16(base+10, packet.Update32(emb.Checksum(), oldIP, ip))
	l4base := base + emb.HeaderLen()
	switch emb.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		w.put16(l4base+portOff, port)
		// Only 8 bytes of the transport header may be quoted: the TCP
		// checksum is then missing and left alone.
		if emb.Protocol() == packet.ProtoUDP {
			w.put16(l4base+6, packet.UpdateUDPAddrPort(packet.UDP(l4).Checksum(), oldIP, ip, oldPort, port))
		} else if len(l4) >= packet.TCPHeaderLen-2 {
			w.put16(l4base+16, packet.UpdateAddrPort(packet.TCP(l4).Checksum(), oldIP, ip, oldPort, port))
		}
	case packet.ProtoICMP:
		q := packet.ICMP(l4)
		oldID := q.ID()
		w.put16(l4base+4, port)
		w.put16(l4base+2, packet.Update16(q.Checksum(), oldID, port))
	}
}

// embeddedPorts returns the embedded packet's (source, destination) ports,
// or for an embedded ICMP query its identifier as both.
func embeddedPorts(emb packet.IPv4, l4 []byte) (sp, dp uint16, ok bool) {
	switch emb.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		return packet.Ports(l4).Src(), packet.Ports(l4).Dst(), true
	case packet.ProtoICMP:
		q := packet.ICMP(l4)
		if !packet.IsQuery(q.Type()) {
			return 0, 0, false // never translate errors about errors
		}
		return q.ID(), q.ID(), true
	}
	return 0, 0, false
}

// inICMPError translates an ICMP error from the WAN about a packet the NAT
// sent out: the embedded source is the external address and port. It never
// refreshes or removes the session (RFC 5508 REQ-6, RFC 5382 REQ-10).
func (e *Engine) inICMPError(p packet.IPv4, c packet.ICMP) verdict {
	emb, l4, ok := embedded(c)
	if !ok {
		return drop(ReasonICMPBad)
	}
	intIP, intPort, ok := e.matchInError(emb, l4)
	if !ok {
		return drop(ReasonICMPNoMatch)
	}
	p.SetDst(intIP)
	rewriteEmbedded(c, emb, l4, true, intIP, intPort)
	return verdict(Forward)
}

func (e *Engine) matchInError(emb packet.IPv4, l4 []byte) (uint32, uint16, bool) {
	if emb.Src() != e.ext {
		return 0, 0, false
	}
	if proto := emb.Protocol(); proto == packet.ProtoGRE || proto == packet.ProtoESP {
		// No ports: the helper knows the call (by the server's Call ID)
		// or the SA (by its outbound SPI). Only the address changes.
		if e.helper == nil {
			return 0, 0, false
		}
		lan, ok := e.helper.InError(proto, emb.Dst(), l4)
		return lan, 0, ok
	}
	sp, dp, ok := embeddedPorts(emb, l4)
	if !ok {
		return 0, 0, false
	}
	proto := emb.Protocol()
	rport := dp
	if proto == packet.ProtoICMP {
		rport = 0
	}
	if i, _ := e.t.lookupIn(proto, sp, emb.Dst(), rport); i != none && !e.expired(e.t.s(i)) {
		s := e.t.s(i)
		return s.intIP, s.intPort, true
	}
	// RFC 5508 REQ-4 speaks of mappings: an error about a packet of a live
	// mapping is translated even if that remote has no session.
	if mi := e.t.mappingByExt(proto, sp); mi != none {
		m := &e.t.maps[mi]
		return m.intIP, m.intPort, true
	}
	return 0, 0, false
}

// outICMPError translates an ICMP error sent by a LAN host about a packet it
// received through the NAT: the embedded destination is the LAN host.
func (e *Engine) outICMPError(p packet.IPv4, c packet.ICMP, hairpin bool) verdict {
	emb, l4, ok := embedded(c)
	if !ok {
		return drop(ReasonICMPBad)
	}
	if emb.Dst() != p.Src() {
		return drop(ReasonICMPNoMatch)
	}
	sp, dp, ok := embeddedPorts(emb, l4)
	if !ok {
		return drop(ReasonICMPNoMatch)
	}
	proto := emb.Protocol()
	if proto == packet.ProtoICMP {
		sp = 0
	}
	var ext uint16
	if i := e.t.lookupOut(proto, emb.Dst(), dp, emb.Src(), sp); i != none && !e.expired(e.t.s(i)) {
		ext = e.t.s(i).extPort
	} else if mi := e.t.lookupMapping(proto, emb.Dst(), dp); mi != none {
		// An error about a packet admitted by the filtering behaviour
		// (no session with that remote): the mapping still translates it.
		ext = e.t.maps[mi].extPort
	} else {
		return drop(ReasonICMPNoMatch)
	}
	p.SetSrc(e.ext)
	rewriteEmbedded(c, emb, l4, false, e.ext, ext)
	if hairpin {
		// The error goes back to a LAN host whose packet was hairpinned:
		// now treat it as arriving at the external address.
		intIP, intPort, ok := e.matchInError(emb, l4)
		if !ok {
			return drop(ReasonICMPNoMatch)
		}
		p.SetDst(intIP)
		rewriteEmbedded(c, emb, l4, true, intIP, intPort)
		return verdict(Hairpin)
	}
	return verdict(Forward)
}

// icmpError builds an ICMP error from the router (address from) about the
// packet orig as it was received, into the engine's reply buffer. No error
// is sent about an ICMP error, a non-first fragment, or a packet from a
// zero, broadcast or multicast source (RFC 1812 §4.3.2.7).
func (e *Engine) icmpError(orig packet.IPv4, typ, code uint8, mtu uint16, from uint32) verdict {
	r := ReasonTTL
	if typ == packet.ICMPUnreachable && code == packet.ICMPCodeFragNeeded {
		r = ReasonNone
	}
	src := orig.Src()
	if orig.FragOffset() != 0 || isMartian(src) || src == e.lanBcast {
		return drop(r)
	}
	hl := orig.HeaderLen()
	if orig.Protocol() == packet.ProtoICMP && len(orig) > hl && !packet.IsQuery(packet.ICMP(orig[hl:]).Type()) {
		return drop(r)
	}
	e.ipID++
	b := buildICMPError(e.reply[:], orig, typ, code, mtu, from, e.ipID)
	e.cnt.ICMPErrorsSent++
	e.pkt = b
	return verdict(Reply)
}

// buildICMPError writes an ICMP error about orig into buf and returns it:
// IPv4 header from "from" to orig's source, as much of orig as fits in 576
// bytes (RFC 1812 §4.3.2.3). buf holds the headers and what is quoted (576
// bytes always suffice).
func buildICMPError(buf []byte, orig packet.IPv4, typ, code uint8, mtu uint16, from uint32, id uint16) []byte {
	n := min(len(orig), 576-packet.IPv4HeaderLen-packet.ICMPHeaderLen)
	b := buf[:packet.IPv4HeaderLen+packet.ICMPHeaderLen+n]
	// TOS 0xc0: internetwork control precedence, as routers send errors.
	packet.IPv4(b).PutHeader(packet.IPv4Header{TOS: 0xc0, ID: id, TTL: 64, Protocol: packet.ProtoICMP, Src: from, Dst: orig.Src()})
	packet.ICMP(b[packet.IPv4HeaderLen:]).PutError(typ, code, mtu, orig[:n])
	return b
}
