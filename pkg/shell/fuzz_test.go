package shell_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// quickRouter never blocks in Ping (the fake's "blackhole" would).
type quickRouter struct{ *shelltest.Router }

func (quickRouter) Ping(ctx context.Context, host string, _ shell.PingOptions, w io.Writer) error {
	io.WriteString(w, "PING "+host+"\n")
	return nil
}

type fuzzTerm struct {
	r io.Reader
	w bytes.Buffer
}

func (f *fuzzTerm) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fuzzTerm) Write(p []byte) (int, error) { return f.w.Write(p) }

// FuzzServe feeds arbitrary bytes to an interactive session: it must not
// panic, must end when the input ends, and must write only what a plain
// terminal understands.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		"show system\r",
		"sh int\rshow nat sessions protocol udp host 192.168.1.10\r",
		"configure\rset nat hairpin disable\rcompare\rcommit confirmed 3\rconfirm\rexit\r",
		"configure\rset nat ?\x15set passthrough pptp d\t\r commit\rrollback 1\rcommit\rexit discard\r",
		"se\t\t\x1b[A\x1b[B\x1b[D\x1b[C\x01\x05\x15\x17\x0b\x03\x04",
		"reboot\ry\rfactory-reset\rn\r",
		"configure\rset system hostname \"a b\rset system hostname \"x?y\"\r",
		"ping 1.2.3.4 count 2\r\x03capture lan filter host 1\r",
		"\x1b[1;5C\x1bO\x1b[99999999999999999999999~\xff\xfe\xc3",
		"configure; set nat timeout udp 600; commit; run show configuration commands nat; exit\r",
		"show sys\x07tem\rshow\xe2\x80\x8b system\rshow\xc2\xa0 sys\xfftem\x1a\r",
		"configure\rset system hostname " + strings.Repeat("h", 64) + "\r",
		"show system # " + strings.Repeat("x", 4090) + "\r",
		"show log | match d | except \"x y\" | count\rshow configuration | display set | no-more\r",
		"configure\redit nat port-forward w\rset port 80\rup\rshow | compare\rtop\rcompare rollback 0\r",
		"configure\rload merge terminal\rnat {\r hairpin disable; }\r.\rload override terminal\r\x04commit comment \"c\"\r",
		"ping -c 2 -s 9 1.2.3.4\rshow system commit\rshow route\rshow arp\r",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 2*config.MaxLine {
			in = in[:2*config.MaxLine] // room for a line over the limit
		}
		clock := shelltest.NewClock(epoch)
		fr, err := shelltest.NewRouter(nil, config.Default(), clock)
		if err != nil {
			t.Fatal(err)
		}
		sh := shell.New(quickRouter{fr}, shell.Options{Clock: clock})
		term := &fuzzTerm{r: bytes.NewReader(in)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- sh.Serve(ctx, term, shell.TermInfo{}) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			cancel()
			t.Fatalf("Serve did not end at the end of the input %q", in)
		}
		scr := newScreen(80)
		scr.write(term.w.Bytes())
		for _, e := range scr.errs {
			t.Errorf("terminal: %s (input %q)", e, in)
		}
		// The script forms must not panic either.
		var out bytes.Buffer
		_ = sh.Run(ctx, string(in), &out)
		_ = sh.RunScript(ctx, bytes.NewReader(in), &out)
	})
}
