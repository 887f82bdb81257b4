package nat

import (
	"github.com/passgate/passgate/pkg/packet"
)

func (e *Engine) outbound(b []byte) verdict {
	p := packet.IPv4(b)
	if err := p.Check(); err != packet.IPv4OK {
		return drop(ipv4Reason(err))
	}
	p = p[:p.TotalLen()]
	if p.HeaderLen() > packet.IPv4HeaderLen && sourceRouted(p) {
		return drop(ReasonSourceRoute)
	}
	src, dst := p.Src(), p.Dst()
	if dst == e.lanIP || dst == e.lanBcast || dst>>28 == 0xe || dst == 0xffffffff {
		e.pkt = p
		return verdict(Local)
	}
	if src&e.lanMask != e.lanNet || src == e.lanBcast || src == e.lanNet {
		return drop(ReasonSpoofedSource)
	}
	if dst&e.lanMask == e.lanNet {
		return drop(ReasonLANToLAN)
	}
	if isMartian(dst) {
		return drop(ReasonMartian)
	}
	if e.ext == 0 {
		return drop(ReasonNoWAN)
	}
	hairpin := dst == e.ext
	if hairpin && !e.cfg.Hairpin && !(p.Protocol() == packet.ProtoICMP) {
		return drop(ReasonHairpinDisabled)
	}
	if hairpin && p.Protocol() == packet.ProtoICMP && p.FragOffset() == 0 && len(p) >= p.HeaderLen()+packet.ICMPHeaderLen {
		// Of ICMP to the external address, the router answers echo and
		// translates errors about hairpinned packets; any other query
		// (timestamp) would leave the WAN port addressed to the router
		// itself.
		if typ := packet.ICMP(p[p.HeaderLen():]).Type(); typ != packet.ICMPEcho && !packet.IsError(typ) {
			return drop(ReasonICMPType)
		}
	}
	// The router's own packets (from self0, with its LAN address) are
	// originated here, not forwarded: no TTL check or decrement, as for
	// any host's own traffic.
	own := src == e.lanIP
	if p.TTL() <= 1 && !own {
		return e.icmpError(p, packet.ICMPTimeExceeded, 0, 0, e.lanIP)
	}
	mtu := e.cfg.WANMTU
	if hairpin {
		mtu = e.cfg.LANMTU
	}
	if len(p) > mtu && p.DF() {
		e.noteMTU(TooBig, p, false, mtu)
		return e.icmpError(p, packet.ICMPUnreachable, packet.ICMPCodeFragNeeded, uint16(mtu), e.lanIP)
	}
	if p.FragOffset() != 0 {
		return e.laterFragment(p, mtu)
	}
	if p.MF() {
		e.noteMTU(Fragmented, p, false, mtu)
	}
	var r verdict
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		r = e.outL4(p, hairpin)
	case packet.ProtoICMP:
		r = e.outICMP(p, hairpin)
	default:
		if hairpin {
			return drop(ReasonProtocol)
		}
		r = e.outOther(p)
	}
	return e.finish(p, r, mtu, src, dst, !own)
}

// outL4 translates an outbound TCP or UDP packet.
func (e *Engine) outL4(p packet.IPv4, hairpin bool) verdict {
	proto := p.Protocol()
	l4 := p[p.HeaderLen():]
	if (proto == packet.ProtoTCP && (len(l4) < packet.TCPHeaderLen || packet.TCP(l4).DataOffset() < packet.TCPHeaderLen)) ||
		(proto == packet.ProtoUDP && len(l4) < packet.UDPHeaderLen) {
		return drop(ReasonTruncated)
	}
	src, dst := p.Src(), p.Dst()
	sp, dp := packet.Ports(l4).Src(), packet.Ports(l4).Dst()
	var flags uint8
	if proto == packet.ProtoTCP {
		flags = packet.TCP(l4).Flags()
	} else if e.helper != nil && !hairpin && e.helper.ShareUDP(sp, dp) {
		return e.outShared(p, l4)
	}
	i := e.t.lookupOut(proto, src, sp, dst, dp)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		i = none
	}
	if i == none {
		if proto == packet.ProtoTCP && flags&packet.TCPRst != 0 {
			return e.outResetNoSession(p, l4, src, sp, hairpin)
		}
		// A SYN-ACK without a session answers a SYN that the filtering
		// behaviour let in: the connection was opened from the WAN, and is
		// treated as such (state.go, session.go).
		var fl uint8
		if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn|packet.TCPAck {
			fl = flagInbound
		}
		var r Reason
		if i, r = e.newSession(proto, src, sp, dst, dp, flags, fl); i == none {
			return e.refuse(p, r)
		}
	}
	s := e.t.s(i)
	if proto == packet.ProtoTCP {
		tcpOut(s, packet.TCP(l4), flags)
		if s.flags&flagOffBoth != 0 && s.state != stEstablished {
			e.endOffload(s)
		}
		if flags&packet.TCPSyn != 0 && e.mss != 0 {
			packet.TCP(l4).ClampMSS(e.mss)
		}
	}
	s.lastSeen = e.now
	s.pktsOut++
	s.bytesOut += uint64(len(p))
	rewriteEndpoint(p, l4, false, e.ext, s.extPort)
	if s.flags&flagHelper != 0 { // claimed TCP sessions only
		if v, r := e.helper.TCP(Outbound, e.flowOf(s), tcpStateOf(s.state), p, packet.TCP(l4), e.now); v != Forward {
			return verdict(v) | verdict(r)<<8
		}
	}
	if hairpin {
		r := e.inL4(p, true)
		if r == verdict(Forward) {
			r = verdict(Hairpin)
		}
		return r
	}
	return verdict(Forward)
}

// outResetNoSession handles a LAN host's RST for a connection the NAT has
// no session for. It answers a segment that the filtering behaviour let in
// through the host's mapping (a remote without a session with it): the RST
// goes out through that mapping, and creates no session (a RST opens
// nothing). Without a mapping it is dropped.
func (e *Engine) outResetNoSession(p packet.IPv4, l4 []byte, src uint32, sp uint16, hairpin bool) verdict {
	mi := e.t.lookupMapping(packet.ProtoTCP, src, sp)
	if mi == none {
		return drop(ReasonNoSession)
	}
	rewriteEndpoint(p, l4, false, e.ext, e.t.maps[mi].extPort)
	if hairpin {
		r := e.inL4(p, true)
		if r == verdict(Forward) {
			r = verdict(Hairpin)
		}
		return r
	}
	return verdict(Forward)
}

// refuse answers a packet that could not get a session: ICMP
// "communication administratively prohibited" (RFC 5508 REQ-8) when
// resources ran out, a plain drop otherwise. A TCP connection a rule
// rejects gets a TCP reset instead, as from the server it was for.
func (e *Engine) refuse(p packet.IPv4, r Reason) verdict {
	if r == ReasonFirewallReject && p.Protocol() == packet.ProtoTCP {
		if b := packet.PutTCPReset4(e.reply[:], p); b != nil {
			e.cnt.Drops[r]++
			e.pkt = b
			return verdict(Reply)
		}
	}
	switch r {
	case ReasonTableFull, ReasonHostLimit, ReasonPortsExhausted, ReasonFirewallReject:
		res := e.icmpError(p, packet.ICMPUnreachable, packet.ICMPCodeAdminProhibited, 0, e.lanIP)
		e.cnt.Drops[r]++ // the packet itself is dropped; the reply is counted as a reply
		return res
	}
	return drop(r)
}
