package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/shell/shellcontract"
)

// sshForward returns the external port of the engine's forward from the
// WAN to the router's SSH server (0: none).
func sshForward(h *routerdHarness) uint16 {
	var port uint16
	h.cur.r.dp.Do(func(e *nat.Engine) {
		for _, f := range e.Config().PortForwards {
			if f.Name == "ssh (router)" {
				port = f.ExtStart
			}
		}
	})
	return port
}

// TestSSHPortWaitsForTheRestart: SSH binds its port at start, so a new
// "service ssh port" is saved, the commit says it takes effect after a
// restart, and the forward from the WAN stays on the port SSH listens on
// until then (it used to move at once, to a port nothing listened on).
func TestSSHPortWaitsForTheRestart(t *testing.T) {
	cfg := shellcontract.Config()
	cfg.Service.SSH.Listen = config.ListenWAN
	h := newRouterdHarness(t, cfg).(*routerdHarness)
	if p := sshForward(h); p != 22 {
		t.Fatalf("ssh forward on port %d, want 22", p)
	}
	next := cfg.Clone()
	next.Service.SSH.Port = 2222
	changes, err := h.Router().Commit(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	want := `service ssh port 2222 takes effect after a restart ("reboot"); until then SSH, and its forward from the WAN, stay on port 22`
	if !slices.Contains(changes, want) {
		t.Errorf("changes %q lack %q", changes, want)
	}
	if p := sshForward(h); p != 22 {
		t.Errorf("before the restart the ssh forward moved to port %d; SSH still listens on 22", p)
	}
	h.Restart(t)
	if p := sshForward(h); p != 2222 {
		t.Errorf("after the restart the ssh forward is on port %d, want 2222", p)
	}
	if got := h.cur.r.sshAddrs(); !slices.Equal(got, [][2]string{{"tcp4", "192.168.1.1:2222"}, {"tcp6", "[::]:2222"}}) {
		t.Errorf("after the restart SSH listens on %v", got)
	}
}

// TestStartRollsBackAndSaysSo: routerd's start settles a commit confirmed
// left pending before it loads the configuration, and logs (on the
// console) what it did and what changed back.
func TestStartRollsBackAndSaysSo(t *testing.T) {
	cfg := shellcontract.Config()
	h := newRouterdHarness(t, cfg).(*routerdHarness)
	next := cfg.Clone()
	next.NAT.Hairpin = false
	rec := config.Pending{Prev: cfg, By: "console", Minutes: 2, Left: 2 * time.Minute}
	if _, err := h.Router().CommitConfirmed(context.Background(), next, rec); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
	if c := h.Router().Config(); !c.Equal(cfg) {
		t.Fatalf("the start kept the unconfirmed commit:\n%s", strings.Join(config.Diff(cfg, c), "\n"))
	}
	h.mu.Lock()
	log := strings.Join(h.logs, "\n")
	h.mu.Unlock()
	for _, want := range []string{
		`a commit confirmed by console was not confirmed before the router restarted (a power cut, a crash or a reset: only "reboot" from the shell keeps a commit pending): rolled back to the configuration from before it`,
		"- set nat hairpin disable",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}
