package shell

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// SaveError is the error of Router.Commit and Router.CommitConfirmed
// when the configuration could not be saved: the live change was undone
// (unless UndoErr says it could not be), so the router runs what it ran
// before the commit.
type SaveError struct {
	Path    string // the configuration file
	Err     error  // why saving failed
	UndoErr error  // not nil: undoing the live change failed too
}

func (e *SaveError) Error() string {
	if e.UndoErr != nil {
		return fmt.Sprintf("saving %s failed (%s), and undoing the change failed too (%v): the change runs until the router restarts, which brings back the saved configuration",
			e.Path, SaveProblem(e.Err), e.UndoErr)
	}
	return fmt.Sprintf("saving %s failed (%s), so the change was undone: the router still runs the configuration it ran before",
		e.Path, SaveProblem(e.Err))
}

func (e *SaveError) Unwrap() error { return e.Err }

// SaveProblem says in plain words why saving the configuration failed.
func SaveProblem(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "the file system is read-only"
	case errors.Is(err, syscall.ENOSPC):
		return "the card is full"
	case errors.Is(err, syscall.EIO):
		return "an I/O error: the card may be failing"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied"
	}
	return err.Error()
}

// pending is a "commit confirmed" waiting for its confirmation.
type pending struct {
	rec      config.Pending // as persisted: the rollback, who, the time asked
	stop     func() bool
	deadline time.Time
}

func (p *pending) left(now time.Time) time.Duration { return max(p.deadline.Sub(now), 0) }

// arm starts (or restarts) the rollback timer of rec: it rolls back after
// d. sh.mu is held.
func (sh *Shell) arm(rec config.Pending, d time.Duration) {
	if sh.pending != nil {
		sh.pending.stop()
	}
	p := &pending{rec: rec, deadline: sh.clock.Now().Add(d)}
	p.stop = sh.clock.AfterFunc(d, func() { sh.expire(p) })
	sh.pending = p
}

// resume takes over a commit confirmed that a planned restart kept
// pending: its timer runs for the time it had left.
func (sh *Shell) resume(rec *config.Pending) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.arm(*rec, max(rec.Left, time.Second))
}

// Close stops the rollback timer of a pending commit confirmed, as the
// end of routerd's process does: its record stays, and the next start
// settles it (config.Store.Settle). Tests that play a restart call it.
func (sh *Shell) Close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.dropLocked()
}

// dropLocked forgets the pending commit confirmed once a Commit has
// settled its record. sh.mu is held.
func (sh *Shell) dropLocked() {
	if sh.pending != nil {
		sh.pending.stop()
		sh.pending = nil
	}
}

// confirmLocked confirms the pending commit confirmed: its record is
// removed, then its timer stopped. sh.mu is held.
func (sh *Shell) confirmLocked() error {
	if sh.pending == nil {
		return nil
	}
	if err := sh.r.SetPending(nil); err != nil {
		return fmt.Errorf("the commit could not be confirmed (%s): it is still rolled back in %s, or when the router restarts, unless confirmed",
			SaveProblem(err), dur(sh.pending.left(sh.clock.Now())))
	}
	sh.dropLocked()
	return nil
}

// expire rolls back a commit confirmed that was not confirmed in time.
// When the rollback needs a restart to take effect (the commit changed
// the LAN address, say) or could not be saved, the router restarts: the
// start applies the configuration from before the commit.
func (sh *Shell) expire(p *pending) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending != p {
		return // confirmed (or replaced) meanwhile
	}
	sh.pending = nil
	what := fmt.Sprintf("commit confirmed by %s was not confirmed within %d minute(s)", p.rec.By, p.rec.Minutes)
	changes, err := sh.r.Commit(context.Background(), p.rec.Prev.Clone())
	var msg string
	restart := false
	switch {
	case err != nil:
		msg = fmt.Sprintf("%s, and the automatic rollback FAILED (%v): restarting the router, which rolls it back as it starts.", what, err)
		restart = true
	default:
		msg = what + ": rolled back to the configuration before it."
		sh.recordRollback(p.rec.Prev, p.rec.By)
		for _, c := range changes {
			msg += "\n  " + c
		}
		if sh.r.NeedsRestart() {
			msg += "\nThe rollback takes effect only after a restart: restarting the router now."
			restart = true
		}
	}
	sh.logf("%s", msg)
	sh.broadcast(msg)
	if restart {
		if err := sh.r.Reboot(); err != nil {
			sh.logf("restarting for the rollback failed: %v", err)
		}
	}
}

// pendingInfo describes a pending commit confirmed ("" if none).
func (sh *Shell) pendingInfo() string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending == nil {
		return ""
	}
	return fmt.Sprintf(`a commit confirmed by %s rolls back in %s unless confirmed ("confirm" in configuration mode)`,
		sh.pending.rec.By, dur(sh.pending.left(sh.clock.Now())))
}

// rebootWarning says what a reboot does to a pending commit confirmed
// ("" if none).
func (sh *Shell) rebootWarning() string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending == nil {
		return ""
	}
	return fmt.Sprintf(`a commit confirmed by %s is not confirmed yet. The router restarts with it, and rolls it back %s after it is up again unless you "confirm" then (after a power cut instead of "reboot" it is rolled back as the router starts).`,
		sh.pending.rec.By, dur(sh.pending.left(sh.clock.Now())))
}

// planRestart marks the pending commit confirmed as kept across the
// restart that follows, with the time it has left, and stops its timer.
// undo puts things back if the restart does not happen.
func (s *session) planRestart() (undo func()) {
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := sh.pending
	if p == nil {
		return func() {}
	}
	rec := p.rec
	rec.Left, rec.Restart = max(p.left(sh.clock.Now()), time.Second), true
	if err := sh.r.SetPending(&rec); err != nil {
		s.warnf("the pending commit confirmed cannot be kept across the restart (%s): it is rolled back as the router starts", SaveProblem(err))
		return func() {}
	}
	sh.dropLocked()
	return func() {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		rec.Restart = false
		if err := sh.r.SetPending(&rec); err != nil {
			sh.logf("the pending commit confirmed stays marked for a restart: %v", err)
		}
		sh.arm(rec, rec.Left)
	}
}
