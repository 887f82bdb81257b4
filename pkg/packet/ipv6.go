package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 (RFC 8200): the fixed header, a bounded walk of the extension
// header chain, ICMPv6 (RFC 4443) and the checksum over the IPv6
// pseudo-header (RFC 8200 §8.1).

// IPv6HeaderLen is the length of the fixed IPv6 header.
const IPv6HeaderLen = 40

// IPv6MinMTU is the minimum link MTU of IPv6 (RFC 8200 §5): every link
// carries 1280-byte packets, and an ICMPv6 error never exceeds it.
const IPv6MinMTU = 1280

// Next Header values: the extension headers (RFC 7045 §2, the IANA "IPv6
// Extension Header Types" registry) and the upper-layer protocols the
// router looks at besides TCP, UDP, GRE and ESP.
const (
	ProtoHopByHop = 0
	ProtoDCCP     = 33
	ProtoIPv6     = 41 // IPv6 in IPv6
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
	ProtoMobility = 135
	ProtoUDPLite  = 136
	ProtoHIP      = 139
	ProtoShim6    = 140
	ProtoExp253   = 253 // RFC 3692-style experiment (RFC 4727)
	ProtoExp254   = 254
)

// IPv6 is a view of an IPv6 packet starting at its fixed header.
type IPv6 []byte

// IPv6Error says why a buffer is not a usable IPv6 packet.
type IPv6Error uint8

// Reasons returned by IPv6.Check.
const (
	IPv6OK IPv6Error = iota
	IPv6Truncated
	IPv6BadVersion
	IPv6BadLength
)

var ipv6ErrorText = [...]string{"ok", "truncated IPv6 header", "not IPv6", "bad IPv6 payload length"}

func (e IPv6Error) String() string { return ipv6ErrorText[e] }

// Check validates the version and the payload length against the buffer.
// On success the packet is p[:IPv6HeaderLen+p.PayloadLen()] (trailing
// link-layer padding excluded). A payload length of zero with a Hop-by-Hop
// header (a jumbogram, RFC 2675) is refused: no link the router serves
// carries one.
func (p IPv6) Check() IPv6Error {
	if len(p) < IPv6HeaderLen {
		return IPv6Truncated
	}
	if p[0]>>4 != 6 {
		return IPv6BadVersion
	}
	pl := int(binary.BigEndian.Uint16(p[4:]))
	if IPv6HeaderLen+pl > len(p) || (pl == 0 && p[6] == ProtoHopByHop) {
		return IPv6BadLength
	}
	return IPv6OK
}

func (p IPv6) Version() uint8      { return p[0] >> 4 }
func (p IPv6) TrafficClass() uint8 { return p[0]<<4 | p[1]>>4 }
func (p IPv6) FlowLabel() uint32   { return binary.BigEndian.Uint32(p[0:]) & 0xfffff }
func (p IPv6) PayloadLen() int     { return int(binary.BigEndian.Uint16(p[4:])) }
func (p IPv6) NextHeader() uint8   { return p[6] }
func (p IPv6) HopLimit() uint8     { return p[7] }
func (p IPv6) Src() []byte         { return p[8:24] }
func (p IPv6) Dst() []byte         { return p[24:40] }
func (p IPv6) Payload() []byte     { return p[IPv6HeaderLen : IPv6HeaderLen+p.PayloadLen()] }

// SrcAddr and DstAddr return the addresses as netip.Addr (no allocation).
func (p IPv6) SrcAddr() netip.Addr { return netip.AddrFrom16([16]byte(p[8:24])) }
func (p IPv6) DstAddr() netip.Addr { return netip.AddrFrom16([16]byte(p[24:40])) }

// SetHopLimit sets the hop limit. IPv6 has no header checksum, and the
// hop limit is not part of the pseudo-header: nothing else changes.
func (p IPv6) SetHopLimit(h uint8) { p[7] = h }

// DecHopLimit decrements the hop limit (the caller checked it is > 1).
func (p IPv6) DecHopLimit() { p[7]-- }

// IPv6Header holds the fields PutHeader writes.
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     [16]byte
}

