package nat

import (
	"github.com/passgate/passgate/pkg/packet"
)

func (e *Engine) inbound(b []byte) verdict {
	p := packet.IPv4(b)
	if err := p.Check(); err != packet.IPv4OK {
		return drop(ipv4Reason(err))
	}
	p = p[:p.TotalLen()]
	src, dst := p.Src(), p.Dst()
	if dst != e.ext || e.ext == 0 {
		return drop(ReasonNotForUs)
	}
	if isMartian(src) || src == e.ext {
		return drop(ReasonMartian)
	}
	// Ingress filtering: no WAN packet may claim a LAN source, the router's
	// own LAN address included.
	if src&e.lanMask == e.lanNet {
		return drop(ReasonLANSourceFromWAN)
	}
	if p.HeaderLen() > packet.IPv4HeaderLen && sourceRouted(p) {
		return drop(ReasonSourceRoute)
	}
	mtu := e.cfg.LANMTU
	if p.FragOffset() != 0 {
		if p.TTL() <= 1 {
			return drop(ReasonTTL)
		}
		return e.laterFragment(p, mtu)
	}
	if p.MF() {
		e.noteMTU(Fragmented, p, true, mtu)
	}
	var r verdict
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		r = e.inL4(p, false)
	case packet.ProtoICMP:
		if len(p) > mtu && p.DF() {
			return e.inICMPTooBig(p)
		}
		r = e.inICMP(p)
	default:
		r = e.inOther(p)
	}
	if r != verdict(Forward) {
		return r
	}
	// The router's duties apply to what is actually forwarded; checks that
	// need the packet as received ran on a copy of its header in inL4.
	return e.finish(p, r, mtu, src, dst, true)
}

// inICMPTooBig handles an inbound ICMP message larger than the LAN MTU with
// DF set. It is translated only to learn whether it would be forwarded (an
// echo request to the router is answered as usual; what matches nothing is
// dropped); if so, nothing is forwarded and "fragmentation needed" with the
// LAN MTU goes back to the sender, quoting the packet as it was received —
// the duty inDuties does for TCP and UDP. This path is rare: the copy of the
// quoted part lives here, off the per-packet path.
func (e *Engine) inICMPTooBig(p packet.IPv4) verdict {
	var orig [576 - packet.IPv4HeaderLen - packet.ICMPHeaderLen]byte
	n := copy(orig[:], p)
	if r := e.inICMP(p); r != verdict(Forward) {
		return r
	}
	return e.icmpError(packet.IPv4(orig[:n]), packet.ICMPUnreachable, packet.ICMPCodeFragNeeded, uint16(e.cfg.LANMTU), e.ext)
}

// inL4 translates an inbound TCP or UDP packet addressed to the external
// address (or, for hairpinning, an outbound one already source-translated).
func (e *Engine) inL4(p packet.IPv4, hairpin bool) verdict {
	proto := p.Protocol()
	l4 := p[p.HeaderLen():]
	if (proto == packet.ProtoTCP && (len(l4) < packet.TCPHeaderLen || packet.TCP(l4).DataOffset() < packet.TCPHeaderLen)) ||
		(proto == packet.ProtoUDP && len(l4) < packet.UDPHeaderLen) {
		return drop(ReasonTruncated)
	}
	src := p.Src()
	sp, dp := packet.Ports(l4).Src(), packet.Ports(l4).Dst()
	var flags uint8
	if proto == packet.ProtoTCP {
		flags = packet.TCP(l4).Flags()
	} else if e.helper != nil && !hairpin && e.helper.ShareUDP(sp, dp) {
		return e.inShared(p, l4)
	}
	i, head := e.t.lookupIn(proto, dp, src, sp)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		i, head = e.t.lookupIn(proto, dp, src, sp)
	}
	var intIP uint32
	var intPort uint16
	var claimed *session
	if i != none {
		s := e.t.s(i)
		if s.flags&flagHelper != 0 {
			claimed = s
		}
		if proto == packet.ProtoTCP {
			tcpIn(s, packet.TCP(l4), flags)
			if s.flags&flagOffBoth != 0 && s.state != stEstablished {
				e.endOffload(s)
			}
		}
		s.flags |= flagReplied
		s.lastSeen = e.now // inbound refresh: RFC 4787 REQ-6 allows it
		s.pktsIn++
		s.bytesIn += uint64(len(p))
		intIP, intPort = s.intIP, s.intPort
	} else {
		var r Reason
		intIP, intPort, r = e.admitInbound(p, proto, dp, src, sp, flags, head, hairpin)
		if r != ReasonNone {
			return drop(r)
		}
	}
	if !hairpin {
		if r := e.inDuties(p); r != verdict(Forward) {
			return r
		}
	}
	if proto == packet.ProtoTCP && flags&packet.TCPSyn != 0 && e.mss != 0 {
		packet.TCP(l4).ClampMSS(e.mss)
	}
	rewriteEndpoint(p, l4, true, intIP, intPort)
	if claimed != nil {
		if v, r := e.helper.TCP(Inbound, e.flowOf(claimed), tcpStateOf(claimed.state), p, packet.TCP(l4), e.now); v != Forward {
			return verdict(v) | verdict(r)<<8
		}
	}
	return verdict(Forward)
}

