package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/passgate/passgate/internal/pid1"
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

// startupHeapLimit bounds the heap while the collector is paused for the
// start-up: past it the runtime collects anyway. The worker's start-up
// heap is ~11 MB on qemu-arm64 with the image's configuration.
const startupHeapLimit = 96 << 20

// pauseGC turns the garbage collector off for the worker's start-up,
// which allocates ~11 MB and would otherwise collect three times (30-40
// ms of CPU under TCG, where start-up is bound by CPU:
// docs/performance.md), and returns what turns it back on as it was.
// The returned function may be called more than once.
func pauseGC() (resume func()) {
	limit := debug.SetMemoryLimit(-1)
	if limit > startupHeapLimit {
		debug.SetMemoryLimit(startupHeapLimit)
	}
	percent := debug.SetGCPercent(-1)
	var once sync.Once
	return func() {
		once.Do(func() {
			debug.SetGCPercent(percent)
			debug.SetMemoryLimit(limit)
		})
	}
}

// endExpeditedRCU returns the kernel's RCU grace periods to normal once
// the worker is ready, when its supervisor is the kernel's first process,
// which expedited them for the start-up (pid1.Prepare, pid1.ExpediteRCU).
// Anywhere else (a test, another init) routerd changed nothing and
// changes nothing.
func endExpeditedRCU(logf func(string, ...any)) {
	if os.Getppid() != 1 {
		return
	}
	if err := pid1.ExpediteRCU(false); err != nil {
		logf("RCU grace periods stay expedited: %v", err)
	}
}
