package ndp6

import (
	"fmt"
	"net/netip"
	"time"
)

// State is a neighbour cache entry's reachability state (RFC 4861 §7.3.2).
type State uint8

const (
	Incomplete State = iota + 1 // resolution under way, multicast solicitations sent
	Reachable                   // confirmed within ReachableTime
	Stale                       // not confirmed lately; used as is, confirmed on next use
	Delay                       // used while STALE; waiting DelayFirstProbeTime for a hint
	Probe                       // unicast solicitations sent
)

var stateNames = [...]string{"", "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE"}

func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

type entry struct {
	addr      netip.Addr
	mac       [6]byte
	state     State // 0: free slot
	router    bool
	priority  bool          // INCOMPLETE in a reserved slot
	probes    uint8         // solicitations sent in INCOMPLETE/PROBE
	timer     time.Duration // next retransmission or DELAY → PROBE
	confirmed time.Duration // last reachability confirmation
	used      time.Duration // last time a packet was sent to it (LRU)
	hint      netip.Addr    // source of the packet that started resolution
	queue     [][]byte
}

type source struct {
	key    uint64 // the source's /64
	tokens float64
	last   time.Duration
	inUse  bool
}

// Verdict is Resolve's answer.
type Verdict uint8

const (
	Resolved Verdict = iota // send the frame to the returned MAC now
	Queued                  // the frame was copied and will come out of Handle once resolved
	Dropped                 // the frame was not kept (caps, rate, no usable source address)
)

var verdictNames = [...]string{"resolved", "queued", "dropped"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", v)
}

// Resolve finds the link-layer address of the on-link neighbour dst for
// frame, a complete Ethernet frame whose destination MAC is to be filled
// in (the caller decides that dst is on-link). With Resolved the caller
// sends the frame to mac; the lookup allocates nothing. Otherwise frame was
// queued (a copy) or dropped, and a neighbour solicitation may have been
// appended to out. Using a STALE entry moves it to DELAY (RFC 4861 §7.3.3).
//
// A new resolution is refused (Dropped) rather than evicting anything: when
// the INCOMPLETE cap is reached (the last ReservedIncomplete slots only
// for packets from the node's own addresses, or frame == nil), or when the
// packet's source /64 has used up its SourceRate.
func (n *Node) Resolve(out [][]byte, dst netip.Addr, frame []byte, now time.Duration) ([6]byte, Verdict, [][]byte) {
	if i, ok := n.index[dst]; ok {
		e := &n.ents[i]
		if e.state == Incomplete {
			return [6]byte{}, n.enqueue(e, frame), out
		}
		n.age(e, now)
		if e.state == Stale {
			e.state, e.timer = Delay, now+DelayFirstProbeTime
		}
		e.used = now
		return e.mac, Resolved, out
	}
	if !dst.Is6() || dst.Is4In6() || dst.IsMulticast() || dst.IsUnspecified() || dst.IsLoopback() {
		return [6]byte{}, Dropped, out
	}
	src := IPv6Source(frame)
	priority := frame == nil || n.assigned(src)
	limit := n.cfg.MaxIncomplete
	if !priority {
		limit -= n.cfg.ReservedIncomplete
	}
	if n.nIncomplete >= limit {
		n.cnt.IncompleteFull++
		n.dropped(frame)
		return [6]byte{}, Dropped, out
	}
	if !priority && !n.allow(src, now) {
		n.cnt.SourceLimited++
		n.dropped(frame)
		return [6]byte{}, Dropped, out
	}
	var sent bool
	if out, sent = n.solicit(out, dst, src, false, [6]byte{}); !sent {
		n.dropped(frame)
		return [6]byte{}, Dropped, out
	}
	i := n.alloc(dst)
	e := &n.ents[i]
	e.state, e.priority, e.probes, e.timer, e.used, e.hint = Incomplete, priority, 1, now+n.cfg.RetransTimer, now, src
	n.nIncomplete++
	return [6]byte{}, n.enqueue(e, frame), out
}

func (n *Node) dropped(frame []byte) {
	if frame != nil {
		n.cnt.QueueDropped++
	}
}

// enqueue copies frame onto e's queue, within the caps; non-priority
// packets may fill only three quarters of MaxQueued.
func (n *Node) enqueue(e *entry, frame []byte) Verdict {
	if frame == nil {
		return Queued
	}
	limit := n.cfg.MaxQueued
	if !e.priority {
		limit -= n.cfg.MaxQueued / 4
	}
	if len(e.queue) >= n.cfg.MaxQueuedPerNeighbour || n.nQueued >= limit {
		n.cnt.QueueDropped++
		return Dropped
	}
	e.queue = append(e.queue, append([]byte(nil), frame...))
	n.nQueued++
	return Queued
}

