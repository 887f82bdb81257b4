package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// ---- an in-memory FS that models durability and can crash ----

// inode is one file's contents: data is what the running system sees,
// synced what has reached the disk (at the last fsync).
type inode struct {
	data, synced []byte
}

// memFS keeps two namespaces: live (what the running system sees) and
// durable (what is on disk: changed only by SyncDir). A crash is a panic
// at the start of the crashAt-th mutating step, i.e. right after step
// crashAt-1 completed; a Write has an extra step in its middle, so a crash
// can leave a partly written file.
type memFS struct {
	live, durable map[string]*inode
	dirs          map[string]bool
	steps         int
	crashAt       int      // 0: never crash
	fatRename     bool     // rename over an existing file is unlink + link (two steps)
	failOn        string   // steps starting with this fail with errInjected
	log           []string // the steps taken
}

type crash struct{}

func newMemFS() *memFS {
	return &memFS{live: map[string]*inode{}, durable: map[string]*inode{}, dirs: map[string]bool{".": true}}
}

var errInjected = errors.New("injected I/O error")

// step records one mutating step; it crashes (panics) at step crashAt and
// fails with errInjected on a step starting with failOn.
func (m *memFS) step(format string, a ...any) error {
	m.steps++
	m.log = append(m.log, fmt.Sprintf(format, a...))
	if m.crashAt != 0 && m.steps == m.crashAt {
		panic(crash{})
	}
	if m.failOn != "" && strings.HasPrefix(m.log[len(m.log)-1], m.failOn) {
		return errInjected
	}
	return nil
}

func notExist(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

func dirOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return "."
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	ino, ok := m.live[name]
	if !ok {
		return nil, notExist("open", name)
	}
	return bytes.Clone(ino.data), nil
}

type memFile struct {
	m    *memFS
	name string
	ino  *inode
}

