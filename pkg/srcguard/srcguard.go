// Package srcguard binds each LAN IPv4 source address to the device (MAC
// address) that uses it, as a switch's "IP source guard" does, so that no
// LAN device can send with another device's address — taking its NAT
// mappings, resetting its connections, using its session quota — nor use
// more than a few addresses at once to multiply its own quota.
//
// An address is bound to the device that uses it first, or to the one the
// LAN DHCP server leases it to (authoritative). A binding holds while the
// device keeps using the address and for Hold after its last packet; then
// another device may take the address. A device may hold at most
// MaxPerDevice addresses at a time (two by default: the old and the new
// address of a lease change). The table is bounded (MaxBindings); when it
// is full the least recently used binding that is past its hold goes, and
// with none past its hold a new address is refused.
//
// Check costs one comparison for a burst of one device's packets and one
// map lookup otherwise; it allocates only when it binds a new address.
package srcguard

import (
	"net/netip"
	"time"
)

// Verdict is what Check decided about a packet's source.
type Verdict uint8

const (
	Allow    Verdict = iota
	Conflict         // the address is bound to another device
	TooMany          // the device holds MaxPerDevice addresses, or the table is full
)

// Config sets the guard's limits; zero fields take the defaults.
type Config struct {
	MaxPerDevice int           // addresses one device may hold (default 2)
	Hold         time.Duration // how long a binding outlives its last packet (default 60 s)
	MaxBindings  int           // bindings in all (default 4096)
}

// Counters count what the guard refused.
type Counters struct {
	Conflicts uint64 // packets from an address bound to another device
	TooMany   uint64 // packets from a device's address beyond MaxPerDevice, or with the table full
	Rebound   uint64 // addresses that moved to another device (after their hold, or by DHCP)
}

// Binding is one address and the device that holds it.
type Binding struct {
	Addr     netip.Addr
	MAC      [6]byte
	LastSeen time.Duration // on the clock Check is given
}

type binding struct {
	ip         uint32
	mac        [6]byte
	lastSeen   uint32 // seconds
	prev, next *binding
}

// Guard is the table. It is not safe for concurrent use: the data plane
// calls it under its own lock.
type Guard struct {
	cfg    Config
	hold   uint32
	byIP   map[uint32]*binding
	perMAC map[[6]byte]int
	lru    binding // sentinel: lru.next is the least recently used
	last   *binding
	cnt    Counters
}

// New returns an empty guard.
func New(c Config) *Guard {
	if c.MaxPerDevice <= 0 {
		c.MaxPerDevice = 2
	}
	if c.Hold <= 0 {
		c.Hold = 60 * time.Second
	}
	if c.MaxBindings <= 0 {
		c.MaxBindings = 4096
	}
	g := &Guard{cfg: c, hold: uint32(c.Hold / time.Second), byIP: make(map[uint32]*binding), perMAC: make(map[[6]byte]int)}
	g.lru.prev, g.lru.next = &g.lru, &g.lru
	return g
}

// Counters returns what the guard refused so far.
func (g *Guard) Counters() Counters { return g.cnt }

// Check decides whether device mac may send from address ip at time now.
func (g *Guard) Check(ip uint32, mac [6]byte, now time.Duration) Verdict {
	sec := uint32(now / time.Second)
	b := g.last
	if b == nil || b.ip != ip {
		b = g.byIP[ip]
	}
	switch {
	case b == nil:
		if !g.bind(ip, mac, sec, false) {
			g.cnt.TooMany++
			return TooMany
		}
		return Allow
	case b.mac == mac:
		g.last = b
		if b.lastSeen != sec {
			b.lastSeen = sec
			g.touch(b)
		}
		return Allow
	case sec-b.lastSeen <= g.hold:
		g.cnt.Conflicts++
		return Conflict
	default:
		// The old holder has been silent past its hold: the address
		// moves, if the new device has room.
		if !g.bind(ip, mac, sec, false) {
			g.cnt.TooMany++
			return TooMany
		}
		return Allow
	}
}

// Lease records that the LAN DHCP server leased ip to mac: the address
// is that device's from now on, whoever held it.
func (g *Guard) Lease(ip uint32, mac [6]byte, now time.Duration) {
	g.bind(ip, mac, uint32(now/time.Second), true)
}

// bind gives ip to mac. A device holding MaxPerDevice addresses, or a
// full table, takes a new binding only once older ones have passed their
// hold — or, forced (a DHCP lease), in place of the device's (or the
// table's) least recently used binding.
func (g *Guard) bind(ip uint32, mac [6]byte, sec uint32, forced bool) bool {
	if old := g.byIP[ip]; old != nil {
		if old.mac == mac {
			old.lastSeen = sec
			g.touch(old)
			return true
		}
		g.remove(old)
		g.cnt.Rebound++
	}
	g.expire(sec)
	if g.perMAC[mac] >= g.cfg.MaxPerDevice {
		if !forced {
			return false
		}
		for b := g.lru.next; b != &g.lru; b = b.next {
			if b.mac == mac {
				g.remove(b)
				break
			}
		}
	}
	if len(g.byIP) >= g.cfg.MaxBindings {
		if !forced {
			return false
		}
		g.remove(g.lru.next)
	}
	b := &binding{ip: ip, mac: mac, lastSeen: sec}
	g.byIP[ip] = b
	g.perMAC[mac]++
	g.pushBack(b)
	return true
}

// expireBudget bounds the bindings one call removes; what is left goes
// at the next binding attempt, so the cost is constant per call.
const expireBudget = 64

// expire removes bindings past their hold from the front of the list
// (least recently used first): such an address is free for anyone.
func (g *Guard) expire(sec uint32) {
	for i := 0; i < expireBudget && g.lru.next != &g.lru && sec-g.lru.next.lastSeen > g.hold; i++ {
		g.remove(g.lru.next)
	}
}

func (g *Guard) remove(b *binding) {
	if g.last == b {
		g.last = nil
	}
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(g.byIP, b.ip)
	if n := g.perMAC[b.mac] - 1; n > 0 {
		g.perMAC[b.mac] = n
	} else {
		delete(g.perMAC, b.mac)
	}
}

func (g *Guard) pushBack(b *binding) {
	b.prev, b.next = g.lru.prev, &g.lru
	g.lru.prev.next = b
	g.lru.prev = b
}

func (g *Guard) touch(b *binding) {
	b.prev.next, b.next.prev = b.next, b.prev
	g.pushBack(b)
}

// Bindings lists the table, least recently used first.
func (g *Guard) Bindings() []Binding {
	out := make([]Binding, 0, len(g.byIP))
	for b := g.lru.next; b != &g.lru; b = b.next {
		out = append(out, Binding{Addr: netip.AddrFrom4([4]byte{byte(b.ip >> 24), byte(b.ip >> 16), byte(b.ip >> 8), byte(b.ip)}),
			MAC: b.mac, LastSeen: time.Duration(b.lastSeen) * time.Second})
	}
	return out
}

// Forget empties the table (the LAN was renumbered).
func (g *Guard) Forget() {
	g.byIP = make(map[uint32]*binding)
	g.perMAC = make(map[[6]byte]int)
	g.lru.prev, g.lru.next = &g.lru, &g.lru
	g.last = nil
}
