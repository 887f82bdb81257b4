package fw6

import "github.com/passgate/passgate/pkg/packet"

// fromLAN handles a packet from a LAN host: to the router itself, or
// forwarded to the WAN through the outbound side of the firewall.
func (e *Engine) fromLAN(b []byte) verdict {
	var q pkt
	if v, ok := e.parse(b, &q, FromLAN); !ok {
		return v
	}
	dc := classify(q.dst)
	switch dc {
	case clGlobal, clULA:
	case clMulticast:
		// Link-scope groups (all-routers, solicited-node, MLD, DHCPv6
		// servers) are the router's to hear; nothing multicast is routed
		// (RFC 6092 REC-2: no scope is forwarded).
		if mcastScope(q.dst) != scopeLink {
			return drop(ReasonMulticast)
		}
		if sc := classify(q.src); sc != clUnspecified && sc != clLinkLocal && !e.lan.contains(q.src) {
			return drop(ReasonMartianSource)
		}
		return e.toSelf(&q)
	case clLinkLocal:
		if !e.rLAN.contains(q.dst) {
			return drop(ReasonLinkLocal)
		}
		if sc := classify(q.src); sc != clUnspecified && sc != clLinkLocal && !e.lan.contains(q.src) {
			return drop(ReasonMartianSource)
		}
		return e.toSelf(&q)
	default:
		return drop(ReasonMartianDest)
	}
	if !e.lan.contains(q.src) {
		switch sc := classify(q.src); sc {
		case clLinkLocal:
			if e.isRouter(q.dst) {
				return e.toSelf(&q)
			}
			return drop(ReasonLinkLocal) // RFC 4291 §2.5.6
		case clGlobal, clULA:
			if e.lanGlobal == 0 {
				return drop(ReasonNoPrefix) // RFC 7084 G-3
			}
			// RFC 6092 REC-5; RFC 7084 L-14: tell the host its source (a
			// prefix that was withdrawn, or a spoofed one) is refused.
			return e.icmpError(&q, FromLAN, packet.ICMPv6DestUnreachable, packet.ICMPv6SourcePolicy, 0, ReasonSpoofedSource)
		default:
			return drop(ReasonMartianSource) // REC-1, REC-3
		}
	}
	if e.rUnicast.contains(q.src) {
		// The router's own address from a LAN host is a forgery (the
		// router's own packets come from self0, FromSelf): it would
		// reset or ride the router's own connections and spend its
		// quota. No error goes back: it would be addressed to the router.
		return drop(ReasonSpoofedSource)
	}
	if e.rUnicast.contains(q.dst) {
		return e.toSelf(&q)
	}
	if dc == clULA || q.src.hi>>57 == 0xfc>>1 {
		// RFC 4193 §4.3, RFC 6092 REC-7, RFC 7084 ULA-4: the router is the
		// site border; the source learns why.
		if e.lan.contains(q.dst) {
			return drop(ReasonLANToLAN)
		}
		code := uint8(packet.ICMPv6SourcePolicy)
		if dc == clULA {
			code = packet.ICMPv6AdminProhibited
		}
		return e.icmpError(&q, FromLAN, packet.ICMPv6DestUnreachable, code, 0, ReasonULA)
	}
	if e.lan.contains(q.dst) {
		return drop(ReasonLANToLAN)
	}
	if e.delegated.contains(q.dst) {
		// RFC 7084 WPD-5: the unassigned part of the delegated prefix is
		// a null route, never sent back to the WAN (a forwarding loop).
		return e.icmpError(&q, FromLAN, packet.ICMPv6DestUnreachable, packet.ICMPv6NoRoute, 0, ReasonUnassigned)
	}
	if v, bad := e.badChain(&q, FromLAN); bad {
		return v
	}
	if q.ch.AH && !e.cfg.Passthrough.IPsec {
		e.cnt.Blocked.IPsec++
		return drop(ReasonBlocked)
	}
	if q.p[7] <= 1 {
		return e.icmpError(&q, FromLAN, packet.ICMPv6TimeExceeded, packet.ICMPv6HopLimitExceeded, 0, ReasonHopLimit)
	}
	if len(q.p) > e.cfg.WANMTU {
		return e.icmpError(&q, FromLAN, packet.ICMPv6PacketTooBig, 0, uint32(e.cfg.WANMTU), ReasonTooBig)
	}
	if q.ch.LaterFragment() {
		return e.laterFragment(&q, true)
	}
	v := e.outbound(&q, 0)
	if v == vForward {
		q.p[7]--
		e.forwarded(&q, vForward)
	}
	return v
}

