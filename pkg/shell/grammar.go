package shell

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
)

// The shell's own commands are a small tree (operational and configure
// mode), walked the same way for execution, "?" and Tab. Where a command
// takes a configuration path (set, delete, show), the rest of the line is
// handed to pkg/config, which owns that grammar.

// argSpec is a positional value.
type argSpec struct {
	ph       string // placeholder shown by "?", e.g. "<HOST>"
	help     string
	optional bool
	// choices, if set, lists the allowed values (unique prefixes
	// accepted); otherwise any word is accepted after check.
	choices func(s *session) []config.Candidate
	check   func(word string) error
}

// optSpec is an optional "keyword VALUE" clause; clauses may come in any
// order, each at most once.
type optSpec struct {
	word, help string
	arg        *argSpec // nil: a flag without value
	rest       bool     // the value is the rest of the line
	key        string   // the name its value is kept under, when not word ("-c" is "count")
}

func (o *optSpec) name() string {
	if o.key != "" {
		return o.key
	}
	return o.word
}

// tailKind says what the words after a command are.
type tailKind uint8

const (
	tailNone        tailKind = iota
	tailSet                  // a set command: config.Set on the candidate
	tailDelete               // a delete command: config.Delete on the candidate
	tailCandidate            // a configuration path in the candidate
	tailCommitted            // a configuration path in the committed configuration
	tailOperational          // an operational command (configure mode "run")
	tailEdit                 // a level of the configuration (configure mode "edit")
)

type command struct {
	word, help string
	sub        []*command
	args       []*argSpec
	opts       []*optSpec
	tail       tailKind
	run        func(s *session, c *call) error
	long       bool     // may run for long: Ctrl-C cancels it
	asks       bool     // reads an answer from the terminal
	pipe       pipeKind // which pipes its output takes (pipe.go)
}

// call is a resolved command line.
type call struct {
	cmd    *command
	toks   []config.Token // the segment's words, columns in the whole line
	args   []string       // positional values ("" for an omitted optional one)
	opts   map[string]string
	tail   []string // words after the command (tail)
	tailAt int      // index in toks of the first tail word
}

func (c *call) opt(word string) (string, bool) {
	v, ok := c.opts[word]
	return v, ok
}

// lineError is an error about one word of the line: a caret goes under it.
type lineError struct {
	Index int // word index in the segment; len(words) = after the last word
	Msg   string
}

func (e *lineError) Error() string { return e.Msg }

// walker resolves words against a command tree.
type walker struct {
	s      *session
	words  []string
	choice []*command // keywords allowed next (top level or node.sub)
	node   *command
	argi   int
	used   map[string]bool // clauses given, by key
	pend   *optSpec        // waiting for this clause's value
	c      *call
}

func newWalker(s *session, top []*command, words []string) *walker {
	return &walker{s: s, words: words, choice: top, used: map[string]bool{},
		c: &call{opts: map[string]string{}, tailAt: -1}}
}

// matchWord finds word among names: an exact match, or a unique prefix.
// It returns -1 if nothing matches, and the list of matches if several do.
func matchWord(word string, names []string) (int, []string) {
	for i, n := range names {
		if n == word {
			return i, nil
		}
	}
	idx := -1
	var hits []string
	if word != "" {
		for i, n := range names {
			if strings.HasPrefix(n, word) {
				idx = i
				hits = append(hits, n)
			}
		}
	}
	if len(hits) > 1 {
		return -1, hits
	}
	return idx, nil
}

func cmdWords(cs []*command) []string {
	var w []string
	for _, c := range cs {
		w = append(w, c.word)
	}
	return w
}

