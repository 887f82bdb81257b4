package shell

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// keyKind is one editing key decoded from the terminal's byte stream.
type keyKind uint8

const (
	keyNone      keyKind = iota // nothing complete yet / ignored input
	keyRune                     // a printable character
	keyEnter                    // CR, LF or CR LF
	keyTab                      // Tab
	keyBackspace                // DEL (0x7f) or BS (Ctrl-H)
	keyDelete                   // ESC [ 3 ~
	keyLeft                     // ESC [ D, ESC O D, Ctrl-B
	keyRight                    // ESC [ C, ESC O C, Ctrl-F
	keyUp                       // ESC [ A, ESC O A, Ctrl-P
	keyDown                     // ESC [ B, ESC O B, Ctrl-N
	keyHome                     // ESC [ H, ESC O H, ESC [ 1 ~, ESC [ 7 ~, Ctrl-A
	keyEnd                      // ESC [ F, ESC O F, ESC [ 4 ~, ESC [ 8 ~, Ctrl-E
	keyInterrupt                // Ctrl-C
	keyEOF                      // Ctrl-D
	keyKillEnd                  // Ctrl-K: delete to the end of the line
	keyKillStart                // Ctrl-U: delete to the start of the line
	keyKillWord                 // Ctrl-W: delete the word before the cursor
	keyClear                    // Ctrl-L: clear the screen
	keyReject                   // a character a command line may not hold (r; -1: invalid UTF-8)
)

type key struct {
	kind keyKind
	r    rune // keyRune, keyReject
	// dropped: invalid UTF-8 was dropped before this key.
	dropped bool
}

// decoder turns terminal input bytes into keys. It keeps state between
// calls, so escape sequences and UTF-8 characters may arrive split.
type decoder struct {
	state  uint8 // 0 normal, 1 after ESC, 2 in CSI, 3 after ESC O, 4 skipping an overlong CSI
	params []byte
	utf    []byte
	lastCR bool
}

// maxParams bounds an escape sequence's parameter bytes; longer sequences
// are abandoned (garbage on a serial line must not grow memory).
const maxParams = 16

// feed consumes one byte and returns the key it completes, if any.
func (d *decoder) feed(b byte) key {
	wasCR := d.lastCR
	d.lastCR = false
	switch d.state {
	case 1: // after ESC
		switch b {
		case '[':
			d.state, d.params = 2, d.params[:0]
			return key{}
		case 'O':
			d.state = 3
			return key{}
		case 0x1b:
			return key{} // ESC ESC: stay after ESC
		}
		// Alt+key or a lone ESC: drop the ESC, take the byte as typed.
		d.state = 0
		return d.feed(b)
	case 2: // CSI parameters, then a final byte 0x40..0x7e
		if b >= 0x40 && b <= 0x7e {
			d.state = 0
			return csiKey(b, d.params)
		}
		if b < 0x20 {
			// Not a sequence after all: abandon it.
			d.state = 0
			return d.feed(b)
		}
		if len(d.params) >= maxParams {
			d.state = 4
			return key{}
		}
		d.params = append(d.params, b)
		return key{}
	case 4: // skip the rest of an overlong sequence
		if b < 0x20 {
			d.state = 0
			return d.feed(b)
		}
		if b >= 0x40 && b <= 0x7e {
			d.state = 0
		}
		return key{}
	case 3: // SS3
		d.state = 0
		switch b {
		case 'A':
			return key{kind: keyUp}
		case 'B':
			return key{kind: keyDown}
		case 'C':
			return key{kind: keyRight}
		case 'D':
			return key{kind: keyLeft}
		case 'H':
			return key{kind: keyHome}
		case 'F':
			return key{kind: keyEnd}
		}
		return key{}
	}
	if len(d.utf) > 0 || b >= 0x80 {
		return d.feedUTF8(b)
	}
	switch b {
	case 0x1b:
		d.state = 1
		return key{}
	case '\r':
		d.lastCR = true
		return key{kind: keyEnter}
	case '\n':
		if wasCR {
			return key{} // the LF of CR LF
		}
		return key{kind: keyEnter}
	case 0:
		return key{} // NUL (telnet's CR NUL, break)
	case 0x11, 0x13:
		return key{} // XON, XOFF: a terminal's flow control, not typed
	case '\t':
		return key{kind: keyTab}
	case 0x7f, 0x08:
		return key{kind: keyBackspace}
	case 0x01:
		return key{kind: keyHome}
	case 0x02:
		return key{kind: keyLeft}
	case 0x03:
		return key{kind: keyInterrupt}
	case 0x04:
		return key{kind: keyEOF}
	case 0x05:
		return key{kind: keyEnd}
	case 0x06:
		return key{kind: keyRight}
	case 0x0b:
		return key{kind: keyKillEnd}
	case 0x0c:
		return key{kind: keyClear}
	case 0x0e:
		return key{kind: keyDown}
	case 0x10:
		return key{kind: keyUp}
	case 0x15:
		return key{kind: keyKillStart}
	case 0x17:
		return key{kind: keyKillWord}
	}
	if b < 0x20 {
		return key{kind: keyReject, r: rune(b)}
	}
	return key{kind: keyRune, r: rune(b)}
}

func (d *decoder) feedUTF8(b byte) key {
	if len(d.utf) > 0 && (b&0xc0 != 0x80) {
		// A new start byte (or ASCII) before the character was complete:
		// drop the broken prefix and start over with b.
		d.utf = d.utf[:0]
		k := d.feed(b)
		k.dropped = true
		return k
	}
	d.utf = append(d.utf, b)
	if !utf8.FullRune(d.utf) {
		if len(d.utf) >= utf8.UTFMax {
			d.utf = d.utf[:0]
			return key{kind: keyReject, r: -1}
		}
		return key{}
	}
	r, size := utf8.DecodeRune(d.utf)
	d.utf = d.utf[:0]
	switch {
	case r == utf8.RuneError && size <= 1:
		return key{kind: keyReject, r: -1}
	case !unicode.IsPrint(r):
		return key{kind: keyReject, r: r}
	}
	return key{kind: keyRune, r: r}
}

// rejectMsg says why a character cannot be typed, in the words exec
// mode uses for the same character (config.Tokenize).
func rejectMsg(r rune) string {
	switch {
	case r < 0:
		return "invalid UTF-8 input was dropped; set the terminal to UTF-8"
	case r < 0x20:
		return fmt.Sprintf("control character %U (Ctrl-%c) is not allowed", r, r+'@')
	case r == 0x7f || r >= 0x80 && r < 0xa0:
		return fmt.Sprintf("control character %U is not allowed", r)
	case unicode.Is(unicode.Zs, r):
		return fmt.Sprintf("%U is a special space and is not allowed; type a plain space", r)
	case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
		return fmt.Sprintf("invisible character %U is not allowed", r)
	}
	return fmt.Sprintf("unprintable character %U is not allowed", r)
}

func csiKey(final byte, params []byte) key {
	switch final {
	case 'A':
		return key{kind: keyUp}
	case 'B':
		return key{kind: keyDown}
	case 'C':
		return key{kind: keyRight}
	case 'D':
		return key{kind: keyLeft}
	case 'H':
		return key{kind: keyHome}
	case 'F':
		return key{kind: keyEnd}
	case '~':
		// The first parameter says which key; modifiers may follow ";".
		n := 0
		for _, c := range params {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
			if n > 1000 {
				return key{}
			}
		}
		switch n {
		case 1, 7:
			return key{kind: keyHome}
		case 4, 8:
			return key{kind: keyEnd}
		case 3:
			return key{kind: keyDelete}
		}
	}
	return key{}
}
