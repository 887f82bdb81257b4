package qemu

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/sysdeps"
)

// TestBootQEMUArm64CommitConfirmedPowerOff is a lockout and its way out
// on the qemu-arm64 image: on the serial console, "commit confirmed 2"
// moves the LAN to another subnet (a change that takes effect at the
// next start), then the power goes (QEMU is killed). The SD image holds
// the new configuration and its rollback; booting it again, routerd
// rolls the unconfirmed commit back before it applies anything, says so
// on the console, and comes up on the old LAN address.
func TestBootQEMUArm64CommitConfirmedPowerOff(t *testing.T) {
	needRoot(t)
	if err := sysdeps.Require(sysdeps.Mtools); err != nil {
		t.Fatal(err)
	}
	b, _ := board.Get("qemu-arm64")
	fw, img := buildBoard(t, b.Name, false, "")
	// The disk is written through (no snapshot): the second boot reads
	// what the first one wrote.
	c := Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs, Disk: img, WAN: true, SerialInput: true}

	vm := startVM(t, c)
	_, i := waitFor(t, vm, `passgate ready: lan 192\.168\.1\.1/24 `, 0, 180*time.Second)
	_, i = waitFor(t, vm, `passgate console: press Enter to start`, 0, 60*time.Second)
	typeLine := func(line, want string) {
		t.Helper()
		if err := vm.Type(line + "\r"); err != nil {
			t.Fatal(err)
		}
		_, i = waitFor(t, vm, want, i, 60*time.Second)
	}
	// A set or delete prints nothing but its echo, and routerd's log
	// lines (IPv6 coming up on the WAN) can land in the middle of it.
	typeSet := func(line string) {
		t.Helper()
		if err := vm.Type(line + "\r"); err != nil {
			t.Fatal(err)
		}
		waitEcho(t, vm, regexp.QuoteMeta(line)+"$", i, 60*time.Second)
	}
	typeLine("", `type \? for help`)
	typeLine("configure", `^Entering configuration mode\.`)
	typeSet("set interfaces lan address 10.9.8.1/24")
	typeSet("set dhcp-server lan range 10.9.8.100 10.9.8.199")
	typeSet("delete dhcp-server lan dns")
	typeSet("set dhcp-server lan dns 10.9.8.1")
	typeLine("commit confirmed 2", `^Commit complete; it will be rolled back in 2 minute\(s\) unless confirmed`)
	if !strings.Contains(vm.Console(), `interfaces lan address 10.9.8.1/24 takes effect after a restart ("reboot")`) {
		t.Error(`the commit did not say that the LAN address takes effect after a restart`)
	}
	committed := time.Now()
	vm.Kill() // the power cut

	// The card holds the unconfirmed commit and its rollback.
	conf, pending := mtype(t, img, b, "passgate.conf"), mtype(t, img, b, "passgate.pending")
	if !strings.Contains(conf, "set interfaces lan address 10.9.8.1/24") {
		t.Fatalf("passgate.conf on the image lacks the commit:\n%s", conf)
	}
	if !strings.Contains(pending, `"prev": `) || !strings.Contains(pending, `set interfaces lan address 192.168.1.1/24`) {
		t.Fatalf("passgate.pending on the image does not hold the rollback:\n%s", pending)
	}

	vm2 := startVM(t, c)
	why, j := waitFor(t, vm2, `routerd: a commit confirmed by console \S+ was not confirmed before the router restarted .*: rolled back to the configuration from before it`, 0, 180*time.Second)
	waitFor(t, vm2, `^\s*- set interfaces lan address 10\.9\.8\.1/24$`, j, 10*time.Second)
	ready, _ := waitFor(t, vm2, `passgate ready: lan 192\.168\.1\.1/24 `, j, 60*time.Second)
	t.Logf("console at the second boot:\n%s\n%s", why.Text, ready.Text)
	t.Logf("power cut -> rolled back and ready again: %v", ready.At.Sub(committed).Round(100*time.Millisecond))
	if strings.Contains(vm2.Console(), "passgate ready: lan 10.9.8.1") {
		t.Error("the second boot ran the unconfirmed LAN address")
	}
	vm2.Kill()
	if conf := mtype(t, img, b, "passgate.conf"); !strings.Contains(conf, "set interfaces lan address 192.168.1.1/24") {
		t.Errorf("after the rollback passgate.conf on the image is:\n%s", conf)
	}
	mdir := exec.Command("mdir", "-i", fatAt(img, b), "-b", "::/")
	mdir.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := mdir.CombinedOutput(); err != nil || strings.Contains(strings.ToLower(string(out)), "passgate.pending") {
		t.Errorf("after the rollback the image's boot partition lists (%v):\n%s", err, out)
	}
}

// fatAt names the image's boot partition for mtools.
func fatAt(img string, b *board.Board) string {
	return img + "@@" + strconv.FormatInt(b.BootPartitionStart*512, 10)
}

// mtype reads a file from the image's boot partition.
func mtype(t *testing.T, img string, b *board.Board, name string) string {
	t.Helper()
	cmd := exec.Command("mtype", "-i", fatAt(img, b), "::/"+name)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtype %s: %v: %s", name, err, stderr.String())
	}
	return string(out)
}

// waitEcho waits until the console, from line from on, shows want (a
// multi-line regular expression) once routerd's log lines are taken out:
// the serial console carries both, and a log line can arrive in the middle
// of the echo of a typed line.
func waitEcho(t *testing.T, vm *VM, want string, from int, timeout time.Duration) {
	t.Helper()
	re := regexp.MustCompile("(?m)" + want)
	logged := regexp.MustCompile(`routerd: [^\n]*\n`)
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		lines := vm.Lines()
		var b strings.Builder
		for _, l := range lines[min(from, len(lines)):] {
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		if re.MatchString(logged.ReplaceAllString(b.String(), "")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the echo of %q on the console:\n%s", timeout, want, b.String())
		}
	}
}
