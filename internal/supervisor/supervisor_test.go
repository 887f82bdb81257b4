package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a worker: TEST_WORKER_MODE selects what it does.
func TestMain(m *testing.M) {
	switch os.Getenv("TEST_WORKER_MODE") {
	case "":
		os.Exit(m.Run())
	case "crash":
		fmt.Fprintln(os.Stderr, "worker: crashing")
		os.Exit(3)
	case "killself":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	case "hup":
		// Exit 7 on SIGHUP, 9 on SIGTERM; announce readiness with a file.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
		os.WriteFile(os.Getenv("TEST_WORKER_READY"), nil, 0o644)
		if <-sigs == syscall.SIGHUP {
			os.Exit(7)
		}
		os.Exit(9)
	}
	os.Exit(100)
}

func testWorker(mode string, env ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), "TEST_WORKER_MODE="+mode), env...)
		return cmd
	}
}

// recorder collects log lines and fake sleeps, and stops the supervisor
// after a number of restarts.
type recorder struct {
	mu     sync.Mutex
	lines  []string
	sleeps []time.Duration
	stopAt int
	cancel context.CancelFunc
}

func (r *recorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sleeps = append(r.sleeps, d)
	if len(r.sleeps) >= r.stopAt {
		r.cancel()
	}
}

func runSupervisor(t *testing.T, s *Supervisor, restarts int) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := &recorder{stopAt: restarts, cancel: cancel}
	s.Logf, s.Sleep = r.logf, r.sleep
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	<-done
	if errorsIsDeadline(ctx) {
		t.Fatalf("supervisor did not reach %d restarts in time; log:\n%s", restarts, strings.Join(r.lines, "\n"))
	}
	return r
}

func errorsIsDeadline(ctx context.Context) bool { return ctx.Err() == context.DeadlineExceeded }

func TestCrashingWorkerIsRestartedWithBackoff(t *testing.T) {
	s := &Supervisor{
		NewWorker:  testWorker("crash"),
		MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 5 * time.Second,
	}
	r := runSupervisor(t, s, 9)
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(r.sleeps) != fmt.Sprint(want) {
		t.Errorf("backoff delays = %v, want %v", r.sleeps, want)
	}
	if len(r.lines) != 9 {
		t.Fatalf("want one log line per restart, got:\n%s", strings.Join(r.lines, "\n"))
	}
	for _, l := range r.lines {
		if !strings.Contains(l, "exited with status 3") || !strings.Contains(l, "restarting in") {
			t.Errorf("log line %q does not say why and when", l)
		}
	}
}

func TestBackoffResetsAfterStableRun(t *testing.T) {
	s := &Supervisor{
		NewWorker:   testWorker("crash"),
		MinBackoff:  100 * time.Millisecond,
		MaxBackoff:  time.Second,
		StableAfter: time.Nanosecond, // every run counts as stable
	}
	r := runSupervisor(t, s, 4)
	for _, d := range r.sleeps {
		if d != 100*time.Millisecond {
			t.Fatalf("delays %v: after a stable run the backoff must restart at the minimum", r.sleeps)
		}
	}
}

func TestOnExitCountsFailuresInARow(t *testing.T) {
	var got []int
	var reasons []string
	s := &Supervisor{NewWorker: testWorker("crash"), OnExit: func(n int, why string) { got, reasons = append(got, n), append(reasons, why) }}
	runSupervisor(t, s, 4)
	if fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("OnExit saw %v, want [1 2 3 4]", got)
	}
	for _, r := range reasons {
		if r != "exited with status 3" {
			t.Errorf("OnExit was told %q, want how the worker ended: exited with status 3", r)
		}
	}
	got = nil
	s = &Supervisor{NewWorker: testWorker("crash"), StableAfter: time.Nanosecond, OnExit: func(n int, _ string) { got = append(got, n) }}
	runSupervisor(t, s, 3)
	if fmt.Sprint(got) != "[1 1 1]" {
		t.Errorf("with stable runs OnExit saw %v, want [1 1 1]", got)
	}
}

func TestWorkerKilledBySignalIsReported(t *testing.T) {
	s := &Supervisor{NewWorker: testWorker("killself")}
	r := runSupervisor(t, s, 2)
	if !strings.Contains(r.lines[0], "killed by signal SIGKILL (9)") {
		t.Errorf("log %q does not name the signal", r.lines[0])
	}
}

func TestWorkerThatCannotStart(t *testing.T) {
	s := &Supervisor{NewWorker: func() *exec.Cmd { return exec.Command("/nonexistent/routerd") }}
	r := runSupervisor(t, s, 3)
	if !strings.Contains(r.lines[0], "cannot start worker") {
		t.Errorf("log %q", r.lines[0])
	}
}

func TestSignalsAreForwarded(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	sigs := make(chan os.Signal, 1)
	s := &Supervisor{NewWorker: testWorker("hup", "TEST_WORKER_READY="+ready), Signals: sigs}
	go func() {
		for i := 0; i < 1000; i++ {
			if _, err := os.Stat(ready); err == nil {
				sigs <- syscall.SIGHUP
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	r := runSupervisor(t, s, 1)
	joined := strings.Join(r.lines, "\n")
	if !strings.Contains(joined, "forwarding hangup") || !strings.Contains(joined, "exited with status 7") {
		t.Errorf("SIGHUP not forwarded to the worker; log:\n%s", joined)
	}
}

func TestExitReason(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "kill -SEGV $$")
	err := cmd.Run()
	if r := exitReason(cmd.ProcessState, err); !strings.Contains(r, "SIGSEGV") {
		t.Errorf("exitReason = %q", r)
	}
}
