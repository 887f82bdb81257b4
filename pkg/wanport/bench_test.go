package wanport

import (
	"net"
	"testing"

	"github.com/passgate/passgate/pkg/link"
)

// discard is a port that takes every frame (the cost measured is ours).
type discard struct{ link.Link }

func (discard) WriteBatch(f []link.Frame) (int, error) { return len(f), nil }
func (discard) MTU() int                               { return 1500 }
func (discard) MAC() net.HardwareAddr                  { return net.HardwareAddr{2, 0, 0, 0, 0, 1} }

// refill is a port whose every read returns the same batch again, as
// the line would deliver it.
type refill struct {
	discard
	frames [][]byte
	bufs   [][]byte
}

func (r *refill) ReadBatch(out []link.Frame) (int, error) {
	for i, f := range r.frames {
		copy(r.bufs[i], f)
		out[i] = link.Frame{Data: r.bufs[i][:len(f)], Len: len(f)}
	}
	return len(r.frames), nil
}

// BenchmarkFraming is the cost per frame of each WAN framing, in both
// directions, for 64 frames of 1500-byte IPv4 (as a TCP download fills a
// batch) and of 60-byte ones: "plain" is plain Ethernet, which a Port
// hands straight to the link (routerd uses no Port then); the receive
// figures include refilling the batch (a copy per frame, as the ring
// would have written it), the same in every mode.
func BenchmarkFraming(b *testing.B) {
	for _, size := range []int{60, 1514} {
		for _, mode := range []struct {
			name string
			c    Config
		}{
			{"plain", Config{}},
			{"vlan", Config{VLAN: 7}},
			{"pppoe", Config{PPPoE: true, MTU: 1492}},
			{"pppoe+vlan", Config{PPPoE: true, VLAN: 7, MTU: 1492}},
		} {
			ip := make([]byte, size)
			copy(ip[12:], []byte{0x08, 0x00, 0x45, 0x00})
			tl := min(size-14, 1492)
			ip[16], ip[17] = byte(tl>>8), byte(tl)
			ip = ip[:14+tl]
			frames := make([]link.Frame, 64)
			for i := range frames {
				frames[i] = link.Frame{Data: ip, Len: len(ip)}
			}
			name := mode.name + "/" + map[int]string{60: "60B", 1514: "1500B"}[size]
			b.Run("send/"+name, func(b *testing.B) {
				p := New(discard{}, mode.c)
				p.SetSession(&Session{ID: 1, AC: net.HardwareAddr{2, 0xac, 0, 0, 0, 1}})
				b.SetBytes(int64(len(ip)) * 64)
				b.ReportAllocs()
				for b.Loop() {
					p.WriteBatch(frames)
				}
			})
			// What the line delivers for the same packets.
			var lineFrame []byte
			out := New(&captureOne{}, mode.c)
			out.SetSession(&Session{ID: 1, AC: net.HardwareAddr{2, 0xac, 0, 0, 0, 1}})
			out.WriteBatch(frames[:1])
			lineFrame = out.inner.(*captureOne).last
			copy(lineFrame[6:12], []byte{2, 0xac, 0, 0, 0, 1})
			b.Run("receive/"+name, func(b *testing.B) {
				r := &refill{}
				for range 64 {
					r.frames = append(r.frames, lineFrame)
					r.bufs = append(r.bufs, make([]byte, 2048))
				}
				p := New(r, mode.c)
				p.SetSession(&Session{ID: 1, AC: net.HardwareAddr{2, 0xac, 0, 0, 0, 1}})
				got := make([]link.Frame, 64)
				b.SetBytes(int64(len(ip)) * 64)
				b.ReportAllocs()
				for b.Loop() {
					if n, _ := p.ReadBatch(got); n != 64 {
						b.Fatalf("%d frames", n)
					}
				}
			})
		}
	}
}

type captureOne struct {
	discard
	last []byte
}

func (c *captureOne) WriteBatch(f []link.Frame) (int, error) {
	c.last = append([]byte(nil), f[0].Data...)
	return 1, nil
}
