package fw6

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// Session states. TCP follows pkg/nat's machine (RFC 6146 §3.5.2 as RFC
// 7857 §2 asks), seen from the LAN side; it tracks only what the timers
// need and never enforces windows (RFC 6092 REC-32):
//
//	SYN out            → synOut   (transitory timer)
//	SYN in (admitted)  → synIn    (transitory), until the remote's ACK of
//	                      the LAN side's SYN-ACK → established
//	SYN the other way  → established (simultaneous open too, REC-31)
//	FIN one way        → finOut / finIn (established timer: half-close)
//	FIN both ways      → finBoth (transitory)
//	RST either way     → reset   (transitory: kept 4 min, RFC 7857 §2)
//	non-RST in reset   → established
const (
	stUDP   uint8 = iota // UDP and UDP-Lite (REC-14, REC-20)
	stICMP               // ICMPv6 echo
	stOther              // ESP, GRE and other protocols (REC-12)
	stLong               // SCTP and DCCP: ports tracked, no state machine (REC-40, REC-44)
	stSynOut
	stSynIn
	stEstablished
	stFinOut
	stFinIn
	stFinBoth
	stReset
	numStates
)

var stateNames = [numStates]string{"udp", "icmp", "other", "open", "syn-sent", "syn-received", "established", "fin-out", "fin-in", "closing", "reset"}

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
// the flags (tcpNew).
func initialState(proto, tcpFlags uint8, inbound bool) uint8 {
	switch proto {
	case packet.ProtoTCP:
		return tcpNew(tcpFlags, inbound)
	case packet.ProtoUDP, packet.ProtoUDPLite:
		return stUDP
	case packet.ProtoSCTP, packet.ProtoDCCP:
		return stLong
	case packet.ProtoICMPv6:
		return stICMP
	}
	return stOther
}

// tcpNew is the state of a TCP session created by a segment with these
// flags. A session opened from the WAN starts in synIn. An outbound
// segment other than a SYN (a connection picked up mid-stream, REC-31)
// starts established.
func tcpNew(flags uint8, inbound bool) uint8 {
	switch {
	case flags&packet.TCPSyn != 0 && inbound:
		return stSynIn
	case flags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn:
		return stSynOut
	case flags&packet.TCPFin != 0:
		return stFinOut
	}
	return stEstablished
}

// confirmWindow is how far past the LAN side's ISN + 1 the remote's first
// ACK may acknowledge (pkg/nat's reasoning: at most the LAN side's initial
// window). A blind attacker guesses within it with probability 2^-16.
const confirmWindow = 1 << 16

// synInOut records the LAN side's SYN-ACK of a session in synIn.
func synInOut(s *session, t packet.TCP, flags uint8) {
	if flags&(packet.TCPSyn|packet.TCPRst) == packet.TCPSyn {
		s.synAck = t.Seq()
		s.flags |= flagSynAcked
	}
}

// synInIn is tcpIn for a session in synIn: established once the segment
// acknowledges the LAN side's SYN-ACK. A forged SYN never sees that
// SYN-ACK, so its session stays on the transitory timer.
func synInIn(s *session, t packet.TCP, flags uint8) uint8 {
	if s.flags&flagSynAcked == 0 || flags&(packet.TCPSyn|packet.TCPRst|packet.TCPAck) != packet.TCPAck {
		return stSynIn
	}
	if ack := binary.BigEndian.Uint32(t[8:]); ack-(s.synAck+1) >= confirmWindow {
		return stSynIn
	}
	return tcpIn(stEstablished, flags)
}

// tcpOut and tcpIn are the transitions of every other TCP state.
func tcpOut(st, flags uint8) uint8 {
	if flags&packet.TCPRst != 0 {
		return stReset
	}
	switch st {
	case stSynIn:
		return st
	case stReset:
		return stEstablished
	case stEstablished:
		if flags&packet.TCPFin != 0 {
			return stFinOut
		}
	case stFinIn:
		if flags&packet.TCPFin != 0 {
			return stFinBoth
		}
	}
	return st
}

func tcpIn(st, flags uint8) uint8 {
	if flags&packet.TCPRst != 0 {
		return stReset
	}
	switch st {
	case stSynOut:
		if flags&packet.TCPSyn != 0 {
			return stEstablished
		}
	case stReset:
		return stEstablished
	case stEstablished:
		if flags&packet.TCPFin != 0 {
			return stFinIn
		}
	case stFinOut:
		if flags&packet.TCPFin != 0 {
			return stFinBoth
		}
	}
	return st
}
