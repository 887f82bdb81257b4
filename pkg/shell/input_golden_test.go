package shell_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// TestGoldenInput: refused characters in the editor (testdata/input.*).
func TestGoldenInput(t *testing.T) { runScript(t, "input") }

// TestGoldenPaste: a 1 MiB line pasted on the console stops at the limit,
// says so once, is not run, and costs the terminal a few kilobytes (a
// redraw per character wrote 89 MB before).
func TestGoldenPaste(t *testing.T) {
	h := newHarness(t, 80)
	h.typeBytes([]byte("show system # " + strings.Repeat("x", 1<<20) + "\r"))
	out := h.scr.String()
	if n := len(out); n > 2000 {
		t.Errorf("the screen holds %d bytes", n)
	}
	h.typeBytes([]byte("show system\r"))
	golden(t, "paste.golden", h.scr.String())
}

// TestGoldenHandEdit: show system says a hand edit was taken, until the
// next commit stores the file with a new checksum.
func TestGoldenHandEdit(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	dir := t.TempDir()
	st := config.NewStore(dir)
	st.Now = clock.Now
	r, err := shelltest.NewRouter(st, config.Default(), clock)
	if err != nil {
		t.Fatal(err)
	}
	r.Sys = shell.SystemInfo{Board: "qemu-arm64", Version: "0.1.0-test"}
	p := filepath.Join(dir, config.FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(bytes.Replace(data, []byte("range 192.168.1.100"), []byte("range 192.168.1.150"), 1), []byte("\n"), []byte("\r\n"))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, 80, r, clock)
	for _, l := range []string{"show system", "configure", "set system hostname edited", "commit", "exit", "show system"} {
		h.typeBytes([]byte(l + "\r"))
	}
	golden(t, "handedit.golden", h.scr.String())
}

// newHarnessOn is newHarness on a given router.
func newHarnessOn(t *testing.T, width int, r *shelltest.Router, clock *shelltest.Clock) *harness {
	h := &harness{t: t, clock: clock, router: r, term: newPipeIn(), scr: newScreen(width),
		idle: make(chan snap, 1000), done: make(chan error, 1)}
	h.sh = shell.New(h.router, shell.Options{Clock: h.clock})
	shell.SetTestIdle(h.sh, func(consumed int64, notes int) {
		select {
		case h.idle <- snap{consumed, notes}:
		default:
		}
	})
	h.ctx, h.cancel = context.WithCancel(context.Background())
	t.Cleanup(h.cancel)
	go func() {
		h.done <- h.sh.Serve(h.ctx, h.term, shell.TermInfo{Width: width, Height: 24, Name: "test"})
	}()
	h.settle()
	return h
}

// TestLineLimitNonInteractive: "ssh router CMD", routerd shell -c and
// scripts refuse a line over config.MaxLine bytes with one bounded error,
// run nothing of it, and take a line of exactly the limit.
func TestLineLimitNonInteractive(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	ctx := context.Background()
	want := "error: the line is longer than 4096 bytes, the most one line may hold\n"
	long := "configure; set nat hairpin disable; commit #" + strings.Repeat("x", 1<<20)

	var out bytes.Buffer
	if err := sh.Run(ctx, long, &out); !errors.Is(err, shell.ErrFailed) || out.String() != want {
		t.Errorf("Run of a 1 MiB line: %v, output %q", err, out.String())
	}
	for _, script := range []string{
		long + "\nshow system\n",
		"show system\n" + strings.Repeat("y", 70<<10) + "\nconfigure; set nat hairpin disable; commit\n", // over 64 KiB: failed silently before
	} {
		out.Reset()
		err := sh.RunScript(ctx, strings.NewReader(script), &out)
		if !errors.Is(err, shell.ErrFailed) || !strings.HasSuffix(out.String(), want) || strings.Count(out.String(), "error:") != 1 {
			t.Errorf("RunScript: %v, output %q", err, out.String())
		}
	}
	if r.Commits != 0 || !r.Config().NAT.Hairpin {
		t.Error("a refused line ran")
	}
	// Exactly the limit is a line like any other.
	exact := "show system #"
	exact += strings.Repeat("z", config.MaxLine-len(exact))
	out.Reset()
	if err := sh.Run(ctx, exact, &out); err != nil || !strings.Contains(out.String(), "Hostname") {
		t.Errorf("Run of a %d-byte line: %v\n%s", len(exact), err, out.String())
	}
	out.Reset()
	if err := sh.RunScript(ctx, strings.NewReader(exact+"\r\n"+exact), &out); err != nil || strings.Count(out.String(), "Hostname") != 2 {
		t.Errorf("RunScript of %d-byte lines: %v\n%s", len(exact), err, out.String())
	}
}

// TestRejectSameAsExecMode: exec mode refuses a control character with a
// caret and the message the editor gives (TestGoldenInput).
func TestRejectSameAsExecMode(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	sh := shell.New(newRouter(t, clock), shell.Options{Clock: clock})
	var out bytes.Buffer
	err := sh.Run(context.Background(), "show sys\x07tem", &out)
	want := "show sys\x07tem\n        ^\nerror: control character U+0007 is not allowed\n"
	if !errors.Is(err, shell.ErrFailed) || out.String() != want {
		t.Errorf("Run: %v\ngot  %q\nwant %q", err, out.String(), want)
	}
}
