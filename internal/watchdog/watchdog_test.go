package watchdog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real device is driven in QEMU (i6300esb, qemu's
// TestBootQEMUArm64Update); here, what Open does with what is not one.
func TestOpenRefusesWhatIsNotAWatchdog(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "watchdog"), time.Minute); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing device: %v, want fs.ErrNotExist (the caller says there is no watchdog)", err)
	}
	// A file takes no watchdog ioctl: refused, and the magic close was
	// written, as it would be to a driver that answered only part of it.
	f := filepath.Join(t.TempDir(), "not-a-watchdog")
	os.WriteFile(f, nil, 0o644)
	_, err := Open(f, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "its timeout cannot be read") {
		t.Fatalf("a file opened as a watchdog: %v", err)
	}
	if b, _ := os.ReadFile(f); string(b) != "V" {
		t.Errorf("the file holds %q, want the magic close V", b)
	}
}
