package packet

import "encoding/binary"

// GRE (RFC 2784/2890) and enhanced GRE as used by PPTP (RFC 2637 §4.1).
const (
	GREProtoPPP   = 0x880b
	greFlagCsum   = 0x80
	greFlagKey    = 0x20
	greFlagSeq    = 0x10
	greFlagAck    = 0x80 // in byte 1
	greVersionPPT = 1
)

// GRE is a view of a GRE header and payload.
type GRE []byte

// EnhancedHeaderLen returns the header length of a PPTP enhanced GRE packet
// (version 1, key present, no checksum or routing), or 0 if g is not one or
// is truncated.
func (g GRE) EnhancedHeaderLen() int {
	if len(g) < 8 || g[1]&0x07 != greVersionPPT || g[0]&greFlagKey == 0 ||
		g[0]&(greFlagCsum|0x40) != 0 || binary.BigEndian.Uint16(g[2:]) != GREProtoPPP {
		return 0
	}
	n := 8
	if g[0]&greFlagSeq != 0 {
		n += 4
	}
	if g[1]&greFlagAck != 0 {
		n += 4
	}
	if n > len(g) {
		return 0
	}
	return n
}

func (g GRE) Version() uint8      { return g[1] & 0x07 }
func (g GRE) HasSeq() bool        { return g[0]&greFlagSeq != 0 }
func (g GRE) HasAck() bool        { return g[1]&greFlagAck != 0 }
func (g GRE) PayloadLen() uint16  { return binary.BigEndian.Uint16(g[4:]) }
func (g GRE) CallID() uint16      { return binary.BigEndian.Uint16(g[6:]) }
func (g GRE) SetCallID(id uint16) { binary.BigEndian.PutUint16(g[6:], id) }

// ESP (RFC 4303 §2): SPI and sequence number.
type ESP []byte

// ESPHeaderLen is the length of the SPI and sequence number fields.
const ESPHeaderLen = 8

func (e ESP) SPI() uint32 { return binary.BigEndian.Uint32(e[0:]) }
func (e ESP) Seq() uint32 { return binary.BigEndian.Uint32(e[4:]) }

// IKE header (RFC 7296 §3.1, RFC 2408 §3.1).
const IKEHeaderLen = 28

// IKE is a view of an IKE/ISAKMP message.
type IKE []byte

func (k IKE) InitiatorSPI() uint64 { return binary.BigEndian.Uint64(k[0:]) }
func (k IKE) ResponderSPI() uint64 { return binary.BigEndian.Uint64(k[8:]) }
func (k IKE) Version() uint8       { return k[17] }
func (k IKE) ExchangeType() uint8  { return k[18] }
func (k IKE) Length() uint32       { return binary.BigEndian.Uint32(k[24:]) }

// NAT-T UDP 4500 payload classes (RFC 3948 §2).
type NATTKind uint8

const (
	NATTInvalid   NATTKind = iota
	NATTKeepalive          // single 0xff octet
	NATTIKE                // non-ESP marker (four zero octets) then IKE
	NATTESP                // ESP with a non-zero SPI
)

// ClassifyNATT classifies a UDP 4500 payload.
func ClassifyNATT(p []byte) NATTKind {
	switch {
	case len(p) == 1 && p[0] == 0xff:
		return NATTKeepalive
	case len(p) >= 4 && binary.BigEndian.Uint32(p) == 0:
		if len(p) >= 4+IKEHeaderLen {
			return NATTIKE
		}
		return NATTInvalid
	case len(p) >= ESPHeaderLen:
		return NATTESP
	}
	return NATTInvalid
}
