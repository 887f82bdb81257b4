package nat

import (
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// The engine's side of flow offload (pkg/tcfast, driven by pkg/dataplane):
// the kernel forwards an established session's packets in one direction
// once the data plane has installed that direction, learned from a packet
// the fast path (fast.go) forwarded. The engine stays pure: it says which
// session and direction may go to the kernel (OffloadCandidate), records
// what the data plane installed (MarkOffloaded), takes the kernel's figures
// for them (FoldOffloaded), and lists the sessions whose offloaded
// directions must be removed (OffloadEnded): a session removed for any
// reason, or a TCP session leaving the established state (its FIN or RST
// always reaches the engine: the kernel never takes them).

// offloadAfter is how many packets a session must have carried in a
// direction before that direction is offered: a short exchange (a DNS
// query, a small web request) ends before installing it would pay off.
const offloadAfter = 16

// Session flags of offloaded directions (table.go numbers the others from
// the low end, state.go takes the high bit).
const (
	flagOffOut  = 1 << 5 // the LAN→WAN direction is in the kernel
	flagOffIn   = 1 << 6 // the WAN→LAN direction is in the kernel
	flagOffBoth = flagOffOut | flagOffIn
)

// FlowID names a session by its LAN side, which does not change while it
// lives (its external address does, with the WAN lease). Addresses are
// IPv4 in host byte order, as pkg/packet reads them.
type FlowID struct {
	Proto   uint8 // packet.ProtoTCP or packet.ProtoUDP
	IntIP   uint32
	IntPort uint16
	RemIP   uint32
	RemPort uint16
}

// Offload is a session direction the kernel may take over.
type Offload struct {
	ID      FlowID
	Dir     Dir    // Outbound: LAN→WAN, source rewritten; Inbound: WAN→LAN, destination rewritten
	ExtIP   uint32 // the session's external address and port
	ExtPort uint16
}

// OffloadEnd is a session whose offloaded directions must leave the
// kernel.
type OffloadEnd struct {
	ID      FlowID
	Out, In bool // the directions that were offloaded
}

// OffloadCandidate reports the session direction of the last Translate if
// the fast path forwarded it, the session is not offloaded that way yet and
// it has carried offloadAfter packets that way. Call it right after
// Translate.
func (e *Engine) OffloadCandidate() (Offload, bool) {
	i := e.fastIdx
	if i == none || i >= e.t.hwm {
		return Offload{}, false
	}
	s := e.t.s(i)
	if s.proto == 0 {
		return Offload{}, false
	}
	flag, pkts := uint8(flagOffOut), s.pktsOut
	if e.fastDir == Inbound {
		flag, pkts = flagOffIn, s.pktsIn
	}
	if s.flags&flag != 0 || pkts < offloadAfter {
		return Offload{}, false
	}
	return Offload{ID: idOf(s), Dir: e.fastDir, ExtIP: e.ext, ExtPort: s.extPort}, true
}

func idOf(s *session) FlowID {
	return FlowID{Proto: s.proto, IntIP: s.intIP, IntPort: s.intPort, RemIP: s.remIP, RemPort: s.remPort}
}

// lookupID returns the session id names, or none.
func (e *Engine) lookupID(id FlowID) uint32 {
	if id.Proto != packet.ProtoTCP && id.Proto != packet.ProtoUDP {
		return none
	}
	return e.t.lookupOut(id.Proto, id.IntIP, id.IntPort, id.RemIP, id.RemPort)
}

// MarkOffloaded records that direction dir of session id is now in the
// kernel. It reports false, recording nothing, if the session is gone or
// no longer established (then the caller must remove what it installed).
func (e *Engine) MarkOffloaded(id FlowID, dir Dir) bool {
	i := e.lookupID(id)
	if i == none {
		return false
	}
	s := e.t.s(i)
	if s.flags&flagHelper != 0 || (s.proto == packet.ProtoTCP && s.state != stEstablished) {
		return false
	}
	if dir == Inbound {
		s.flags |= flagOffIn
	} else {
		s.flags |= flagOffOut
	}
	return true
}

// FoldOffloaded takes the kernel's figures for an offloaded direction:
// packets and bytes forwarded since the last call, and when it last
// forwarded one (on the engine's clock). It reports false if the session
// is gone or that direction is not offloaded.
func (e *Engine) FoldOffloaded(id FlowID, dir Dir, lastSeen time.Duration, packets, bytes uint64) bool {
	i := e.lookupID(id)
	if i == none {
		return false
	}
	s := e.t.s(i)
	flag := uint8(flagOffOut)
	if dir == Inbound {
		flag = flagOffIn
	}
	if s.flags&flag == 0 {
		return false
	}
	if packets > 0 {
		if t := uint32(lastSeen / time.Second); t > s.lastSeen && t <= e.now {
			s.lastSeen = t
		} else if t > e.now {
			s.lastSeen = e.now
		}
	}
	s.addCounts(dir, packets, bytes)
	e.cnt.Offloaded += packets
	return true
}

// OffloadEnded returns the sessions whose offloaded directions must be
// removed from the kernel since the last call, and forgets them. The slice
// is valid until the next call into the engine.
func (e *Engine) OffloadEnded() []OffloadEnd {
	out := e.offEnded
	e.offEnded = e.offEnded[:0]
	return out
}

// endOffload lists s's offloaded directions for removal and clears them.
func (e *Engine) endOffload(s *session) {
	e.offEnded = append(e.offEnded, OffloadEnd{ID: idOf(s), Out: s.flags&flagOffOut != 0, In: s.flags&flagOffIn != 0})
	s.flags &^= flagOffBoth
}

// Unoffload records that the data plane took session id's directions out
// of the kernel by itself (a capture started, a device was blocked, a next
// hop changed): they may be offered again later. A session that is gone
// is ignored.
func (e *Engine) Unoffload(id FlowID) {
	if i := e.lookupID(id); i != none {
		e.t.s(i).flags &^= flagOffBoth
	}
}

// FoldEnded takes the kernel's last figures for a direction that
// OffloadEnded listed (read before its entry was deleted): the packets and
// bytes since the last fold count in the session if it still exists (a
// TCP session closing), and in the engine's counters.
func (e *Engine) FoldEnded(id FlowID, dir Dir, packets, bytes uint64) {
	e.cnt.Offloaded += packets
	i := e.lookupID(id)
	if i == none {
		return
	}
	s := e.t.s(i)
	s.addCounts(dir, packets, bytes)
}

// addCounts adds what the kernel forwarded in direction dir to s's
// counters.
func (s *session) addCounts(dir Dir, packets, bytes uint64) {
	if dir == Inbound {
		s.pktsIn += uint32(packets)
		s.bytesIn += bytes
	} else {
		s.pktsOut += uint32(packets)
		s.bytesOut += bytes
	}
}