// fromSelf handles a packet the router's own stack sends toward the WAN:
// originated, not forwarded (no hop limit decrement), tracked so that the
// answers reach the router and nothing else from the WAN does.
func (e *Engine) fromSelf(b []byte) verdict {
	var q pkt
	if v, ok := e.parse(b, &q, FromSelf); !ok {
		return v
	}
	if !e.isRouter(q.src) {
		return drop(ReasonSpoofedSource)
	}
	dc := classify(q.dst)
	switch dc {
	case clGlobal, clULA:
	case clMulticast:
		if mcastScope(q.dst) != scopeLink {
			return drop(ReasonMulticast)
		}
		e.pkt = q.p // the router's own link traffic on the WAN: ND, MLD, DHCPv6
		return vForward
	case clLinkLocal:
		e.pkt = q.p
		return vForward
	default:
		return drop(ReasonMartianDest)
	}
	switch {
	case classify(q.src) == clLinkLocal:
		return drop(ReasonLinkLocal)
	case dc == clULA || q.src.hi>>57 == 0xfc>>1:
		return drop(ReasonULA)
	case e.lan.contains(q.dst):
		return drop(ReasonLANToLAN) // the router reaches its LAN directly
	case e.delegated.contains(q.dst):
		return drop(ReasonUnassigned)
	}
	if v, bad := e.badChain(&q, FromSelf); bad {
		return v
	}
	if q.ch.AH && !e.cfg.Passthrough.IPsec {
		e.cnt.Blocked.IPsec++
		return drop(ReasonBlocked)
	}
	if len(q.p) > e.cfg.WANMTU {
		return e.icmpError(&q, FromSelf, packet.ICMPv6PacketTooBig, 0, uint32(e.cfg.WANMTU), ReasonTooBig)
	}
	if q.ch.LaterFragment() {
		return e.laterFragment(&q, false)
	}
	v := e.outbound(&q, flagSelf)
	if v == vForward {
		e.forwarded(&q, vForward)
	}
	return v
}

