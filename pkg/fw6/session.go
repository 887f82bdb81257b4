package fw6

import "github.com/passgate/passgate/pkg/packet"

// find returns the live session with key k, removing it if it expired.
func (e *Engine) find(k *key) uint32 {
	i := e.t.lookup(k)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		return none
	}
	return i
}

func (e *Engine) expired(s *session) bool { return e.now-s.lastSeen > e.tmo[s.state] }

// remove deletes session i.
func (e *Engine) remove(i uint32) {
	s := e.t.s(i)
	quota := e.perHost
	if s.flags&flagInbound != 0 {
		quota = e.in.perHost
	}
	host := s.lan
	e.t.unlink(i)
	if c := quota[host]; c <= 1 {
		delete(quota, host)
	} else {
		quota[host] = c - 1
	}
}

// create makes a session for k in state st. Sessions opened from the WAN
// (flagInbound) count against their own per-host quota and are the first
// to go when room is needed; the others against the host's quota (the
// router's own against its address's).
func (e *Engine) create(k *key, st, fl uint8) (uint32, Reason) {
	if r, refused := e.filterRefuses(k, fl); refused {
		return none, r
	}
	inbound := fl&flagInbound != 0
	if inbound {
		if e.in.perHost[k.lan] >= e.inboundMax() {
			return none, ReasonInboundLimit
		}
		e.in.makeRoom(e)
	} else if e.perHost[k.lan] >= e.hostMax {
		return none, ReasonHostLimit
	}
	if e.t.count >= e.t.max && !e.evict() {
		return none, ReasonTableFull
	}
	i := e.t.alloc()
	if i == none {
		return none, ReasonTableFull
	}
	if k.proto == packet.ProtoTCP && e.cfg.Passthrough.PPTP &&
		(k.rport == portPPTP || (fl&flagRule != 0 && k.lport == portPPTP)) {
		fl |= flagPPTP
	}
	s := e.t.s(i)
	*s = session{lan: k.lan, rem: k.rem, lport: k.lport, rport: k.rport, proto: k.proto,
		state: st, flags: fl, lastSeen: e.now, created: e.now}
	if (k.proto == packet.ProtoTCP || k.proto == packet.ProtoSCTP) && !inbound && e.pending.n > 0 {
		e.pending.cancel(k) // simultaneous open: REC-34's held SYN (REC-39's INIT) is answered
	}
	e.t.link(i)
	if inbound {
		if e.in.perHost == nil {
			e.in.perHost = make(map[addr]uint32)
		}
		e.in.perHost[k.lan]++
		e.in.push(i)
	} else {
		e.perHost[k.lan]++
	}
	e.cnt.SessionsCreated++
	return i, ReasonNone
}

// evict frees a slot when the table is full: the oldest unconfirmed
// session opened from the WAN first (O(1), from the ring), then a session
// the LAN opened that never saw a reply or that expired, found in a
// bounded sample after the sweep cursor. Confirmed sessions opened from
// the WAN and answered flows are never evicted.
func (e *Engine) evict() bool {
	if e.in.evictOldest(e) {
		return true
	}
	const sample = 64
	for k := 0; k < sample && e.t.hwm > 0; k++ {
		if e.sweep >= e.t.hwm {
			e.sweep = 0
		}
		i := e.sweep
		e.sweep++
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		if e.expired(s) {
			e.remove(i)
			e.cnt.SessionsExpired++
			return true
		}
		if s.flags&(flagReplied|flagInbound) == 0 {
			e.remove(i)
			e.cnt.SessionsEvicted++
			return true
		}
	}
	return false
}

// Sessions opened from the WAN are kept apart from the LAN's own, as in
// pkg/nat, so that no WAN sender can use up a host's quota or hold table
// space for long:
//
//   - They count against their own per-host quota, inboundMax (a quarter
//     of the per-host limit).
//   - Until confirmed — TCP by the remote's ACK of the LAN side's SYN-ACK,
//     other protocols by a packet from the LAN host — they are
//     "unconfirmed": at most unconfirmedMax exist in the whole table, kept
//     in a ring in creation order, and a new one evicts the oldest. A
//     forged flood churns the ring instead of filling the table.
//   - When the table is full they are evicted first.
type inboundState struct {
	perHost map[addr]uint32
	ring    []uint32 // session indexes, oldest first from head; may be stale
	head, n int
}

func (e *Engine) inboundMax() uint32 { return max(e.hostMax/4, 1) }

func (e *Engine) unconfirmedMax() int { return int(max(e.inboundMax()/2, 1)) }

func unconfirmed(s *session) bool {
	return s.flags&flagInbound != 0 && (s.state == stSynIn || (s.proto != packet.ProtoTCP && s.pktsOut == 0))
}

// pop takes the oldest ring entry and evicts its session if that is still
// an unconfirmed session opened from the WAN (a reused slot holding a newer
// one is evicted in its place, which keeps at most len(ring) of them).
func (q *inboundState) pop(e *Engine) bool {
	i := q.ring[q.head]
	q.head++
	if q.head == len(q.ring) {
		q.head = 0
	}
	q.n--
	if i >= e.t.hwm || !unconfirmed(e.t.s(i)) {
		return false
	}
	e.remove(i)
	e.cnt.SessionsEvicted++
	return true
}

// makeRoom (re)sizes the ring to unconfirmedMax and takes its oldest entry
// off when it is full.
func (q *inboundState) makeRoom(e *Engine) {
	if want := e.unconfirmedMax(); len(q.ring) != want {
		for q.n > want {
			q.pop(e)
		}
		ring := make([]uint32, want)
		for k := 0; k < q.n; k++ {
			ring[k] = q.ring[(q.head+k)%len(q.ring)]
		}
		q.ring, q.head = ring, 0
	}
	if q.n == len(q.ring) {
		q.pop(e)
	}
}

func (q *inboundState) push(i uint32) {
	q.ring[(q.head+q.n)%len(q.ring)] = i
	q.n++
}

// evictOldest evicts the oldest unconfirmed session opened from the WAN,
// looking at a bounded number of ring entries.
func (q *inboundState) evictOldest(e *Engine) bool {
	for k := 0; k < 16 && q.n > 0; k++ {
		if q.pop(e) {
			return true
		}
	}
	return false
}
