package shell

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
)

// Pipes filter a command's output, as on Junos: "show log | match dhcp",
// "show nat sessions | except udp | count", "show configuration | display
// set", "show | compare" (configuration mode). On an SSH terminal output
// taller than the screen stops at each screenful with --More-- (the
// serial console never pages); "| no-more" turns that off.

// pipeKind says which pipes a command's output takes.
type pipeKind uint8

const (
	pipeNone   pipeKind = iota // no pipes, no pager (actions, long-running commands)
	pipeText                   // | match, except, count, no-more
	pipeConfig                 // also | display set|tree and | compare
	pipeRun                    // configure mode "run": as its operational command
)

// Bounds of the pipes.
const (
	maxPattern  = 256      // characters of a regular expression
	maxPipes    = 8        // stages on one command
	maxLineBuf  = 64 << 10 // a longer output line is cut into pieces
	defaultRows = 24
)

var patternArg = &argSpec{ph: "<REGEX>", help: `regular expression (RE2 syntax; quote it if it has spaces, e.g. "port 80")`,
	check: func(w string) error {
		if n := utf8.RuneCountInString(w); n > maxPattern {
			return fmt.Errorf("the regular expression has %d characters; at most %d are allowed", n, maxPattern)
		}
		if _, err := regexp.Compile(w); err != nil {
			msg := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				msg = se.Code.String()
			}
			return fmt.Errorf("%q is not a regular expression: %s", w, msg)
		}
		return nil
	}}

func pipeNoop(*session, *call) error { return nil }

// pipeCommands are the words allowed after "|" for a command of kind k;
// candidate is for configure mode's own show (its compare may omit the
// revision: the committed configuration).
func pipeCommands(k pipeKind, candidate bool) []*command {
	cs := []*command{
		{word: "count", help: "count the lines instead of showing them", run: pipeNoop},
		{word: "except", help: "hide the lines that match a regular expression", args: []*argSpec{patternArg}, run: pipeNoop},
		{word: "match", help: "show only the lines that match a regular expression", args: []*argSpec{patternArg}, run: pipeNoop},
		{word: "no-more", help: "do not stop at each screenful (--More--)", run: pipeNoop},
	}
	if k != pipeConfig {
		return cs
	}
	rollback := &command{word: "rollback", help: "compare with an earlier configuration (\"rollback ?\" lists them)",
		args: []*argSpec{revisionArgRequired}, run: pipeNoop}
	compare := &command{word: "compare", help: "show the changes instead: from revision N (rollback N) to this one",
		sub: []*command{rollback}}
	if candidate {
		compare.help = "show the changes from the committed configuration (or revision N) to the candidate"
		compare.run = pipeNoop
	}
	return append(cs[:1], append([]*command{compare,
		{word: "display", help: "how to show the configuration", sub: []*command{
			{word: "set", help: "as set commands (replayable; the saved file's format)", run: pipeNoop},
			{word: "tree", help: "as an indented tree of blocks (Junos style)", run: pipeNoop},
		}}}, cs[1:]...)...)
}

// revisionArgRequired is revisionArg that must be given.
var revisionArgRequired = func() *argSpec {
	a := *revisionArg
	a.optional = false
	return &a
}()

// markPipes sets which commands take pipes: every show command (the
// configuration ones take display and compare too), help, compare and
// configure mode's run.
func markPipes(operational, configure []*command) {
	var mark func(cs []*command, k pipeKind)
	mark = func(cs []*command, k pipeKind) {
		for _, c := range cs {
			if c.pipe == pipeNone {
				c.pipe = k
			}
			mark(c.sub, c.pipe)
		}
	}
	for _, c := range operational {
		switch c.word {
		case "show":
			for _, sub := range c.sub {
				if sub.word == "configuration" {
					mark([]*command{sub}, pipeConfig)
				}
			}
			mark(c.sub, pipeText)
		case "help":
			c.pipe = pipeText
		}
	}
	for _, c := range configure {
		switch c.word {
		case "show":
			c.pipe = pipeConfig
		case "compare", "help":
			mark([]*command{c}, pipeText)
		case "run":
			c.pipe = pipeRun
		}
	}
}

// pipeline is what the pipes of one command ask for.
type pipeline struct {
	stages  []stage
	noMore  bool
	display string // "", "set" or "tree"
	compare bool
	rev     int // compare with revision rev; -1: the committed configuration
}

type stage struct {
	word string // match, except, count
	re   *regexp.Regexp
	n    int
}

