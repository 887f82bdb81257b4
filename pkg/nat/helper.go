package nat

import (
	"net/netip"

	"github.com/passgate/passgate/pkg/packet"
)

// Helper extends the engine with protocol-specific handling: the VPN
// passthrough (PPTP control ALG and GRE, ESP SPI learning, IKE port
// sharing, and the per-protocol switches). The engine calls it on its own
// goroutine; now is the engine's clock in seconds. A nil helper means plain
// NAPT: other IP protocols are dropped.
type Helper interface {
	// Blocked reports whether policy forbids a new outbound session of
	// proto to dport (a passthrough switch is off). The engine drops the
	// packet with ReasonBlocked.
	Blocked(proto uint8, dport uint16) bool

	// OutOther handles an outbound packet of an IP protocol the engine does
	// not translate (GRE, ESP). On Forward the engine rewrites the source
	// to the external address and does the forwarding duties.
	OutOther(p packet.IPv4, now uint32) (Verdict, Reason)
	// InOther is OutOther for inbound packets: on Forward the engine
	// delivers to the returned LAN address.
	InOther(p packet.IPv4, now uint32) (lan uint32, v Verdict, r Reason)
	// InError names the LAN host that sent the packet quoted in an ICMP
	// error from the WAN, for a protocol OutOther handles: remote is the
	// quoted packet's destination and l4 its first bytes (at least 8, so
	// GRE's Call ID and ESP's SPI are there). ok is false when no call or
	// SA owns it, or when more than one might (RFC 5508 REQ-4).
	InError(proto uint8, remote uint32, l4 []byte) (lan uint32, ok bool)
	// Unclaimed reports whether no LAN host has passthrough state with
	// remote for proto (no PPTP control connection or call, no ESP SA):
	// then a packet of proto the helper refused, to or from remote, is
	// nobody's and the engine gives it to the DMZ host.
	Unclaimed(proto uint8, remote uint32) bool

	// ClaimTCP reports whether new outbound TCP sessions to dport carry a
	// control protocol the helper must see (PPTP on 1723).
	ClaimTCP(dport uint16) bool
	// TCP sees every segment of a claimed session after translation (so
	// inbound segments are addressed to the LAN host) and may rewrite the
	// payload in place, keeping its length and fixing the TCP checksum.
	// state is the session's TCP state after this segment.
	TCP(dir Dir, f Flow, state TCPState, p packet.IPv4, tcp packet.TCP, now uint32) (Verdict, Reason)
	// Closed says that a claimed session is gone (expired, flushed,
	// evicted).
	Closed(f Flow)

	// ShareUDP reports whether UDP traffic between src and dst ports is
	// handled by the helper instead of the mapping table (IKE on a shared
	// external port 500).
	ShareUDP(sport, dport uint16) bool
	// OutShared / InShared handle such traffic: the external port equals
	// the internal one; inbound, the helper names the LAN host.
	OutShared(p packet.IPv4, udp packet.UDP, now uint32) (Verdict, Reason)
	InShared(p packet.IPv4, udp packet.UDP, now uint32) (lan uint32, v Verdict, r Reason)

	// AnyPortReply reports whether, under address-and-port-dependent
	// filtering, a server that was sent to on port rport may answer from
	// another port (L2TP, RFC 2661 §8.1).
	AnyPortReply(proto uint8, rport uint16) bool

	// Tick is called from Engine.Tick.
	Tick(now uint32)
}

// Flow identifies a TCP or UDP session for a Helper.
type Flow struct {
	Internal netip.AddrPort
	External netip.AddrPort
	Remote   netip.AddrPort
}

// TCPState is a session's TCP state as the helper sees it.
type TCPState uint8

const (
	TCPOpening TCPState = iota
	TCPEstablished
	TCPClosing // FIN seen in one direction
	TCPClosed  // FIN both ways, or RST
)

func tcpStateOf(st uint8) TCPState {
	switch st {
	case stSynOut, stSynIn:
		return TCPOpening
	case stEstablished:
		return TCPEstablished
	case stFinOut, stFinIn:
		return TCPClosing
	}
	return TCPClosed
}

