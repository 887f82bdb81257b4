package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// Clock is the time source of the shell: the deadline of "commit
// confirmed" and the "expires in" of leases. Tests use a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it and
	// reports whether it did so before f was called.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Options configure a Shell.
type Options struct {
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// Banner is written when an interactive session starts ("" for none).
	Banner string
	// Logf receives the events worth a log line: commits, automatic
	// rollbacks, reboots. nil discards them.
	Logf func(format string, args ...any)
	// HistorySize is how many lines a session remembers (default 100).
	HistorySize int
}

// TermInfo describes the terminal of an interactive session.
type TermInfo struct {
	Term          string // $TERM, e.g. "xterm-256color"; "" if unknown
	Width, Height int    // 0: unknown, taken as 80×24
	// Size, if set, returns the current size (SSH window-change); it
	// overrides Width and Height.
	Size func() (width, height int)
	// Color allows colour (errors in red). The shell never uses colour
	// otherwise; a serial console should leave it false.
	Color bool
	// Name says who is on this terminal, for the log: "console",
	// "ssh admin from 192.168.1.20:51234".
	Name string
	// Pager stops output taller than the terminal at each screenful
	// (--More--). SSH sets it; a serial console should not (its height
	// is a guess).
	Pager bool
}

// Shell is the command-line interface of the router. One Shell serves
// every session (serial console, SSH): they share the commit lock and the
// pending "commit confirmed".
type Shell struct {
	r           Router
	opts        Options
	clock       Clock
	operational []*command
	configure   []*command

	mu      sync.Mutex // one commit at a time; guards pending
	pending *pending

	smu      sync.Mutex
	sessions map[*session]struct{}

	// testIdle, if set, is called when an interactive session waits for
	// input with nothing buffered (tests synchronise on it).
	testIdle func(consumed int64, notes int)
}

// New returns a Shell on r.
func New(r Router, opts Options) *Shell {
	sh := &Shell{r: r, opts: opts, clock: opts.Clock, sessions: map[*session]struct{}{}}
	if sh.clock == nil {
		sh.clock = realClock{}
	}
	if sh.opts.HistorySize <= 0 {
		sh.opts.HistorySize = 100
	}
	sh.operational, sh.configure = commands()
	if p := r.Pending(); p != nil {
		sh.resume(p) // kept across a planned restart
	}
	return sh
}

func (sh *Shell) logf(format string, args ...any) {
	if sh.opts.Logf != nil {
		sh.opts.Logf(format, args...)
	}
}

// ErrFailed is returned by Run and RunScript when a command failed. The
// error message has already been written to the output.
var ErrFailed = errors.New("command failed")

// errInterrupted ends a line read with Ctrl-C.
var errInterrupted = errors.New("interrupted")

// reported wraps an error whose message was already written.
type reported struct{ error }

func (r reported) Unwrap() error { return r.error }

// session is one user's conversation with the shell.
type session struct {
	sh          *Shell
	ctx         context.Context
	cmdCtx      context.Context // ctx of the running command (Ctrl-C cancels)
	out         *termOut
	term        TermInfo
	interactive bool
	in          *input
	ed          *editor
	dec         decoder
	notes       chan string
	line        string // the line being executed (for carets when not interactive)
	caretBase   int    // columns before the line on the screen (the prompt)

	stdin io.Reader // a non-interactive command's standard input (RunInput), or nil

	configuring bool
	cand, base  *config.Config // candidate, and the committed config it started from
	edits       []edit         // what this session did to the candidate, for rebasing
	conflict    bool           // replaying edits on a newer commit failed (said once)
	exit        bool           // the session ends
	cliState                   // levels, pipes, commit comment (hierarchy.go)
}

// edit is one change to the candidate, replayed when another session
// commits in between.
type edit struct {
	verb  string // "set", "delete", "load"
	words []string
	cfg   *config.Config // load
}

