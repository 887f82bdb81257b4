package kbuild

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// An option line of a configuration fragment or a .config: CONFIG_NAME=value,
// or "# CONFIG_NAME is not set".
var (
	setLine   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// maxConfig bounds a fragment or a .config read here (a full one is ~250 KB).
const maxConfig = 4 << 20

// parseConfig reads option lines into name -> value, "n" for an option not
// set. Blank lines and other comments are skipped; anything else is an
// error naming the line, so that a typo in a fragment does not pass as a
// comment.
func parseConfig(data []byte) (map[string]string, error) {
	if len(data) > maxConfig {
		return nil, fmt.Errorf("configuration of %d bytes: at most %d allowed", len(data), maxConfig)
	}
	opts := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if m := unsetLine.FindStringSubmatch(l); m != nil {
			opts[m[1]] = "n"
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := setLine.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is neither CONFIG_NAME=value nor a comment", n, l)
		}
		opts[m[1]] = m[2]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return opts, nil
}

// Unmet compares the options a fragment asks for with the .config that
// Kconfig made of it and returns one line per option that did not take its
// value (Kconfig drops an option whose dependencies are not met without an
// error), sorted by the fragment's order. An option absent from .config
// counts as not set.
func Unmet(fragment, config []byte) ([]string, error) {
	want, err := parseConfig(fragment)
	if err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	got, err := parseConfig(config)
	if err != nil {
		return nil, fmt.Errorf(".config: %w", err)
	}
	var unmet []string
	for _, name := range order(fragment) {
		w, g := want[name], got[name]
		if g == "" {
			g = "n"
		}
		if w != g {
			unmet = append(unmet, fmt.Sprintf("%s=%s asked for, %s=%s made", name, w, name, g))
		}
	}
	return unmet, nil
}

// order lists a fragment's option names in the order they first appear.
func order(fragment []byte) []string {
	var names []string
	seen := map[string]bool{}
	for _, l := range strings.Split(string(fragment), "\n") {
		l = strings.TrimSpace(l)
		var name string
		if m := setLine.FindStringSubmatch(l); m != nil {
			name = m[1]
		} else if m := unsetLine.FindStringSubmatch(l); m != nil {
			name = m[1]
		}
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}
