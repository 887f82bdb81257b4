package nat

import "github.com/passgate/passgate/pkg/packet"

// remove deletes session i and releases its mapping when unused.
func (e *Engine) remove(i uint32) {
	s := e.t.s(i)
	if s.flags&flagHelper != 0 && e.helper != nil {
		e.helper.Closed(e.flowOf(s))
	}
	if s.flags&flagOffBoth != 0 {
		e.endOffload(s)
	}
	mi, host := s.mapping, s.intIP
	quota := e.perHost
	if s.flags&flagInbound != 0 {
		quota = e.in.perHost
	}
	e.t.unlink(i)
	m := &e.t.maps[mi]
	m.refs--
	if m.refs == 0 && !m.static {
		e.t.removeMapping(mi)
	}
	if c := quota[host]; c <= 1 {
		delete(quota, host)
	} else {
		quota[host] = c - 1
	}
}

// Flush removes the sessions for which drop returns true (all if drop is
// nil) and returns how many it removed.
func (e *Engine) Flush(drop func(SessionInfo) bool) int {
	n := 0
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		if drop == nil || drop(e.info(s)) {
			e.remove(i)
			n++
		}
	}
	return n
}

// newSession creates a session for an outbound 5-tuple, reusing the
// internal endpoint's mapping (endpoint-independent mapping) or allocating
// one. fl carries flagInbound for forwarded connections.
func (e *Engine) newSession(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags, fl uint8) (uint32, Reason) {
	return e.create(proto, ip, port, rip, rport, tcpFlags, fl, 0, false)
}

// newSessionAt is newSession for a DMZ host, which must get external port ext.
func (e *Engine) newSessionAt(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags uint8, ext uint16) (uint32, Reason) {
	return e.create(proto, ip, port, rip, rport, tcpFlags, flagInbound, ext, true)
}

func (e *Engine) create(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags, fl uint8, wantExt uint16, exact bool) (uint32, Reason) {
	if proto == packet.ProtoTCP && tcpFlags&packet.TCPRst != 0 {
		return none, ReasonNoSession
	}
	if e.helper != nil && fl&flagInbound == 0 && e.helper.Blocked(proto, rport) {
		return none, ReasonBlocked
	}
	inbound := fl&flagInbound != 0
	if e.filter != nil {
		nf := NewFlow{Proto: proto, Inbound: inbound, Host: ip, HostPort: port, Remote: rip, RemotePort: rport}
		if !inbound && e.frameMAC.ok {
			nf.MAC, nf.HasMAC = e.frameMAC.mac, true
		}
		switch e.filter.Decide(nf) {
		case FilterDrop:
			return none, ReasonFirewall
		case FilterReject:
			if inbound {
				return none, ReasonFirewall
			}
			return none, ReasonFirewallReject
		}
	}
	if inbound {
		if e.in.perHost[ip] >= e.inboundMax() {
			return none, ReasonInboundLimit
		}
		e.in.makeRoom(e)
	} else if e.perHost[ip] >= e.hostMax {
		return none, ReasonHostLimit
	}
	if e.t.count >= e.t.max && !e.evict() {
		return none, ReasonTableFull
	}
	mi := e.t.mappingFor(proto, ip, port, wantExt, exact)
	if mi == none {
		var ext uint16
		var ok bool
		if exact {
			ext, ok = wantExt, e.t.extPorts[protoIndex(proto)][wantExt] == 0
		} else {
			ext, ok = e.allocPort(proto, port)
		}
		if !ok {
			return none, ReasonPortsExhausted
		}
		if mi = e.t.addMapping(proto, ip, port, ext, false); mi == none {
			return none, ReasonTableFull
		}
	}
	if exact && e.t.maps[mi].extPort != wantExt {
		return none, ReasonNoMapping // the DMZ host's endpoint is mapped elsewhere
	}
	i := e.t.alloc()
	if i == none { // cannot happen after the count check, but never index past the slab
		if e.t.maps[mi].refs == 0 && !e.t.maps[mi].static {
			e.t.removeMapping(mi)
		}
		return none, ReasonTableFull
	}
	m := &e.t.maps[mi]
	m.refs++
	s := e.t.s(i)
	*s = session{
		intIP: ip, remIP: rip, intPort: port, remPort: rport, extPort: m.extPort,
		proto: proto, flags: fl, lastSeen: e.now, created: e.now, mapping: mi,
	}
	switch proto {
	case packet.ProtoTCP:
		s.state = tcpNew(tcpFlags, fl&flagInbound != 0)
		if e.helper != nil && fl&flagInbound == 0 && e.helper.ClaimTCP(rport) {
			s.flags |= flagHelper
		}
		if e.pending.n > 0 && fl&flagInbound == 0 {
			e.pending.cancel(m.extPort, rip, rport)
		}
	case packet.ProtoUDP:
		s.state = stUDP
	default:
		s.state = stICMP
	}
	e.t.link(i)
	if inbound {
		e.in.perHost[ip]++
		e.in.push(i)
	} else {
		e.perHost[ip]++
	}
	e.cnt.SessionsCreated++
	return i, ReasonNone
}

