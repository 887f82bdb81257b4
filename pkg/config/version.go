package config

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatVersion is the version of the configuration language this
// passgate writes and reads. Store writes it in the file's header
// ("# passgate-config-version N", a comment: a passgate older than the
// line reads past it). It goes up with every release whose language
// differs: when it changes the meaning of lines an older file may hold (a
// renamed setting, a new unit), with a migration (migrations) that
// rewrites older files as they are read; and when it only adds settings,
// with none, because an older passgate skips the lines it does not know
// only in a file that says it is newer.
//
// Version 2 added firewall mac-filter, firewall rule (with its icmp-type,
// added before version 2 was released, so within it), system time-zone,
// qos and system flow-offload (also before version 2 was released).
//
// Across versions:
//   - a newer passgate reads an older file: the migrations from the
//     file's version to FormatVersion rewrite its lines first;
//   - an older passgate (after a fallback to the other firmware slot)
//     reads a file saved by a newer one: the lines it does not
//     understand are skipped and listed in Loaded.Ignored and the notice
//     (console, log, show system), and the rest runs, rather than the
//     whole file being refused. A commit from the older passgate saves
//     what it understood; the newer file stays as passgate.conf.bak and
//     in revisions/, so "rollback" brings it back.
//
// Lines are skipped only in a file that says it is newer: in a file of
// this version or older, a line that does not parse makes the file
// unusable, as before (a typo is not silently dropped).
const FormatVersion = 2

const versionPrefix = "# passgate-config-version "

// maxIgnored bounds the lines listed as ignored.
const maxIgnored = 100

// migrations[v] rewrites the text of a version v file into version v+1;
// none for a version that only added settings (1 → 2). Files without the
// header line are version 1.
var migrations = map[int]func(text string) (string, error){}

// fileVersion is the version a file's header names (1 when it names
// none), and whether the line is malformed.
func fileVersion(body string) (int, error) {
	for i, l := range strings.SplitN(body, "\n", 5) {
		if i >= 4 {
			break
		}
		v, ok := strings.CutPrefix(l, versionPrefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1_000_000 {
			return 0, fmt.Errorf("the line %q names no configuration version", strings.TrimSpace(l))
		}
		return n, nil
	}
	return 1, nil
}

// migrate rewrites text of version from into version to.
func migrate(text string, from, to int) (string, error) {
	for v := from; v < to; v++ {
		m := migrations[v]
		if m == nil {
			continue
		}
		var err error
		if text, err = m(text); err != nil {
			return "", fmt.Errorf("migrating from configuration version %d to %d: %w", v, v+1, err)
		}
	}
	return text, nil
}

// Ignored is a line of a newer configuration that this version skipped.
type Ignored struct {
	Line int
	Text string // the line, cut to 80 characters
	Msg  string // why it does not parse here
}

func (i Ignored) String() string { return fmt.Sprintf("line %d %q (%s)", i.Line, i.Text, i.Msg) }

// parseNewer parses the text of a file from a newer version: a line that
// does not parse is skipped and listed, the others apply in order. More
// than maxIgnored such lines make it fail: that file is not a newer
// version of this language.
func parseNewer(text string) (*Config, int, []Ignored, error) {
	c := New()
	n := 0
	var ignored []Ignored
	var kept []string // the lines applied, to rebuild c after a failed one
	for i, l := range splitLines(text) {
		set, err := c.parseLine(i+1, l)
		if err != nil {
			if len(ignored) == maxIgnored {
				return nil, 0, nil, fmt.Errorf("more than %d lines are not understood by this version (the first: %v)", maxIgnored, ignored[0])
			}
			t := strings.TrimSpace(l)
			if len(t) > 80 {
				t = t[:77] + "..."
			}
			ignored = append(ignored, Ignored{Line: i + 1, Text: t, Msg: err.Msg})
			// A failed line may have changed part of c (a list's
			// limit is checked after the entry is added): rebuild it.
			c = New()
			for j, k := range kept {
				c.parseLine(j+1, k)
			}
			continue
		}
		if set {
			n++
			kept = append(kept, l)
		}
	}
	return c, n, ignored, nil
}
