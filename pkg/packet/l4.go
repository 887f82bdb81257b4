package packet

import "encoding/binary"

// Minimum header lengths.
const (
	TCPHeaderLen  = 20
	UDPHeaderLen  = 8
	ICMPHeaderLen = 8
)

// TCP flag bits (byte 13 of the header).
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
)

// Ports is a view of the source and destination ports that open a TCP or
// UDP header (or the first bytes of one quoted in an ICMP error). Its
// setters write the field only: the caller owns the checksum.
type Ports []byte

func (p Ports) Src() uint16     { return binary.BigEndian.Uint16(p[0:]) }
func (p Ports) Dst() uint16     { return binary.BigEndian.Uint16(p[2:]) }
func (p Ports) SetSrc(v uint16) { binary.BigEndian.PutUint16(p[0:], v) }
func (p Ports) SetDst(v uint16) { binary.BigEndian.PutUint16(p[2:], v) }

// TCP is a view of a TCP segment.
type TCP []byte

func (t TCP) SrcPort() uint16      { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16      { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32          { return binary.BigEndian.Uint32(t[4:]) }
func (t TCP) Ack() uint32          { return binary.BigEndian.Uint32(t[8:]) }
func (t TCP) DataOffset() int      { return int(t[12]>>4) * 4 }
func (t TCP) Flags() uint8         { return t[13] }
func (t TCP) Checksum() uint16     { return binary.BigEndian.Uint16(t[16:]) }
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[16:], c) }

// SetSrcPort rewrites the source port, updating the checksum.
func (t TCP) SetSrcPort(p uint16) {
	old := t.SrcPort()
	binary.BigEndian.PutUint16(t[0:], p)
	t.SetChecksum(Update16(t.Checksum(), old, p))
}

// SetDstPort rewrites the destination port, updating the checksum.
func (t TCP) SetDstPort(p uint16) {
	old := t.DstPort()
	binary.BigEndian.PutUint16(t[2:], p)
	t.SetChecksum(Update16(t.Checksum(), old, p))
}

// MSSOption returns the offset of the MSS option's value inside t, or -1.
// The option walk is bounded by the data offset and tolerates malformed
// options (returns -1).
func (t TCP) MSSOption() int {
	end := t.DataOffset()
	if end > len(t) || end < TCPHeaderLen {
		return -1
	}
	for i := TCPHeaderLen; i < end; {
		switch t[i] {
		case 0: // end of options
			return -1
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= end {
			return -1
		}
		l := int(t[i+1])
		if l < 2 || i+l > end {
			return -1
		}
		if t[i] == 2 && l == 4 {
			return i + 2
		}
		i += l
	}
	return -1
}

// ClampMSS lowers the MSS option to mss if it is larger, updating the
// checksum, and reports whether it changed the segment. The option may sit
// at any offset: an odd one straddles two checksum words.
func (t TCP) ClampMSS(mss uint16) bool {
	off := t.MSSOption()
	if off < 0 || binary.BigEndian.Uint16(t[off:]) <= mss {
		return false
	}
	c := t.Checksum()
	if off&1 == 0 {
		c = Update16(c, binary.BigEndian.Uint16(t[off:]), mss)
		binary.BigEndian.PutUint16(t[off:], mss)
	} else {
		w1, w2 := binary.BigEndian.Uint16(t[off-1:]), binary.BigEndian.Uint16(t[off+1:])
		binary.BigEndian.PutUint16(t[off:], mss)
		c = Update16(c, w1, binary.BigEndian.Uint16(t[off-1:]))
		c = Update16(c, w2, binary.BigEndian.Uint16(t[off+1:]))
	}
	t.SetChecksum(c)
	return true
}

// UDP is a view of a UDP datagram.
type UDP []byte

func (u UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(u[0:]) }
func (u UDP) DstPort() uint16      { return binary.BigEndian.Uint16(u[2:]) }
func (u UDP) Length() int          { return int(binary.BigEndian.Uint16(u[4:])) }
func (u UDP) Checksum() uint16     { return binary.BigEndian.Uint16(u[6:]) }
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[6:], c) }
func (u UDP) Payload() []byte      { return u[UDPHeaderLen:] }

