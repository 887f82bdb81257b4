package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// crashing runs fn and reports whether it crashed (memFS's crash panic).
func crashing(fn func() error) (crashed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	return false, fn()
}

// outcome is what a router runs after a start: the configuration (by
// hostname) and whether a commit confirmed is still pending.
type outcome struct {
	host    string
	pending bool
}

func (o outcome) String() string {
	if o.pending {
		return o.host + " (pending)"
	}
	return o.host
}

// boot plays a start on the disk state files: Settle, then Load, as
// routerd does. It fails the test on a half state: Load failing, a
// configuration that is none of the known ones, a rollback without a
// notice, or a record left that disagrees with what Settle decided.
func boot(t *testing.T, files map[string][]byte, known map[string]*Config) (outcome, *memFS) {
	t.Helper()
	m := memFSFrom(files)
	s := testStore(m)
	b := s.Settle()
	c, _, err := s.Load()
	if err != nil {
		t.Fatalf("Load after Settle: %v", err)
	}
	if b.Run != nil {
		t.Fatalf("Settle could not save the rollback on a writable store: %s", b.Notice)
	}
	k, ok := known[c.System.Hostname]
	if !ok || !k.Equal(c) {
		t.Fatalf("after Settle the configuration is none of the known ones:\n%s", c)
	}
	if b.RolledBack && b.Notice == "" {
		t.Errorf("rolled back without saying so")
	}
	p, err := s.Pending()
	if err != nil {
		t.Fatalf("Pending after Settle: %v", err)
	}
	if (p != nil) != (b.Pending != nil) {
		t.Fatalf("Settle kept pending %v, but the record says %v", b.Pending != nil, p != nil)
	}
	if p != nil && (p.Restart || p.New != Sum(c)) {
		t.Fatalf("the kept record is not the running commit without its restart mark: %+v", p)
	}
	return outcome{c.System.Hostname, p != nil}, m
}