// fromWAN handles a packet from the WAN: to a LAN host through the
// inbound side of the firewall, or to the router itself.
func (e *Engine) fromWAN(b []byte) verdict {
	var q pkt
	if v, ok := e.parse(b, &q, FromWAN); !ok {
		return v
	}
	dc := classify(q.dst)
	switch dc {
	case clGlobal, clULA:
	case clMulticast:
		if mcastScope(q.dst) != scopeLink {
			return drop(ReasonMulticast)
		}
		return e.toSelfWAN(&q)
	case clLinkLocal:
		if !e.rWAN.contains(q.dst) {
			return drop(ReasonLinkLocal)
		}
		return e.toSelfWAN(&q)
	default:
		return drop(ReasonMartianDest)
	}
	sc := classify(q.src)
	switch sc {
	case clGlobal, clULA, clLinkLocal:
	default:
		return drop(ReasonMartianSource) // REC-1, REC-3
	}
	// Ingress filtering (RFC 6092 REC-6, RFC 7084 S-2): nothing from the
	// WAN may claim a source inside the delegated or LAN prefixes or the
	// router's own addresses.
	if e.lan.contains(q.src) || e.delegated.contains(q.src) || e.rOutside.contains(q.src) {
		return drop(ReasonLANSourceFromWAN)
	}
	if e.rUnicast.contains(q.dst) {
		return e.toSelfWAN(&q)
	}
	switch {
	case sc == clLinkLocal:
		return drop(ReasonLinkLocal)
	case sc == clULA || dc == clULA:
		return drop(ReasonULA) // REC-7, RFC 7084 ULA-4
	case !e.lan.contains(q.dst):
		if e.delegated.contains(q.dst) {
			return drop(ReasonUnassigned) // RFC 7084 WPD-5
		}
		return drop(ReasonNotForUs)
	}
	if v, bad := e.badChain(&q, FromWAN); bad {
		return v
	}
	if q.ch.AH && !e.cfg.Passthrough.IPsec {
		e.cnt.Blocked.IPsec++
		return drop(ReasonBlocked)
	}
	if q.ch.LaterFragment() {
		if q.p[7] <= 1 {
			return drop(ReasonHopLimit) // no error about a fragment the first one decides
		}
		return e.laterFragment(&q, true)
	}
	e.adm.create = false
	i, v := e.inbound(&q)
	if v != vForward {
		return v
	}
	// The router's duties apply to what the firewall lets through: an
	// unsolicited packet learns nothing about the router.
	if q.p[7] <= 1 {
		return e.icmpError(&q, FromWAN, packet.ICMPv6TimeExceeded, packet.ICMPv6HopLimitExceeded, 0, ReasonHopLimit)
	}
	if len(q.p) > e.cfg.LANMTU {
		return e.icmpError(&q, FromWAN, packet.ICMPv6PacketTooBig, 0, uint32(e.cfg.LANMTU), ReasonTooBig)
	}
	if e.adm.create {
		var r Reason
		if i, r = e.create(&e.adm.k, e.adm.state, e.adm.flags); i == none {
			return drop(r)
		}
	}
	if i != none {
		e.touchIn(&q, e.t.s(i))
	}
	if q.ch.Proto == packet.ProtoTCP && q.flags&packet.TCPSyn != 0 && e.mss != 0 {
		packet.TCP(q.l4).ClampMSS(e.mss)
	}
	q.p[7]--
	e.forwarded(&q, vForward)
	return vForward
}

// forwarded finishes a packet handed on: a first fragment leaves state
// for the rest of its datagram.
func (e *Engine) forwarded(q *pkt, v verdict) {
	e.pkt = q.p
	if q.ch.Fragmented() {
		e.frags.record(q.src, q.dst, q.ch.FragID, v, e.now)
	}
}

// laterFragment forwards (or hands to the router) a fragment other than
// the first when its first fragment went the same way; it carries no
// upper-layer header to filter on.
func (e *Engine) laterFragment(q *pkt, decHop bool) verdict {
	v, ok := e.frags.find(q.src, q.dst, q.ch.FragID, e.now)
	if !ok {
		return drop(ReasonFragment)
	}
	if decHop && v == vForward {
		q.p[7]--
	}
	e.cnt.FragmentsForwarded++
	e.pkt = q.p
	return v
}

// toSelf hands a LAN packet to the router's own stack. The LAN is trusted
// with the router's services; their own firewall is self0's business.
func (e *Engine) toSelf(q *pkt) verdict {
	e.pkt = q.p
	return vToSelf
}

