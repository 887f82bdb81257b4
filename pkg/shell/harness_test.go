package shell_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) {
	time.Local = time.UTC // golden files show times
	os.Exit(m.Run())
}

// epoch is the fake clock's start.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// ---- a terminal's input, fed by the test ----

type pipeIn struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	closed bool
	out    syncBuf
}

func newPipeIn() *pipeIn {
	p := &pipeIn{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipeIn) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func (p *pipeIn) Write(b []byte) (int, error) { return p.out.Write(b) }

func (p *pipeIn) feed(b []byte) {
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *pipeIn) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns what was written since the last take.
func (s *syncBuf) take() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]byte(nil), s.b.Bytes()...)
	s.b.Reset()
	return out
}

// ---- a tiny terminal: renders the shell's output as a person sees it ----

type screen struct {
	lines    [][]rune
	row, col int
	width    int
	wrapped  int // times a printable character hit the right margin
	esc      []byte
	inEsc    bool
	utf      []byte
	errs     []string
}

func newScreen(width int) *screen { return &screen{lines: [][]rune{nil}, width: width} }

func (s *screen) line() []rune {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
	return s.lines[s.row]
}

func (s *screen) put(r rune) {
	if s.col >= s.width {
		s.wrapped++
		s.row++
		s.col = 0
	}
	l := s.line()
	for len(l) <= s.col {
		l = append(l, ' ')
	}
	l[s.col] = r
	s.lines[s.row] = l
	s.col++
}

func (s *screen) write(p []byte) {
	for _, b := range p {
		if s.inEsc {
			s.esc = append(s.esc, b)
			if len(s.esc) == 1 && b != '[' {
				s.errs = append(s.errs, fmt.Sprintf("ESC %q not supported", b))
				s.inEsc = false
				continue
			}
			if len(s.esc) > 1 && b >= 0x40 && b <= 0x7e {
				s.csi(string(s.esc[1:len(s.esc)-1]), b)
				s.inEsc = false
			}
			continue
		}
		if len(s.utf) > 0 || b >= 0x80 {
			s.utf = append(s.utf, b)
			if utf8.FullRune(s.utf) {
				r, _ := utf8.DecodeRune(s.utf)
				s.utf = s.utf[:0]
				s.put(r)
			}
			continue
		}
		switch b {
		case 0x1b:
			s.inEsc, s.esc = true, s.esc[:0]
		case '\r':
			s.col = 0
		case '\n':
			s.row++
			s.line()
		case '\b':
			if s.col > 0 {
				s.col--
			}
		case '\a':
		default:
			if b < 0x20 || b == 0x7f {
				s.errs = append(s.errs, fmt.Sprintf("control byte %#x written", b))
				continue
			}
			s.put(rune(b))
		}
	}
}

func (s *screen) csi(params string, final byte) {
	n := 1
	if params != "" && final != 'J' {
		v, err := strconv.Atoi(params)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("CSI %q%c not supported", params, final))
			return
		}
		n = v
	}
	switch final {
	case 'K':
		if params != "" {
			s.errs = append(s.errs, "CSI K with parameters")
		}
		l := s.line()
		if s.col < len(l) {
			s.lines[s.row] = l[:s.col]
		}
	case 'C':
		s.col = min(s.col+n, s.width)
	case 'D':
		s.col = max(s.col-n, 0)
	case 'H': // home (Ctrl-L): continue below everything shown so far
		if params != "" {
			s.errs = append(s.errs, "CSI H with parameters")
		}
		s.row, s.col = len(s.lines), 0
		s.line()
	case 'J':
		if params != "2" {
			s.errs = append(s.errs, fmt.Sprintf("CSI %sJ not supported", params))
		}
	case 'm':
		s.errs = append(s.errs, "colour used")
	default:
		s.errs = append(s.errs, fmt.Sprintf("CSI %q%c not supported", params, final))
	}
}

// insertAbove puts annotation lines above the cursor's line.
func (s *screen) insertAbove(text []string) {
	s.line()
	var rs [][]rune
	for _, t := range text {
		rs = append(rs, []rune(t))
	}
	s.lines = append(s.lines[:s.row], append(rs, s.lines[s.row:]...)...)
	s.row += len(rs)
}

