package fw6

import "github.com/passgate/passgate/pkg/packet"

// The stateful firewall: RFC 6092 "simple security". Flows the LAN (or the
// router itself) opens are allowed and tracked; from the WAN only packets
// of tracked flows pass, plus what allow rules, inbound IPsec, inbound
// ping and transparent mode admit, and what the filtering behaviour admits
// to a LAN endpoint with live sessions.

// Well-known ports of the passthrough protocols.
const (
	portPPTP = 1723
	portL2TP = 1701
	portIKE  = 500
	portNATT = 4500
)

// outbound tracks a packet leaving through the WAN. fl is flagSelf for the
// router's own packets.
func (e *Engine) outbound(q *pkt, fl uint8) verdict {
	if !q.ok4 {
		return drop(ReasonTruncated)
	}
	proto := q.ch.Proto
	switch proto {
	case packet.ProtoICMPv6:
		return e.outICMP(q, fl)
	case packet.ProtoESP:
		if !e.cfg.Passthrough.IPsec {
			e.cnt.Blocked.IPsec++
			return drop(ReasonBlocked)
		}
	case packet.ProtoGRE:
		if !e.cfg.Passthrough.PPTP {
			e.cnt.Blocked.PPTP++
			return drop(ReasonBlocked)
		}
	}
	k := q.keyOut()
	i := e.find(&k)
	if i == none {
		if proto == packet.ProtoTCP {
			switch q.flags & (packet.TCPSyn | packet.TCPAck | packet.TCPRst) {
			case packet.TCPSyn | packet.TCPAck:
				// Answers a SYN the filtering behaviour admitted: the
				// connection was opened from the WAN (pkg/nat's rule).
				fl |= flagInbound
			default:
				if q.flags&packet.TCPRst != 0 {
					// A reset opens nothing; it answers a segment that was
					// admitted without a session, or none at all.
					return vForward
				}
			}
		}
		if e.blocked(proto, q.dp) {
			return drop(ReasonBlocked)
		}
		var r Reason
		if i, r = e.create(&k, initialState(proto, q.flags, fl&flagInbound != 0), fl); i == none {
			return e.refuse(q, fl, r)
		}
	}
	s := e.t.s(i)
	if proto == packet.ProtoTCP {
		tcpOut(s, packet.TCP(q.l4), q.flags)
		if q.flags&packet.TCPSyn != 0 && e.mss != 0 {
			packet.TCP(q.l4).ClampMSS(e.mss)
		}
		if s.flags&flagPPTP != 0 {
			e.pptpGRE(s)
		}
	}
	s.lastSeen = e.now // REC-16: outbound refreshes
	s.pktsOut++
	s.bytesOut += uint64(len(q.p))
	return vForward
}

// refuse answers a packet that could not get a session for lack of room:
// "administratively prohibited" tells the LAN host at once (as pkg/nat
// does, RFC 5508 REQ-8); a TCP connection a rule rejects gets a TCP
// reset instead, as from the server it was for. The router's own packets
// are just dropped.
func (e *Engine) refuse(q *pkt, fl uint8, r Reason) verdict {
	if fl&flagSelf != 0 || r == ReasonFirewall {
		return drop(r) // the router's own, or a rule's silent drop
	}
	if r == ReasonFirewallReject && q.ch.Proto == packet.ProtoTCP && !q.ch.LaterFragment() {
		if b := packet.PutTCPReset6(e.reply[:], q.p, q.ch.Offset); b != nil {
			e.pkt = b
			return verdict(Reply) | verdict(r)<<8
		}
	}
	return e.icmpError(q, FromLAN, packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, 0, r)
}

// outICMP handles outbound ICMPv6 (RFC 4890 §4.3): errors pass, echo is
// tracked by identifier, the link-local and policy types are not
// forwarded.
func (e *Engine) outICMP(q *pkt, fl uint8) verdict {
	typ := q.l4[0]
	switch {
	case packet.ICMPv6IsError(typ):
		// Errors about packets the host received (RFC 4890 §4.3.1). They
		// open nothing.
		return vForward
	case typ == packet.ICMPv6EchoRequest:
		k := key{proto: packet.ProtoICMPv6, lan: q.src, lport: echoID(q.l4), rem: q.dst}
		i := e.find(&k)
		if i == none {
			var r Reason
			if i, r = e.create(&k, stICMP, fl); i == none {
				return e.refuse(q, fl, r)
			}
		}
		e.touchOut(q, e.t.s(i))
		return vForward
	case typ == packet.ICMPv6EchoReply:
		if fl&flagSelf != 0 {
			return vForward // the router answering a ping
		}
		// A LAN host answering an echo request that was admitted.
		k := key{proto: packet.ProtoICMPv6, lan: q.src, lport: echoID(q.l4), rem: q.dst}
		if i := e.find(&k); i != none {
			e.touchOut(q, e.t.s(i))
			return vForward
		}
		return drop(ReasonNoSession)
	case typ >= 144 && typ <= 147:
		// Mobile IPv6 prefix and home agent discovery (RFC 4890 §4.3.2).
		return vForward
	}
	// Neighbour discovery, MLD, router renumbering, node information,
	// experimental and unallocated types (RFC 4890 §4.3.3–§4.3.5).
	return drop(ReasonICMPType)
}