// allow takes a token from src's /64 bucket. The table holds numSources
// buckets; an unknown source takes the least recently used one. (A scanner
// spoofing many sources escapes this, not the INCOMPLETE cap.)
func (n *Node) allow(src netip.Addr, now time.Duration) bool {
	b := src.As16()
	key := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	victim := 0
	for i := range n.sources {
		s := &n.sources[i]
		if s.inUse && s.key == key {
			s.tokens = min(float64(n.cfg.SourceBurst), s.tokens+n.cfg.SourceRate*(now-s.last).Seconds())
			s.last = now
			if s.tokens < 1 {
				return false
			}
			s.tokens--
			return true
		}
		if !s.inUse || (n.sources[victim].inUse && s.last < n.sources[victim].last) {
			victim = i
		}
	}
	n.sources[victim] = source{key: key, tokens: float64(n.cfg.SourceBurst) - 1, last: now, inUse: true}
	return true
}

// alloc takes a free slot for addr; the caller has checked the caps.
func (n *Node) alloc(addr netip.Addr) int32 {
	i := n.free[len(n.free)-1]
	n.free = n.free[:len(n.free)-1]
	n.ents[i] = entry{addr: addr}
	n.index[addr] = i
	return i
}

// remove frees slot i and returns its queued frames.
func (n *Node) remove(i int32) [][]byte {
	e := &n.ents[i]
	q := e.queue
	n.nQueued -= len(q)
	if e.state == Incomplete {
		n.nIncomplete--
	} else {
		n.nResolved--
	}
	delete(n.index, e.addr)
	*e = entry{}
	n.free = append(n.free, i)
	return q
}

// age turns a REACHABLE entry whose confirmation is older than the
// reachable time into STALE (RFC 4861 §7.3.3), lazily.
func (n *Node) age(e *entry, now time.Duration) {
	if e.state == Reachable && now-e.confirmed > n.reachable {
		e.state = Stale
	}
}

// makeRoom makes space for one more resolved entry, evicting the least
// recently used STALE entry if the cache is full and evict is set. It
// reports whether there is room.
func (n *Node) makeRoom(evict bool, now time.Duration) bool {
	if n.nResolved < n.cfg.MaxNeighbours {
		return true
	}
	if !evict {
		return false
	}
	victim := int32(-1)
	for i := range n.ents {
		e := &n.ents[i]
		if e.state == 0 || e.state == Incomplete {
			continue
		}
		n.age(e, now)
		if e.state == Stale && (victim < 0 || e.used < n.ents[victim].used) {
			victim = int32(i)
		}
	}
	if victim < 0 {
		return false
	}
	n.cnt.Evicted++
	n.remove(victim)
	return true
}

// complete resolves INCOMPLETE entry i to mac and releases its queue.
func (n *Node) complete(out [][]byte, i int32, mac [6]byte, reachable, router bool, now time.Duration) [][]byte {
	e := &n.ents[i]
	// makeRoom never evicts an INCOMPLETE entry, so e survives it.
	if !n.makeRoom(true, now) {
		n.cnt.CacheFull++
		n.cnt.QueueDropped += uint64(len(e.queue))
		n.remove(i)
		return out
	}
	n.nIncomplete--
	n.nResolved++
	e.state = Stale
	n.cnt.Resolved++
	e.mac, e.router, e.probes, e.priority, e.hint = mac, router, 0, false, netip.Addr{}
	if reachable {
		e.state, e.confirmed = Reachable, now
	}
	for _, f := range e.queue {
		copy(f[0:6], mac[:])
		out = append(out, f)
	}
	n.nQueued -= len(e.queue)
	e.queue = nil
	return out
}

// learn records that addr is at mac from an unsolicited message (NS, RS,
// RA source link-layer address; RFC 4861 §7.2.3, §6.2.6): a new entry is
// STALE and only takes a free slot; a different address replaces the
// cached one and makes the entry STALE; an INCOMPLETE entry completes.
func (n *Node) learn(out [][]byte, addr netip.Addr, mac [6]byte, router bool, now time.Duration) [][]byte {
	if mac[0]&1 != 0 || mac == [6]byte{} {
		return out
	}
	i, ok := n.index[addr]
	if !ok {
		if !n.makeRoom(false, now) {
			n.cnt.CacheFull++
			return out
		}
		i = n.alloc(addr)
		e := &n.ents[i]
		e.state, e.mac, e.router, e.used = Stale, mac, router, now
		n.nResolved++
		return out
	}
	e := &n.ents[i]
	if e.state == Incomplete {
		return n.complete(out, i, mac, false, router, now)
	}
	if e.mac != mac {
		e.mac, e.state = mac, Stale
		n.cnt.LinkAddrChanged++
	}
	if router {
		e.router = true
	}
	return out
}

