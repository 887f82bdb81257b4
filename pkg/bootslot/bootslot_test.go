package bootslot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var errPowerCut = errors.New("power cut")

// world is a router's boot partition and boot loader, in memory. Every
// durable write is one step; with cutAt set, the power goes before step
// cutAt and nothing after it happens.
type world struct {
	t     *testing.T
	steps int
	cutAt int // 0: never
	cut   bool
	cuts  int // power cuts so far

	// The boot loader: its default, and the armed trial. persists says
	// whether an armed trial survives a power cut (u-boot's variable
	// does; the Pi's tryboot flag does not).
	def      Slot
	armed    Slot
	persists bool

	state []byte // the state file (nil: none)
	files [3]struct {
		version  string
		complete bool
	}
	clock time.Time
}

func newWorld(t *testing.T, persists bool) *world {
	w := &world{t: t, def: A, persists: persists, clock: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}
	w.files[A].version, w.files[A].complete = "1.0", true
	return w
}

func (w *world) step() error {
	if w.cut {
		return errPowerCut
	}
	w.steps++
	if w.cutAt > 0 && w.steps >= w.cutAt {
		w.cut = true
		w.cuts++
		return errPowerCut
	}
	return nil
}

func (w *world) now() time.Time { w.clock = w.clock.Add(time.Second); return w.clock }

// The Store and the Loader.
type wStore struct{ w *world }
type wLoader struct{ w *world }

func (s wStore) Load() (State, bool, error) {
	if s.w.state == nil {
		return State{}, false, nil
	}
	var st State
	err := json.Unmarshal(s.w.state, &st)
	return st, err == nil, err
}

func (s wStore) Save(st State) error {
	if err := s.w.step(); err != nil {
		return err
	}
	s.w.state, _ = json.Marshal(st)
	return nil
}

func (l wLoader) SetDefault(s Slot) error {
	if err := l.w.step(); err != nil {
		return err
	}
	l.w.def = s
	return nil
}

func (l wLoader) ArmTrial(s Slot) error {
	if err := l.w.step(); err != nil {
		return err
	}
	l.w.armed = s
	return nil
}

func (l wLoader) DisarmTrial() error {
	if err := l.w.step(); err != nil {
		return err
	}
	l.w.armed = None
	return nil
}

// writeSlot replaces a slot's files: marked incomplete, then complete.
func (w *world) writeSlot(s Slot, version string) error {
	if err := w.step(); err != nil {
		return err
	}
	w.files[s].version, w.files[s].complete = version, false
	if err := w.step(); err != nil {
		return err
	}
	w.files[s].complete = true
	return nil
}

// boot starts the router as the boot loader would: the armed trial once,
// else the default; powerCut says the last stop was a power cut (the
// Pi's tryboot flag is then gone).
func (w *world) boot(powerCut bool) (*Machine, Boot, []string) {
	w.t.Helper()
	if powerCut {
		w.cut, w.cutAt = false, 0 // the power is back
	}
	b := Boot{Slot: w.def}
	if w.armed != None && (w.persists || !powerCut) {
		b = Boot{Slot: w.armed, Trial: true}
	}
	w.armed = None // consumed, or lost
	if !w.files[b.Slot].complete {
		w.t.Fatalf("the boot loader started slot %v, whose files are not complete (version %q)", b.Slot, w.files[b.Slot].version)
	}
	b.Version = w.files[b.Slot].version
	m, notes, err := Open(wStore{w}, wLoader{w}, b, w.now)
	if errors.Is(err, errPowerCut) {
		return w.boot(true) // the power went during start-up: again
	}
	if err != nil {
		w.t.Fatalf("Open after booting %+v: %v", b, err)
	}
	w.consistent(m, b)
	return m, b, notes
}

// consistent: after Open, the state says what the loader does.
func (w *world) consistent(m *Machine, b Boot) {
	w.t.Helper()
	st := m.Status()
	if st.Committed != w.def {
		w.t.Fatalf("state commits slot %v, the boot loader starts %v", st.Committed, w.def)
	}
	if st.Of(st.Committed).Contents != Ready || !w.files[st.Committed].complete {
		w.t.Fatalf("committed slot %v is %s (files complete %v)", st.Committed, st.Of(st.Committed).Contents, w.files[st.Committed].complete)
	}
	if st.Trial != None && !(b.Trial && b.Slot == st.Trial) {
		w.t.Fatalf("a trial of slot %v recorded after booting %+v", st.Trial, b)
	}
	for _, s := range []Slot{A, B} {
		if st.Of(s).Contents == Ready && (!w.files[s].complete || st.Of(s).Version != w.files[s].version) {
			w.t.Fatalf("slot %v recorded ready with %q, its files are %+v", s, st.Of(s).Version, w.files[s])
		}
	}
}

