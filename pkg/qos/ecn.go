package qos

import (
	"encoding/binary"

	"github.com/passgate/passgate/pkg/packet"
)

// ECN codepoints (RFC 3168 §5): the two low bits of the IPv4 TOS byte or
// of the IPv6 traffic class.
const (
	ecnNotECT = 0
	ecnCE     = 3
)

// MarkCE sets Congestion Experienced in the IPv4 or IPv6 header ip if the
// packet is ECN-capable (ECT(0), ECT(1)) and reports whether it did; an
// IPv4 header's checksum is updated incrementally (RFC 1624). A packet
// that is not ECN-capable, already marked, or not a whole IP header is
// left alone.
func MarkCE(ip []byte) bool {
	if len(ip) < 1 {
		return false
	}
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return false
		}
		if e := ip[1] & 3; e == ecnNotECT || e == ecnCE {
			return false
		}
		old := binary.BigEndian.Uint16(ip[0:2])
		ip[1] |= ecnCE
		hc := packet.Update16(binary.BigEndian.Uint16(ip[10:12]), old, binary.BigEndian.Uint16(ip[0:2]))
		binary.BigEndian.PutUint16(ip[10:12], hc)
		return true
	case 6:
		if len(ip) < 40 {
			return false
		}
		// Traffic class: the low 4 bits of byte 0 and the high 4 of byte 1;
		// ECN is its low 2 bits, bits 4-5 of byte 1.
		if e := ip[1] >> 4 & 3; e == ecnNotECT || e == ecnCE {
			return false
		}
		ip[1] |= ecnCE << 4
		return true
	}
	return false
}
