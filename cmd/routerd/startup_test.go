package main

import (
	"runtime/debug"
	"testing"
)

// TestPauseGC: the collector is off during start-up, with a heap limit
// past which it still collects, and both settings are as they were once
// resumed, however often resume is called.
func TestPauseGC(t *testing.T) {
	oldPercent := debug.SetGCPercent(73)
	oldLimit := debug.SetMemoryLimit(1 << 40)
	defer func() { debug.SetGCPercent(oldPercent); debug.SetMemoryLimit(oldLimit) }()

	resume := pauseGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GC percent during start-up %d, want -1 (off)", p)
	}
	if l := debug.SetMemoryLimit(-1); l != startupHeapLimit {
		t.Errorf("memory limit during start-up %d, want %d", l, startupHeapLimit)
	}
	resume()
	resume()
	if p := debug.SetGCPercent(-1); p != 73 {
		t.Errorf("GC percent after start-up %d, want 73", p)
	}
	debug.SetGCPercent(73)
	if l := debug.SetMemoryLimit(-1); l != 1<<40 {
		t.Errorf("memory limit after start-up %d, want %d", l, int64(1<<40))
	}

	// A lower limit than the start-up's is kept.
	debug.SetMemoryLimit(8 << 20)
	resume = pauseGC()
	if l := debug.SetMemoryLimit(-1); l != 8<<20 {
		t.Errorf("memory limit during start-up %d, want the lower 8 MiB kept", l)
	}
	resume()
}
