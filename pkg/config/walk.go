package config

import (
	"fmt"
	"strings"
)

// Mode selects the verb a word list is read for.
type Mode int

// Modes.
const (
	ModeSet    Mode = iota // set PATH VALUE...
	ModeDelete             // delete PATH [VALUE]
)

// CandidateKind tells the shell what a Candidate is.
type CandidateKind int

// Candidate kinds.
const (
	// Keyword is a literal keyword: Tab may insert Word.
	Keyword CandidateKind = iota
	// Value is a literal value (enable, tcp, an existing entry name): Tab
	// may insert Word.
	Value
	// Placeholder describes a value the user must type (Word is e.g.
	// "<A.B.C.D>"); never insert it.
	Placeholder
	// End means the command may end here (Word is "<Enter>").
	End
)

// Candidate is one possible next word, for "?" help and Tab completion.
type Candidate struct {
	Word string
	Help string
	Kind CandidateKind
}

// expect is what the walker accepts at one position.
type expect struct {
	kw       []*node // keywords
	used     []*node // keywords already given on this line (for messages)
	arg      *vtype  // a value: its choices and/or a free-form value
	tag      *node   // a NAME of this tag node
	existing *node   // completion: offer existing names/values of this tag/multi
	canEnd   bool
}

type match struct {
	kw   *node
	val  any
	word string
}

// action is one assignment found by a set walk.
type action struct {
	n    *node
	tag  string
	vals []any
	at   int // word index of the first value, for errors
}

// delTarget is what a delete walk addresses.
type delTarget struct {
	n      *node  // node whose subtree is reset / the tag / the multi
	tagN   *node  // the tag node when n is a clause
	tag    string // entry name
	hasTag bool
	tagAt  int
	val    any // multi: the value to remove
	hasVal bool
	valAt  int
}

type walker struct {
	mode    Mode
	words   []string
	i       int
	lenient bool // do not parse free values (Expand, Complete)

	out   []string // words with keywords and choices expanded
	final *expect  // what was expected where the words ran out
	err   *Error

	acts   []action
	target *delTarget
}

func (w *walker) fail(i int, format string, a ...any) {
	if w.err == nil {
		w.err = &Error{Index: i, Msg: fmt.Sprintf(format, a...)}
	}
}

func (w *walker) prev() string {
	if w.i == 0 {
		return ""
	}
	return w.out[w.i-1]
}

// take consumes the next word as e allows. ok is false when the words ran
// out (w.final records e; a missing required word is an error unless
// lenient) or on error.
func (w *walker) take(e *expect) (m match, ok bool) {
	if w.i >= len(w.words) {
		w.final = e
		if !e.canEnd && !w.lenient {
			w.fail(w.i, "%s", missing(e, w.prev()))
		}
		return m, false
	}
	word := w.words[w.i]
	idx := w.i
	accept := func(m match, canon string) (match, bool) {
		w.out = append(w.out, canon)
		w.i++
		m.word = canon
		return m, true
	}
	var choices []choice
	if e.arg != nil {
		choices = e.arg.choices
	}
	for _, n := range e.kw {
		if n.word == word {
			return accept(match{kw: n}, n.word)
		}
	}
	for _, ch := range choices {
		if ch.word == word {
			return accept(match{val: ch.val}, ch.word)
		}
	}
	if word != "" {
		var hits []string
		var hit match
		for _, n := range e.kw {
			if strings.HasPrefix(n.word, word) {
				hits, hit = append(hits, n.word), match{kw: n}
			}
		}
		for _, ch := range choices {
			if strings.HasPrefix(ch.word, word) {
				hits, hit = append(hits, ch.word), match{val: ch.val}
			}
		}
		if len(hits) == 1 {
			return accept(hit, hits[0])
		}
		if len(hits) > 1 {
			w.fail(idx, "%q is ambiguous; it could be %s", word, orList(hits))
			return m, false
		}
	}
	if e.arg != nil && e.arg.parse != nil {
		if w.lenient {
			return accept(match{}, word)
		}
		v, err := e.arg.parse(word)
		if err != nil {
			w.fail(idx, "%s", err.Error())
			return m, false
		}
		return accept(match{val: v}, word)
	}
	if e.tag != nil {
		if !w.lenient && w.mode == ModeSet {
			if _, err := e.tag.name.parse(word); err != nil {
				w.fail(idx, "%s", err.Error())
				return m, false
			}
		}
		return accept(match{}, word)
	}
	for _, n := range e.used {
		if word != "" && strings.HasPrefix(n.word, word) {
			w.fail(idx, "%q is already given in this command; each part may appear once", n.word)
			return m, false
		}
	}
	w.fail(idx, "%s", unknown(word, e, w.prev()))
	return m, false
}