// toSelfWAN decides about a WAN packet to one of the router's addresses or
// to a link-scope group: no port of the router is open to the WAN (RFC 6092
// REC-8, REC-9, REC-50). What reaches the router's stack is neighbour
// discovery and MLD from the link, echo requests (unless IgnorePing),
// DHCPv6 server messages to the client port, and the answers to flows the
// router opened (errors about them included).
func (e *Engine) toSelfWAN(q *pkt) verdict {
	sc := classify(q.src)
	switch {
	case sc == clMulticast || sc == clLoopback || sc == clForbidden:
		return drop(ReasonMartianSource)
	case e.lan.contains(q.src) || e.delegated.contains(q.src) || e.isRouter(q.src):
		return drop(ReasonLANSourceFromWAN)
	}
	if v, bad := e.badChain(q, FromWAN); bad {
		return v
	}
	if q.ch.LaterFragment() {
		return e.laterFragment(q, false)
	}
	multicast := classify(q.dst) == clMulticast
	switch proto := q.ch.Proto; {
	case !q.ok4:
		return drop(ReasonTruncated)
	case proto == packet.ProtoICMPv6:
		typ := q.l4[0]
		switch {
		case typ >= packet.ICMPv6RouterSolicit && typ <= packet.ICMPv6Redirect:
			// Neighbour discovery: on-link only, hop limit 255 (RFC 4861
			// §6.1, §7.1; RFC 4890 §4.4.1); ndp6 validates the rest.
			if q.p[7] != 255 || (sc == clUnspecified && typ != packet.ICMPv6NeighborSolicit) {
				return drop(ReasonICMPType)
			}
			return e.toSelf(q)
		case typ == packet.ICMPv6MLDQuery || typ == packet.ICMPv6MLDReport || typ == packet.ICMPv6MLDDone || typ == packet.ICMPv6MLDv2Report:
			if sc != clLinkLocal && sc != clUnspecified {
				return drop(ReasonICMPType) // MLD comes from link-local sources (RFC 3810 §5)
			}
			return e.toSelf(q)
		case sc == clUnspecified:
			return drop(ReasonMartianSource)
		case typ == packet.ICMPv6EchoRequest:
			if e.cfg.IgnorePing || multicast {
				return drop(ReasonICMPType)
			}
			return e.toSelf(q)
		case packet.ICMPv6IsError(typ):
			if _, r := e.matchError(q); r != ReasonNone {
				return drop(r)
			}
			return e.toSelf(q)
		case typ == packet.ICMPv6EchoReply:
			k := key{proto: packet.ProtoICMPv6, lan: q.dst, lport: echoID(q.l4), rem: q.src}
			if i := e.find(&k); i != none && !multicast {
				e.touchIn(q, e.t.s(i))
				return e.toSelf(q)
			}
			return drop(ReasonSelfClosed)
		}
		return drop(ReasonICMPType)
	case sc == clUnspecified || multicast:
		return drop(ReasonSelfClosed)
	case proto == packet.ProtoUDP && q.sp == 547 && q.dp == 546 && sc == clLinkLocal && classify(q.dst) == clLinkLocal:
		// DHCPv6 server or relay to the router's client (RFC 8415 §7.2).
		return e.toSelf(q)
	}
	k := q.keyIn()
	if i := e.find(&k); i != none && e.t.s(i).flags&flagSelf != 0 {
		e.touchIn(q, e.t.s(i))
		if q.ch.Proto == packet.ProtoTCP && q.flags&packet.TCPSyn != 0 && e.mss != 0 {
			packet.TCP(q.l4).ClampMSS(e.mss)
		}
		e.forwarded(q, vToSelf)
		return vToSelf
	}
	return drop(ReasonSelfClosed)
}

func echoID(l4 []byte) uint16 { return uint16(l4[4])<<8 | uint16(l4[5]) }

// keyOut is the session key of an outbound packet, keyIn of an inbound one.
func (q *pkt) keyOut() key {
	k := key{proto: q.ch.Proto, lan: q.src, rem: q.dst}
	if hasPorts(k.proto) {
		k.lport, k.rport = q.sp, q.dp
	}
	return k
}

func (q *pkt) keyIn() key {
	k := key{proto: q.ch.Proto, lan: q.dst, rem: q.src}
	if hasPorts(k.proto) {
		k.lport, k.rport = q.dp, q.sp
	}
	return k
}
