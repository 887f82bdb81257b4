package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware"
	"github.com/passgate/passgate/firmware/sysdeps"
	"github.com/passgate/passgate/image"
)

func TestArgsQEMUArm64(t *testing.T) {
	b, _ := board.Get("qemu-arm64")
	tap, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	c := Config{Board: b, Kernel: "K", Initramfs: "I", Disk: "sd.img", DiskSnapshot: true, LAN: tap, WAN: true}
	args, files, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg", "-M virt", "-cpu cortex-a53", "-smp 2", "-m 512",
		"-kernel K", "-initrd I", "-append console=ttyAMA0 ",
		"-netdev tap,id=lan,fd=3", "virtio-net-pci,netdev=lan,mac=" + LANMAC + ",addr=0x2",
		"-netdev user,id=wan", "virtio-net-pci,netdev=wan,mac=" + WANMAC + ",addr=0x3",
		"file=sd.img,format=raw,if=none,id=sd,snapshot=on", "-no-reboot", "-serial stdio",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("args lack %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "netdev=lan") > strings.Index(s, "netdev=wan") {
		t.Error("the LAN NIC must come first (eth0)")
	}
	if len(files) != 1 || files[0] != tap {
		t.Errorf("ExtraFiles = %v, want the tap as fd 3", files)
	}
	// PCI slots must agree with the board's port definitions.
	if b.LAN.Device != "0000:00:02.0" || b.WAN.Device != "0000:00:03.0" {
		t.Errorf("board ports %s/%s do not match QEMU slots 2/3", b.LAN.Device, b.WAN.Device)
	}
	c.Interactive = true
	args, _, _ = c.Args()
	if s := strings.Join(args, " "); !strings.Contains(s, "-nographic") || strings.Contains(s, "-no-reboot") {
		t.Errorf("interactive args: %s", s)
	}
	pi, _ := board.Get("rpi4")
	if _, _, err := (&Config{Board: pi}).Args(); err == nil {
		t.Error("rpi4 has no QEMU machine; Args must refuse it")
	}
}

// TestBootQEMUArm64 builds the qemu-arm64 firmware and SD image, boots them
// under TCG with the LAN on a tap in a fresh network namespace and the WAN
// on QEMU's user network, and waits for routerd's worker to announce
// itself on the serial console.
func TestBootQEMUArm64(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the boot test needs root (network namespace and tap device for the VM's LAN); run `make test` as root")
	}
	if err := sysdeps.Ensure(&logWriter{t}, sysdeps.QEMU, sysdeps.IP); err != nil {
		t.Fatalf("the boot test needs QEMU: %v", err)
	}
	b, _ := board.Get("qemu-arm64")
	out := t.TempDir()
	fw, err := firmware.Build(firmware.Options{Board: b, OutDir: out, Log: &logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	spec := image.Spec{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs}
	img := filepath.Join(out, "sd.img")
	if err := image.Build(spec, img, &logWriter{t}); err != nil {
		t.Fatal(err)
	}

	ns := fmt.Sprintf("passgate-t%d", os.Getpid())
	if err := EnsureNetns(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeleteNetns(ns) })
	tap, err := OpenTapInNetns(ns, "lan0")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "lan0").CombinedOutput(); err != nil {
		t.Fatalf("tap lan0 not in namespace %s: %v\n%s", ns, err, out)
	}

	vm, err := Start(Config{Board: b, Kernel: fw.Kernel, Initramfs: fw.Initramfs,
		Disk: img, DiskSnapshot: true, LAN: tap, WAN: true})
	tap.Close() // QEMU holds its own copy
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console())
		}
	}()

	initLine, i, err := vm.WaitFor(regexp.MustCompile(`Run /init as init process`), 0, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	worker, _, err := vm.WaitFor(regexp.MustCompile(`routerd: worker started \(pid \d+\)`), i, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU start -> kernel runs /init: %v", initLine.At.Sub(vm.Started).Round(10*time.Millisecond))
	t.Logf("QEMU start -> %q: %v", worker.Text, worker.At.Sub(vm.Started).Round(10*time.Millisecond))
	t.Logf("kernel runs /init -> routerd worker: %v", worker.At.Sub(initLine.At).Round(10*time.Millisecond))
	t.Logf("initramfs %.2f MiB compressed", float64(fw.InitramfsSize)/(1<<20))
	if c := vm.Console(); strings.Contains(c, "can't install") || strings.Contains(c, "failed to load module") {
		t.Errorf("u-root init could not load a kernel module:\n%s", c)
	}
}

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
