package ppp

import (
	"encoding/binary"
	"fmt"
)

// PPP protocol numbers carried over PPPoE.
const (
	ProtoIPv4 uint16 = 0x0021
	ProtoIPv6 uint16 = 0x0057
	ProtoIPCP uint16 = 0x8021
	ProtoLCP  uint16 = 0xc021
	ProtoPAP  uint16 = 0xc023
	ProtoCHAP uint16 = 0xc223
)

// Control packet codes (RFC 1661 §5).
const (
	ConfReq   = 1
	ConfAck   = 2
	ConfNak   = 3
	ConfRej   = 4
	TermReq   = 5
	TermAck   = 6
	CodeRej   = 7
	ProtoRej  = 8
	EchoReq   = 9
	EchoReply = 10
	DiscReq   = 11
)

// Bounds on what is read.
const (
	maxPacket  = 1500
	maxOptions = 32
)

// Packet is what the session transmits: a PPP protocol and its
// information field.
type Packet struct {
	Proto uint16
	Data  []byte
}

// control is a control packet of LCP, IPCP, PAP or CHAP.
type control struct {
	Code uint8
	ID   uint8
	Data []byte
}

// parseControl reads a control packet; bytes after its Length (padding)
// are ignored.
func parseControl(b []byte) (control, error) {
	if len(b) < 4 {
		return control{}, fmt.Errorf("ppp: control packet of %d bytes, shorter than its 4-byte header", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 4 || n > len(b) || n > maxPacket {
		return control{}, fmt.Errorf("ppp: control packet length %d, have %d bytes", n, len(b))
	}
	return control{Code: b[0], ID: b[1], Data: b[4:n]}, nil
}

func (c control) encode() []byte {
	b := make([]byte, 4, 4+len(c.Data))
	b[0], b[1] = c.Code, c.ID
	binary.BigEndian.PutUint16(b[2:], uint16(4+len(c.Data)))
	return append(b, c.Data...)
}

// option is one configuration option.
type option struct {
	Type uint8
	Data []byte
}

// parseOptions reads a Configure-Request/Ack/Nak/Reject's options.
func parseOptions(b []byte) ([]option, error) {
	var out []option
	for len(b) > 0 {
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			return nil, fmt.Errorf("ppp: option %#x: length beyond the packet", b[0])
		}
		if len(out) == maxOptions {
			return nil, fmt.Errorf("ppp: more than %d options", maxOptions)
		}
		out = append(out, option{Type: b[0], Data: b[2:b[1]]})
		b = b[b[1]:]
	}
	return out, nil
}

func encodeOptions(opts []option) []byte {
	var b []byte
	for _, o := range opts {
		b = append(b, o.Type, byte(2+len(o.Data)))
		b = append(b, o.Data...)
	}
	return b
}