// TestConfirmedCommitCrashAtEveryStep stops each step of a confirmed
// commit's life after every file-system step (including the middle of
// each write, with atomic and FAT-style renames) and starts the router
// on every disk state the crash can leave: it must run the old or the
// new configuration, never a half state, and roll back when it should:
// a start that was not planned from the shell never keeps an unconfirmed
// commit.
func TestConfirmedCommitCrashAtEveryStep(t *testing.T) {
	prev, n1, n2, fac := configNamed(t, "prev"), configNamed(t, "n1"), configNamed(t, "n2"), configNamed(t, "factory")
	known := map[string]*Config{"prev": prev, "n1": n1, "n2": n2, "factory": fac}
	rollback := Pending{Prev: prev, By: "console", Minutes: 5, Left: 5 * time.Minute}
	confirmed := func(s *Store) error { return s.SaveConfirmed(n1, rollback) }
	planned := func(s *Store) error {
		p := rollback
		p.New, p.Restart, p.Left = Sum(n1), true, 3*time.Minute
		return s.SetPending(&p)
	}
	settle := func(s *Store) error { s.Settle(); return nil }
	P, N1, N1p, N2, F := outcome{"prev", false}, outcome{"n1", false}, outcome{"n1", true}, outcome{"n2", false}, outcome{"factory", false}

	cases := []struct {
		name  string
		setup []func(*Store) error // run to completion first
		op    func(*Store) error   // crashed at every step
		crash []outcome            // what a start after a crash may run
		done  outcome              // what a start after op completed runs
	}{
		{"commit confirmed, then power cut", nil, confirmed, []outcome{P}, P},
		{"reboot from the shell marks the record", []func(*Store) error{confirmed}, planned, []outcome{P, N1p}, N1p},
		{"confirm", []func(*Store) error{confirmed},
			func(s *Store) error { return s.SetPending(nil) }, []outcome{P, N1}, N1},
		{"a plain commit confirms", []func(*Store) error{confirmed},
			func(s *Store) error { return s.Save(n2) }, []outcome{P, N2}, N2},
		{"commit confirmed again, with a change", []func(*Store) error{confirmed},
			func(s *Store) error { return s.SaveConfirmed(n2, rollback) }, []outcome{P}, P},
		{"commit confirmed again, more time", []func(*Store) error{confirmed},
			func(s *Store) error {
				p := rollback
				p.New, p.Left = Sum(n1), 9*time.Minute
				return s.SetPending(&p)
			}, []outcome{P}, P},
		{"the rollback when the time runs out", []func(*Store) error{confirmed},
			func(s *Store) error { return s.Save(prev) }, []outcome{P}, P},
		{"factory reset while pending", []func(*Store) error{confirmed},
			func(s *Store) error { return s.Save(fac) }, []outcome{P, F}, F},
		{"the start that rolls back", []func(*Store) error{confirmed}, settle, []outcome{P}, P},
		{"a power cut after the start that kept it", []func(*Store) error{confirmed, planned}, settle, []outcome{P, N1p}, P},
	}
	for _, c := range cases {
		for _, fat := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fatRename=%v", c.name, fat), func(t *testing.T) {
				crashes := 0
				seen := map[string][]outcome{} // per view, in crash order
				for k := 1; ; k++ {
					m := newMemFS()
					m.fatRename = fat
					s := testStore(m)
					for _, cfg := range []*Config{configNamed(t, "older"), prev} {
						if err := s.Save(cfg); err != nil {
							t.Fatal(err)
						}
					}
					for _, f := range c.setup {
						if err := f(s); err != nil {
							t.Fatal(err)
						}
					}
					m.settle()
					m.log = nil
					m.crashAt = m.steps + k
					crashed, err := crashing(func() error { return c.op(s) })
					if !crashed && err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
					step := "after the last step"
					if crashed {
						crashes++
						step = "before step " + m.log[len(m.log)-1]
					}
					for _, v := range m.views() {
						got, after := boot(t, v.files, known)
						allowed := c.crash
						if !crashed {
							allowed = []outcome{c.done}
						}
						if !slices.Contains(allowed, got) {
							t.Fatalf("crash %s, view %q: the router starts with %v; want one of %v", step, v.name, got, allowed)
						}
						seen[v.name] = append(seen[v.name], got)
						// Whatever it kept, the next start (a power cut,
						// not planned) never keeps an unconfirmed commit.
						again, _ := boot(t, after.durableFiles(), known)
						if again.pending || (got.pending && again != P) {
							t.Fatalf("crash %s, view %q: after %v a second start runs %v; want the rollback to prev", step, v.name, got, again)
						}
					}
					if !crashed {
						break
					}
				}
				if crashes < 2 {
					t.Errorf("only %d crash points", crashes)
				}
				t.Logf("%d crash points, %d disk states each", crashes, len(newMemFS().views()))
				// Once a crash point leaves the outcome of the step, a
				// later one never goes back to what was before it.
				for view, outs := range seen {
					last := outs[len(outs)-1]
					for i := len(outs) - 1; i > 0; i-- {
						if outs[i-1] == last && outs[i] != last {
							t.Errorf("view %q: the outcome went %v, then %v again: %v", view, last, outs[i], outs)
							break
						}
					}
				}
			})
		}
	}
}

// durableFiles is the disk after a clean stop: what the process wrote.
func (m *memFS) durableFiles() map[string][]byte {
	out := map[string][]byte{}
	for n, ino := range m.live {
		out[n] = append([]byte(nil), ino.data...)
	}
	return out
}

