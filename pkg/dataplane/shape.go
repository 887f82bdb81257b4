package dataplane

import (
	"context"
	"errors"
	"time"

	"sync"

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
	kick    chan struct{}
	cancel  context.CancelFunc
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
	if old != nil {
		old.cancel()
		d.shaped[port] = nil
	}
	if rate == 0 {
		return nil
	}
	d.offloadFlush() // the shaper must see every frame (flowoffload.go)
	ctx, cancel := context.WithCancel(context.Background())
	sp := &shapedPort{sh: qos.New(qos.Config{Rate: rate}), classes: classes, kick: make(chan struct{}, 1), cancel: cancel}
	d.shaped[port] = sp
	go sp.run(ctx, d.links[port], d.cfg.Clock, d.cfg.Logf)
	return nil
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
	sp.mu.Unlock()
	select {
	case sp.kick <- struct{}{}:
	default:
	}
}

// run sends what the shaper releases, sleeping until the next packet is
// due, until ctx ends or the port closes.
func (sp *shapedPort) run(ctx context.Context, l link.Link, clock func() time.Duration, logf func(string, ...any)) {
	frames := make([]link.Frame, 0, 64)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
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
		now := clock()
		for len(frames) < cap(frames) {
			p := sp.sh.Dequeue(now)
			if p == nil {
				break
			}
			frames = append(frames, link.Frame{Data: p, Len: len(p)})
		}
		next, queued := sp.sh.Next(now)
		sp.mu.Unlock()
		if len(frames) > 0 {
			if !flush() {
				return
			}
			continue
		}
		var due <-chan time.Time
		if queued {
			timer.Reset(max(next-now, 50*time.Microsecond))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			// Removed: what is left goes out unshaped (WriteBatch copies).
			sp.mu.Lock()
			sp.sh.Drain(func(p []byte) { l.WriteBatch([]link.Frame{{Data: p, Len: len(p)}}) })
			sp.mu.Unlock()
			return
		case <-sp.kick:
		case <-due:
		}
		if queued && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
