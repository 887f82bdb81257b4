package bootslot

import (
	"errors"
	"fmt"
	"time"
)

// Loader is the board's boot loader as far as slots go.
type Loader interface {
	// SetDefault makes s the slot every boot starts unless a trial is
	// armed (Raspberry Pi: config.txt's os_prefix; u-boot: its
	// environment), durably.
	SetDefault(s Slot) error
	// ArmTrial makes the next boot, and only it, start s. Whether the arm
	// survives a power cut is the loader's own (the Pi's tryboot flag
	// does not; u-boot's one-shot variable does): either is handled.
	ArmTrial(s Slot) error
	// DisarmTrial undoes ArmTrial if the trial has not started.
	DisarmTrial() error
}

// TrialConsumer is a Loader that can tell whether the boot loader took
// the armed trial (u-boot deletes its request as it starts the trial):
// a trial taken that never reached routerd failed before it, rather than
// never being tried.
type TrialConsumer interface {
	TrialConsumed() bool
}

// Store keeps the state. Load returns ok false when there is no state
// (a freshly written image) or it is unreadable (then err says why, and
// Open starts anew from what booted).
type Store interface {
	Load() (st State, ok bool, err error)
	Save(st State) error
}

// Machine is the slots' state on a running router. It is not safe for
// concurrent use.
type Machine struct {
	st      State
	store   Store
	loader  Loader
	running Slot
	trial   bool // this boot is the loader's trial boot
	now     func() time.Time
}

// Boot says what the boot loader started: the slot, whether on its trial,
// and the version running (this image's).
type Boot struct {
	Slot    Slot
	Trial   bool
	Version string
}

// Open reconciles the state with what booted and returns the machine,
// with notices in words for the log (a failed trial, a commit finished,
// a state file started anew). It fails only if the state cannot be saved.
func Open(store Store, loader Loader, b Boot, now func() time.Time) (*Machine, []string, error) {
	if b.Slot != A && b.Slot != B {
		return nil, nil, fmt.Errorf("bootslot: booted slot %v", b.Slot)
	}
	if now == nil {
		now = time.Now
	}
	m := &Machine{store: store, loader: loader, running: b.Slot, trial: b.Trial, now: now}
	var notes []string
	st, ok, err := store.Load()
	if err == nil && ok {
		err = st.check()
	}
	if err != nil || !ok {
		if err != nil {
			notes = append(notes, fmt.Sprintf("the slot state was unreadable (%v): starting anew with slot %v committed", err, b.Slot))
		}
		// A new image (or a lost state): what runs is committed; the
		// other slot is unknown, so empty.
		st = State{Committed: b.Slot}
		st.Info(b.Slot.Other()).Contents = Empty
		*st.Info(b.Slot) = SlotInfo{Contents: Ready, Version: b.Version, Written: now()}
		m.st = st
		return m, notes, m.save()
	}
	m.st = st
	t := now()
	changed := false
	if info := m.st.Info(b.Slot); info.Version != b.Version && info.Contents == Ready {
		// The slot runs another version than recorded (written by hand).
		info.Version, changed = b.Version, true
	}
	switch {
	case b.Slot == st.Trial && b.Trial:
		if !st.TrialStarted {
			m.st.TrialStarted, changed = true, true
			notes = append(notes, fmt.Sprintf("slot %v (version %s) is on trial: it is committed once the router is ready", b.Slot, b.Version))
		}
	case b.Slot == st.Trial:
		// The loader starts the trial slot by default: a commit changed
		// the loader and the power went before the state was saved.
		m.commitState(t)
		changed = true
		notes = append(notes, fmt.Sprintf("slot %v (version %s) was committed before a restart: finished", b.Slot, b.Version))
	case b.Slot == st.Committed && st.Trial != None:
		tried := *st.Info(st.Trial)
		consumer, tells := loader.(TrialConsumer)
		switch {
		case st.TrialStarted && st.TrialFailure != "":
			m.st.Last = &Outcome{Slot: st.Trial, Version: tried.Version, Result: "failed", At: t,
				Why: fmt.Sprintf("%s; the router restarted and the boot loader went back to slot %v", st.TrialFailure, b.Slot)}
		case st.TrialStarted:
			m.st.Last = &Outcome{Slot: st.Trial, Version: tried.Version, Result: "failed", At: t,
				Why: fmt.Sprintf("it was not ready on its trial boot before the router restarted (a crash, the watchdog or a power cut); the boot loader went back to slot %v", b.Slot)}
		case tells && consumer.TrialConsumed():
			m.st.Last = &Outcome{Slot: st.Trial, Version: tried.Version, Result: "failed", At: t,
				Why: fmt.Sprintf("it did not start: the boot loader tried it, and its kernel did not run (or did not get as far as routerd), so it went back to slot %v", b.Slot)}
		default:
			m.st.Last = &Outcome{Slot: st.Trial, Version: tried.Version, Result: "not started", At: t,
				Why: "the router restarted without the trial boot (a power cut, or a reboot that was not the trial's)"}
		}
		notes = append(notes, fmt.Sprintf("the trial of version %s on slot %v %s: %s", tried.Version, st.Trial, m.st.Last.Result, m.st.Last.Why))
		m.st.setTrial(None, false, time.Time{})
		changed = true
		if err := loader.DisarmTrial(); err != nil {
			notes = append(notes, fmt.Sprintf("disarming the boot loader's trial: %v", err))
		}
	case b.Slot != st.Committed && b.Trial:
		// A trial boot the state does not know of (the state was lost or
		// rewritten while a trial was armed): a trial all the same, to be
		// committed only once ready.
		notes = append(notes, fmt.Sprintf("slot %v (version %s) started on trial without a recorded trial: it is committed once the router is ready", b.Slot, b.Version))
		*m.st.Info(b.Slot) = SlotInfo{Contents: Ready, Version: b.Version, Written: m.st.Info(b.Slot).Written}
		m.st.setTrial(b.Slot, true, t)
		changed = true
	case b.Slot != st.Committed:
		// The loader chose the other slot by default: a rollback changed
		// the loader and the power went before the state was saved, or
		// someone chose it by hand. It runs, so it is what is committed.
		notes = append(notes, fmt.Sprintf("the boot loader started slot %v, not the committed slot %v: slot %v is now committed", b.Slot, st.Committed, b.Slot))
		m.st.Committed = b.Slot
		m.st.setTrial(None, false, time.Time{})
		*m.st.Info(b.Slot) = SlotInfo{Contents: Ready, Version: b.Version, Written: m.st.Info(b.Slot).Written}
		changed = true
	}
	if changed {
		return m, notes, m.save()
	}
	return m, notes, nil
}