func (m *memFS) Create(name string) (File, error) {
	if !m.dirs[dirOf(name)] {
		return nil, notExist("create", name)
	}
	if err := m.step("create %s", name); err != nil {
		return nil, err
	}
	ino, ok := m.live[name]
	if ok {
		ino.data = nil // O_TRUNC keeps the inode
	} else {
		ino = &inode{}
		m.live[name] = ino
	}
	return &memFile{m, name, ino}, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if err := f.m.step("write %s", f.name); err != nil {
		return 0, err
	}
	half := len(p) / 2
	f.ino.data = append(f.ino.data, p[:half]...)
	if err := f.m.step("write %s (second half)", f.name); err != nil {
		return half, err
	}
	f.ino.data = append(f.ino.data, p[half:]...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	if err := f.m.step("fsync %s", f.name); err != nil {
		return err
	}
	f.ino.synced = bytes.Clone(f.ino.data)
	return nil
}

func (f *memFile) Close() error {
	return f.m.step("close %s", f.name)
}

func (m *memFS) Rename(oldname, newname string) error {
	ino, ok := m.live[oldname]
	if !ok {
		return notExist("rename", oldname)
	}
	if _, exists := m.live[newname]; exists && m.fatRename {
		if err := m.step("rename %s -> %s (unlink target)", oldname, newname); err != nil {
			return err
		}
		delete(m.live, newname)
	}
	if err := m.step("rename %s -> %s", oldname, newname); err != nil {
		return err
	}
	delete(m.live, oldname)
	m.live[newname] = ino
	return nil
}

func (m *memFS) Remove(name string) error {
	if _, ok := m.live[name]; !ok {
		return notExist("remove", name)
	}
	if err := m.step("remove %s", name); err != nil {
		return err
	}
	delete(m.live, name)
	return nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
	if !m.dirs[dir] {
		return nil, notExist("open", dir)
	}
	var names []string
	for n := range m.live {
		if dirOf(n) == dir {
			names = append(names, strings.TrimPrefix(n, dir+"/"))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) MkdirAll(dir string) error {
	if err := m.step("mkdir %s", dir); err != nil {
		return err
	}
	m.dirs[dir] = true
	return nil
}

func (m *memFS) SyncDir(dir string) error {
	if err := m.step("fsync dir %s", dir); err != nil {
		return err
	}
	for n := range m.durable {
		if dirOf(n) == dir {
			delete(m.durable, n)
		}
	}
	for n, ino := range m.live {
		if dirOf(n) == dir {
			m.durable[n] = ino
		}
	}
	return nil
}

// view is one possible disk state after a crash.
type view struct {
	name  string
	files map[string][]byte
}

// views returns the disk states a crash can leave: everything the process
// did reached the disk; only what was fsynced did; and the two mixtures
// (directory changes without unsynced data, unsynced data without
// directory changes).
func (m *memFS) views() []view {
	pick := func(ns map[string]*inode, synced bool) map[string][]byte {
		out := map[string][]byte{}
		for n, ino := range ns {
			if synced {
				out[n] = bytes.Clone(ino.synced)
			} else {
				out[n] = bytes.Clone(ino.data)
			}
		}
		return out
	}
	return []view{
		{"all written", pick(m.live, false)},
		{"only fsynced", pick(m.durable, true)},
		{"names without data", pick(m.live, true)},
		{"data without names", pick(m.durable, false)},
	}
}

// memFSFrom builds a crash-free, fully durable FS holding files.
func memFSFrom(files map[string][]byte) *memFS {
	m := newMemFS()
	for n, data := range files {
		ino := &inode{data: bytes.Clone(data), synced: bytes.Clone(data)}
		m.live[n], m.durable[n] = ino, ino
		m.dirs[dirOf(n)] = true
	}
	return m
}

// settle makes everything durable (as after a clean shutdown).
func (m *memFS) settle() {
	for n, ino := range m.live {
		ino.synced = bytes.Clone(ino.data)
		m.durable[n] = ino
	}
	for n := range m.durable {
		if _, ok := m.live[n]; !ok {
			delete(m.durable, n)
		}
	}
}

// ---- helpers ----

func testStore(m FS) *Store {
	s := NewStoreFS(m, "/boot")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Now = func() time.Time { t0 = t0.Add(time.Minute); return t0 }
	return s
}

func configNamed(t *testing.T, host string) *Config {
	t.Helper()
	c := Default()
	if err := c.Set([]string{"system", "hostname", host}); err != nil {
		t.Fatal(err)
	}
	return c
}

// saveCrashing runs Save and reports whether it crashed.
func saveCrashing(s *Store, c *Config) (crashed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	return false, s.Save(c)
}

// ---- crash tests ----

// TestSaveCrashAtEveryStep stops Save after every step (including in the
// middle of each write) and checks every disk state a crash can leave:
// Load must return exactly the old or the new configuration, without
// error; once a state shows the new configuration, later crashes must too.
// With atomic renames passgate.conf itself is always valid (no notice);
// with FAT-style renames (unlink, then link) the backup covers the gap.
func TestSaveCrashAtEveryStep(t *testing.T) {
	older, old, new := configNamed(t, "older"), configNamed(t, "old"), configNamed(t, "new")
	for _, fat := range []bool{false, true} {
		t.Run(fmt.Sprintf("fatRename=%v", fat), func(t *testing.T) {
			var fullLog []string
			sawNew := map[string]bool{}
			crashes := 0
			for k := 1; ; k++ {
				m := newMemFS()
				m.fatRename = fat
				s := testStore(m)
				for _, c := range []*Config{older, old} {
					if err := s.Save(c); err != nil {
						t.Fatal(err)
					}
				}
				m.settle()
				m.log = nil
				m.crashAt = m.steps + k
				crashed, err := saveCrashing(s, new)
				if !crashed && err != nil {
					t.Fatalf("Save: %v", err)
				}
				step := "after the last step"
				if crashed {
					crashes++
					step = "before step " + m.log[len(m.log)-1]
				}
				for _, v := range m.views() {
					got, notice, err := testStore(memFSFrom(v.files)).Load()
					if err != nil {
						t.Fatalf("crash %s, view %q: Load: %v", step, v.name, err)
					}
					isNew, isOld := got.Equal(new), got.Equal(old)
					if !isNew && !isOld {
						t.Fatalf("crash %s, view %q: Load returned neither the old nor the new config:\n%s", step, v.name, got)
					}
					if sawNew[v.name] && !isNew {
						t.Fatalf("crash %s, view %q: went back to the old config after showing the new one", step, v.name)
					}
					sawNew[v.name] = sawNew[v.name] || isNew
					if !fat && notice != "" {
						t.Fatalf("crash %s, view %q: passgate.conf should stay valid, got notice %q", step, v.name, notice)
					}
					if !crashed && (!isNew || notice != "") {
						t.Fatalf("completed Save, view %q: got %v with notice %q, want the new config", v.name, got.System.Hostname, notice)
					}
					// At every instant one of conf/bak is complete and valid.
					okMain := decodes(v.files[FileName])
					okBak := decodes(v.files[BackupName])
					if !okMain && !okBak {
						t.Fatalf("crash %s, view %q: neither %s nor %s is valid", step, v.name, FileName, BackupName)
					}
				}
				if !crashed {
					fullLog = m.log
					break
				}
			}
			// The sequence has the steps the design promises, in order.
			want := []string{
				"create passgate.conf.tmp", "write passgate.conf.tmp", "fsync passgate.conf.tmp", "close passgate.conf.tmp",
				"create passgate.conf.bak.tmp", "fsync passgate.conf.bak.tmp", "rename passgate.conf.bak.tmp -> passgate.conf.bak", "fsync dir .",
				"rename passgate.conf.tmp -> passgate.conf", "fsync dir .",
				"create revisions/0002.conf.tmp", "fsync revisions/0002.conf.tmp", "rename revisions/0002.conf.tmp -> revisions/0002.conf", "fsync dir revisions",
			}
			i := 0
			for _, l := range fullLog {
				if i < len(want) && l == want[i] {
					i++
				}
			}
			if i != len(want) {
				t.Errorf("Save steps lack %q; steps were:\n%s", want[i], strings.Join(fullLog, "\n"))
			}
			if crashes < 20 {
				t.Errorf("only %d crash points tried", crashes)
			}
			t.Logf("%d crash points, %d views each", crashes, len(newMemFS().views()))
		})
	}
}

func decodes(data []byte) bool {
	if data == nil {
		return false
	}
	_, _, err := decode(data)
	return err == nil
}

// TestFirstSaveCrash: with nothing saved yet, a crash leaves either no
// configuration (fs.ErrNotExist: routerd uses Default) or the new one.
func TestFirstSaveCrash(t *testing.T) {
	new := configNamed(t, "first")
	for k := 1; ; k++ {
		m := newMemFS()
		m.crashAt = k
		crashed, err := saveCrashing(testStore(m), new)
		if !crashed && err != nil {
			t.Fatal(err)
		}
		for _, v := range m.views() {
			got, _, err := testStore(memFSFrom(v.files)).Load()
			switch {
			case err == nil && got.Equal(new):
			case errors.Is(err, fs.ErrNotExist) && crashed:
			default:
				t.Fatalf("crash at step %d, view %q: got %v, %v", k, v.name, got, err)
			}
		}
		if !crashed {
			break
		}
	}
}

// ---- load, fallback and damage detection ----

// storeWith returns a store where older then old were saved.
func storeWith(t *testing.T, cfgs ...*Config) (*memFS, *Store) {
	t.Helper()
	m := newMemFS()
	s := testStore(m)
	for _, c := range cfgs {
		if err := s.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	return m, s
}

func TestLoadFallback(t *testing.T) {
	older, old := configNamed(t, "older"), configNamed(t, "old")
	_, s0 := storeWith(t, older, old)
	good, _ := s0.fs.ReadFile(FileName)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x20

	tests := []struct {
		name   string
		main   []byte // nil: file missing
		notice string
	}{
		{"missing", nil,
			"passgate.conf is missing; loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf."},
		{"checksum mismatch", flipped,
			"passgate.conf is damaged: the sha256 checksum does not match and line 6, column 1: \"Set\" is not allowed here; every line must be a set command, e.g. \"set system hostname passgate\" (the file was corrupted, or edited by hand with a mistake); loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf."},
		{"trailer cut off", good[:bytes.LastIndex(good, []byte(trailerPrefix))],
			`passgate.conf is damaged: the "# sha256" line at the end is missing (the file was truncated; to edit the file by hand, keep both checksum lines or delete both); loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf.`},
		{"empty", []byte{},
			"passgate.conf is damaged: the file holds no set command (empty or truncated); loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf."},
		{"zero-filled", make([]byte, 300),
			"passgate.conf is damaged: line 1, column 1: control character U+0000 is not allowed; loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf."},
		{"hand edit with a typo", []byte("set system hostname hand\nset nat hairpin maybe\n"),
			`passgate.conf is damaged: line 2, column 17: "maybe" is not valid here; use one of: enable, disable; loaded the backup passgate.conf.bak (saved 2026-01-02T03:05:05Z) instead. Check it and commit to write a new passgate.conf.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := storeWith(t, older, old)
			if tt.main == nil {
				delete(m.live, FileName)
			} else {
				m.live[FileName].data = tt.main
			}
			got, notice, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(older) {
				t.Errorf("loaded %q, want the backup (older)", got.System.Hostname)
			}
			if notice != tt.notice {
				t.Errorf("notice:\ngot  %s\nwant %s", notice, tt.notice)
			}
		})
	}
}

// TestTruncationAlwaysDetected cuts the saved file at every byte: no
// prefix is ever accepted as the configuration, except the whole file
// without its final newline (nothing of the configuration is lost; editors
// drop that newline).
func TestTruncationAlwaysDetected(t *testing.T) {
	older, old := configNamed(t, "older"), configNamed(t, "old")
	m, s := storeWith(t, older, old)
	full := bytes.Clone(m.live[FileName].data)
	m.live[FileName].data = full[:len(full)-1]
	if got, notice, err := s.Load(); err != nil || !got.Equal(old) || notice != "" {
		t.Fatalf("without the final newline: got %v, notice %q, err %v; want the file as saved", got, notice, err)
	}
	for i := 0; i < len(full)-1; i++ {
		m.live[FileName].data = full[:i]
		got, notice, err := s.Load()
		if err != nil || !got.Equal(older) || notice == "" {
			t.Fatalf("cut at %d/%d: got %v, notice %q, err %v; want the backup with a notice", i, len(full), got, notice, err)
		}
	}
}

func TestLoadHandWritten(t *testing.T) {
	// A file without trailer (edited on a PC, CRLF, BOM) is accepted.
	m := memFSFrom(map[string][]byte{FileName: []byte("\ufeff# my router\r\n" + strings.ReplaceAll(Default().String(), "\n", "\r\n") +
		"set system hostname pc-edited\r\nset nat dmz 192.168.1.9\r\n")})
	got, notice, err := testStore(m).Load()
	if err != nil || notice != "" || got.System.Hostname != "pc-edited" || got.NAT.DMZ != addr("192.168.1.9") {
		t.Fatalf("got %v, %q, %v", got, notice, err)
	}
	// A stored file edited by hand but still carrying the old trailer is
	// taken as edited, with a notice (TestLoadVariants has the details).
	_, s := storeWith(t, configNamed(t, "stored"))
	data, _ := s.fs.ReadFile(FileName)
	edited := bytes.Replace(data, []byte("hostname stored"), []byte("hostname edited"), 1)
	m = memFSFrom(map[string][]byte{FileName: edited})
	if got, notice, err := testStore(m).Load(); err != nil || got.System.Hostname != "edited" || !strings.Contains(notice, "edited by hand") {
		t.Fatalf("stale trailer: %v, %q, %v; want the edit taken with a notice", got, notice, err)
	}
	// ... and accepted once the marker and trailer lines are deleted.
	var kept []string
	for _, l := range strings.Split(string(edited), "\n") {
		if !strings.HasPrefix(l, trailerPrefix) && l != checkedLine {
			kept = append(kept, l)
		}
	}
	m = memFSFrom(map[string][]byte{FileName: []byte(strings.Join(kept, "\n"))})
	got, _, err = testStore(m).Load()
	if err != nil || got.System.Hostname != "edited" {
		t.Fatalf("hand-edited file: %v, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, _, err := testStore(newMemFS()).Load()
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "config: load /boot/passgate.conf: no configuration: file does not exist" {
		t.Errorf("empty store: %v", err)
	}
	m := memFSFrom(map[string][]byte{FileName: []byte("set nat dmz x\n"), BackupName: {}})
	_, _, err = testStore(m).Load()
	want := `config: load /boot/passgate.conf: damaged: line 1, column 13: "x" is not an IPv4 address; use four numbers 0-255 like 192.168.1.10, and there is no valid backup`
	if err == nil || errors.Is(err, fs.ErrNotExist) || err.Error() != want {
		t.Errorf("no valid copy:\ngot  %v\nwant %s", err, want)
	}
}

// TestSaveOverDamagedKeepsBackup: a damaged passgate.conf must never
// overwrite the good backup.
func TestSaveOverDamagedKeepsBackup(t *testing.T) {
	a, b, c := configNamed(t, "a"), configNamed(t, "b"), configNamed(t, "c")
	m, s := storeWith(t, a, b)
	bak := bytes.Clone(m.live[BackupName].data)
	m.live[FileName].data = m.live[FileName].data[:40] // truncated
	if err := s.Save(c); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.live[BackupName].data, bak) {
		t.Fatal("the backup was overwritten")
	}
	got, notice, err := s.Load()
	if err != nil || notice != "" || !got.Equal(c) {
		t.Fatalf("got %v, %q, %v", got, notice, err)
	}
	// The configuration that was in use (the backup, a) is revision 1.
	if r, err := s.Revision(1); err != nil || !r.Equal(a) {
		t.Fatalf("Revision(1) = %v, %v; want a", r, err)
	}

	// With both passgate.conf and the backup damaged, Load uses the newest
	// revision, and the next Save makes that the backup again.
	m.live[FileName].data = []byte("set nat dmz nope\n")
	m.live[BackupName].data = []byte{}
	got, notice, err = s.Load()
	if err != nil || !got.Equal(a) || !strings.Contains(notice, "loaded the backup revisions/0002.conf") {
		t.Fatalf("fallback to revision: %v, %q, %v", got, notice, err)
	}
	d := configNamed(t, "d")
	if err := s.Save(d); err != nil {
		t.Fatal(err)
	}
	if bak, _, err := decode(m.live[BackupName].data); err != nil || !bak.Equal(a) {
		t.Fatalf("backup after saving over damaged files: %v, %v", bak, err)
	}
}

// ---- revisions ----

func TestRevisions(t *testing.T) {
	m := newMemFS()
	s := testStore(m)
	s.Keep = 3
	var cfgs []*Config
	for i := 1; i <= 6; i++ {
		c := configNamed(t, fmt.Sprintf("h%d", i))
		cfgs = append(cfgs, c)
		if err := s.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := m.ReadDir(RevisionDir)
	if want := []string{"0003.conf", "0004.conf", "0005.conf"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("revisions/ holds %q, want %q", names, want)
	}
	for n, want := range []string{"h6", "h5", "h4", "h3"} {
		c, err := s.Revision(n)
		if err != nil || c.System.Hostname != want {
			t.Errorf("Revision(%d) = %v, %v; want %s", n, c, err, want)
		}
	}
	if _, err := s.Revision(4); err == nil || err.Error() != "config: revision 4 does not exist; 3 previous configurations are kept (use 0 to 3)" {
		t.Errorf("Revision(4): %v", err)
	}
	if _, err := s.Revision(-1); err == nil {
		t.Error("Revision(-1) should fail")
	}
	var got []string
	for _, r := range s.Revisions() {
		got = append(got, fmt.Sprintf("%d %s %s %v", r.N, r.File, r.Saved.Format("15:04"), r.Err))
	}
	want := []string{
		"0 passgate.conf 03:10 <nil>",
		"1 revisions/0005.conf 03:09 <nil>",
		"2 revisions/0004.conf 03:08 <nil>",
		"3 revisions/0003.conf 03:07 <nil>",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Revisions:\ngot  %q\nwant %q", got, want)
	}
	// A damaged revision is listed with its error, and Revision says why.
	m.live["revisions/0004.conf"].data = []byte("garbage\n")
	if r := s.Revisions(); r[2].Err == nil {
		t.Error("damaged revision listed without error")
	}
	if _, err := s.Revision(2); err == nil || !errors.Is(err, ErrDamaged) {
		t.Errorf("Revision(2) of damaged file: %v", err)
	}
	// Rolling back = saving an old revision: it becomes current and the
	// replaced one is archived.
	r3, _ := s.Revision(3)
	if err := s.Save(r3); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Revision(1); c.System.Hostname != "h6" {
		t.Errorf("after rollback, Revision(1) = %s, want h6", c.System.Hostname)
	}
	if c, _ := s.Revision(0); c.System.Hostname != "h3" {
		t.Errorf("after rollback, Revision(0) = %s, want h3", c.System.Hostname)
	}
	// A stale temporary file from an earlier crash is cleaned up.
	m.live["revisions/0099.conf.tmp"] = &inode{data: []byte("x")}
	if err := s.Save(cfgs[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.live["revisions/0099.conf.tmp"]; ok {
		t.Error("stale tmp file left in revisions/")
	}
}

// TestStoreOnDisk runs the store on the real filesystem.
func TestStoreOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir)
	if _, _, err := s.Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty dir: %v", err)
	}
	a, b := configNamed(t, "a"), configNamed(t, "b")
	for _, c := range []*Config{a, b} {
		if err := s.Save(c); err != nil {
			t.Fatal(err)
		}
	}
	got, notice, err := s.Load()
	if err != nil || notice != "" || !got.Equal(b) {
		t.Fatalf("Load: %v, %q, %v", got, notice, err)
	}
	if r, err := s.Revision(1); err != nil || !r.Equal(a) {
		t.Fatalf("Revision(1): %v", err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	if want := []string{"passgate.conf", "passgate.conf.bak", "revisions/0001.conf"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	// ReadFile (routerd --config) checks the trailer too.
	if c, err := ReadFile(filepath.Join(dir, FileName)); err != nil || !c.Equal(b) {
		t.Errorf("ReadFile: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	os.WriteFile(filepath.Join(dir, "cut.conf"), data[:len(data)-10], 0o644)
	if _, err := ReadFile(filepath.Join(dir, "cut.conf")); !errors.Is(err, ErrDamaged) {
		t.Errorf("ReadFile of a truncated file: %v", err)
	}
	// The saved file is String() between the store's lines.
	text := string(data)
	if !strings.HasPrefix(text, "# saved ") || !strings.Contains(text, "\n"+checkedLine+"\n"+b.String()+trailerPrefix) {
		t.Errorf("unexpected file layout:\n%s", text)
	}
}

// TestSaveRefusesUnprintable: a Config built in code with a value the
// language cannot express is refused instead of stored unloadable.
func TestSaveRefusesUnprintable(t *testing.T) {
	m, s := storeWith(t, configNamed(t, "good"))
	before := bytes.Clone(m.live[FileName].data)
	bad := Default()
	bad.System.Hostname = "two words"
	if err := s.Save(bad); err == nil || !strings.Contains(err.Error(), "does not read back identically") {
		t.Fatalf("Save of an unprintable config: %v", err)
	}
	if !bytes.Equal(m.live[FileName].data, before) {
		t.Fatal("passgate.conf changed")
	}
}

// TestSaveIOErrors: a failing step makes Save return an error with
// context, and the store still loads the old configuration (or the new one
// once passgate.conf was replaced); a failure while archiving is reported
// as ErrArchive after the commit.
func TestSaveIOErrors(t *testing.T) {
	old, new := configNamed(t, "old"), configNamed(t, "new")
	tests := []struct {
		failOn  string
		want    string // error text
		loadNew bool
	}{
		{"create passgate.conf.tmp", "config: save /boot/passgate.conf: create passgate.conf.tmp: injected I/O error", false},
		{"write passgate.conf.tmp (second half)", "config: save /boot/passgate.conf: write passgate.conf.tmp: injected I/O error", false},
		{"fsync passgate.conf.tmp", "config: save /boot/passgate.conf: fsync passgate.conf.tmp: injected I/O error", false},
		{"close passgate.conf.tmp", "config: save /boot/passgate.conf: close passgate.conf.tmp: injected I/O error", false},
		{"fsync passgate.conf.bak.tmp", "config: save /boot/passgate.conf.bak: fsync passgate.conf.bak.tmp: injected I/O error", false},
		{"rename passgate.conf.bak.tmp", "config: save /boot/passgate.conf.bak: rename passgate.conf.bak.tmp to passgate.conf.bak: injected I/O error", false},
		{"rename passgate.conf.tmp", "config: save /boot/passgate.conf: rename passgate.conf.tmp to passgate.conf: injected I/O error", false},
		{"fsync dir .", "config: save /boot/passgate.conf.bak: fsync directory .: injected I/O error", false},
		{"create revisions/", "config: saved /boot/passgate.conf, but previous configuration not archived: config: save /boot/revisions/0002.conf: create revisions/0002.conf.tmp: injected I/O error", true},
		{"fsync dir revisions", "config: saved /boot/passgate.conf, but previous configuration not archived: config: save /boot/revisions/0002.conf: fsync directory revisions: injected I/O error", true},
	}
	for _, tt := range tests {
		m, s := storeWith(t, configNamed(t, "older"), old)
		m.failOn = tt.failOn
		err := s.Save(new)
		if err == nil || err.Error() != tt.want {
			t.Errorf("fail on %q:\ngot  %v\nwant %s", tt.failOn, err, tt.want)
		}
		if errors.Is(err, ErrArchive) != tt.loadNew || !errors.Is(err, errInjected) {
			t.Errorf("fail on %q: error %v does not wrap the cause properly", tt.failOn, err)
		}
		m.failOn = ""
		got, notice, err := s.Load()
		want := old
		if tt.loadNew {
			want = new
		}
		if err != nil || notice != "" || !got.Equal(want) {
			t.Errorf("fail on %q: Load = %v, %q, %v", tt.failOn, got.System.Hostname, notice, err)
		}
	}
}
