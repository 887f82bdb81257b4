package firmware

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/passgate/passgate/internal/sysdeps"
)

// Archives written by cpioWriter read back, also concatenated (as the
// initramfs is: u-root's archive, then the board's), with the later
// archive's entries last.
func TestCPIOWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f.ko"), []byte("module"), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "x"), []byte("12345"), 0o755)
	os.Symlink("b/f.ko", filepath.Join(dir, "a", "l"))

	var first, second bytes.Buffer
	w := newCPIOWriter(&first)
	w.File("bin/uinit", 0o644, []byte("old"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = newCPIOWriter(&second)
	w.File("bin/routerd", 0o755, []byte("elf"))
	w.Symlink("bin/uinit", "routerd")
	w.File("etc/passgate-board", 0o644, []byte("qemu-arm64\n"))
	w.Tree(filepath.Join(dir, "a"), "lib")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if first.Len()%4 != 0 || second.Len()%4 != 0 {
		t.Fatalf("archive lengths %d, %d: not multiples of 4", first.Len(), second.Len())
	}
	both := append(append(first.Bytes(), make([]byte, 512)...), second.Bytes()...) // zero padding between, as mkuimage leaves
	entries, err := readNewc(bufio.NewReader(bytes.NewReader(both)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	want := []string{"bin", "bin/uinit", "bin", "bin/routerd", "bin/uinit", "etc", "etc/passgate-board",
		"lib", "lib/b", "lib/b/f.ko", "lib/l", "lib/x"}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %q, want %q", names, want)
		}
	}
	last := map[string]CPIOEntry{}
	for _, e := range entries {
		last[e.Name] = e
	}
	if e := last["bin/uinit"]; !e.IsSymlink() || e.Linkname != "routerd" {
		t.Errorf("bin/uinit = %+v, want the second archive's link", e)
	}
	if e := last["lib/x"]; !e.IsRegular() || e.Mode&0o777 != 0o755 || e.Size != 5 {
		t.Errorf("lib/x = %+v", e)
	}
	if e := last["lib/l"]; !e.IsSymlink() || e.Linkname != "b/f.ko" {
		t.Errorf("lib/l = %+v", e)
	}
	if e := last["lib/b"]; !e.IsDir() {
		t.Errorf("lib/b = %+v", e)
	}

	// GNU cpio reads the board's archive too.
	if err := sysdeps.Require(sysdeps.Cpio); err != nil {
		t.Fatalf("GNU cpio is the independent reader of the archive: %v", err)
	} else {
		cmd := exec.Command("cpio", "-it", "--quiet")
		cmd.Stdin = bytes.NewReader(second.Bytes())
		out, err := cmd.Output()
		if err != nil || !bytes.Contains(out, []byte("lib/b/f.ko\n")) {
			t.Errorf("cpio -it: %v\n%s", err, out)
		}
	}
}
