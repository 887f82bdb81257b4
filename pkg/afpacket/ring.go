//go:build linux

package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TPACKET_V2 frame header (struct tpacket2_hdr), at the start of every
// ring slot:
//
//	0  u32 tp_status   owned by whoever the status says; see below
//	4  u32 tp_len      the frame's length on the wire (TX: the length to send)
//	8  u32 tp_snaplen  bytes of it in the slot
//	12 u16 tp_mac      offset of the frame (the Ethernet header) in the slot
//	14 u16 tp_net      offset of the network header
//	16 u32 tp_sec, 20 u32 tp_nsec
//	24 u16 tp_vlan_tci, 26 u16 tp_vlan_tpid, 28 u8 tp_padding[4]
const (
	hdrStatus   = 0
	hdrLen      = 4
	hdrSnaplen  = 8
	hdrMac      = 12
	hdrVLANTCI  = 24
	hdrVLANTPID = 26

	// txDataOff is where a transmitted frame starts in a TX slot: the
	// kernel reads it at tp_hdrlen - sizeof(struct sockaddr_ll), that is
	// TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) = 32.
	txDataOff = 32
	// rxMinHeadroom is the smallest tp_mac the kernel uses for a frame
	// with a 14-byte Ethernet header: TPACKET_ALIGN(52 + 16) - 14 = 66
	// (76 with the 10-byte virtio_net_hdr in front of the frame).
	rxMinHeadroom = 66
)

// The memory ordering of a ring slot, the same on amd64 and arm64:
//
// Receive: the kernel writes the frame and the header, then (after
// smp_wmb) sets tp_status to TP_STATUS_USER. We load the status with an
// atomic (acquire) load before reading anything else in the slot, so no
// read of the frame can be ordered before it. When we are done with the
// frame we store TP_STATUS_KERNEL with an atomic (release) store, so every
// read and write of ours to the slot happens before the kernel may reuse it.
//
// Transmit: we load the status (acquire) and write a slot only when it is
// TP_STATUS_AVAILABLE, which the kernel sets after it is done with the slot.
// We write the frame and the header, then store TP_STATUS_SEND_REQUEST
// (release), so the kernel, which reads the status with smp_rmb before the
// frame, sees the whole frame. The send(2) that kicks the kernel is itself a
// full barrier.
//
// Go's sync/atomic loads and stores are sequentially consistent (LDAR and
// STLR on arm64; on amd64 a MOV load, which x86 orders, and an XCHG
// store), which is at least acquire/release. Plain loads and stores of the status word would
// let an arm64 CPU read a frame before the status said it was complete, or
// hand a slot back before our last write to it: the corruption the issue
// warns about.

// ring is one mmap'd TPACKET_V2 ring: frames of frameSize bytes, packed
// frames-per-block into blocks of blockSize bytes.
type ring struct {
	mem       []byte // the ring's part of the mapping
	frameSize int
	perBlock  int
	blockSize int
	n         int // frames
}

// slot returns frame i of the ring.
func (r *ring) slot(i int) []byte {
	off := (i/r.perBlock)*r.blockSize + (i%r.perBlock)*r.frameSize
	return r.mem[off : off+r.frameSize : off+r.frameSize]
}

// status returns a pointer to the tp_status word of slot s (4-byte aligned:
// slots are TPACKET_ALIGNMENT-aligned in a page-aligned mapping).
func status(s []byte) *uint32 { return (*uint32)(unsafe.Pointer(&s[hdrStatus])) }

func loadStatus(s []byte) uint32     { return atomic.LoadUint32(status(s)) }
func storeStatus(s []byte, v uint32) { atomic.StoreUint32(status(s), v) }

func u16(s []byte, off int) uint16 { return binary.NativeEndian.Uint16(s[off:]) }
func u32(s []byte, off int) uint32 { return binary.NativeEndian.Uint32(s[off:]) }

func putU32(s []byte, off int, v uint32) { binary.NativeEndian.PutUint32(s[off:], v) }

// rxSlot is a received frame's place in its slot, as the header says.
type rxSlot struct {
	status  uint32
	wireLen int
	mac     int // offset of the frame in the slot
	snap    int // bytes of it in the slot
}

// parseRx reads slot s's header, checking the offsets against the slot
// (the kernel writes them, but a bad value must not make us slice out of
// the ring).
func parseRx(s []byte, st uint32) (rxSlot, bool) {
	h := rxSlot{status: st, wireLen: int(u32(s, hdrLen)), mac: int(u16(s, hdrMac)), snap: int(u32(s, hdrSnaplen))}
	if h.mac < txDataOff || h.mac > len(s) || h.snap > len(s)-h.mac {
		return h, false
	}
	return h, true
}

// Status bits (linux/if_packet.h).
const (
	statusKernel       = unix.TP_STATUS_KERNEL
	statusUser         = unix.TP_STATUS_USER
	statusCopy         = unix.TP_STATUS_COPY
	statusCsumNotReady = unix.TP_STATUS_CSUMNOTREADY
	statusVLANValid    = unix.TP_STATUS_VLAN_VALID
	statusVLANTPID     = unix.TP_STATUS_VLAN_TPID_VALID

	statusAvailable   = unix.TP_STATUS_AVAILABLE
	statusSendRequest = unix.TP_STATUS_SEND_REQUEST
	statusSending     = unix.TP_STATUS_SENDING
)
