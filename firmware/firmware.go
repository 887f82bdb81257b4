// Package firmware builds what a board boots: the kernel Image, the
// initramfs, and the boot files (device trees, GPU firmware, u-boot).
//
// The initramfs is a gzip stream of newc archives, which the kernel
// unpacks in order. routerd is /init, the kernel's first process: it
// mounts what it needs itself (internal/pid1). The archive holds:
//
//   - the layout routerd starts on: /dev with the console node the kernel
//     opens for init's output, and the mount points;
//   - routerd at /bin/routerd with /init pointing at it (routerd is built
//     by `go build` in this module, so the router's code is compiled
//     exactly as in tests, not rewritten into a busybox), the board's
//     modules under /lib/modules/RELEASE with their list in
//     /etc/passgate-modules, which routerd's supervisor loads in parallel
//     (dependencies through modules.dep, which we generate with depmod;
//     internal/kmod), and /etc/passgate-board naming the board, from
//     which routerd finds its boot partition.
//
// A debug-shell build (Options.DebugShell) puts u-root's part first
// instead of the layout: u-root's init as /init with its gosh shell and a
// few core commands, made by u-root's mkuimage (pinned v0.2.0, built for
// the host once, run with GOARCH=arm64) and cached, since it changes only
// with the u-root pin and the Go toolchain; routerd is then started by
// hand. Production images had u-root's init as PID 1 with routerd as its
// uinit until init's own start-up was measured at about half a second of
// a TCG boot, for mounts routerd can make in milliseconds.
//
// mkuimage and u-root come from the separate module in firmware/tools (its
// go.mod pins both), so u-root's many dependencies stay out of the router's
// go.mod; mkuimage resolves u-root's init there, from the Go module cache.
package firmware

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/firmware/deb"
	"github.com/passgate/passgate/internal/cpio"
	"github.com/passgate/passgate/internal/kmod"
	"github.com/passgate/passgate/pkg/updatefile"
)

// ModulePath is the router's Go module path, used to find the repository.
const ModulePath = "github.com/passgate/passgate"

// MkuimageVersion is the mkuimage release the build uses; firmware/tools
// must require the same version.
const MkuimageVersion = "v0.2.0"

// Options control a firmware build.
type Options struct {
	Board *board.Board
	// Root is the repository root (FindRoot finds it).
	Root string
	// CacheDir defaults to Root/.cache.
	CacheDir string
	// OutDir receives the outputs; default Root/out/BOARD.
	OutDir string
	// DebugShell makes u-root's init /init, with its gosh shell and a few
	// core commands, so init starts a shell on the console; routerd is
	// then started by hand (/bin/routerd).
	DebugShell bool
	// DebugAgent makes /bin/pgdebug (firmware/debugagent) /init: it
	// starts a command server on the virtio console hvc0 and then
	// becomes routerd (exec, same PID), so routerd is still the kernel's
	// first process. Boot tests use it to act inside the VM, e.g. to kill
	// routerd's worker. QEMU only (-device virtconsole; see qemu.Config).
	DebugAgent bool
	// Version is the firmware's version, shown by routerd's show system
	// and named in update files; default "dev".
	Version string
	// UpdateKeys are the PEM public keys whose signed update files the
	// router accepts (pkg/updatefile), put in the initramfs at
	// UpdateKeysFile; none: the image accepts no update.
	UpdateKeys []byte
	// RouterdTags are Go build tags for routerd: test builds only
	// ("passgate_failworker": a version whose worker ends at once).
	RouterdTags []string
	// Log receives progress lines; nil discards.
	Log io.Writer
}

// BootFile is a file for the boot partition.
type BootFile struct {
	Src string // absolute path on the host
	Dst string // path on the boot partition
}

// RawBlob is written to the disk outside the partitions.
type RawBlob struct {
	Src     string
	Sector  int64
	MaxSize int64
}

// Result describes a finished build.
type Result struct {
	Board     *board.Board
	Dir       string
	Kernel    string // OutDir/Image
	Initramfs string // OutDir/initramfs.cpio.gz
	Cmdline   string
	BootFiles []BootFile // DTBs and firmware (not kernel/initramfs)
	// Loader is the host path of the board's boot loader for QEMU
	// (board.Board.Loader), "" for none.
	Loader  string
	Raw     []RawBlob
	Version string
	Modules []string // module files in the initramfs

	InitramfsSize     int64 // compressed
	InitramfsCPIOSize int64 // uncompressed
}

// FindRoot returns the repository root: the nearest directory at or above
// the working directory whose go.mod declares ModulePath.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+ModulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the passgate repository (no go.mod declaring %s above the working directory)", ModulePath)
		}
		dir = parent
	}
}

