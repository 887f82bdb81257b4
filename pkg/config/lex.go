package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a syntax or value error in a command or a configuration file.
type Error struct {
	// Line is the 1-based line in the parsed text; 0 for a single command
	// (Set, Delete, Expand, Tokenize).
	Line int
	// Column is the 1-based column (in characters) of the offending word
	// within the line; 0 when the error comes from a word list without a
	// line (Set, Delete, Expand). For a missing word it is the column just
	// after the last word.
	Column int
	// Index is the 0-based index of the offending word in the word list
	// given to Set, Delete or Expand (len(words) when a word is missing).
	// In Parse errors it counts the words of the line including "set".
	Index int
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Column > 0:
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	default:
		return fmt.Sprintf("word %d: %s", e.Index+1, e.Msg)
	}
}

// Token is one word of a command line.
type Token struct {
	Text   string // the word, with quotes removed and escapes resolved
	Col    int    // 1-based column (in characters) where the word starts
	End    int    // column just after the word's last character
	Quoted bool   // the word was written in double quotes
}

// Tokenize splits one command line into words. Words are separated by
// spaces or tabs; a word may be written in double quotes to contain spaces
// (inside quotes \" stands for " and \\ for \); # outside quotes starts a
// comment that runs to the end of the line. Control characters other than
// tab and invalid UTF-8 are errors. The error is an *Error with Column set.
func Tokenize(line string) ([]Token, error) {
	var toks []Token
	col := 0 // column of the rune at i, 0-based
	i := 0
	for i < len(line) {
		r, size := utf8.DecodeRuneInString(line[i:])
		if err := checkRune(r, size, col); err != nil {
			return nil, err
		}
		switch {
		case r == ' ' || r == '\t':
			i += size
			col++
		case r == '#':
			// A comment: still reject garbage in it (e.g. NUL bytes of a
			// damaged file), but accept any printable text.
			for j, c := i, col; j < len(line); c++ {
				r, size := utf8.DecodeRuneInString(line[j:])
				if err := checkRune(r, size, c); err != nil {
					return nil, err
				}
				j += size
			}
			return toks, nil
		case r == '"':
			start := col
			var b strings.Builder
			i += size
			col++
			closed := false
			for i < len(line) {
				r, size := utf8.DecodeRuneInString(line[i:])
				if err := checkRune(r, size, col); err != nil {
					return nil, err
				}
				if r == '"' {
					i += size
					col++
					closed = true
					break
				}
				if r == '\\' {
					if i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
						b.WriteByte(line[i+1])
						i += 2
						col += 2
						continue
					}
					return nil, &Error{Column: col + 1, Msg: `a backslash inside quotes must be followed by " or \ (write \\ for a backslash)`}
				}
				b.WriteRune(r)
				i += size
				col++
			}
			if !closed {
				return nil, &Error{Column: start + 1, Msg: `unterminated quoted string; close it with "`}
			}
			if i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '#' {
				return nil, &Error{Column: col + 1, Msg: "a closing quote must be followed by a space or the end of the line"}
			}
			toks = append(toks, Token{Text: b.String(), Col: start + 1, End: col + 1, Quoted: true})
		default:
			start, from := col, i
			for i < len(line) {
				r, size := utf8.DecodeRuneInString(line[i:])
				if err := checkRune(r, size, col); err != nil {
					return nil, err
				}
				if r == ' ' || r == '\t' || r == '#' {
					break
				}
				if r == '"' {
					return nil, &Error{Column: col + 1, Msg: `unexpected " inside a word; quotes must surround a whole value`}
				}
				i += size
				col++
			}
			toks = append(toks, Token{Text: line[from:i], Col: start + 1, End: col + 1})
		}
	}
	return toks, nil
}

func checkRune(r rune, size, col int) error {
	if r == utf8.RuneError && size == 1 {
		return &Error{Column: col + 1, Msg: "invalid UTF-8 byte; the file must be UTF-8 text"}
	}
	if (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return &Error{Column: col + 1, Msg: fmt.Sprintf("control character %U is not allowed", r)}
	}
	return nil
}

// Quote returns word as it must be written on a command line: unchanged if
// it is a plain word, else in double quotes with " and \ escaped.
func Quote(word string) string {
	if word == "" || strings.ContainsAny(word, " \t\"#\\") {
		return quoteAlways(word)
	}
	return word
}

func quoteAlways(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// JoinWords formats words as one command line, quoting where needed.
func JoinWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = Quote(w)
	}
	return strings.Join(q, " ")
}
