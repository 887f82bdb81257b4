package shell_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// TestRollbackRestartsWhenItMust: when the time of a commit confirmed
// runs out, the rollback restarts the router if it takes effect only at
// start (the commit had moved the LAN address and the router restarted
// with it) or if it could not be saved (the start rolls back from the
// persisted record); otherwise it applies live.
func TestRollbackRestartsWhenItMust(t *testing.T) {
	cases := []struct {
		name     string
		set      string
		planned  bool // "reboot" between the commit and the timeout
		readOnly bool // the card refuses writes when the time runs out
		reboots  int  // restarts asked for by the rollback
		logRE    string
	}{
		{"live change", "set nat hairpin disable", false, false, 0, "rolled back to the configuration before it"},
		{"LAN address, not restarted yet", "set interfaces lan address 192.168.1.254/24", false, false, 0, "rolled back"},
		{"LAN address, restarted with it", "set interfaces lan address 192.168.1.254/24", true, false, 1, "restarting the router now"},
		{"rollback not saved", "set nat hairpin disable", false, true, 1, "the automatic rollback FAILED .*read-only.*restarting the router"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := shelltest.NewClock(epoch)
			fsys := shelltest.NewSwitchFS(config.DirFS(t.TempDir()))
			r, err := shelltest.NewRouter(config.NewStoreFS(fsys, "/boot"), config.Default(), clock)
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			opts := shell.Options{Clock: clock, Logf: func(f string, a ...any) { log.WriteString(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n") }}
			sh := shell.New(r, opts)
			var out bytes.Buffer
			if err := sh.Run(context.Background(), "configure; "+c.set+"; commit confirmed 2", &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if c.planned {
				if err := sh.Run(context.Background(), "reboot", &out); err != nil {
					t.Fatal(err)
				}
				sh.Close()
				if err := r.Restart(); err != nil {
					t.Fatal(err)
				}
				if r.Booted.Pending == nil {
					t.Fatalf("the planned restart did not keep the commit: %q", r.Booted.Notice)
				}
				sh = shell.New(r, opts)
			}
			before := r.Reboots
			fsys.SetReadOnly(c.readOnly)
			clock.Advance(2 * time.Minute)
			if got := r.Reboots - before; got != c.reboots {
				t.Errorf("the rollback asked for %d restarts, want %d; log:\n%s", got, c.reboots, log.String())
			}
			if !matchRE(c.logRE, log.String()) {
				t.Errorf("log lacks %q:\n%s", c.logRE, log.String())
			}
			fsys.SetReadOnly(false)
			sh.Close()
			if err := r.Restart(); err != nil {
				t.Fatal(err)
			}
			if c := r.Config(); !c.Equal(config.Default()) {
				t.Errorf("after the rollback and a restart the router runs:\n%s", strings.Join(config.Diff(config.Default(), c), "\n"))
			}
		})
	}
}

func matchRE(re, s string) bool {
	ok, err := regexp.MatchString(re, s)
	return err == nil && ok
}
