package wanport

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/passgate/passgate/pkg/link"
)

// fakeLink hands out one frame per ReadBatch and records writes.
type fakeLink struct {
	link.Link
	in      []byte
	written [][]byte
}

func (f *fakeLink) ReadBatch(frames []link.Frame) (int, error) {
	frames[0] = link.Frame{Data: f.in, Len: len(f.in)}
	return 1, nil
}

func (f *fakeLink) WriteBatch(frames []link.Frame) (int, error) {
	for _, fr := range frames {
		f.written = append(f.written, bytes.Clone(fr.Data))
	}
	return len(frames), nil
}

func (f *fakeLink) MTU() int { return 1500 }

// FuzzPort feeds any bytes to the receive path of every framing and
// writes them back: nothing panics, what the data plane gets is an
// untagged frame inside the input, and what goes out has the line's
// framing and fits the port.
func FuzzPort(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x01\x02\xac\x00\x00\x00\x01\x81\x00\x00\x07\x88\x64\x11\x00\x12\x34\x00\x16\x00\x21\x45\x00\x00\x14"), uint8(3))
	f.Add([]byte("\x02\x00\x00\x00\x00\x01\x02\xac\x00\x00\x00\x01\x88\x63\x11\x07\x00\x00\x00\x00"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		c := Config{}
		if mode&1 != 0 {
			c.VLAN = 7
		}
		if mode&2 != 0 {
			c.PPPoE = true
			c.Control = func(b []byte) {
				if len(b) < 14 {
					t.Fatalf("control frame of %d bytes", len(b))
				}
			}
		}
		fl := &fakeLink{in: bytes.Clone(in)}
		p := New(fl, c)
		p.SetSession(&Session{ID: 0x1234, AC: []byte{2, 0xac, 0, 0, 0, 1}})
		frames := make([]link.Frame, 1)
		n, _ := p.ReadBatch(frames)
		for _, fr := range frames[:n] {
			if len(fr.Data) > len(in) || fr.Len > len(in) {
				t.Fatalf("frame grew: %d > %d", len(fr.Data), len(in))
			}
			if !fr.Truncated() && len(fr.Data) >= 14 && c.PPPoE && binary.BigEndian.Uint16(fr.Data[12:]) != etherIPv4 {
				t.Fatalf("PPPoE handed the data plane EtherType %#x", binary.BigEndian.Uint16(fr.Data[12:]))
			}
		}
		p.WriteBatch(link.Plain(in))
		for _, w := range fl.written {
			if len(w) > len(in)+maxExtraHdr {
				t.Fatalf("wrote %d bytes for %d", len(w), len(in))
			}
			if c.VLAN != 0 && (binary.BigEndian.Uint16(w[12:]) != etherVLAN || binary.BigEndian.Uint16(w[14:])&0xfff != 7) {
				t.Fatalf("untagged frame written: % x", w)
			}
		}
	})
}