func (sh *Shell) newSession(ctx context.Context, r io.Reader, w io.Writer, term TermInfo, interactive bool) *session {
	s := &session{sh: sh, ctx: ctx, cmdCtx: ctx, term: term, interactive: interactive,
		out: &termOut{w: w, crlf: interactive}, notes: make(chan string, 16)}
	if interactive {
		s.in = newInput(r)
		s.ed = &editor{out: s.out, cols: s.cols, histMax: sh.opts.HistorySize}
		sh.smu.Lock()
		sh.sessions[s] = struct{}{}
		sh.smu.Unlock()
	}
	return s
}

func (s *session) close() {
	if s.in != nil {
		s.in.close()
		s.sh.smu.Lock()
		delete(s.sh.sessions, s)
		s.sh.smu.Unlock()
	}
}

// cols is the terminal width (80 when unknown).
func (s *session) cols() int {
	w := s.term.Width
	if s.term.Size != nil {
		w, _ = s.term.Size()
	}
	if w <= 0 {
		return 80
	}
	return max(w, 20)
}

func (s *session) hostname() string {
	if c := s.sh.r.Config(); c != nil && c.System.Hostname != "" {
		return c.System.Hostname
	}
	return "passgate"
}

func (s *session) prompt() string {
	if s.configuring {
		return s.hostname() + "# "
	}
	return s.hostname() + "> "
}

// Serve runs an interactive session on a terminal until the user leaves
// (exit, Ctrl-D), the input ends, or ctx is done. rw is expected to be a
// terminal in raw mode: Serve echoes, edits lines and writes "\r\n".
//
// Serve reads rw from a helper goroutine, but only while it waits for
// input: when the user leaves, no read is in progress, so the caller can
// go on reading rw (the serial console does). When ctx ends during a read,
// that read's data is dropped.
func (sh *Shell) Serve(ctx context.Context, rw io.ReadWriter, term TermInfo) error {
	s := sh.newSession(ctx, rw, rw, term, true)
	defer s.close()
	if sh.opts.Banner != "" {
		s.printf("%s\n", sh.opts.Banner)
	}
	if p := sh.pendingInfo(); p != "" {
		s.wrapped("Note: ", p+".")
	}
	for !s.exit {
		s.beforePrompt()
		line, err := s.readLine(s.prompt(), true)
		switch {
		case errors.Is(err, errInterrupted), errors.Is(err, errLineTooLong):
			continue
		case errors.Is(err, io.EOF):
			s.leave()
			return nil
		case err != nil:
			return err
		}
		s.ed.addHistory(line)
		s.caretBase = len([]rune(s.prompt()))
		s.execLine(line)
		if s.out.err != nil {
			return s.out.err
		}
	}
	return nil
}

// Run executes one command line non-interactively (routerd shell -c,
// ssh router 'show nat sessions') and writes its output to w with "\n"
// line ends. Several commands may be separated by ";" and run in one
// session: "configure; set nat hairpin disable; commit". Execution stops at
// the first failing command; the error, already written to w with a caret
// under the offending word, is then returned wrapped in ErrFailed. A line
// longer than config.MaxLine bytes is refused as a whole.
// Uncommitted configuration changes are dropped at the end (with a
// warning).
func (sh *Shell) Run(ctx context.Context, line string, w io.Writer) error {
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	err := s.execLine(line)
	s.leave()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.out.err
}

// RunScript executes the lines of r in one session, as Run does one line
// (for "echo 'show system' | ssh router" and routerd shell < file). It
// stops at the first failing command or at "exit", and at a line longer
// than config.MaxLine bytes, which it refuses without running any of it.
func (sh *Shell) RunScript(ctx context.Context, r io.Reader, w io.Writer) error {
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	lines := newScriptLines(r)
	s.readScript = lines.next // "load ... terminal" reads the lines after it
	for !s.exit {
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			s.leave()
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err == nil {
			err = s.execLine(line)
		} else {
			s.report(err, nil) // over config.MaxLine: nothing of it runs
		}
		if err != nil {
			s.leave()
			return fmt.Errorf("%w: %v", ErrFailed, err)
		}
	}
	s.leave()
	return s.out.err
}

// leave ends the session's configure mode, dropping the candidate.
func (s *session) leave() {
	if s.configuring {
		s.syncCandidate()
		if !s.cand.Equal(s.base) {
			s.warnf("uncommitted changes were discarded")
		}
		s.configuring = false
	}
}