func (o *Options) fill() error {
	if o.Board == nil {
		return errors.New("firmware: no board")
	}
	if o.Root == "" {
		r, err := FindRoot()
		if err != nil {
			return err
		}
		o.Root = r
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(o.Root, ".cache")
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Root, "out", o.Board.Name)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if !versionWord.MatchString(o.Version) {
		return fmt.Errorf("firmware: version %q: letters, digits and . _ + ~ - allowed, up to 64", o.Version)
	}
	return nil
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Fetcher returns the package fetcher the build uses.
func (o *Options) Fetcher() *deb.Fetcher {
	return &deb.Fetcher{CacheDir: o.CacheDir, Log: o.Log, Arch: o.Board.Arch}
}

// Build builds kernel, initramfs and boot files for the board.
func Build(o Options) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	b := o.Board
	start := time.Now()
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockCache(o.CacheDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res, kroot, err := collect(&o)
	if err != nil {
		return nil, err
	}

	if err := copyFile(filepath.Join(kroot, b.KernelImage), res.Kernel); err != nil {
		return nil, fmt.Errorf("kernel image: %w", err)
	}

	// 3. Initramfs: newc archives in one gzip stream, which the kernel
	// unpacks in order. A debug-shell build starts with u-root's part
	// (init and the shell), made by mkuimage and cached, as it changes
	// only with the pinned u-root and the Go toolchain; the rest is
	// written here: the layout (unless u-root's part has one), routerd,
	// the kernel modules, the board's name.
	work, err := os.MkdirTemp(o.CacheDir, "build-"+b.Name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var base string
	if o.DebugShell {
		if base, err = urootBase(&o); err != nil {
			return nil, err
		}
	}
	modules := b.Modules
	if o.DebugAgent {
		modules = append(append([]string(nil), modules...), "virtio_console")
	}
	stage := filepath.Join(work, "stage")
	o.logf("staging %d kernel modules (+ dependencies)", len(modules))
	res.Modules, err = stageModules(kroot, b.KernelRelease, stage, modules, board.OnDemandModules)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", b.Name, err)
	}
	routerd := filepath.Join(work, "routerd")
	o.logf("building routerd for linux/%s", b.Arch)
	if err := goBuild(o.Root, b.Arch, routerd, "./cmd/routerd", "-X main.version="+o.Version, o.RouterdTags...); err != nil {
		return nil, err
	}
	var agent string
	if o.DebugAgent {
		agent = filepath.Join(work, "pgdebug")
		if err := goBuild(o.Root, b.Arch, agent, "./firmware/debugagent", ""); err != nil {
			return nil, err
		}
	}
	archive := filepath.Join(work, "initramfs.cpio")
	var f *os.File
	if base != "" {
		if err := copyFile(base, archive); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(archive, os.O_WRONLY|os.O_APPEND, 0)
	} else {
		f, err = os.Create(archive)
	}
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := cpio.NewWriter(bw)
	if base == "" {
		writeLayout(w)
	}
	w.AddFile("bin/routerd", routerd, 0o755)
	switch {
	case agent != "":
		w.AddFile("bin/pgdebug", agent, 0o755)
		w.Symlink("init", "bin/pgdebug")
	case !o.DebugShell:
		w.Symlink("init", "bin/routerd")
	}
	w.File(BoardFile, 0o644, []byte(b.Name+"\n"))
	if len(o.UpdateKeys) > 0 {
		w.File(UpdateKeysFile, 0o644, o.UpdateKeys)
	}
	w.AddFile(kmod.ListFile, filepath.Join(stage, filepath.FromSlash(kmod.ListFile)), 0o644)
	w.Tree(filepath.Join(stage, "lib"), "lib")
	err = w.Close()
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing the initramfs: %w", err)
	}
	st, err := os.Stat(archive)
	if err != nil {
		return nil, err
	}
	res.InitramfsCPIOSize = st.Size()
	res.Initramfs = filepath.Join(o.OutDir, board.InitramfsFile)
	if res.InitramfsSize, err = gzipFile(archive, res.Initramfs); err != nil {
		return nil, err
	}
	o.logf("initramfs %s: %.1f MiB compressed (%.1f MiB cpio), built in %v",
		res.Initramfs, mib(res.InitramfsSize), mib(res.InitramfsCPIOSize), time.Since(start).Round(100*time.Millisecond))
	return res, nil
}

// writeLayout adds what routerd needs before it mounts anything: /dev
// with the console node (5, 1), which the kernel opens as init's standard
// input, output and error before init runs (without it, nothing routerd
// prints reaches the console), and the mount points of internal/pid1.
func writeLayout(w *cpio.Writer) {
	w.CharDev("dev/console", 0o600, 5, 1)
	for _, d := range []string{"proc", "sys", "tmp", "run", "etc", "bin", "lib"} {
		w.Dir(d)
	}
}

