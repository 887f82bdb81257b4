package nat

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// Session states. TCP follows the RFC 6146 §3.5.2 state machine that
// RFC 7857 §2 asks NATs to use, seen from the LAN ("out") side:
//
//	SYN out            → synOut   (transitory timer)
//	SYN in (forwarded) → synIn    (transitory)
//	SYN the other way  → established (established timer; simultaneous open too)
//	synIn: see below; only the remote's ACK of the LAN side's SYN-ACK
//	       → established
//	FIN one way        → finOut / finIn (still the established timer: half-close)
//	FIN both ways      → finBoth (transitory)
//	RST either way     → reset    (transitory, RFC 7857 §2: keep 4 min, not Linux's 10 s)
//	non-RST in reset   → established
const (
	stUDP uint8 = iota
	stICMP
	stSynOut
	stSynIn
	stEstablished
	stFinOut
	stFinIn
	stFinBoth
	stReset
	numStates
)

var stateNames = [numStates]string{"udp", "icmp", "syn-sent", "syn-received", "established", "fin-out", "fin-in", "closing", "reset"}

// tcpNew is the state of a session created by a packet with these flags.
// A session opened from the WAN starts in synIn: by an inbound SYN (port
// forward, DMZ) or by the LAN host's SYN-ACK answering a SYN that the
// filtering behaviour let in. Other outbound packets than a SYN may create
// a session (a connection picked up mid-stream, e.g. after a restart): it
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

// A session opened from the WAN (port forward, DMZ) stays in synIn, on the
// transitory timer, until the remote completes the handshake: an ACK
// (without SYN or RST) that acknowledges the SYN-ACK the LAN side sent. A
// forged SYN from a spoofed source never sees that SYN-ACK, so its session
// expires at the transitory timeout however the LAN server answers; a RST
// either way, or another SYN, does not move synIn anywhere (a RST would
// otherwise lead to reset, and any later segment to established).
// synIn is only ever entered by a session created from the WAN.

// flagSynAcked marks a synIn session whose LAN side has sent its SYN-ACK:
// session.synAck holds that segment's sequence number. (High bit: table.go
// numbers the other flags from the low end.)
const flagSynAcked = 1 << 7

// confirmWindow is how far past the LAN side's ISN + 1 the remote's first
// ACK may acknowledge: the handshake's ACK acknowledges exactly ISN + 1, a
// later segment (the ACK was lost) at most what the LAN side sent before
// its peer's first acknowledgment, at most its initial window. A blind
// attacker guesses within it with probability 2^-16 per try.
const confirmWindow = 1 << 16

// synInOut records the LAN side's SYN-ACK of a session in synIn; nothing
// the LAN side sends moves the session out of synIn.
func synInOut(s *session, t packet.TCP, flags uint8) {
	if flags&(packet.TCPSyn|packet.TCPRst) == packet.TCPSyn {
		s.synAck = t.Seq()
		s.flags |= flagSynAcked
	}
}

// synInIn is tcpIn for a session in synIn: it returns the session's new
// state, established (or what the segment makes of it, a FIN) once the
// segment acknowledges the LAN side's SYN-ACK.
func synInIn(s *session, t packet.TCP, flags uint8) uint8 {
	if s.flags&flagSynAcked == 0 || flags&(packet.TCPSyn|packet.TCPRst|packet.TCPAck) != packet.TCPAck {
		return stSynIn
	}
	if ack := binary.BigEndian.Uint32(t[8:]); ack-(s.synAck+1) >= confirmWindow {
		return stSynIn
	}
	return tcpIn(stEstablished, flags)
}

// tcpOut and tcpIn are the transitions of every other state (never synIn).
func tcpOut(st, flags uint8) uint8 {
	if flags&packet.TCPRst != 0 {
		return stReset
	}
	switch st {
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
