package pppoe

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"
)

// FuzzParseDiscovery: whatever parses encodes back to the same packet.
func FuzzParseDiscovery(f *testing.F) {
	f.Add([]byte("\x11\x07\x00\x00\x00\x0c\x01\x02\x00\x02ac\x01\x03\x00\x02hu"))
	f.Add([]byte("\x11\xa7\x12\x34\x00\x04\x02\x03\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDiscovery(in)
		if err != nil {
			return
		}
		b, err := AppendDiscovery(nil, d)
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", d, err)
		}
		d2, err := ParseDiscovery(b)
		if err != nil || !reflect.DeepEqual(norm(d), norm(d2)) {
			t.Fatalf("round trip: %+v != %+v (%v)", d, d2, err)
		}
	})
}

func norm(d Discovery) Discovery {
	for i := range d.Tags {
		if len(d.Tags[i].Value) == 0 {
			d.Tags[i].Value = nil
		}
	}
	return d
}

// FuzzParseSession: the information field lies inside the input and the
// header re-encodes to the input's.
func FuzzParseSession(f *testing.F) {
	f.Add([]byte("\x11\x00\x12\x34\x00\x06\x00\x21\x45\x00\x00\x14"))
	f.Fuzz(func(t *testing.T, in []byte) {
		id, proto, info, err := ParseSession(in)
		if err != nil {
			return
		}
		h := AppendSessionHeader(nil, id, proto, len(info))
		if !bytes.Equal(h, in[:SessionHeaderLen]) || len(info) > len(in)-SessionHeaderLen {
			t.Fatalf("header % x for input % x", h, in)
		}
	})
}

// FuzzClient feeds frames cut from the input, interleaved with time, to a
// client with a concentrator's answers in reach: it never panics, every
// frame it sends parses as its own discovery packet, and a session has
// an ID.
func FuzzClient(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x02\x01\x02\xac\x00\x00\x00\x01\x88\x63\x11\x07\x00\x00\x00\x0c\x01\x02\x00\x02ac\x01\x03\x00\x08ZZZZZZZZ"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, steps uint8) {
		cl, err := NewClient(Config{MAC: hostMAC, Rand: bytes.NewReader(bytes.Repeat([]byte{'Z'}, 64))})
		if err != nil {
			t.Fatal(err)
		}
		now := epoch
		check := func(out [][]byte) {
			for _, fr := range out {
				if len(fr) < 14 || binary.BigEndian.Uint16(fr[12:]) != EtherTypeDiscovery || [6]byte(fr[6:12]) != hostMAC {
					t.Fatalf("sent % x", fr)
				}
				if _, err := ParseDiscovery(fr[14:]); err != nil {
					t.Fatalf("sent a frame that does not parse: %v", err)
				}
			}
		}
		check(cl.Start(now))
		for i := 0; i < int(steps%16)+1 && len(in) > 0; i++ {
			n := min(len(in), 14+int(in[0])%200)
			fr := bytes.Clone(in[:n])
			in = in[n:]
			if len(fr) >= 14 {
				copy(fr[:6], hostMAC[:]) // most frames are for us
				fr[12], fr[13] = 0x88, 0x63
			}
			check(cl.HandleFrame(fr, now))
			now = now.Add(time.Duration(i) * 700 * time.Millisecond)
			check(cl.Tick(now))
			if st := cl.Status(); st.State == Session && st.SessionID == 0 {
				t.Fatal("a session without an ID")
			}
			cl.Events()
		}
		check(cl.Terminate(now, "fuzz"))
	})
}
