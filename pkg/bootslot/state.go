// Package bootslot keeps the A/B boot slots' state: which slot the boot
// loader starts by default (committed), which is on a one-time trial, what
// each holds, and how the last trial ended. Every change is made in the
// order that leaves a bootable committed slot if the power goes at any
// point, and the state is reconciled with what actually booted at every
// start (Open):
//
//   - a new version is written to the slot that is not running, which is
//     marked "writing" first and "ready" only once all its files are
//     durable (BeginInstall, FinishInstall);
//   - a trial is recorded before the boot loader is armed, so a power cut
//     in between is a trial that never started (ArmTrial);
//   - a commit and a rollback change the boot loader's default before the
//     state, so a power cut in between is finished at the next start from
//     what booted (Commit, Rollback);
//   - a slot on trial that the boot loader left (a watchdog reset, a crash
//     before ready) is a failed trial, said with its version and time.
//
// The boot loader's own mechanism (Raspberry Pi tryboot, u-boot's
// one-shot variable) is behind Loader; the state file behind Store.
package bootslot

import (
	"fmt"
	"time"
)

// Slot names a boot slot.
type Slot uint8

// The slots; None is no slot (no trial).
const (
	None Slot = iota
	A
	B
)

func (s Slot) String() string {
	switch s {
	case A:
		return "a"
	case B:
		return "b"
	}
	return "none"
}

// Other is the slot that is not s.
func (s Slot) Other() Slot {
	if s == A {
		return B
	}
	return A
}

// Dir is the slot's directory on the boot partition.
func (s Slot) Dir() string { return "slot-" + s.String() }

// ParseSlot reads "a" or "b".
func ParseSlot(s string) (Slot, error) {
	switch s {
	case "a":
		return A, nil
	case "b":
		return B, nil
	}
	return None, fmt.Errorf("slot %q: a or b", s)
}

// Contents says what a slot holds.
type Contents string

// A slot's contents.
const (
	Empty   Contents = "empty"
	Writing Contents = "writing" // an install began and did not finish: never boot it
	Ready   Contents = "ready"
)

// SlotInfo is one slot's record.
type SlotInfo struct {
	Contents Contents  `json:"contents"`
	Version  string    `json:"version,omitempty"`
	Written  time.Time `json:"written,omitzero"`
}

// Outcome is how a trial (or a rollback) ended, for show system.
type Outcome struct {
	Slot    Slot      `json:"slot"`
	Version string    `json:"version"`
	Result  string    `json:"result"` // "committed", "failed", "not started", "cancelled", "rolled back"
	Why     string    `json:"why,omitempty"`
	At      time.Time `json:"at"`
}

// State is what the state file holds.
type State struct {
	Committed Slot        `json:"committed"`
	Slots     [2]SlotInfo `json:"slots"` // A, B
	// Trial is the slot armed for, or running, its one trial boot.
	Trial Slot `json:"trial"`
	// TrialStarted: the trial slot has booted on trial (seen by Open).
	TrialStarted bool      `json:"trial_started,omitempty"`
	TrialArmed   time.Time `json:"trial_armed,omitzero"`
	// TrialFailure is why the running trial was given up, written by
	// RecordTrialFailure just before the restart that ends it.
	TrialFailure string   `json:"trial_failure,omitempty"`
	Last         *Outcome `json:"last,omitempty"`
}

// setTrial makes s the trial slot (None: no trial), started or not, and
// forgets everything about the previous one.
func (st *State) setTrial(s Slot, started bool, armed time.Time) {
	st.Trial, st.TrialStarted, st.TrialArmed, st.TrialFailure = s, started, armed, ""
}

// Info is slot s's record.
func (st *State) Info(s Slot) *SlotInfo { return &st.Slots[s-1] }

// Of is a copy of slot s's record.
func (st State) Of(s Slot) SlotInfo { return st.Slots[s-1] }

// check says what is wrong with a state read from the file.
func (st *State) check() error {
	if st.Committed != A && st.Committed != B {
		return fmt.Errorf("committed slot %d", st.Committed)
	}
	if st.Trial != None && st.Trial != st.Committed.Other() {
		return fmt.Errorf("trial slot %d with slot %v committed", st.Trial, st.Committed)
	}
	for i, si := range st.Slots {
		switch si.Contents {
		case Empty, Writing, Ready:
		default:
			return fmt.Errorf("slot %v contents %q", Slot(i+1), si.Contents)
		}
	}
	if st.Info(st.Committed).Contents != Ready {
		return fmt.Errorf("committed slot %v is %s", st.Committed, st.Info(st.Committed).Contents)
	}
	if st.Trial != None && st.Info(st.Trial).Contents != Ready {
		return fmt.Errorf("trial slot %v is %s", st.Trial, st.Info(st.Trial).Contents)
	}
	return nil
}

// MarshalText writes a slot as "a", "b" or "none".
func (s Slot) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "a", "b" or "none".
func (s *Slot) UnmarshalText(b []byte) error {
	if string(b) == "none" {
		*s = None
		return nil
	}
	v, err := ParseSlot(string(b))
	*s = v
	return err
}
