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

func (g GRE) CallID() uint16      { return binary.BigEndian.Uint16(g[6:]) }
func (g GRE) SetCallID(id uint16) { binary.BigEndian.PutUint16(g[6:], id) }

// ESP (RFC 4303 §2): SPI and sequence number.
type ESP []byte

// ESPHeaderLen is the length of the SPI and sequence number fields.
const ESPHeaderLen = 8

func (e ESP) SPI() uint32 { return binary.BigEndian.Uint32(e[0:]) }

// IKE header (RFC 7296 §3.1, RFC 2408 §3.1).
const IKEHeaderLen = 28

// IKE is a view of an IKE/ISAKMP message.
type IKE []byte

func (k IKE) InitiatorSPI() uint64 { return binary.BigEndian.Uint64(k[0:]) }