func (m *Machine) save() error {
	if err := m.store.Save(m.st); err != nil {
		return fmt.Errorf("bootslot: saving the slot state: %w", err)
	}
	return nil
}

// commitState makes the trial slot committed (state only).
func (m *Machine) commitState(t time.Time) {
	s := m.st.Trial
	m.st.Committed = s
	m.st.setTrial(None, false, time.Time{})
	m.st.Last = &Outcome{Slot: s, Version: m.st.Info(s).Version, Result: "committed", At: t}
}

// ErrBusy: the operation waits for a trial to end.
var ErrBusy = errors.New("a trial is in progress")

// BeginInstall marks the slot that is not running as being written and
// returns it; only then may its files be replaced. An armed trial of that
// slot is disarmed first.
func (m *Machine) BeginInstall() (Slot, error) {
	if m.running != m.st.Committed {
		return None, fmt.Errorf("%w: the router runs slot %v on trial; commit it or roll back first", ErrBusy, m.running)
	}
	target := m.running.Other()
	if m.st.Trial == target {
		// The loader first: a power cut after it leaves an armed trial in
		// the state only, which Open records as not started.
		if err := m.loader.DisarmTrial(); err != nil {
			return None, fmt.Errorf("bootslot: disarming the trial of slot %v: %w", target, err)
		}
		m.st.Last = &Outcome{Slot: target, Version: m.st.Info(target).Version, Result: "cancelled", At: m.now(),
			Why: "a new update replaced it before its trial"}
		m.st.setTrial(None, false, time.Time{})
	}
	*m.st.Info(target) = SlotInfo{Contents: Writing}
	return target, m.save()
}

// FinishInstall records that every file of the slot being written is
// durable, with the version it holds.
func (m *Machine) FinishInstall(s Slot, version string) error {
	if s != m.running.Other() || m.st.Info(s).Contents != Writing {
		return fmt.Errorf("bootslot: slot %v is not being written", s)
	}
	*m.st.Info(s) = SlotInfo{Contents: Ready, Version: version, Written: m.now()}
	return m.save()
}