// TestSettleRules states Settle's decision for each record and
// passgate.conf it can meet at start.
func TestSettleRules(t *testing.T) {
	prev, n1, n2 := configNamed(t, "prev"), configNamed(t, "n1"), configNamed(t, "n2")
	rec := func(p Pending, confirmed bool) []byte {
		p.Prev = prev
		data, err := encodePending(&p, confirmed)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	cases := []struct {
		name     string
		current  *Config
		record   []byte
		want     string // hostname after Settle
		pending  bool
		rolled   bool
		noticeRE string // "" = no notice
	}{
		{"no record", n1, nil, "n1", false, false, ""},
		{"commit confirmed, unplanned start", n1, rec(Pending{New: Sum(n1), By: "console"}, false), "prev", false, true,
			`a commit confirmed by console was not confirmed before the router restarted .*: rolled back`},
		{"planned restart with time left", n1, rec(Pending{New: Sum(n1), Restart: true, Left: 90 * time.Second}, false), "n1", true, false,
			`still pending after the restart: it is rolled back in 1m30s unless confirmed`},
		{"planned restart without time left", n1, rec(Pending{New: Sum(n1), Restart: true}, false), "prev", false, true,
			`not confirmed in time: rolled back`},
		{"never saved", prev, rec(Pending{New: Sum(n1)}, false), "prev", false, false, `did not complete`},
		{"confirmed by a save", n2, rec(Pending{New: Sum(n2)}, true), "n2", false, false, ""},
		{"confirming save interrupted", n1, rec(Pending{New: Sum(n2)}, true), "prev", false, true,
			`a change to the configuration was interrupted`},
		{"rollback already saved", prev, rec(Pending{New: Sum(prev)}, true), "prev", false, false, ""},
		{"damaged record", n1, []byte(`{"version":1,"new_sha256":"`), "prev", false, true,
			`cannot be read: .*rolling back to the configuration before the last commit`},
		{"record of a configuration that does not parse", n1,
			[]byte(strings.Replace(string(rec(Pending{New: Sum(n1)}, false)), "set system hostname", "set bogus", 1)), "prev", false, true,
			`cannot be read`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, s := storeWith(t, prev, c.current)
			if c.record != nil {
				if err := s.replace(PendingName, c.record); err != nil {
					t.Fatal(err)
				}
			}
			b := s.Settle()
			got, _, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if got.System.Hostname != c.want || (b.Pending != nil) != c.pending || b.RolledBack != c.rolled {
				t.Errorf("runs %s, pending %v, rolled back %v; want %s, %v, %v (notice %q)",
					got.System.Hostname, b.Pending != nil, b.RolledBack, c.want, c.pending, c.rolled, b.Notice)
			}
			if c.noticeRE == "" && b.Notice != "" || c.noticeRE != "" && !matches(c.noticeRE, b.Notice) {
				t.Errorf("notice %q, want %q", b.Notice, c.noticeRE)
			}
			if _, left := m.live[PendingName]; left != c.pending {
				t.Errorf("record left: %v, want %v", left, c.pending)
			}
			if c.rolled && c.current != prev {
				if r1, err := s.Revision(1); err != nil || !r1.Equal(c.current) {
					t.Errorf("the unconfirmed configuration is not revision 1: %v, %v", r1, err)
				}
			}
		})
	}
}

func matches(re, s string) bool {
	ok, err := regexp.MatchString(re, s)
	return err == nil && ok
}

