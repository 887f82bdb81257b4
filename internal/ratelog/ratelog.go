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

// Of is a bounded queue of values of T (fixed-size, so that adding one
// does not allocate) that Run formats and logs, off the caller's path.
type Of[T any] struct {
	items  chan T
	format func(T) string
	burst  int
	every  time.Duration
	missed atomic.Uint64
}

// NewOf returns a queue that logs burst values in a row, then one per
// every, each as format says.
func NewOf[T any](burst int, every time.Duration, format func(T) string) *Of[T] {
	return &Of[T]{items: make(chan T, 64), format: format, burst: burst, every: every}
}

// Add queues v without blocking or allocating; a full queue counts it as
// left out.
func (q *Of[T]) Add(v T) {
	select {
	case q.items <- v:
	default:
		q.missed.Add(1)
	}
}

// Run logs the queued values with logf until ctx ends.
func (q *Of[T]) Run(ctx context.Context, logf func(string, ...any)) {
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
		case v := <-q.items:
			if tokens == 0 {
				q.missed.Add(1)
				continue
			}
			tokens--
			l := q.format(v)
			if m := q.missed.Swap(0); m > 0 {
				l += fmt.Sprintf(" (and %d more not logged)", m)
			}
			logf("%s", l)
		}
	}
}

// Queue is a bounded queue of log lines, formatted by Add.
type Queue struct{ *Of[string] }

// New returns a queue that logs burst lines in a row, then one per every.
func New(burst int, every time.Duration) *Queue {
	return &Queue{NewOf(burst, every, func(s string) string { return s })}
}

// Add formats a line and queues it without blocking; a full queue counts
// it as left out.
func (q *Queue) Add(format string, a ...any) { q.Of.Add(fmt.Sprintf(format, a...)) }
