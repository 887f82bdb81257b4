package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// PCP (RFC 6887) message layout.
const (
	PCPVersion = 2

	PCPOpAnnounce = 0
	PCPOpMap      = 1
	PCPOpPeer     = 2 // answered with PCPUnsuppOpcode

	PCPMaxSize    = 1100 // RFC 6887 §7: no PCP message is longer
	PCPHeaderSize = 24
	pcpMapSize    = 36
	pcpRBit       = 0x80

	// PCPMaxOptions bounds the options (known or not) read from one
	// request; a request with more is answered PCPMalformedOption.
	PCPMaxOptions = 8

	// PCP options (RFC 6887 §13). Codes below 128 are mandatory to
	// process: an unknown one makes the request fail with PCPUnsuppOption.
	PCPOptThirdParty    = 1
	PCPOptPreferFailure = 2
	PCPOptFilter        = 3
)

// PCPResult is a PCP result code (RFC 6887 §7.4).
type PCPResult uint8

const (
	PCPSuccess               PCPResult = 0
	PCPUnsuppVersion         PCPResult = 1
	PCPNotAuthorized         PCPResult = 2
	PCPMalformedRequest      PCPResult = 3
	PCPUnsuppOpcode          PCPResult = 4
	PCPUnsuppOption          PCPResult = 5
	PCPMalformedOption       PCPResult = 6
	PCPNetworkFailure        PCPResult = 7
	PCPNoResources           PCPResult = 8
	PCPUnsuppProtocol        PCPResult = 9
	PCPUserExQuota           PCPResult = 10
	PCPCannotProvideExternal PCPResult = 11
	PCPAddressMismatch       PCPResult = 12
	PCPExcessiveRemotePeers  PCPResult = 13
)

var pcpResultNames = [...]string{
	"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST",
	"UNSUPP_OPCODE", "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE",
	"NO_RESOURCES", "UNSUPP_PROTOCOL", "USER_EX_QUOTA",
	"CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
}

func (r PCPResult) String() string {
	if int(r) < len(pcpResultNames) {
		return pcpResultNames[r]
	}
	return fmt.Sprintf("PCP_RESULT(%d)", uint8(r))
}

// shortLived reports whether an error is one a client may retry soon
// (RFC 6887 §7.4: "short lifetime errors"); the rest are long-lived.
func (r PCPResult) shortLived() bool {
	switch r {
	case PCPNetworkFailure, PCPNoResources, PCPUserExQuota, PCPCannotProvideExternal, PCPExcessiveRemotePeers:
		return true
	}
	return false
}

// PCPError is a request ParsePCP rejects with a result code the server
// answers with.
type PCPError struct {
	Result PCPResult
	Reason string
}

func (e *PCPError) Error() string { return fmt.Sprintf("pcp: %v: %s", e.Result, e.Reason) }

func pcpErr(r PCPResult, format string, args ...any) error {
	return &PCPError{Result: r, Reason: fmt.Sprintf(format, args...)}
}

// ErrPCPDrop is a message a PCP server drops without an answer (RFC 6887
// §8.3: shorter than two bytes, or a response).
var ErrPCPDrop = errors.New("pcp: message dropped")

// PCPOption is one option of a request, its data without padding.
type PCPOption struct {
	Code uint8
	Data []byte
}

// PCPMap is the MAP opcode's information (RFC 6887 §11.1). In a request
// ExternalPort and ExternalAddr are the suggestion, in a response the
// assignment. Addresses are unmapped (an IPv4 address is Is4).
type PCPMap struct {
	Nonce        [12]byte
	Protocol     uint8
	InternalPort uint16
	ExternalPort uint16
	ExternalAddr netip.Addr
}

// PCPRequest is a parsed PCP request.
type PCPRequest struct {
	Opcode   uint8
	Lifetime uint32     // requested lifetime, seconds
	Client   netip.Addr // the client's address field, unmapped
	Map      PCPMap     // Opcode == PCPOpMap
	Options  []PCPOption

	// Body is the request's opcode-specific information and options, as
	// received; error responses copy it (RFC 6887 §8.3).
	Body []byte
}

// PreferFailure reports whether the request carries PREFER_FAILURE.
func (r *PCPRequest) PreferFailure() bool {
	for _, o := range r.Options {
		if o.Code == PCPOptPreferFailure {
			return true
		}
	}
	return false
}