func (s *screen) String() string {
	var b strings.Builder
	for _, l := range s.lines {
		b.WriteString(strings.TrimRight(string(l), " "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// ---- the harness ----

type snap struct {
	consumed int64
	notes    int
}

type harness struct {
	t      *testing.T
	clock  *shelltest.Clock
	router *shelltest.Router
	fs     *shelltest.SwitchFS // the store's file system (readonly directive)
	sh     *shell.Shell
	term   *pipeIn
	// termOpts set up the terminal each session is served on (a pager).
	termOpts []func(*shell.TermInfo)
	scr      *screen
	idle     chan snap
	done     chan error
	sent     int64
	ended    bool
	ctx      context.Context
	cancel   context.CancelFunc
}

// newRouter returns a fake router on a real store in a temporary
// directory, with the factory configuration committed.
func newRouter(t testing.TB, clock *shelltest.Clock) *shelltest.Router {
	st := config.NewStore(t.TempDir())
	st.Now = clock.Now
	r, err := shelltest.NewRouter(st, config.Default(), clock)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// otherUser is who "! other" sessions are (shell.WithUser), as sshd names
// a login.
const otherUser = "ssh admin (key laptop) from 192.168.1.20:51234"

func newHarness(t *testing.T, width int, term ...func(*shell.TermInfo)) *harness {
	h := &harness{t: t, clock: shelltest.NewClock(epoch), term: newPipeIn(), scr: newScreen(width),
		idle: make(chan snap, 1000), done: make(chan error, 1)}
	// The store is named /boot, as on a board, so messages are stable.
	h.fs = shelltest.NewSwitchFS(config.DirFS(t.TempDir()))
	st := config.NewStoreFS(h.fs, "/boot")
	st.Now = h.clock.Now
	r, err := shelltest.NewRouter(st, config.Default(), h.clock)
	if err != nil {
		t.Fatal(err)
	}
	h.router = r
	h.termOpts = term
	h.serve(width)
	return h
}

// serve starts a Shell on the router and an interactive session on the
// terminal, and waits for its first prompt.
func (h *harness) serve(width int) {
	t := h.t
	h.sh = shell.New(h.router, shell.Options{Clock: h.clock, Banner: "passgate test shell; type ? for help"})
	shell.SetTestIdle(h.sh, func(consumed int64, notes int) {
		select {
		case h.idle <- snap{consumed, notes}:
		default:
		}
	})
	h.ctx, h.cancel = context.WithCancel(context.Background())
	t.Cleanup(h.cancel)
	ti := shell.TermInfo{Width: width, Height: 24, Name: "test"}
	for _, f := range h.termOpts {
		f(&ti)
	}
	go func() {
		h.done <- h.sh.Serve(h.ctx, h.term, ti)
	}()
	h.settle()
}

// restart plays the restart that "reboot" asks for: the session ends,
// the router starts again from what it persisted (settling a pending
// commit confirmed), and a new Shell serves a new session.
func (h *harness) restart(why string) {
	h.t.Helper()
	h.cancel()
	if !h.ended {
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.t.Fatal("the session did not end at the restart")
		}
	}
	h.render()
	h.term.close()
	h.sh.Close() // the process ends: its timers with it
	if err := h.router.Restart(); err != nil {
		h.t.Fatalf("restart: %v", err)
	}
	if why != "" {
		why += ": "
	}
	h.scr.write([]byte("\r\n[" + why + "the router restarts]\r\n"))
	if n := h.router.Booted.Notice; n != "" {
		for _, l := range wrapWords("[routerd: "+n+"]", h.scr.width-1) {
			h.scr.write([]byte(l + "\r\n"))
		}
	}
	h.drain()
	h.term, h.sent, h.ended = newPipeIn(), 0, false
	h.serve(h.scr.width)
}

func (h *harness) drain() {
	for {
		select {
		case <-h.idle:
		default:
			return
		}
	}
}

// settle waits until the session has handled everything and waits for
// input again (or has ended), then renders what it wrote.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for !h.ended {
		select {
		case s := <-h.idle:
			if s.consumed == h.sent && s.notes == 0 {
				h.render()
				return
			}
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Serve: %v", err)
			}
			h.ended = true
		case <-deadline:
			h.t.Fatalf("the session did not settle; screen so far:\n%s", h.scr)
		}
	}
	h.render()
}

func (h *harness) render() { h.scr.write(h.term.out.take()) }

func (h *harness) typeBytes(b []byte) {
	h.t.Helper()
	if h.ended {
		h.t.Fatalf("typing %q after the session ended", b)
	}
	h.drain()
	h.sent += int64(len(b))
	h.term.feed(b)
	h.settle()
}

// unescape reads \r \n \t \e \\ and \xHH in script text.
func unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'e':
			b = append(b, 0x1b)
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			b = append(b, byte(v))
			i += 2
		default:
			b = append(b, '\\', s[i])
		}
	}
	return b, nil
}