// install writes version v into the slot that is not running, as
// routerd will: marked, written, recorded ready.
func (w *world) install(m *Machine, v string) (Slot, error) {
	s, err := m.BeginInstall()
	if err != nil {
		return None, err
	}
	if err := w.writeSlot(s, v); err != nil {
		return None, err
	}
	return s, m.FinishInstall(s, v)
}

// mustInstall is install in a test without power cuts.
func (w *world) mustInstall(m *Machine, v string) Slot {
	w.t.Helper()
	s, err := w.install(m, v)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// update installs version v in the other slot, arms its trial, reboots
// into it and commits it, as routerd will; it stops at the first error
// (a power cut).
func (w *world) update(m *Machine, v string) error {
	s, err := w.install(m, v)
	if err != nil {
		return err
	}
	if err := m.ArmTrial(); err != nil {
		return err
	}
	cuts := w.cuts
	m, b, _ := w.boot(false) // a clean reboot
	if w.cuts > cuts {
		return errPowerCut // during the trial's start: it fell back
	}
	if !b.Trial || b.Slot != s {
		return fmt.Errorf("the reboot after arming started %+v", b)
	}
	return m.Commit()
}

func TestUpdateCommits(t *testing.T) {
	for _, persists := range []bool{false, true} {
		w := newWorld(t, persists)
		m, _, _ := w.boot(false)
		if err := w.update(m, "2.0"); err != nil {
			t.Fatal(err)
		}
		m, b, _ := w.boot(false)
		st := m.Status()
		if b.Slot != B || b.Trial || st.Committed != B || st.Last == nil || st.Last.Result != "committed" || st.Last.Version != "2.0" {
			t.Fatalf("after the commit: booted %+v, state %+v last %+v", b, st.State, st.Last)
		}
		// And the next update goes to slot A.
		if err := w.update(m, "3.0"); err != nil {
			t.Fatal(err)
		}
		if m, b, _ := w.boot(false); b.Slot != A || m.Status().Of(A).Version != "3.0" || m.Status().Of(B).Version != "2.0" {
			t.Fatalf("third version: booted %+v, %+v", b, m.Status().State)
		}
	}
}

// A trial that never becomes ready: the watchdog restarts the router,
// the loader goes back, and the state says why.
func TestFailedTrialFallsBack(t *testing.T) {
	for _, persists := range []bool{false, true} {
		w := newWorld(t, persists)
		m, _, _ := w.boot(false)
		w.mustInstall(m, "2.0-broken")
		if err := m.ArmTrial(); err != nil {
			t.Fatal(err)
		}
		m, b, _ := w.boot(false)
		if !b.Trial || !m.Status().OnTrial {
			t.Fatalf("not on trial: %+v", b)
		}
		// No Commit: the watchdog resets the board.
		m, b, notes := w.boot(true)
		st := m.Status()
		if b.Slot != A || st.Committed != A || st.Trial != None || st.Last == nil || st.Last.Result != "failed" || st.Last.Version != "2.0-broken" {
			t.Fatalf("after the failed trial: booted %+v, state %+v last %+v", b, st.State, st.Last)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "was not ready on its trial boot") {
			t.Errorf("notes %q", notes)
		}
		if err := m.Commit(); err == nil {
			t.Error("committed a slot that is not on trial")
		}
		// The failed version stays in slot B, ready for another try.
		if err := m.ArmTrial(); err != nil {
			t.Errorf("re-arming the failed version: %v", err)
		}
	}
}

// A trial whose routerd keeps failing: the supervisor records why before
// it restarts the router (also when the trial's worker never got as far as
// opening the slots), and the committed slot's next start says that; a
// record for a slot that is not on trial is refused and changes nothing.
func TestRecordedTrialFailureIsSaid(t *testing.T) {
	for _, opened := range []bool{false, true} {
		w := newWorld(t, true)
		m, _, _ := w.boot(false)
		w.mustInstall(m, "2.0-exits")
		if err := m.ArmTrial(); err != nil {
			t.Fatal(err)
		}
		before := string(w.state)
		if err := RecordTrialFailure(wStore{w}, A, "nonsense"); err == nil || string(w.state) != before {
			t.Fatalf("a failure recorded for slot a, which is not on trial: %v", err)
		}
		if opened {
			w.boot(false) // the trial's worker opened the slots, then failed
		} else {
			w.armed = None // u-boot took the trial; its worker never ran Open
		}
		const why = "its routerd did not run: the worker ended 3 times in a row"
		if err := RecordTrialFailure(wStore{w}, B, why); err != nil {
			t.Fatal(err)
		}
		m, b, notes := w.boot(false)
		st := m.Status()
		if b.Slot != A || st.Trial != None || st.TrialFailure != "" || st.Last == nil || st.Last.Result != "failed" ||
			!strings.HasPrefix(st.Last.Why, why+"; the router restarted and the boot loader went back to slot a") {
			t.Fatalf("opened %v: after the recorded failure: booted %+v, state %+v, last %+v", opened, b, st.State, st.Last)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], why) {
			t.Errorf("notes %q", notes)
		}
		// A later trial starts with no failure recorded.
		if err := m.ArmTrial(); err != nil {
			t.Fatal(err)
		}
		if m, _, _ := w.boot(false); m.Status().TrialFailure != "" || !m.Status().OnTrial {
			t.Errorf("the next trial inherits %q", m.Status().TrialFailure)
		}
	}
	if err := RecordTrialFailure(wStore{newWorld(t, true)}, B, "x"); err == nil {
		t.Error("a failure recorded with no slot state")
	}
}

