// Package pcapfile writes packet captures in the classic libpcap file
// format (tcpdump and Wireshark read it): a 24-byte file header, then per
// frame a 16-byte record header and the frame. Microsecond timestamps,
// little-endian, Ethernet link type. routerd's "capture" writes with it;
// it replaces a dependency on gopacket (its layers package alone made a
// large part of routerd's binary) for 40 lines of file format.
package pcapfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// LinkTypeEthernet is the link type of Ethernet frames (LINKTYPE_ETHERNET).
const LinkTypeEthernet = 1

const (
	magicMicroseconds = 0xa1b2c3d4
	versionMajor      = 2
	versionMinor      = 4
)

// Writer writes one capture file.
type Writer struct {
	w       io.Writer
	snaplen uint32
	rec     [16]byte
}

// NewWriter writes the file header (frames longer than snaplen are cut
// to it) and returns a Writer for the frames.
func NewWriter(w io.Writer, snaplen uint32, linkType uint32) (*Writer, error) {
	var h [24]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], magicMicroseconds)
	le.PutUint16(h[4:], versionMajor)
	le.PutUint16(h[6:], versionMinor)
	// h[8:16]: time zone offset and timestamp accuracy, both 0.
	le.PutUint32(h[16:], snaplen)
	le.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap file header: %w", err)
	}
	return &Writer{w: w, snaplen: snaplen}, nil
}

// WritePacket writes one frame seen at ts (cut to the snap length; the
// record keeps its original length).
func (w *Writer) WritePacket(ts time.Time, frame []byte) error {
	data := frame
	if uint32(len(data)) > w.snaplen {
		data = data[:w.snaplen]
	}
	le := binary.LittleEndian
	le.PutUint32(w.rec[0:], uint32(ts.Unix()))
	le.PutUint32(w.rec[4:], uint32(ts.Nanosecond()/1000))
	le.PutUint32(w.rec[8:], uint32(len(data)))
	le.PutUint32(w.rec[12:], uint32(len(frame)))
	if _, err := w.w.Write(w.rec[:]); err != nil {
		return fmt.Errorf("pcap record header: %w", err)
	}
	if _, err := w.w.Write(data); err != nil {
		return fmt.Errorf("pcap record: %w", err)
	}
	return nil
}
