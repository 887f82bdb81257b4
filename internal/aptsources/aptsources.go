// Package aptsources reads the machine's apt sources, in both of apt's
// formats: one-line entries ("deb [options] URI SUITE [COMPONENT...]") in
// /etc/apt/sources.list and sources.list.d/*.list, and deb822 stanzas
// (Types, URIs, Suites, Components, Enabled, Signed-By, ...) in
// sources.list.d/*.sources. The firmware's package fetcher and the interop
// lab's debootstrap take their Debian mirrors from it: the project names
// no mirror of its own.
package aptsources

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one enabled (type, URI, suite) entry.
type Source struct {
	Type       string // "deb" or "deb-src"
	URI        string
	Suite      string
	Components []string
	Options    map[string]string // lower-case option or field name -> value, e.g. "signed-by", "arch"
	File       string            // the file (relative to the root) and line it came from
	Line       int
}

// Files are where apt looks, relative to the root: ListFile, then the
// files of PartsDir ending in .list (one-line) or .sources (deb822), in
// name order.
const (
	ListFile = "etc/apt/sources.list"
	PartsDir = "etc/apt/sources.list.d"
)

// Read returns the enabled sources of the apt configuration under root
// ("/" for the machine's), in apt's order. Missing files are no error; a
// malformed entry is one, naming its file and line.
func Read(root string) ([]Source, error) {
	files := []string{ListFile}
	ents, err := os.ReadDir(filepath.Join(root, PartsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("apt sources: %w", err)
	}
	var parts []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")) {
			parts = append(parts, path.Join(PartsDir, n))
		}
	}
	sort.Strings(parts)
	var out []Source
	for _, f := range append(files, parts...) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("apt sources: %w", err)
		}
		var srcs []Source
		if strings.HasSuffix(f, ".sources") {
			srcs, err = ParseDeb822(f, string(b))
		} else {
			srcs, err = ParseOneLine(f, string(b))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

// ParseOneLine parses one-line entries; file names them in errors.
func ParseOneLine(file, text string) ([]Source, error) {
	var out []Source
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("apt sources: %s:%d: %s: %q", file, n+1, why, strings.TrimSpace(line))
		}
		src := Source{Type: f[0], Options: map[string]string{}, File: file, Line: n + 1}
		if src.Type != "deb" && src.Type != "deb-src" {
			return nil, bad("not a deb or deb-src entry")
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), src.Type))
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, bad("options without ]")
			}
			for _, o := range strings.Fields(rest[1:end]) {
				k, v, ok := strings.Cut(o, "=")
				if !ok {
					return nil, bad("option without =")
				}
				src.Options[strings.ToLower(strings.TrimRight(k, "+-"))] = v
			}
			rest = rest[end+1:]
		}
		f = strings.Fields(rest)
		if len(f) < 2 {
			return nil, bad("no URI and suite")
		}
		src.URI, src.Suite, src.Components = f[0], f[1], f[2:]
		if !strings.HasSuffix(src.Suite, "/") && len(src.Components) == 0 {
			return nil, bad("no component")
		}
		out = append(out, src)
	}
	return out, nil
}

// ParseDeb822 parses deb822 stanzas; file names them in errors. A
// stanza with "Enabled: no" is left out; one stanza with several Types,
// URIs and Suites gives a Source for each combination.
func ParseDeb822(file, text string) ([]Source, error) {
	var out []Source
	fields := map[string]string{}
	var last string // field that continuation lines extend
	start := 0      // line of the stanza
	flush := func() error {
		defer func() { fields, last = map[string]string{}, "" }()
		if len(fields) == 0 {
			return nil
		}
		bad := func(why string) error { return fmt.Errorf("apt sources: %s:%d: %s", file, start, why) }
		switch strings.ToLower(strings.TrimSpace(fields["enabled"])) {
		case "", "yes":
		case "no":
			return nil
		default:
			return bad(fmt.Sprintf("Enabled: %q is neither yes nor no", fields["enabled"]))
		}
		types, uris, suites := strings.Fields(fields["types"]), strings.Fields(fields["uris"]), strings.Fields(fields["suites"])
		if len(types) == 0 || len(uris) == 0 || len(suites) == 0 {
			return bad("a stanza needs Types, URIs and Suites")
		}
		comps := strings.Fields(fields["components"])
		opts := map[string]string{}
		for k, v := range fields {
			switch k {
			case "types", "uris", "suites", "components", "enabled":
			default:
				opts[k] = v
			}
		}
		for _, t := range types {
			if t != "deb" && t != "deb-src" {
				return bad(fmt.Sprintf("type %q is neither deb nor deb-src", t))
			}
			for _, u := range uris {
				for _, s := range suites {
					if !strings.HasSuffix(s, "/") && len(comps) == 0 {
						return bad("no Components")
					}
					out = append(out, Source{Type: t, URI: u, Suite: s, Components: comps, Options: opts, File: file, Line: start})
				}
			}
		}
		return nil
	}
	for n, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("apt sources: %s:%d: continuation line without a field", file, n+1)
			}
			fields[last] += "\n" + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("apt sources: %s:%d: not a field: %q", file, n+1, line)
			}
			if len(fields) == 0 {
				start = n + 1
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
