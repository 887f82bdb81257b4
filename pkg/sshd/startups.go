package sshd

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Admission of connections before login, after OpenSSH's MaxStartups,
// PerSourceMaxStartups and PerSourcePenalties: whoever can reach the port
// must not be able to use up the logins in progress, so the administrator
// from another address always gets in.
//
//   - At most PerSource connections from one source (an IPv4 address, an
//     IPv6 /64) may be logging in at once; more are closed at once.
//   - In all, from Start connections logging in on, a new one is dropped
//     with probability Rate%, rising linearly to 100% at Full (OpenSSH's
//     "10:30:100": random early drop, so a crowd of sources slows
//     everybody down but cannot hold every slot).
//   - A source whose connections time out before logging in, fail to
//     log in, or close without trying, is penalised: each event adds time
//     to its penalty (up to Max); once the penalty reaches Min, every
//     connection from it is closed at once until the penalty runs out. A
//     successful login clears the source's penalty.
//
// Every table is bounded: the counts of connections in progress have at
// most Full entries; the penalties at most MaxSources, and when that is
// full an arbitrary entry gives way (O(1)).

// Startups is OpenSSH's MaxStartups "start:rate:full".
type Startups struct {
	Start int // connections logging in from which random drops begin (10)
	Rate  int // percent dropped at Start (30)
	Full  int // connections logging in at which every new one is dropped (100)
}

// Penalties are OpenSSH's PerSourcePenalties, with its defaults.
type Penalties struct {
	AuthFail      time.Duration // a connection that tried to log in and failed (5s)
	NoAuth        time.Duration // a connection closed without trying to log in (1s)
	GraceExceeded time.Duration // a connection that did not log in in time (10s)
	Min           time.Duration // a source is refused once its penalty reaches this (15s)
	Max           time.Duration // the longest penalty (10m)
	MaxSources    int           // sources remembered (4096)
}

func (p *Penalties) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.AuthFail, 5*time.Second)
	def(&p.NoAuth, time.Second)
	def(&p.GraceExceeded, 10*time.Second)
	def(&p.Min, 15*time.Second)
	def(&p.Max, 10*time.Minute)
	if p.MaxSources <= 0 {
		p.MaxSources = 4096
	}
}

func (s *Startups) defaults() {
	if s.Full <= 0 {
		s.Full = 100
	}
	if s.Start <= 0 || s.Start > s.Full {
		s.Start = min(10, s.Full)
	}
	if s.Rate <= 0 || s.Rate > 100 {
		s.Rate = 30
	}
}

