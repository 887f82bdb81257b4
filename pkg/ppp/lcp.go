package ppp

import (
	"encoding/binary"
	"time"
)

// LCP option types (RFC 1661 §6).
const (
	optMRU   = 1
	optAuth  = 3
	optMagic = 5
	optPFC   = 7
	optACFC  = 8
)

const chapMD5 = 5 // CHAP algorithm (RFC 1994)

// lcp is LCP's side of the negotiation.
type lcp struct {
	s        *Session
	mru      int    // what we ask to receive
	askMRU   bool   // still asking for it (not rejected)
	magic    uint32 // ours
	askMagic bool
	peerMRU  int    // what the peer receives: what we may send
	auth     uint16 // the protocol the peer wants us to authenticate with; 0 none
}

func (l *lcp) request() []option {
	var o []option
	if l.askMRU {
		o = append(o, option{optMRU, binary.BigEndian.AppendUint16(nil, uint16(l.mru))})
	}
	if l.askMagic {
		o = append(o, option{optMagic, binary.BigEndian.AppendUint32(nil, l.magic)})
	}
	return o
}

func (l *lcp) judge(opts []option) (nak, rej []option) {
	for _, o := range opts {
		switch o.Type {
		case optMRU:
			if len(o.Data) != 2 {
				rej = append(rej, o)
				continue
			}
			if v := int(binary.BigEndian.Uint16(o.Data)); v > l.s.c.MRU || v < 64 {
				// We cannot send more than the line carries, and a tiny
				// MRU is not a link.
				nak = append(nak, option{optMRU, binary.BigEndian.AppendUint16(nil, uint16(l.s.c.MRU))})
			}
		case optAuth:
			if len(o.Data) < 2 {
				rej = append(rej, o)
				continue
			}
			switch p := binary.BigEndian.Uint16(o.Data); {
			case p == ProtoPAP && len(o.Data) == 2:
			case p == ProtoCHAP && len(o.Data) == 3 && o.Data[2] == chapMD5:
			default:
				// MS-CHAP, EAP, other CHAP algorithms: suggest CHAP-MD5.
				nak = append(nak, option{optAuth, []byte{byte(ProtoCHAP >> 8), byte(ProtoCHAP & 0xff), chapMD5}})
			}
		case optMagic:
			if len(o.Data) != 4 {
				rej = append(rej, o)
				continue
			}
			if m := binary.BigEndian.Uint32(o.Data); m == 0 || (l.askMagic && m == l.magic) {
				// Zero is not a magic number; ours back means a looped
				// line, or bad luck: a fresh one settles it.
				nak = append(nak, option{optMagic, binary.BigEndian.AppendUint32(nil, l.s.random32())})
			}
		default:
			// PFC and ACFC must not be used over PPPoE (RFC 2516 §7);
			// anything else we do not implement.
			rej = append(rej, o)
		}
	}
	return nak, rej
}

func (l *lcp) acked(opts []option) {}

func (l *lcp) naked(opts []option) {
	for _, o := range opts {
		switch o.Type {
		case optMRU:
			if len(o.Data) == 2 {
				if v := int(binary.BigEndian.Uint16(o.Data)); v >= 576 && v <= l.s.c.MRU {
					l.mru = v
				}
			}
		case optMagic:
			l.magic = l.s.random32()
		}
	}
}

func (l *lcp) rejected(opts []option) {
	for _, o := range opts {
		switch o.Type {
		case optMRU:
			l.askMRU = false
		case optMagic:
			l.askMagic = false
		}
	}
}

// peerOptions records what the peer's acked request settled (called when
// we ack it).
func (l *lcp) peerOptions(opts []option) {
	l.peerMRU, l.auth = 1500, 0
	for _, o := range opts {
		switch o.Type {
		case optMRU:
			l.peerMRU = int(binary.BigEndian.Uint16(o.Data))
		case optAuth:
			l.auth = binary.BigEndian.Uint16(o.Data)
		}
	}
}

func (l *lcp) up(now time.Time)       { l.s.lcpUp(now) }
func (l *lcp) down(now time.Time)     { l.s.lcpDown(now) }
func (l *lcp) finished(now time.Time) { l.s.lcpFinished(now) }
