package nat

import "github.com/passgate/passgate/pkg/packet"

// Unsolicited inbound SYNs (RFC 5382 REQ-4): the NAT must not answer for at
// least 6 s; if an outbound SYN for the same flow is translated meanwhile
// (simultaneous open, TCP hole punching), the held SYN is silently dropped;
// otherwise an ICMP Port Unreachable goes back, unless policy is silence.
// Held SYNs are kept in a small fixed table: when it is full, further
// unsolicited SYNs are dropped silently.

const (
	synHold    = 6 // seconds
	maxHeldSYN = 64
)

type heldSYN struct {
	used  bool
	ext   uint16
	rport uint16
	rip   uint32
	at    uint32
	n     int
	hdr   [60 + 8]byte // the SYN's IP header and first 8 transport bytes
	out   [packet.IPv4HeaderLen + packet.ICMPHeaderLen + 68]byte
}

type pendingSYNs struct {
	s [maxHeldSYN]heldSYN
	n int
}

func (q *pendingSYNs) hold(e *Engine, p packet.IPv4, ext uint16, rip uint32, rport uint16) {
	if e.cfg.UnsolicitedSYNSilent {
		return
	}
	free := -1
	for i := range q.s {
		h := &q.s[i]
		if h.used && h.ext == ext && h.rip == rip && h.rport == rport {
			return // a retransmission of a SYN already held
		}
		if !h.used && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return
	}
	h := &q.s[free]
	h.used, h.ext, h.rip, h.rport, h.at = true, ext, rip, rport, e.now
	h.n = copy(h.hdr[:], p[:min(len(p), p.HeaderLen()+8)])
	q.n++
}

func (q *pendingSYNs) cancel(ext uint16, rip uint32, rport uint16) {
	for i := range q.s {
		if h := &q.s[i]; h.used && h.ext == ext && h.rip == rip && h.rport == rport {
			h.used = false
			q.n--
		}
	}
}

// expire sends the ICMP errors of SYNs held longer than synHold.
func (q *pendingSYNs) expire(e *Engine) {
	if q.n == 0 {
		return
	}
	for i := range q.s {
		h := &q.s[i]
		if !h.used || e.now-h.at <= synHold {
			continue
		}
		h.used = false
		q.n--
		if e.ext == 0 {
			continue
		}
		e.ipID++
		b := buildICMPError(h.out[:], packet.IPv4(h.hdr[:h.n]), packet.ICMPUnreachable,
			packet.ICMPCodePortUnreachable, 0, e.ext, e.ipID)
		e.cnt.ICMPErrorsSent++
		e.toWAN = append(e.toWAN, b)
	}
}