// admitInbound decides about an inbound packet that matches no session:
// a port forward or DMZ creates a session; an existing mapping admits it if
// the filtering behaviour allows (without creating state); anything else is
// dropped, and an unsolicited SYN is held per RFC 5382 REQ-4.
func (e *Engine) admitInbound(p packet.IPv4, proto uint8, dp uint16, src uint32, sp uint16, flags uint8, head uint32, hairpin bool) (uint32, uint16, Reason) {
	mi := e.t.mappingByExt(proto, dp)
	if mi != none {
		m := &e.t.maps[mi]
		if m.static {
			if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) != packet.TCPSyn {
				// Only a SYN opens a forwarded connection.
				return 0, 0, ReasonNoSession
			}
			if e.forwardBusy(proto, m.intIP, m.intPort, src, sp) {
				return 0, 0, ReasonNoSession
			}
			i, r := e.newSessionAt(proto, m.intIP, m.intPort, src, sp, flags, m.extPort)
			if i == none {
				return 0, 0, r
			}
			return m.intIP, m.intPort, ReasonNone
		}
		if !hairpin && e.dmz != 0 && m.intIP == e.dmz &&
			(proto != packet.ProtoTCP || flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn) {
			// The DMZ host gets all unsolicited inbound traffic: its
			// mappings (one remote's session on a DMZ port makes one) take
			// new remotes as a port without a mapping would.
			i, r := e.newSession(proto, m.intIP, m.intPort, src, sp, flags, flagInbound)
			if i == none {
				return 0, 0, r
			}
			return m.intIP, m.intPort, ReasonNone
		}
		// Hairpinned packets come from a LAN host: filtering protects
		// mappings from outside endpoints, not from the LAN itself, so they
		// pass whatever the filtering behaviour (LAN hosts reaching each
		// other through their public mappings, as STUN/ICE peers do).
		ok := hairpin
		switch e.cfg.Filtering {
		case EndpointIndependent:
			ok = true
		case AddressDependent:
			ok = ok || head != none
		case AddressPortDependent:
			ok = ok || (head != none && e.helper != nil && e.anyPortReply(proto, head))
		}
		if ok {
			return m.intIP, m.intPort, ReasonNone
		}
		if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn && !hairpin {
			e.pending.hold(e, p, dp, src, sp)
			return 0, 0, ReasonUnsolicitedSYN
		}
		return 0, 0, ReasonFiltered
	}
	if e.dmz != 0 && !hairpin {
		// The DMZ host gets what nothing else claims, on the same port. As
		// on a forward, only a SYN opens a TCP connection: a SYN-ACK or any
		// other segment answers nothing the DMZ host sent.
		if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) != packet.TCPSyn {
			return 0, 0, ReasonNoSession
		}
		i, r := e.newSessionAt(proto, e.dmz, dp, src, sp, flags, dp)
		if i == none {
			return 0, 0, r
		}
		return e.dmz, dp, ReasonNone
	}
	if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn && !hairpin {
		e.pending.hold(e, p, dp, src, sp)
		return 0, 0, ReasonUnsolicitedSYN
	}
	return 0, 0, ReasonNoMapping
}

// anyPortReply reports whether a session in the inbound chain starting at
// head is to a port whose servers may answer from another port.
func (e *Engine) anyPortReply(proto uint8, head uint32) bool {
	for i := head; i != none; {
		s := e.t.s(i)
		if e.helper.AnyPortReply(proto, s.remPort) {
			return true
		}
		i = s.inNext
	}
	return false
}
