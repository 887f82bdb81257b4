package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/passgate/passgate/internal/kmod"
)

// loadModules loads the firmware's kernel modules (kmod.ListFile), each
// after its dependencies and the others in parallel, once, before the
// first worker starts: the worker needs the ports' drivers, the boot
// partition's block device and file system, and TUN for self0. Outside
// the firmware there is no list and nothing to do. A module that fails is
// logged; the worker then says what it lacks (a port that never appears,
// the factory configuration in RAM).
func loadModules(logf func(string, ...any)) {
	rel, err := kmod.Release()
	if err != nil {
		logf("kernel modules: %v", err)
		return
	}
	res, took, err := kmod.Boot("/", rel, kmod.LoadFile)
	if err != nil {
		logf("%v", err)
		return
	}
	if len(res) == 0 {
		return
	}
	var each []string // load times: where module loading spends the boot
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
			logf("kernel module %s: %v", kmod.Name(r.File), r.Err)
			continue
		}
		each = append(each, fmt.Sprintf("%s %v", kmod.Name(r.File), r.Took.Round(time.Millisecond)))
	}
	logf("%d kernel modules loaded in %v (%s)%s", len(res)-failed, took.Round(time.Millisecond), strings.Join(each, ", "), failedNote(failed))
}

// modulesFDEnv names the worker's descriptor that reaches end of file
// when the supervisor has loaded the kernel modules.
const modulesFDEnv = "ROUTERD_MODULES_FD"

// loadModulesBackground loads the modules (loadModules) while the first
// worker starts: the worker's exec and Go start-up overlap the loading,
// and it waits for the modules (waitForModules) before it needs them. It
// returns the read end of a pipe that reaches end of file when they are
// loaded, or nil if it loaded them before returning (no pipe).
func loadModulesBackground(logf func(string, ...any)) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		loadModules(logf)
		return nil
	}
	go func() {
		defer w.Close()
		loadModules(logf)
	}()
	return r // kept open: every worker gets it, later ones see EOF at once
}

// withModulesWait hands the worker the pipe of loadModulesBackground.
func withModulesWait(cmd *exec.Cmd, loaded *os.File) *exec.Cmd {
	if loaded != nil {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, loaded)
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", modulesFDEnv, 2+len(cmd.ExtraFiles)))
	}
	return cmd
}

// waitForModules returns in the worker when the supervisor has loaded the
// kernel modules (at once if it was not started with the pipe).
func waitForModules() {
	fd, err := strconv.Atoi(os.Getenv(modulesFDEnv))
	os.Unsetenv(modulesFDEnv)
	if err != nil || fd < 3 {
		return
	}
	f := os.NewFile(uintptr(fd), "kernel modules loaded")
	if f == nil {
		return
	}
	defer f.Close()
	io.Copy(io.Discard, f) // the supervisor writes nothing: this waits for EOF
}

func failedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d failed", n)
}