func alternatives(e *expect) []string {
	var alt []string
	for _, n := range e.kw {
		alt = append(alt, n.word)
	}
	if e.arg != nil {
		for _, ch := range e.arg.choices {
			alt = append(alt, ch.word)
		}
		if e.arg.parse != nil {
			alt = append(alt, e.arg.ph)
		}
	}
	if e.tag != nil {
		alt = append(alt, e.tag.name.ph)
	}
	return alt
}

func missing(e *expect, prev string) string {
	alt := alternatives(e)
	where := "incomplete command"
	if prev != "" {
		where = fmt.Sprintf("incomplete command after %q", prev)
	}
	if len(alt) == 1 && e.arg != nil && e.arg.parse != nil {
		return fmt.Sprintf("%s; give %s (%s)", where, alt[0], e.arg.help)
	}
	if len(alt) == 1 && e.tag != nil {
		return fmt.Sprintf("%s; give %s (%s)", where, alt[0], e.tag.name.help)
	}
	return fmt.Sprintf("%s; give %s", where, oneOf(alt))
}

func oneOf(alt []string) string {
	if len(alt) == 1 {
		return alt[0]
	}
	return "one of: " + strings.Join(alt, ", ")
}

func unknown(word string, e *expect, prev string) string {
	alt := alternatives(e)
	if len(alt) == 0 {
		return fmt.Sprintf("unexpected %q; the command is complete after %q", word, prev)
	}
	if e.canEnd {
		return fmt.Sprintf("%q is not valid here; use %s, or end the command", word, oneOf(alt))
	}
	return fmt.Sprintf("%q is not valid here; use %s", word, oneOf(alt))
}

// values reads one value for each of args.
func (w *walker) values(args []*vtype) (vals []any, at int, ok bool) {
	at = w.i
	for _, a := range args {
		m, ok := w.take(&expect{arg: a})
		if !ok {
			return nil, at, false
		}
		vals = append(vals, m.val)
	}
	return vals, at, true
}

func (w *walker) end() {
	w.take(&expect{canEnd: true})
}

// walkSet reads a set command.
func (w *walker) walkSet() {
	n := schema
	for {
		switch n.kind {
		case kContainer:
			m, ok := w.take(&expect{kw: n.children})
			if !ok {
				return
			}
			n = m.kw
		case kLeaf:
			at := w.i
			m, ok := w.take(&expect{kw: n.children, arg: n.args[0]})
			if !ok {
				return
			}
			if m.kw != nil {
				n = m.kw
				continue
			}
			rest, _, ok := w.values(n.args[1:])
			if !ok {
				return
			}
			w.acts = append(w.acts, action{n: n, vals: append([]any{m.val}, rest...), at: at})
			w.end()
			return
		case kMulti:
			vals, at, ok := w.values(n.args)
			if !ok {
				return
			}
			w.acts = append(w.acts, action{n: n, vals: vals, at: at})
			w.end()
			return
		case kTag:
			m, ok := w.take(&expect{tag: n, existing: n})
			if !ok {
				return
			}
			name := m.word
			if n.args != nil {
				vals, at, ok := w.values(n.args)
				if !ok {
					return
				}
				w.acts = append(w.acts, action{n: n, tag: name, vals: vals, at: at})
				w.end()
				return
			}
			w.clauses(n, name)
			return
		}
	}
}

// clauses reads the clauses of one tag entry: each at most once, in any
// order; a clause's "then" clauses may follow right after its values.
func (w *walker) clauses(t *node, name string) {
	w.acts = append(w.acts, action{n: t, tag: name, at: w.i - 1}) // at: the NAME
	var used, follow []*node
	for count := 0; ; count++ {
		kw := append([]*node(nil), follow...)
		for _, c := range t.children {
			shadowed := false
			for _, f := range follow {
				shadowed = shadowed || f.word == c.word
			}
			if !shadowed && !contains(used, c) {
				kw = append(kw, c)
			}
		}
		m, ok := w.take(&expect{kw: kw, used: used, canEnd: count > 0})
		if !ok {
			return
		}
		c := m.kw
		vals, at, ok := w.values(c.args)
		if !ok {
			return
		}
		w.acts = append(w.acts, action{n: c, tag: name, vals: vals, at: at})
		used = append(used, c)
		follow = nil
		for _, f := range c.then {
			if !contains(used, f) {
				follow = append(follow, f)
			}
		}
	}
}

