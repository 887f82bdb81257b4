package qemu

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/image"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/updatefile"
)

// TestBootQEMUArm64Update updates a router the way its owner would, with
// the real boot loader: version 1.0 runs from slot a (qemu-arm64 through
// Debian's u-boot); a tampered update sent over SSH is refused and
// changes nothing; version 2.0 sent with `ssh admin@router 'system
// update' < file.pgu` is written to slot b; `reboot` starts it once, on
// trial; it is committed after being ready for "system update
// commit-after"; show system says so; the next boot starts 2.0 from slot
// b as the committed version, and the configuration is the one 1.0 ran.
// Then two versions that fail their trial, each followed by 2.0 saying
// why: one whose kernel does not run (the boot loader falls back), and a
// test build whose routerd worker ends at once (the supervisor, with the
// i6300esb watchdog armed, gives the trial up and restarts).
func TestBootQEMUArm64Update(t *testing.T) {
	needRoot(t)
	if err := sysdeps.Require(sysdeps.SSH, sysdeps.SSHKeygen); err != nil {
		t.Fatal(err)
	}
	b, _ := board.Get(board.Default)
	dir := t.TempDir()

	// The signing key, and the owner's SSH key.
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	sshKey := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", sshKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	sshPub, _ := os.ReadFile(sshKey + ".pub")

	build := func(ver string, tags ...string) *firmware.Result {
		t.Helper()
		fw, err := firmware.Build(firmware.Options{Board: b, OutDir: filepath.Join(dir, ver), Version: ver,
			UpdateKeys: updatefile.MarshalPublicKey(pub), RouterdTags: tags, Log: &logWriter{t}})
		if err != nil {
			t.Fatal(err)
		}
		return fw
	}
	v1, v2 := build("1.0"), build("2.0")
	conf := string(image.DefaultConfig(b)) + "set system hostname updated\nset system update commit-after 10s\n" +
		"set service ssh authorized-key owner \"" + strings.TrimSpace(string(sshPub)) + "\"\n"
	spec := image.Spec{Board: b, Kernel: v1.Kernel, Initramfs: v1.Initramfs, Config: []byte(conf)}
	img := filepath.Join(dir, "sd.img")
	if err := image.Build(spec, img, nil); err != nil {
		t.Fatal(err)
	}
	update := func(fw *firmware.Result, ver string) []byte {
		var buf bytes.Buffer
		var files []updatefile.Source
		for _, f := range fw.SlotFiles() {
			files = append(files, updatefile.SourceFile(f.Name, f.Src))
		}
		if _, err := updatefile.Write(&buf, key, b.Name, ver, time.Now(), files); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	good := update(v2, "2.0")
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0x40

	lanNS := netns(t, "lan")
	// ssh runs a command on the router as its owner. A router that has
	// just booted may miss the first ARP requests under TCG: connecting
	// is retried for 30 s.
	ssh := func(stdin []byte, command string) (string, error) {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lanNS, "ssh", "-i", sshKey, "-o", "StrictHostKeyChecking=no",
				"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
				"admin@192.168.1.1", command)
			if stdin != nil {
				cmd.Stdin = bytes.NewReader(stdin)
			}
			out, err := cmd.CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), "connect to host") || time.Now().After(deadline) {
				return string(out), err
			}
		}
	}
	powerOn := func() *VM {
		t.Helper()
		tap, err := OpenTapInNetns(lanNS, "lan0")
		if err != nil {
			t.Fatal(err)
		}
		vm := startVM(t, Config{Board: b, BIOS: v1.Loader, Disk: img, LAN: tap, WAN: true, MemoryMiB: 768})
		inNetns(t, lanNS, "ip", "addr", "replace", "192.168.1.10/24", "dev", "lan0")
		inNetns(t, lanNS, "ip", "link", "set", "lan0", "up")
		return vm
	}
	boot := func() *VM {
		t.Helper()
		vm := powerOn()
		waitFor(t, vm, `passgate ready: lan 192\.168\.1\.1/24`, 0, 3*time.Minute)
		return vm
	}
	// ended waits for QEMU to end (-no-reboot) after the router restarts
	// by itself.
	ended := func(vm *VM, within time.Duration) {
		t.Helper()
		done := make(chan struct{})
		go func() { vm.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(within):
			t.Fatalf("the router did not restart by itself within %v:\n%s", within, vm.Console())
		}
	}
	// reboot asks the router to restart; QEMU (-no-reboot) ends. The
	// SSH client would wait for its connection to time out: it is ended
	// once QEMU is.
	reboot := func(vm *VM) {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", lanNS, "ssh", "-i", sshKey, "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
			"admin@192.168.1.1", "reboot")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		ended(vm, 2*time.Minute)
	}

	vm := boot()
	waitFor(t, vm, `firmware: running version 1\.0 from slot a`, 0, 10*time.Second)

	out, err := ssh(tampered, "system update")
	if err == nil || !strings.Contains(out, "the update was not installed") || !strings.Contains(out, "damaged or tampered with") {
		t.Fatalf("a tampered update: %v\n%s", err, out)
	}
	if out, _ := ssh(nil, "show system"); !regexp.MustCompile(`b: empty`).MatchString(out) {
		t.Fatalf("slot b after a refused update:\n%s", out)
	}
	// Power cuts while the update is sent (before anything is written)
	// and while it is written into slot b: slot a boots, with its
	// configuration, and slot b is never started.
	for _, cut := range []string{"sending", "writing"} {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lanNS, "ssh", "-i", sshKey, "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "admin@192.168.1.1", "system update")
		cmd.Stdin = bytes.NewReader(good)
		// While sending: the first half of the file goes, the rest is held
		// back until the power is cut (a stalled or slow link), so the cut
		// always falls in the middle of the transfer.
		var held *io.PipeWriter
		if cut == "sending" {
			pr, pw := io.Pipe()
			cmd.Stdin, held = pr, pw
			go pw.Write(good[:len(good)/2])
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		from := len(vm.Lines())
		if cut == "sending" {
			time.Sleep(2 * time.Second)
			if _, _, err := vm.WaitFor(regexp.MustCompile(`writing it to slot`), from, 0); err == nil {
				t.Fatal("the update was written from half of its file")
			}
		} else {
			waitFor(t, vm, `firmware: update 2\.0 checked: writing it to slot b`, from, time.Minute)
		}
		vm.Kill()
		cancel()
		if held != nil {
			held.Close()
		}
		cmd.Wait()
		vm = boot()
		waitFor(t, vm, `Kernel command line: .*passgate\.slot=a passgate\.trial=0`, 0, time.Second)
		waitFor(t, vm, `firmware: running version 1\.0 from slot a$`, 0, 10*time.Second)
		out, _ := ssh(nil, "show system")
		want := "b: empty"
		if cut == "writing" {
			want = "b: an update was being written and did not finish (never booted)"
		}
		for _, w := range []string{"Hostname   updated", "a: version 1.0, running, committed", want} {
			if !strings.Contains(out, w) {
				t.Errorf("after a power cut while %s the update, show system lacks %q:\n%s", cut, w, out)
			}
		}
	}

	start := time.Now()
	out, err = ssh(good, "system update")
	if err != nil || !strings.Contains(out, "Version 2.0 is written to slot b") {
		t.Fatalf("system update: %v\n%s\nconsole:\n%s", err, out, vm.Console())
	}
	t.Logf("system update of %d MiB over SSH: %v", len(good)>>20, time.Since(start).Round(time.Second))
	if out, _ := ssh(nil, "show system"); !strings.Contains(out, "b: version 2.0, tried once at the next reboot") {
		t.Fatalf("show system before the reboot:\n%s", out)
	}
	reboot(vm)

	// The trial boot.
	vm = boot()
	waitFor(t, vm, `Kernel command line: .*passgate\.slot=b passgate\.trial=1`, 0, time.Second)
	waitFor(t, vm, `firmware: running version 2\.0 from slot b, on trial`, 0, 10*time.Second)
	waitFor(t, vm, `passgate: firmware 2\.0 committed`, 0, 60*time.Second)
	out, _ = ssh(nil, "show system")
	for _, want := range []string{"Version    2.0", "a: version 1.0", "b: version 2.0, running, committed", "Hostname   updated"} {
		if !strings.Contains(out, want) {
			t.Errorf("show system after the commit lacks %q:\n%s", want, out)
		}
	}
	reboot(vm)

	// Committed: slot b boots by default.
	vm = boot()
	waitFor(t, vm, `Kernel command line: .*passgate\.slot=b passgate\.trial=0`, 0, time.Second)
	waitFor(t, vm, `firmware: running version 2\.0 from slot b$`, 0, 10*time.Second)

	// A version that never becomes ready: its kernel does not run. The
	// boot loader takes the trial, falls back, and the router says why.
	junk := make([]byte, 1<<20)
	rand.Read(junk)
	junkPath := filepath.Join(dir, "junk-Image")
	os.WriteFile(junkPath, junk, 0o644)
	var broken bytes.Buffer
	if _, err := updatefile.Write(&broken, key, b.Name, "3.0", time.Now(), []updatefile.Source{
		updatefile.SourceFile(board.KernelFile, junkPath), updatefile.SourceFile(board.InitramfsFile, v2.Initramfs)}); err != nil {
		t.Fatal(err)
	}
	if out, err := ssh(broken.Bytes(), "system update"); err != nil || !strings.Contains(out, "Version 3.0 is written to slot a") {
		t.Fatalf("system update 3.0: %v\n%s", err, out)
	}
	reboot(vm)
	vm = boot()
	waitFor(t, vm, `passgate: slot a does not boot; trying the other`, 0, time.Second)
	waitFor(t, vm, `firmware: running version 2\.0 from slot b$`, 0, 10*time.Second)
	out, _ = ssh(nil, "show system")
	if !regexp.MustCompile(`last: version 3\.0 on slot a failed at [0-9-]+ [0-9:]+: it did\s+not start`).MatchString(out) ||
		!strings.Contains(out, "b: version 2.0, running, committed") {
		t.Errorf("show system after the failed trial:\n%s", out)
	}

	// A version whose router never starts: a test build whose routerd
	// worker ends at once, fetched by the router from a web server beyond
	// its WAN (the host, 10.0.2.2 through QEMU's user network). Its trial
	// boot arms the watchdog; the supervisor gives the trial up after
	// three workers, records why and restarts; 2.0 comes back and says so.
	v4 := build("4.0", "passgate_failworker")
	pgu := update(v4, "4.0")
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/passgate-qemu-arm64-4.0.pgu" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Now(), bytes.NewReader(pgu))
	}))
	defer web.Close()
	_, port, _ := net.SplitHostPort(web.Listener.Addr().String())
	waitFor(t, vm, `wan: dhcp: lease acquired: 10\.0\.2\.`, 0, time.Minute)
	if out, err := ssh(nil, "system update http://10.0.2.2:"+port+"/missing.pgu"); err == nil || !strings.Contains(strings.Join(strings.Fields(out), " "), `the server answered "404 Not Found"`) {
		t.Fatalf("system update from a URL that is not there: %v\n%s", err, out)
	}
	if out, err := ssh(nil, "system update http://10.0.2.2:"+port+"/passgate-qemu-arm64-4.0.pgu"); err != nil || !strings.Contains(out, "Version 4.0 is written to slot a") {
		t.Fatalf("system update 4.0 from a URL: %v\n%s", err, out)
	}
	reboot(vm)
	vm = powerOn()
	waitFor(t, vm, `Kernel command line: .*passgate\.slot=a passgate\.trial=1`, 0, 3*time.Minute)
	waitFor(t, vm, `firmware: trial boot of slot a: watchdog .+ armed \(1m0s\) until the version is committed`, 0, time.Minute)
	waitFor(t, vm, `giving up the trial: its routerd did not run: the worker ended 3 times in a row on the trial boot \(the last exited with status 1\)`, 0, time.Minute)
	ended(vm, time.Minute)
	vm = boot()
	waitFor(t, vm, `Kernel command line: .*passgate\.slot=b passgate\.trial=0`, 0, time.Second)
	waitFor(t, vm, `firmware: running version 2\.0 from slot b$`, 0, 10*time.Second)
	out, _ = ssh(nil, "show system")
	flat := strings.Join(strings.Fields(out), " ")
	if !regexp.MustCompile(`last: version 4\.0 on slot a failed at [0-9-]+ [0-9:]+: its routerd did not run: the worker ended 3 times in a row on the trial boot \(the last exited with status 1\); the router restarted and the boot loader went back to slot b`).MatchString(flat) ||
		!strings.Contains(flat, "b: version 2.0, running, committed") {
		t.Errorf("show system after the trial of a version whose router does not start:\n%s", out)
	}
}
