// Package console runs the passgate shell on the board's serial console
// (or QEMU's serial port): the device is put in raw mode and serves shell
// sessions one after another, forever. A session that ends (exit, Ctrl-D)
// returns to the "Press Enter" banner; an error on the device (hangup,
// unplugged USB serial) is logged and the device is opened again.
//
// Nothing here exits the process: Run returns only when its context ends.
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/passgate/passgate/pkg/shell"
)

// Options configure Run.
type Options struct {
	// Device is the console device, e.g. /dev/ttyAMA0, /dev/ttyS0 or
	// /dev/console (the board definition names it).
	Device string
	// Shell runs the sessions.
	Shell *shell.Shell
	// Logf receives what went wrong (nil: discarded).
	Logf func(format string, args ...any)
	// Retry is the first wait before opening the device again after an
	// error; it doubles up to a minute (default 1s).
	Retry time.Duration
	// Width and Height of the terminal: a serial line cannot tell, so the
	// default is 80×24.
	Width, Height int
	// Login, if set, says before each session whether the console asks
	// for the admin password (system console login) and its hash (system
	// admin password-hash); CheckPassword checks a password against it
	// (passhash.Verify). See login.go.
	Login         func() (hash string, required bool)
	CheckPassword func(hash, password string) bool
}

// Banner is written before each session; the session starts when the user
// presses Enter (so a console nobody uses does not sit in a session).
const Banner = "passgate console: press Enter to start."

// Run serves the console until ctx ends; it never returns before.
func Run(ctx context.Context, o Options) error {
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Width <= 0 {
		o.Width = 80
	}
	if o.Height <= 0 {
		o.Height = 24
	}
	wait := o.Retry
	for {
		start := time.Now()
		err := serveDevice(ctx, o)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.logf("console %s: %v; opening it again in %s", o.Device, err, wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if time.Since(start) > time.Minute {
			wait = o.Retry // it worked for a while: start again with a short wait
		} else {
			wait = min(2*wait, time.Minute)
		}
	}
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// serveDevice opens the device and runs sessions on it until an error.
func serveDevice(ctx context.Context, o Options) (err error) {
	f, err := os.OpenFile(o.Device, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	// Closing the file unblocks a read in progress when ctx ends.
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer func() {
		if stop() {
			f.Close()
		}
	}()

	// The file descriptor is taken through SyscallConn, not Fd: Fd would
	// switch the file to blocking mode, and Close could then not
	// interrupt a read.
	var fd int
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return err
	}
	if term.IsTerminal(fd) {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("raw mode: %w", err)
		}
		defer term.Restore(fd, old)
	} else {
		o.logf("console %s is not a terminal; serving it as it is", o.Device)
	}

	var st loginState
	for {
		if _, err := io.WriteString(f, "\r\n"+Banner+"\r\n"); err != nil {
			return err
		}
		if err := waitEnter(f); err != nil {
			return err
		}
		ok, how, err := o.login(ctx, f, &st)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		ti := shell.TermInfo{Width: o.Width, Height: o.Height, Name: "console " + o.Device}
		if how != "" {
			ti.Name += " (" + how + ")"
		}
		if err := serveSafely(ctx, o, f, ti); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitEnter reads until CR or LF.
func waitEnter(r io.Reader) error {
	b := make([]byte, 64)
	for {
		n, err := r.Read(b)
		for _, c := range b[:n] {
			if c == '\r' || c == '\n' {
				return nil
			}
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrNoProgress
		}
	}
}

// serveSafely runs one session; a panic in the shell is logged and ends
// only that session.
func serveSafely(ctx context.Context, o Options, rw io.ReadWriter, ti shell.TermInfo) (err error) {
	defer func() {
		if r := recover(); r != nil {
			o.logf("console %s: shell panic: %v\n%s", o.Device, r, debug.Stack())
			io.WriteString(rw, "\r\ninternal error; the session was ended\r\n")
			err = nil
		}
	}()
	err = o.Shell.Serve(ctx, rw, ti)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
