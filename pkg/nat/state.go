package nat

import "github.com/passgate/passgate/pkg/packet"

// Session states. TCP follows the RFC 6146 §3.5.2 state machine that
// RFC 7857 §2 asks NATs to use, seen from the LAN ("out") side:
//
//	SYN out            → synOut   (transitory timer)
//	SYN in (forwarded) → synIn    (transitory)
//	SYN the other way  → established (established timer; simultaneous open too)
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
// Outbound packets other than a SYN may create a session (a connection
// picked up mid-stream, e.g. after a restart): it starts established.
func tcpNew(flags uint8, inbound bool) uint8 {
	switch {
	case flags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn && inbound:
		return stSynIn
	case flags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn:
		return stSynOut
	case flags&packet.TCPFin != 0:
		return stFinOut
	}
	return stEstablished
}

func tcpOut(st, flags uint8) uint8 {
	if flags&packet.TCPRst != 0 {
		return stReset
	}
	switch st {
	case stSynIn:
		if flags&packet.TCPSyn != 0 {
			return stEstablished
		}
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