// TestConfirmedCommitReadOnly: on a card that refuses writes nothing
// changes — a commit confirmed fails before passgate.conf is touched, a
// pending record stays as it was — and a start that must roll back runs
// the rollback from memory and says the card still holds the other one.
func TestConfirmedCommitReadOnly(t *testing.T) {
	prev, n1 := configNamed(t, "prev"), configNamed(t, "n1")
	m, s := storeWith(t, configNamed(t, "older"), prev)
	m.failOn = "create"
	err := s.SaveConfirmed(n1, Pending{Prev: prev, By: "console", Minutes: 1, Left: time.Minute})
	if !errors.Is(err, errInjected) {
		t.Fatalf("SaveConfirmed on a read-only card: %v", err)
	}
	if c, _, _ := s.Load(); !c.Equal(prev) {
		t.Fatalf("a failed commit confirmed changed the configuration to %s", c.System.Hostname)
	}
	if _, ok := m.live[PendingName]; ok {
		t.Fatal("a failed commit confirmed left a record")
	}

	m.failOn = ""
	if err := s.SaveConfirmed(n1, Pending{Prev: prev, By: "console", Minutes: 1, Left: time.Minute}); err != nil {
		t.Fatal(err)
	}
	before := append([]byte(nil), m.live[PendingName].data...)
	m.failOn = "create"
	if err := s.Save(configNamed(t, "n2")); err == nil {
		t.Fatal("Save on a read-only card succeeded")
	}
	if string(m.live[PendingName].data) != string(before) {
		t.Error("a failed plain save changed the pending record")
	}
	b := s.Settle()
	if b.Run == nil || !b.Run.Equal(prev) || !b.RolledBack || !strings.Contains(b.Notice, "could not be saved") {
		t.Fatalf("Settle on a read-only card: run %v, rolled back %v, notice %q", b.Run, b.RolledBack, b.Notice)
	}
	if c, _, _ := s.Load(); !c.Equal(n1) {
		t.Errorf("the card changed although it is read-only")
	}
}

// TestPendingRecord: the record reads back as written, says what it is
// to whoever opens it on a PC, and a record being confirmed reads as no
// pending commit.
func TestPendingRecord(t *testing.T) {
	prev, n1 := configNamed(t, "prev"), configNamed(t, "n1")
	_, s := storeWith(t, prev)
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	want := Pending{Prev: prev, By: "ssh admin from 192.168.1.20:5000", Minutes: 7, Left: 7 * time.Minute, Committed: at}
	if err := s.SaveConfirmed(n1, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pending()
	if err != nil || got == nil {
		t.Fatalf("Pending: %v, %v", got, err)
	}
	want.New = Sum(n1)
	if !got.Prev.Equal(prev) || got.New != want.New || got.By != want.By || got.Minutes != 7 || got.Left != want.Left ||
		!got.Committed.Equal(at) || got.Restart {
		t.Errorf("Pending = %+v, want %+v", got, want)
	}
	data, _ := s.fs.ReadFile(PendingName)
	if !strings.Contains(string(data), "commit confirmed that is not confirmed yet") {
		t.Errorf("the record does not say what it is:\n%s", data)
	}
	if _, err := encodePending(&Pending{}, false); err == nil {
		t.Error("a record without a configuration to roll back to was written")
	}
	confirming, _ := encodePending(got, true)
	s.replace(PendingName, confirming)
	if p, err := s.Pending(); p != nil || err != nil {
		t.Errorf("a record being confirmed reads as pending: %v, %v", p, err)
	}
}

// FuzzPendingRecord: passgate.pending is on a partition anyone can edit
// on a PC; reading it never panics, and what it accepts is written back
// to a record that reads the same.
func FuzzPendingRecord(f *testing.F) {
	prev := Default()
	good, _ := encodePending(&Pending{Prev: prev, New: Sum(prev), By: "console", Minutes: 5, Left: time.Minute, Restart: true}, false)
	f.Add(good)
	f.Add([]byte(`{"version":1,"new_sha256":"` + strings.Repeat("0", 64) + `","prev":"set system hostname x\n"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(strings.Replace(string(good), `"left_seconds": 60`, `"left_seconds": 9223372036854775807`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, confirmed, err := decodePending(data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		again, err := encodePending(p, confirmed)
		if err != nil {
			t.Fatalf("an accepted record cannot be written back: %v", err)
		}
		q, c2, err := decodePending(again)
		if err != nil || c2 != confirmed || q.New != p.New || !q.Prev.Equal(p.Prev) || q.Left != p.Left || q.Restart != p.Restart || q.By != p.By {
			t.Fatalf("written back, the record reads differently: %+v, %v", q, err)
		}
	})
}
