package aptsources

import (
	"fmt"
	"slices"
	"strings"
)

// Mirrors are the Debian mirrors the machine's apt uses for one suite.
type Mirrors struct {
	Archive  []string // URIs of the "deb" entries for the suite, in apt's order
	Security string   // URI of the first "deb" entry for SUITE-security, or ""
}

// Debian finds the Debian mirrors for suite (a release code name, e.g.
// bookworm) in the apt sources under root: the enabled "deb" entries for
// suite, and for suite-security, that carry the component main. Without
// an archive mirror, or without a security mirror when needSecurity, it
// fails with a message saying what line to add.
func Debian(root, suite string, needSecurity bool) (Mirrors, error) {
	srcs, err := Read(root)
	if err != nil {
		return Mirrors{}, err
	}
	m := DebianIn(srcs, suite)
	if len(m.Archive) == 0 {
		return m, notFound(suite, "Debian mirror", suite)
	}
	if needSecurity && m.Security == "" {
		return m, notFound(suite, "Debian security mirror", suite+"-security")
	}
	return m, nil
}

// DebianIn picks the Debian mirrors for suite out of srcs (see Debian).
func DebianIn(srcs []Source, suite string) Mirrors {
	var m Mirrors
	for _, s := range srcs {
		if s.Type != "deb" || !slices.Contains(s.Components, "main") {
			continue
		}
		uri := strings.TrimRight(s.URI, "/")
		switch s.Suite {
		case suite:
			if !slices.Contains(m.Archive, uri) {
				m.Archive = append(m.Archive, uri)
			}
		case suite + "-security":
			if m.Security == "" {
				m.Security = uri
			}
		}
	}
	return m
}

func notFound(suite, what, entrySuite string) error {
	return fmt.Errorf("no %s for %s was found in /%s or /%s/ (an enabled deb entry for suite %s with component main); "+
		"add one to the machine's apt sources, e.g. the line\n\tdeb <your %s URI> %s main\nto /%s",
		what, suite, ListFile, PartsDir, entrySuite, what, entrySuite, ListFile)
}