// runScript plays testdata/name.script and compares the screen with
// testdata/name.golden.
//
// Script lines:
//
//	> TEXT        type TEXT, then Enter
//	< TEXT        type TEXT (escapes: \r \n \t \e \\ \xHH)
//	! advance D   move the clock forward by duration D
//	! other LINE  run LINE with Shell.Run as another session
//	! allow-wrap  the screen may wrap (long typed lines)
//	! restart [WHY]  the router restarts (after "reboot", or WHY: "power
//	              cut"), settling a pending commit confirmed; a new session
//	              starts
//	! readonly on|off  the configuration's file system refuses writes (EROFS)
//	! pager H     (first line) a terminal of H rows with the pager on,
//	              as SSH's
//	! screen      note what the cursor's line shows now (a prompt that
//	              is erased later, such as --More--)
//	# comment
func runScript(t *testing.T, name string) *harness {
	src, err := os.ReadFile(filepath.Join("testdata", name+".script"))
	if err != nil {
		t.Fatal(err)
	}
	var term []func(*shell.TermInfo)
	if first, _, _ := strings.Cut(string(src), "\n"); strings.HasPrefix(first, "! pager ") {
		rows, err := strconv.Atoi(strings.TrimPrefix(first, "! pager "))
		if err != nil {
			t.Fatalf("%s.script:1: %v", name, err)
		}
		term = append(term, func(ti *shell.TermInfo) { ti.Pager, ti.Height = true, rows })
	}
	h := newHarness(t, 80, term...)
	allowWrap := false
	for n, line := range strings.Split(string(src), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, arg, _ := strings.Cut(line, " ")
		switch op {
		case ">", "<":
			b, err := unescape(arg)
			if err != nil {
				t.Fatalf("%s.script:%d: %v", name, n+1, err)
			}
			if op == ">" {
				b = append(b, '\r')
			}
			h.typeBytes(b)
		case "!":
			cmd, rest, _ := strings.Cut(arg, " ")
			switch cmd {
			case "advance":
				d, err := time.ParseDuration(rest)
				if err != nil {
					t.Fatalf("%s.script:%d: %v", name, n+1, err)
				}
				h.drain()
				h.scr.insertAbove([]string{fmt.Sprintf("[clock +%s]", rest)})
				if h.clock.Advance(d) > 0 {
					h.settle()
				}
			case "other":
				var out bytes.Buffer
				err := h.sh.Run(shell.WithUser(context.Background(), otherUser), rest, &out)
				text := []string{"[another session runs: " + rest + "]"}
				for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
					text = append(text, "| "+l)
				}
				if err != nil {
					text = append(text, "| (failed)")
				}
				h.scr.insertAbove(text)
			case "allow-wrap":
				allowWrap = true
			case "restart":
				h.restart(rest)
			case "readonly":
				h.fs.SetReadOnly(rest == "on")
				h.scr.insertAbove([]string{"[the card is read-" + map[bool]string{true: "only", false: "write"}[rest == "on"] + "]"})
			case "screen":
				h.scr.insertAbove([]string{"[the screen shows: " + strings.TrimRight(string(h.scr.line()), " ") + "]"})
			case "pager":
				if n != 0 {
					t.Fatalf("%s.script:%d: \"! pager\" must be the first line", name, n+1)
				}
			default:
				t.Fatalf("%s.script:%d: unknown directive %q", name, n+1, cmd)
			}
		default:
			t.Fatalf("%s.script:%d: cannot parse %q", name, n+1, line)
		}
	}
	if !h.ended {
		h.term.close()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return at the end of the input")
		}
		h.ended = true
		h.render()
	}
	for _, e := range h.scr.errs {
		t.Errorf("terminal: %s", e)
	}
	if h.scr.wrapped > 0 && !allowWrap {
		t.Errorf("output reached the 80th column %d time(s) (80×24-safe output must not)", h.scr.wrapped)
	}
	golden(t, name+".golden", h.scr.String())
	return h
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", name, lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing lines.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// wrapWords breaks text (which may hold line breaks) into lines of at
// most width columns at spaces, indenting continuations by two.
func wrapWords(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			switch {
			case line == "":
				line = w
			case len(line)+1+len(w) > width:
				out = append(out, line)
				line = "  " + w
			default:
				line += " " + w
			}
		}
		out = append(out, line)
	}
	return out
}