// execLine runs the commands of one line; it stops at the first error
// and returns it (already reported).
func (s *session) execLine(line string) error {
	s.line = ""
	if err := s.checkLine(line); err != nil {
		return err
	}
	s.line = line
	segs, err := splitLine(line)
	if err != nil {
		s.report(err, nil)
		return err
	}
	for _, seg := range segs {
		if len(seg.toks) == 0 {
			continue
		}
		if err := s.execSegment(seg.toks); err != nil {
			return err
		}
		if s.exit {
			break
		}
	}
	return nil
}

func (s *session) execSegment(toks []config.Token) error {
	top := s.sh.operational
	if s.configuring {
		top = s.sh.configure
		s.syncCandidate()
	}
	return s.execPiped(top, toks)
}

// invoke runs a resolved command and reports its error.
func (s *session) invoke(c *call) error {
	var err error
	if c.cmd.long && s.in != nil {
		err = s.interruptible(func() error { return c.cmd.run(s, c) })
	} else {
		err = c.cmd.run(s, c)
	}
	if err == nil {
		return nil
	}
	var r reported
	if errors.As(err, &r) {
		return err
	}
	s.report(err, c.toks)
	return reported{err}
}

// report writes an error; a *lineError or a column error gets a caret
// under the word it is about.
func (s *session) report(err error, toks []config.Token) {
	var le *lineError
	var ce *config.Error
	col := 0
	msg := err.Error()
	switch {
	case errors.As(err, &reported{}):
		return
	case errors.As(err, &le):
		msg = le.Msg
		switch {
		case le.Index < len(toks):
			col = toks[le.Index].Col
		case len(toks) > 0:
			col = toks[len(toks)-1].End + 1
		}
	case errors.As(err, &ce) && ce.Column > 0:
		msg, col = ce.Msg, ce.Column
	}
	if col > 0 {
		if !s.interactive {
			s.printf("%s\n", s.line)
		}
		s.caret(s.caretBase + col - 1)
	}
	s.errorf("%s", msg)
}

// caret writes "^" under column c (0-based from the line's start on the
// screen).
func (s *session) caret(c int) {
	if c < 0 {
		return
	}
	s.printf("%s^\n", strings.Repeat(" ", c))
}

func (s *session) printf(format string, a ...any) {
	fmt.Fprintf(s.out, format, a...)
}

// wrapped writes prefix and text wrapped to the terminal width.
func (s *session) wrapped(prefix, text string) {
	s.printf("%s\n", wrap(prefix+text, s.cols()-1, strings.Repeat(" ", min(len(prefix), 8))))
}

func (s *session) errorf(format string, a ...any) {
	msg := wrap("error: "+fmt.Sprintf(format, a...), s.cols()-1, "  ")
	if s.term.Color {
		msg = "\x1b[31m" + msg + "\x1b[0m"
	}
	s.printf("%s\n", msg)
}

func (s *session) warnf(format string, a ...any) {
	msg := wrap("warning: "+fmt.Sprintf(format, a...), s.cols()-1, "  ")
	if s.term.Color {
		msg = "\x1b[33m" + msg + "\x1b[0m"
	}
	s.printf("%s\n", msg)
}

// notify queues a message for an interactive session; it is shown at the
// next prompt (or at once if the session waits for input).
func (s *session) notify(msg string) {
	select {
	case s.notes <- msg:
	default: // a stuck session does not block the sender
	}
}

// broadcast notifies every interactive session.
func (sh *Shell) broadcast(msg string) {
	sh.smu.Lock()
	defer sh.smu.Unlock()
	for s := range sh.sessions {
		s.notify(msg)
	}
}

// ---- input ----

type readResult struct {
	data []byte
	err  error
}

// input reads the terminal on demand: the helper goroutine calls Read
// only when asked, so nothing is read while the session is busy or after
// it ended.
type input struct {
	req      chan struct{}
	res      chan readResult
	asked    bool // a read is in progress
	buf      []byte
	err      error
	consumed int64
}

