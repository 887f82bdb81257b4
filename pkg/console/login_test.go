package console_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/console"
	"github.com/passgate/passgate/pkg/passhash"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// A $6$ hash of "correct horse battery staple" (pkg/sshd's test vector).
const hash = "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."

type loginRig struct {
	out    *reader
	send   func(string)
	lg     *logs
	waits  func() []time.Duration
	router *shelltest.Router
}

// startLogin runs the console on a PTY with the login of cfg, checked as
// SSH checks passwords; the waits after wrong passwords are recorded, not
// slept.
func startLogin(t *testing.T, cfg *config.Config) *loginRig {
	master, slave := openPTY(t)
	t.Cleanup(func() { master.Close() })
	clock := shelltest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	r, err := shelltest.NewRouter(nil, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []time.Duration
	t.Cleanup(console.SetSleep(func(ctx context.Context, d time.Duration) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}))
	lg := &logs{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- console.Run(ctx, console.Options{Device: slave, Shell: shell.New(r, shell.Options{Clock: clock}), Logf: lg.logf,
			Retry: 20 * time.Millisecond, CheckPassword: passhash.Verify,
			Login: func() (string, bool) {
				c := r.Config()
				return c.System.Admin.PasswordHash, c.System.Console.Login
			}})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	out := &reader{}
	go out.run(master)
	return &loginRig{out: out, lg: lg, router: r,
		send: func(s string) {
			if _, err := master.WriteString(s); err != nil {
				t.Fatal(err)
			}
		},
		waits: func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return append([]time.Duration(nil), waits...)
		}}
}

func withLogin(t *testing.T, hash string) *config.Config {
	c := config.Default()
	c.System.Console.Login = true
	c.System.Admin.PasswordHash = hash
	return c
}

// TestConsoleLogin: the password SSH accepts opens the console; a wrong
// one, never echoed, is logged and slows the next attempt down, more and
// more; Ctrl-C at the prompt goes back to the banner without counting.
func TestConsoleLogin(t *testing.T) {
	r := startLogin(t, withLogin(t, hash))
	r.out.waitFor(t, console.Banner)
	for range 5 {
		r.send("\r")
		r.out.waitFor(t, "Password: ")
		r.send("Tr0ub4dor&3\r")
		got := r.out.waitFor(t, console.Banner)
		if !strings.Contains(got, "Wrong password.") || strings.Contains(got, "Tr0ub4dor") {
			t.Fatalf("after a wrong password:\n%q", got)
		}
	}
	want := []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if got := r.waits(); len(got) != len(want) || got[0] != want[0] || got[3] != want[3] || got[4] != want[4] {
		t.Errorf("waits after wrong passwords %v, want %v", got, want)
	}
	if !strings.Contains(r.lg.String(), "wrong password (5 in a row)") {
		t.Errorf("wrong passwords not logged:\n%s", r.lg.String())
	}
	// Ctrl-C aborts; Backspace and Ctrl-U edit; the right password opens.
	r.send("\r")
	r.out.waitFor(t, "Password: ")
	r.send("abc\x03")
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	r.out.waitFor(t, "Password: ")
	r.send("wrong\x15correct horse battery staplX\x7fe\r")
	got := r.out.waitFor(t, "passgate> ")
	if strings.Contains(got, "correct horse") || len(r.waits()) != 5 {
		t.Errorf("login echoed the password or counted Ctrl-C: %q, waits %v", got, r.waits())
	}
	if !strings.Contains(r.lg.String(), "logged in after 5 wrong password(s)") {
		t.Errorf("login after failures not logged:\n%s", r.lg.String())
	}
	// The session is the console's, with its login in the name.
	r.send("configure; set nat hairpin disable; commit\r")
	r.out.waitFor(t, "Commit complete.")
	if h, _ := r.router.CommitHistory(); len(h) != 1 || !strings.HasSuffix(h[0].Who, " (password)") || !strings.HasPrefix(h[0].Who, "console /dev/pts/") {
		t.Errorf("history %+v, want the console with (password)", h)
	}
	// A password over the limit is never right, even with the right one
	// after it on the line.
	r.send("exit\rexit\r")
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	r.out.waitFor(t, "Password: ")
	r.send(strings.Repeat("x", 1100) + "\x15correct horse battery staple\r")
	r.out.waitFor(t, "passgate> ") // Ctrl-U clears the overlong part too
	r.send("exit\r")
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	r.out.waitFor(t, "Password: ")
	r.send("correct horse battery staple" + strings.Repeat("x", 1100) + "\r")
	r.out.waitFor(t, "Wrong password.")
}

// TestConsoleLoginWithoutPassword: login enabled but no hash set: the
// console says so and stays open.
func TestConsoleLoginWithoutPassword(t *testing.T) {
	r := startLogin(t, withLogin(t, ""))
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	got := r.out.waitFor(t, "passgate> ")
	if !strings.Contains(got, "no admin password is set") || strings.Contains(got, "Password:") {
		t.Errorf("console with login but no password:\n%q", got)
	}
}

// TestConsoleLoginFollowsCommit: the login is read at each session, so a
// commit that enables it closes the console for the next session.
func TestConsoleLoginFollowsCommit(t *testing.T) {
	c := config.Default()
	c.System.Admin.PasswordHash = hash
	r := startLogin(t, c)
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	r.out.waitFor(t, "passgate> ")
	r.send("configure; set system console login enable; commit; exit\r")
	r.out.waitFor(t, "Commit complete.")
	r.send("exit\r")
	r.out.waitFor(t, console.Banner)
	r.send("\r")
	r.out.waitFor(t, "Password: ")
}
