package shellcontract

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// pptpOn reports the live pptp passthrough switch.
func pptpOn(t *testing.T, h Harness) bool {
	t.Helper()
	pt, err := h.Router().Passthrough(context.Background())
	if err != nil || len(pt.Protocols) == 0 || pt.Protocols[0].Name != "pptp" {
		t.Fatalf("Passthrough: %+v, %v", pt.Protocols, err)
	}
	return pt.Protocols[0].Enabled
}

func named(c *config.Config, host string) *config.Config {
	n := c.Clone()
	n.System.Hostname = host
	return n
}

// testCommitConfirmed: a commit confirmed is persisted with its rollback;
// a restart rolls it back unless it was planned (SetPending with
// Restart), which keeps it pending once, with the time it had left; a
// commit or SetPending(nil) confirms it.
func testCommitConfirmed(t *testing.T, start func(*testing.T) Harness) {
	ctx := context.Background()
	first := Config()
	confirmed := func(t *testing.T, h Harness, prev, next *config.Config) {
		t.Helper()
		rec := config.Pending{Prev: prev, By: "contract", Minutes: 5, Left: 5 * time.Minute}
		if _, err := h.Router().CommitConfirmed(ctx, next, rec); err != nil {
			t.Fatalf("CommitConfirmed: %v", err)
		}
		if c := h.Router().Config(); !same(c, next) {
			t.Fatalf("Config after CommitConfirmed:\n%s", diff(next, c))
		}
		p := h.Router().Pending()
		if p == nil || !same(p.Prev, prev) || p.New != config.Sum(next) || p.By != "contract" || p.Left != 5*time.Minute || p.Restart {
			t.Fatalf("Pending after CommitConfirmed: %+v", p)
		}
	}
	next := named(first, "unconfirmed")
	next.Passthrough.PPTP = false

	t.Run("a restart rolls back", func(t *testing.T) {
		h := start(t)
		if p := h.Router().Pending(); p != nil {
			t.Fatalf("a fresh router has a pending commit: %+v", p)
		}
		confirmed(t, h, first, next)
		if pptpOn(t, h) {
			t.Error("CommitConfirmed did not apply the change")
		}
		h.Restart(t)
		if c := h.Router().Config(); !same(c, first) {
			t.Fatalf("after a restart the unconfirmed commit runs:\n%s", diff(first, c))
		}
		if p := h.Router().Pending(); p != nil || !pptpOn(t, h) {
			t.Errorf("after the rollback: pending %+v, pptp on %v", p, pptpOn(t, h))
		}
		if r1, err := h.Router().Rollback(1); err != nil || !same(r1, next) {
			t.Errorf("the unconfirmed commit is not revision 1: %v", err)
		}
	})
	t.Run("a planned restart keeps it once", func(t *testing.T) {
		h := start(t)
		confirmed(t, h, first, next)
		p := h.Router().Pending()
		p.Restart, p.Left = true, 3*time.Minute
		if err := h.Router().SetPending(p); err != nil {
			t.Fatal(err)
		}
		h.Restart(t)
		if c := h.Router().Config(); !same(c, next) {
			t.Fatalf("a planned restart rolled back:\n%s", diff(next, c))
		}
		if p := h.Router().Pending(); p == nil || p.Left != 3*time.Minute || p.Restart || !same(p.Prev, first) {
			t.Fatalf("after a planned restart Pending is %+v; want the commit with 3m left and no restart mark", p)
		}
		h.Restart(t)
		if c := h.Router().Config(); !same(c, first) {
			t.Errorf("a second, unplanned restart kept the unconfirmed commit:\n%s", diff(first, c))
		}
	})
	t.Run("a commit confirms", func(t *testing.T) {
		h := start(t)
		confirmed(t, h, first, next)
		later := named(next, "later")
		if _, err := h.Router().Commit(ctx, later); err != nil {
			t.Fatal(err)
		}
		if p := h.Router().Pending(); p != nil {
			t.Errorf("a commit left the commit confirmed pending: %+v", p)
		}
		h.Restart(t)
		if c := h.Router().Config(); !same(c, later) {
			t.Errorf("after a commit and a restart:\n%s", diff(later, c))
		}
	})
	t.Run("SetPending(nil) confirms", func(t *testing.T) {
		h := start(t)
		confirmed(t, h, first, next)
		if err := h.Router().SetPending(nil); err != nil {
			t.Fatal(err)
		}
		h.Restart(t)
		if c := h.Router().Config(); !same(c, next) || h.Router().Pending() != nil {
			t.Errorf("a confirmed commit did not survive a restart:\n%s", diff(next, c))
		}
	})
}

// testSaveFails: when the configuration cannot be saved, nothing is
// applied — the live change is undone — and the error is a
// *shell.SaveError that says why.
func testSaveFails(t *testing.T, h Harness) {
	ctx := context.Background()
	first := Config()
	next := named(first, "not-saved")
	next.Passthrough.PPTP = false
	h.SetReadOnly(true)
	for name, commit := range map[string]func() ([]string, error){
		"Commit": func() ([]string, error) { return h.Router().Commit(ctx, next) },
		"CommitConfirmed": func() ([]string, error) {
			return h.Router().CommitConfirmed(ctx, next, config.Pending{Prev: first, By: "contract", Minutes: 1, Left: time.Minute})
		},
	} {
		_, err := commit()
		var se *shell.SaveError
		if !errors.As(err, &se) || !errors.Is(err, syscall.EROFS) || se.UndoErr != nil {
			t.Fatalf("%s on a read-only card: %v; want a *shell.SaveError for EROFS with the change undone", name, err)
		}
		if !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), "undone") {
			t.Errorf("%s: the error does not say plainly what happened: %v", name, err)
		}
		if c := h.Router().Config(); !same(c, first) {
			t.Errorf("%s failed, yet Config changed:\n%s", name, diff(first, c))
		}
		if !pptpOn(t, h) {
			t.Errorf("%s failed, yet pptp passthrough stays disabled", name)
		}
		if p := h.Router().Pending(); p != nil {
			t.Errorf("%s failed, yet a commit confirmed is pending: %+v", name, p)
		}
	}
	h.SetReadOnly(false)
	h.Restart(t)
	if c := h.Router().Config(); !same(c, first) {
		t.Errorf("after a restart:\n%s", diff(first, c))
	}
}

// testNeedsRestart: settings that take effect only at start say so in
// Commit's changes and NeedsRestart until the restart.
func testNeedsRestart(t *testing.T, h Harness) {
	ctx := context.Background()
	next := Config()
	next.Interfaces.LAN.Address = netip.MustParsePrefix("192.168.1.254/24") // the pool's subnet
	next.Service.SSH.Port = 2222
	if h.Router().NeedsRestart() {
		t.Fatal("a freshly started router needs a restart")
	}
	changes, err := h.Router().Commit(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"interfaces lan address " + next.Interfaces.LAN.Address.String() + " takes effect after a restart",
		"service ssh port 2222 takes effect after a restart"} {
		if !slices.ContainsFunc(changes, func(c string) bool { return strings.HasPrefix(c, want) }) {
			t.Errorf("Commit's changes %q do not say %q", changes, want)
		}
	}
	if !h.Router().NeedsRestart() {
		t.Error("NeedsRestart is false after committing a new LAN address")
	}
	h.Restart(t)
	if h.Router().NeedsRestart() {
		t.Error("NeedsRestart is still true after the restart")
	}
	if c := h.Router().Config(); !same(c, next) {
		t.Errorf("after the restart:\n%s", diff(next, c))
	}
}
