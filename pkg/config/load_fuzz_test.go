package config

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to the file reader (decode): it must
// not panic; every error is one of the documented kinds; a file that
// decodes prints to a configuration that parses back equal; and what a PC
// editor does to a file (CRLF or CR line ends, a UTF-8 byte-order mark)
// never changes the outcome.
func FuzzDecode(f *testing.F) {
	saved := encode(Default(), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f.Add(saved)
	f.Add(bytes.ReplaceAll(saved, []byte("\n"), []byte("\r\n")))
	f.Add(bytes.ReplaceAll(saved, []byte("\n"), []byte("\r")))
	f.Add(append([]byte("\xef\xbb\xbf"), saved...))
	f.Add(bytes.Replace(saved, []byte("hostname"), []byte("hostname x\nset system hostname"), 1))
	f.Add(bytes.Replace(saved, []byte("eth1"), []byte("eth0"), 1))
	f.Add(saved[:len(saved)/2])
	f.Add(saved[:len(saved)-1])
	f.Add(utf16Bytes(string(saved), false, true))
	f.Add(utf16Bytes(string(saved), true, false))
	f.Add([]byte("set system hostname x\n"))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, info, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNotUTF8) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decode error %v is of no documented kind", err)
			}
		} else {
			back, perr := Parse(c.String())
			if perr != nil || !back.Equal(c) {
				t.Fatalf("decoded config does not print and parse back: %v", perr)
			}
			if info.handEdit && !bytes.Contains(data, []byte(trailerPrefix)) {
				t.Fatal("hand edit reported for a file without a checksum line")
			}
		}
		if bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, 0) >= 0 || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) || len(data) > MaxFileSize/2 {
			return
		}
		for _, pc := range [][]byte{
			bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")),
			bytes.ReplaceAll(data, []byte("\n"), []byte("\r")),
			append([]byte("\xef\xbb\xbf"), data...),
		} {
			c2, info2, err2 := decode(pc)
			if (err == nil) != (err2 == nil) || err == nil && (!c2.Equal(c) || !reflect.DeepEqual(info2, info)) {
				t.Fatalf("the PC form %q decodes to %v, %v; the file itself to %v, %v", pc, c2, err2, c, err)
			}
		}
	})
}
