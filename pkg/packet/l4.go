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

// TCP is a view of a TCP segment.
type TCP []byte

func (t TCP) SrcPort() uint16      { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16      { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32          { return binary.BigEndian.Uint32(t[4:]) }
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
