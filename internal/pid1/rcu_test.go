package pid1

import (
	"os"
	"path/filepath"
	"testing"
)

// expediteRCU writes the switch's value and nothing else, and a kernel
// without the switch is no error. (The QEMU boot tests read the real
// switch after ready.)
func TestExpediteRCU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rcu_expedited")
	if err := os.WriteFile(path, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		on   bool
		want string
	}{{true, "1"}, {false, "0"}, {true, "1"}} {
		if err := expediteRCU(path, c.on); err != nil {
			t.Fatalf("expediteRCU(%v): %v", c.on, err)
		}
		if b, _ := os.ReadFile(path); string(b) != c.want {
			t.Fatalf("after expediteRCU(%v) the switch holds %q, want %q", c.on, b, c.want)
		}
	}
	if err := expediteRCU(filepath.Join(t.TempDir(), "missing"), true); err != nil {
		t.Fatalf("a kernel without the switch: %v, want no error", err)
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("expediteRCU created the switch's file")
	}
	dir := t.TempDir() // a directory cannot be written: the error is returned
	if err := expediteRCU(dir, true); err == nil {
		t.Fatal("expediteRCU on an unwritable switch returned no error")
	}
}