// PutHeader writes h as the fixed header of a packet of len(p) bytes.
func (p IPv6) PutHeader(h IPv6Header) {
	binary.BigEndian.PutUint32(p[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)-IPv6HeaderLen))
	p[6] = h.NextHeader
	p[7] = h.HopLimit
	copy(p[8:24], h.Src[:])
	copy(p[24:40], h.Dst[:])
}

// The walk of the extension header chain is bounded (RFC 9098 describes
// what unbounded chains do to middleboxes; RFC 8504 §5.3 and RFC 8883 name
// the limits a node may apply and the errors it reports):
//
//   - at most MaxExtHeaders extension headers are walked;
//   - the upper-layer header must start within the first MaxHeaderChain
//     bytes of the packet (IPv6 header included).
//
// A longer chain is not parsed further: Walk returns ChainTooMany or
// ChainTooLong, and the upper-layer header beyond the bound is never
// looked at. Which extension headers are walked is decided by number, not
// by what the router understands (RFC 7045 §2.2: an unrecognised header
// is not a reason to drop): Hop-by-Hop, Routing, Fragment, Destination
// Options, AH, Shim6 and the two experimental values are walked; ESP,
// Mobility and HIP end the walk (ESP encrypts what follows, Mobility and
// HIP carry No Next Header in practice) and are reported as the
// upper-layer protocol; any other value is an upper-layer protocol.
const (
	MaxExtHeaders  = 8
	MaxHeaderChain = 256
)

// ChainError says why a header chain was not walked to its end.
type ChainError uint8

const (
	ChainOK ChainError = iota
	// ChainTruncated: an extension header runs past the end of the packet.
	ChainTruncated
	// ChainHopByHopNotFirst: a Hop-by-Hop header anywhere but right after
	// the fixed header (RFC 8200 §4.1).
	ChainHopByHopNotFirst
	// ChainTooMany: more than MaxExtHeaders extension headers.
	ChainTooMany
	// ChainTooLong: the upper-layer header starts at or beyond
	// MaxHeaderChain.
	ChainTooLong
	// ChainFragmentIncomplete: a first fragment that does not hold the
	// whole header chain up to and including the upper-layer header
	// (RFC 7112 §5; RFC 8200 §4.5).
	ChainFragmentIncomplete
)

var chainErrorText = [...]string{"ok", "extension header truncated", "hop-by-hop header not first",
	"too many extension headers", "extension header chain too long", "first fragment without the whole header chain"}

func (e ChainError) String() string { return chainErrorText[e] }

// Chain describes a walked header chain.
type Chain struct {
	// Proto is the upper-layer protocol (its Next Header value; 59 for No
	// Next Header). In a later fragment it is the Fragment header's Next
	// Header, whose header is not in this packet.
	Proto uint8
	// Offset is where the upper-layer header starts, from the first byte
	// of the IPv6 header. On an error it is where the walk stopped (the
	// header it could not take), for an ICMPv6 Parameter Problem pointer.
	Offset int
	// Headers is the number of extension headers walked.
	Headers int

	Frag       bool   // a Fragment header is present (atomic fragments too)
	FragOffset int    // fragment offset in bytes
	MoreFrags  bool   // the M flag
	FragID     uint32 // identification

	Routing      bool  // a Routing header is present
	RoutingType  uint8 // of the first Routing header
	SegmentsLeft uint8

	AH bool // an Authentication Header is present
}

// Fragmented reports whether the packet is a fragment of a larger one:
// an atomic fragment (offset 0, M clear; RFC 6946) is not.
func (c *Chain) Fragmented() bool { return c.Frag && (c.FragOffset != 0 || c.MoreFrags) }

// LaterFragment reports whether the packet is a fragment other than the
// first: its upper-layer header is elsewhere.
func (c *Chain) LaterFragment() bool { return c.Frag && c.FragOffset != 0 }

// upperMin is how many bytes of an upper-layer header a first fragment
// must hold (RFC 7112: the whole header chain, the upper-layer header
// included); 0 for protocols whose header the router does not read.
func upperMin(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return TCPHeaderLen
	case ProtoUDP, ProtoUDPLite:
		return UDPHeaderLen
	case ProtoICMPv6:
		return ICMPv6HeaderLen
	case ProtoSCTP, ProtoDCCP, ProtoESP:
		return 8
	}
	return 0
}

