package shell_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// TestLoadInScript: in a script the lines after "load merge terminal" up
// to "." are the configuration; the script goes on after it.
func TestLoadInScript(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	script := "configure\nload merge terminal\nnat {\n  hairpin disable;\n}\nset nat dmz 192.168.1.9\n.\nset system hostname scripted\ncommit comment \"from a script\"\n"
	var out bytes.Buffer
	if err := sh.RunScript(shell.WithUser(context.Background(), "ssh admin (key ci) from 192.0.2.7:2222"), strings.NewReader(script), &out); err != nil {
		t.Fatalf("RunScript: %v\n%s", err, out.String())
	}
	c := r.Config()
	if c.NAT.Hairpin || c.NAT.DMZ.String() != "192.168.1.9" || c.System.Hostname != "scripted" {
		t.Errorf("committed:\n%s\noutput:\n%s", c, out.String())
	}
	h, err := r.CommitHistory()
	if err != nil || len(h) != 1 || h[0].Who != "ssh admin (key ci) from 192.0.2.7:2222" || h[0].Comment != "from a script" {
		t.Errorf("history %+v, %v; want the script's commit by its user with its comment", h, err)
	}

	// A failing load stops the script and changes nothing.
	out.Reset()
	err = sh.RunScript(context.Background(), strings.NewReader("configure\nload override terminal\nset nat timeout udp 5x\n.\ncommit\n"), &out)
	if !errors.Is(err, shell.ErrFailed) || !strings.Contains(out.String(), "line 1: set nat timeout udp 5x") || r.Commits != 1 {
		t.Errorf("RunScript with a bad load: %v, %d commits\n%s", err, r.Commits, out.String())
	}

	// An oversized load is read to its end and refused.
	out.Reset()
	big := "configure\nload merge terminal\n" + strings.Repeat("set nat hairpin enable\n", 20000) + ".\nshow nat\n"
	err = sh.RunScript(context.Background(), strings.NewReader(big), &out)
	if !errors.Is(err, shell.ErrFailed) || !strings.Contains(out.String(), "longer than") || strings.Contains(out.String(), "hairpin enable") {
		t.Errorf("RunScript with an oversized load: %v\n%.300s", err, out.String())
	}

	// One command line has no lines after it.
	out.Reset()
	if err := sh.Run(context.Background(), "configure; load merge terminal", &out); !errors.Is(err, shell.ErrFailed) || !strings.Contains(out.String(), "interactive session") {
		t.Errorf("Run load merge terminal: %v\n%s", err, out.String())
	}
}

// TestNoPagerWithoutPager: a terminal without Pager (the serial console)
// never stops at --More--, however short it says it is; nor does a script.
func TestNoPagerWithoutPager(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	sh := shell.New(newRouter(t, clock), shell.Options{Clock: clock})
	term := newPipeIn()
	term.feed([]byte("help\rshow counters\rexit\r"))
	if err := sh.Serve(context.Background(), term, shell.TermInfo{Height: 4}); err != nil {
		t.Fatal(err)
	}
	out := string(term.out.take())
	if strings.Contains(out, "space: next page") || !strings.Contains(out, "Ports:") {
		t.Errorf("output of a console without pager:\n%s", out)
	}
	var b bytes.Buffer
	if err := sh.Run(context.Background(), "show counters | count", &b); err != nil || b.String() != "Count: 19 lines\n" {
		t.Errorf("Run show counters | count: %v %q", err, b.String())
	}
}

// TestPagerQuitKeepsSession: quitting the pager drops the rest of the
// output, and the session goes on; a failing piped command still shows
// its error.
func TestPagerQuitKeepsSession(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	sh := shell.New(newRouter(t, clock), shell.Options{Clock: clock})
	term := newPipeIn()
	term.feed([]byte("show counters\rqshow system | match Board\rshow log count 0 | count\rexit\r"))
	if err := sh.Serve(context.Background(), term, shell.TermInfo{Height: 5, Pager: true}); err != nil {
		t.Fatal(err)
	}
	out := string(term.out.take())
	for _, want := range []string{"--More--", "Board      qemu-arm64", `"0" is not a number from 1 to 100000`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Ports:") {
		t.Errorf("output after q was shown:\n%s", out)
	}
}

// With flow offload on, show counters gives each port the kernel's share
// beside routerd's own counters.
func TestShowCountersKernelShare(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	r.Cnt.Ports[0].Kernel = &shell.Traffic{RxPackets: 900000, RxBytes: 1300000000, TxPackets: 450000, TxBytes: 23400000}
	sh := shell.New(r, shell.Options{Clock: clock})
	var b bytes.Buffer
	if err := sh.Run(context.Background(), "show counters | match kernel", &b); err != nil {
		t.Fatal(err)
	}
	want := "      rx, kernel  900000   1300000000  -\n      tx, kernel  450000   23400000    -\n"
	if b.String() != want {
		t.Errorf("show counters, the kernel's rows:\n%q\nwant\n%q", b.String(), want)
	}
}
