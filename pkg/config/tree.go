package config

import (
	"fmt"
	"slices"
	"strings"
)

// The braces form ("show configuration", Junos style) shows the same
// statements as Commands, nested by the schema's containers and list
// entries:
//
//	nat {
//	    hairpin disable;
//	    port-forward web {
//	        protocol tcp;
//	        port 8080;
//	        to 192.168.1.10 port 80;
//	    }
//	}
//
// A leaf's alternatives stay on the leaf's line ("ipsec esp-mode
// single-client;"), a repeatable value gives one line per value, and a
// value-form entry is one line ("authorized-key laptop "ssh-ed25519 ...";").
// ApplyText reads this form back.

// tItem is one statement or block of the braces form.
type tItem struct {
	words []string // a block's head words, or the statement's words
	text  string   // the statement as written (values quoted as in Commands)
	block []tItem  // non-nil for a block
}

// treeItems builds the braces form of c.
func (c *Config) treeItems() []tItem {
	var out []tItem
	for _, n := range schema.children {
		out = append(out, c.treeNode(n, nil)...)
	}
	return out
}

// treeNode returns the items of n; lead are words that precede n's word on
// the same line (a leaf's alternatives).
func (c *Config) treeNode(n *node, lead []string) []tItem {
	stmt := func(words []string, vals string) tItem {
		text := strings.Join(words, " ")
		if vals != "" {
			text += " " + vals
		}
		return tItem{words: words, text: text}
	}
	here := append(slices.Clone(lead), n.word)
	switch n.kind {
	case kContainer:
		var items []tItem
		for _, ch := range n.children {
			items = append(items, c.treeNode(ch, nil)...)
		}
		if len(items) == 0 {
			return nil
		}
		return []tItem{{words: here, text: n.word, block: items}}
	case kLeaf:
		var out []tItem
		if v := n.leaf.get(c, ""); v != nil {
			out = append(out, stmt(here, argText(n, v)))
		}
		for _, ch := range n.children {
			out = append(out, c.treeNode(ch, here)...)
		}
		return out
	case kMulti:
		var out []tItem
		for _, v := range n.multi.items(c) {
			out = append(out, stmt(here, argText(n, []any{v})))
		}
		return out
	case kTag:
		var out []tItem
		for _, name := range n.list.names(c) {
			head := append(slices.Clone(here), name)
			if n.leaf != nil {
				if v := n.leaf.get(c, name); v != nil {
					out = append(out, stmt(head, argText(n, v)))
				}
				continue
			}
			var items []tItem
			for _, cl := range n.children {
				if v := cl.leaf.get(c, name); v != nil {
					items = append(items, stmt([]string{cl.word}, argText(cl, v)+clauseText(c, cl.then, name)))
				}
			}
			if len(items) > 0 {
				out = append(out, tItem{words: head, text: strings.Join(head, " "), block: items})
			}
		}
		return out
	}
	return nil
}

// statementWords are the words of a statement as the shell reads them.
func (it tItem) statementWords() []string {
	if it.block != nil {
		return it.words
	}
	toks, err := Tokenize(it.text)
	if err != nil {
		return it.words
	}
	return tokenTexts(toks)
}

func tokenTexts(toks []Token) []string {
	w := make([]string, len(toks))
	for i, t := range toks {
		w[i] = t.Text
	}
	return w
}

func hasPrefix(words, prefix []string) bool {
	return len(prefix) <= len(words) && slices.Equal(words[:len(prefix)], prefix)
}

// under returns the items at path: the contents of the block path names,
// or the items whose words start with it.
func under(items []tItem, path []string) []tItem {
	if len(path) == 0 {
		return items
	}
	for _, it := range items {
		if it.block != nil && hasPrefix(path, it.words) {
			return under(it.block, path[len(it.words):])
		}
	}
	var out []tItem
	for _, it := range items {
		if hasPrefix(it.statementWords(), path) {
			out = append(out, it)
		}
	}
	return out
}

// expandPath resolves a path as for delete (unique prefixes accepted); an
// empty path is the whole configuration.
func expandPath(path []string) ([]string, error) {
	if len(path) == 0 {
		return nil, nil
	}
	return ExpandDelete(path)
}

// Tree returns c in the braces form, one line per statement, indented by
// four spaces per level; with a path (as for delete, unique prefixes
// accepted) only what is under it, relative to it. Nothing configured
// under the path gives no lines.
func (c *Config) Tree(path []string) ([]string, error) {
	full, err := expandPath(path)
	if err != nil {
		return nil, err
	}
	var out []string
	renderTree(under(c.Masked().treeItems(), full), 0, "", &out)
	return out, nil
}