// Walk walks the extension header chain of p (which Check accepted and
// which is trimmed to its payload length). It reads at most MaxExtHeaders
// headers and MaxHeaderChain bytes, never allocates, and returns the
// chain as far as it got with the reason it stopped early, if any.
func (p IPv6) Walk() (Chain, ChainError) {
	c := Chain{Proto: p[6], Offset: IPv6HeaderLen}
	for {
		switch c.Proto {
		case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDstOpts, ProtoAH, ProtoShim6, ProtoExp253, ProtoExp254:
		default:
			// The upper-layer header.
			if c.Offset >= MaxHeaderChain {
				return c, ChainTooLong
			}
			if c.Fragmented() && c.Offset+upperMin(c.Proto) > len(p) {
				return c, ChainFragmentIncomplete
			}
			return c, ChainOK
		}
		if c.Proto == ProtoHopByHop && c.Offset != IPv6HeaderLen {
			return c, ChainHopByHopNotFirst
		}
		if c.Headers == MaxExtHeaders {
			return c, ChainTooMany
		}
		if c.Offset >= MaxHeaderChain {
			return c, ChainTooLong
		}
		if c.Offset+8 > len(p) {
			return c, c.truncated()
		}
		h := p[c.Offset:]
		n := 8
		switch c.Proto {
		case ProtoFragment:
			fo := binary.BigEndian.Uint16(h[2:])
			c.Frag = true
			c.FragOffset = int(fo &^ 7)
			c.MoreFrags = fo&1 != 0
			c.FragID = binary.BigEndian.Uint32(h[4:])
			if c.FragOffset != 0 {
				// A later fragment: what follows is the middle of the
				// fragmentable part, not a header.
				c.Headers++
				c.Proto = h[0]
				c.Offset += n
				return c, ChainOK
			}
		case ProtoAH:
			n = (int(h[1]) + 2) * 4 // RFC 4302 §2.2: in 4-byte units, minus 2
			c.AH = true
		default:
			n = (int(h[1]) + 1) * 8
			if c.Proto == ProtoRouting && !c.Routing {
				c.Routing = true
				c.RoutingType = h[2]
				c.SegmentsLeft = h[3]
			}
		}
		if c.Offset+n > len(p) {
			return c, c.truncated()
		}
		c.Headers++
		c.Proto = h[0]
		c.Offset += n
	}
}

// truncated is the error for a header running past the packet: in a first
// fragment, the chain continues in the next fragment (RFC 7112).
func (c *Chain) truncated() ChainError {
	if c.Fragmented() {
		return ChainFragmentIncomplete
	}
	return ChainTruncated
}

// ICMPv6 (RFC 4443).

// ICMPv6HeaderLen is the length of the ICMPv6 header with its 4-byte
// message body prefix (identifier and sequence, MTU or pointer).
const ICMPv6HeaderLen = 8

// ICMPv6 message types.
const (
	ICMPv6DestUnreachable   = 1
	ICMPv6PacketTooBig      = 2
	ICMPv6TimeExceeded      = 3
	ICMPv6ParamProblem      = 4
	ICMPv6EchoRequest       = 128
	ICMPv6EchoReply         = 129
	ICMPv6MLDQuery          = 130
	ICMPv6MLDReport         = 131
	ICMPv6MLDDone           = 132
	ICMPv6RouterSolicit     = 133
	ICMPv6RouterAdvert      = 134
	ICMPv6NeighborSolicit   = 135
	ICMPv6NeighborAdvert    = 136
	ICMPv6Redirect          = 137
	ICMPv6RouterRenumbering = 138
	ICMPv6NodeInfoQuery     = 139
	ICMPv6NodeInfoReply     = 140
	ICMPv6MLDv2Report       = 143
)