// SetSrcPort rewrites the source port; a zero checksum stays zero.
func (u UDP) SetSrcPort(p uint16) {
	old := u.SrcPort()
	binary.BigEndian.PutUint16(u[0:], p)
	u.SetChecksum(UpdateUDP(u.Checksum(), old, p))
}

// SetDstPort rewrites the destination port; a zero checksum stays zero.
func (u UDP) SetDstPort(p uint16) {
	old := u.DstPort()
	binary.BigEndian.PutUint16(u[2:], p)
	u.SetChecksum(UpdateUDP(u.Checksum(), old, p))
}

// PutHeader writes the header of a datagram of len(u) bytes from srcPort
// to dstPort, carried from srcIP to dstIP, with its checksum computed over
// the payload already in u (a computed zero is sent as 0xffff, RFC 768).
func (u UDP) PutHeader(srcPort, dstPort uint16, srcIP, dstIP uint32) {
	binary.BigEndian.PutUint16(u[0:], srcPort)
	binary.BigEndian.PutUint16(u[2:], dstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	u.SetChecksum(0)
	c := Fold(Sum(u, PseudoHeaderSum(srcIP, dstIP, ProtoUDP, len(u))))
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
}

// ICMP types used by the router.
const (
	ICMPEchoReply      = 0
	ICMPUnreachable    = 3
	ICMPSourceQuench   = 4
	ICMPRedirect       = 5
	ICMPEcho           = 8
	ICMPTimeExceeded   = 11
	ICMPParamProblem   = 12
	ICMPTimestamp      = 13
	ICMPTimestampReply = 14
)

// ICMP Destination Unreachable codes used by the router.
const (
	ICMPCodePortUnreachable = 3
	ICMPCodeFragNeeded      = 4
	ICMPCodeAdminProhibited = 13
)

// ICMP is a view of an ICMP message.
type ICMP []byte

func (c ICMP) Type() uint8          { return c[0] }
func (c ICMP) Code() uint8          { return c[1] }
func (c ICMP) Checksum() uint16     { return binary.BigEndian.Uint16(c[2:]) }
func (c ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[2:], v) }
func (c ICMP) ID() uint16           { return binary.BigEndian.Uint16(c[4:]) }
func (c ICMP) Seq() uint16          { return binary.BigEndian.Uint16(c[6:]) }

// SetID rewrites the query identifier, updating the checksum.
func (c ICMP) SetID(id uint16) {
	old := c.ID()
	binary.BigEndian.PutUint16(c[4:], id)
	c.SetChecksum(Update16(c.Checksum(), old, id))
}

// SetType rewrites the message type, updating the checksum.
func (c ICMP) SetType(t uint8) {
	old := binary.BigEndian.Uint16(c[0:])
	c[0] = t
	c.SetChecksum(Update16(c.Checksum(), old, binary.BigEndian.Uint16(c[0:])))
}

// PutError writes an ICMP error message of type typ and code filling c:
// the header (mtu is the next-hop MTU of "fragmentation needed", RFC 1191,
// else 0), as much of orig as fits after it, and the checksum.
func (c ICMP) PutError(typ, code uint8, mtu uint16, orig []byte) {
	c[0], c[1] = typ, code
	binary.BigEndian.PutUint32(c[2:], 0) // checksum and unused
	binary.BigEndian.PutUint16(c[6:], mtu)
	copy(c[ICMPHeaderLen:], orig)
	c.SetChecksum(Checksum(c))
}

// IsQuery reports whether an ICMP type is a query or query reply that
// carries an identifier (echo, timestamp).
func IsQuery(t uint8) bool {
	return t == ICMPEcho || t == ICMPEchoReply || t == ICMPTimestamp || t == ICMPTimestampReply
}

// IsQueryRequest reports whether t is a query sent by the initiator.
func IsQueryRequest(t uint8) bool { return t == ICMPEcho || t == ICMPTimestamp }

// IsError reports whether an ICMP type is an error that embeds the header of
// the packet it refers to.
func IsError(t uint8) bool {
	return t == ICMPUnreachable || t == ICMPSourceQuench || t == ICMPRedirect ||
		t == ICMPTimeExceeded || t == ICMPParamProblem
}