// A power cut before every durable write of an update (and of the
// boots in between): the next boot starts a complete slot, the state
// agrees with the boot loader, and an update afterwards succeeds.
func TestPowerCutAtEveryStep(t *testing.T) {
	for _, persists := range []bool{false, true} {
		// Count the steps of an uninterrupted update.
		w := newWorld(t, persists)
		m, _, _ := w.boot(false)
		start := w.steps
		if err := w.update(m, "2.0"); err != nil {
			t.Fatal(err)
		}
		total := w.steps - start
		for cut := 1; cut <= total; cut++ {
			t.Run(fmt.Sprintf("persists=%v/cut=%d", persists, cut), func(t *testing.T) {
				w := newWorld(t, persists)
				m, _, _ := w.boot(false)
				w.cutAt = w.steps + cut
				if err := w.update(m, "2.0"); !errors.Is(err, errPowerCut) {
					t.Fatalf("step %d of %d: %v, want the power cut", cut, total, err)
				}
				m, b, notes := w.boot(true)
				t.Logf("booted %+v: %q", b, notes)
				if b.Slot == B && b.Trial {
					// The trial was armed and survived (u-boot): it may
					// commit or fail; let it fail here.
					m, b, _ = w.boot(true)
				}
				// Whatever happened, an update from here works.
				if err := w.update(m, "3.0"); err != nil {
					t.Fatalf("update after the cut: %v", err)
				}
				if m, b, _ := w.boot(false); m.Status().Of(b.Slot).Version != "3.0" {
					t.Fatalf("after the next update: booted %+v, %+v", b, m.Status().State)
				}
			})
		}
	}
}

// A power cut at each step of a rollback and of a commit finishing.
func TestRollback(t *testing.T) {
	w := newWorld(t, true)
	m, _, _ := w.boot(false)
	if err := m.Rollback(); err == nil {
		t.Fatal("rolled back to an empty slot")
	}
	if err := w.update(m, "2.0"); err != nil {
		t.Fatal(err)
	}
	m, _, _ = w.boot(false)
	for cut := 1; cut <= 3; cut++ {
		w2 := *w
		w2.cutAt = w2.steps + cut
		m2, _, _ := w2.boot(false)
		w2.cutAt = w2.steps + cut
		err := m2.Rollback()
		_, b, _ := w2.boot(true)
		if err == nil && b.Slot != A {
			t.Fatalf("cut %d: a rollback that returned booted %+v", cut, b)
		}
	}
	if err := m.Rollback(); err != nil {
		t.Fatal(err)
	}
	m, b, _ := w.boot(false)
	if b.Slot != A || m.Status().Last.Result != "rolled back" || m.Status().Of(A).Version != "1.0" {
		t.Fatalf("after the rollback: %+v %+v", b, m.Status().Last)
	}
}

