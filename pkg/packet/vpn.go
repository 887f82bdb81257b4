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

// IsPPTP reports whether g is enhanced GRE as PPTP carries it (version 1,
// protocol PPP, 0x880B) with the fixed part of its header, through the
// Call ID, present. It checks no flags: an ICMP error quotes only these 8
// bytes of the packet it is about.
func (g GRE) IsPPTP() bool {
	return len(g) >= 8 && g[1]&0x07 == greVersionPPT && binary.BigEndian.Uint16(g[2:]) == GREProtoPPP
}

// EnhancedHeaderLen returns the header length of a PPTP enhanced GRE packet
// (IsPPTP, key present, no checksum or routing), or 0 if g is not one or
// is truncated.
func (g GRE) EnhancedHeaderLen() int {
	if !g.IsPPTP() || g[0]&greFlagKey == 0 || g[0]&(greFlagCsum|0x40) != 0 {
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