// ICMPv6 codes the router sends or looks at.
const (
	// Destination Unreachable (RFC 4443 §3.1; code 8 RFC 8883).
	ICMPv6NoRoute          = 0
	ICMPv6AdminProhibited  = 1
	ICMPv6BeyondScope      = 2
	ICMPv6AddrUnreachable  = 3
	ICMPv6PortUnreachable  = 4
	ICMPv6SourcePolicy     = 5 // source address failed ingress/egress policy
	ICMPv6RejectRoute      = 6
	ICMPv6HeadersTooLong   = 8
	ICMPv6HopLimitExceeded = 0 // Time Exceeded
	ICMPv6ReassemblyTime   = 1 // Time Exceeded
	// Parameter Problem (RFC 4443 §3.4; 3 RFC 7112; 7 and 8 RFC 8883).
	ICMPv6ErroneousHeader    = 0
	ICMPv6UnrecognizedNext   = 1
	ICMPv6UnrecognizedOption = 2
	ICMPv6IncompleteChain    = 3
	ICMPv6ChainTooLong       = 7
	ICMPv6TooManyExtHeaders  = 8
)

// ICMPv6 is a view of an ICMPv6 message.
type ICMPv6 []byte

func (c ICMPv6) Type() uint8          { return c[0] }
func (c ICMPv6) Code() uint8          { return c[1] }
func (c ICMPv6) Checksum() uint16     { return binary.BigEndian.Uint16(c[2:]) }
func (c ICMPv6) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[2:], v) }

// ID and Seq are the echo identifier and sequence number.
func (c ICMPv6) ID() uint16  { return binary.BigEndian.Uint16(c[4:]) }
func (c ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(c[6:]) }

// Param is the 32-bit field after the checksum: the MTU of Packet Too Big,
// the pointer of Parameter Problem.
func (c ICMPv6) Param() uint32 { return binary.BigEndian.Uint32(c[4:]) }

// Invoking returns the invoking packet an error message quotes.
func (c ICMPv6) Invoking() []byte { return c[ICMPv6HeaderLen:] }

// ICMPv6IsError reports whether t is an error message type: errors have
// types 0-127, informational messages 128-255 (RFC 4443 §2.1).
func ICMPv6IsError(t uint8) bool { return t < 128 }

// PseudoHeaderSum6 is the unfolded sum of the IPv6 pseudo-header (RFC 8200
// §8.1) for an upper-layer packet of length bytes: source and destination
// (16 bytes each), the 32-bit length and the Next Header value.
func PseudoHeaderSum6(src, dst []byte, proto uint8, length int) uint32 {
	s := Sum(src[:16], 0)
	s = Sum(dst[:16], s)
	v := uint64(s) + uint64(length>>16) + uint64(length&0xffff) + uint64(proto)
	for v>>32 != 0 {
		v = (v & 0xffffffff) + (v >> 32)
	}
	return uint32(v)
}

// ICMPv6Checksum is the checksum of msg (its checksum field taken as it
// is) sent from src to dst. A message whose field holds the right value
// sums to zero.
func ICMPv6Checksum(src, dst, msg []byte) uint16 {
	return Fold(Sum(msg, PseudoHeaderSum6(src, dst, ProtoICMPv6, len(msg))))
}

// PutChecksum computes and writes the checksum of the message filling c,
// sent from src to dst.
func (c ICMPv6) PutChecksum(src, dst []byte) {
	c.SetChecksum(0)
	c.SetChecksum(ICMPv6Checksum(src, dst, c))
}

// PutError writes an ICMPv6 error of type typ and code filling c: the
// header, param (the MTU of Packet Too Big, the pointer of Parameter
// Problem, else 0), as much of orig as fits, and the checksum for a
// message from src to dst.
func (c ICMPv6) PutError(typ, code uint8, param uint32, orig, src, dst []byte) {
	c[0], c[1] = typ, code
	binary.BigEndian.PutUint32(c[4:], param)
	copy(c[ICMPv6HeaderLen:], orig)
	c.PutChecksum(src, dst)
}

// UpdateAddr6 returns the checksum hc after a 128-bit address it covers
// (through the pseudo-header) changed from old to new (RFC 1624 equation
// 3, folded once).
func UpdateAddr6(hc uint16, old, new []byte) uint16 {
	s := uint64(^hc)
	for i := 0; i < 16; i += 2 {
		s += uint64(^binary.BigEndian.Uint16(old[i:]))
		s += uint64(binary.BigEndian.Uint16(new[i:]))
	}
	for s>>16 != 0 {
		s = (s & 0xffff) + (s >> 16)
	}
	return ^uint16(s)
}
