package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// startupClock times the worker's start-up phases for one log line when
// the router is ready: where the boot time goes (docs/performance.md,
// Boot), measured on every boot rather than guessed.
type startupClock struct {
	mu     sync.Mutex
	start  time.Time
	last   time.Time
	phases []string
}

func newStartupClock(start time.Time) *startupClock {
	return &startupClock{start: start, last: start}
}

// mark ends the phase that began at the previous mark. A nil clock (a
// router a test built) marks nothing.
func (c *startupClock) mark(phase string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.phases = append(c.phases, fmt.Sprintf("%s %v", phase, now.Sub(c.last).Round(time.Millisecond)))
	c.last = now
}

// String is the total so far and the phases.
func (c *startupClock) String() string {
	if c == nil {
		return "(not timed)"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%v (%s)", c.last.Sub(c.start).Round(time.Millisecond), strings.Join(c.phases, ", "))
}
