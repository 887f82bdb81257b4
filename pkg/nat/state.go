package nat

import (
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/tcpstate"
)

// Session states. A TCP session's state is its pkg/tcpstate state (the
// RFC 7857 §2 machine, seen from the LAN side), numbered as there; UDP and
// ICMP sessions have one state each, numbered after them. (Only the TCP
// states the engine refers to are named here.)
const (
	stSynOut      = uint8(tcpstate.SynOut)
	stSynIn       = uint8(tcpstate.SynIn)
	stEstablished = uint8(tcpstate.Established)
	stFinOut      = uint8(tcpstate.FinOut)
	stFinIn       = uint8(tcpstate.FinIn)
)

const (
	stUDP = uint8(tcpstate.NumStates) + iota
	stICMP
	numStates
)

var otherStateNames = [numStates - stUDP]string{"udp", "icmp"}

func stateName(st uint8) string {
	if st < stUDP {
		return tcpstate.State(st).String()
	}
	return otherStateNames[st-stUDP]
}

// tcpNew is the state of a session created by a segment with these flags
// (tcpstate.New). A session opened from the WAN starts in syn-received: by
// an inbound SYN (port forward, DMZ) or by the LAN host's SYN-ACK answering
// a SYN that the filtering behaviour let in.
func tcpNew(flags uint8, inbound bool) uint8 {
	return uint8(tcpstate.New(flags, inbound))
}

// flagSynAcked marks a session in syn-received whose LAN side has sent its
// SYN-ACK: session.synAck holds that segment's sequence number. (High bit:
// table.go numbers the other flags from the low end.)
const flagSynAcked = 1 << 7

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
// remote's ACK of the LAN side's SYN-ACK moves it on.
func tcpIn(s *session, t packet.TCP, flags uint8) {
	st := tcpstate.State(s.state)
	if st == tcpstate.SynIn && s.flags&flagSynAcked != 0 && tcpstate.Confirms(flags, t.Ack(), s.synAck) {
		st = tcpstate.Established
	}
	s.state = uint8(tcpstate.In(st, flags))
}
