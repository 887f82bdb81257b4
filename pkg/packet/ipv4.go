package packet

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers used by the router.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
	ProtoGRE  = 47
	ProtoESP  = 50
)

// IPv4HeaderLen is the length of an IPv4 header without options.
const IPv4HeaderLen = 20

// IPv4 is a view of an IPv4 packet starting at its header.
type IPv4 []byte

// IPv4Error says why a buffer is not a usable IPv4 packet.
type IPv4Error uint8

// Reasons returned by IPv4.Check.
const (
	IPv4OK IPv4Error = iota
	IPv4Truncated
	IPv4BadVersion
	IPv4BadHeaderLen
	IPv4BadTotalLen
	IPv4BadChecksum
)

var ipv4ErrorText = [...]string{"ok", "truncated IPv4 header", "not IPv4", "bad IPv4 header length", "bad IPv4 total length", "bad IPv4 header checksum"}

func (e IPv4Error) String() string { return ipv4ErrorText[e] }

// Check validates version, header length, total length against the buffer
// and the header checksum. On success the packet is p[:p.TotalLen()]
// (trailing link-layer padding excluded).
func (p IPv4) Check() IPv4Error {
	if len(p) < IPv4HeaderLen {
		return IPv4Truncated
	}
	if p[0]>>4 != 4 {
		return IPv4BadVersion
	}
	hl := int(p[0]&0x0f) * 4
	if hl < IPv4HeaderLen || hl > len(p) {
		return IPv4BadHeaderLen
	}
	tl := int(binary.BigEndian.Uint16(p[2:]))
	if tl < hl || tl > len(p) {
		return IPv4BadTotalLen
	}
	var s uint32
	if hl == IPv4HeaderLen {
		s = sum20(p)
	} else {
		s = Sum(p[:hl], 0)
	}
	if Fold(s) != 0 {
		return IPv4BadChecksum
	}
	return IPv4OK
}

// Checksum20OK reports whether the first 20 bytes of p, a header without
// options, have a valid header checksum: Check's checksum test without its
// length checks, for a caller that has made them (p must hold 20 bytes).
func (p IPv4) Checksum20OK() bool { return Fold(sum20(p)) == 0 }

func (p IPv4) Version() uint8       { return p[0] >> 4 }
func (p IPv4) HeaderLen() int       { return int(p[0]&0x0f) * 4 }
func (p IPv4) TOS() uint8           { return p[1] }
func (p IPv4) TotalLen() int        { return int(binary.BigEndian.Uint16(p[2:])) }
func (p IPv4) ID() uint16           { return binary.BigEndian.Uint16(p[4:]) }
func (p IPv4) DF() bool             { return p[6]&0x40 != 0 }
func (p IPv4) MF() bool             { return p[6]&0x20 != 0 }
func (p IPv4) FragOffset() int      { return int(binary.BigEndian.Uint16(p[6:])&0x1fff) * 8 }
func (p IPv4) IsFragment() bool     { return binary.BigEndian.Uint16(p[6:])&0x3fff != 0 }
func (p IPv4) TTL() uint8           { return p[8] }
func (p IPv4) Protocol() uint8      { return p[9] }
func (p IPv4) Checksum() uint16     { return binary.BigEndian.Uint16(p[10:]) }
func (p IPv4) Src() uint32          { return binary.BigEndian.Uint32(p[12:]) }
func (p IPv4) Dst() uint32          { return binary.BigEndian.Uint32(p[16:]) }
func (p IPv4) Payload() []byte      { return p[p.HeaderLen():p.TotalLen()] }
func (p IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(p[10:], c) }

// SetSrc rewrites the source address and updates the header checksum.
func (p IPv4) SetSrc(a uint32) {
	old := p.Src()
	binary.BigEndian.PutUint32(p[12:], a)
	p.SetChecksum(Update32(p.Checksum(), old, a))
}

// SetDst rewrites the destination address and updates the header checksum.
func (p IPv4) SetDst(a uint32) {
	old := p.Dst()
	binary.BigEndian.PutUint32(p[16:], a)
	p.SetChecksum(Update32(p.Checksum(), old, a))
}

// DecTTL decrements the TTL and updates the header checksum.
// The new TTL/protocol word is computed, not read back after the byte
// store: a 16-bit load over a byte just stored cannot be forwarded from the
// store buffer and stalls the CPU on every forwarded packet.
func (p IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(p[8:])
	p[8] = byte(old>>8) - 1
	p.SetChecksum(Update16(p.Checksum(), old, old-0x100))
}

// SetTTL sets the TTL and updates the header checksum.
func (p IPv4) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(p[8:])
	p[8] = ttl
	p.SetChecksum(Update16(p.Checksum(), old, uint16(ttl)<<8|old&0xff))
}

// SetHeaderLen, SetTotalLen and SetFragment write their fields and leave
// the header checksum stale: they are for building headers (fragments),
// which end with UpdateHeaderChecksum.

// SetHeaderLen sets version 4 and a header length of n bytes (a multiple
// of 4, 20 to 60).
func (p IPv4) SetHeaderLen(n int) { p[0] = 0x40 | byte(n/4) }

// SetTotalLen sets the total length field.
func (p IPv4) SetTotalLen(n int) { binary.BigEndian.PutUint16(p[2:], uint16(n)) }

// SetFragment sets the fragment offset (in bytes, a multiple of 8) and the
// MF flag; DF is cleared.
func (p IPv4) SetFragment(off int, mf bool) {
	v := uint16(off / 8)
	if mf {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(p[6:], v)
}

// IPv4Header holds the fields of an IPv4 header that PutHeader writes.
type IPv4Header struct {
	TOS      uint8
	ID       uint16
	TTL      uint8
	Protocol uint8
	Src, Dst uint32
}

// PutHeader writes h as a 20-byte header without options at the start of
// p, for a packet of len(p) bytes: version 4, no flags, fragment offset 0,
// and the header checksum.
func (p IPv4) PutHeader(h IPv4Header) {
	p[0] = 0x45
	p[1] = h.TOS
	p.SetTotalLen(len(p))
	binary.BigEndian.PutUint16(p[4:], h.ID)
	binary.BigEndian.PutUint16(p[6:], 0)
	p[8] = h.TTL
	p[9] = h.Protocol
	binary.BigEndian.PutUint32(p[12:], h.Src)
	binary.BigEndian.PutUint32(p[16:], h.Dst)
	p.UpdateHeaderChecksum()
}

// UpdateHeaderChecksum recomputes the header checksum from scratch.
func (p IPv4) UpdateHeaderChecksum() {
	hl := p.HeaderLen()
	p[10], p[11] = 0, 0
	p.SetChecksum(Checksum(p[:hl]))
}

// AddrFrom4 converts an IPv4 address in host-order uint32 form to netip.Addr.
func AddrFrom4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// AddrTo4 converts an IPv4 netip.Addr to its uint32 form (0 if not IPv4).
func AddrTo4(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