// step consumes words[i]. It returns done when the rest of the line is a
// tail (not walked here).
func (w *walker) step(i int) (done bool, err *lineError) {
	word := w.words[i]
	if w.choice != nil {
		idx, hits := matchWord(word, cmdWords(w.choice))
		if len(hits) > 1 {
			return false, &lineError{i, fmt.Sprintf("%q is ambiguous; it could be %s", word, orWords(hits))}
		}
		if idx >= 0 {
			w.node = w.choice[idx]
			w.c.cmd = w.node
			w.choice = w.node.sub
			return false, nil
		}
		if w.node == nil || (w.node.args == nil && w.node.opts == nil && w.node.tail == tailNone) {
			return false, &lineError{i, w.unknown(word)}
		}
		w.choice = nil // a value or clause follows; no more keywords of the tree
	}
	n := w.node
	if w.pend != nil {
		o := w.pend
		w.pend = nil
		if o.rest {
			w.c.opts[o.name()] = config.JoinWords(w.words[i:])
			return true, nil
		}
		v, err := w.value(o.arg, word, i)
		if err != nil {
			return false, err
		}
		w.c.opts[o.name()] = v
		return false, nil
	}
	if w.argi < len(n.args) && !w.isDashOpt(word) {
		a := n.args[w.argi]
		// An optional last value may be left out before a clause.
		if !(a.optional && w.isOpt(word)) {
			v, err := w.value(a, word, i)
			if err != nil {
				return false, err
			}
			w.c.args = append(w.c.args, v)
			w.argi++
			return false, nil
		}
		w.c.args = append(w.c.args, "")
		w.argi++
	}
	if len(n.opts) > 0 {
		var names []string
		var free []*optSpec
		for _, o := range n.opts {
			if !w.used[o.name()] {
				names = append(names, o.word)
				free = append(free, o)
			}
		}
		idx, hits := matchWord(word, names)
		if len(hits) > 1 {
			return false, &lineError{i, fmt.Sprintf("%q is ambiguous; it could be %s", word, orWords(hits))}
		}
		if idx >= 0 {
			o := free[idx]
			w.used[o.name()] = true
			if o.arg == nil && !o.rest {
				w.c.opts[o.name()] = ""
			} else {
				w.pend = o
			}
			return false, nil
		}
		for _, o := range n.opts {
			if w.used[o.name()] && strings.HasPrefix(o.word, word) {
				return false, &lineError{i, fmt.Sprintf("%q is already given; each clause may appear once", o.word)}
			}
		}
	}
	if n.tail != tailNone {
		w.c.tailAt = i
		w.c.tail = w.words[i:]
		return true, nil
	}
	return false, &lineError{i, w.unknown(word)}
}

// isDashOpt reports whether word is exactly a clause written as a flag
// ("-c"): such clauses may come before the positional values, as in
// "ping -c 3 host".
func (w *walker) isDashOpt(word string) bool {
	if !strings.HasPrefix(word, "-") {
		return false
	}
	for _, o := range w.node.opts {
		if o.word == word && !w.used[o.name()] {
			return true
		}
	}
	return false
}

func (w *walker) isOpt(word string) bool {
	for _, o := range w.node.opts {
		if !w.used[o.name()] && strings.HasPrefix(o.word, word) && word != "" {
			return true
		}
	}
	return false
}

// value checks a positional value or a clause's value.
func (w *walker) value(a *argSpec, word string, i int) (string, *lineError) {
	if a.choices != nil {
		cs := a.choices(w.s)
		var names []string
		for _, c := range cs {
			if c.Kind == config.Value || c.Kind == config.Keyword {
				names = append(names, c.Word)
			}
		}
		idx, hits := matchWord(word, names)
		if len(hits) > 1 {
			return "", &lineError{i, fmt.Sprintf("%q is ambiguous; it could be %s", word, orWords(hits))}
		}
		if idx < 0 {
			return "", &lineError{i, fmt.Sprintf("%q is not valid here; use %s", word, oneOfWords(names))}
		}
		return names[idx], nil
	}
	if a.check != nil {
		if err := a.check(word); err != nil {
			return "", &lineError{i, err.Error()}
		}
	}
	return word, nil
}

// unknown says that word is not allowed where the walker stands.
func (w *walker) unknown(word string) string {
	alt := w.allowed()
	if len(alt) == 0 {
		return fmt.Sprintf("%q is not valid here; the command ends before it", word)
	}
	return fmt.Sprintf("%q is not valid here; use %s", word, oneOfWords(alt))
}

