package pid1

import (
	"context"
	"os"
	"os/signal"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SweepEvery is how often Reap looks for orphans without a SIGCHLD: a
// zombie queued behind an owned child's (see Reap) is collected then.
const SweepEvery = 10 * time.Second

// maxPerSweep bounds one sweep: a fork bomb of orphans cannot keep
// Reap from looking at its context.
const maxPerSweep = 1024

// Reap collects the exit status of every child of this process that
// nobody else waits for, until ctx is done. As PID 1, every orphan of
// the system is such a child: without this they stay zombies for ever.
// owned says which children another part of the process waits for (the
// supervisor's worker, waited for by os/exec); Reap leaves those alone,
// so their waiter still sees how they ended. owned must not report a
// child as not owned between its fork and the moment its waiter knows
// its pid (the supervisor holds a lock across its start).
//
// Reap runs a sweep on every SIGCHLD and every SweepEvery. Each sweep
// peeks at the next exited child without collecting it (waitid with
// WNOWAIT) and collects it only if it is not owned; it stops at an owned
// one, whose waiter is about to collect it.
func Reap(ctx context.Context, owned func(pid int) bool) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		Sweep(owned)
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-t.C:
		}
	}
}

// Sweep collects the exited children that are not owned, up to the first
// owned one, and returns how many it collected.
func Sweep(owned func(pid int) bool) int {
	n := 0
	for n < maxPerSweep {
		pid, err := nextExited()
		if err != nil || pid <= 0 || owned(pid) {
			return n
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return n
		}
		n++
	}
	return n
}

// nextExited returns the pid of an exited, uncollected child, without
// collecting it; 0 if there is none.
func nextExited() (int, error) {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		return 0, err
	}
	return siginfoPid(&info), nil
}

// siginfoPid reads si_pid of a SIGCHLD siginfo_t: after si_signo,
// si_errno and si_code, at the union's offset, which is 16 bytes on
// 64-bit kernels and 12 on 32-bit ones (__ARCH_SI_PREAMBLE_SIZE). info
// starts zeroed, and with WNOHANG and no exited child it stays so: 0.
func siginfoPid(info *unix.Siginfo) int {
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
}