// ParsePCP parses a PCP request and validates it as RFC 6887 §8.3 asks of
// a server, in its order. A *PCPError carries the result code to answer
// with (and, when the header was readable, a request with Opcode and
// Client set and Body holding what follows the header, so the answer can
// echo it); ErrPCPDrop means no answer. Only ANNOUNCE and MAP are
// supported; the options known are THIRD_PARTY, PREFER_FAILURE and
// FILTER, of which only PREFER_FAILURE is accepted.
func ParsePCP(b []byte) (PCPRequest, error) {
	if len(b) < 2 {
		return PCPRequest{}, fmt.Errorf("%w: %d bytes", ErrPCPDrop, len(b))
	}
	if b[1]&pcpRBit != 0 {
		return PCPRequest{}, fmt.Errorf("%w: R bit set (a response)", ErrPCPDrop)
	}
	r := PCPRequest{Opcode: b[1] &^ pcpRBit}
	if len(b) >= PCPHeaderSize {
		r.Lifetime = binary.BigEndian.Uint32(b[4:])
		r.Client = addr16(b[8:24])
		r.Body = b[PCPHeaderSize : min(len(b), PCPMaxSize)&^3]
	}
	if b[0] != PCPVersion {
		return r, pcpErr(PCPUnsuppVersion, "version %d", b[0])
	}
	if r.Opcode != PCPOpAnnounce && r.Opcode != PCPOpMap {
		return r, pcpErr(PCPUnsuppOpcode, "opcode %d", r.Opcode)
	}
	if len(b) < PCPHeaderSize || len(b) > PCPMaxSize || len(b)%4 != 0 {
		return r, pcpErr(PCPMalformedRequest, "length %d (want 24 to 1100, a multiple of 4)", len(b))
	}
	opts := b[PCPHeaderSize:]
	if r.Opcode == PCPOpMap {
		if len(opts) < pcpMapSize {
			return r, pcpErr(PCPMalformedRequest, "MAP request of %d bytes", len(b))
		}
		m := opts[:pcpMapSize]
		copy(r.Map.Nonce[:], m[0:12])
		r.Map.Protocol = m[12]
		r.Map.InternalPort = binary.BigEndian.Uint16(m[16:])
		r.Map.ExternalPort = binary.BigEndian.Uint16(m[18:])
		r.Map.ExternalAddr = addr16(m[20:36])
		opts = opts[pcpMapSize:]
	}
	for seen := 0; len(opts) > 0; seen++ {
		if seen == PCPMaxOptions {
			return r, pcpErr(PCPMalformedOption, "more than %d options", PCPMaxOptions)
		}
		if len(opts) < 4 {
			return r, pcpErr(PCPMalformedOption, "option header of %d bytes", len(opts))
		}
		code, n := opts[0], int(binary.BigEndian.Uint16(opts[2:]))
		padded := (n + 3) &^ 3
		if padded > len(opts)-4 {
			return r, pcpErr(PCPMalformedOption, "option %d of length %d overruns the message", code, n)
		}
		o := PCPOption{Code: code, Data: opts[4 : 4+n]}
		opts = opts[4+padded:]
		switch code {
		case PCPOptPreferFailure:
			if r.Opcode != PCPOpMap || n != 0 || r.PreferFailure() {
				return r, pcpErr(PCPMalformedOption, "PREFER_FAILURE of length %d, repeated or not with MAP", n)
			}
		case PCPOptThirdParty:
			// Mappings for another host are refused: a host maps to
			// itself only.
			return r, pcpErr(PCPUnsuppOption, "THIRD_PARTY is not supported")
		case PCPOptFilter:
			// Not implemented; ignoring it would open more than asked.
			return r, pcpErr(PCPUnsuppOption, "FILTER is not supported")
		default:
			if code < 128 {
				return r, pcpErr(PCPUnsuppOption, "mandatory option %d", code)
			}
			continue // optional to process: ignored
		}
		r.Options = append(r.Options, o)
	}
	return r, nil
}

// addr16 reads a 16-byte PCP address field, unmapping IPv4-mapped ones.
func addr16(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

// put16 writes a as a 16-byte PCP address field (IPv4 as IPv4-mapped);
// the zero Addr is written as ::ffff:0.0.0.0 (RFC 6887 §11.1: "no
// address" for IPv4).
func put16(b []byte, a netip.Addr) {
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	s := a.As16()
	copy(b, s[:])
}

// PCPResponse is a PCP response.
type PCPResponse struct {
	Opcode   uint8
	Result   PCPResult
	Lifetime uint32
	Epoch    uint32

	// Map is the MAP information of a MAP response. When nil, Body (the
	// request's, for an error) follows the header instead.
	Map  *PCPMap
	Body []byte
}

// Append appends the wire form of r to b.
func (r *PCPResponse) Append(b []byte) []byte {
	b = append(b, PCPVersion, pcpRBit|r.Opcode, 0, byte(r.Result))
	b = binary.BigEndian.AppendUint32(b, r.Lifetime)
	b = binary.BigEndian.AppendUint32(b, r.Epoch)
	b = append(b, make([]byte, 12)...)
	if r.Map != nil {
		var m [pcpMapSize]byte
		copy(m[0:12], r.Map.Nonce[:])
		m[12] = r.Map.Protocol
		binary.BigEndian.PutUint16(m[16:], r.Map.InternalPort)
		binary.BigEndian.PutUint16(m[18:], r.Map.ExternalPort)
		put16(m[20:], r.Map.ExternalAddr)
		return append(b, m[:]...)
	}
	n := min(len(r.Body), PCPMaxSize-PCPHeaderSize) &^ 3
	return append(b, r.Body[:n]...)
}

// ParsePCPResponse parses a PCP response as a client would (tests and the
// fuzz round trip use it). A MAP response's information is in Map; options
// are not parsed.
func ParsePCPResponse(b []byte) (PCPResponse, error) {
	if len(b) < PCPHeaderSize || len(b) > PCPMaxSize || len(b)%4 != 0 {
		return PCPResponse{}, fmt.Errorf("pcp: response of %d bytes", len(b))
	}
	if b[0] != PCPVersion || b[1]&pcpRBit == 0 {
		return PCPResponse{}, fmt.Errorf("pcp: not a version 2 response (version %d, opcode byte %#x)", b[0], b[1])
	}
	r := PCPResponse{
		Opcode:   b[1] &^ pcpRBit,
		Result:   PCPResult(b[3]),
		Lifetime: binary.BigEndian.Uint32(b[4:]),
		Epoch:    binary.BigEndian.Uint32(b[8:]),
		Body:     b[PCPHeaderSize:],
	}
	if r.Opcode == PCPOpMap && len(r.Body) >= pcpMapSize {
		m := r.Body
		r.Map = &PCPMap{
			Protocol:     m[12],
			InternalPort: binary.BigEndian.Uint16(m[16:]),
			ExternalPort: binary.BigEndian.Uint16(m[18:]),
			ExternalAddr: addr16(m[20:36]),
		}
		copy(r.Map.Nonce[:], m[0:12])
	}
	return r, nil
}
