package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as a worker: with TEST_WORKER_ARGS set it runs
// the real worker entry point with those flags.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("TEST_WORKER_ARGS"); ok {
		os.Args = append([]string{os.Args[0]}, strings.Fields(args)...)
		os.Exit(runWorker())
	}
	os.Exit(m.Run())
}

// The real worker announces itself with the line the boot tests wait for
// and, when it cannot run (here: no configuration file), says why, naming
// the file, and exits non-zero for the supervisor to restart it.
func TestRealWorkerAnnouncesAndExplainsAMissingConfiguration(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "passgate.conf")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TEST_WORKER_ARGS=--config "+missing+" --socket=")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if want := fmt.Sprintf("routerd: worker started (pid %d)", cmd.Process.Pid); !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("worker said %q, want %q", stdout.String(), want)
	}
	if err == nil {
		t.Fatal("worker without a configuration exited 0")
	}
	if !strings.Contains(stderr.String(), missing) {
		t.Errorf("error does not name the missing file:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
}