// renderTree appends items at depth, each line after prefix.
func renderTree(items []tItem, depth int, prefix string, out *[]string) {
	ind := strings.Repeat("    ", depth)
	for _, it := range items {
		if it.block == nil {
			*out = append(*out, prefix+ind+it.text+";")
			continue
		}
		*out = append(*out, prefix+ind+it.text+" {")
		renderTree(it.block, depth+1, prefix, out)
		*out = append(*out, prefix+ind+"}")
	}
}

// Only returns a configuration that holds only what c sets under path (as
// for delete); everything else is at its default (New).
func (c *Config) Only(path []string) (*Config, error) {
	lines, err := c.CommandsUnder(path)
	if err != nil {
		return nil, err
	}
	n := New()
	for _, l := range lines {
		toks, err := Tokenize(l)
		if err != nil {
			return nil, err
		}
		if e := n.set(tokenTexts(toks)[1:]); e != nil {
			return nil, e
		}
	}
	return n, nil
}

// TreeDiff returns the changes from old to new in the braces form, as
// Junos's "show | compare" prints them: a "[edit PATH]" line names the
// block, then "-" lines for statements only in old and "+" lines for those
// only in new; a block only on one side is shown whole. With a path (as
// for delete) only what is under it is compared. A nil config counts as
// New(). Equal configurations give no lines.
func TreeDiff(old, new *Config, path []string) ([]string, error) {
	if old == nil {
		old = New()
	}
	if new == nil {
		new = New()
	}
	var err error
	if len(path) > 0 {
		if old, err = old.Only(path); err != nil {
			return nil, err
		}
		if new, err = new.Only(path); err != nil {
			return nil, err
		}
	}
	full, err := expandPath(path)
	if err != nil {
		return nil, err
	}
	d := &treeDiff{header: "-"}
	old, new = maskedPair(old, new)
	d.descend(nil, old.treeItems(), new.treeItems(), full)
	return d.out, nil
}

// descend follows path into the blocks it names, so the changes are shown
// under the deepest block that both sides have (a container counts as
// present on both sides), then compares there.
func (d *treeDiff) descend(at []string, a, b []tItem, path []string) {
	find := func(items []tItem) *tItem {
		for i, it := range items {
			if it.block != nil && len(path) > len(it.words) && hasPrefix(path, it.words) {
				return &items[i]
			}
		}
		return nil
	}
	x, y := find(a), find(b)
	container := (x != nil && len(x.words) == 1) || (y != nil && len(y.words) == 1)
	if (x != nil && y != nil) || container {
		var words []string
		var ai, bi []tItem
		if x != nil {
			words, ai = x.words, x.block
		}
		if y != nil {
			words, bi = y.words, y.block
		}
		d.descend(append(slices.Clone(at), words...), ai, bi, path[len(words):])
		return
	}
	d.diff(at, a, b)
}

type treeDiff struct {
	out    []string
	header string // the last "[edit ...]" written
}

func itemKey(it tItem) string {
	if it.block != nil {
		return "{" + strings.Join(it.words, " ")
	}
	return it.text
}

func (d *treeDiff) emit(path []string, mark string, it tItem) {
	h := "[edit]"
	if len(path) > 0 {
		h = "[edit " + strings.Join(path, " ") + "]"
	}
	if h != d.header {
		d.out = append(d.out, h)
		d.header = h
	}
	var lines []string
	renderTree([]tItem{it}, 1, "", &lines)
	for _, l := range lines {
		d.out = append(d.out, mark+l[1:])
	}
}

// diff compares the items of one block (both in schema order) by their
// alignment (align); blocks on both sides are compared inside.
func (d *treeDiff) diff(path []string, a, b []tItem) {
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, it := range a {
		ka[i] = itemKey(it)
	}
	for j, it := range b {
		kb[j] = itemKey(it)
	}
	for _, p := range align(ka, kb) {
		switch {
		case p.i < 0:
			d.emit(path, "+", b[p.j])
		case p.j < 0:
			d.emit(path, "-", a[p.i])
		case a[p.i].block != nil:
			d.diff(append(slices.Clone(path), a[p.i].words...), a[p.i].block, b[p.j].block)
		}
	}
}

// ApplyText applies configuration text to c, as "load merge terminal"
// does: "set ..." and "delete ..." lines, and the braces form that Tree
// prints ("nat {", "hairpin disable;", "}"), one statement per line.
// Blank lines and comments (#) are ignored. On error c is unchanged and
// the error is an *Error with the line and column of the offending word.
// It returns the number of statements applied.
func (c *Config) ApplyText(text string) (int, error) {
	n := c.Clone()
	count, err := n.applyText(text)
	if err != nil {
		return 0, err
	}
	*c = *n
	return count, nil
}

