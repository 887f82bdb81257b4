package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// commitAndRecord saves c and records its commit, as the shell's commit
// does through routerd.
func commitAndRecord(t *testing.T, s *Store, c *Config, who string) {
	t.Helper()
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCommit(HistoryEntry{Who: who, How: "commit"}, c); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryRevisions: each entry points at the revision that holds its
// configuration, also when a configuration was committed twice (a
// rollback), and at none once the revision is pruned.
func TestHistoryRevisions(t *testing.T) {
	s := testStore(newMemFS())
	s.Keep = 3
	a, b := configNamed(t, "a"), configNamed(t, "b")
	commitAndRecord(t, s, a, "first")
	commitAndRecord(t, s, b, "second")
	commitAndRecord(t, s, a, "rollback to a")
	list, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%s:%d", e.Who, e.Revision))
	}
	if want := "rollback to a:0 second:1 first:2"; strings.Join(got, " ") != want {
		t.Errorf("history %q, want %q", got, want)
	}
	for _, e := range list {
		c, err := s.Revision(e.Revision)
		if err != nil || Sum(c) != e.SHA256 {
			t.Errorf("%s: revision %d does not hold its configuration (%v)", e.Who, e.Revision, err)
		}
	}
	// Two more commits prune revision 3 (Keep = 3): "first" is no longer kept.
	commitAndRecord(t, s, configNamed(t, "c"), "third")
	commitAndRecord(t, s, configNamed(t, "d"), "fourth")
	list, _ = s.History()
	if e := list[len(list)-1]; e.Who != "first" || e.Revision != -1 {
		t.Errorf("oldest entry %q at revision %d, want first at -1 (pruned)", e.Who, e.Revision)
	}
}

// TestHistoryBounded: the newest HistoryKeep entries stay; texts are kept
// printable and short.
func TestHistoryBounded(t *testing.T) {
	s := testStore(newMemFS())
	c := Default()
	for i := range HistoryKeep + 7 {
		if err := s.RecordCommit(HistoryEntry{Who: fmt.Sprint("w", i)}, c); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("é", 300)
	if err := s.RecordCommit(HistoryEntry{Who: "x\x1b[2J\ny", Comment: long, How: "commit\x00"}, c); err != nil {
		t.Fatal(err)
	}
	list, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != HistoryKeep || list[1].Who != fmt.Sprint("w", HistoryKeep+6) || list[len(list)-1].Who != "w8" {
		t.Errorf("%d entries, newest %q, oldest %q; want %d from w%d down to w8", len(list), list[1].Who, list[len(list)-1].Who, HistoryKeep, HistoryKeep+6)
	}
	if e := list[0]; e.Who != "x [2J y" || e.How != "commit" || utf8.RuneCountInString(e.Comment) != maxHistoryText {
		t.Errorf("entry %q / %q / %d characters: want control characters as spaces and the comment cut to %d", e.Who, e.How, utf8.RuneCountInString(e.Comment), maxHistoryText)
	}
	if e := list[0]; e.Time.IsZero() || e.Time.Location() != time.UTC {
		t.Errorf("time %v, want the store's clock in UTC", e.Time)
	}
}

// TestHistoryDamaged: a damaged file is reported by History and started
// afresh by the next commit; it never fails the commit.
func TestHistoryDamaged(t *testing.T) {
	for name, data := range map[string]string{
		"garbage":       "\x00\x01 not json",
		"wrong version": `{"version": 9, "commits": []}`,
		"huge":          strings.Repeat(" ", maxHistoryFileLen+1),
	} {
		t.Run(name, func(t *testing.T) {
			s := testStore(memFSFrom(map[string][]byte{HistoryName: []byte(data)}))
			if _, err := s.History(); err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("History of a damaged file: %v, want an error saying so", err)
			}
			if err := s.RecordCommit(HistoryEntry{Who: "after"}, Default()); err != nil {
				t.Fatalf("RecordCommit over a damaged file: %v", err)
			}
			if list, err := s.History(); err != nil || len(list) != 1 || list[0].Who != "after" {
				t.Errorf("after a commit: %+v, %v; want one entry", list, err)
			}
		})
	}
}

// TestHistoryCrashAtEveryStep: a crash anywhere in RecordCommit leaves the
// history with or without the new entry, never damaged.
func TestHistoryCrashAtEveryStep(t *testing.T) {
	base := newMemFS()
	s := testStore(base)
	commitAndRecord(t, s, configNamed(t, "a"), "before")
	base.settle()
	for k := 1; ; k++ {
		m := memFSFrom(map[string][]byte{})
		for n, ino := range base.live {
			m.live[n], m.durable[n] = &inode{data: ino.data, synced: ino.synced}, &inode{data: ino.data, synced: ino.synced}
		}
		m.crashAt = k
		crashed := func() (crashed bool) {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(crash); !ok {
						panic(r)
					}
					crashed = true
				}
			}()
			if err := testStore(m).RecordCommit(HistoryEntry{Who: "new"}, Default()); err != nil {
				t.Fatalf("RecordCommit: %v", err)
			}
			return false
		}()
		for _, v := range m.views() {
			list, err := testStore(memFSFrom(v.files)).History()
			if err != nil || len(list) < 1 || len(list) > 2 || list[len(list)-1].Who != "before" {
				t.Errorf("crash at step %d, %s: history %+v, %v; want the old one or the new one", k, v.name, list, err)
			}
		}
		if !crashed {
			if k < 3 {
				t.Fatalf("RecordCommit finished after %d steps; the test does not crash it", k)
			}
			return
		}
	}
}

func TestMatchRevisions(t *testing.T) {
	es := []HistoryEntry{{SHA256: "a"}, {SHA256: "b"}, {SHA256: "a"}, {SHA256: "z"}, {SHA256: "c"}}
	MatchRevisions(es, []string{"a", "", "b", "a", "c"})
	var got []int
	for _, e := range es {
		got = append(got, e.Revision)
	}
	if fmt.Sprint(got) != "[0 2 3 -1 4]" {
		t.Errorf("revisions %v, want [0 2 3 -1 4]", got)
	}
}

// FuzzHistoryFile: a commit-history.json edited or damaged on the FAT
// partition never panics History, which returns at most HistoryKeep
// printable entries or an error, and never stops the next commit.
func FuzzHistoryFile(f *testing.F) {
	s := testStore(newMemFS())
	s.RecordCommit(HistoryEntry{Who: "seed", How: "commit", Comment: "a seed"}, Default())
	if data, err := s.fs.ReadFile(HistoryName); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"version":1,"commits":[{"who":"\u001b[2J","comment":"x","sha256":"00"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testStore(memFSFrom(map[string][]byte{HistoryName: data}))
		list, err := s.History()
		if err == nil {
			if len(list) > HistoryKeep {
				t.Fatalf("%d entries", len(list))
			}
			for _, e := range list {
				for _, txt := range []string{e.Who, e.How, e.Comment} {
					if strings.ContainsFunc(txt, func(r rune) bool { return r < ' ' || r == 0x7f }) {
						t.Fatalf("control character in %q", txt)
					}
				}
			}
		}
		if err := s.RecordCommit(HistoryEntry{Who: "next"}, Default()); err != nil {
			t.Fatalf("RecordCommit after %q: %v", data, err)
		}
	})
}
