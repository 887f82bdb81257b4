package config

import (
	"strings"
)

// Header is the comment line String puts before the commands.
const Header = "# passgate configuration: one set command per line; anything not listed is at its default"

// Commands returns the canonical set commands that rebuild c from New():
// only values that differ from their defaults, in schema order, list
// entries sorted by name, each entry on one line. Every line is a valid
// shell command and Parse accepts the lines back unchanged.
func (c *Config) Commands() []string {
	var out []string
	for _, n := range schema.children {
		c.emit(n, "set", &out)
	}
	return out
}

func (c *Config) emit(n *node, prefix string, out *[]string) {
	p := prefix + " " + n.word
	switch n.kind {
	case kContainer:
		for _, ch := range n.children {
			c.emit(ch, p, out)
		}
	case kLeaf:
		if v := n.leaf.get(c, ""); v != nil {
			*out = append(*out, p+" "+argText(n, v))
		}
		for _, ch := range n.children {
			c.emit(ch, p, out)
		}
	case kMulti:
		for _, v := range n.multi.items(c) {
			*out = append(*out, p+" "+argText(n, []any{v}))
		}
	case kTag:
		for _, name := range n.list.names(c) {
			line := p + " " + name
			if n.leaf != nil {
				if v := n.leaf.get(c, name); v != nil {
					*out = append(*out, line+" "+argText(n, v))
				}
				continue
			}
			clauses := clauseText(c, n.children, name)
			if clauses != "" {
				*out = append(*out, line+clauses)
			}
		}
	}
}

func clauseText(c *Config, clauses []*node, name string) string {
	var b strings.Builder
	for _, cl := range clauses {
		if v := cl.leaf.get(c, name); v != nil {
			b.WriteString(" " + cl.word + " " + argText(cl, v))
			b.WriteString(clauseText(c, cl.then, name))
		}
	}
	return b.String()
}

func argText(n *node, vals []any) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = n.args[i].text(v)
	}
	return strings.Join(s, " ")
}

// String returns the configuration as file text: Header, then Commands,
// one per line, ending with a newline.
func (c *Config) String() string {
	var b strings.Builder
	b.WriteString(Header + "\n")
	for _, l := range c.Commands() {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// CommandsUnder returns the canonical commands under a path such as
// ["nat", "port-forward"] (unique prefixes accepted; path as for delete),
// for "show configuration nat". An empty path gives all commands.
// Secrets are masked.
func (c *Config) CommandsUnder(path []string) ([]string, error) {
	full, err := ExpandDelete(path)
	if len(path) == 0 {
		full, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	want := "set"
	for _, w := range full {
		want += " " + Quote(w)
	}
	var out []string
	for _, l := range c.Masked().Commands() {
		if l == want || strings.HasPrefix(l, want+" ") {
			out = append(out, l)
		}
	}
	return out, nil
}
