package firmware

import (
	"bytes"
	"compress/gzip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/cpio"
	"github.com/passgate/passgate/internal/kmod"
)

// These tests download the pinned Debian packages into the repository's
// .cache (once; later runs are offline) and run the real build.

// MaxInitramfs is the size budget of the compressed initramfs.
const MaxInitramfs = 8 << 20

func testLog(t *testing.T) *logWriter { return &logWriter{t} }

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Every board's kernel modules, device trees and boot firmware exist in the
// pinned packages.
func TestBoardsResolveAgainstPackages(t *testing.T) {
	for _, b := range board.All() {
		t.Run(b.Name, func(t *testing.T) {
			if err := Check(Options{Board: b, Log: testLog(t)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// initramfsEntries reads a built initramfs (gzip'd newc archives, file
// contents included) into its members by name; a later member of the same
// name wins, as when the kernel unpacks it.
func initramfsEntries(t *testing.T, path string) map[string]cpio.Entry {
	t.Helper()
	gz, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := cpio.Read(zr, true)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpio.Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	return byName
}

func TestBuildQEMUInitramfs(t *testing.T) {
	b, _ := board.Get("qemu-arm64")
	keys := []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA3Ql2y8lZ8kqGq1rRUpnAZrnPPpRr5HzB7wXx1m0mR+g=\n-----END PUBLIC KEY-----\n")
	res, err := Build(Options{Board: b, OutDir: t.TempDir(), Version: "9.8.7-test", UpdateKeys: keys, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initramfs: %d bytes compressed, %d bytes cpio", res.InitramfsSize, res.InitramfsCPIOSize)
	if res.InitramfsSize > MaxInitramfs {
		t.Errorf("initramfs is %d bytes compressed, over the %d budget", res.InitramfsSize, MaxInitramfs)
	}
	checkArm64Image(t, res.Kernel)
	byName := initramfsEntries(t, res.Initramfs)
	mustLink := func(name, target string) {
		t.Helper()
		e, ok := byName[name]
		if !ok || !e.IsSymlink() || e.Linkname != target {
			t.Errorf("%s: want symlink to %s, got %+v", name, target, e)
		}
	}
	// routerd is the kernel's first process; no u-root init in between.
	mustLink("init", "bin/routerd")
	if e := byName["dev/console"]; e.Mode != cpio.TypeChar|0o600 || e.RdevMajor != 5 || e.RdevMinor != 1 {
		t.Errorf("dev/console: want the console node (c 5 1), which the kernel opens for init, got %+v", e)
	}
	for _, d := range []string{"proc", "sys", "tmp", "run"} {
		if e := byName[d]; !e.IsDir() {
			t.Errorf("%s: want a mount point, got %+v", d, e)
		}
	}
	for name := range byName {
		if strings.HasPrefix(name, "bbin/") || name == "bin/uinit" {
			t.Errorf("initramfs has %s: u-root's init is only in debug-shell builds", name)
		}
	}
	if e := byName["bin/routerd"]; !e.IsRegular() || e.Mode&0o111 == 0 || e.Size == 0 {
		t.Errorf("bin/routerd: want an executable file, got %+v", e)
	}
	rel := "lib/modules/" + b.KernelRelease + "/"
	if _, ok := byName[rel+"modules.builtin"]; ok {
		t.Error("initramfs has modules.builtin, which u-root's loader reads again for every module")
	}
	if _, ok := byName[rel+"modules.dep"]; !ok {
		t.Errorf("initramfs lacks %smodules.dep", rel)
	}
	// qemu-arm64's own kernel has every driver it boots with built in:
	// nothing to load at boot (the list is there, empty).
	if e, ok := byName[kmod.ListFile]; !ok {
		t.Errorf("initramfs lacks %s", kmod.ListFile)
	} else if list, err := kmod.ReadList(bytes.NewReader(e.Data)); err != nil || len(list) != 0 {
		t.Errorf("%s lists %q (%v): qemu-arm64's kernel has its boot modules built in", kmod.ListFile, list, err)
	}
	// Flow offload's modules are in the image, loadable on demand, and not
	// loaded at boot.
	for _, f := range []string{"kernel/net/sched/sch_ingress.ko", "kernel/net/sched/cls_bpf.ko"} {
		if _, ok := byName[rel+f]; !ok {
			t.Errorf("initramfs lacks %s%s (board.OnDemandModules)", rel, f)
		}
	}
	if e, ok := byName[kmod.ListFile]; ok {
		list, err := kmod.ReadList(bytes.NewReader(e.Data))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if slices.Contains(board.OnDemandModules, m) {
				t.Errorf("%s lists %s, an on-demand module, for boot", kmod.ListFile, m)
			}
		}
	}
	for name := range byName {
		if strings.HasPrefix(name, "lib/modules-load.d/") {
			t.Errorf("initramfs has %s: u-root's init would load those modules one at a time before routerd starts", name)
		}
	}
	if e, ok := byName[BoardFile]; !ok || !e.IsRegular() || e.Size != int64(len(b.Name)+1) {
		t.Errorf("%s: want a file naming the board, got %+v", BoardFile, e)
	}
	if _, ok := byName["bin/pgdebug"]; ok {
		t.Error("initramfs has the debug agent without DebugAgent")
	}
	if e := byName[UpdateKeysFile]; !bytes.Equal(e.Data, keys) {
		t.Errorf("%s: %q, want the update keys", UpdateKeysFile, e.Data)
	}
	if !bytes.Contains(byName["bin/routerd"].Data, []byte("9.8.7-test")) || res.Version != "9.8.7-test" {
		t.Error("routerd does not carry the build's version (-X main.version)")
	}
	if n := len(res.SlotFiles()); n != 2 {
		t.Errorf("qemu-arm64's slot has %d files, want the kernel and the initramfs", n)
	}
	for _, sh := range []string{"bin/sh", "bin/defaultsh", "bbin/gosh"} {
		if _, ok := byName[sh]; ok {
			t.Errorf("initramfs has a shell (%s) without DebugShell", sh)
		}
	}
	// Only the board's modules and their dependencies.
	n := 0
	for name := range byName {
		if strings.HasSuffix(name, ".ko") {
			n++
		}
	}
	if n != len(res.Modules) || n > 40 {
		t.Errorf("initramfs has %d modules, build staged %d", n, len(res.Modules))
	}
}

// The debug-shell build: u-root's init is /init and starts its shell;
// routerd is there to start by hand.
func TestBuildDebugShellInitramfs(t *testing.T) {
	b, _ := board.Get("qemu-arm64")
	res, err := Build(Options{Board: b, OutDir: t.TempDir(), DebugShell: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	byName := initramfsEntries(t, res.Initramfs)
	if e := byName["init"]; !e.IsSymlink() || e.Linkname != "bbin/init" {
		t.Errorf("init: want u-root's init, got %+v", e)
	}
	if e := byName["bin/defaultsh"]; !e.IsSymlink() {
		t.Errorf("bin/defaultsh: want u-root's default shell, got %+v", e)
	}
	for _, f := range []string{"bin/routerd", "bbin/bb", "dev/console"} {
		if _, ok := byName[f]; !ok {
			t.Errorf("%s missing", f)
		}
	}
	if _, ok := byName["bin/uinit"]; ok {
		t.Error("bin/uinit present: u-root's init would start it instead of the shell")
	}
}

// The debug agent build: the same image with the agent as /init, which
// execs routerd, and the virtio console driver.
func TestBuildDebugAgentInitramfs(t *testing.T) {
	b, _ := board.Get("qemu-arm64")
	res, err := Build(Options{Board: b, OutDir: t.TempDir(), DebugAgent: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	byName := initramfsEntries(t, res.Initramfs)
	if e := byName["init"]; !e.IsSymlink() || e.Linkname != "bin/pgdebug" {
		t.Errorf("init: want a link to the agent, got %+v", e)
	}
	for _, f := range []string{"bin/pgdebug", "bin/routerd"} {
		if e := byName[f]; !e.IsRegular() || e.Size == 0 {
			t.Errorf("%s missing: %+v", f, e)
		}
	}
	// The agent's console driver reaches the guest: built into the
	// kernel, or staged and listed for loading.
	o := Options{Board: b}
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	kroot, err := kernelRoot(&o)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := kmod.Load(kroot, b.KernelRelease)
	if err != nil {
		t.Fatal(err)
	}
	files, builtin, err := tab.Closure([]string{"virtio_console"})
	if err != nil {
		t.Fatal(err)
	}
	if len(builtin) == 0 {
		list, err := kmod.ReadList(bytes.NewReader(byName[kmod.ListFile].Data))
		if err != nil || !slices.Contains(list, "virtio_console") {
			t.Errorf("virtio_console is a module (%v) but not in %s: %q", files, kmod.ListFile, list)
		}
		for _, f := range files {
			if e := byName["lib/modules/"+b.KernelRelease+"/"+f]; !e.IsRegular() {
				t.Errorf("virtio_console's module %s is not in the initramfs", f)
			}
		}
	}
}

// A board that boots Debian's kernel gets its modules staged from the
// package: each with its dependencies, modules.dep, and the boot list
// without the on-demand ones.
func TestStageModulesFromDebiansKernel(t *testing.T) {
	b, _ := board.Get("rpi4")
	o := Options{Board: b, Log: testLog(t)}
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	kroot, err := kernelRoot(&o)
	if err != nil {
		t.Fatal(err)
	}
	stage := t.TempDir()
	files, err := stageModules(kroot, b.KernelRelease, stage, b.Modules, board.OnDemandModules)
	if err != nil {
		t.Fatal(err)
	}
	dir := kmod.Dir(stage, b.KernelRelease)
	for _, f := range []string{"modules.dep", "kernel/drivers/net/ethernet/broadcom/genet/genet.ko",
		"kernel/fs/fat/vfat.ko", "kernel/fs/fat/fat.ko", "kernel/drivers/net/tun.ko",
		"kernel/net/sched/sch_ingress.ko", "kernel/net/sched/cls_bpf.ko"} {
		if _, err := os.Stat(dir + "/" + f); err != nil {
			t.Errorf("stage lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(dir + "/modules.builtin"); err == nil {
		t.Error("stage has modules.builtin, which u-root's loader reads again for every module")
	}
	data, err := os.ReadFile(stage + "/" + kmod.ListFile)
	if err != nil {
		t.Fatal(err)
	}
	list, err := kmod.ReadList(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"genet", "vfat", "tun"} {
		if !slices.Contains(list, m) {
			t.Errorf("%s lacks %s: %q", kmod.ListFile, m, list)
		}
	}
	for _, m := range board.OnDemandModules {
		if slices.Contains(list, m) {
			t.Errorf("%s lists %s, an on-demand module, for boot", kmod.ListFile, m)
		}
	}
	if len(files) < len(list) {
		t.Errorf("%d module files staged for %d listed modules", len(files), len(list))
	}
}

// checkArm64Image fails unless path is an arm64 kernel Image: the
// header's magic "ARM\x64" at offset 56 (the kernel's
// Documentation/arm64/booting.rst), as u-boot's booti checks.
func checkArm64Image(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1<<20 || string(b[56:60]) != "ARM\x64" {
		t.Errorf("%s (%d bytes) is not an arm64 kernel Image", path, len(b))
	}
}
