package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// Archives read back, also concatenated (as the firmware's initramfs is:
// u-root's archive, then the board's), with the later archive's entries
// last.
func TestWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f.ko"), []byte("module"), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "x"), []byte("12345"), 0o755)
	os.Symlink("b/f.ko", filepath.Join(dir, "a", "l"))
	host := filepath.Join(dir, "prog")
	os.WriteFile(host, []byte("elf-bytes"), 0o600)

	var first, second bytes.Buffer
	w := NewWriter(&first)
	w.File("bin/uinit", 0o644, []byte("old"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = NewWriter(&second)
	w.AddFile("bin/routerd", host, 0o755)
	w.Symlink("bin/uinit", "routerd")
	w.File("etc/passgate-board", 0o644, []byte("qemu-arm64\n"))
	w.CharDev("dev/console", 0o600, 5, 1)
	w.Tree(filepath.Join(dir, "a"), "lib")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if first.Len()%512 != 0 || second.Len()%512 != 0 {
		t.Fatalf("archive lengths %d, %d: not multiples of 512", first.Len(), second.Len())
	}
	if w.Count() != 12 {
		t.Errorf("Count = %d, want 12", w.Count())
	}
	both := append(append(first.Bytes(), make([]byte, 512)...), second.Bytes()...) // more zero padding between, as mkuimage leaves
	entries, err := Read(bytes.NewReader(both), true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	want := []string{"bin", "bin/uinit", "bin", "bin/routerd", "bin/uinit", "etc", "etc/passgate-board",
		"dev", "dev/console", "lib", "lib/b", "lib/b/f.ko", "lib/l", "lib/x"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %q, want %q", names, want)
	}
	last := map[string]Entry{}
	for _, e := range entries {
		last[e.Name] = e
	}
	for _, tt := range []struct {
		name string
		ok   func(Entry) bool
	}{
		{"bin/uinit", func(e Entry) bool { return e.IsSymlink() && e.Linkname == "routerd" }},
		{"bin/routerd", func(e Entry) bool { return e.IsRegular() && e.Mode&0o7777 == 0o755 && string(e.Data) == "elf-bytes" }},
		{"lib/x", func(e Entry) bool {
			return e.IsRegular() && e.Mode&0o7777 == 0o755 && e.Size == 5 && string(e.Data) == "12345"
		}},
		{"lib/l", func(e Entry) bool { return e.IsSymlink() && e.Linkname == "b/f.ko" }},
		{"lib/b", func(e Entry) bool { return e.IsDir() }},
		{"dev/console", func(e Entry) bool {
			return e.Mode == TypeChar|0o600 && e.RdevMajor == 5 && e.RdevMinor == 1 && e.Size == 0
		}},
		// Not HostMetadata: root's, time 0.
		{"lib/b/f.ko", func(e Entry) bool { return e.UID == 0 && e.GID == 0 && e.MTime == 0 }},
	} {
		if e := last[tt.name]; !tt.ok(e) {
			t.Errorf("%s = %+v", tt.name, e)
		}
	}

	// Equal input, equal archive.
	var again bytes.Buffer
	w = NewWriter(&again)
	w.AddFile("bin/routerd", host, 0o755)
	w.Symlink("bin/uinit", "routerd")
	w.File("etc/passgate-board", 0o644, []byte("qemu-arm64\n"))
	w.CharDev("dev/console", 0o600, 5, 1)
	w.Tree(filepath.Join(dir, "a"), "lib")
	if err := w.Close(); err != nil || !bytes.Equal(again.Bytes(), second.Bytes()) {
		t.Errorf("a second archive of the same input differs (%v)", err)
	}

	// GNU cpio, the independent reader, lists it too.
	requireCpio(t)
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = bytes.NewReader(second.Bytes())
	out, err := cmd.Output()
	if err != nil || string(out) != strings.Join(want[2:], "\n")+"\n" {
		t.Errorf("cpio -it: %v\n%s", err, out)
	}
}

func requireCpio(t *testing.T) {
	t.Helper()
	if err := sysdeps.Require(sysdeps.Cpio); err != nil {
		t.Fatalf("GNU cpio is the independent reader of the archives: %v", err)
	}
}

// A root file system packed with HostMetadata unpacks with GNU cpio to
// the same tree: contents, permission bits (setuid, sticky), owners,
// times, symlinks and FIFOs; sockets are left out.
func TestTreeHostMetadata(t *testing.T) {
	requireCpio(t)
	root := t.TempDir()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	files := []struct {
		name string
		mode os.FileMode
		data string
	}{
		{"init", 0o755, "#!/bin/sh\necho hi\n"},
		{"etc/x/odd", 0o600, "12345"},
		{"usr/bin/su", 0o755 | os.ModeSetuid, "suid"},
		{"empty", 0o644, ""},
	}
	for _, f := range files {
		p := filepath.Join(root, f.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
		os.Chtimes(p, mtime, mtime)
	}
	os.MkdirAll(filepath.Join(root, "tmp"), 0o755)
	os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
	os.Symlink("etc/x", filepath.Join(root, "link"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(root, "etc/x/odd"), 1234, 5678) // works as root; checked below only if it did
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.HostMetadata = true
	w.Tree(root, "")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// etc etc/x etc/x/odd init usr usr/bin usr/bin/su empty tmp link fifo
	if w.Count() != 11 {
		t.Errorf("Count = %d, want 11", w.Count())
	}

	out := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir = out
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -idm: %v\n%s", err, b)
	}
	for _, f := range files {
		p := filepath.Join(out, f.name)
		b, err := os.ReadFile(p)
		fi, serr := os.Lstat(p)
		if err != nil || serr != nil || string(b) != f.data || fi.Mode() != f.mode || !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: %q %v %v, want %q %v %v (%v %v)", f.name, b, fi.Mode(), fi.ModTime(), f.data, f.mode, mtime, err, serr)
		}
	}
	if fi, err := os.Lstat(filepath.Join(out, "tmp")); err != nil || fi.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("tmp: %v %v", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(out, "link")); err != nil || l != "etc/x" {
		t.Errorf("link -> %q, %v", l, err)
	}
	if fi, err := os.Lstat(filepath.Join(out, "fifo")); err != nil || fi.Mode() != os.ModeNamedPipe|0o640 {
		t.Errorf("fifo: %v %v", fi.Mode(), err)
	}
	src, _ := os.Stat(filepath.Join(root, "etc/x/odd"))
	got, _ := os.Stat(filepath.Join(out, "etc/x/odd"))
	s, g := src.Sys().(*syscall.Stat_t), got.Sys().(*syscall.Stat_t)
	if s.Uid != g.Uid || s.Gid != g.Gid {
		t.Errorf("owner %d:%d, want %d:%d", g.Uid, g.Gid, s.Uid, s.Gid)
	}
}

// Damaged archives are errors, not short lists.
func TestReadDamaged(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.File("a", 0o644, []byte("hello"))
	w.Close()
	good := buf.Bytes()
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("070707"), good[6:]...)},
		{"truncated data", good[:112+4]},
		{"no trailer", good[:120]},
		{"bad hex", append([]byte("070701ZZ"), good[8:]...)},
	} {
		if _, err := Read(bytes.NewReader(tt.b), true); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
