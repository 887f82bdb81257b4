package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The console's login ("set system console login enable"): before each
// session the console asks for the admin password, the one SSH checks
// (system admin password-hash). Wrong passwords are logged and slow the
// next attempt down. With login enabled but no password hash set, the
// console stays open and says so: the console is the way in when nothing
// else works, so it never locks the owner out.

const (
	maxPassword     = 1024             // bytes; more is read and refused
	passwordTimeout = time.Minute      // no Enter in this time: back to the banner
	freeFailures    = 3                // wrong passwords before the delay grows
	failDelay       = 2 * time.Second  // after each wrong password
	maxFailDelay    = 60 * time.Second // the delay doubles up to this
)

// sleep waits d or until ctx ends; tests replace it.
var sleep = func(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// loginState counts the wrong passwords in a row on one console.
type loginState struct{ failures int }

// delay is the wait after the n-th wrong password in a row.
func delay(n int) time.Duration {
	d := failDelay
	for i := freeFailures; i < n && d < maxFailDelay; i++ {
		d *= 2
	}
	return min(d, maxFailDelay)
}

var errAborted = errors.New("login aborted")

// login asks for the password when the configuration says so. It reports
// whether the session may start and how it was opened ("" or "password").
func (o *Options) login(ctx context.Context, f *os.File, st *loginState) (ok bool, how string, err error) {
	if o.Login == nil {
		return true, "", nil
	}
	hash, required := o.Login()
	switch {
	case !required:
		return true, "", nil
	case hash == "" || o.CheckPassword == nil:
		_, err := io.WriteString(f, "Console login is enabled, but no admin password is set (system admin\r\n"+
			"password-hash): the console stays open. Set one to close it.\r\n")
		return err == nil, "", err
	}
	if _, err := io.WriteString(f, "Password: "); err != nil {
		return false, "", err
	}
	pw, err := readPassword(f)
	if _, werr := io.WriteString(f, "\r\n"); werr != nil && err == nil {
		err = werr
	}
	switch {
	case errors.Is(err, errAborted):
		return false, "", nil
	case err != nil:
		return false, "", err
	}
	if pw != nil && o.CheckPassword(hash, string(pw)) {
		if st.failures > 0 {
			o.logf("console %s: logged in after %d wrong password(s)", o.Device, st.failures)
		}
		st.failures = 0
		return true, "password", nil
	}
	st.failures++
	d := delay(st.failures)
	o.logf("console %s: wrong password (%d in a row); next attempt in %s", o.Device, st.failures, d)
	if _, err := fmt.Fprintf(f, "Wrong password. Wait %s.\r\n", d); err != nil {
		return false, "", err
	}
	sleep(ctx, d)
	return false, "", ctx.Err()
}

// readPassword reads a line without echo: Backspace deletes, Ctrl-U
// starts again, Ctrl-C or Ctrl-D (at the start) abort, Enter ends. A
// password longer than maxPassword is read to its end and returned as
// nil (never right). No Enter within passwordTimeout aborts too.
func readPassword(f io.Reader) ([]byte, error) {
	if d, ok := f.(interface{ SetReadDeadline(time.Time) error }); ok {
		if err := d.SetReadDeadline(time.Now().Add(passwordTimeout)); err == nil {
			defer d.SetReadDeadline(time.Time{})
		}
	}
	var pw []byte
	over := false
	b := make([]byte, 64)
	for {
		n, err := f.Read(b)
		for _, c := range b[:n] {
			switch {
			case c == '\r' || c == '\n':
				if over {
					return nil, nil
				}
				return pw, nil
			case c == 0x03 || (c == 0x04 && len(pw) == 0):
				return nil, errAborted
			case c == 0x7f || c == 0x08:
				// Drop the last character (a whole UTF-8 sequence).
				for len(pw) > 0 {
					last := pw[len(pw)-1]
					pw = pw[:len(pw)-1]
					if last&0xc0 != 0x80 {
						break
					}
				}
			case c == 0x15:
				pw, over = pw[:0], false
			case c < 0x20:
			case len(pw) >= maxPassword:
				over = true
			default:
				pw = append(pw, c)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errAborted
		}
		if err != nil {
			return nil, err
		}
	}
}
