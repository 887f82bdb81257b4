package shell

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/config"
)

// feedKeys runs input through a decoder and an editor that starts with
// line (cursor at the end) and history hist; it returns the actions.
func feedKeys(e *editor, input string) []action {
	var d decoder
	var acts []action
	for i := 0; i < len(input); i++ {
		if a := e.handle(d.feed(input[i])); a != actNone {
			acts = append(acts, a)
		}
	}
	return acts
}

func newTestEditor(width int) (*editor, *bytes.Buffer) {
	var out bytes.Buffer
	e := &editor{out: &termOut{w: &out, crlf: true}, cols: func() int { return width }, histMax: 3}
	e.start("p> ")
	out.Reset()
	return e, &out
}

func TestEditorKeys(t *testing.T) {
	tests := []struct {
		name    string
		hist    []string
		input   string
		line    string
		pos     int
		actions []action
	}{
		{name: "typing", input: "show", line: "show", pos: 4},
		{name: "enter CR", input: "ab\r", line: "ab", pos: 2, actions: []action{actSubmit}},
		{name: "enter LF", input: "ab\n", line: "ab", pos: 2, actions: []action{actSubmit}},
		{name: "CR LF is one enter", input: "a\r\n", line: "a", pos: 1, actions: []action{actSubmit}},
		{name: "LF LF is two", input: "\n\n", actions: []action{actSubmit, actSubmit}},
		{name: "left CSI", input: "abc\x1b[D\x1b[DX", line: "aXbc", pos: 2},
		{name: "left SS3", input: "abc\x1bODX", line: "abXc", pos: 3},
		{name: "left Ctrl-B", input: "abc\x02X", line: "abXc", pos: 3},
		{name: "left stops at 0", input: "a\x1b[D\x1b[D\x1b[DX", line: "Xa", pos: 1},
		{name: "right", input: "abc\x01\x1b[CX", line: "aXbc", pos: 2},
		{name: "right Ctrl-F", input: "abc\x01\x06\x06X", line: "abXc", pos: 3},
		{name: "right stops at end", input: "ab\x1b[C\x1b[CX", line: "abX", pos: 3},
		{name: "home Ctrl-A", input: "abc\x01X", line: "Xabc", pos: 1},
		{name: "home CSI H", input: "abc\x1b[HX", line: "Xabc", pos: 1},
		{name: "home CSI 1~", input: "abc\x1b[1~X", line: "Xabc", pos: 1},
		{name: "home CSI 7~", input: "abc\x1b[7~X", line: "Xabc", pos: 1},
		{name: "home SS3 H", input: "abc\x1bOHX", line: "Xabc", pos: 1},
		{name: "end Ctrl-E", input: "abc\x01\x05X", line: "abcX", pos: 4},
		{name: "end CSI F", input: "abc\x01\x1b[FX", line: "abcX", pos: 4},
		{name: "end CSI 4~", input: "abc\x01\x1b[4~X", line: "abcX", pos: 4},
		{name: "end CSI 8~", input: "abc\x01\x1b[8~X", line: "abcX", pos: 4},
		{name: "ctrl-right with modifier", input: "abc\x01\x1b[1;5CX", line: "aXbc", pos: 2},
		{name: "backspace DEL", input: "abc\x7f", line: "ab", pos: 2},
		{name: "backspace BS", input: "abc\x08", line: "ab", pos: 2},
		{name: "backspace in middle", input: "abc\x1b[D\x7f", line: "ac", pos: 1},
		{name: "backspace at start", input: "abc\x01\x7f", line: "abc", pos: 0},
		{name: "delete CSI 3~", input: "abc\x01\x1b[3~", line: "bc", pos: 0},
		{name: "delete at end", input: "abc\x1b[3~", line: "abc", pos: 3},
		{name: "Ctrl-D deletes under cursor", input: "abc\x01\x04", line: "bc", pos: 0},
		{name: "Ctrl-D on empty line", input: "\x04", actions: []action{actEOF}},
		{name: "Ctrl-D at end of text", input: "ab\x04", line: "ab", pos: 2},
		{name: "Ctrl-U kills to start", input: "show nat\x1b[D\x1b[D\x15", line: "at", pos: 0},
		{name: "Ctrl-K kills to end", input: "show nat\x01\x1b[C\x0b", line: "s", pos: 1},
		{name: "Ctrl-W kills word", input: "show nat  \x17", line: "show ", pos: 5},
		{name: "Ctrl-W twice", input: "show nat\x17\x17", line: "", pos: 0},
		{name: "Ctrl-W in middle", input: "show nat x\x1b[D\x1b[D\x17", line: "show  x", pos: 5},
		{name: "Ctrl-C", input: "abc\x03", line: "abc", pos: 3, actions: []action{actInterrupt}},
		{name: "tab", input: "sh\t", line: "sh", pos: 2, actions: []action{actComplete}},
		{name: "double tab", input: "sh\t\t", line: "sh", pos: 2, actions: []action{actComplete, actList}},
		{name: "tab text tab", input: "\ta\t", line: "a", pos: 1, actions: []action{actComplete, actComplete}},
		{name: "question mark", input: "show ?", line: "show ", pos: 5, actions: []action{actHelp}},
		{name: "question mark in quotes", input: `set "a?`, line: `set "a?`, pos: 7},
		{name: "question mark after quotes", input: `set "a" ?`, line: `set "a" `, pos: 8, actions: []action{actHelp}},
		{name: "history up", hist: []string{"one", "two"}, input: "\x1b[A", line: "two", pos: 3},
		{name: "history up up", hist: []string{"one", "two"}, input: "\x1b[A\x1b[A", line: "one", pos: 3},
		{name: "history up past oldest", hist: []string{"one", "two"}, input: "\x1b[A\x1b[A\x1b[A", line: "one", pos: 3},
		{name: "history down restores new line", hist: []string{"one"}, input: "new\x1b[A\x1b[B", line: "new", pos: 3},
		{name: "history Ctrl-P Ctrl-N", hist: []string{"one", "two"}, input: "\x10\x10\x0e", line: "two", pos: 3},
		{name: "history SS3", hist: []string{"one"}, input: "\x1bOA", line: "one", pos: 3},
		{name: "unknown CSI ignored", input: "a\x1b[99~b", line: "ab", pos: 2},
		{name: "unknown SS3 ignored", input: "a\x1bOPb", line: "ab", pos: 2},
		{name: "alt-key drops ESC", input: "a\x1bxb", line: "axb", pos: 3},
		{name: "overlong CSI abandoned", input: "a\x1b[11111111111111111111111111~b", line: "ab", pos: 2},
		{name: "CSI broken by control", input: "a\x1b[1\rb", line: "ab", pos: 2, actions: []action{actSubmit}},
		{name: "UTF-8", input: "caf\xc3\xa9", line: "café", pos: 4},
		{name: "broken UTF-8 refused", input: "a\xc3b", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "stray continuation refused", input: "a\x80b", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "invalid byte refused", input: "a\xffb", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "NUL ignored", input: "a\x00b", line: "ab", pos: 2},
		{name: "XON and XOFF ignored", input: "a\x11\x13b", line: "ab", pos: 2},
		{name: "other controls refused, said once a line", input: "a\x07\x1fb", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "C1 control refused", input: "a\xc2\x9bb", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "zero-width space refused", input: "a\u200bb", line: "ab", pos: 2, actions: []action{actReject}},
		{name: "no-break space refused", input: "a\u00a0b", line: "ab", pos: 2, actions: []action{actReject}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestEditor(80)
			e.hist = tt.hist
			e.hpos = len(tt.hist)
			acts := feedKeys(e, tt.input)
			if got := e.line(); got != tt.line || e.pos != tt.pos {
				t.Errorf("line %q cursor %d, want %q cursor %d", got, e.pos, tt.line, tt.pos)
			}
			if len(acts) != len(tt.actions) {
				t.Fatalf("actions %v, want %v", acts, tt.actions)
			}
			for i := range acts {
				if acts[i] != tt.actions[i] {
					t.Errorf("actions %v, want %v", acts, tt.actions)
				}
			}
		})
	}
}