func (e *Engine) touchOut(q *pkt, s *session) {
	s.lastSeen = e.now
	s.pktsOut++
	s.bytesOut += uint64(len(q.p))
}

// touchIn updates a session for an inbound packet it matched: TCP state,
// the replied flag, counters, and the idle timer (REC-16 allows it).
func (e *Engine) touchIn(q *pkt, s *session) {
	if s.proto == packet.ProtoTCP {
		tcpIn(s, packet.TCP(q.l4), q.flags)
		if s.flags&flagPPTP != 0 {
			e.pptpGRE(s)
		}
	}
	s.flags |= flagReplied
	s.lastSeen = e.now
	s.pktsIn++
	s.bytesIn += uint64(len(q.p))
}

// admission is a session the firewall decided to create for an inbound
// packet, once the forwarding duties let the packet through.
type admission struct {
	create bool
	k      key
	state  uint8
	flags  uint8
}

func refused(r Reason) (uint32, verdict) { return none, drop(r) }

// admit records that the packet being processed opens a session from the
// WAN and lets it through.
func (e *Engine) admit(k key, st, fl uint8) (uint32, verdict) {
	e.adm = admission{create: true, k: k, state: st, flags: fl | flagInbound}
	return none, vForward
}

// inbound is the firewall for a WAN packet to a LAN host. It returns
// vForward to let it through (after the forwarding duties) with the session
// it matched, or none; a session to create is in e.adm.
func (e *Engine) inbound(q *pkt) (uint32, verdict) {
	if !q.ok4 {
		return refused(ReasonTruncated)
	}
	proto := q.ch.Proto
	pt := &e.cfg.Passthrough
	switch proto {
	case packet.ProtoICMPv6:
		return e.inICMP(q)
	case packet.ProtoESP:
		if !pt.IPsec {
			e.cnt.Blocked.IPsec++
			return refused(ReasonBlocked)
		}
	case packet.ProtoGRE:
		if !pt.PPTP {
			e.cnt.Blocked.PPTP++
			return refused(ReasonBlocked)
		}
	}
	k := q.keyIn()
	if i := e.find(&k); i != none {
		return i, vForward
	}
	// Admission of a new flow from the WAN: evaluated once, at creation.
	if !hasPorts(proto) {
		switch {
		case proto == packet.ProtoESP && e.cfg.InboundIPsec:
			return e.admit(k, stOther, 0) // RFC 6092 REC-22
		case proto == packet.ProtoHIP && e.cfg.InboundHIP:
			return e.admit(k, stOther, 0) // REC-26
		case e.cfg.Transparent:
			return e.admit(k, initialState(proto, 0, true), flagTransparent)
		}
		return refused(ReasonNoSession)
	}
	syn := proto != packet.ProtoTCP || q.flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn
	if syn && e.allowed(proto, q.dst, q.dp) {
		if e.blocked(proto, q.dp) {
			return refused(ReasonBlocked)
		}
		return e.admit(k, initialState(proto, q.flags, true), flagRule)
	}
	if proto == packet.ProtoUDP && (q.dp == portIKE || q.dp == portNATT) && e.cfg.InboundIPsec {
		if !pt.IPsec {
			e.cnt.Blocked.IPsec++
			return refused(ReasonBlocked)
		}
		return e.admit(k, stUDP, 0) // RFC 6092 REC-24
	}
	if e.cfg.Transparent {
		if !syn {
			return none, vForward // a TCP segment of a connection nobody saw open
		}
		return e.admit(k, initialState(proto, q.flags, true), flagTransparent)
	}
	if e.filterAdmits(proto, q.dst, q.dp, q.src) {
		// The filtering behaviour (REC-11, REC-17, REC-33): the LAN
		// endpoint has sessions, with this remote address under
		// address-dependent filtering. Nothing is created: the LAN host's
		// answer opens a session as any outbound packet does.
		return none, vForward
	}
	if (proto == packet.ProtoTCP && syn) || (proto == packet.ProtoSCTP && sctpInit(q.l4)) {
		e.pending.hold(e, q) // REC-34, REC-39
		return refused(ReasonUnsolicitedSYN)
	}
	return refused(ReasonNoSession)
}

// filterAdmits reports whether the filtering behaviour admits an inbound
// packet of proto from rem to lan:lport: a live session of that LAN
// endpoint (with rem, under address-dependent filtering). Expired sessions
// the sweep has not reached yet are removed on the way, at most a few per
// packet; past that the packet is refused.
func (e *Engine) filterAdmits(proto uint8, lan addr, lport uint16, rem addr) bool {
	for range 8 {
		_, head := e.t.fslot(proto, lan, lport, rem)
		if head == none {
			return false
		}
		if !e.expired(e.t.s(head)) {
			return true
		}
		e.remove(head)
		e.cnt.SessionsExpired++
	}
	return false
}