// allowed lists the words (or placeholders) allowed next, for messages.
func (w *walker) allowed() []string {
	var alt []string
	for _, c := range w.expect("") {
		if c.Kind != config.End {
			alt = append(alt, c.Word)
		}
	}
	return alt
}

// finish checks that the line may end where the walker stands.
func (w *walker) finish() *lineError {
	n := len(w.words)
	if w.node == nil {
		return nil
	}
	if w.pend != nil {
		if w.pend.rest {
			return &lineError{n, fmt.Sprintf("incomplete command; give the %s after %q", strings.Trim(w.pend.arg.ph, "<>"), w.pend.word)}
		}
		return &lineError{n, fmt.Sprintf("incomplete command; give %s (%s) after %q", w.pend.arg.ph, w.pend.arg.help, w.pend.word)}
	}
	for w.argi < len(w.node.args) && w.node.args[w.argi].optional {
		w.c.args = append(w.c.args, "")
		w.argi++
	}
	if w.argi < len(w.node.args) {
		a := w.node.args[w.argi]
		return &lineError{n, fmt.Sprintf("incomplete command; give %s (%s)", a.ph, a.help)}
	}
	if w.node.run == nil {
		return &lineError{n, fmt.Sprintf("incomplete command; give %s", oneOfWords(w.allowed()))}
	}
	return nil
}

// expect lists the candidates for the next word, starting with prefix.
func (w *walker) expect(prefix string) []config.Candidate {
	var out []config.Candidate
	add := func(word, help string, kind config.CandidateKind) {
		if kind == config.Placeholder || kind == config.End || strings.HasPrefix(word, prefix) {
			out = append(out, config.Candidate{Word: word, Help: help, Kind: kind})
		}
	}
	argValues := func(a *argSpec) {
		if a.choices != nil {
			for _, c := range a.choices(w.s) {
				add(c.Word, c.Help, c.Kind)
			}
			return
		}
		add(a.ph, a.help, config.Placeholder)
	}
	for _, c := range w.choice {
		add(c.word, c.help, config.Keyword)
	}
	n := w.node
	if n == nil {
		return out
	}
	if w.pend != nil {
		argValues(w.pend.arg)
		return out
	}
	canEnd := n.run != nil && n.tail != tailEdit // edit needs a level
	if w.argi < len(n.args) {
		a := n.args[w.argi]
		argValues(a)
		if !a.optional {
			for _, o := range n.opts {
				if strings.HasPrefix(o.word, "-") && !w.used[o.name()] {
					add(o.word, o.help, config.Keyword)
				}
			}
			return out
		}
		for _, b := range n.args[w.argi:] {
			canEnd = canEnd && b.optional
		}
	}
	for _, o := range n.opts {
		if !w.used[o.name()] {
			add(o.word, o.help, config.Keyword)
		}
	}
	if n.tail != tailNone && w.argi >= len(n.args) {
		for _, c := range w.s.tailCandidates(n.tail, []string{prefix}) {
			if c.Kind != config.End {
				out = append(out, c)
			}
		}
	}
	if canEnd && n.pipe != pipeNone && strings.HasPrefix("|", prefix) {
		out = append(out, pipeCandidate)
	}
	if canEnd && prefix == "" {
		out = append(out, config.Candidate{Word: "<Enter>", Help: "run the command", Kind: config.End})
	}
	return out
}