// evict frees a slot when the table is full. Unconfirmed sessions opened
// from the WAN go first (the oldest, from the ring); then sessions the LAN
// opened that never saw a reply, found in a bounded sample after the sweep
// cursor. Confirmed sessions opened from the WAN are never evicted.
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

// allocPort picks an external port for a new mapping: the internal port if
// it is free (port preservation), else a random free port in the same range
// (0–1023 or 1024–65535, RFC 4787 REQ-3a). ICMP identifiers use the whole
// 16-bit space. Ports are never overloaded.
func (e *Engine) allocPort(proto uint8, want uint16) (uint16, bool) {
	arr := &e.t.extPorts[protoIndex(proto)]
	reserved := func(p uint16) bool { return proto == packet.ProtoUDP && p == 68 }
	if (want != 0 || proto == packet.ProtoICMP) && arr[want] == 0 && !reserved(want) {
		return want, true
	}
	lo, hi := uint32(1024), uint32(65535)
	switch {
	case proto == packet.ProtoICMP:
		lo = 0
	case want < 1024:
		lo, hi = 1, 1023
	}
	// The first free port at or after a random start, wrapping around.
	start := lo + uint32(e.random()%uint64(hi-lo+1))
	if p, ok := e.t.freePort(proto, start, hi); ok {
		return p, true
	}
	if start > lo {
		return e.t.freePort(proto, lo, start-1)
	}
	return 0, false
}

func (e *Engine) random() uint64 {
	// xorshift64*
	x := e.rng
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	e.rng = x
	return x * 0x2545f4914f6cdd1d
}

// Sessions opened from the WAN (port forwards, the DMZ) are kept apart from
// the LAN host's own, so that no WAN sender can use up a host's quota or
// hold table space for long:
//
//   - They count against their own per-host quota, inboundMax (a quarter
//     of the per-host limit), never against the host's quota for the flows
//     it opens itself.
//   - Until the remote confirms them they are "unconfirmed": TCP until the
//     remote acknowledges the LAN side's SYN-ACK (state syn-received, on
//     the transitory timer; state.go), UDP until the LAN host sends
//     something back. At most unconfirmedMax of them exist in the whole
//     table: each is remembered in a ring in creation order, and a new one
//     evicts the oldest. A forged-SYN flood therefore churns the ring
//     instead of filling the table, and a real client's handshake survives
//     unless the flood sends unconfirmedMax SYNs within one round trip.
//   - When the table is full they are evicted first.
type inboundState struct {
	perHost map[uint32]uint32 // LAN host → sessions opened from the WAN
	ring    []uint32          // session indexes, oldest first from head; may be stale
	head, n int
}

// inboundMax is the per-host limit on sessions opened from the WAN.
func (e *Engine) inboundMax() uint32 { return max(e.hostMax/4, 1) }

// unconfirmedMax is the table-wide limit on unconfirmed sessions opened from
// the WAN: half of one host's inbound quota, so that a flood at one host
// leaves it room for confirmed connections.
func (e *Engine) unconfirmedMax() int { return int(max(e.inboundMax()/2, 1)) }

// unconfirmed reports whether s was opened from the WAN and not confirmed
// yet. A free slot (proto 0, flags 0) is not.
func unconfirmed(s *session) bool {
	return s.flags&flagInbound != 0 && (s.state == stSynIn || (s.proto == packet.ProtoUDP && s.pktsOut == 0))
}

// pop takes the oldest entry off the ring and evicts its session if that is
// (still) an unconfirmed session opened from the WAN. Entries go stale when
// their session is confirmed, expires or is flushed; a slot reused by a
// newer unconfirmed session is evicted in its place, which keeps the
// invariant that every unconfirmed session has an entry of its own, so at
// most len(ring) exist. It reports whether it evicted a session.
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

// makeRoom prepares the ring for a new entry: it is (re)sized to
// unconfirmedMax when the configuration changed it, and its oldest entry
// is taken off when it is full. Before the first session opened from the
// WAN it allocates the quota map and the ring; after that it allocates only
// when a reconfiguration changes the ring's size.
func (q *inboundState) makeRoom(e *Engine) {
	if q.perHost == nil {
		q.perHost = make(map[uint32]uint32)
	}
	if want := e.unconfirmedMax(); len(q.ring) != want {
		// Shrinking evicts the oldest unconfirmed sessions beyond the new
		// size (bounded by the old size, once per reconfiguration).
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

// push remembers session i as the newest unconfirmed one; makeRoom made room.
func (q *inboundState) push(i uint32) {
	q.ring[(q.head+q.n)%len(q.ring)] = i
	q.n++
}

// evictOldest evicts the oldest unconfirmed session opened from the WAN,
// looking at a bounded number of ring entries (stale ones are dropped on
// the way). It reports whether it evicted one.
func (q *inboundState) evictOldest(e *Engine) bool {
	for k := 0; k < 16 && q.n > 0; k++ {
		if q.pop(e) {
			return true
		}
	}
	return false
}
