package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestWorkerWaitsForModules(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := withModulesWait(exec.Command("/bin/true"), r)
	if len(cmd.ExtraFiles) != 1 || cmd.ExtraFiles[0] != r || !slices.Contains(cmd.Env, modulesFDEnv+"=3") {
		t.Fatalf("worker command: extra files %v, env %v; want the pipe as descriptor 3", cmd.ExtraFiles, cmd.Env)
	}
	// The worker side, on this process's descriptor of the pipe.
	t.Setenv(modulesFDEnv, fmt.Sprint(r.Fd()))
	const delay = 100 * time.Millisecond
	go func() {
		time.Sleep(delay)
		w.Close()
	}()
	start := time.Now()
	waitForModules()
	if d := time.Since(start); d < delay {
		t.Errorf("waitForModules returned after %v, before the supervisor closed the pipe (%v)", d, delay)
	}
	if v, ok := os.LookupEnv(modulesFDEnv); ok {
		t.Errorf("%s still set (%q): a later exec would wait on a stray descriptor", modulesFDEnv, v)
	}
	// Without the variable (a worker outside the firmware): no wait.
	start = time.Now()
	waitForModules()
	if d := time.Since(start); d > time.Second {
		t.Errorf("waitForModules without a pipe took %v", d)
	}
	if c := withModulesWait(exec.Command("/bin/true"), nil); len(c.ExtraFiles) != 0 {
		t.Errorf("no pipe: extra files %v", c.ExtraFiles)
	}
}
