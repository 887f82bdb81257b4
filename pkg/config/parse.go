package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// LineTooLong is the message for a line longer than MaxLine, in a
// configuration file or on the shell's command line.
var LineTooLong = fmt.Sprintf("the line is longer than %d bytes, the most one line may hold", MaxLine)

// Parse reads configuration text: one set command per line, starting from
// New(). Blank lines and comments (# to the end of the line, outside
// quotes) are ignored; a UTF-8 byte-order mark and CR LF or CR line ends
// (files edited on a PC) are accepted. A line may hold at most MaxLine
// bytes. Lines are applied in order, so a later
// line overrides an earlier one. Any error fails the whole parse (no
// partial configuration); it is an *Error naming the line and column of
// the offending word, what is wrong and what is allowed. Parse does not
// run the cross-field checks of Validate.
func Parse(text string) (*Config, error) {
	c, _, err := parse(text)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse also returns the number of set lines.
func parse(text string) (*Config, int, error) {
	c := New()
	n := 0
	for i, line := range splitLines(text) {
		set, err := c.parseLine(i+1, line)
		if err != nil {
			return nil, 0, err
		}
		if set {
			n++
		}
	}
	return c, n, nil
}

// splitLines drops a byte-order mark and splits text at LF, CR LF or CR.
func splitLines(text string) []string {
	text = strings.TrimPrefix(text, "\ufeff")
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	}
	return strings.Split(text, "\n")
}

// parseLine applies line number no to c: set reports a set command; a
// blank or comment line changes nothing. On error c may be partly changed
// (as by set).
func (c *Config) parseLine(no int, line string) (set bool, err *Error) {
	if len(line) > MaxLine {
		return false, &Error{Line: no, Column: utf8.RuneCountInString(line[:MaxLine]) + 1, Msg: LineTooLong}
	}
	toks, terr := Tokenize(line)
	if terr != nil {
		e := terr.(*Error)
		e.Line = no
		return false, e
	}
	if len(toks) == 0 {
		return false, nil
	}
	if toks[0].Text != "set" || toks[0].Quoted {
		msg := fmt.Sprintf("%q is not allowed here; every line must be a set command, e.g. \"set system hostname passgate\"", toks[0].Text)
		return false, &Error{Line: no, Column: toks[0].Col, Msg: msg}
	}
	words := make([]string, len(toks)-1)
	for j, t := range toks[1:] {
		words[j] = t.Text
	}
	if e := c.set(words); e != nil {
		e.Line = no
		e.Index++ // count "set"
		if e.Index < len(toks) {
			e.Column = toks[e.Index].Col
		} else {
			e.Column = toks[len(toks)-1].End + 1
		}
		return false, e
	}
	return true, nil
}

// ReadFile reads and parses a configuration file such as the one given to
// "routerd --config FILE". A file written by Store is checked against its
// sha256 trailer; see Store.Load for the rules.
func ReadFile(path string) (*Config, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	c, _, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}
