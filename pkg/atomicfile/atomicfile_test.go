package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemporary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	for _, v := range []string{"old", "new"} {
		if err := Write(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != v {
			t.Fatalf("content %q, want %q", b, v)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temporary file left behind")
	}
}

// A crash between the durable temporary file and the rename leaves the old
// file intact (and the new data in the temporary file).
func TestCrashBeforeRenameKeepsOld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	Write(p, []byte("old"), 0o644)
	crash := errors.New("power cut")
	if err := WriteHook(p, []byte("new"), 0o644, func() error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("file after the crash: %q", b)
	}
	if b, _ := os.ReadFile(p + ".tmp"); string(b) != "new" {
		t.Fatalf("temporary file: %q", b)
	}
}

func TestRemove(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	Write(p, []byte("x"), 0o644)
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
	if err := Write(filepath.Join(t.TempDir(), "no", "such", "dir"), nil, 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// failFS is an in-memory FS that fails the step named fail and logs the
// steps taken.
type failFS struct {
	files map[string]string
	fail  string
	log   []string
}

var errInjected = errors.New("injected")

func (m *failFS) step(s string) error {
	m.log = append(m.log, s)
	if s == m.fail {
		return errInjected
	}
	return nil
}

type failFile struct {
	m    *failFS
	name string
}

func (f *failFile) Write(p []byte) (int, error) {
	if err := f.m.step("write " + f.name); err != nil {
		return 0, err
	}
	f.m.files[f.name] += string(p)
	return len(p), nil
}
func (f *failFile) Sync() error  { return f.m.step("fsync " + f.name) }
func (f *failFile) Close() error { return f.m.step("close " + f.name) }

func (m *failFS) Create(name string) (File, error) {
	if err := m.step("create " + name); err != nil {
		return nil, err
	}
	m.files[name] = ""
	return &failFile{m, name}, nil
}

func (m *failFS) Rename(oldname, newname string) error {
	if err := m.step("rename " + oldname); err != nil {
		return err
	}
	m.files[newname] = m.files[oldname]
	delete(m.files, oldname)
	return nil
}

func (m *failFS) Remove(name string) error {
	delete(m.files, name)
	return m.step("remove " + name)
}

func (m *failFS) SyncDir(dir string) error { return m.step("fsync dir " + dir) }

// Replace takes its steps in order, and a failing step is an error
// naming it that leaves the old file (and no temporary file) in place.
func TestReplaceSteps(t *testing.T) {
	tests := []struct {
		fail    string
		want    string // error text
		content string // of d/f afterwards
	}{
		{"", "", "new"},
		{"create d/f.tmp", "create d/f.tmp: injected", "old"},
		{"write d/f.tmp", "write d/f.tmp: injected", "old"},
		{"fsync d/f.tmp", "fsync d/f.tmp: injected", "old"},
		{"close d/f.tmp", "close d/f.tmp: injected", "old"},
		{"rename d/f.tmp", "rename d/f.tmp to d/f: injected", "old"},
		{"fsync dir d", "fsync directory d: injected", "new"},
	}
	for _, tt := range tests {
		m := &failFS{files: map[string]string{"d/f": "old"}, fail: tt.fail}
		err := Replace(m, "d/f", []byte("new"), nil)
		if got := ""; err != nil {
			got = err.Error()
			if !errors.Is(err, errInjected) {
				t.Errorf("fail on %q: %v does not wrap the cause", tt.fail, err)
			}
			if got != tt.want {
				t.Errorf("fail on %q: error %q, want %q", tt.fail, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("fail on %q: no error", tt.fail)
		}
		if m.files["d/f"] != tt.content {
			t.Errorf("fail on %q: d/f = %q, want %q", tt.fail, m.files["d/f"], tt.content)
		}
		if _, ok := m.files["d/f.tmp"]; ok {
			t.Errorf("fail on %q: temporary file left behind (steps %q)", tt.fail, m.log)
		}
		if tt.fail == "" {
			want := []string{"create d/f.tmp", "write d/f.tmp", "fsync d/f.tmp", "close d/f.tmp", "rename d/f.tmp", "fsync dir d"}
			if strings.Join(m.log, ",") != strings.Join(want, ",") {
				t.Errorf("steps %q, want %q", m.log, want)
			}
		}
	}
}

func TestReadMax(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("12345"), 0o644)
	if b, err := ReadMax(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadMax at the limit = %q, %v", b, err)
	}
	if _, err := ReadMax(p, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("ReadMax over the limit: %v", err)
	}
	if _, err := ReadMax(filepath.Join(dir, "none"), 4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadMax of a missing file: %v", err)
	}
}
