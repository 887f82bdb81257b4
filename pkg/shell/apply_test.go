package shell_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

func set(words ...string) shell.Edit { return shell.Edit{Verb: "set", Words: words} }

func TestApplyCommitsThroughTheShell(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	ctx := shell.WithUser(context.Background(), "web admin from 192.168.1.20")
	var out strings.Builder
	err := sh.Apply(ctx, []shell.Edit{set("passthrough", "pptp", "disable"), set("system", "hostname", "gw")},
		shell.ApplyOptions{Comment: "from the page"}, &out)
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "Commit complete.") {
		t.Errorf("output %q has no Commit complete.", &out)
	}
	if c := r.Config(); c.Passthrough.PPTP || c.System.Hostname != "gw" {
		t.Errorf("committed pptp=%v hostname=%q, want false, gw", c.Passthrough.PPTP, c.System.Hostname)
	}
	h, err := r.CommitHistory()
	if err != nil || len(h) == 0 {
		t.Fatalf("history %v, %v", h, err)
	}
	if h[0].Who != "web admin from 192.168.1.20" || h[0].Comment != "from the page" || h[0].How != "commit" {
		t.Errorf("history entry %+v", h[0])
	}
	// The shell's own "show system commit" lists it.
	out.Reset()
	if err := sh.Run(context.Background(), "show system commit", &out); err != nil || !strings.Contains(out.String(), "web admin from 192.168.1.20") {
		t.Errorf("show system commit: %v\n%s", err, &out)
	}
}

func TestApplyRefusesAndChangesNothing(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	before := r.Config().Clone()
	for _, tc := range []struct {
		name  string
		edits []shell.Edit
		want  string
	}{
		{"refused edit", []shell.Edit{set("passthrough", "pptp", "disable"), set("nat", "dmz", "not-an-address")}, "nat dmz"},
		{"invalid candidate", []shell.Edit{set("dhcp-server", "lan", "range", "10.9.9.1", "10.9.9.9")}, "Commit failed: nothing was applied."},
		{"unknown verb", []shell.Edit{{Verb: "wipe", Words: []string{"nat"}}}, "unknown edit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := sh.Apply(context.Background(), tc.edits, shell.ApplyOptions{}, &out)
			if !errors.Is(err, shell.ErrFailed) {
				t.Fatalf("Apply = %v, want ErrFailed", err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output %q does not contain %q", &out, tc.want)
			}
			if !r.Config().Equal(before) {
				t.Errorf("the configuration changed: %q", config.Diff(before, r.Config()))
			}
		})
	}
	var ee *shell.EditError
	_, err := sh.Candidate(nil, []shell.Edit{set("system", "hostname", "ok"), set("nat", "dmz", "x")})
	if !errors.As(err, &ee) || ee.Index != 1 || ee.Msg() == "" {
		t.Errorf("Candidate = %v, want an EditError at 1", err)
	}
}

func TestApplyConfirmedRollsBackUnlessConfirmed(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	var out strings.Builder
	if err := sh.Apply(context.Background(), []shell.Edit{set("service", "web", "disable")}, shell.ApplyOptions{ConfirmMinutes: 2}, &out); err != nil {
		t.Fatalf("Apply: %v\n%s", err, &out)
	}
	p, ok := sh.Pending()
	if !ok || p.Left != 2*time.Minute {
		t.Fatalf("Pending = %+v, %v", p, ok)
	}
	clock.Advance(3 * time.Minute)
	if !r.Config().Service.Web.Enabled {
		t.Fatal("not rolled back after the time ran out")
	}
	if err := sh.Apply(context.Background(), []shell.Edit{set("service", "web", "disable")}, shell.ApplyOptions{ConfirmMinutes: 2}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := sh.Confirm(context.Background(), &out); err != nil || !strings.Contains(out.String(), "Commit confirmed") {
		t.Fatalf("Confirm: %v %q", err, &out)
	}
	clock.Advance(3 * time.Minute)
	if r.Config().Service.Web.Enabled {
		t.Error("rolled back although confirmed")
	}
	if _, ok := sh.Pending(); ok {
		t.Error("still pending after Confirm")
	}
}
