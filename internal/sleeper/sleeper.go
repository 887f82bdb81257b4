// Package sleeper puts a goroutine to sleep in the kernel until a
// deadline or a wake-up, with the kernel's timer precision.
//
// A Go timer wakes an otherwise idle process through the runtime's
// network poller, whose timeout is in whole milliseconds: a 2.7 ms sleep
// (a full frame at 4.5 Mbit/s) ends after 3 ms or later. A shaper's
// sender that sleeps until its next packet is due loses that time on
// every packet. A Sleeper instead blocks its goroutine's thread in
// ppoll(2) on an eventfd, with a nanosecond timeout (within the thread's
// timer slack, 50 µs by default); Wake writes the eventfd.
package sleeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sleeper is one goroutine's sleep; Wake may be called from any
// goroutine, at any time, also after Close.
type Sleeper struct {
	mu     sync.Mutex // guards fd against Close while Wake writes
	fd     int
	closed bool
}

// New returns a Sleeper.
func New() (*Sleeper, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("sleeper: eventfd: %w", err)
	}
	return &Sleeper{fd: fd}, nil
}

// Sleep blocks until d has passed (d < 0: no deadline) or Wake is
// called, and reports whether it was woken. A Wake since the last Sleep
// returned is not lost: Sleep then returns at once. A signal may end the
// sleep early, as a wake-up would: callers recompute what they wait for.
// Only one goroutine may Sleep at a time, and not after Close.
func (s *Sleeper) Sleep(d time.Duration) (bool, error) {
	var ts *unix.Timespec
	if d >= 0 {
		t := unix.NsecToTimespec(int64(d))
		ts = &t
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	n, err := unix.Ppoll(fds, ts, nil)
	switch {
	case errors.Is(err, unix.EINTR):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("sleeper: ppoll: %w", err)
	case n == 0:
		return false, nil
	}
	var buf [8]byte
	if _, err := unix.Read(s.fd, buf[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
		return true, fmt.Errorf("sleeper: reading the eventfd: %w", err)
	}
	return true, nil
}

// Wake ends the current or the next Sleep. After Close it does nothing.
func (s *Sleeper) Wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	// EAGAIN: the count is at its limit, so a wake-up is pending anyway.
	unix.Write(s.fd, one[:])
}

// Close releases the eventfd; the sleeping goroutine calls it when it
// is done sleeping.
func (s *Sleeper) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return unix.Close(s.fd)
}

// Prioritize gives the calling goroutine a thread of its own at
// scheduling priority nice (-20, the highest, to 19), for a goroutine
// that must run when its sleep ends. The thread is never unlocked: it
// ends with the goroutine, so that no other goroutine inherits the
// priority. Raising it needs CAP_SYS_NICE; on an error the goroutine
// keeps its own thread at the usual priority.
func Prioritize(nice int) error {
	runtime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), nice); err != nil {
		return fmt.Errorf("sleeper: thread priority %d: %w", nice, err)
	}
	return nil
}
