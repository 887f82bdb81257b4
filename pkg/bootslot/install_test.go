package bootslot_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/bootslot"
	"github.com/passgate/passgate/pkg/updatefile"
)

// card is a boot partition with slot a holding version 1.0, and the
// router running it.
type card struct {
	dir string
	m   *bootslot.Machine
	key ed25519.PrivateKey
	o   updatefile.Options
}

func newCard(t *testing.T) *card {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "slot-a"), 0o755)
	for name, text := range map[string]string{"Image": "kernel 1.0", "initramfs.cpio.gz": "initramfs 1.0", "cmdline.txt": "console=ttyS1,115200 passgate.slot=a\n"} {
		os.WriteFile(filepath.Join(dir, "slot-a", name), []byte(text), 0o644)
	}
	m, _, err := bootslot.Open(bootslot.FileStore{Path: filepath.Join(dir, "passgate-slots.json")}, bootslot.UBootFiles{Dir: dir},
		bootslot.Boot{Slot: bootslot.A, Version: "1.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	return &card{dir: dir, m: m, key: key, o: updatefile.Options{Keys: []ed25519.PublicKey{pub}, Board: "rpi4"}}
}

func (c *card) update(t *testing.T, key ed25519.PrivateKey, board, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	src := func(name, text string) updatefile.Source {
		return updatefile.Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil }}
	}
	if _, err := updatefile.Write(&buf, key, board, version, time.Now(), []updatefile.Source{
		src("Image", "kernel "+version+strings.Repeat("k", 100000)), src("initramfs.cpio.gz", "initramfs "+version)}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshot is every file of the card but the slot state.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			out[strings.TrimPrefix(p, dir)] = string(b)
		}
		return nil
	})
	return out
}

func TestInstallWritesTheOtherSlot(t *testing.T) {
	c := newCard(t)
	before := snapshot(t, filepath.Join(c.dir, "slot-a"))
	man, slot, err := c.m.Install(c.dir, t.TempDir(), bytes.NewReader(c.update(t, c.key, "rpi4", "2.0")), c.o, nil, "cmdline.txt")
	if err != nil || slot != bootslot.B || man.Version != "2.0" {
		t.Fatalf("Install = %v, %v, %v", man, slot, err)
	}
	got := snapshot(t, filepath.Join(c.dir, "slot-b"))
	if !strings.HasPrefix(got["/Image"], "kernel 2.0") || got["/initramfs.cpio.gz"] != "initramfs 2.0" || got["/cmdline.txt"] != "console=ttyS1,115200 passgate.slot=b\n" || len(got) != 3 {
		t.Fatalf("slot b holds %v", got)
	}
	if after := snapshot(t, filepath.Join(c.dir, "slot-a")); len(after) != len(before) || after["/Image"] != before["/Image"] {
		t.Fatal("the running slot was written")
	}
	st := c.m.Status()
	if si := st.Of(bootslot.B); si.Contents != bootslot.Ready || si.Version != "2.0" {
		t.Fatalf("slot b state %+v", si)
	}
	if err := c.m.ArmTrial(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(c.dir, bootslot.UBootTryFile)); string(b) != "passgate_try=b\n" {
		t.Errorf("trial not armed: %q", b)
	}
}

// TestRefusedUpdatesChangeNothing: an update signed with another key, for
// another board, damaged or cut short anywhere is refused with its reason
// and leaves the card as it was, a previously installed update included.
func TestRefusedUpdatesChangeNothing(t *testing.T) {
	c := newCard(t)
	if _, _, err := c.m.Install(c.dir, t.TempDir(), bytes.NewReader(c.update(t, c.key, "rpi4", "2.0")), c.o, nil); err != nil {
		t.Fatal(err)
	}
	good := c.update(t, c.key, "rpi4", "3.0")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	flipped := bytes.Clone(good)
	flipped[50000] ^= 1 // inside the kernel's bytes
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"another key", c.update(t, other, "rpi4", "3.0"), updatefile.ErrNotTrusted},
		{"another board", c.update(t, c.key, "rock-pi-e", "3.0"), updatefile.ErrWrongBoard},
		{"a changed byte", flipped, updatefile.ErrDamaged},
		{"cut short", good[:len(good)/2], updatefile.ErrTruncated},
		{"not an update", []byte("hello"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, c.dir)
			_, _, err := c.m.Install(c.dir, t.TempDir(), bytes.NewReader(tc.data), c.o, nil)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Install = %v, want %v", err, tc.want)
			}
			if after := snapshot(t, c.dir); len(after) != len(before) {
				t.Fatalf("the card changed: %d files, was %d", len(after), len(before))
			} else {
				for k, v := range before {
					if after[k] != v {
						t.Fatalf("%s changed", k)
					}
				}
			}
			if si := c.m.Status().Of(bootslot.B); si.Contents != bootslot.Ready || si.Version != "2.0" {
				t.Fatalf("slot b is now %+v", si)
			}
		})
	}
}

// TestTrialTakenButNeverStarted: the boot loader took the trial (u-boot
// left passgate-tried.txt) and the committed slot booted again without
// the trial slot ever reaching routerd: its kernel did not run. A trial
// the loader never took (the request still there: a power cut before the
// reboot) is "not started".
func TestTrialTakenButNeverStarted(t *testing.T) {
	for _, taken := range []bool{true, false} {
		c := newCard(t)
		if _, _, err := c.m.Install(c.dir, t.TempDir(), bytes.NewReader(c.update(t, c.key, "rpi4", "2.0")), c.o, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.m.ArmTrial(); err != nil {
			t.Fatal(err)
		}
		if taken { // what the boot script does
			os.Rename(filepath.Join(c.dir, bootslot.UBootTryFile), filepath.Join(c.dir, bootslot.UBootTriedFile))
		}
		m, notes, err := bootslot.Open(bootslot.FileStore{Path: filepath.Join(c.dir, "passgate-slots.json")}, bootslot.UBootFiles{Dir: c.dir},
			bootslot.Boot{Slot: bootslot.A, Version: "1.0"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := m.Status().Last
		switch {
		case l == nil:
			t.Fatalf("taken %v: no outcome; notes %q", taken, notes)
		case taken && (l.Result != "failed" || !strings.Contains(l.Why, "did not start")):
			t.Errorf("a trial taken that never ran: %+v", l)
		case !taken && l.Result != "not started":
			t.Errorf("a trial never taken: %+v", l)
		}
		for _, f := range []string{bootslot.UBootTryFile, bootslot.UBootTriedFile} {
			if _, err := os.Stat(filepath.Join(c.dir, f)); err == nil {
				t.Errorf("taken %v: %s is left after the outcome was recorded", taken, f)
			}
		}
	}
}
