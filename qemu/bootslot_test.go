package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/image"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/bootslot"
)

// TestBootQEMUArm64UBootSlots boots the qemu-arm64 image through
// Debian's u-boot for QEMU, as `passgate run` does, and checks the boot
// slot mechanism with the real boot loader (image.UBootScript): the
// committed slot boots; a trial request boots the other slot once, and
// is gone from the card before the trial kernel runs, so a power cut
// during the trial (the test kills QEMU) brings the committed slot back;
// the default names slot b; a slot whose kernel is missing is passed
// over. The card is read and written with mtools, independently of the
// image package.
func TestBootQEMUArm64UBootSlots(t *testing.T) {
	needRoot(t)
	if err := sysdeps.Require(sysdeps.Mtools); err != nil {
		t.Fatal(err)
	}
	fw, img := buildBoard(t, board.Default, false, "")
	if fw.Loader == "" {
		t.Fatal("the qemu-arm64 firmware has no boot loader")
	}
	b, _ := board.Get(board.Default)
	at := fatAt(img, b)
	mtools := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], append([]string{"-i", at}, args[1:]...)...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	put := func(name, text string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte(text), 0o644)
		mtools("mcopy", "-o", p, "::/"+name)
	}
	// Slot b: the same firmware (the command line tells which slot ran).
	mtools("mmd", "::/slot-b")
	mtools("mcopy", fw.Kernel, "::/slot-b/"+board.KernelFile)
	mtools("mcopy", fw.Initramfs, "::/slot-b/"+board.InitramfsFile)

	cmdline := regexp.MustCompile(`Kernel command line: .*passgate\.slot=([ab]) passgate\.trial=([01])`)
	boot := func(what, wantSlot, wantTrial string) string {
		t.Helper()
		vm := startVM(t, Config{Board: b, BIOS: fw.Loader, Disk: img})
		l, _ := waitFor(t, vm, cmdline.String(), 0, 3*time.Minute)
		vm.Kill() // a power cut as soon as the kernel runs
		m := cmdline.FindStringSubmatch(l.Text)
		if m[1] != wantSlot || m[2] != wantTrial {
			t.Fatalf("%s: booted slot %s trial %s, want slot %s trial %s\n%s", what, m[1], m[2], wantSlot, wantTrial, vm.Console())
		}
		t.Logf("%s: slot %s, trial %s, kernel started %v after QEMU", what, m[1], m[2], since(vm, l))
		return vm.Console()
	}

	boot("fresh image", "a", "0")

	// The files are what routerd's loader writes (bootslot.UBootFiles).
	loaderDir := t.TempDir()
	loader := bootslot.UBootFiles{Dir: loaderDir}
	putFromLoader := func(name string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(loaderDir, name))
		if err != nil {
			t.Fatal(err)
		}
		put(name, string(b))
	}
	if err := loader.ArmTrial(bootslot.B); err != nil {
		t.Fatal(err)
	}
	putFromLoader(image.UBootTryFile)
	boot("trial requested", "b", "1")
	if ls := mtools("mdir", "-b", "::/"); strings.Contains(strings.ToLower(ls), image.UBootTryFile) {
		t.Fatalf("the trial request is still on the card after the trial boot:\n%s", ls)
	}
	boot("after a power cut during the trial", "a", "0")

	if err := loader.SetDefault(bootslot.B); err != nil {
		t.Fatal(err)
	}
	putFromLoader(image.UBootDefaultFile)
	boot("slot b committed", "b", "0")

	mtools("mdel", "::/slot-b/"+board.KernelFile)
	console := boot("slot b without its kernel", "a", "0")
	if !strings.Contains(console, "passgate: slot b does not boot; trying the other") {
		t.Errorf("the boot script did not say it passed slot b over:\n%s", console)
	}

	put(image.UBootTryFile, "passgate_try=nonsense\n")
	put(image.UBootDefaultFile, "passgate_slot=a\n")
	boot("a malformed trial request", "a", "0")
}
