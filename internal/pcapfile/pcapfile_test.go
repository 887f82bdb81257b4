package pcapfile

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// What Writer writes reads back with gopacket's pcap reader (an
// independent implementation of the format): link type, timestamps to
// the microsecond, lengths, and frames cut to the snap length.
func TestReadBackWithGopacket(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, 64, LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 11, 30, 0, 123456789, time.UTC)
	frames := [][]byte{bytes.Repeat([]byte{0xab}, 60), bytes.Repeat([]byte{0xcd}, 1514), {}}
	for i, f := range frames {
		if err := w.WritePacket(t0.Add(time.Duration(i)*time.Second), f); err != nil {
			t.Fatal(err)
		}
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.Snaplen() != 64 {
		t.Errorf("link type %v, snaplen %d", r.LinkType(), r.Snaplen())
	}
	for i, f := range frames {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := f[:min(len(f), 64)]
		if !bytes.Equal(data, want) || ci.Length != len(f) || ci.CaptureLength != len(want) {
			t.Errorf("frame %d: %d bytes (length %d, captured %d), want %d of %d", i, len(data), ci.Length, ci.CaptureLength, len(want), len(f))
		}
		if wantTS := t0.Add(time.Duration(i) * time.Second).Truncate(time.Microsecond); !ci.Timestamp.Equal(wantTS) {
			t.Errorf("frame %d: timestamp %v, want %v", i, ci.Timestamp, wantTS)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Errorf("after the frames: %v, want EOF", err)
	}
}
