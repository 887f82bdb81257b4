package console_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/console"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// openPTY returns a pseudo-terminal master and the path of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
			return
		}
		n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		m.Close()
		t.Fatalf("unlockpt/ptsname: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// reader collects everything the console writes.
type reader struct {
	mu  sync.Mutex
	buf bytes.Buffer
	off int // start of what waitFor has not consumed
}

func (r *reader) run(f *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := f.Read(b)
		r.mu.Lock()
		r.buf.Write(b[:n])
		r.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// waitFor waits until s appears after what was consumed before, and
// returns the output up to and including it.
func (r *reader) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		all := r.buf.String()
		r.mu.Unlock()
		if i := strings.Index(all[r.off:], s); i >= 0 {
			out := all[r.off : r.off+i+len(s)]
			r.off += i + len(s)
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("%q did not appear; output since the last match:\n%q", s, r.buf.String()[r.off:])
	return ""
}

type logs struct {
	mu sync.Mutex
	l  []string
}

func (l *logs) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, a...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

func TestConsoleOnPTY(t *testing.T) {
	master, slave := openPTY(t)
	defer master.Close()
	clock := shelltest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	r, err := shelltest.NewRouter(nil, config.Default(), clock)
	if err != nil {
		t.Fatal(err)
	}
	sh := shell.New(r, shell.Options{Clock: clock})
	var lg logs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- console.Run(ctx, console.Options{Device: slave, Shell: sh, Logf: lg.logf, Retry: 20 * time.Millisecond})
	}()
	out := &reader{}
	go out.run(master)
	send := func(s string) {
		if _, err := master.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	out.waitFor(t, console.Banner)
	send("\r")
	out.waitFor(t, "passgate> ")
	send("show system\r")
	got := out.waitFor(t, "passgate> ")
	if !strings.Contains(got, "Board      qemu-arm64\r\n") {
		t.Errorf("show system output:\n%q", got)
	}
	// Raw mode: the terminal does not echo (the shell does, once) and
	// does not turn \n into \r\n again.
	if n := strings.Count(got, "show system"); n != 1 {
		t.Errorf("the command was echoed %d times (raw mode not set?):\n%q", n, got)
	}
	if strings.Contains(got, "\r\r\n") {
		t.Errorf("doubled CR (output post-processing on):\n%q", got)
	}
	for _, l := range strings.Split(got, "\r\n") {
		if len([]rune(l)) >= 80 {
			t.Errorf("line of %d columns on an 80-column console: %q", len(l), l)
		}
	}
	// Tab and ? work on the console too.
	send("sh\tsys\t\r")
	out.waitFor(t, "passgate> show system ")
	out.waitFor(t, "Uptime")
	// exit returns to the banner, not out of Run.
	send("exit\r")
	out.waitFor(t, console.Banner)
	send("\r")
	out.waitFor(t, "passgate> ")
	send("configure\r")
	out.waitFor(t, "passgate# ")
	send("\x04") // Ctrl-D leaves the session too
	out.waitFor(t, console.Banner)
	select {
	case err := <-done:
		t.Fatalf("Run returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Ctrl-C does not kill anything: the console is raw, it is a key.
	send("\r")
	out.waitFor(t, "passgate> ")
	send("show nat\x03")
	out.waitFor(t, "^C")
	send("show log count 1\r")
	out.waitFor(t, "dhcpd")

	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A hangup (the other side of the line goes away) is logged and the
// device is opened again; Run keeps going.
func TestConsoleHangup(t *testing.T) {
	master, slave := openPTY(t)
	clock := shelltest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	r, _ := shelltest.NewRouter(nil, config.Default(), clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	var lg logs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- console.Run(ctx, console.Options{Device: slave, Shell: sh, Logf: lg.logf, Retry: 10 * time.Millisecond})
	}()
	out := &reader{}
	go out.run(master)
	out.waitFor(t, console.Banner)
	master.WriteString("\r")
	out.waitFor(t, "passgate> ")
	master.Close() // hang up in the middle of a session
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(lg.String(), "opening it again") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(lg.String(), "opening it again") {
		t.Fatalf("hangup not logged; log:\n%s", lg.String())
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned after a hangup: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// A device that does not exist yet (USB serial not plugged in) is retried.
func TestConsoleMissingDevice(t *testing.T) {
	clock := shelltest.NewClock(time.Now())
	r, _ := shelltest.NewRouter(nil, config.Default(), clock)
	var lg logs
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := console.Run(ctx, console.Options{Device: t.TempDir() + "/ttyNONE", Shell: shell.New(r, shell.Options{}), Logf: lg.logf, Retry: 10 * time.Millisecond})
	if err != context.DeadlineExceeded {
		t.Errorf("Run: %v", err)
	}
	if n := strings.Count(lg.String(), "opening it again"); n < 2 {
		t.Errorf("%d retries logged:\n%s", n, lg.String())
	}
}
