// Package link is the data plane's view of a network port: something that
// moves whole Ethernet frames in batches.
//
// Three implementations exist. [OpenAFPacket] drives a real interface
// through an AF_PACKET socket with mmap'd TPACKET receive and transmit rings
// (package afpacket); [TAP] is the router's own stack; [Pipe] connects two
// in-memory ends so the whole router runs in a plain `go test` without root.
// The Pipe is the fake of the AF_PACKET link: package linktest holds the
// contract suite both pass.
//
// # Ownership
//
// ReadBatch lends frames: frames[i].Data points into memory owned by the
// link (the pipe's ring slot, or the AF_PACKET link's receive arena). It stays
// valid and unchanged until the next ReadBatch or Close on the same link, and
// the caller may modify it in place (rewrite headers, NAT) and hand it straight
// to another link's WriteBatch. A caller that needs bytes beyond that must copy
// them.
//
// WriteBatch borrows frames only for the duration of the call: the link
// copies every frame it accepts (into the kernel or into the peer's ring)
// before returning, and keeps no reference to the slices.
//
// # Offloads
//
// A frame may leave work to the port, as Linux's virtio_net_hdr describes
// it (see [Offload]): a partial checksum (the sender's TX checksum offload)
// or a GSO/GRO super-packet larger than the MTU that stands for a train of
// segments. ReadBatch may return such frames on any link that can receive
// them (a veth or virtio port, or a NIC doing GRO). WriteBatch accepts them
// only on a link whose Offloads reports true; elsewhere they are dropped and
// counted, so the caller completes checksums and segments first.
//
// # Concurrency
//
// ReadBatch calls are serialised (one reader at a time, as the ownership rule
// requires), WriteBatch calls are serialised, and a ReadBatch may run
// concurrently with a WriteBatch. Close may be called at any time from any
// goroutine: it wakes a blocked ReadBatch, waits for in-flight calls to
// finish, and is idempotent. Stats, MTU, MAC and Name are safe at any time.
//
// # Timers
//
// ReadBatch blocks until at least one frame is available, the link's poll
// timeout expires, or the link is closed. On timeout it returns (0, nil), so a
// data-plane loop wakes at least every poll timeout (DefaultPollTimeout,
// 10 ms) to service its timers.
package link

import (
	"fmt"
	"net"
	"time"
)

// Link is a port that moves whole Ethernet frames (destination MAC to the end
// of the payload, no FCS) in batches. See the package documentation for the
// ownership and concurrency rules.
type Link interface {
	// ReadBatch fills frames[0:n] with received frames and returns n. It
	// blocks until at least one frame is available, the poll timeout
	// expires (n == 0, err == nil) or the link is closed (ErrClosed). The
	// frames stay valid until the next ReadBatch or Close.
	ReadBatch(frames []Frame) (n int, err error)

	// WriteBatch transmits frames, copying each one, and returns how many
	// were put on the wire. Frames it could not transmit (too large, too
	// short, transmit queue full, peer gone) are dropped and counted in
	// Stats().TxDropped; they are not an error. err is ErrClosed after
	// Close, or a hard error from the port (for example the interface went
	// away).
	WriteBatch(frames []Frame) (n int, err error)

	// Offloads reports whether WriteBatch accepts frames with an Offload
	// (partial checksums and GSO super-packets of TCP over IPv4 and IPv6
	// and of UDP): the port, or the kernel behind it, finishes them.
	Offloads() bool

	// MTU is the largest IP packet the port carries; the largest frame is
	// MTU + 14 bytes (+ 4 for one VLAN tag).
	MTU() int
	// MAC is the port's hardware address. The caller must not modify it.
	MAC() net.HardwareAddr
	// Name is the interface name (or the pipe end's name).
	Name() string
	// Stats returns cumulative counters since the link was opened.
	Stats() Stats
	// Close releases the port and wakes a blocked ReadBatch. It is
	// idempotent.
	Close() error
}

// Frame is one frame: received (lent by ReadBatch) or to transmit.
type Frame struct {
	// Data holds the frame bytes as received, valid until the next
	// ReadBatch or Close on the link that returned it.
	Data []byte
	// Len is the frame's length on the wire. It equals len(Data) unless
	// the frame was larger than the link's receive buffer, in which case
	// Data holds only the first bytes and the data plane should drop the
	// frame. WriteBatch ignores it.
	Len int
	// Offload is the work the frame leaves to the port; the zero value is
	// a plain frame with complete checksums.
	Offload Offload
}

// Truncated reports whether the frame was cut short on receive.
func (f *Frame) Truncated() bool { return f.Len > len(f.Data) }

// Stats are cumulative per-link counters.
type Stats struct {
	RxPackets uint64 // frames returned by ReadBatch
	RxBytes   uint64 // their wire length
	RxDropped uint64 // frames lost before ReadBatch saw them (receive ring/queue full)
	TxPackets uint64 // frames put on the wire by WriteBatch
	TxBytes   uint64
	TxDropped uint64 // frames WriteBatch refused (oversize, runt, queue full, peer gone)
}

// String formats the counters for logs.
func (s Stats) String() string {
	return fmt.Sprintf("rx %d pkts %d bytes %d dropped, tx %d pkts %d bytes %d dropped",
		s.RxPackets, s.RxBytes, s.RxDropped, s.TxPackets, s.TxBytes, s.TxDropped)
}

// ErrClosed is returned by ReadBatch and WriteBatch after Close. It matches
// net.ErrClosed with errors.Is.
var ErrClosed = fmt.Errorf("link: %w", net.ErrClosed)

// DefaultPollTimeout is how long ReadBatch waits for a frame before
// returning (0, nil), unless configured otherwise.
const DefaultPollTimeout = 10 * time.Millisecond

// Ethernet framing sizes.
const (
	EthHeaderLen = 14 // destination, source, EtherType
	VLANTagLen   = 4  // one 802.1Q / 802.1ad tag
)

// maxFrameLen is the largest frame a port with this MTU accepts: the Ethernet
// header plus one VLAN tag, which the kernel allows on top of MTU + 14 for
// tagged frames.
func maxFrameLen(mtu int) int { return mtu + EthHeaderLen + VLANTagLen }

// frameFits reports whether frame may be transmitted on a port with this
// MTU: at least an Ethernet header, and no more than MTU + 14 bytes, or
// MTU + 18 when it carries a VLAN tag (mirroring the kernel's AF_PACKET rule).
func frameFits(frame []byte, mtu int) bool {
	n := len(frame)
	if n < EthHeaderLen {
		return false
	}
	if n <= mtu+EthHeaderLen {
		return true
	}
	if n <= mtu+EthHeaderLen+VLANTagLen {
		et := uint16(frame[12])<<8 | uint16(frame[13])
		return et == 0x8100 || et == 0x88a8
	}
	return false
}
