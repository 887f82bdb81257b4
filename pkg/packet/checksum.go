// Package packet holds zero-copy views over packet headers (Ethernet, ARP,
// IPv4, IPv6 with a bounded extension-header walk, TCP, UDP, ICMP, ICMPv6,
// GRE, ESP, IKE) and the Internet checksum helpers, including RFC 1624
// incremental updates and the IPv6 pseudo-header. Views are byte slices with
// accessor methods, setters that keep checksums in step, and Put builders
// that write a whole header: they never copy and never allocate. Callers
// check lengths (with the Valid/Len helpers) before using a view.
package packet

import (
	"encoding/binary"
	"math/bits"
)

// Sum adds b to the running one's-complement sum (RFC 1071) and returns the
// unfolded 32-bit accumulator. An odd trailing byte is padded with zero.
func Sum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v >> 32
		s += v & 0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = (s & 0xffffffff) + (s >> 32)
	}
	return uint32(s)
}

// sum20 is Sum(b[:20], 0) for the common IPv4 header without options,
// already folded to 16 bits: five 32-bit loads instead of Sum's loop. The
// words are loaded little-endian (no byte swap on amd64 or arm64) and the
// result is swapped once at the end; the one's-complement sum does not
// depend on the byte order it is computed in (RFC 1071 §2(B)).
func sum20(b []byte) uint32 {
	_ = b[19]
	s := uint64(binary.LittleEndian.Uint32(b)) + uint64(binary.LittleEndian.Uint32(b[4:])) +
		uint64(binary.LittleEndian.Uint32(b[8:])) + uint64(binary.LittleEndian.Uint32(b[12:])) +
		uint64(binary.LittleEndian.Uint32(b[16:]))
	s = (s & 0xffffffff) + (s >> 32) // now below 2^32 + 4: three 16-bit folds end it
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return uint32(bits.ReverseBytes16(uint16(s)))
}

// Fold folds a 32-bit accumulator to 16 bits and returns its one's
// complement: the value to store in a checksum field.
func Fold(s uint32) uint16 {
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// Checksum is the Internet checksum of b.
func Checksum(b []byte) uint16 { return Fold(Sum(b, 0)) }

// PseudoHeaderSum is the unfolded sum of the IPv4 pseudo-header used by TCP
// and UDP checksums.
func PseudoHeaderSum(src, dst uint32, proto uint8, length int) uint32 {
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
		uint32(proto) + uint32(length)
}

// Update16 returns the checksum hc after a 16-bit word of the covered data
// changed from old to new (RFC 1624, equation 3: HC' = ~(~HC + ~m + m')).
func Update16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// Update32 is Update16 for a 32-bit field (an IPv4 address, an SPI).
func Update32(hc uint16, old, new uint32) uint16 {
	s := uint32(^hc) + (^old >> 16) + (^old & 0xffff) + (new >> 16) + (new & 0xffff)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// UpdateAddrPort is the checksum hc after a 32-bit address and a 16-bit
// port it covers changed together (a NAT rewriting one endpoint of a TCP
// segment: the address through the pseudo-header, the port in the header),
// folded once (RFC 1624, equation 3).
func UpdateAddrPort(hc uint16, oldAddr, newAddr uint32, oldPort, newPort uint16) uint16 {
	s := uint32(^hc) + (^oldAddr >> 16) + (^oldAddr & 0xffff) + (newAddr >> 16) + (newAddr & 0xffff) +
		uint32(^oldPort) + uint32(newPort)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// UpdateUDP is Update16 for a UDP checksum field: a zero checksum means
// "no checksum" and stays zero (RFC 768, RFC 3948 §2.1), and a computed zero
// is transmitted as 0xffff.
func UpdateUDP(hc, old, new uint16) uint16 {
	if hc == 0 {
		return 0
	}
	if c := Update16(hc, old, new); c != 0 {
		return c
	}
	return 0xffff
}

// UpdateUDP32 is Update32 with the UDP zero-checksum rules of UpdateUDP.
func UpdateUDP32(hc uint16, old, new uint32) uint16 {
	if hc == 0 {
		return 0
	}
	if c := Update32(hc, old, new); c != 0 {
		return c
	}
	return 0xffff
}

// UpdateUDPAddrPort is UpdateAddrPort with the UDP zero-checksum rules of
// UpdateUDP.
func UpdateUDPAddrPort(hc uint16, oldAddr, newAddr uint32, oldPort, newPort uint16) uint16 {
	if hc == 0 {
		return 0
	}
	if c := UpdateAddrPort(hc, oldAddr, newAddr, oldPort, newPort); c != 0 {
		return c
	}
	return 0xffff
}