func newInput(r io.Reader) *input {
	in := &input{req: make(chan struct{}, 1), res: make(chan readResult, 1)}
	go func() {
		b := make([]byte, 1024)
		for range in.req {
			n, err := r.Read(b)
			in.res <- readResult{append([]byte(nil), b[:n]...), err}
			if err != nil {
				return
			}
		}
	}()
	return in
}

func (in *input) close() { close(in.req) }

func (in *input) ask() {
	if !in.asked && in.err == nil {
		in.asked = true
		in.req <- struct{}{}
	}
}

func (in *input) take(r readResult) {
	in.asked = false
	in.buf = append(in.buf, r.data...)
	in.consumed += int64(len(r.data))
	if r.err != nil {
		in.err = r.err
	}
}

// next returns the next input byte, or a notification to show, or an
// error (io.EOF when the input ended, ctx's error).
func (s *session) next() (b byte, note string, err error) {
	in := s.in
	for {
		if len(in.buf) > 0 {
			b, in.buf = in.buf[0], in.buf[1:]
			return b, "", nil
		}
		select {
		case n := <-s.notes:
			return 0, n, nil
		default:
		}
		if in.err != nil {
			if errors.Is(in.err, io.EOF) {
				return 0, "", io.EOF
			}
			return 0, "", in.err
		}
		in.ask()
		if s.sh.testIdle != nil {
			s.sh.testIdle(in.consumed, len(s.notes))
		}
		select {
		case r := <-in.res:
			in.take(r)
		case n := <-s.notes:
			return 0, n, nil
		case <-s.ctx.Done():
			return 0, "", s.ctx.Err()
		}
	}
}

// interruptible runs fn with s.cmdCtx cancelled by Ctrl-C. Input typed
// before the Ctrl-C is dropped; other input is kept for the next prompt.
func (s *session) interruptible(fn func() error) error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	in := s.in
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			for i, c := range in.buf {
				if c == 0x03 {
					in.buf = in.buf[i+1:]
					cancel()
					return
				}
			}
			if in.err != nil {
				return
			}
			in.ask()
			select {
			case r := <-in.res:
				in.take(r)
			case <-stop:
				return
			}
		}
	}()
	s.cmdCtx = ctx
	err := fn()
	s.cmdCtx = s.ctx
	close(stop)
	<-done
	if ctx.Err() != nil && s.ctx.Err() == nil {
		s.printf("^C\n")
		if err == nil || errors.Is(err, context.Canceled) {
			return reported{errInterrupted}
		}
	}
	return err
}

// readLine reads one line with the editor; with help set, Tab and "?"
// complete and explain.
func (s *session) readLine(prompt string, help bool) (string, error) {
	s.ed.start(prompt)
	for {
		b, note, err := s.next()
		if err != nil {
			s.out.raw("\r\n")
			return "", err
		}
		if note != "" {
			s.showNote(note)
			continue
		}
		switch s.ed.handle(s.dec.feed(b)) {
		case actSubmit:
			if s.ed.over {
				return "", s.submitTooLong()
			}
			s.ed.finish()
			return s.ed.line(), nil
		case actInterrupt:
			s.out.raw("^C\r\n")
			return "", errInterrupted
		case actEOF:
			s.out.raw("\r\n")
			return "", io.EOF
		case actComplete:
			if help {
				s.tabComplete()
			}
		case actList:
			if help {
				s.listCompletions()
			}
		case actHelp:
			if help {
				s.help()
			} else {
				s.ed.insert('?')
			}
		case actReject:
			s.sayReject()
		case actTooLong:
			s.sayTooLong()
		}
		if s.out.err != nil {
			return "", s.out.err
		}
	}
}

func (s *session) showNote(note string) {
	s.out.raw("\r\n")
	s.wrapped("", note)
	s.ed.redrawBelow()
}

// ask puts a yes/no question; only "y" or "yes" is yes. A
// non-interactive session never asks: the answer is no.
func (s *session) ask(question string) bool {
	if s.in == nil {
		return false
	}
	ans, err := s.readLine(question+" [y/N] ", false)
	if err != nil {
		return false
	}
	ans = strings.ToLower(strings.TrimSpace(ans))
	return ans == "y" || ans == "yes"
}