// The decoder must accept sequences split across reads.
func TestDecoderSplit(t *testing.T) {
	e, _ := newTestEditor(80)
	var d decoder
	for _, chunk := range []string{"ab", "\x1b", "[", "D", "\xc3", "\xa9"} {
		for i := 0; i < len(chunk); i++ {
			e.handle(d.feed(chunk[i]))
		}
	}
	if e.line() != "aéb" || e.pos != 2 {
		t.Errorf("line %q cursor %d", e.line(), e.pos)
	}
}

func TestEditorHistory(t *testing.T) {
	e, _ := newTestEditor(80)
	for _, l := range []string{"a", "b", "b", " ", "c", "d"} {
		e.addHistory(l)
	}
	// duplicates and blank lines are skipped; at most histMax (3) kept
	if got := len(e.hist); got != 3 || e.hist[0] != "b" || e.hist[2] != "d" {
		t.Errorf("history %q", e.hist)
	}
}

// Long lines scroll horizontally: nothing is written past the last
// column but one, and the cursor stays visible.
func TestEditorScroll(t *testing.T) {
	e, out := newTestEditor(20)
	feedKeys(e, "0123456789abcdefghijklmnopqrstuvwxyz")
	if e.off == 0 {
		t.Fatalf("a line longer than the terminal did not scroll")
	}
	if vis := e.pos - e.off + len(e.prompt); vis > 19 {
		t.Errorf("cursor at column %d of 20", vis)
	}
	feedKeys(e, "\x01")
	if e.off != 0 {
		t.Errorf("Home did not scroll back: off %d", e.off)
	}
	// Every redraw is a single line: no newline is written while editing.
	if bytes.Contains(out.Bytes(), []byte("\n")) {
		t.Errorf("editing wrote a newline: %q", out.String())
	}
	for _, seg := range bytes.Split(out.Bytes(), []byte("\r")) {
		// strip escape sequences, count printable characters
		n := 0
		for i := 0; i < len(seg); i++ {
			if seg[i] == 0x1b {
				for i < len(seg) && !(seg[i] >= 0x40 && seg[i] <= 0x7e && seg[i] != '[') {
					i++
				}
				continue
			}
			n++
		}
		if n > 19 {
			t.Errorf("a redraw wrote %d columns on a 20-column terminal: %q", n, seg)
		}
	}
}

