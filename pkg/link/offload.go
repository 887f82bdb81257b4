package link

import "fmt"

// GSOType is the kind of segments a super-packet stands for (Linux's
// VIRTIO_NET_HDR_GSO_* values without the ECN bit).
type GSOType uint8

// GSO types.
const (
	GSONone  GSOType = 0 // a single packet
	GSOTCPv4 GSOType = 1 // TCP over IPv4: segments of GSOSize payload bytes
	GSOTCPv6 GSOType = 4 // TCP over IPv6
	GSOUDPL4 GSOType = 5 // UDP (USO, UDP_SEGMENT): datagrams of GSOSize payload bytes
)

func (g GSOType) String() string {
	switch g {
	case GSONone:
		return "none"
	case GSOTCPv4:
		return "tcpv4"
	case GSOTCPv6:
		return "tcpv6"
	case GSOUDPL4:
		return "udp"
	}
	return fmt.Sprintf("gso-%d", uint8(g))
}

// Offload is the work a frame leaves to the port, in the terms of Linux's
// virtio_net_hdr (which AF_PACKET's PACKET_VNET_HDR carries):
//
//   - NeedsCsum: the transport checksum is partial. The Internet checksum
//     of Data[CsumStart:] is to be stored at Data[CsumStart+CsumOffset:];
//     the checksum field holds the pseudo-header sum (not complemented), as
//     Linux's CHECKSUM_PARTIAL leaves it.
//   - GSO: Data is a super-packet, one set of headers followed by the
//     payload of several segments of GSOSize bytes each (the last may be
//     shorter). For TCP the IP total length and the checksum's
//     pseudo-header cover the whole super-packet; segmenting gives each
//     segment its own length, IP ID, sequence number and checksum, FIN and
//     PSH to the last only, CWR to the first only. A super-packet always
//     has NeedsCsum set.
//
// Offsets count from the start of the frame (the Ethernet header).
type Offload struct {
	NeedsCsum  bool
	CsumStart  uint16
	CsumOffset uint16
	GSO        GSOType
	GSOSize    uint16
	ECN        bool // the sender uses ECN (Linux's SKB_GSO_TCP_ECN): CWR may be set
}

// IsZero reports a plain frame.
func (o Offload) IsZero() bool { return o == Offload{} }

// Valid reports whether o can describe a frame of n bytes: a checksum
// field inside the frame, and a GSO super-packet only with a partial
// checksum and a segment size.
func (o Offload) Valid(n int) bool {
	if o.NeedsCsum && (o.CsumStart < EthHeaderLen || int(o.CsumStart)+int(o.CsumOffset)+2 > n) {
		return false
	}
	if o.GSO != GSONone && (!o.NeedsCsum || o.GSOSize == 0 ||
		(o.GSO != GSOTCPv4 && o.GSO != GSOTCPv6 && o.GSO != GSOUDPL4)) {
		return false
	}
	return o.GSO != GSONone || (o.GSOSize == 0 && !o.ECN)
}

// Plain wraps frames without offloads, for WriteBatch.
func Plain(frames ...[]byte) []Frame {
	out := make([]Frame, len(frames))
	for i, f := range frames {
		out[i] = Frame{Data: f, Len: len(f)}
	}
	return out
}

// fitsOffload reports whether f may be transmitted on a port with this MTU
// that accepts offloads: a valid Offload, and a super-packet may exceed the
// MTU up to the largest IP packet (64 KiB) after an Ethernet header and a
// VLAN tag.
func fitsOffload(f Frame, mtu int) bool {
	if f.Offload.IsZero() {
		return frameFits(f.Data, mtu)
	}
	if !f.Offload.Valid(len(f.Data)) {
		return false
	}
	if f.Offload.GSO != GSONone {
		return len(f.Data) >= EthHeaderLen && len(f.Data) <= MaxGSOFrame
	}
	return frameFits(f.Data, mtu)
}

// MaxGSOFrame is the largest super-packet frame a link carries: a 64 KiB
// IP packet after an Ethernet header and a VLAN tag.
const MaxGSOFrame = 65535 + EthHeaderLen + VLANTagLen
