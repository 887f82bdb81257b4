package shell

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/config"
)

// termOut writes to the session's terminal. Text written with Write has
// "\n" turned into "\r\n" when crlf is set (a raw-mode terminal does not do
// it); raw writes editing sequences unchanged. The first write error
// sticks and silences later writes.
type termOut struct {
	w    io.Writer
	crlf bool
	err  error
}

func (t *termOut) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if !t.crlf {
		_, t.err = t.w.Write(p)
		return len(p), t.err
	}
	var b []byte
	start := 0
	for i, c := range p {
		if c == '\n' && (i == 0 || p[i-1] != '\r') {
			b = append(b, p[start:i]...)
			b = append(b, '\r', '\n')
			start = i + 1
		}
	}
	if b == nil {
		_, t.err = t.w.Write(p)
	} else {
		b = append(b, p[start:]...)
		_, t.err = t.w.Write(b)
	}
	return len(p), t.err
}

func (t *termOut) raw(s string) {
	if t.err != nil || s == "" {
		return
	}
	_, t.err = io.WriteString(t.w, s)
}

// editor is the line editor of an interactive session: one line with
// horizontal scrolling (it never relies on the terminal's line wrapping,
// so it works on any terminal at least as wide as it is told, 80 columns
// on a serial console), history, and the usual readline keys.
type editor struct {
	out    *termOut
	cols   func() int // terminal width
	prompt []rune
	buf    []rune
	pos    int // cursor, index into buf
	off    int // first visible rune of buf

	hist    []string
	histMax int
	hpos    int    // index into hist while browsing; len(hist) = the new line
	saved   []rune // the new line while browsing history
	lastTab bool   // the previous key was Tab

	// over: the line reached config.MaxLine bytes; what follows is
	// dropped and the line is not run (input.go).
	over bool
	// rejected: a character was refused on this line (and said once);
	// reject is the last one (-1: invalid UTF-8).
	rejected bool
	reject   rune
}

// action is what a key asks the session to do.
type action uint8

const (
	actNone      action = iota
	actSubmit           // Enter: the line is complete
	actInterrupt        // Ctrl-C: the line is dropped
	actEOF              // Ctrl-D on an empty line
	actComplete         // Tab
	actList             // second Tab in a row
	actHelp             // "?" outside quotes
	actReject           // a character was refused: say so (reject)
	actTooLong          // the line reached config.MaxLine: say so
)

// start begins a new line with prompt p and draws it.
func (e *editor) start(p string) {
	e.prompt = []rune(p)
	e.buf, e.pos, e.off = e.buf[:0], 0, 0
	e.hpos = len(e.hist)
	e.saved = nil
	e.lastTab = false
	e.over, e.rejected = false, false
	e.refresh()
}

func (e *editor) line() string { return string(e.buf) }

// avail is the number of columns for the line after the prompt; the last
// column stays empty so the cursor never sits in the wrap position.
func (e *editor) avail() int {
	a := e.cols() - len(e.prompt) - 1
	if a < 8 {
		a = 8
	}
	return a
}

// scroll adjusts off so that the cursor is visible.
func (e *editor) scroll() {
	a := e.avail()
	switch {
	case e.pos < e.off:
		e.off = e.pos
	case e.pos-e.off > a:
		// Jump by half a screen, so that typing (or a paste) at the end
		// of a long line redraws it once per a/2 characters, not at each.
		e.off = max(e.pos-a, min(e.pos-a/2, len(e.buf)-a/2))
		return
	}
	// Show as much as fits when the line got shorter.
	if e.off > 0 && len(e.buf)-e.off < a/2 {
		e.off = max(0, min(e.pos, len(e.buf)-a))
	}
}

// refresh redraws the prompt and the visible part of the line and puts
// the cursor in place.
func (e *editor) refresh() {
	e.scroll()
	end := min(len(e.buf), e.off+e.avail())
	var b strings.Builder
	b.WriteByte('\r')
	b.WriteString(string(e.prompt))
	b.WriteString(string(e.buf[e.off:end]))
	b.WriteString("\x1b[K")
	if back := end - e.pos; back > 0 {
		fmt.Fprintf(&b, "\x1b[%dD", back)
	}
	e.out.raw(b.String())
}

// redrawBelow starts the prompt and line afresh on the next line (after
// help output or a message, the cursor is at the start of a line).
func (e *editor) redrawBelow() { e.refresh() }

// finish moves past the line for good: the whole line is shown (a
// scrolled line is written out in full and may wrap) and the cursor goes
// to the next line.
func (e *editor) finish() {
	if e.off > 0 || len(e.buf) > e.avail() {
		e.out.raw("\r" + string(e.prompt) + string(e.buf) + "\x1b[K")
	}
	e.out.raw("\r\n")
}

