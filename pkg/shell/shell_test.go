package shell_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

func TestRunStopsAtFirstError(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	var out bytes.Buffer
	err := sh.Run(context.Background(), "configure; set passthrough pptp disable; set nat timeout udp nope; commit", &out)
	if !errors.Is(err, shell.ErrFailed) {
		t.Fatalf("Run: %v, want ErrFailed", err)
	}
	if r.Commits != 0 || !r.Config().Passthrough.PPTP {
		t.Errorf("a failing script committed: %d commits", r.Commits)
	}
	if !strings.Contains(out.String(), "^\n") || !strings.Contains(out.String(), `"nope" is not a duration`) {
		t.Errorf("no caret error:\n%s", out.String())
	}
	out.Reset()
	if err := sh.Run(context.Background(), "configure; set passthrough pptp disable; commit", &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if r.Commits != 1 || r.Config().Passthrough.PPTP {
		t.Errorf("commit not applied")
	}
	if !strings.Contains(out.String(), "pptp passthrough disabled: 1 calls closed") {
		t.Errorf("change lines not shown:\n%s", out.String())
	}
	// The store has it too.
	if got, err := r.Rollback(0); err != nil || got.Passthrough.PPTP {
		t.Errorf("store: %v %v", got, err)
	}
}

func TestRunScript(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	var out bytes.Buffer
	script := "show system\nconfigure\r\nset nat hairpin disable\ncommit\nexit\nshow configuration commands nat\n"
	if err := sh.RunScript(context.Background(), strings.NewReader(script), &out); err != nil {
		t.Fatalf("RunScript: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "set nat hairpin disable\n") || r.Config().NAT.Hairpin {
		t.Errorf("script output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("non-interactive output has CR")
	}
	out.Reset()
	err := sh.RunScript(context.Background(), strings.NewReader("configure\nset bogus\ncommit\n"), &out)
	if !errors.Is(err, shell.ErrFailed) || r.Commits != 1 {
		t.Errorf("RunScript: %v, %d commits", err, r.Commits)
	}
}

func TestRebootAndFactoryResetNonInteractive(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	var out bytes.Buffer
	if err := sh.Run(context.Background(), "factory-reset", &out); !errors.Is(err, shell.ErrFailed) || r.FactoryResets != 0 {
		t.Errorf("factory-reset without confirmation: %v, %d resets", err, r.FactoryResets)
	}
	if err := sh.Run(context.Background(), "reboot", &out); err != nil || r.Reboots != 1 {
		t.Errorf("reboot: %v, %d reboots", err, r.Reboots)
	}
}

// serialRouter fails a commit that overlaps another.
type serialRouter struct {
	*shelltest.Router
	inflight atomic.Int32
	overlap  atomic.Bool
}

func (s *serialRouter) Commit(ctx context.Context, c *config.Config) ([]string, error) {
	if s.inflight.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inflight.Add(-1)
	time.Sleep(2 * time.Millisecond)
	return s.Router.Commit(ctx, c)
}

func TestCommitsSerialised(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := &serialRouter{Router: newRouter(t, clock)}
	sh := shell.New(r, shell.Options{Clock: clock})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			line := fmt.Sprintf("configure; set nat port-forward f%d protocol tcp port %d to 192.168.1.%d; commit", i, 8000+i, 10+i)
			if err := sh.Run(context.Background(), line, &out); err != nil {
				errs <- fmt.Errorf("%v: %s", err, out.String())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r.overlap.Load() {
		t.Error("two commits ran at the same time")
	}
	if n := len(r.Config().NAT.PortForwards); n != 8 {
		t.Errorf("%d port forwards, want 8 (a commit lost another's change)", n)
	}
}

// A commit confirmed made by a session that is gone is still rolled back.
func TestCommitConfirmedOutlivesSession(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	var logs []string
	var mu sync.Mutex
	sh := shell.New(r, shell.Options{Clock: clock, Logf: func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	var out bytes.Buffer
	if err := sh.Run(context.Background(), "configure; set passthrough ipsec disable; commit confirmed 2", &out); err != nil {
		t.Fatal(err, out.String())
	}
	if r.Config().Passthrough.IPsec.Enabled {
		t.Fatal("not applied")
	}
	clock.Advance(119 * time.Second)
	if r.Config().Passthrough.IPsec.Enabled {
		t.Fatal("rolled back too early")
	}
	clock.Advance(time.Second)
	if !r.Config().Passthrough.IPsec.Enabled {
		t.Fatal("not rolled back after 2 minutes")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), "rolled back") {
		t.Errorf("rollback not logged: %q", logs)
	}
	if clock.Pending() != 0 {
		t.Errorf("%d timers left", clock.Pending())
	}
}

func TestColour(t *testing.T) {
	for _, colour := range []bool{false, true} {
		clock := shelltest.NewClock(epoch)
		sh := shell.New(newRouter(t, clock), shell.Options{Clock: clock})
		term := newPipeIn()
		term.feed([]byte("shoe\rexit\r"))
		if err := sh.Serve(context.Background(), term, shell.TermInfo{Color: colour}); err != nil {
			t.Fatal(err)
		}
		got := strings.Contains(string(term.out.take()), "\x1b[31m")
		if got != colour {
			t.Errorf("Color %v: red error %v", colour, got)
		}
	}
}
