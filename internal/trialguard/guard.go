// Package trialguard ends a trial boot of a new firmware version that does
// not work, from routerd's supervisor: the worker ending again and again,
// the router not ready in time, or ready but never committing itself. It
// records why in the boot slots' state (bootslot.RecordTrialFailure) and
// restarts the machine, so the boot loader starts the committed slot and
// that version tells the user. A hardware watchdog, when the board has
// one, is armed for the whole trial and fed by the guard only while the
// trial may still succeed: a kernel or supervisor that hangs, or a restart
// that does not happen, ends the trial all the same.
package trialguard

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/passgate/passgate/internal/watchdog"
)

// Defaults.
const (
	// Failures is how many workers in a row may end before the trial is
	// given up.
	Failures = 3
	// ReadyWithin is how long after the supervisor starts the router must
	// be ready.
	ReadyWithin = 5 * time.Minute
	// CommitGrace is how long past its commit time a ready router may take
	// to commit.
	CommitGrace = 2 * time.Minute
	// Tick is how often the guard looks and feeds the watchdog (at most a
	// quarter of the watchdog's timeout).
	Tick = 5 * time.Second
)

// Guard watches one trial boot. Set the fields, then run Run and give
// WorkerEnded to the supervisor.
type Guard struct {
	// Dog is the armed hardware watchdog; nil: none.
	Dog watchdog.Dog
	// Committed reports whether the trial is over: the slot committed, or
	// rolled back by hand (the worker says so in a file).
	Committed func() bool
	// Ready reports whether the router is ready, and then how long it
	// waits before committing ("system update commit-after").
	Ready func() (commitAfter time.Duration, ok bool)
	// Record saves why the trial is given up, for the committed slot's
	// next start.
	Record func(why string) error
	// Reboot restarts the machine.
	Reboot func() error
	Logf   func(format string, args ...any)

	Failures    int           // default the package's Failures
	ReadyWithin time.Duration // default the package's ReadyWithin
	Tick        time.Duration // default the package's Tick
	Now         func() time.Time

	mu      sync.Mutex
	started time.Time
	readyAt time.Time
	wait    time.Duration // commit-after, once ready
	over    bool          // committed, or given up
}

func (g *Guard) defaults() {
	if g.Failures <= 0 {
		g.Failures = Failures
	}
	if g.ReadyWithin <= 0 {
		g.ReadyWithin = ReadyWithin
	}
	if g.Tick <= 0 {
		g.Tick = Tick
	}
	if g.Dog != nil && g.Tick > g.Dog.Timeout()/4 {
		g.Tick = g.Dog.Timeout() / 4
	}
	if g.Now == nil {
		g.Now = time.Now
	}
	if g.Logf == nil {
		g.Logf = func(string, ...any) {}
	}
}

// Run checks the trial every Tick until it is over or ctx is done; the
// time the router must be ready by is counted from its start.
func (g *Guard) Run(ctx context.Context) {
	g.mu.Lock()
	g.defaults()
	tick := g.Tick
	g.mu.Unlock()
	t := time.NewTicker(tick)
	defer t.Stop()
	for g.Check() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check looks at the trial once (Run calls it every Tick): it disarms the watchdog once the slot is
// committed, gives the trial up when it is out of time, and feeds the
// watchdog otherwise. It reports whether the trial goes on.
func (g *Guard) Check() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.over {
		return false
	}
	g.defaults()
	now := g.Now()
	if g.started.IsZero() {
		g.started = now
	}
	if g.Committed() {
		g.over = true
		if g.Dog != nil {
			if err := g.Dog.Disarm(); err != nil {
				g.Logf("firmware: stopping the watchdog %s after the commit: %v", g.Dog.Name(), err)
			} else {
				g.Logf("firmware: the trial is over: watchdog %s stopped", g.Dog.Name())
			}
		}
		return false
	}
	if g.readyAt.IsZero() {
		if wait, ok := g.Ready(); ok {
			g.readyAt, g.wait = now, wait
		}
	}
	switch {
	case g.readyAt.IsZero() && now.Sub(g.started) > g.ReadyWithin:
		g.giveUp(fmt.Sprintf("it was not ready within %v of starting on its trial boot", g.ReadyWithin))
		return false
	case !g.readyAt.IsZero() && now.Sub(g.readyAt) > g.wait+CommitGrace:
		g.giveUp(fmt.Sprintf("it was ready on its trial boot but did not commit itself within %v (commit-after %v)", g.wait+CommitGrace, g.wait))
		return false
	}
	if g.Dog != nil {
		if err := g.Dog.Feed(); err != nil {
			g.Logf("firmware: %v", err)
		}
	}
	return true
}

// WorkerEnded is the supervisor's OnExit: failures workers in a row have
// ended, the last as reason says.
func (g *Guard) WorkerEnded(failures int, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.defaults()
	if g.over || failures < g.Failures || g.Committed() {
		return
	}
	g.giveUp(fmt.Sprintf("its routerd did not run: the worker ended %d times in a row on the trial boot (the last %s)", failures, reason))
}

// giveUp records why and restarts; the watchdog, no longer fed, restarts
// the machine if that fails. Called with mu held.
func (g *Guard) giveUp(why string) {
	g.over = true
	g.Logf("firmware: giving up the trial: %s; restarting into the committed slot", why)
	if err := g.Record(why); err != nil {
		g.Logf("firmware: recording why the trial failed: %v", err)
	}
	if err := g.Reboot(); err != nil {
		g.Logf("firmware: restart: %v%s", err, map[bool]string{true: "; the watchdog will restart the machine", false: ""}[g.Dog != nil])
	}
}