// UpdateKeysFile is where the initramfs holds the public keys of the
// update files the router accepts (updatefile.KeysFile, without its /).
var UpdateKeysFile = strings.TrimPrefix(updatefile.KeysFile, "/")

// versionWord is what a version may be (as in an update's manifest).
var versionWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)

// SlotFile is one file of a boot slot: what an update replaces.
type SlotFile struct {
	Name string // on the boot partition, in the slot
	Src  string // on the host
}

// SlotFiles are the files of the build an update carries: the kernel,
// the initramfs and the device trees. The boot loaders' own files (the
// Raspberry Pi's GPU firmware, u-boot) are not in a slot.
func (r *Result) SlotFiles() []SlotFile {
	fs := []SlotFile{{board.KernelFile, r.Kernel}, {board.InitramfsFile, r.Initramfs}}
	for _, bf := range r.BootFiles {
		if strings.HasSuffix(bf.Dst, ".dtb") {
			fs = append(fs, SlotFile{bf.Dst, bf.Src})
		}
	}
	return fs
}

// BoardFile is where the initramfs names the board it was built for;
// routerd reads it to find the board's boot partition.
const BoardFile = "etc/passgate-board"

// urootBase returns u-root's part of a debug-shell build's initramfs, an
// uncompressed newc archive: init as /init, no uinit, the gosh shell as
// the default shell plus a few core commands. It is built with mkuimage once per u-root pin, Go toolchain,
// architecture and command set, and cached under CacheDir/uroot.
func urootBase(o *Options) (string, error) {
	args := []string{"-initcmd=init", "-uinitcmd=", "-skip-ldd", "-defaultsh=gosh"}
	cmds := []string{"github.com/u-root/u-root/cmds/core/init"}
	for _, c := range []string{"gosh", "ls", "cat", "ps", "kill", "dmesg", "ip", "mount"} {
		cmds = append(cmds, "github.com/u-root/u-root/cmds/core/"+c)
	}
	tools := filepath.Join(o.Root, "firmware", "tools")
	mod, err := os.ReadFile(filepath.Join(tools, "go.mod"))
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(tools, "go.sum"))
	if err != nil {
		return "", err
	}
	goversion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %v", err)
	}
	h := sha256.New()
	for _, part := range [][]byte{mod, sum, goversion, []byte(o.Board.Arch), []byte(strings.Join(args, "\x00")), []byte(strings.Join(cmds, "\x00"))} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	out := filepath.Join(o.CacheDir, "uroot", fmt.Sprintf("base-%s-%s.cpio", o.Board.Arch, hex.EncodeToString(h.Sum(nil)[:8])))
	if _, err := os.Stat(out); err == nil {
		o.logf("u-root init from the cache (%s)", filepath.Base(out))
		return out, nil
	}
	mk, err := Mkuimage(o.Root, o.CacheDir, o.Log)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(o.CacheDir, "uroot-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	tmp := filepath.Join(work, "base.cpio")
	o.logf("building u-root's init with mkuimage %s (once; cached)", MkuimageVersion)
	cmd := exec.Command(mk, append(append([]string{"-o", tmp, "-tmp-dir", work}, args...), cmds...)...)
	cmd.Dir = tools
	cmd.Env = goEnv("linux", o.Board.Arch)
	// mkuimage runs $GOROOT/bin/go; say where it is (a -trimpath build of
	// mkuimage does not know its GOROOT).
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	cmd.Env = append(cmd.Env, "GOROOT="+strings.TrimSpace(string(goroot)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkuimage: %v\n%s", err, b)
	}
	return out, os.Rename(tmp, out)
}

// collect fetches the board's packages and finds every file the build
// needs in them, without writing outputs. It returns the extracted kernel
// package's directory.
func collect(o *Options) (*Result, string, error) {
	f := o.Fetcher()
	b := o.Board

	// 1. Kernel package (or passgate's own build): Image and modules.
	kroot, err := kernelRoot(o)
	if err != nil {
		return nil, "", err
	}
	res := &Result{Board: b, Dir: o.OutDir, Cmdline: b.KernelCmdline(), Version: o.Version}
	res.Kernel = filepath.Join(o.OutDir, board.KernelFile)
	if _, err := os.Stat(filepath.Join(kroot, b.KernelImage)); err != nil {
		return nil, "", fmt.Errorf("board %s: %s has no kernel image %s", b.Name, b.Kernel, b.KernelImage)
	}

	// 2. Boot files from the packages.
	for _, bf := range append(append([]board.File(nil), b.DTBs...), b.Firmware...) {
		dir, err := f.Extract(bf.Package)
		if err != nil {
			return nil, "", err
		}
		src := filepath.Join(dir, bf.Src)
		if _, err := os.Stat(src); err != nil {
			return nil, "", fmt.Errorf("board %s: %s has no %s", b.Name, bf.Package, bf.Src)
		}
		res.BootFiles = append(res.BootFiles, BootFile{Src: src, Dst: bf.Dst})
	}
	if l := b.Loader; l != nil {
		dir, err := f.Extract(l.Package)
		if err != nil {
			return nil, "", err
		}
		res.Loader = filepath.Join(dir, l.Src)
		if _, err := os.Stat(res.Loader); err != nil {
			return nil, "", fmt.Errorf("board %s: %s has no %s", b.Name, l.Package, l.Src)
		}
	}
	for _, r := range b.Raw {
		dir, err := f.Extract(r.Package)
		if err != nil {
			return nil, "", err
		}
		src := filepath.Join(dir, r.Src)
		st, err := os.Stat(src)
		if err != nil {
			return nil, "", fmt.Errorf("board %s: %s has no %s", b.Name, r.Package, r.Src)
		}
		if st.Size() > r.MaxSize {
			return nil, "", fmt.Errorf("board %s: %s is %d bytes, more than the %d reserved at sector %d", b.Name, r.Src, st.Size(), r.MaxSize, r.Sector)
		}
		res.Raw = append(res.Raw, RawBlob{Src: src, Sector: r.Sector, MaxSize: r.MaxSize})
	}

	t, err := kmod.Load(kroot, b.KernelRelease)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := t.Closure(b.Modules); err != nil {
		return nil, "", fmt.Errorf("board %s: %w", b.Name, err)
	}
	return res, kroot, nil
}

// Check fetches a board's packages and checks that every file and kernel
// module the board names exists in them, without building the firmware. A
// board whose kernel passgate builds (board.Board.KernelConfig) has it
// built, once (it is cached): its modules are known only then.
func Check(o Options) error {
	if err := o.fill(); err != nil {
		return err
	}
	unlock, err := lockCache(o.CacheDir)
	if err != nil {
		return err
	}
	defer unlock()
	_, _, err = collect(&o)
	return err
}

// lockCache serialises builds that share a cache directory (parallel test
// packages, a build while tests run).
func lockCache(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// goEnv is the environment for building Go code for goos/goarch without
// cgo, outside any go.work.
func goEnv(goos, goarch string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOWORK":
			continue
		}
		env = append(env, e)
	}
	return append(env, "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOWORK=off")
}

