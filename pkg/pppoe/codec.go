package pppoe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EtherTypes of the two PPPoE stages.
const (
	EtherTypeDiscovery = 0x8863
	EtherTypeSession   = 0x8864
)

// Code is a PPPoE packet's code (RFC 2516 §5).
type Code uint8

// The discovery codes, and the session stage's 0.
const (
	CodeSession Code = 0x00
	PADI        Code = 0x09
	PADO        Code = 0x07
	PADR        Code = 0x19
	PADS        Code = 0x65
	PADT        Code = 0xa7
)

func (c Code) String() string {
	switch c {
	case CodeSession:
		return "session"
	case PADI:
		return "PADI"
	case PADO:
		return "PADO"
	case PADR:
		return "PADR"
	case PADS:
		return "PADS"
	case PADT:
		return "PADT"
	}
	return fmt.Sprintf("code %#02x", uint8(c))
}

// Sizes.
const (
	HeaderLen        = 6  // ver/type, code, session ID, length
	SessionHeaderLen = 8  // the header and the 2-byte PPP protocol
	ethHeaderLen     = 14 // destination, source, EtherType
	// MaxPayload is the most a PPPoE payload carries in a 1500-byte
	// Ethernet frame: 1500 - 6.
	MaxPayload = 1494
	// maxTags bounds the tags read from one packet.
	maxTags = 64
)

const verType = 0x11

// ErrShort is the error of a payload too short for a PPPoE header.
var ErrShort = errors.New("pppoe: shorter than the 6-byte header")

// header checks the common header of payload (what follows the Ethernet
// header) and returns the code, session ID and the PPPoE payload without
// Ethernet padding.
func header(payload []byte) (Code, uint16, []byte, error) {
	if len(payload) < HeaderLen {
		return 0, 0, nil, ErrShort
	}
	if payload[0] != verType {
		return 0, 0, nil, fmt.Errorf("pppoe: version/type %#02x, want 0x11", payload[0])
	}
	n := int(binary.BigEndian.Uint16(payload[4:6]))
	if HeaderLen+n > len(payload) {
		return 0, 0, nil, fmt.Errorf("pppoe: length %d beyond the %d bytes received", n, len(payload)-HeaderLen)
	}
	return Code(payload[1]), binary.BigEndian.Uint16(payload[2:4]), payload[HeaderLen : HeaderLen+n], nil
}

// ParseSession reads a session-stage packet (payload follows the Ethernet
// header): its session ID, PPP protocol and the PPP information field,
// which aliases payload. Ethernet padding after the PPPoE length is
// ignored. PPPoE carries neither PPP's address and control fields nor a
// compressed protocol field (RFC 2516 §7), so the protocol is 2 bytes.
func ParseSession(payload []byte) (sessionID, proto uint16, info []byte, err error) {
	code, id, body, err := header(payload)
	if err != nil {
		return 0, 0, nil, err
	}
	if code != CodeSession {
		return 0, 0, nil, fmt.Errorf("pppoe: %v in the session stage, want code 0", code)
	}
	if len(body) < 2 {
		return 0, 0, nil, fmt.Errorf("pppoe: session payload of %d bytes has no PPP protocol", len(body))
	}
	return id, binary.BigEndian.Uint16(body), body[2:], nil
}

// AppendSessionHeader appends the session-stage header for a PPP packet
// of protocol proto with infoLen bytes of information (which the caller
// appends next).
func AppendSessionHeader(b []byte, sessionID, proto uint16, infoLen int) []byte {
	return append(b, verType, byte(CodeSession), byte(sessionID>>8), byte(sessionID),
		byte((infoLen+2)>>8), byte(infoLen+2), byte(proto>>8), byte(proto))
}

// AppendEthernet appends an Ethernet header.
func AppendEthernet(b []byte, dst, src [6]byte, etherType uint16) []byte {
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	return append(b, byte(etherType>>8), byte(etherType))
}
