// Package ratelog carries log lines from where they happen — the data
// plane's path, which must not block — to the log, at a bounded rate: a
// burst, then one line per interval, and a count of the lines left out,
// so that a flood (made-up MAC addresses, a rule matching a port scan)
// cannot flood the log.
package ratelog

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Queue is a bounded queue of log lines.
type Queue struct {
	lines  chan string
	burst  int
	every  time.Duration
	missed atomic.Uint64
}

// New returns a queue that logs burst lines in a row, then one per every.
func New(burst int, every time.Duration) *Queue {
	return &Queue{lines: make(chan string, 64), burst: burst, every: every}
}

// Add queues a line without blocking; a full queue counts it as left out.
func (q *Queue) Add(format string, a ...any) {
	select {
	case q.lines <- fmt.Sprintf(format, a...):
	default:
		q.missed.Add(1)
	}
}

// Run logs the queued lines with logf until ctx ends.
func (q *Queue) Run(ctx context.Context, logf func(string, ...any)) {
	tokens := q.burst
	refill := time.NewTicker(q.every)
	defer refill.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-refill.C:
			if tokens < q.burst {
				tokens++
			}
		case l := <-q.lines:
			if tokens == 0 {
				q.missed.Add(1)
				continue
			}
			tokens--
			if m := q.missed.Swap(0); m > 0 {
				l += fmt.Sprintf(" (and %d more not logged)", m)
			}
			logf("%s", l)
		}
	}
}