func TestInstallWhileOnTrialIsRefused(t *testing.T) {
	w := newWorld(t, false)
	m, _, _ := w.boot(false)
	w.mustInstall(m, "2.0")
	m.ArmTrial()
	m, _, _ = w.boot(false)
	if _, err := m.BeginInstall(); !errors.Is(err, ErrBusy) {
		t.Fatalf("install on trial: %v", err)
	}
	// A rollback on trial abandons it; the committed slot boots next.
	if err := m.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, b, _ := w.boot(false); b.Slot != A {
		t.Fatalf("after abandoning the trial: %+v", b)
	}
}

// A new update replaces one armed but not yet tried: the old trial is
// cancelled and the loader disarmed before the slot is written.
func TestNewUpdateCancelsArmedTrial(t *testing.T) {
	w := newWorld(t, true)
	m, _, _ := w.boot(false)
	s := w.mustInstall(m, "2.0")
	m.ArmTrial()
	if s2, err := m.BeginInstall(); err != nil || s2 != s || w.armed != None {
		t.Fatalf("second install: slot %v err %v armed %v", s2, err, w.armed)
	}
	if st := m.Status(); st.Last == nil || st.Last.Result != "cancelled" || st.Of(s).Contents != Writing {
		t.Fatalf("state %+v last %+v", st.State, st.Last)
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	f := FileStore{Path: filepath.Join(dir, StateFile)}
	if _, ok, err := f.Load(); ok || err != nil {
		t.Fatalf("no file: ok %v err %v", ok, err)
	}
	st := State{Committed: B, Trial: A, TrialStarted: true}
	st.Info(A).Contents, st.Info(A).Version = Ready, "2.0"
	st.Info(B).Contents, st.Info(B).Version = Ready, "1.0"
	if err := f.Save(st); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f.Path)
	if !strings.Contains(string(b), `"committed": "b"`) || !strings.Contains(string(b), `"trial": "a"`) {
		t.Errorf("the file names slots in words:\n%s", b)
	}
	got, ok, err := f.Load()
	if err != nil || !ok || got.Committed != B || got.Trial != A || got.Info(A).Version != "2.0" {
		t.Fatalf("loaded %+v ok %v err %v", got, ok, err)
	}
	// A newer image's fields are ignored; damage is an error, which Open
	// turns into a fresh state from what booted.
	os.WriteFile(f.Path, []byte(`{"committed":"a","slots":[{"contents":"ready","version":"1"},{"contents":"empty"}],"trial":"none","future":1}`), 0o644)
	if _, ok, err := f.Load(); !ok || err != nil {
		t.Fatalf("a newer file: ok %v err %v", ok, err)
	}
	os.WriteFile(f.Path, []byte(`{"committed":"c"`), 0o644)
	if _, _, err := f.Load(); err == nil {
		t.Fatal("a damaged file read")
	}
	m, notes, err := Open(f, wLoader{newWorld(t, false)}, Boot{Slot: A, Version: "1.0"}, nil)
	if err != nil || len(notes) != 1 || m.Status().Committed != A {
		t.Fatalf("Open on a damaged file: %v %q", err, notes)
	}
}

// A trial boot the state does not know of stays a trial: committed only
// by Commit, and the loader's default boots next if it never is.
func TestUnrecordedTrialStaysATrial(t *testing.T) {
	w := newWorld(t, true)
	m, _, _ := w.boot(false)
	w.mustInstall(m, "2.0")
	// The state is lost (rewritten to its first form) after the loader
	// was armed.
	before := w.state
	m.ArmTrial()
	w.state = before
	m, b, notes := w.boot(false)
	st := m.Status()
	if !b.Trial || st.Committed != A || st.Trial != B || !st.OnTrial || len(notes) != 1 {
		t.Fatalf("booted %+v: state %+v notes %q", b, st.State, notes)
	}
	if err := m.Commit(); err != nil {
		t.Fatal(err)
	}
	if m, b, _ := w.boot(false); b.Slot != B || m.Status().Committed != B {
		t.Fatalf("after the commit: %+v", b)
	}
}