func TestSplitLine(t *testing.T) {
	segs, err := splitLine(`configure; set system hostname "a;b" # c; d`)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	w := tokWords(segs[1].toks)
	if len(w) != 4 || w[3] != "a;b" {
		t.Errorf("words %q", w)
	}
	if segs[1].toks[0].Col != 12 {
		t.Errorf("column of set = %d, want 12", segs[1].toks[0].Col)
	}
	if _, err := splitLine(`show; set "x`); err == nil {
		t.Errorf("unterminated quote accepted")
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc ddd", 8, "  ")
	if got != "aaa bbb\n  ccc\n  ddd" {
		t.Errorf("%q", got)
	}
	if got := wrap("x  y", 10, ""); got != "x  y" {
		t.Errorf("spacing lost: %q", got)
	}
	if got := wrap("averyveryverylongword and", 8, ""); got != "averyveryverylongword\nand" {
		t.Errorf("%q", got)
	}
}

// A refused character is said once a line; a new line says it again.
func TestEditorRejectOncePerLine(t *testing.T) {
	e, _ := newTestEditor(80)
	if acts := feedKeys(e, "\x07\x07\x12"); len(acts) != 1 || acts[0] != actReject || e.reject != 0x07 {
		t.Fatalf("actions %v, reject %U", acts, e.reject)
	}
	e.start("p> ")
	if acts := feedKeys(e, "\x12"); len(acts) != 1 || acts[0] != actReject || e.reject != 0x12 {
		t.Fatalf("on a new line: actions %v, reject %U", acts, e.reject)
	}
}

func TestRejectMsg(t *testing.T) {
	for r, want := range map[rune]string{
		-1:     "invalid UTF-8 input was dropped; set the terminal to UTF-8",
		0x07:   "control character U+0007 (Ctrl-G) is not allowed",
		0x1a:   "control character U+001A (Ctrl-Z) is not allowed",
		0x9b:   "control character U+009B is not allowed",
		0xa0:   "U+00A0 is a special space and is not allowed; type a plain space",
		0x200b: "invisible character U+200B is not allowed",
		0x2028: "invisible character U+2028 is not allowed",
		0xe000: "unprintable character U+E000 is not allowed",
	} {
		if got := rejectMsg(r); got != want {
			t.Errorf("rejectMsg(%U) = %q, want %q", r, got, want)
		}
	}
}

// TestEditorLineLimit: a paste over config.MaxLine bytes stops at the
// limit, says so once, drops the rest, and Enter still ends the line (the
// session then refuses it). The terminal gets a bounded amount of output:
// a long line is redrawn once per half screen, not at every character.
func TestEditorLineLimit(t *testing.T) {
	e, out := newTestEditor(80)
	paste := strings.Repeat("x", 1<<20)
	acts := feedKeys(e, paste+"\x07\r")
	if want := []action{actTooLong, actSubmit}; !slices.Equal(acts, want) {
		t.Fatalf("actions %v, want %v", acts, want)
	}
	if len(e.buf) != config.MaxLine || !e.over {
		t.Fatalf("line holds %d runes (over %v), want %d", len(e.buf), e.over, config.MaxLine)
	}
	// 4096 echoed characters plus a redraw of at most 80 columns every
	// 38 characters: about 13 KB (a redraw at every character was 89 MB
	// for a 1 MB paste).
	t.Logf("a 1 MiB paste wrote %d bytes to the terminal", out.Len())
	if out.Len() > 16<<10 {
		t.Errorf("the paste wrote %d bytes to the terminal", out.Len())
	}
	e.start("p> ")
	if e.over {
		t.Error("a new line is still over the limit")
	}
	// Multi-byte characters count in bytes.
	feedKeys(e, strings.Repeat("é", config.MaxLine))
	if n := len(string(e.buf)); n != config.MaxLine || !e.over {
		t.Errorf("line of é holds %d bytes, want %d", n, config.MaxLine)
	}
}
