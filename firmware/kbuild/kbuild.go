// Package kbuild builds a board's kernel from Debian's kernel source with
// the board's configuration fragment (board.Board.KernelConfig), and lays
// the result out as Debian's kernel package is laid out: boot/vmlinuz-R,
// boot/config-R and lib/modules/R with depmod's files (modules.builtin
// among them), so the firmware build takes the Image and the modules from
// it as from the package.
//
// A build takes about three minutes on two cores and is cached under the
// cache directory by what it was made from: the source package, the
// fragment, the compiler and this package's recipe. Building runs make in
// a fresh copy of the source, never in a shared tree.
package kbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// recipe changes whenever the way a kernel is built here changes, so that
// cached builds of the old recipe are not taken.
const recipe = "2"

// Spec is one kernel to build.
type Spec struct {
	// Source is the directory of the extracted linux-source package,
	// which holds usr/src/linux-source-*.tar.xz.
	Source string
	// SourceID names the source exactly (package=version; the fetcher
	// has checked its hash), for the cache key.
	SourceID string
	// Config is the fragment set over allnoconfig.
	Config []byte
	// Release is the `uname -r` the build must make (the source's version
	// and the fragment's CONFIG_LOCALVERSION); a different one is an
	// error.
	Release string
	// Arch is the Debian and Go architecture of the kernel: "arm64".
	Arch string
	// CacheDir holds the builds, under kernel/.
	CacheDir string
	// Jobs is make's -j; 0 means one per CPU.
	Jobs int
	// Log, if not nil, gets one line per step.
	Log io.Writer
}

// Tools are the host programs a build runs.
var Tools = []sysdeps.Tool{sysdeps.Make, sysdeps.GCC, sysdeps.LibcDev, sysdeps.CrossGCCArm64,
	sysdeps.Bc, sysdeps.Flex, sysdeps.Bison, sysdeps.Xz, sysdeps.Depmod}

