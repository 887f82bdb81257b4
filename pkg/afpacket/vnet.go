//go:build linux

package afpacket

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/pkg/link"
)

// vnetLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR puts
// before every frame, received and transmitted:
//
//	0 u8 flags, 1 u8 gso_type, 2 u16 hdr_len, 4 u16 gso_size,
//	6 u16 csum_start, 8 u16 csum_offset
//
// The 16-bit fields are in the CPU's byte order (the kernel's "legacy
// virtio" byte order is little-endian on little-endian CPUs, native on
// the others).
const vnetLen = 10

// decodeVnet reads a virtio_net_hdr into an Offload. A GSO type the data
// plane does not know (UFO, tunnels) is kept as is: Offload.Valid fails
// on it and the frame is dropped, never taken for a plain frame.
func decodeVnet(b []byte) link.Offload {
	var o link.Offload
	if b[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
		o.NeedsCsum = true
		o.CsumStart = binary.NativeEndian.Uint16(b[6:])
		o.CsumOffset = binary.NativeEndian.Uint16(b[8:])
	}
	if g := b[1]; g != unix.VIRTIO_NET_HDR_GSO_NONE {
		o.GSO = link.GSOType(g &^ unix.VIRTIO_NET_HDR_GSO_ECN)
		o.ECN = g&unix.VIRTIO_NET_HDR_GSO_ECN != 0
		o.GSOSize = binary.NativeEndian.Uint16(b[4:])
	}
	return o
}

// encodeVnet writes o as a virtio_net_hdr into b[:vnetLen].
func encodeVnet(b []byte, o link.Offload) {
	clear(b[:vnetLen])
	if o.IsZero() {
		return
	}
	if o.NeedsCsum {
		b[0] = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
		binary.NativeEndian.PutUint16(b[2:], o.CsumStart+o.CsumOffset+2) // hdr_len: at least up to the checksum field
		binary.NativeEndian.PutUint16(b[6:], o.CsumStart)
		binary.NativeEndian.PutUint16(b[8:], o.CsumOffset)
	}
	if o.GSO != link.GSONone {
		g := uint8(o.GSO)
		if o.ECN {
			g |= unix.VIRTIO_NET_HDR_GSO_ECN
		}
		b[1] = g
		binary.NativeEndian.PutUint16(b[4:], o.GSOSize)
	}
}

// offloadFromStatus describes a frame received without a virtio_net_hdr
// whose ring status says TP_STATUS_CSUMNOTREADY: the checksum of an IPv4
// TCP or UDP packet is partial (the sender's TX checksum offload), and
// nothing says where, so it is found from the headers. A frame longer than
// the MTU is then a TCP super-packet (TSO through a veth); its segment
// size is what fits the MTU. Anything else is left plain, and the data
// plane treats it as it would any frame.
func offloadFromStatus(f []byte, mtu int) link.Offload {
	const eth = link.EthHeaderLen
	if len(f) < eth+20 || f[12] != 0x08 || f[13] != 0x00 || f[eth]>>4 != 4 {
		return link.Offload{}
	}
	ihl := int(f[eth]&0x0f) * 4
	if ihl < 20 || len(f) < eth+ihl+8 {
		return link.Offload{}
	}
	var o link.Offload
	switch f[eth+9] {
	case unix.IPPROTO_TCP:
		o = link.Offload{NeedsCsum: true, CsumStart: uint16(eth + ihl), CsumOffset: 16}
		if len(f) < eth+ihl+20 {
			return link.Offload{}
		}
		if thl := int(f[eth+ihl+12]>>4) * 4; len(f) > eth+mtu && thl >= 20 && ihl+thl < mtu {
			o.GSO, o.GSOSize = link.GSOTCPv4, uint16(mtu-ihl-thl)
		}
	case unix.IPPROTO_UDP:
		o = link.Offload{NeedsCsum: true, CsumStart: uint16(eth + ihl), CsumOffset: 6}
	default:
		return link.Offload{}
	}
	if !o.Valid(len(f)) {
		return link.Offload{}
	}
	return o
}
