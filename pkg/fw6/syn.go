package fw6

import "github.com/passgate/passgate/pkg/packet"

// Unsolicited inbound SYNs (RFC 6092 REC-34) and SCTP INITs (REC-39): by
// default the gateway answers with ICMPv6 Destination Unreachable code 1
// (administratively prohibited) after waiting at least 6 seconds without
// the LAN side opening the same flow (a simultaneous open, TCP hole
// punching) meanwhile. The
// SYNs waiting are held in a small fixed table; when it is full, further
// unsolicited SYNs are dropped silently. The errors leave through Tick and
// count against the error rate limit like any other.

const (
	synHold    = 6 // seconds
	maxHeldSYN = 64
	heldQuote  = 128 // bytes of the SYN quoted in the error
)

type heldSYN struct {
	used         bool
	proto        uint8
	lan, rem     addr
	lport, rport uint16
	at           uint32
	n            int
	hdr          [heldQuote]byte
	out          [packet.IPv6HeaderLen + packet.ICMPv6HeaderLen + heldQuote]byte
}

type heldSYNs struct {
	s [maxHeldSYN]heldSYN
	n int
}

func (h *heldSYNs) hold(e *Engine, q *pkt) {
	if e.cfg.UnsolicitedSYNSilent {
		return
	}
	free := -1
	for i := range h.s {
		s := &h.s[i]
		if s.used && s.proto == q.ch.Proto && s.lan == q.dst && s.lport == q.dp && s.rem == q.src && s.rport == q.sp {
			return // a retransmission of a SYN already held
		}
		if !s.used && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return
	}
	s := &h.s[free]
	s.used, s.proto, s.lan, s.lport, s.rem, s.rport, s.at = true, q.ch.Proto, q.dst, q.dp, q.src, q.sp, e.now
	s.n = copy(s.hdr[:], q.p)
	h.n++
}

// cancel forgets a held SYN for the flow k the LAN side just opened.
func (h *heldSYNs) cancel(k *key) {
	for i := range h.s {
		if s := &h.s[i]; s.used && s.proto == k.proto && s.lan == k.lan && s.lport == k.lport && s.rem == k.rem && s.rport == k.rport {
			s.used = false
			h.n--
		}
	}
}

// forget drops the held SYNs to LAN addresses gone returns true for.
func (h *heldSYNs) forget(gone func(addr) bool) {
	for i := range h.s {
		if s := &h.s[i]; s.used && gone(s.lan) {
			s.used = false
			h.n--
		}
	}
}

// expire sends the errors of SYNs held longer than synHold.
func (h *heldSYNs) expire(e *Engine) {
	if h.n == 0 {
		return
	}
	for i := range h.s {
		s := &h.s[i]
		if !s.used || e.now-s.at <= synHold {
			continue
		}
		s.used = false
		h.n--
		if !e.errs.allow(e.nowD, e.errIval, e.cfg.ICMPErrorBurst) {
			e.cnt.ICMPErrorsLimited++
			continue
		}
		from, ok := e.errSource(FromWAN, s.rem)
		if !ok {
			continue
		}
		b := buildError(s.out[:], s.hdr[:s.n], packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, 0, from, s.rem)
		e.cnt.ICMPErrorsSent++
		e.toWAN = append(e.toWAN, b)
	}
}