func (e *editor) insert(rs ...rune) {
	if len(rs) == 0 {
		return
	}
	e.buf = append(e.buf[:e.pos], append(rs, e.buf[e.pos:]...)...)
	e.pos += len(rs)
	if e.pos == len(e.buf) && e.pos-e.off <= e.avail() {
		e.out.raw(string(rs)) // typing at the end: just echo
		return
	}
	e.refresh()
}

// deleteRange removes buf[from:to] and puts the cursor at from.
func (e *editor) deleteRange(from, to int) {
	if from >= to {
		return
	}
	e.buf = append(e.buf[:from], e.buf[to:]...)
	e.pos = from
	e.refresh()
}

func (e *editor) setLine(rs []rune) {
	e.buf = append(e.buf[:0], rs...)
	e.pos = len(e.buf)
	e.off = 0
	e.refresh()
}

// inQuotes reports whether the cursor is inside an open double quote.
func (e *editor) inQuotes() bool {
	in := false
	for i := 0; i < e.pos; i++ {
		switch e.buf[i] {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		}
	}
	return in
}

// fits reports whether r may be added without the line exceeding
// config.MaxLine bytes.
func (e *editor) fits(r rune) bool {
	if utf8.UTFMax*(len(e.buf)+1) <= config.MaxLine {
		return true
	}
	n := utf8.RuneLen(r)
	for _, x := range e.buf {
		n += utf8.RuneLen(x)
	}
	return n <= config.MaxLine
}

// addHistory records a submitted line.
func (e *editor) addHistory(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if n := len(e.hist); n > 0 && e.hist[n-1] == l {
		return
	}
	e.hist = append(e.hist, l)
	if max := e.histMax; max > 0 && len(e.hist) > max {
		e.hist = append(e.hist[:0], e.hist[len(e.hist)-max:]...)
	}
}

// handle applies one key and says what the session must do.
func (e *editor) handle(k key) action {
	if k.dropped {
		// Invalid UTF-8 came before this key: say so, unless the key has
		// an action of its own (then it goes unsaid: a rare case).
		k.dropped = false
		a := e.handle(k)
		if a == actNone && !e.over && !e.rejected {
			e.rejected, e.reject = true, -1
			return actReject
		}
		return a
	}
	wasTab := e.lastTab
	e.lastTab = false
	switch k.kind {
	case keyNone:
		e.lastTab = wasTab // ignored input does not break a double Tab
	case keyReject:
		e.lastTab = wasTab
		if e.over || e.rejected {
			return actNone // said once per line
		}
		e.rejected, e.reject = true, k.r
		return actReject
	case keyRune:
		if e.over {
			return actNone
		}
		if k.r == '?' && !e.inQuotes() {
			return actHelp
		}
		if !e.fits(k.r) {
			e.over = true
			return actTooLong
		}
		e.insert(k.r)
	case keyEnter:
		return actSubmit
	case keyTab:
		e.lastTab = true
		if wasTab {
			return actList
		}
		return actComplete
	case keyBackspace:
		if e.pos > 0 {
			e.deleteRange(e.pos-1, e.pos)
		}
	case keyDelete:
		if e.pos < len(e.buf) {
			e.deleteRange(e.pos, e.pos+1)
		}
	case keyEOF:
		if len(e.buf) == 0 {
			return actEOF
		}
		if e.pos < len(e.buf) {
			e.deleteRange(e.pos, e.pos+1)
		}
	case keyLeft:
		if e.pos > 0 {
			e.pos--
			e.refresh()
		}
	case keyRight:
		if e.pos < len(e.buf) {
			e.pos++
			e.refresh()
		}
	case keyHome:
		e.pos = 0
		e.refresh()
	case keyEnd:
		e.pos = len(e.buf)
		e.refresh()
	case keyUp:
		if e.hpos > 0 {
			if e.hpos == len(e.hist) {
				e.saved = append([]rune(nil), e.buf...)
			}
			e.hpos--
			e.setLine([]rune(e.hist[e.hpos]))
		}
	case keyDown:
		if e.hpos < len(e.hist) {
			e.hpos++
			if e.hpos == len(e.hist) {
				e.setLine(e.saved)
			} else {
				e.setLine([]rune(e.hist[e.hpos]))
			}
		}
	case keyInterrupt:
		return actInterrupt
	case keyKillEnd:
		e.deleteRange(e.pos, len(e.buf))
	case keyKillStart:
		e.deleteRange(0, e.pos)
	case keyKillWord:
		i := e.pos
		for i > 0 && unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		for i > 0 && !unicode.IsSpace(e.buf[i-1]) {
			i--
		}
		e.deleteRange(i, e.pos)
	case keyClear:
		e.out.raw("\x1b[H\x1b[2J")
		e.refresh()
	}
	return actNone
}