func contains(ns []*node, n *node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// walkDelete reads a delete command: a path, possibly ending early.
func (w *walker) walkDelete() {
	m, ok := w.take(&expect{kw: schema.children})
	if !ok {
		return
	}
	n := m.kw
	done := func(t delTarget) {
		if w.err == nil {
			w.target = &t
		}
	}
	for {
		switch n.kind {
		case kContainer, kLeaf:
			m, ok := w.take(&expect{kw: n.children, canEnd: true})
			if !ok {
				done(delTarget{n: n})
				return
			}
			n = m.kw
		case kMulti:
			at := w.i
			m, ok := w.take(&expect{arg: n.args[0], existing: n, canEnd: true})
			if !ok {
				done(delTarget{n: n})
				return
			}
			w.end()
			done(delTarget{n: n, val: m.val, hasVal: true, valAt: at})
			return
		case kTag:
			at := w.i
			m, ok := w.take(&expect{tag: n, existing: n, canEnd: true})
			if !ok {
				done(delTarget{n: n})
				return
			}
			entry := delTarget{n: n, tag: m.word, hasTag: true, tagAt: at}
			if n.args != nil {
				w.end()
				done(entry)
				return
			}
			m, ok = w.take(&expect{kw: n.children, canEnd: true})
			if !ok {
				done(entry)
				return
			}
			c := m.kw
			if m, ok = w.take(&expect{kw: c.then, canEnd: true}); ok {
				c = m.kw
				w.end()
			}
			done(delTarget{n: c, tagN: n, tag: entry.tag, hasTag: true, tagAt: at})
			return
		}
	}
}

func walk(mode Mode, words []string, lenient bool) *walker {
	w := &walker{mode: mode, words: words, lenient: lenient}
	if mode == ModeDelete {
		w.walkDelete()
	} else {
		w.walkSet()
	}
	return w
}

// Expand resolves unique prefixes of keywords and literal values in a set
// command ("se nat hair e" → "set nat hairpin enable" without the verb) and
// returns the full words; free values are returned unchanged and are not
// checked (Set checks them). An unknown or ambiguous word is an *Error
// whose Index names the word and whose message lists what is allowed.
func Expand(words []string) ([]string, error) { return expand(ModeSet, words) }

// ExpandDelete is Expand for a delete command.
func ExpandDelete(words []string) ([]string, error) { return expand(ModeDelete, words) }

func expand(mode Mode, words []string) ([]string, error) {
	w := walk(mode, words, true)
	if w.err != nil {
		return nil, w.err
	}
	return w.out, nil
}

// Complete lists the possible next words of a set command, for "?" and
// Tab. words are the words after "set"; the last one is the word being
// typed (use "" after a space). Only candidates starting with that word
// are returned, except placeholders, which always describe the position.
// It returns nil if an earlier word is invalid.
func Complete(words []string) []Candidate { return CompleteWith(nil, ModeSet, words) }

// CompleteWith is Complete for either verb; with c non-nil it also offers
// the names of existing list entries (and, for delete, existing values).
func CompleteWith(c *Config, mode Mode, words []string) []Candidate {
	if len(words) == 0 {
		words = []string{""}
	}
	prefix := words[len(words)-1]
	w := walk(mode, words[:len(words)-1], true)
	if w.err != nil || w.final == nil {
		return nil
	}
	e := w.final
	var out []Candidate
	add := func(word, help string, kind CandidateKind) {
		if kind == Placeholder || strings.HasPrefix(word, prefix) {
			out = append(out, Candidate{Word: word, Help: help, Kind: kind})
		}
	}
	for _, n := range e.kw {
		add(n.word, n.help, Keyword)
	}
	if e.arg != nil {
		for _, ch := range e.arg.choices {
			add(ch.word, ch.help, Value)
		}
	}
	if c != nil && e.existing != nil {
		switch e.existing.kind {
		case kTag:
			for _, name := range e.existing.list.names(c) {
				add(name, "existing "+e.existing.word+" entry", Value)
			}
		case kMulti:
			for _, v := range e.existing.multi.items(c) {
				add(e.existing.args[0].text(v), "configured "+e.existing.word+" value", Value)
			}
		}
	}
	if e.arg != nil && e.arg.parse != nil {
		add(e.arg.ph, e.arg.help, Placeholder)
	}
	if e.tag != nil && mode == ModeSet {
		add(e.tag.name.ph, e.tag.name.help, Placeholder)
	}
	if e.tag != nil && mode == ModeDelete && c == nil {
		add(e.tag.name.ph, "name of the entry to delete", Placeholder)
	}
	if e.canEnd && prefix == "" {
		out = append(out, Candidate{Word: "<Enter>", Help: "end the command here", Kind: End})
	}
	return out
}

// Set applies one set command (the words after "set") to c. Unique
// prefixes of keywords and literal values are accepted. On error c is
// unchanged and the error is an *Error naming the offending word.
func (c *Config) Set(words []string) error {
	n := c.Clone()
	if err := n.set(words); err != nil {
		return err
	}
	*c = *n
	return nil
}

// set applies a set command in place; on error c may be partly changed.
func (c *Config) set(words []string) *Error {
	w := walk(ModeSet, words, false)
	if w.err != nil {
		return w.err
	}
	for _, a := range w.acts {
		switch a.n.kind {
		case kLeaf:
			a.n.leaf.set(c, a.tag, a.vals)
		case kMulti:
			if a.n.multi.add(c, a.vals[0]) && len(a.n.multi.items(c)) > a.n.max {
				return &Error{Index: a.at, Msg: fmt.Sprintf("at most %d %s servers are allowed; delete one first", a.n.max, a.n.word)}
			}
		case kTag:
			if a.n.max > 0 && !a.n.list.has(c, a.tag) && len(a.n.list.names(c)) >= a.n.max {
				return &Error{Index: a.at, Msg: fmt.Sprintf("there are already %d %s entries, the most allowed; delete one first or reuse its name", a.n.max, a.n.word)}
			}
			a.n.list.ensure(c, a.tag)
			if a.n.leaf != nil {
				a.n.leaf.set(c, a.tag, a.vals)
			}
		}
	}
	return nil
}

// Delete applies one delete command (the words after "delete") to c: a
// value, a list entry, one clause of an entry, or everything under a
// keyword returns to its default. Deleting a value that is already at its
// default is not an error; naming an entry or value that does not exist
// is. On error c is unchanged.
func (c *Config) Delete(words []string) error {
	w := walk(ModeDelete, words, false)
	if w.err != nil {
		return w.err
	}
	n := c.Clone()
	t := w.target
	switch {
	case t.n.kind == kMulti && t.hasVal:
		if !t.n.multi.remove(n, t.val) {
			return &Error{Index: t.valAt, Msg: fmt.Sprintf("%s is not configured; configured: %s",
				t.n.args[0].text(t.val), listOrNone(formatAll(t.n, t.n.multi.items(c))))}
		}
	case t.hasTag:
		list := t.n
		if t.tagN != nil {
			list = t.tagN
		}
		if !list.list.has(n, t.tag) {
			return &Error{Index: t.tagAt, Msg: fmt.Sprintf("there is no %s named %q; existing: %s",
				list.word, t.tag, listOrNone(list.list.names(c)))}
		}
		if t.tagN == nil {
			list.list.drop(n, t.tag)
			break
		}
		resetTree(n, t.n, t.tag)
		if entryEmpty(n, list, t.tag) {
			list.list.drop(n, t.tag)
		}
	default:
		resetTree(n, t.n, "")
	}
	*c = *n
	return nil
}

func formatAll(n *node, vals []any) []string {
	var s []string
	for _, v := range vals {
		s = append(s, n.args[0].text(v))
	}
	return s
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// resetTree returns everything under n to its default.
func resetTree(c *Config, n *node, tag string) {
	switch n.kind {
	case kLeaf:
		n.leaf.reset(c, tag)
		for _, t := range n.then {
			resetTree(c, t, tag)
		}
	case kMulti:
		n.multi.clear(c)
		return
	case kTag:
		n.list.clear(c)
		return
	}
	for _, ch := range n.children {
		resetTree(c, ch, tag)
	}
}

// entryEmpty reports whether entry name of tag t has no clause set.
func entryEmpty(c *Config, t *node, name string) bool {
	for _, cl := range t.children {
		if cl.leaf.get(c, name) != nil {
			return false
		}
		for _, f := range cl.then {
			if f.leaf.get(c, name) != nil {
				return false
			}
		}
	}
	return true
}
