package console_test

import (
	"bytes"
	"testing"

	"github.com/passgate/passgate/pkg/console"
)

// FuzzReadPassword: whatever a serial line sends, the password reader
// never panics, returns at most MaxPassword bytes without control
// characters, and stops at the first line end.
func FuzzReadPassword(f *testing.F) {
	f.Add([]byte("secret\r"))
	f.Add([]byte("a\x7f\x7fé\x7fb\x15c\r\n"))
	f.Add([]byte("\x03"))
	f.Add(append(bytes.Repeat([]byte("x"), 2000), '\r'))
	f.Fuzz(func(t *testing.T, in []byte) {
		pw, err := console.ReadPassword(bytes.NewReader(in))
		if len(pw) > console.MaxPassword {
			t.Fatalf("%d bytes read as a password", len(pw))
		}
		for _, c := range pw {
			if c < 0x20 {
				t.Fatalf("control byte %#x in the password %q", c, pw)
			}
		}
		if err == nil && bytes.IndexAny(in, "\r\n") < 0 {
			t.Fatalf("a password without a line end: %q", pw)
		}
	})
}
