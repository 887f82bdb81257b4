package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
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
