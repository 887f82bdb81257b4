package trialguard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeDog is a watchdog in memory.
type fakeDog struct {
	fed, disarmed int
	failDisarm    bool
}

func (d *fakeDog) Name() string           { return "fake" }
func (d *fakeDog) Timeout() time.Duration { return 16 * time.Second }
func (d *fakeDog) Feed() error            { d.fed++; return nil }
func (d *fakeDog) Disarm() error {
	d.disarmed++
	if d.failDisarm {
		return errors.New("nowayout")
	}
	return nil
}

// trial is a trial boot seen by a Guard, with a clock the test drives.
type trial struct {
	g         *Guard
	dog       *fakeDog
	clock     time.Time
	committed bool
	ready     bool
	recorded  []string
	reboots   int
	rebootErr error
	logs      []string
}

func newTrial() *trial {
	tr := &trial{dog: &fakeDog{}, clock: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}
	tr.g = &Guard{
		Dog:       tr.dog,
		Committed: func() bool { return tr.committed },
		Ready: func() (time.Duration, bool) {
			return time.Minute, tr.ready
		},
		Record: func(why string) error { tr.recorded = append(tr.recorded, why); return nil },
		Reboot: func() error { tr.reboots++; return tr.rebootErr },
		Logf:   func(f string, a ...any) { tr.logs = append(tr.logs, fmt.Sprintf(f, a...)) },
		Now:    func() time.Time { return tr.clock },
	}
	return tr
}

func (tr *trial) after(d time.Duration) bool {
	tr.clock = tr.clock.Add(d)
	return tr.g.Check()
}

func TestCommittedTrialDisarmsTheWatchdog(t *testing.T) {
	tr := newTrial()
	if !tr.after(0) || !tr.after(10*time.Second) {
		t.Fatal("the trial ended at once")
	}
	tr.ready = true
	if !tr.after(30 * time.Second) {
		t.Fatal("the trial ended when ready")
	}
	tr.committed = true
	if tr.after(time.Second) {
		t.Fatal("the trial goes on after the commit")
	}
	if tr.dog.fed != 3 || tr.dog.disarmed != 1 || tr.reboots != 0 || len(tr.recorded) != 0 {
		t.Errorf("fed %d disarmed %d reboots %d recorded %q", tr.dog.fed, tr.dog.disarmed, tr.reboots, tr.recorded)
	}
	// Nothing later changes anything.
	tr.g.WorkerEnded(5, "exited with status 1")
	if tr.after(time.Hour) || tr.reboots != 0 || tr.dog.fed != 3 {
		t.Error("a committed trial was acted on")
	}
}

func TestTrialNotReadyInTimeIsGivenUp(t *testing.T) {
	tr := newTrial()
	tr.after(0)
	if !tr.after(ReadyWithin) {
		t.Fatal("given up exactly at the limit")
	}
	fed := tr.dog.fed
	if tr.after(time.Second) {
		t.Fatal("not given up past the limit")
	}
	if tr.reboots != 1 || len(tr.recorded) != 1 || !strings.Contains(tr.recorded[0], "it was not ready within 5m0s of starting on its trial boot") {
		t.Errorf("reboots %d, recorded %q", tr.reboots, tr.recorded)
	}
	if tr.dog.fed != fed || tr.dog.disarmed != 0 {
		t.Errorf("the watchdog was fed (%d→%d) or disarmed (%d) after giving up: it must restart the machine if the reboot does not", fed, tr.dog.fed, tr.dog.disarmed)
	}
	if tr.after(time.Hour) || tr.reboots != 1 {
		t.Error("given up twice")
	}
}

func TestReadyTrialThatNeverCommitsIsGivenUp(t *testing.T) {
	tr := newTrial()
	tr.after(0)
	tr.ready = true
	tr.after(time.Minute) // ready here; commit-after 1m
	if !tr.after(time.Minute + CommitGrace) {
		t.Fatal("given up within commit-after and its grace")
	}
	if tr.after(time.Second) || tr.reboots != 1 || !strings.Contains(tr.recorded[0], "did not commit itself within 3m0s (commit-after 1m0s)") {
		t.Errorf("reboots %d, recorded %q", tr.reboots, tr.recorded)
	}
}

func TestWorkerThatKeepsEndingEndsTheTrial(t *testing.T) {
	tr := newTrial()
	tr.rebootErr = errors.New("EPERM")
	tr.g.WorkerEnded(1, "exited with status 1")
	tr.g.WorkerEnded(2, "exited with status 1")
	if tr.reboots != 0 {
		t.Fatal("gave up before the third failure")
	}
	tr.g.WorkerEnded(3, "killed by signal SIGSEGV (11)")
	if tr.reboots != 1 || len(tr.recorded) != 1 ||
		tr.recorded[0] != "its routerd did not run: the worker ended 3 times in a row on the trial boot (the last killed by signal SIGSEGV (11))" {
		t.Fatalf("reboots %d, recorded %q", tr.reboots, tr.recorded)
	}
	// The restart failed: the watchdog is no longer fed, and says so.
	if tr.after(time.Second) || tr.dog.fed != 0 {
		t.Error("the trial went on after it was given up")
	}
	if !strings.Contains(strings.Join(tr.logs, "\n"), "the watchdog will restart the machine") {
		t.Errorf("logs %q", tr.logs)
	}
}

func TestWithoutWatchdog(t *testing.T) {
	tr := newTrial()
	tr.g.Dog = nil
	tr.after(0)
	tr.after(ReadyWithin + time.Second)
	if tr.reboots != 1 {
		t.Error("without a watchdog the trial is still given up")
	}
}

func TestRunStopsWhenCommitted(t *testing.T) {
	tr := newTrial()
	tr.committed = true
	tr.g.Now = time.Now
	done := make(chan struct{})
	go func() { tr.g.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run goes on after the commit")
	}
	if tr.dog.disarmed != 1 {
		t.Error("not disarmed")
	}
}
