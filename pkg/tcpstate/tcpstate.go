// Package tcpstate is the TCP connection-tracking state machine that the
// IPv4 NAPT engine (pkg/nat) and the IPv6 stateful firewall (pkg/fw6)
// share. It follows the RFC 6146 §3.5.2 machine that RFC 7857 §2 asks NATs
// to use (and RFC 6092 REC-31..35 asks of an IPv6 firewall), seen from the
// LAN ("out") side, and tracks only what the idle timers need: no windows
// are enforced (RFC 6092 REC-32).
//
//	SYN out            → SynOut  (transitory timer)
//	SYN in (admitted)  → SynIn   (transitory), until the remote's ACK of
//	                      the LAN side's SYN-ACK → Established
//	SYN the other way  → Established (established timer; simultaneous open too)
//	FIN one way        → FinOut / FinIn (still the established timer: half-close)
//	FIN both ways      → FinBoth (transitory)
//	RST either way     → Reset   (transitory: RFC 7857 §2 keeps it 4 min, not Linux's 10 s)
//	non-RST in Reset   → Established
//
// A connection opened from the WAN (a port forward, the DMZ, an allow
// rule, or the LAN host's SYN-ACK answering a SYN that filtering let in)
// stays in SynIn, on the transitory timer, until the remote completes the
// handshake: an ACK (without SYN or RST) that acknowledges the SYN-ACK the
// LAN side sent (Confirms). A forged SYN from a spoofed source never sees
// that SYN-ACK, so its state expires at the transitory timeout however the
// LAN server answers. A RST either way, or another SYN, does not move SynIn
// anywhere (a RST would otherwise lead to Reset, and any later segment to
// Established). The engines keep the SYN-ACK's sequence number in their
// session records; this package holds no state of its own.
//
// The functions are pure and allocation-free, for the per-packet path.
package tcpstate

import "github.com/passgate/passgate/pkg/packet"

// State is a TCP connection's tracking state. Its values are 0 to
// NumStates-1, so an engine can number its other protocols' states from
// NumStates on and index one timeout table by either.
type State uint8

const (
	SynOut      State = iota // the LAN side sent a SYN
	SynIn                    // opened from the WAN, not yet confirmed by the remote
	Established              // both sides' SYNs seen (or picked up mid-stream)
	FinOut                   // FIN from the LAN side only
	FinIn                    // FIN from the WAN side only
	FinBoth                  // FIN both ways
	Reset                    // RST either way
	NumStates
)

var names = [NumStates]string{"syn-sent", "syn-received", "established", "fin-out", "fin-in", "closing", "reset"}

// String is the state's name as `show nat sessions` and `show firewall
// sessions` print it.
func (s State) String() string {
	if s >= NumStates {
		return "invalid"
	}
	return names[s]
}

// Transitory reports whether the state idles out on the transitory timer
// (RFC 5382 REQ-5: at least 4 minutes) rather than the established one
// (REQ-5: at least 2 hours 4 minutes). Half-closed connections keep the
// established timer.
func (s State) Transitory() bool {
	switch s {
	case Established, FinOut, FinIn:
		return false
	}
	return true
}

// New is the state of a connection created by a segment with these flags,
// inbound when it came from the WAN. An inbound segment creates SynIn (an
// inbound SYN, or the LAN host's SYN-ACK answering an admitted SYN, is
// counted from the WAN). An outbound segment other than a SYN creates a
// connection picked up mid-stream (e.g. after a restart, RFC 6092 REC-31):
// it starts Established, or FinOut if it carries a FIN.
func New(flags uint8, inbound bool) State {
	switch {
	case flags&packet.TCPSyn != 0 && inbound:
		return SynIn
	case flags&(packet.TCPSyn|packet.TCPAck) == packet.TCPSyn:
		return SynOut
	case flags&packet.TCPFin != 0:
		return FinOut
	}
	return Established
}

// Out is the state after an outbound (LAN→WAN) segment with these flags.
// Nothing the LAN side sends moves SynIn (see SynAck).
func Out(s State, flags uint8) State {
	if s == SynIn {
		return s
	}
	if flags&packet.TCPRst != 0 {
		return Reset
	}
	switch s {
	case Reset:
		return Established
	case Established:
		if flags&packet.TCPFin != 0 {
			return FinOut
		}
	case FinIn:
		if flags&packet.TCPFin != 0 {
			return FinBoth
		}
	}
	return s
}

// In is the state after an inbound (WAN→LAN) segment with these flags. In
// SynIn it is SynIn: the caller first asks Confirms and, if the segment
// confirms the connection, calls In with Established.
func In(s State, flags uint8) State {
	if s == SynIn {
		return s
	}
	if flags&packet.TCPRst != 0 {
		return Reset
	}
	switch s {
	case SynOut:
		if flags&packet.TCPSyn != 0 {
			return Established
		}
	case Reset:
		return Established
	case Established:
		if flags&packet.TCPFin != 0 {
			return FinIn
		}
	case FinOut:
		if flags&packet.TCPFin != 0 {
			return FinBoth
		}
	}
	return s
}

// SynAck reports whether an outbound segment of a connection in SynIn is
// the LAN side's SYN-ACK (a SYN without RST): the caller keeps its sequence
// number, and that it saw one, for Confirms.
func SynAck(flags uint8) bool {
	return flags&(packet.TCPSyn|packet.TCPRst) == packet.TCPSyn
}

// ConfirmWindow is how far past the LAN side's ISN + 1 the remote's first
// ACK may acknowledge: the handshake's ACK acknowledges exactly ISN + 1, a
// later segment (the ACK was lost) at most what the LAN side sent before
// its peer's first acknowledgment, at most its initial window. A blind
// attacker guesses within it with probability 2^-16 per try.
const ConfirmWindow = 1 << 16

// Confirms reports whether an inbound segment with these flags and
// acknowledgment number ack confirms a connection in SynIn whose LAN side
// sent its SYN-ACK with sequence number synAck: an ACK without SYN or RST
// within ConfirmWindow after synAck + 1. The caller asks only once it has
// seen that SYN-ACK.
func Confirms(flags uint8, ack, synAck uint32) bool {
	return flags&(packet.TCPSyn|packet.TCPRst|packet.TCPAck) == packet.TCPAck &&
		ack-(synAck+1) < ConfirmWindow
}
