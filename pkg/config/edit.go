package config

import (
	"fmt"
	"strings"
)

// Levels are the places of the configuration that "edit" can go to (the
// shell's [edit nat port-forward web]): a container (nat), a list entry
// with clauses (nat port-forward web), or a setting with settings below
// it (passthrough ipsec). set, delete and show there take paths relative
// to the level.

// editable reports whether "edit" may stop at n (for a tag: at an entry).
func editable(n *node) bool {
	switch n.kind {
	case kContainer:
		return true
	case kLeaf:
		return len(n.children) > 0
	case kTag:
		return n.leaf == nil
	}
	return false
}

// EditPath reads the words of "edit" (unique prefixes accepted) and
// returns the levels they go down, each as its full words: ["nat"],
// ["port-forward", "web"]. An error is an *Error whose Index names the
// word.
func EditPath(words []string) ([][]string, error) {
	full, err := Expand(words)
	if err != nil {
		return nil, err
	}
	var levels [][]string
	n := schema
	for i := 0; i < len(full); {
		var next *node
		if n.kind != kTag {
			for _, ch := range n.children {
				if ch.word == full[i] {
					next = ch
				}
			}
		}
		switch {
		case n.kind == kTag:
			return nil, &Error{Index: i, Msg: fmt.Sprintf("%q: a %s entry has no levels below it; set its parts with set", full[i], n.word)}
		case next == nil:
			return nil, &Error{Index: i, Msg: fmt.Sprintf("%q is a value, not a level; set it with set", full[i])}
		case !editable(next):
			return nil, &Error{Index: i, Msg: fmt.Sprintf("%q is a setting, not a level; give it a value with set", next.word)}
		case next.kind == kTag:
			if i+1 == len(full) {
				return nil, &Error{Index: i + 1, Msg: fmt.Sprintf("incomplete command after %q; give %s (%s)", next.word, next.name.ph, next.name.help)}
			}
			if _, err := next.name.parse(full[i+1]); err != nil {
				return nil, &Error{Index: i + 1, Msg: err.Error()}
			}
			levels = append(levels, []string{next.word, full[i+1]})
			i += 2
		default:
			levels = append(levels, []string{next.word})
			i++
		}
		n = next
	}
	return levels, nil
}

// CompleteEdit lists the possible next words of "edit" after words (the
// last one is the word being typed): the levels below, the names of
// existing entries of c (c may be nil), and <Enter> where the words so
// far name a level.
func CompleteEdit(c *Config, words []string) []Candidate {
	if len(words) == 0 {
		words = []string{""}
	}
	prefix := words[len(words)-1]
	w := walk(ModeSet, words[:len(words)-1], true)
	if w.err != nil || w.final == nil {
		return nil
	}
	e := w.final
	var out []Candidate
	for _, n := range e.kw {
		if editable(n) && strings.HasPrefix(n.word, prefix) {
			out = append(out, Candidate{Word: n.word, Help: n.help, Kind: Keyword})
		}
	}
	if e.tag != nil {
		if c != nil {
			for _, name := range e.tag.list.names(c) {
				if strings.HasPrefix(name, prefix) {
					out = append(out, Candidate{Word: name, Help: "existing " + e.tag.word + " entry", Kind: Value})
				}
			}
		}
		out = append(out, Candidate{Word: e.tag.name.ph, Help: e.tag.name.help, Kind: Placeholder})
	}
	if prefix == "" && len(words) > 1 {
		if _, err := EditPath(words[:len(words)-1]); err == nil {
			out = append(out, Candidate{Word: "<Enter>", Help: "go to this level", Kind: End})
		}
	}
	return out
}