// SetHelper installs (or, with nil, removes) the protocol helper.
func (e *Engine) SetHelper(h Helper) { e.helper = h }

// Now is the engine's clock in seconds, as passed to the helper.
func (e *Engine) Now() uint32 { return e.now }

func (e *Engine) flowOf(s *session) Flow {
	return Flow{
		Internal: netip.AddrPortFrom(packet.AddrFrom4(s.intIP), s.intPort),
		External: netip.AddrPortFrom(packet.AddrFrom4(e.ext), s.extPort),
		Remote:   netip.AddrPortFrom(packet.AddrFrom4(s.remIP), s.remPort),
	}
}

// outOther translates an outbound GRE/ESP/... packet through the helper.
func (e *Engine) outOther(p packet.IPv4) verdict {
	if e.helper == nil {
		return drop(ReasonProtocol)
	}
	v, r := e.helper.OutOther(p, e.now)
	if v != Forward && !e.dmzOther(p.Src(), p.Dst(), p.Protocol(), r) {
		return verdict(v) | verdict(r)<<8
	}
	p.SetSrc(e.ext)
	return verdict(Forward)
}

// dmzOther reports whether a packet of another protocol between LAN host
// host and remote, which the helper refused for reason r, is the DMZ
// host's: the DMZ host gets all unsolicited inbound traffic, GRE and ESP
// included, and its answers go out — but never a packet the helper
// refused by policy or limit (r), nor one of a remote that a LAN host has
// a PPTP call or ESP SA with (Unclaimed), so the DMZ cannot take another
// host's tunnel. Nothing is recorded: the helper owns that state.
func (e *Engine) dmzOther(host, remote uint32, proto uint8, r Reason) bool {
	if e.dmz == 0 || host != e.dmz {
		return false
	}
	switch r {
	case ReasonNoSession, ReasonNoMapping, ReasonProtocol:
		return e.helper.Unclaimed(proto, remote)
	}
	return false
}

func (e *Engine) inOther(p packet.IPv4) verdict {
	if e.helper == nil {
		return drop(ReasonProtocol)
	}
	lan, v, r := e.helper.InOther(p, e.now)
	if v != Forward {
		if !e.dmzOther(e.dmz, p.Src(), p.Protocol(), r) {
			return verdict(v) | verdict(r)<<8
		}
		lan = e.dmz
	}
	if r := e.inDuties(p); r != verdict(Forward) {
		return r
	}
	p.SetDst(lan)
	return verdict(Forward)
}

// outShared translates an outbound datagram of a helper-shared UDP port:
// only the source address changes.
func (e *Engine) outShared(p packet.IPv4, l4 []byte) verdict {
	v, r := e.helper.OutShared(p, packet.UDP(l4), e.now)
	if v != Forward {
		return verdict(v) | verdict(r)<<8
	}
	src := p.Src()
	p.SetSrc(e.ext)
	u := packet.UDP(l4)
	u.SetChecksum(packet.UpdateUDP32(u.Checksum(), src, e.ext))
	return verdict(Forward)
}

func (e *Engine) inShared(p packet.IPv4, l4 []byte) verdict {
	lan, v, r := e.helper.InShared(p, packet.UDP(l4), e.now)
	if v != Forward {
		return verdict(v) | verdict(r)<<8
	}
	if r := e.inDuties(p); r != verdict(Forward) {
		return r
	}
	dst := p.Dst()
	p.SetDst(lan)
	u := packet.UDP(l4)
	u.SetChecksum(packet.UpdateUDP32(u.Checksum(), dst, lan))
	return verdict(Forward)
}

// inDuties checks TTL and the LAN MTU of an inbound packet before it is
// translated (the ICMP error must embed the packet as received).
func (e *Engine) inDuties(p packet.IPv4) verdict {
	if p.TTL() <= 1 {
		return e.icmpError(p, packet.ICMPTimeExceeded, 0, 0, e.ext)
	}
	if len(p) > e.cfg.LANMTU && p.DF() {
		return e.icmpError(p, packet.ICMPUnreachable, packet.ICMPCodeFragNeeded, uint16(e.cfg.LANMTU), e.ext)
	}
	return verdict(Forward)
}
