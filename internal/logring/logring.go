// Package logring keeps the most recent log lines in a fixed-size ring, for
// `show log`: the router logs to the console too, so nothing here is ever
// written to storage.
package logring

import (
	"sync"
	"time"
)

// Line is one logged line and when it was added.
type Line struct {
	Time time.Time
	Text string
}

// Ring holds the last Size lines; once full, each new line replaces the
// oldest. It is safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	lines []Line // len ≤ size; once full, next is the oldest
	next  int
	size  int
	now   func() time.Time
}

// New returns a ring that keeps the last size lines (at least one).
func New(size int) *Ring {
	return &Ring{size: max(size, 1), now: time.Now}
}

// Add appends a line stamped with the current time.
func (r *Ring) Add(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := Line{Time: r.now(), Text: text}
	if len(r.lines) < r.size {
		r.lines = append(r.lines, l)
		return
	}
	r.lines[r.next] = l
	r.next = (r.next + 1) % r.size
}

// Lines returns a copy of the kept lines, oldest first.
func (r *Ring) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Line, 0, len(r.lines))
	out = append(out, r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}