// source is the key of the per-source tables: the address, or its /64 for
// IPv6 (one subscriber's network).
func source(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// penaltyKind names an event that penalises a source.
type penaltyKind int

const (
	penaltyNone    penaltyKind = iota // no change (the server is stopping)
	penaltyCleared                    // logged in: the source's penalty is cleared
	penaltyNoAuth
	penaltyAuthFail
	penaltyGrace
)

func (k penaltyKind) String() string {
	switch k {
	case penaltyNoAuth:
		return "closed without logging in"
	case penaltyAuthFail:
		return "failed to log in"
	case penaltyGrace:
		return "did not log in in time"
	}
	return "none"
}

type penalty struct {
	until  time.Time
	active bool // refused until until
}

// gate admits connections and keeps the penalties.
type gate struct {
	st       Startups
	perSrc   int
	pen      Penalties
	now      func() time.Time
	drop     func() float64 // uniform in [0,1): random early drop
	logf     func(format string, args ...any)
	mu       sync.Mutex
	total    int
	inFlight map[netip.Addr]int
	penalty  map[netip.Addr]*penalty
	refusals refusalLog
	timeouts refusalLog
}

func newGate(st Startups, perSource int, pen Penalties, logf func(string, ...any)) *gate {
	st.defaults()
	pen.defaults()
	if perSource <= 0 {
		perSource = 4
	}
	return &gate{st: st, perSrc: perSource, pen: pen, now: time.Now, drop: rand.Float64, logf: logf,
		inFlight: map[netip.Addr]int{}, penalty: map[netip.Addr]*penalty{}}
}

// admit decides on a new connection from a. It returns "" and counts the
// connection (release must follow), or why it is refused.
func (g *gate) admit(a netip.Addr) string {
	src := source(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	why := ""
	switch p := g.penalty[src]; {
	case p != nil && p.active && now.Before(p.until):
		why = fmt.Sprintf("%s is penalised for %s more (its connections failed to log in or timed out)", src, p.until.Sub(now).Round(time.Second))
	case g.inFlight[src] >= g.perSrc:
		why = fmt.Sprintf("%d logins from %s are in progress (at most %d per address)", g.inFlight[src], src, g.perSrc)
	case g.total >= g.st.Full:
		why = fmt.Sprintf("%d logins are in progress (at most %d)", g.total, g.st.Full)
	case g.total >= g.st.Start:
		span := max(g.st.Full-g.st.Start, 1)
		p := (float64(g.st.Rate) + float64(100-g.st.Rate)*float64(g.total-g.st.Start)/float64(span)) / 100
		if g.drop() < p {
			why = fmt.Sprintf("%d logins are in progress: dropped at random (%.0f%% from %d on, all at %d)", g.total, 100*p, g.st.Start, g.st.Full)
		}
	}
	if why != "" {
		g.refusals.note(now, "refused a connection: "+why, g.logf)
		return why
	}
	g.total++
	g.inFlight[src]++
	return ""
}

// release ends the count of a connection that admit let in; kind is how it
// ended.
func (g *gate) release(a netip.Addr, kind penaltyKind) {
	src := source(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if n := g.inFlight[src] - 1; n > 0 {
		g.inFlight[src] = n
	} else {
		delete(g.inFlight, src)
	}
	switch kind {
	case penaltyCleared:
		delete(g.penalty, src)
	case penaltyNoAuth:
		g.penalise(src, kind, g.pen.NoAuth)
	case penaltyAuthFail:
		g.penalise(src, kind, g.pen.AuthFail)
	case penaltyGrace:
		g.penalise(src, kind, g.pen.GraceExceeded)
	}
}

// penalise adds d to src's penalty. g.mu is held.
func (g *gate) penalise(src netip.Addr, kind penaltyKind, d time.Duration) {
	now := g.now()
	p := g.penalty[src]
	if p == nil {
		if len(g.penalty) >= g.pen.MaxSources {
			for k := range g.penalty { // an arbitrary entry gives way
				delete(g.penalty, k)
				break
			}
		}
		p = &penalty{}
		g.penalty[src] = p
	}
	if !now.Before(p.until) {
		p.until, p.active = now, false
	}
	p.until = p.until.Add(d)
	if limit := now.Add(g.pen.Max); p.until.After(limit) {
		p.until = limit
	}
	if !p.active && p.until.Sub(now) >= g.pen.Min {
		p.active = true
		g.logf("ssh: refusing connections from %s for %s: its connections %s (and earlier ones failed)",
			src, p.until.Sub(now).Round(time.Second), kind)
	}
}

// penalised reports whether connections from a are refused now.
func (g *gate) penalised(a netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.penalty[source(a)]
	return p != nil && p.active && g.now().Before(p.until)
}

// refusalLog logs a kind of event that a flood repeats (refused
// connections, logins timed out): the first at once, then a count at most
// once a minute, so that a flood does not flood the log.
type refusalLog struct {
	last    time.Time
	skipped int
}

func (r *refusalLog) note(now time.Time, line string, logf func(string, ...any)) {
	if !r.last.IsZero() && now.Sub(r.last) < time.Minute {
		r.skipped++
		return
	}
	if r.skipped > 0 {
		logf("ssh: %s (and %d more like it in the last %s)", line, r.skipped, now.Sub(r.last).Round(time.Second))
	} else {
		logf("ssh: %s", line)
	}
	r.last, r.skipped = now, 0
}

// timedOut logs a connection that did not log in in time, at most once a
// minute.
func (g *gate) timedOut(line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.timeouts.note(g.now(), line, g.logf)
}