// splitPipes cuts a segment's words at each unquoted "|".
func splitPipes(toks []config.Token) (cmd []config.Token, stages [][]config.Token, at []int) {
	cut := -1
	for i, t := range toks {
		if t.Text == "|" && !t.Quoted {
			if cut < 0 {
				cmd = toks[:i]
			} else {
				stages = append(stages, toks[cut+1:i])
			}
			cut = i
			at = append(at, i)
		}
	}
	if cut < 0 {
		return toks, nil, nil
	}
	return cmd, append(stages, toks[cut+1:]), at
}

// pipeKindOf is the kind of a resolved command ("run X" takes X's).
func (s *session) pipeKindOf(c *call) pipeKind {
	if c.cmd == nil {
		return pipeNone
	}
	if c.cmd.pipe != pipeRun {
		return c.cmd.pipe
	}
	if c.tailAt >= len(c.toks) {
		return pipeNone
	}
	sub, err := s.resolve(s.sh.operational, c.toks[c.tailAt:])
	if err != nil {
		return pipeNone
	}
	return sub.cmd.pipe
}

// parsePipeline reads the stages after the command; errors name the word.
func (s *session) parsePipeline(k pipeKind, candidate bool, stages [][]config.Token, at []int) (*pipeline, *lineError) {
	pl := &pipeline{rev: -1}
	if len(stages) == 0 {
		return pl, nil
	}
	if k == pipeNone {
		return nil, &lineError{at[0], `"|" cannot follow this command; pipes filter the output of show commands (and of compare and help)`}
	}
	if len(stages) > maxPipes {
		return nil, &lineError{at[maxPipes], fmt.Sprintf("at most %d pipes are allowed on one command", maxPipes)}
	}
	cmds := pipeCommands(k, candidate)
	for i, st := range stages {
		if len(st) == 0 {
			return nil, &lineError{at[i] + 1, fmt.Sprintf(`incomplete command; give what "|" does: %s`, oneOfWords(cmdWords(cmds)))}
		}
		c, lerr := s.resolve(cmds, st)
		if lerr != nil {
			lerr.Index += at[i] + 1
			return nil, lerr
		}
		switch w := c.cmd.word; w {
		case "match", "except":
			pl.stages = append(pl.stages, stage{word: w, re: regexp.MustCompile(c.args[0])})
		case "count":
			pl.stages = append(pl.stages, stage{word: w})
		case "no-more":
			pl.noMore = true
		case "set", "tree":
			pl.display = w
		case "compare":
			pl.compare = true
		case "rollback":
			pl.compare = true
			pl.rev, _ = strconv.Atoi(c.args[0])
		}
	}
	return pl, nil
}

// execPiped runs one command with its pipes and the pager.
func (s *session) execPiped(top []*command, toks []config.Token) error {
	cmdToks, stages, at := splitPipes(toks)
	if len(cmdToks) == 0 {
		lerr := &lineError{0, `"|" must follow a command, e.g. show log | match dhcp`}
		s.report(lerr, toks)
		return lerr
	}
	c, lerr := s.resolve(top, cmdToks)
	if lerr != nil {
		s.report(lerr, toks)
		return lerr
	}
	k := s.pipeKindOf(c)
	pl, lerr := s.parsePipeline(k, s.configuring && c.cmd.pipe != pipeRun, stages, at)
	if lerr != nil {
		s.report(lerr, toks)
		return lerr
	}
	paged := k != pipeNone && !pl.noMore && s.interactive && s.term.Pager
	if !paged && len(stages) == 0 {
		return s.invoke(c)
	}
	orig := s.out
	f := &outFilter{s: s, dst: orig, stages: pl.stages, paged: paged}
	s.out = &termOut{w: f}
	s.pipe = pl
	err := c.cmd.run(s, c)
	f.close()
	s.out, s.pipe = orig, nil
	if err == nil {
		return nil
	}
	if errors.As(err, &reported{}) {
		return err
	}
	s.report(err, c.toks)
	return reported{err}
}

// outFilter passes a command's output line by line through the stages,
// then to the terminal, through the pager when paged. It never fails:
// when the user quits the pager, the rest of the output is dropped.
type outFilter struct {
	s       *session
	dst     *termOut
	stages  []stage
	partial []byte
	paged   bool
	used    int // rows shown since the last --More--
	quit    bool
}

func (f *outFilter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.partial = append(f.partial, p...)
			if len(f.partial) >= maxLineBuf {
				f.feed(0, string(f.partial))
				f.partial = f.partial[:0]
			}
			break
		}
		f.partial = append(f.partial, p[:i]...)
		f.feed(0, string(bytes.TrimSuffix(f.partial, []byte("\r"))))
		f.partial = f.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// close ends the output: a last unterminated line, then the counts.
