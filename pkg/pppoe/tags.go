package pppoe

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/passgate/passgate/pkg/peertext"
)

// Tag types (RFC 2516 Appendix A; PPP-Max-Payload from RFC 4638).
const (
	TagEndOfList        uint16 = 0x0000
	TagServiceName      uint16 = 0x0101
	TagACName           uint16 = 0x0102
	TagHostUniq         uint16 = 0x0103
	TagACCookie         uint16 = 0x0104
	TagVendorSpecific   uint16 = 0x0105
	TagRelaySessionID   uint16 = 0x0110
	TagPPPMaxPayload    uint16 = 0x0120
	TagServiceNameError uint16 = 0x0201
	TagACSystemError    uint16 = 0x0202
	TagGenericError     uint16 = 0x0203
)

// Tag is one TLV of a discovery packet.
type Tag struct {
	Type  uint16
	Value []byte
}

// Discovery is a discovery-stage packet.
type Discovery struct {
	Code      Code
	SessionID uint16
	Tags      []Tag
}

// Tag returns the value of the first tag of type t.
func (d *Discovery) Tag(t uint16) ([]byte, bool) {
	for _, g := range d.Tags {
		if g.Type == t {
			return g.Value, true
		}
	}
	return nil, false
}

// TagsOf returns the values of every tag of type t, in order.
func (d *Discovery) TagsOf(t uint16) [][]byte {
	var out [][]byte
	for _, g := range d.Tags {
		if g.Type == t {
			out = append(out, g.Value)
		}
	}
	return out
}

// errorTag returns the first error tag's text ("" for none): a
// Service-Name-Error, AC-System-Error or Generic-Error, with its name.
func (d *Discovery) errorTag() string {
	for _, g := range d.Tags {
		var what string
		switch g.Type {
		case TagServiceNameError:
			what = "Service-Name-Error"
		case TagACSystemError:
			what = "AC-System-Error"
		case TagGenericError:
			what = "Generic-Error"
		default:
			continue
		}
		if len(g.Value) > 0 {
			return what + ": " + peertext.Clean(g.Value, 128)
		}
		return what
	}
	return ""
}

// ParseDiscovery reads a discovery-stage packet; payload is what follows
// the Ethernet header. Tags after End-Of-List and Ethernet padding are
// ignored; values are copied.
func ParseDiscovery(payload []byte) (Discovery, error) {
	code, id, body, err := header(payload)
	if err != nil {
		return Discovery{}, err
	}
	switch code {
	case PADI, PADO, PADR, PADS, PADT:
	default:
		return Discovery{}, fmt.Errorf("pppoe: %v is not a discovery code", code)
	}
	d := Discovery{Code: code, SessionID: id}
	for len(body) > 0 {
		if len(body) < 4 {
			return Discovery{}, fmt.Errorf("pppoe: %v: %d stray bytes after the tags", code, len(body))
		}
		t, n := binary.BigEndian.Uint16(body), int(binary.BigEndian.Uint16(body[2:]))
		if t == TagEndOfList {
			break
		}
		if 4+n > len(body) {
			return Discovery{}, fmt.Errorf("pppoe: %v: tag %#04x of %d bytes beyond the packet", code, t, n)
		}
		if len(d.Tags) == maxTags {
			return Discovery{}, fmt.Errorf("pppoe: %v: more than %d tags", code, maxTags)
		}
		d.Tags = append(d.Tags, Tag{Type: t, Value: bytes.Clone(body[4 : 4+n])})
		body = body[4+n:]
	}
	return d, nil
}

// AppendDiscovery appends d's header and tags.
func AppendDiscovery(b []byte, d Discovery) ([]byte, error) {
	n := 0
	for _, t := range d.Tags {
		if len(t.Value) > 0xffff {
			return b, fmt.Errorf("pppoe: tag %#04x of %d bytes", t.Type, len(t.Value))
		}
		n += 4 + len(t.Value)
	}
	if n > MaxPayload {
		return b, fmt.Errorf("pppoe: %v of %d bytes of tags exceeds %d", d.Code, n, MaxPayload)
	}
	b = append(b, verType, byte(d.Code), byte(d.SessionID>>8), byte(d.SessionID), byte(n>>8), byte(n))
	for _, t := range d.Tags {
		b = append(b, byte(t.Type>>8), byte(t.Type), byte(len(t.Value)>>8), byte(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}
