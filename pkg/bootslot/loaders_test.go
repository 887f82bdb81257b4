package bootslot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/image"
	"github.com/passgate/passgate/pkg/bootslot"
)

func TestFromCmdline(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    bootslot.Boot
		ok      bool
	}{
		{"console=ttyAMA0 panic=10 passgate.slot=a passgate.trial=0", bootslot.Boot{Slot: bootslot.A}, true},
		{"passgate.trial=1 passgate.slot=b quiet", bootslot.Boot{Slot: bootslot.B, Trial: true}, true},
		{"console=ttyAMA0 panic=10", bootslot.Boot{}, false},
		{"passgate.slot=c", bootslot.Boot{}, false},
		{"passgate.slot=", bootslot.Boot{}, false},
		{"xpassgate.slot=a", bootslot.Boot{}, false},
	} {
		got, ok := bootslot.FromCmdline(tc.cmdline)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FromCmdline(%q) = %+v, %v; want %+v, %v", tc.cmdline, got, ok, tc.want, tc.ok)
		}
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUBootFiles(t *testing.T) {
	dir := t.TempDir()
	u := bootslot.UBootFiles{Dir: dir}
	if err := u.DisarmTrial(); err != nil {
		t.Fatalf("DisarmTrial with nothing armed: %v", err)
	}
	if err := u.SetDefault(bootslot.B); err != nil || read(t, dir, bootslot.UBootDefaultFile) != "passgate_slot=b\n" {
		t.Fatalf("SetDefault(b): %v", err)
	}
	if err := u.ArmTrial(bootslot.A); err != nil || read(t, dir, bootslot.UBootTryFile) != "passgate_try=a\n" {
		t.Fatalf("ArmTrial(a): %v", err)
	}
	if err := u.DisarmTrial(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, bootslot.UBootTryFile)); !os.IsNotExist(err) {
		t.Errorf("the trial file is still there: %v", err)
	}
	// The names are the ones the boot script reads.
	b, _ := board.Get("rock-pi-e")
	src := image.UBootScript(b)
	for _, want := range []string{bootslot.UBootDefaultFile, bootslot.UBootTryFile, "passgate_slot", "passgate_try"} {
		if !strings.Contains(src, want) {
			t.Errorf("the boot script does not use %q", want)
		}
	}
}

func TestPiTryboot(t *testing.T) {
	dir := t.TempDir()
	pi, _ := board.Get("rpi4")
	g := (&image.Spec{Board: pi}).GeneratedFiles()
	os.WriteFile(filepath.Join(dir, bootslot.PiConfigFile), g[image.PiConfigFile], 0o644)
	p := &bootslot.PiTryboot{Dir: dir}
	// No tryboot.txt yet: made from config.txt.
	if err := p.ArmTrial(bootslot.B); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, dir, bootslot.PiTrybootFile), string(g[image.PiTrybootFile]); got != want {
		t.Errorf("tryboot.txt for slot b:\n%s\nwant the image's:\n%s", got, want)
	}
	if p.RebootArg() != "0 tryboot" {
		t.Errorf("RebootArg with a trial armed = %q", p.RebootArg())
	}
	if err := p.DisarmTrial(); err != nil || p.RebootArg() != "" {
		t.Errorf("after DisarmTrial: %v, %q", err, p.RebootArg())
	}
	if err := p.SetDefault(bootslot.B); err != nil {
		t.Fatal(err)
	}
	cfg := read(t, dir, bootslot.PiConfigFile)
	if cfg != strings.Replace(string(g[image.PiConfigFile]), "os_prefix=slot-a/", "os_prefix=slot-b/", 1) {
		t.Errorf("config.txt after SetDefault(b) changed more than os_prefix:\n%s", cfg)
	}
	// A config.txt without the line (written by hand) gets it.
	os.WriteFile(filepath.Join(dir, bootslot.PiConfigFile), []byte("arm_64bit=1\nkernel=Image\n"), 0o644)
	if err := p.SetDefault(bootslot.A); err != nil || read(t, dir, bootslot.PiConfigFile) != "os_prefix=slot-a/\narm_64bit=1\nkernel=Image\n" {
		t.Errorf("SetDefault on a config.txt without os_prefix: %v\n%s", err, read(t, dir, bootslot.PiConfigFile))
	}
	// An oversized file is refused, not read whole.
	os.WriteFile(filepath.Join(dir, bootslot.PiConfigFile), make([]byte, 1<<20), 0o644)
	if err := p.SetDefault(bootslot.B); err == nil {
		t.Error("SetDefault on a 1 MiB config.txt succeeded")
	}
}