// ---- completion ----

// completionContext returns the words before the cursor (the last one is
// the word being typed), the rune index where that word starts, and the
// column base for carets.
func (s *session) completionContext() (words []string, start int, toks []config.Token, err error) {
	before := string(s.ed.buf[:s.ed.pos])
	segs, err := splitLine(before)
	if err != nil {
		return nil, 0, nil, err
	}
	toks = segs[len(segs)-1].toks
	words = tokWords(toks)
	start = s.ed.pos
	if n := len(toks); n > 0 && toks[n-1].End-1 == s.ed.pos && !strings.HasSuffix(before, " ") && !strings.HasSuffix(before, "\t") {
		start = toks[n-1].Col - 1
		if toks[n-1].Quoted {
			// A closed quoted word: complete after it.
			words = append(words, "")
			start = s.ed.pos
		}
	} else {
		words = append(words, "")
	}
	return words, start, toks, nil
}

func (s *session) top() []*command {
	if s.configuring {
		return s.sh.configure
	}
	return s.sh.operational
}

func (s *session) tabComplete() {
	words, start, _, err := s.completionContext()
	if err != nil {
		return
	}
	if s.configuring {
		s.syncCandidate()
	}
	cands, lerr := s.complete(s.top(), words)
	if lerr != nil {
		return
	}
	prefix := words[len(words)-1]
	var ins []string
	placeholder := false
	for _, c := range cands {
		switch c.Kind {
		case config.Keyword, config.Value:
			ins = append(ins, c.Word)
		case config.Placeholder:
			placeholder = true
		}
	}
	if len(ins) == 0 {
		return
	}
	var repl string
	if common := commonPrefix(ins); len(ins) == 1 && !placeholder {
		repl = config.Quote(ins[0]) + " "
	} else if len(common) > len(prefix) && config.Quote(common) == common {
		repl = common
	} else {
		return
	}
	e := s.ed
	rest := append([]rune(repl), e.buf[e.pos:]...)
	e.buf = append(e.buf[:start], rest...)
	e.pos = start + len([]rune(repl))
	e.refresh()
	e.lastTab = true
}

func commonPrefix(ws []string) string {
	p := ws[0]
	for _, w := range ws[1:] {
		for !strings.HasPrefix(w, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// listCompletions (double Tab) lists the possible words in columns.
func (s *session) listCompletions() {
	words, _, _, err := s.completionContext()
	if err != nil {
		return
	}
	cands, lerr := s.complete(s.top(), words)
	if lerr != nil || len(cands) == 0 {
		return
	}
	var ws []string
	for _, c := range cands {
		ws = append(ws, c.Word)
	}
	s.out.raw("\r\n")
	s.printf("%s", columns(ws, s.cols()-1))
	s.ed.redrawBelow()
}

// help ("?") lists what may come next with one line of help each, or
// says what is wrong with the line so far; the line stays as it is.
func (s *session) help() {
	e := s.ed
	if e.pos == len(e.buf) {
		e.out.raw("?")
	}
	e.out.raw("\r\n")
	words, _, toks, err := s.completionContext()
	if s.configuring {
		s.syncCandidate()
	}
	base := len(e.prompt) - e.off
	switch {
	case err != nil:
		var ce *config.Error
		if errors.As(err, &ce) && ce.Column > 0 {
			s.caret(base + ce.Column - 1)
		}
		s.errorf("%s", errMsg(err))
	default:
		cands, lerr := s.complete(s.top(), words)
		switch {
		case lerr != nil:
			col := 0
			if lerr.Index < len(toks) {
				col = toks[lerr.Index].Col
			} else if len(toks) > 0 {
				col = toks[len(toks)-1].End + 1
			}
			if col > 0 {
				s.caret(base + col - 1)
			}
			s.errorf("%s", lerr.Msg)
		case len(cands) == 0:
			s.printf("No completions: %q matches nothing here.\n", words[len(words)-1])
		default:
			s.printf("Possible completions:\n%s", helpList(cands, s.cols()-1))
		}
	}
	e.redrawBelow()
}

func errMsg(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.Msg
	}
	return err.Error()
}