// Build returns the directory of the kernel described by s, building it
// first unless a build of the same source, fragment, compiler and recipe
// is in the cache. Builds that share a cache directory take turns (a lock
// file under kernel/), so a build may remove the work directories that
// killed builds left there.
func Build(s Spec) (string, error) {
	if s.Arch != "arm64" {
		return "", fmt.Errorf("kernel build: architecture %q: only arm64 is built", s.Arch)
	}
	if err := sysdeps.Require(Tools...); err != nil {
		return "", fmt.Errorf("kernel build: %w", err)
	}
	cross := crossPrefix(s.Arch)
	compiler, err := exec.Command(cross+"gcc", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("kernel build: %sgcc --version: %w", cross, err)
	}
	key := cacheKey(s, firstLine(compiler))
	base := filepath.Join(s.CacheDir, "kernel")
	dir := filepath.Join(base, s.Release+"-"+key)
	if _, err := os.Stat(filepath.Join(dir, "boot", "vmlinuz-"+s.Release)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	unlock, err := lock(filepath.Join(base, "build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another build may have finished it while this one waited.
	if _, err := os.Stat(filepath.Join(dir, "boot", "vmlinuz-"+s.Release)); err == nil {
		return dir, nil
	}
	// A build that was killed leaves its work directory (the unpacked
	// source, 1.5 GB); under the lock, none is in progress.
	stale, _ := filepath.Glob(filepath.Join(base, "build-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	work, err := os.MkdirTemp(base, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	start := time.Now()
	logf(s.Log, "building the kernel %s from %s (about 3 minutes on 2 cores, once: it is cached)", s.Release, s.SourceID)
	out := filepath.Join(work, "out")
	if err := build(s, cross, work, out); err != nil {
		return "", fmt.Errorf("kernel %s: %w", s.Release, err)
	}
	// What is left of an incomplete entry (no Image) goes first.
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(out, dir); err != nil {
		return "", err
	}
	logf(s.Log, "kernel %s built in %v: %s", s.Release, time.Since(start).Round(time.Second), dir)
	prune(base, s.Release, dir, s.Log)
	return dir, nil
}

// build unpacks the source under work, configures it, builds the Image and
// the modules and installs them into out.
func build(s Spec, cross, work, out string) error {
	tarballs, _ := filepath.Glob(filepath.Join(s.Source, "usr", "src", "linux-source-*.tar.xz"))
	if len(tarballs) != 1 {
		return fmt.Errorf("%s holds %d linux-source tarballs under usr/src, want one", s.SourceID, len(tarballs))
	}
	src := filepath.Join(work, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return err
	}
	st, err := os.Stat(tarballs[0])
	if err != nil {
		return err
	}
	// The tarball's time, as the package carries it, is the build's time:
	// the same source makes the same Image, whenever it is built.
	stamp := st.ModTime().UTC().Format("2006-01-02 15:04:05 UTC")
	logOut := filepath.Join(work, "build.log")
	run := func(step string, name string, args ...string) error {
		f, err := os.OpenFile(logOut, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd := exec.Command(name, args...)
		cmd.Dir = src
		cmd.Stdout, cmd.Stderr = f, f
		cmd.Env = buildEnv(s, cross, stamp)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %s %s: %w\n%s", step, name, strings.Join(args, " "), err, tail(logOut, 30))
		}
		return nil
	}
	logf(s.Log, "  unpacking %s", filepath.Base(tarballs[0]))
	if err := run("unpack", "tar", "-xJf", tarballs[0], "--strip-components=1"); err != nil {
		return err
	}
	fragment := filepath.Join(work, "fragment.config")
	if err := os.WriteFile(fragment, s.Config, 0o644); err != nil {
		return err
	}
	logf(s.Log, "  configuring: allnoconfig with the board's %d options", len(order(s.Config)))
	if err := run("configure", "make", "KCONFIG_ALLCONFIG="+fragment, "allnoconfig"); err != nil {
		return err
	}
	config, err := os.ReadFile(filepath.Join(src, ".config"))
	if err != nil {
		return err
	}
	unmet, err := Unmet(s.Config, config)
	if err != nil {
		return err
	}
	if len(unmet) > 0 {
		return fmt.Errorf("the configuration fragment asks for what Kconfig did not make (a dependency missing from the fragment?):\n  %s", strings.Join(unmet, "\n  "))
	}
	kr := exec.Command("make", "-s", "kernelrelease")
	kr.Dir, kr.Env = src, buildEnv(s, cross, stamp)
	rel, err := kr.Output()
	if err != nil {
		return fmt.Errorf("make kernelrelease: %w", err)
	}
	if got := strings.TrimSpace(string(rel)); got != s.Release {
		return fmt.Errorf("the source and fragment make release %q, the board says %q", got, s.Release)
	}
	jobs := s.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	logf(s.Log, "  compiling the Image and the modules (make -j%d)", jobs)
	if err := run("compile", "make", "-j"+strconv.Itoa(jobs), "Image", "modules"); err != nil {
		return err
	}
	if err := run("install modules", "make", "INSTALL_MOD_PATH="+out, "INSTALL_MOD_STRIP=1", "modules_install"); err != nil {
		return err
	}
	// modules_install links build (and source) back into the tree, which
	// is removed with the work directory.
	for _, l := range []string{"build", "source"} {
		os.Remove(filepath.Join(out, "lib", "modules", s.Release, l))
	}
	boot := filepath.Join(out, "boot")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(src, "arch", "arm64", "boot", "Image"), filepath.Join(boot, "vmlinuz-"+s.Release)); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(boot, "config-"+s.Release), config, 0o644)
}

// buildEnv is the environment of make: the architecture and compiler, and
// fixed build stamps (user, host, the time given) instead of the
// machine's, so that the same inputs make the same Image.
func buildEnv(s Spec, cross, stamp string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL":
			env = append(env, kv)
		}
	}
	return append(env,
		"ARCH="+s.Arch,
		"CROSS_COMPILE="+cross,
		"KBUILD_BUILD_USER=passgate",
		"KBUILD_BUILD_HOST=passgate",
		"KBUILD_BUILD_TIMESTAMP="+stamp,
	)
}

// crossPrefix is the compiler prefix for arch from this host.
func crossPrefix(arch string) string {
	if runtime.GOARCH == arch {
		return ""
	}
	return "aarch64-linux-gnu-"
}

func cacheKey(s Spec, compiler string) string {
	h := sha256.New()
	for _, part := range []string{recipe, s.SourceID, s.Arch, s.Release, compiler, string(s.Config)} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// prune removes other builds of the same release: a changed fragment or
// compiler leaves its old build behind otherwise.
func prune(base, release, keep string, log io.Writer) {
	old, _ := filepath.Glob(filepath.Join(base, release+"-*"))
	for _, d := range old {
		if d != keep {
			if err := os.RemoveAll(d); err != nil {
				logf(log, "kernel cache: %v", err)
			}
		}
	}
}

// lock takes an exclusive lock on path (made if missing) and returns what
// releases it; the kernel releases it too if the process dies.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return string(l)
}

// tail returns the last n lines of a log file, for an error.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New(src + " is empty")
	}
	return os.WriteFile(dst, b, 0o644)
}