// sctpInit reports whether an SCTP packet's first chunk is an INIT (RFC
// 9260 §3: a 12-byte common header, then chunks; INIT is type 1).
func sctpInit(l4 []byte) bool { return len(l4) > 12 && l4[12] == 1 }

// inICMP filters inbound ICMPv6 to a LAN host (RFC 4890 §4.3, RFC 6092
// REC-10): errors about tracked flows, echo replies of tracked echo, echo
// requests when InboundPing is on; nothing else.
func (e *Engine) inICMP(q *pkt) (uint32, verdict) {
	typ := q.l4[0]
	switch {
	case packet.ICMPv6IsError(typ):
		if _, r := e.matchError(q); r != ReasonNone {
			return refused(r)
		}
		return none, vForward // an error never refreshes or ends a flow (REC-19, REC-37)
	case typ == packet.ICMPv6EchoRequest || typ == packet.ICMPv6EchoReply:
		k := key{proto: packet.ProtoICMPv6, lan: q.dst, lport: echoID(q.l4), rem: q.src}
		if i := e.find(&k); i != none {
			return i, vForward
		}
		if typ == packet.ICMPv6EchoRequest {
			switch {
			case e.cfg.InboundPing:
				return e.admit(k, stICMP, 0)
			case e.cfg.Transparent:
				return e.admit(k, stICMP, flagTransparent)
			}
		}
		return refused(ReasonNoSession)
	}
	return refused(ReasonICMPType)
}

// matchError finds the session an ICMPv6 error from the WAN is about: the
// packet it quotes was sent by the error's destination (a LAN host or the
// router) and belongs to a tracked flow (RFC 6092 REC-10, REC-18, REC-23,
// REC-36). Only the quoted headers are read; nothing is changed.
func (e *Engine) matchError(q *pkt) (uint32, Reason) {
	c := q.l4
	if len(c) < packet.ICMPv6HeaderLen+packet.IPv6HeaderLen {
		return none, ReasonICMPBad
	}
	emb := packet.IPv6(c[packet.ICMPv6HeaderLen:])
	if emb[0]>>4 != 6 {
		return none, ReasonICMPBad
	}
	if load(emb[8:24]) != q.dst {
		return none, ReasonICMPNoMatch
	}
	ch, err := emb.Walk()
	if err != packet.ChainOK && err != packet.ChainFragmentIncomplete {
		return none, ReasonICMPBad
	}
	if ch.LaterFragment() {
		return none, ReasonICMPNoMatch
	}
	l4 := emb[ch.Offset:]
	k := key{proto: ch.Proto, lan: q.dst, rem: load(emb[24:40])}
	switch {
	case hasPorts(k.proto):
		if len(l4) < 4 {
			return none, ReasonICMPBad
		}
		k.lport, k.rport = packet.Ports(l4).Src(), packet.Ports(l4).Dst()
	case k.proto == packet.ProtoICMPv6:
		if len(l4) < packet.ICMPv6HeaderLen || (l4[0] != packet.ICMPv6EchoRequest && l4[0] != packet.ICMPv6EchoReply) {
			return none, ReasonICMPNoMatch // never about an error
		}
		k.lport = echoID(l4)
	}
	i := e.t.lookup(&k)
	if i == none || e.expired(e.t.s(i)) {
		return none, ReasonICMPNoMatch
	}
	return i, ReasonNone
}

// allowed reports whether an allow rule admits a new inbound flow of proto
// to host:port.
func (e *Engine) allowed(proto uint8, host addr, port uint16) bool {
	for i := range e.rule {
		r := &e.rule[i]
		if r.proto == proto && r.host == host && port >= r.lo && port <= r.hi {
			return true
		}
	}
	return false
}

// blocked reports (and counts) whether a passthrough switch forbids a new
// flow of proto with the protocol's well-known port (the remote's for
// flows the LAN opens, the LAN host's for flows from the WAN).
func (e *Engine) blocked(proto uint8, port uint16) bool {
	pt := &e.cfg.Passthrough
	switch {
	case proto == packet.ProtoTCP && port == portPPTP && !pt.PPTP:
		e.cnt.Blocked.PPTP++
		return true
	case proto == packet.ProtoUDP && port == portL2TP && !pt.L2TP:
		e.cnt.Blocked.L2TP++
		return true
	case proto == packet.ProtoUDP && (port == portIKE || port == portNATT) && !pt.IPsec:
		e.cnt.Blocked.IPsec++
		return true
	}
	return false
}

// pptpGRE keeps the GRE session of an established PPTP control connection
// (TCP 1723) alive: GRE is tracked by address pair (no call IDs to map
// without NAT), and the server may send its first GRE packet before the
// client does.
func (e *Engine) pptpGRE(s *session) {
	if s.state != stEstablished || !e.cfg.Passthrough.PPTP {
		return
	}
	k := key{proto: packet.ProtoGRE, lan: s.lan, rem: s.rem}
	if i := e.find(&k); i != none {
		e.t.s(i).lastSeen = e.now
		return
	}
	if i, _ := e.create(&k, stOther, s.flags&(flagSelf|flagReplied)); i != none {
		e.t.s(i).pktsOut = 1 // confirmed by the control connection
	}
}
