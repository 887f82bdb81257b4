package ppp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzParsePacket: a control packet and its options that parse encode
// back to the same bytes.
func FuzzParsePacket(f *testing.F) {
	f.Add([]byte("\x01\x01\x00\x0e\x01\x04\x05\xd4\x05\x06\x01\x02\x03\x04"))
	f.Add([]byte("\x03\x02\x00\x0a\x03\x06\xc6\x33\x64\x02"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := parseControl(in)
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(in[2:]))
		if !bytes.Equal(c.encode(), in[:n]) {
			t.Fatalf("control % x re-encodes as % x", in[:n], c.encode())
		}
		opts, err := parseOptions(c.Data)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeOptions(opts), c.Data) {
			t.Fatalf("options % x re-encode as % x", c.Data, encodeOptions(opts))
		}
	})
}

// FuzzSession feeds a session packets cut from the input (protocol from
// two bytes, then the information) and ticks: it never panics, every
// packet it sends parses, and one input makes a bounded number of them.
func FuzzSession(f *testing.F) {
	f.Add([]byte("\xc0\x21\x0e\x01\x01\x00\x0e\x03\x04\xc0\x23\x05\x06\x01\x02\x03\x04\xc0\x21\x08\x02\x01\x00\x08\x01\x04\x05\xd4"), uint8(4))
	f.Add([]byte("\xc0\x23\x0c\x02\x01\x00\x0c\x07Welcome"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, steps uint8) {
		s, err := New(Config{Username: "user", Password: "pass", Rand: bytes.NewReader(bytes.Repeat([]byte{7, 1, 9, 3}, 64))})
		if err != nil {
			t.Fatal(err)
		}
		now := epoch
		check := func(out []Packet) {
			if len(out) > 8 {
				t.Fatalf("%d packets for one input", len(out))
			}
			for _, p := range out {
				if _, err := parseControl(p.Data); err != nil {
					t.Fatalf("sent a packet that does not parse (%#x): %v", p.Proto, err)
				}
			}
		}
		check(s.Open(now))
		for i := 0; i < int(steps%24)+1 && len(in) >= 3; i++ {
			proto := binary.BigEndian.Uint16(in)
			n := min(len(in)-3, int(in[2]))
			info := in[3 : 3+n]
			in = in[3+n:]
			check(s.Input(proto, info, now))
			if i%3 == 2 {
				now = now.Add(4 * time.Second)
				check(s.Tick(now))
			}
			for _, e := range s.Events() {
				if u, ok := e.(Up); ok && (!u.Local.Is4() || u.Local.IsUnspecified()) {
					t.Fatalf("up without an address: %+v", u)
				}
			}
		}
		check(s.Close("fuzz", now))
	})
}