func (f *outFilter) close() {
	if len(f.partial) > 0 {
		f.feed(0, string(f.partial))
		f.partial = nil
	}
	for i := range f.stages {
		if f.stages[i].word == "count" {
			f.feed(i+1, fmt.Sprintf("Count: %d lines", f.stages[i].n))
		}
	}
}

// feed passes line through the stages from the i-th on.
func (f *outFilter) feed(i int, line string) {
	for ; i < len(f.stages); i++ {
		st := &f.stages[i]
		switch st.word {
		case "match":
			if !st.re.MatchString(line) {
				return
			}
		case "except":
			if st.re.MatchString(line) {
				return
			}
		case "count":
			st.n++
			return
		}
	}
	f.emit(line)
}

// rows is the terminal's height (24 when unknown).
func (s *session) rows() int {
	h := s.term.Height
	if s.term.Size != nil {
		_, h = s.term.Size()
	}
	if h <= 0 {
		return defaultRows
	}
	return max(h, 3)
}

func (f *outFilter) emit(line string) {
	if f.quit {
		return
	}
	if f.paged {
		page := f.s.rows() - 1
		if f.used >= page {
			if !f.more(page) {
				f.quit = true
				return
			}
		}
		cols := f.s.cols()
		f.used += max(1, (utf8.RuneCountInString(line)+cols-1)/cols)
	}
	f.dst.Write([]byte(line + "\n"))
}

// more shows --More-- and waits for a key: space shows the next page,
// Enter or Down the next line, q (or Ctrl-C, Ctrl-D) stops. It reports
// whether to go on.
func (f *outFilter) more(page int) bool {
	prompt := "--More-- (space: next page, Enter: next line, q: quit)"
	if f.s.cols() <= len(prompt) {
		prompt = "--More--"
	}
	f.dst.raw(prompt)
	for {
		b, note, err := f.s.next()
		if err != nil {
			f.dst.raw("\r\x1b[K")
			return false
		}
		if note != "" {
			f.dst.raw("\r\x1b[K")
			f.dst.Write([]byte(wrap(note, f.s.cols()-1, "") + "\n"))
			f.dst.raw(prompt)
			continue
		}
		k := f.s.dec.feed(b)
		switch {
		case k.kind == keyRune && k.r == ' ':
			f.used = 0
		case k.kind == keyEnter || k.kind == keyDown:
			f.used = page - 1
		case k.kind == keyRune && (k.r == 'q' || k.r == 'Q'), k.kind == keyInterrupt, k.kind == keyEOF:
			f.dst.raw("\r\x1b[K")
			return false
		default:
			continue
		}
		f.dst.raw("\r\x1b[K")
		return true
	}
}

// completePipe completes after a "|": the words allowed there, or nil
// when the words hold no "|".
func (s *session) completePipe(top []*command, words []string) (cs []config.Candidate, lerr *lineError, ok bool) {
	last := -1
	for i, w := range words[:len(words)-1] {
		if w == "|" {
			if last < 0 {
				// The command before the first "|" decides which pipes.
				toks := make([]config.Token, i)
				for j := range toks {
					toks[j] = config.Token{Text: words[j]}
				}
				c, err := s.resolve(top, toks)
				if err != nil {
					return nil, err, true
				}
				k := s.pipeKindOf(c)
				if k == pipeNone {
					return nil, &lineError{i, `"|" cannot follow this command; pipes filter the output of show commands (and of compare and help)`}, true
				}
				top = pipeCommands(k, s.configuring && c.cmd.pipe != pipeRun)
			}
			last = i
		}
	}
	if last < 0 {
		return nil, nil, false
	}
	cs, lerr = s.complete(top, words[last+1:])
	if lerr != nil {
		lerr.Index += last + 1
	}
	return cs, lerr, true
}

// pipeCandidate is "|" in the list of "?" where a command may end.
var pipeCandidate = config.Candidate{Word: "|", Help: "filter the output (match, except, count, no-more...)", Kind: config.Keyword}

// withPipe adds "|" before <Enter> to the completions of a show
// command's configuration path.
func withPipe(t tailKind, cs []config.Candidate) []config.Candidate {
	if t != tailCandidate && t != tailCommitted {
		return cs
	}
	for i, c := range cs {
		if c.Kind == config.End {
			return append(cs[:i:i], append([]config.Candidate{pipeCandidate}, cs[i:]...)...)
		}
	}
	return cs
}
