package config

import "strings"

// Secrets (the PPPoE password) are kept in the file as given, since the
// router needs them, and masked wherever the configuration is shown:
// "show configuration" in both forms and "show | compare". A changed
// secret still shows as a change. The mask itself is refused as a value,
// so a shown configuration pasted back cannot replace a password with
// asterisks.

// Mask is what a secret's value shows as.
const Mask = "********"

// maskChanged is the mask of a secret whose value a comparison changed.
const maskChanged = "******** (changed)"

// secretLeaves are the leaves whose value is secret, with their set-form
// prefix ("set interfaces wan pppoe password ").
var secretLeaves = func() (out []secretLeaf) {
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		p := path
		if n.word != "" {
			p = strings.TrimSpace(path + " " + n.word)
		}
		if n.kind == kLeaf && len(n.args) == 1 && n.args[0].secret {
			out = append(out, secretLeaf{n: n, prefix: "set " + p + " "})
		}
		for _, ch := range n.children {
			walk(ch, p)
		}
	}
	walk(schema, "")
	return out
}()

type secretLeaf struct {
	n      *node
	prefix string
}

// Masked returns a copy of c for display: every secret that is set reads
// Mask.
func (c *Config) Masked() *Config {
	m := c.Clone()
	for _, s := range secretLeaves {
		if s.n.leaf.get(m, "") != nil {
			s.n.leaf.set(m, "", []any{Mask})
		}
	}
	return m
}

// maskedPair returns display copies of old and new; a secret that differs
// between them shows as changed in new.
func maskedPair(old, new *Config) (*Config, *Config) {
	mo, mn := old.Masked(), new.Masked()
	for _, s := range secretLeaves {
		a, b := s.n.leaf.get(old, ""), s.n.leaf.get(new, "")
		if a != nil && b != nil && a[0] != b[0] {
			s.n.leaf.set(mn, "", []any{maskChanged})
		}
	}
	return mo, mn
}

// isMask reports a value made of asterisks only: the masked form, not a
// password.
func isMask(s string) bool {
	return strings.HasPrefix(s, Mask) && strings.Trim(s, "*") == "" ||
		s == maskChanged
}
