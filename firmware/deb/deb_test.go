package deb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/board"
)

func TestEveryBoardPackageIsPinned(t *testing.T) {
	for _, b := range board.All() {
		for _, p := range b.Packages() {
			pin, err := PinFor(p)
			if err != nil {
				t.Errorf("board %s: %v", b.Name, err)
				continue
			}
			if pin.Suite != Suite {
				t.Errorf("pin %s: suite %q, want %q", pin.Source, pin.Suite, Suite)
			}
		}
	}
}

func TestPinRoundTrip(t *testing.T) {
	pins, err := Pins()
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) == 0 {
		t.Fatal("no pins")
	}
	for _, p := range pins {
		q, err := ParsePin(p.Source, p.Format())
		if err != nil {
			t.Fatal(err)
		}
		if q != p {
			t.Errorf("round trip: %+v != %+v", q, p)
		}
	}
}

func TestParsePinErrors(t *testing.T) {
	for _, bad := range []string{
		"package: x\nversion: 1\narchitecture: all\nsize: 3\n",              // no sha
		"package: x\nversion: 1\narchitecture: all\nsize: 3\nsha256: ABC\n", // bad sha
		"package x\n",    // no colon
		"colour: blue\n", // unknown key
		"package: x\nversion: 1\narchitecture: all\nsize: -1\nsha256: " + strings.Repeat("a", 64), // bad size
	} {
		if _, err := ParsePin("t.pin", []byte(bad)); err == nil {
			t.Errorf("ParsePin(%q) succeeded", bad)
		}
	}
}

// A cached file that does not match its pin is never used: Fetch throws it
// away and downloads again; if the download does not match either, the
// error names the package, both hashes and the pin file.
func TestVerifyMismatchIsClear(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.deb")
	os.WriteFile(f, []byte("not the real package"), 0o644)
	pin := Pin{Package: "raspi-firmware", Version: "1.0", Arch: "all", Size: 20,
		SHA256: strings.Repeat("0", 64), Source: "raspi-firmware_1.0.pin"}
	err := Verify(f, pin)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Verify = %v, want MismatchError", err)
	}
	sum := sha256.Sum256([]byte("not the real package"))
	for _, want := range []string{"pin mismatch", "raspi-firmware=1.0", hex.EncodeToString(sum[:]), pin.SHA256, "firmware/deb/pins/raspi-firmware_1.0.pin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	pin.SHA256 = hex.EncodeToString(sum[:])
	if err := Verify(f, pin); err != nil {
		t.Errorf("Verify with the right pin: %v", err)
	}
}

func TestUnpinnedPackageError(t *testing.T) {
	_, err := PinFor(board.Package{Name: "linux-image-9.9.9-arm64", Version: "9.9.9-1", Arch: "arm64"})
	if err == nil || !strings.Contains(err.Error(), "passgate pin linux-image-9.9.9-arm64=9.9.9-1") {
		t.Fatalf("error %v does not say how to pin", err)
	}
}

func TestSourcesListHasFirmwareComponent(t *testing.T) {
	f := &Fetcher{Mirror: "http://m/debian", SecurityMirror: "http://m/debian-security"}
	sl, err := f.SourcesList()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http://m/debian bookworm main non-free-firmware", "bookworm-updates", "http://m/debian-security bookworm-security"} {
		if !strings.Contains(sl, want) {
			t.Errorf("sources.list lacks %q:\n%s", want, sl)
		}
	}
}
