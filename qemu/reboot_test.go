package qemu

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
)

// TestBootQEMUArm64PowerCutAfterFirstBoot: the qemu-arm64 image's first
// boot makes the router's identity (SSH host key, the web page's
// certificate, the LAN's ULA prefix) and stores it on the card; the power
// goes as soon as the router says it is ready. The next boot — the one a
// household's router makes after every power cut or update — must come up
// with the same identity, not a new one, and is timed as the first
// boot is (TestBootQEMUArm64Router): both figures go in the log, since the
// first boot also pays for making the identity.
func TestBootQEMUArm64PowerCutAfterFirstBoot(t *testing.T) {
	needRoot(t)
	b, _ := board.Get("qemu-arm64")
	fw, img := buildBoard(t, b.Name, false, "")
	// Written through: the second boot reads what the first one wrote.
	c := Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs, Disk: img, WAN: true}

	type identity struct{ hostKey, cert, ula string }
	hostKeyRE := regexp.MustCompile(`routerd: ssh: listening on \S+, host key (SHA256:\S+)`)
	certRE := regexp.MustCompile(`passgate web page: https://192\.168\.1\.1/ certificate SHA256 ([0-9A-F:]+)`)
	ulaRE := regexp.MustCompile(`routerd: ipv6: lan prefixes \[(fd[0-9a-f:]+)/64`)
	boot := func(n int) (identity, *VM) {
		vm := startVM(t, c)
		initLine, i := waitFor(t, vm, `Run /init as init process`, 0, 120*time.Second)
		ready, _ := waitFor(t, vm, readyRE, i, 60*time.Second)
		took, _ := waitFor(t, vm, `routerd: start-up took`, i, 10*time.Second)
		t.Logf("boot %d: kernel runs /init -> routerd ready: %v; %s", n, ready.At.Sub(initLine.At).Round(10*time.Millisecond), took.Text)
		// Each line is waited for, not looked for once: the SSH server
		// logs its host key when it starts serving, which may be after
		// the ready line (its listeners are open before ready).
		var id identity
		for _, f := range []struct {
			re  *regexp.Regexp
			dst *string
		}{{hostKeyRE, &id.hostKey}, {certRE, &id.cert}, {ulaRE, &id.ula}} {
			l, _, err := vm.WaitFor(f.re, i, 10*time.Second)
			if err != nil {
				t.Fatalf("boot %d: the console does not say the SSH host key, the web certificate and the ULA prefix: %v", n, err)
			}
			*f.dst = f.re.FindStringSubmatch(l.Text)[1]
		}
		return id, vm
	}

	first, vm := boot(1)
	if !strings.Contains(vm.Console(), "generated ULA prefix") {
		t.Error("the first boot did not say it generated the ULA prefix")
	}
	vm.Kill() // the power cut, right after ready
	vm.Wait()

	second, vm2 := boot(2)
	if second != first {
		t.Errorf("the router's identity changed across a power cut after its first boot:\n before %+v\n after  %+v", first, second)
	}
	if strings.Contains(vm2.Console(), "generated ULA prefix") {
		t.Error("the second boot generated a ULA prefix again")
	}
}
