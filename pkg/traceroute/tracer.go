package traceroute

import (
	"context"
	"sync"
	"time"
)

// Options configure a Tracer.
type Options struct {
	Params
	// MaxAge is how long a trace's outcome (an error too) is given out
	// again instead of probing anew (0: DefaultMaxAge).
	MaxAge time.Duration
	// Dial opens the probing socket (nil: DialUDP).
	Dial func() (Conn, error)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Tracer runs traces one at a time and keeps the last outcome for
// MaxAge, so that callers in a hurry (every "show vpn diagnose", the web
// page) share one. Safe for concurrent use.
type Tracer struct {
	o       Options
	probing sync.Mutex // held by the one trace on the network

	mu   sync.Mutex
	gen  uint64 // bumped by Forget
	last *run   // the latest finished run of generation gen
	cur  *run   // the run callers wait for, if any
}

type run struct {
	gen  uint64
	done chan struct{}
	end  time.Time
	res  Result
	err  error
}

// New returns a Tracer.
func New(o Options) *Tracer {
	o.Params = o.Params.norm()
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Dial == nil {
		o.Dial = DialUDP
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Tracer{o: o}
}

// Trace returns the outcome of a trace at most MaxAge old, starting one
// if there is none (callers that come while it runs wait for the same
// one). It returns early with ctx's error when ctx ends; the trace goes
// on, bounded by Params.Limit, and is kept for the next caller.
func (t *Tracer) Trace(ctx context.Context) (Result, error) {
	t.mu.Lock()
	if l := t.last; l != nil && t.o.Now().Sub(l.end) < t.o.MaxAge {
		t.mu.Unlock()
		return l.res, l.err
	}
	r := t.cur
	if r == nil || r.gen != t.gen {
		r = &run{gen: t.gen, done: make(chan struct{})}
		t.cur = r
		go t.do(r)
	}
	t.mu.Unlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Forget drops the kept outcome (the WAN address changed): the next
// Trace probes anew. It does not wait for a trace that runs.
func (t *Tracer) Forget() {
	t.mu.Lock()
	t.gen++
	t.last = nil
	t.mu.Unlock()
}

func (t *Tracer) do(r *run) {
	t.probing.Lock()
	r.res, r.err = t.once()
	t.probing.Unlock()
	t.mu.Lock()
	r.end = t.o.Now()
	if t.cur == r {
		t.cur = nil
	}
	if r.gen == t.gen {
		t.last = r
	}
	t.mu.Unlock()
	close(r.done)
}

// once runs one trace on a socket of its own, bounded by Params.Limit
// and a little more for the socket's opening and closing.
func (t *Tracer) once() (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.o.Limit()+time.Second)
	defer cancel()
	c, err := t.o.Dial()
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	return Run(ctx, c, t.o.Params, t.o.Now)
}