func goBuild(dir, goarch, out, pkg, ldflags string, tags ...string) error {
	args := []string{"build", "-trimpath", "-ldflags=-s -w " + ldflags}
	if len(tags) > 0 {
		args = append(args, "-tags="+strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Dir = dir
	cmd.Env = goEnv("linux", goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for linux/%s: %v\n%s", pkg, goarch, err, b)
	}
	return nil
}

// Mkuimage returns the path of the host mkuimage binary, building it from
// firmware/tools (cached under CacheDir/bin, keyed by that module's go.sum)
// if needed.
func Mkuimage(root, cacheDir string, log io.Writer) (string, error) {
	tools := filepath.Join(root, "firmware", "tools")
	sum, err := os.ReadFile(filepath.Join(tools, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("firmware/tools/go.sum: %w", err)
	}
	mod, err := os.ReadFile(filepath.Join(tools, "go.mod"))
	if err != nil {
		return "", err
	}
	if !bytes.Contains(mod, []byte("github.com/u-root/mkuimage "+MkuimageVersion)) {
		return "", fmt.Errorf("firmware/tools/go.mod must require github.com/u-root/mkuimage %s", MkuimageVersion)
	}
	h := sha256.Sum256(append(mod, sum...))
	bin := filepath.Join(cacheDir, "bin", "mkuimage-"+MkuimageVersion+"-"+hex.EncodeToString(h[:6]))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if log != nil {
		fmt.Fprintf(log, "building mkuimage %s for the host\n", MkuimageVersion)
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, "github.com/u-root/mkuimage/cmd/mkuimage")
	cmd.Dir = tools
	cmd.Env = hostEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building mkuimage: %v\n%s", err, out)
	}
	return bin, os.Rename(tmp, bin)
}

// hostEnv is the environment for building host tools.
func hostEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "GOOS", "GOARCH", "GOWORK":
			continue
		}
		env = append(env, e)
	}
	return append(env, "GOWORK=off")
}

// gzipFile compresses src into dst (best compression, no name or time in
// the header so the output is reproducible) and returns dst's size.
func gzipFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
	if err != nil {
		out.Close()
		return 0, err
	}
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return 0, err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return 0, err
	}
	return st.Size(), os.Rename(tmp, dst)
}