// resolve walks a whole segment: the resolved call, or an error.
func (s *session) resolve(top []*command, toks []config.Token) (*call, *lineError) {
	words := tokWords(toks)
	w := newWalker(s, top, words)
	w.c.toks = toks
	for i := range words {
		done, err := w.step(i)
		if err != nil {
			return nil, err
		}
		if done {
			return w.c, nil
		}
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if w.c.tailAt < 0 {
		w.c.tailAt = len(toks) // an empty tail starts after the last word
	}
	return w.c, nil
}

// complete lists the candidates for the last word of words (the word
// being typed, "" after a space), or the error of an earlier word.
func (s *session) complete(top []*command, words []string) ([]config.Candidate, *lineError) {
	if len(words) == 0 {
		words = []string{""}
	}
	if cs, lerr, ok := s.completePipe(top, words); ok {
		return cs, lerr
	}
	last := len(words) - 1
	w := newWalker(s, top, words[:last])
	for i := 0; i < last; i++ {
		done, err := w.step(i)
		if err != nil {
			return nil, err
		}
		if done {
			if w.c.tailAt < 0 { // a "rest" clause: free text
				return []config.Candidate{{Word: "<TEXT>", Help: "free text up to the end of the line", Kind: config.Placeholder}}, nil
			}
			return s.tailComplete(w.node.tail, words[w.c.tailAt:], w.c.tailAt)
		}
	}
	if w.pend != nil && w.pend.rest {
		return []config.Candidate{{Word: w.pend.arg.ph, Help: w.pend.arg.help, Kind: config.Placeholder}}, nil
	}
	return w.expect(words[last]), nil
}

// tailComplete completes words of a tail that starts at word index at.
func (s *session) tailComplete(t tailKind, words []string, at int) ([]config.Candidate, *lineError) {
	if t == tailOperational {
		cs, err := s.complete(s.sh.operational, words)
		if err != nil {
			err.Index += at
		}
		return cs, err
	}
	cs := s.tailCandidates(t, words)
	if cs == nil && len(words) > 1 {
		// An earlier word is wrong: say which.
		var err error
		base := s.tailBase(t)
		if t == tailSet || t == tailEdit {
			_, err = config.Expand(append(base, words[:len(words)-1]...))
		} else {
			_, err = config.ExpandDelete(append(base, words[:len(words)-1]...))
		}
		if ce, ok := err.(*config.Error); ok {
			return nil, &lineError{max(ce.Index-len(base), 0) + at, ce.Msg}
		}
	}
	return withPipe(t, cs), nil
}

// tailCandidates asks pkg/config what may come next in a tail.
func (s *session) tailCandidates(t tailKind, words []string) []config.Candidate {
	switch t {
	case tailSet:
		return config.CompleteWith(s.cand, config.ModeSet, append(s.tailBase(t), words...))
	case tailDelete, tailCandidate:
		return config.CompleteWith(s.cand, config.ModeDelete, append(s.tailBase(t), words...))
	case tailEdit:
		return config.CompleteEdit(s.cand, append(s.tailBase(t), words...))
	case tailCommitted:
		return config.CompleteWith(s.sh.r.Config(), config.ModeDelete, words)
	case tailOperational:
		cs, _ := s.complete(s.sh.operational, words)
		return cs
	}
	return nil
}

func tokWords(toks []config.Token) []string {
	w := make([]string, len(toks))
	for i, t := range toks {
		w[i] = t.Text
	}
	return w
}

func orWords(w []string) string {
	if len(w) <= 1 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

func oneOfWords(w []string) string {
	if len(w) == 1 {
		return w[0]
	}
	return "one of: " + strings.Join(w, ", ")
}

// segment is one command of a line; commands are separated by ";".
type segment struct {
	toks []config.Token // columns counted in the whole line
}

// splitLine splits a line into ";"-separated commands and their words.
// A ";" inside double quotes or after "#" (a comment) does not separate.
func splitLine(line string) ([]segment, error) {
	var segs []segment
	start, startCol := 0, 0
	col := 0
	inQ, comment := false, false
	flush := func(end int) error {
		toks, err := config.Tokenize(line[start:end])
		if err != nil {
			if ce, ok := err.(*config.Error); ok {
				ce2 := *ce
				ce2.Column += startCol
				return &ce2
			}
			return err
		}
		for i := range toks {
			toks[i].Col += startCol
			toks[i].End += startCol
		}
		segs = append(segs, segment{toks: toks})
		return nil
	}
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case comment:
		case inQ && r == '\\' && i+1 < len(line):
			i += size
			col++
			_, size = utf8.DecodeRuneInString(line[i:])
		case r == '"':
			inQ = !inQ
		case !inQ && r == '#':
			comment = true
		case !inQ && r == ';':
			if err := flush(i); err != nil {
				return nil, err
			}
			start, startCol = i+size, col+1
		}
		i += size
		col++
	}
	if err := flush(len(line)); err != nil {
		return nil, err
	}
	return segs, nil
}