type openBlock struct {
	toks []Token
	line int
}

func (c *Config) applyText(text string) (int, error) {
	text = strings.TrimPrefix(text, "\ufeff")
	var stack []openBlock
	count := 0
	for i, line := range strings.Split(text, "\n") {
		ln := i + 1
		line = strings.TrimSuffix(line, "\r")
		for _, p := range splitStatements(line) {
			toks, terr := Tokenize(p.text)
			if terr != nil {
				e := terr.(*Error)
				e.Line, e.Column = ln, e.Column+p.col
				return 0, e
			}
			for j := range toks {
				toks[j].Col += p.col
				toks[j].End += p.col
			}
			switch {
			case p.term == '}':
				if len(toks) > 0 {
					return 0, &Error{Line: ln, Column: toks[len(toks)-1].End, Msg: `end the statement before "}" with ";"`}
				}
				if len(stack) == 0 {
					return 0, &Error{Line: ln, Column: p.termCol, Msg: `"}" closes no block`}
				}
				stack = stack[:len(stack)-1]
				continue
			case len(toks) == 0 && p.term == 0:
				continue
			case len(toks) == 0:
				return 0, &Error{Line: ln, Column: p.termCol, Msg: fmt.Sprintf("%q without a statement before it", string(p.term))}
			case p.term == '{':
				stack = append(stack, openBlock{toks: toks, line: ln})
				continue
			}
			verb := ""
			if len(stack) == 0 && !toks[0].Quoted && (toks[0].Text == "set" || toks[0].Text == "delete") {
				verb = toks[0].Text
			} else if p.term != ';' {
				return 0, &Error{Line: ln, Column: toks[len(toks)-1].End,
					Msg: `end the statement with ";" (or open a block with "{"), or write a set command: "set nat hairpin disable"`}
			}
			if err := c.applyStatement(verb, stack, toks, ln); err != nil {
				return 0, err
			}
			count++
		}
	}
	if len(stack) > 0 {
		b := stack[len(stack)-1]
		return 0, &Error{Line: b.line, Column: b.toks[0].Col, Msg: fmt.Sprintf("the block %q is not closed; add a line with \"}\"", JoinWords(tokenTexts(b.toks)))}
	}
	return count, nil
}

// applyStatement applies one statement inside the open blocks, or a set
// or delete command (verb) at the top.
func (c *Config) applyStatement(verb string, stack []openBlock, toks []Token, ln int) *Error {
	// The words: the open blocks' heads, then the statement's.
	var words []string
	var where []Token // the token (and its line) of each word
	var lines []int
	for _, b := range stack {
		for _, t := range b.toks {
			words, where, lines = append(words, t.Text), append(where, t), append(lines, b.line)
		}
	}
	own := toks
	if verb != "" {
		own = toks[1:]
	}
	for _, t := range own {
		words, where, lines = append(words, t.Text), append(where, t), append(lines, ln)
	}
	var e *Error
	if verb == "delete" {
		if err := c.Delete(words); err != nil {
			e = err.(*Error)
		}
	} else {
		e = c.set(words)
	}
	if e == nil {
		return nil
	}
	e.Line, e.Column = ln, toks[len(toks)-1].End+1
	if e.Index < len(where) {
		e.Line, e.Column = lines[e.Index], where[e.Index].Col
	}
	return e
}

// piece is one statement of a line of the braces form: its text, the
// columns before it, and what ends it (';', '{', '}' or 0 at the end of
// the line).
type piece struct {
	text    string
	col     int // columns before text in the line
	term    byte
	termCol int // 1-based column of term
}

// splitStatements cuts a line at each ";", "{" and "}" outside quotes; a
// "#" outside quotes ends it.
func splitStatements(line string) []piece {
	var out []piece
	inQ := false
	start, startCol, col := 0, 0, 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c&0xc0 != 0x80 {
			col++
		}
		switch {
		case inQ && c == '\\' && i+1 < len(line):
			i++
			col++
		case c == '"':
			inQ = !inQ
		case inQ:
		case c == '#':
			return append(out, piece{text: line[start:i], col: startCol})
		case c == ';' || c == '{' || c == '}':
			out = append(out, piece{text: line[start:i], col: startCol, term: c, termCol: col})
			start, startCol = i+1, col
		}
	}
	return append(out, piece{text: line[start:], col: startCol})
}
