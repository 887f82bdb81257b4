// Package landev keeps the devices seen on the LAN, by MAC address (first
// and last seen, frames), and applies the LAN's MAC filter to them: an
// allow list (only the devices listed) or a deny list (all but them). The
// data plane asks it about every frame from the LAN; a frame from a device
// the filter blocks is dropped before anything else looks at it, so the
// device gets no DHCP lease, no ARP answer and nothing forwarded.
//
// See costs one comparison for a burst of one device's frames, one more
// through a small cache for devices taking turns, and a map lookup only
// when two devices' addresses share a cache slot; it allocates only for a device not seen before. The
// table is bounded (Max): a new device beyond it replaces the one seen
// least recently, so a flood of made-up source addresses costs O(1) per
// frame and cannot grow memory.
package landev

import (
	"time"
)

// Mode is how the filter uses its list.
type Mode uint8

// The filter's modes.
const (
	Off   Mode = iota // every device passes
	Allow             // only the devices listed pass
	Deny              // every device but those listed passes
)

// DefaultMax is the number of devices kept by default.
const DefaultMax = 1024

// Device is what the table knows of one device.
type Device struct {
	MAC       [6]byte
	FirstSeen time.Duration // on the clock See is given
	LastSeen  time.Duration // to the second
	Frames    uint64        // frames seen from it
	Dropped   uint64        // of which the filter dropped
	Blocked   bool          // the filter blocks it now
}

// Config sets up a Table.
type Config struct {
	// Max is the number of devices kept (default DefaultMax).
	Max int
	// OnNew is told of a device seen for the first time (or again after
	// it was forgotten), and whether the filter blocks it. It is called
	// from See, on the data plane's path: it must not block.
	OnNew func(mac [6]byte, blocked bool)
}

type entry struct {
	Device
	lastSec    uint32
	prev, next *entry
}

// Table is the device table and the filter. It is not safe for concurrent
// use: the data plane calls it under its own lock.
type Table struct {
	max   int
	onNew func([6]byte, bool)
	by    map[[6]byte]*entry
	// cache holds, per the MAC's last byte, the entry last looked up:
	// most frames skip the map.
	cache [256]*entry
	lru   entry // sentinel: lru.next is the least recently seen
	last  *entry
	mode  Mode
	list  map[[6]byte]bool
	// Dropped counts every frame the filter dropped, also of devices the
	// table no longer holds.
	dropped uint64
}

// New returns an empty table with the filter off.
func New(c Config) *Table {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	t := &Table{max: c.Max, onNew: c.OnNew, by: make(map[[6]byte]*entry), list: map[[6]byte]bool{}}
	t.lru.prev, t.lru.next = &t.lru, &t.lru
	return t
}

// See records a frame from mac at now and reports whether the filter lets
// it through.
func (t *Table) See(mac [6]byte, now time.Duration) bool {
	e := t.last
	if e == nil || e.MAC != mac {
		slot := &t.cache[mac[5]]
		if e = *slot; e == nil || e.MAC != mac {
			if e = t.by[mac]; e == nil {
				e = t.add(mac, now)
			}
			*slot = e
		}
		t.last = e
		t.toBack(e)
	}
	if sec := uint32(now / time.Second); sec != e.lastSec {
		e.lastSec = sec
		e.LastSeen = time.Duration(sec) * time.Second
	}
	e.Frames++
	if e.Blocked {
		e.Dropped++
		t.dropped++
		return false
	}
	return true
}

func (t *Table) add(mac [6]byte, now time.Duration) *entry {
	var e *entry
	if len(t.by) >= t.max {
		// Reuse the least recently seen device's record.
		e = t.lru.next
		t.drop(e)
		*e = entry{}
	} else {
		e = &entry{}
	}
	sec := uint32(now / time.Second)
	e.Device = Device{MAC: mac, FirstSeen: now, LastSeen: time.Duration(sec) * time.Second, Blocked: t.blocks(mac)}
	e.lastSec = sec
	t.by[mac] = e
	t.pushBack(e)
	if t.onNew != nil {
		t.onNew(mac, e.Blocked)
	}
	return e
}

func (t *Table) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (t *Table) pushBack(e *entry) {
	e.prev, e.next = t.lru.prev, &t.lru
	t.lru.prev.next = e
	t.lru.prev = e
}

func (t *Table) toBack(e *entry) {
	if t.lru.prev == e {
		return
	}
	t.unlink(e)
	t.pushBack(e)
}

func (t *Table) blocks(mac [6]byte) bool {
	switch t.mode {
	case Allow:
		return !t.list[mac]
	case Deny:
		return t.list[mac]
	}
	return false
}

// SetFilter makes the filter use list in mode, for the devices known and
// those to come, and returns the devices it now blocks that it did not
// before (their connections are the caller's to end).
func (t *Table) SetFilter(mode Mode, list [][6]byte) (newlyBlocked [][6]byte) {
	t.mode = mode
	t.list = make(map[[6]byte]bool, len(list))
	for _, m := range list {
		t.list[m] = true
	}
	for e := t.lru.next; e != &t.lru; e = e.next {
		b := t.blocks(e.MAC)
		if b && !e.Blocked {
			newlyBlocked = append(newlyBlocked, e.MAC)
		}
		e.Blocked = b
	}
	return newlyBlocked
}

// Blocks reports whether the filter blocks mac.
func (t *Table) Blocks(mac [6]byte) bool { return t.blocks(mac) }

// Devices returns the devices known, the most recently seen first.
func (t *Table) Devices() []Device {
	out := make([]Device, 0, len(t.by))
	for e := t.lru.prev; e != &t.lru; e = e.prev {
		out = append(out, e.Device)
	}
	return out
}

// Dropped is the number of frames the filter dropped.
func (t *Table) Dropped() uint64 { return t.dropped }

// Forget drops the record of mac (a device the owner no longer wants
// listed); the next frame from it makes it new again.
func (t *Table) Forget(mac [6]byte) bool {
	e := t.by[mac]
	if e == nil {
		return false
	}
	t.drop(e)
	return true
}

// drop takes e out of the table, the list and the caches.
func (t *Table) drop(e *entry) {
	t.unlink(e)
	delete(t.by, e.MAC)
	if t.last == e {
		t.last = nil
	}
	if t.cache[e.MAC[5]] == e {
		t.cache[e.MAC[5]] = nil
	}
}

// LocallyAdministered reports a MAC address its device made up rather
// than the one its maker assigned (the U/L bit): phones and laptops use
// such "private" addresses per network, so one device may show up anew
// after it changes its address.
func LocallyAdministered(mac [6]byte) bool { return mac[0]&2 != 0 }
