package dataplane

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/passgate/passgate/internal/sleeper"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/qos"
)

// Shaped ports (issue #18): frames for a port with a shaper go into its
// qos.Shaper instead of straight out, and the port's own goroutine sends
// them at the shaper's rate. A shaped port takes no offloaded frames:
// super-packets are cut and checksums filled before shaping, so that the
// shaper sees (and paces) what goes on the wire.

// shapedPort is one port's shaper and sender.
type shapedPort struct {
	mu      sync.Mutex
	sh      *qos.Shaper
	classes []qos.Class
	parked  bool // the sender sleeps: wake it for a new packet (under mu)
	stop    bool // the shaper is removed: send what is left and end (under mu)
	// wake is where the sender sleeps until its next packet is due: a
	// Go timer would wake it late by up to a millisecond a packet (the
	// runtime polls in whole milliseconds), which at a household's
	// upload rates is a frame's time lost from the line (see
	// internal/sleeper).
	wake *sleeper.Sleeper
}

// ShaperStats are a shaped port's counters.
type ShaperStats struct {
	Port string
	qos.Stats
}

// SetShaper shapes what goes out of port (PortLAN or PortWAN) at rate
// bits/s with classes added to the priority tier; rate 0 removes the
// shaper (what it holds is sent at once).
func (d *Dataplane) SetShaper(port int, rate uint64, classes []qos.Class) error {
	if port != PortLAN && port != PortWAN {
		return errors.New("dataplane: only the LAN and WAN ports are shaped")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.shaped[port]
	if old != nil && rate != 0 && old.sh.Config().Rate == rate {
		old.mu.Lock()
		old.classes = classes
		old.mu.Unlock()
		return nil
	}
	if rate == 0 {
		if old != nil {
			old.remove()
			d.shaped[port] = nil
		}
		return nil
	}
	wake, err := sleeper.New()
	if err != nil {
		return fmt.Errorf("dataplane: shaping %s: %w", portNames[port], err)
	}
	if old != nil {
		old.remove()
	}
	d.offloadFlush() // the shaper must see every frame (flowoffload.go)
	sp := &shapedPort{sh: qos.New(qos.Config{Rate: rate}), classes: classes, wake: wake}
	d.shaped[port] = sp
	go sp.run(d.links[port], d.cfg.Clock, d.cfg.Logf)
	return nil
}

// remove ends the sender: what the shaper holds goes out unshaped.
func (sp *shapedPort) remove() {
	sp.mu.Lock()
	sp.stop = true
	sp.mu.Unlock()
	sp.wake.Wake()
}

// ShaperStats returns the shaped ports' counters.
func (d *Dataplane) ShaperStats() []ShaperStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ShaperStats
	for p, sp := range d.shaped {
		if sp == nil {
			continue
		}
		sp.mu.Lock()
		out = append(out, ShaperStats{Port: portNames[p], Stats: sp.sh.Stats()})
		sp.mu.Unlock()
	}
	return out
}

// shape hands a complete frame to port's shaper (called under mu).
func (d *Dataplane) shape(sp *shapedPort, b []byte) {
	var ip []byte
	if len(b) > packet.EthernetHeaderLen {
		switch packet.Ethernet(b).EtherType() {
		case packet.EtherTypeIPv4, packet.EtherTypeIPv6:
			ip = b[packet.EthernetHeaderLen:]
		}
	}
	sp.mu.Lock()
	tier, hash := qos.Classify(ip, sp.classes)
	ipOff := packet.EthernetHeaderLen
	if ip == nil {
		tier, ipOff = qos.Priority, -1 // ARP, ND's Ethernet frames: never wait
	}
	sp.sh.EnqueueIP(b, ipOff, hash, tier, d.cfg.Clock())
	wake := sp.parked
	sp.parked = false
	sp.mu.Unlock()
	if wake {
		sp.wake.Wake()
	}
}

// run sends what the shaper releases, sleeping until the next packet is
// due or a new one comes, until the shaper is removed or the port closes.
func (sp *shapedPort) run(l link.Link, clock func() time.Duration, logf func(string, ...any)) {
	defer sp.wake.Close()
	if err := sleeper.Prioritize(senderNice); err != nil {
		logf("dataplane: %s: shaper: the sender keeps the usual priority: %v", l.Name(), err)
	}
	frames := make([]link.Frame, 0, 64)
	flush := func() bool {
		if len(frames) == 0 {
			return true
		}
		_, err := l.WriteBatch(frames)
		sp.mu.Lock()
		for _, f := range frames {
			sp.sh.Release(f.Data)
		}
		sp.mu.Unlock()
		frames = frames[:0]
		if errors.Is(err, link.ErrClosed) {
			return false
		}
		if err != nil {
			logf("dataplane: %s: shaped send: %v", l.Name(), err)
		}
		return true
	}
	for {
		sp.mu.Lock()
		sp.parked = false
		if sp.stop {
			// Removed: what is left goes out unshaped (WriteBatch copies).
			sp.sh.Drain(func(p []byte) { l.WriteBatch([]link.Frame{{Data: p, Len: len(p)}}) })
			sp.mu.Unlock()
			return
		}
		now := clock()
		for len(frames) < cap(frames) {
			p := sp.sh.Dequeue(now)
			if p == nil {
				break
			}
			frames = append(frames, link.Frame{Data: p, Len: len(p)})
		}
		next, queued := sp.sh.Next(now)
		sp.parked = len(frames) == 0
		sp.mu.Unlock()
		if len(frames) > 0 {
			if !flush() {
				return
			}
			continue
		}
		wait := time.Duration(-1) // until a packet comes
		if queued {
			wait = max(next-now, 50*time.Microsecond) // never a busy loop
		}
		if _, err := sp.wake.Sleep(wait); err != nil {
			logf("dataplane: %s: shaper: %v", l.Name(), err)
			time.Sleep(time.Millisecond) // not a busy loop if it persists
		}
	}
}

// senderNice is the scheduling priority of a shaper's sender thread:
// above the processes beside routerd and routerd's other threads, so
// that it runs when its packet is due, as a kernel shaper's timer would.
// It sleeps whenever nothing is due, so it takes no more CPU for it.
const senderNice = -10