// Confirm is an upper-layer reachability hint (RFC 4861 §7.3.1): forward
// progress with addr (a TCP ACK for new data, a reply) makes its entry
// REACHABLE. It reports whether there was an entry to confirm.
func (n *Node) Confirm(addr netip.Addr, now time.Duration) bool {
	i, ok := n.index[addr]
	if !ok || n.ents[i].state == Incomplete {
		return false
	}
	e := &n.ents[i]
	e.state, e.confirmed, e.probes = Reachable, now, 0
	return true
}

// Tick runs the timers at now: DAD probes and address assignment,
// INCOMPLETE retransmissions, DELAY → PROBE, unicast probes, and removal
// of entries that stayed unanswered or unused. Solicitations are appended
// to out; packets whose resolution failed are appended to failed, for an
// ICMPv6 Destination Unreachable (Address Unreachable) if the caller sends
// one (RFC 4861 §7.2.2). Tick costs one pass over the slots; call it every
// few hundred milliseconds.
func (n *Node) Tick(out, failed [][]byte, now time.Duration) ([][]byte, [][]byte) {
	out = n.tickMLD(out, now) // before tickAddrs: the join precedes the DAD probe
	out = n.tickAddrs(out, now)
	for i := range n.ents {
		e := &n.ents[i]
		switch e.state {
		case Incomplete:
			if now < e.timer {
				continue
			}
			if e.probes < MaxMulticastSolicit {
				var sent bool
				if out, sent = n.solicit(out, e.addr, e.hint, false, [6]byte{}); sent {
					e.probes++
					e.timer = now + n.cfg.RetransTimer
					continue
				}
			}
			n.cnt.Unresolved++
			failed = append(failed, n.remove(int32(i))...)
		case Delay:
			if now >= e.timer {
				e.state, e.probes = Probe, 0
				e.timer = now
			}
			fallthrough
		case Probe:
			if e.state != Probe || now < e.timer {
				continue
			}
			if e.probes < MaxUnicastSolicit {
				var sent bool
				if out, sent = n.solicit(out, e.addr, netip.Addr{}, true, e.mac); sent {
					e.probes++
					e.timer = now + n.cfg.RetransTimer
					continue
				}
			}
			n.cnt.ProbeFailed++
			n.remove(int32(i))
		case Reachable, Stale:
			n.age(e, now)
			if e.state == Stale && now-e.used > n.cfg.StaleTimeout && now-e.confirmed > n.cfg.StaleTimeout {
				n.cnt.StaleCollected++
				n.remove(int32(i))
			}
		}
	}
	return out, failed
}

// Neighbour is one cache entry, as listed by Neighbours.
type Neighbour struct {
	Addr   netip.Addr
	MAC    [6]byte // zero while INCOMPLETE
	State  State
	Router bool
	Queued int // packets waiting for the resolution
}

// Neighbours appends the cache entries to dst, in slot order.
func (n *Node) Neighbours(dst []Neighbour, now time.Duration) []Neighbour {
	for i := range n.ents {
		e := &n.ents[i]
		if e.state == 0 {
			continue
		}
		n.age(e, now)
		dst = append(dst, Neighbour{Addr: e.addr, MAC: e.mac, State: e.state, Router: e.router, Queued: len(e.queue)})
	}
	return dst
}

// Lookup returns addr's entry without changing it.
func (n *Node) Lookup(addr netip.Addr, now time.Duration) (Neighbour, bool) {
	i, ok := n.index[addr]
	if !ok {
		return Neighbour{}, false
	}
	e := &n.ents[i]
	n.age(e, now)
	return Neighbour{Addr: e.addr, MAC: e.mac, State: e.state, Router: e.router, Queued: len(e.queue)}, true
}

// Usage reports how full the cache is: resolved entries, INCOMPLETE
// entries and queued packets (each below its Config cap).
func (n *Node) Usage() (resolved, incomplete, queued int) {
	return n.nResolved, n.nIncomplete, n.nQueued
}

// Forget removes addr's entry (an administrative flush, or the WAN gateway
// changed); its queued packets are dropped.
func (n *Node) Forget(addr netip.Addr) bool {
	i, ok := n.index[addr]
	if !ok {
		return false
	}
	n.cnt.QueueDropped += uint64(len(n.ents[i].queue))
	n.remove(i)
	return true
}
