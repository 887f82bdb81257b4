package dataplane

import (
	"fmt"
	"time"
)

// capture mirrors a port's frames (received and sent) to a callback.
type capture struct {
	left   int
	filter func(frame []byte) bool
	emit   func(ts time.Time, frame []byte)
	done   chan struct{}
}

// Capture mirrors up to count frames received or sent on port ("lan",
// "wan" or "self") that pass filter (nil: all) to emit, which gets a frame
// valid only during the call and must not block. The returned channel is
// closed when count frames were captured or stop is called. One capture per
// port at a time.
func (d *Dataplane) Capture(port string, count int, filter func([]byte) bool, emit func(time.Time, []byte)) (done <-chan struct{}, stop func(), err error) {
	p := -1
	for i, n := range portNames {
		if n == port && d.links[i] != nil {
			p = i
		}
	}
	if p < 0 {
		return nil, nil, fmt.Errorf("dataplane: no port %q; use lan, wan or self", port)
	}
	if count <= 0 {
		return nil, nil, fmt.Errorf("dataplane: capture count %d must be positive", count)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.caps[p] != nil {
		return nil, nil, fmt.Errorf("dataplane: a capture on %s is already running", port)
	}
	c := &capture{left: count, filter: filter, emit: emit, done: make(chan struct{})}
	d.caps[p] = c
	if p != PortSelf {
		d.offloadFlush() // the capture must see every frame (flowoffload.go)
	}
	stop = func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.caps[p] == c {
			d.caps[p] = nil
			close(c.done)
		}
	}
	return c.done, stop, nil
}

// tap offers a frame seen on port p to its capture, if any.
func (d *Dataplane) tap(p int, f []byte) {
	c := d.caps[p]
	if c == nil || (c.filter != nil && !c.filter(f)) {
		return
	}
	c.emit(time.Now(), f)
	if c.left--; c.left == 0 {
		d.caps[p] = nil
		close(c.done)
	}
}
