// Command routerd is the whole router. It is the firmware's /init, the
// kernel's first process, and must never return: that process does
// init's work (internal/pid1: mounts, loopback, orphans), loads the kernel
// modules (both begun while its packages initialise: internal/earlyboot),
// and supervises a worker, this binary re-executed (environment
// ROUTERD_WORKER=1, same arguments): it restarts the worker with backoff
// when it exits or crashes, logs why, and forwards SIGTERM and SIGHUP to
// it. Started by another init (a debug shell's), it only supervises.
//
// The worker (router.go) runs the router: configuration, ports, data
// plane, DHCP server, WAN.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/passgate/passgate/internal/earlyboot"
	"github.com/passgate/passgate/internal/pid1"
	"github.com/passgate/passgate/internal/supervisor"
)

// workerEnv marks the worker process.
const workerEnv = "ROUTERD_WORKER"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "shell" {
		os.Exit(shellClient(os.Args[2:]))
	}
	if os.Getenv(workerEnv) == "1" {
		os.Exit(runWorker())
	}
	supervise()
}

// supervise never returns.
func supervise() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	// Ctrl-C or Ctrl-\ from a terminal that routerd was started on (a
	// debug shell's) must not kill the supervisor; the worker, in the same
	// process group, still gets them. They are caught rather than ignored
	// so that the worker does not inherit SIG_IGN. (As the first process
	// routerd has no controlling terminal, and the console shell reads
	// those keys raw.)
	swallow := make(chan os.Signal, 4)
	signal.Notify(swallow, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGPIPE)
	go func() {
		for range swallow {
		}
	}()

	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "routerd: "+format+"\n", args...)
	}
	// As the first process, the package initialisation has prepared the
	// process and started the modules (internal/earlyboot).
	early := earlyboot.Started()
	first := early != nil
	if first {
		if err := early.Prepared(); err != nil {
			logf("as the first process: %v", err)
		}
	} else {
		early = earlyboot.Now()
	}
	logModules(early.Modules(), logf)
	s := &supervisor.Supervisor{
		NewWorker: workerCommand,
		Signals:   sigs,
		Logf:      logf,
	}
	if first {
		go pid1.Reap(context.Background(), s.Owns)
	}
	if g := guardTrial(logf); g != nil {
		s.OnExit = g.WorkerEnded
		go g.Run(context.Background())
	}
	for {
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(os.Stderr, "routerd: supervisor panic: %v; restarting supervision\n", r)
					time.Sleep(time.Second)
				}
			}()
			s.Run(context.Background())
		}()
	}
}

// workerCommand re-executes this binary as the worker.
func workerCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the supervisor is killed (outside init: a test, a service manager),
	// the worker must not outlive it holding the ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}
