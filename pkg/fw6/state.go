package fw6

import (
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/tcpstate"
)

// Session states. A TCP session's state is its pkg/tcpstate state (the
// RFC 7857 §2 machine pkg/nat uses too, seen from the LAN side; no windows
// are enforced, RFC 6092 REC-32), numbered as there; the other protocols'
// sessions have one state each, numbered after them.
const (
	stSynIn       = uint8(tcpstate.SynIn)
	stEstablished = uint8(tcpstate.Established)
)

const (
	stUDP   = uint8(tcpstate.NumStates) + iota // UDP and UDP-Lite (REC-14, REC-20)
	stICMP                                     // ICMPv6 echo
	stOther                                    // ESP, GRE and other protocols (REC-12)
	stLong                                     // SCTP and DCCP: ports tracked, no state machine (REC-40, REC-44)
	numStates
)

var otherStateNames = [numStates - stUDP]string{"udp", "icmp", "other", "open"}

func stateName(st uint8) string {
	if st < stUDP {
		return tcpstate.State(st).String()
	}
	return otherStateNames[st-stUDP]
}

// hasPorts reports whether proto's header starts with source and
// destination ports the engine tracks.
func hasPorts(proto uint8) bool {
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoUDPLite, packet.ProtoSCTP, packet.ProtoDCCP:
		return true
	}
	return false
}

// initialState is the state of a new session of proto; TCP's depends on
// the flags (tcpstate.New: a session opened from the WAN starts in
// syn-received, an outbound segment other than a SYN, a connection picked
// up mid-stream, REC-31, established).
func initialState(proto, tcpFlags uint8, inbound bool) uint8 {
	switch proto {
	case packet.ProtoTCP:
		return uint8(tcpstate.New(tcpFlags, inbound))
	case packet.ProtoUDP, packet.ProtoUDPLite:
		return stUDP
	case packet.ProtoSCTP, packet.ProtoDCCP:
		return stLong
	case packet.ProtoICMPv6:
		return stICMP
	}
	return stOther
}

// tcpOut moves s's state on an outbound segment; in syn-received it
// records the LAN side's SYN-ACK, which the remote must acknowledge.
func tcpOut(s *session, t packet.TCP, flags uint8) {
	if s.state == stSynIn && tcpstate.SynAck(flags) {
		s.synAck = t.Seq()
		s.flags |= flagSynAcked
	}
	s.state = uint8(tcpstate.Out(tcpstate.State(s.state), flags))
}

// tcpIn moves s's state on an inbound segment; in syn-received only the
// remote's ACK of the LAN side's SYN-ACK moves it on, so a forged SYN's
// session stays on the transitory timer.
func tcpIn(s *session, t packet.TCP, flags uint8) {
	st := tcpstate.State(s.state)
	if st == tcpstate.SynIn && s.flags&flagSynAcked != 0 && tcpstate.Confirms(flags, t.Ack(), s.synAck) {
		st = tcpstate.Established
	}
	s.state = uint8(tcpstate.In(st, flags))
}
