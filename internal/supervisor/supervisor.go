// Package supervisor keeps one worker process running: it restarts the
// worker with backoff whenever it ends, says why it ended, and forwards
// signals to it. routerd's first process is a Supervisor of its worker.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Supervisor keeps one worker process running. routerd is the kernel's
// first process: if it returned, the kernel would panic, so a Supervisor
// never gives up. It restarts the worker whenever it exits, for
// whatever reason, after an exponential backoff (MinBackoff doubling up to
// MaxBackoff; back to MinBackoff once a worker has run for StableAfter),
// logs why the worker ended, and forwards the signals it receives.
type Supervisor struct {
	// NewWorker returns a fresh, unstarted command for one worker.
	NewWorker func() *exec.Cmd

	MinBackoff  time.Duration // first restart delay (default 100 ms)
	MaxBackoff  time.Duration // cap (default 5 s)
	StableAfter time.Duration // a worker that ran this long resets the backoff (default 1 min)

	// Signals are forwarded to the running worker (SIGTERM, SIGHUP, ...).
	// A signal that arrives while no worker runs is dropped.
	Signals <-chan os.Signal

	// Logf logs one line (default: stderr with a "supervisor: " prefix).
	Logf func(format string, args ...any)

	// Sleep waits d or until ctx is done; tests replace it.
	Sleep func(ctx context.Context, d time.Duration)

	// OnExit, if set, is told of each worker that ended, before the
	// restart: failures counts the workers that ended in a row, this one
	// included, a worker that ran StableAfter starting a new count at 1,
	// and reason says how this one ended, as logged (routerd: a trial
	// boot whose worker keeps failing reboots to the committed boot slot).
	OnExit func(failures int, reason string)

	mu     sync.Mutex
	worker int // the running worker's pid, 0 if none
}

// Owns reports whether pid is the running worker, which the Supervisor
// waits for itself: an orphan reaper (routerd as PID 1) must leave it. It
// waits while a worker is being started, so a worker that ends at once
// is never taken for an orphan.
func (s *Supervisor) Owns(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pid != 0 && pid == s.worker
}

func (s *Supervisor) defaults() {
	if s.MinBackoff <= 0 {
		s.MinBackoff = 100 * time.Millisecond
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = 5 * time.Second
		if s.MaxBackoff < s.MinBackoff {
			s.MaxBackoff = s.MinBackoff
		}
	}
	if s.StableAfter <= 0 {
		s.StableAfter = time.Minute
	}
	if s.Logf == nil {
		s.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "supervisor: "+format+"\n", args...)
		}
	}
	if s.Sleep == nil {
		s.Sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
}

// Run supervises workers until ctx is done, which in routerd never happens.
func (s *Supervisor) Run(ctx context.Context) {
	s.defaults()
	backoff := s.MinBackoff
	failures := 0
	for ctx.Err() == nil {
		started := time.Now()
		reason, pid := s.runOne(ctx)
		if ctx.Err() != nil {
			return
		}
		ran := time.Since(started)
		if ran >= s.StableAfter {
			backoff = s.MinBackoff
			failures = 0
		}
		failures++
		if s.OnExit != nil {
			s.OnExit(failures, reason)
		}
		if pid > 0 {
			s.Logf("worker (pid %d) %s after %v; restarting in %v", pid, reason, ran.Round(time.Millisecond), backoff)
		} else {
			s.Logf("%s; retrying in %v", reason, backoff)
		}
		s.Sleep(ctx, backoff)
		backoff *= 2
		if backoff > s.MaxBackoff {
			backoff = s.MaxBackoff
		}
	}
}

// runOne starts one worker and waits for it, forwarding signals. It returns
// why the worker ended and its pid (0 if it never started).
func (s *Supervisor) runOne(ctx context.Context) (reason string, pid int) {
	cmd := s.NewWorker()
	s.mu.Lock()
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Sprintf("cannot start worker %s: %v", cmd.Path, err), 0
	}
	pid = cmd.Process.Pid
	s.worker = pid
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.worker = 0
		s.mu.Unlock()
		done <- err
	}()
	for {
		select {
		case sig := <-s.Signals:
			s.Logf("forwarding %v to worker (pid %d)", sig, pid)
			if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.Logf("forwarding %v: %v", sig, err)
			}
		case err := <-done:
			return exitReason(cmd.ProcessState, err), pid
		case <-ctx.Done():
			cmd.Process.Kill()
			<-done
			return "stopped", pid
		}
	}
}

// exitReason says how a worker ended: "exited with status N", "killed by
// signal NAME" (and "(core dumped)").
func exitReason(ps *os.ProcessState, waitErr error) string {
	if ps == nil {
		return fmt.Sprintf("ended: %v", waitErr)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Exited():
			return fmt.Sprintf("exited with status %d", ws.ExitStatus())
		case ws.Signaled():
			r := fmt.Sprintf("killed by signal %s (%d)", signalName(ws.Signal()), int(ws.Signal()))
			if ws.CoreDump() {
				r += " (core dumped)"
			}
			return r
		}
	}
	return "ended: " + ps.String()
}

func signalName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
		syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
		syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM",
		syscall.SIGTERM: "SIGTERM", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2",
	}
	if n, ok := names[sig]; ok {
		return n
	}
	return sig.String()
}