// ArmTrial arms the one-time trial boot of the other slot, which must be
// ready; the next reboot starts it.
func (m *Machine) ArmTrial() error {
	if m.running != m.st.Committed {
		return fmt.Errorf("%w: slot %v runs on trial", ErrBusy, m.running)
	}
	target := m.running.Other()
	if m.st.Info(target).Contents != Ready {
		return fmt.Errorf("bootslot: slot %v holds no complete version (it is %s): install an update first", target, m.st.Info(target).Contents)
	}
	// The state first: a power cut before the loader is armed is a trial
	// that never started.
	m.st.setTrial(target, false, m.now())
	if err := m.save(); err != nil {
		return err
	}
	if err := m.loader.ArmTrial(target); err != nil {
		return fmt.Errorf("bootslot: arming the trial boot of slot %v: %w", target, err)
	}
	return nil
}

// Commit makes the slot on trial the committed one (the router is ready).
func (m *Machine) Commit() error {
	if m.running != m.st.Trial || !m.trial || !m.st.TrialStarted {
		return fmt.Errorf("bootslot: slot %v is not on trial", m.running)
	}
	// The loader first: a power cut after it boots this slot by default,
	// and Open finishes the commit.
	if err := m.loader.SetDefault(m.running); err != nil {
		return fmt.Errorf("bootslot: making slot %v the boot loader's default: %w", m.running, err)
	}
	m.commitState(m.now())
	m.trial = false
	return m.save()
}

// Rollback goes back to the other slot, which must be ready: on trial,
// the trial is abandoned (the committed slot boots next); otherwise the
// other slot becomes committed and boots next.
func (m *Machine) Rollback() error {
	t := m.now()
	if m.running == m.st.Trial {
		// The loader's default is still the committed slot.
		m.st.Last = &Outcome{Slot: m.running, Version: m.st.Info(m.running).Version, Result: "cancelled", At: t,
			Why: "rolled back by hand during its trial"}
		m.st.setTrial(None, false, time.Time{})
		m.trial = false
		return m.save()
	}
	other := m.running.Other()
	if m.st.Info(other).Contents != Ready {
		return fmt.Errorf("bootslot: slot %v holds no complete version (it is %s): nothing to roll back to", other, m.st.Info(other).Contents)
	}
	if m.st.Trial == other {
		if err := m.loader.DisarmTrial(); err != nil {
			return fmt.Errorf("bootslot: disarming the trial of slot %v: %w", other, err)
		}
	}
	if err := m.loader.SetDefault(other); err != nil {
		return fmt.Errorf("bootslot: making slot %v the boot loader's default: %w", other, err)
	}
	m.st.Committed = other
	m.st.setTrial(None, false, time.Time{})
	m.st.Last = &Outcome{Slot: other, Version: m.st.Info(other).Version, Result: "rolled back", At: t,
		Why: fmt.Sprintf("rolled back by hand from version %s on slot %v", m.st.Info(m.running).Version, m.running)}
	return m.save()
}

// RecordTrialFailure says, in the state in store, why the trial of slot
// running is given up, just before the restart that ends it (routerd's
// supervisor, whose worker keeps failing or never gets ready, so may never
// have opened a Machine): the next start, from the committed slot, tells
// the user that rather than guess. It does nothing unless running is the
// slot on trial.
func RecordTrialFailure(store Store, running Slot, why string) error {
	st, ok, err := store.Load()
	if err == nil && ok {
		err = st.check()
	}
	switch {
	case err != nil:
		return fmt.Errorf("bootslot: reading the slot state: %w", err)
	case !ok:
		return errors.New("bootslot: there is no slot state")
	case st.Trial != running:
		return fmt.Errorf("bootslot: slot %v is not on trial", running)
	}
	st.TrialStarted, st.TrialFailure = true, why
	if err := store.Save(st); err != nil {
		return fmt.Errorf("bootslot: saving the slot state: %w", err)
	}
	return nil
}

// Status is the state and what runs, for show system.
type Status struct {
	State
	Running Slot
	OnTrial bool // this boot is the trial, not yet committed
}

// Status returns a copy of the state.
func (m *Machine) Status() Status {
	st := m.st
	if st.Last != nil {
		l := *st.Last
		st.Last = &l
	}
	return Status{State: st, Running: m.running, OnTrial: m.trial && m.running == m.st.Trial}
}
