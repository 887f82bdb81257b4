package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// NAT-PMP (RFC 6886) message layout.
const (
	NATPMPVersion = 0 // the version byte of every NAT-PMP message

	NATPMPOpExternal = 0 // request the external address
	NATPMPOpMapUDP   = 1 // map a UDP port
	NATPMPOpMapTCP   = 2 // map a TCP port
	natpmpOpReply    = 128

	natpmpExternalRequestSize = 2
	natpmpMapRequestSize      = 12
	natpmpHeaderReplySize     = 8 // version, op, result, epoch
	natpmpExternalReplySize   = 12
	natpmpMapReplySize        = 16
)

// NATPMPResult is a NAT-PMP result code (RFC 6886 §3.5).
type NATPMPResult uint16

const (
	NATPMPSuccess        NATPMPResult = 0
	NATPMPUnsuppVersion  NATPMPResult = 1
	NATPMPNotAuthorized  NATPMPResult = 2 // "Not Authorized/Refused"
	NATPMPNetworkFailure NATPMPResult = 3 // e.g. no external address yet
	NATPMPOutOfResources NATPMPResult = 4 // no more mappings, no free port
	NATPMPUnsuppOpcode   NATPMPResult = 5
)

func (r NATPMPResult) String() string {
	switch r {
	case NATPMPSuccess:
		return "success"
	case NATPMPUnsuppVersion:
		return "unsupported-version"
	case NATPMPNotAuthorized:
		return "not-authorized"
	case NATPMPNetworkFailure:
		return "network-failure"
	case NATPMPOutOfResources:
		return "out-of-resources"
	case NATPMPUnsuppOpcode:
		return "unsupported-opcode"
	}
	return fmt.Sprintf("natpmp-result(%d)", uint16(r))
}

// NATPMPRequest is a parsed NAT-PMP request. For NATPMPOpExternal only Op
// is set.
type NATPMPRequest struct {
	Op            uint8
	InternalPort  uint16
	SuggestedPort uint16 // "Suggested External Port"
	Lifetime      uint32 // requested, in seconds; 0 deletes
}

// Errors of ParseNATPMP. ErrNATPMPOpcode is answered with
// NATPMPUnsuppOpcode; the others are dropped without an answer.
var (
	ErrNATPMPShort    = errors.New("natpmp: message too short")
	ErrNATPMPVersion  = errors.New("natpmp: not version 0")
	ErrNATPMPResponse = errors.New("natpmp: a response, not a request")
	ErrNATPMPOpcode   = errors.New("natpmp: unsupported opcode")
)

// ParseNATPMP parses a NAT-PMP request. Bytes beyond the request's size
// are ignored. On ErrNATPMPOpcode the returned request carries the opcode,
// so the caller can answer it.
func ParseNATPMP(b []byte) (NATPMPRequest, error) {
	if len(b) < natpmpExternalRequestSize {
		return NATPMPRequest{}, fmt.Errorf("%w: %d bytes", ErrNATPMPShort, len(b))
	}
	if b[0] != NATPMPVersion {
		return NATPMPRequest{}, fmt.Errorf("%w: version %d", ErrNATPMPVersion, b[0])
	}
	r := NATPMPRequest{Op: b[1]}
	switch {
	case r.Op >= natpmpOpReply:
		return NATPMPRequest{}, fmt.Errorf("%w: opcode %d", ErrNATPMPResponse, r.Op)
	case r.Op == NATPMPOpExternal:
		return r, nil
	case r.Op == NATPMPOpMapUDP || r.Op == NATPMPOpMapTCP:
		if len(b) < natpmpMapRequestSize {
			return NATPMPRequest{}, fmt.Errorf("%w: map request of %d bytes, want %d", ErrNATPMPShort, len(b), natpmpMapRequestSize)
		}
		// b[2:4] is reserved; RFC 6886 §3.3 says it is sent as zero,
		// and a server has no reason to refuse another value.
		r.InternalPort = binary.BigEndian.Uint16(b[4:])
		r.SuggestedPort = binary.BigEndian.Uint16(b[6:])
		r.Lifetime = binary.BigEndian.Uint32(b[8:])
		return r, nil
	}
	return r, fmt.Errorf("%w %d", ErrNATPMPOpcode, r.Op)
}

// NATPMPResponse is a NAT-PMP response. Op is the request's opcode (the
// reply sets 128 on the wire).
type NATPMPResponse struct {
	Op     uint8
	Result NATPMPResult
	Epoch  uint32 // seconds since start of epoch

	External netip.Addr // NATPMPOpExternal: the external IPv4 address

	InternalPort uint16 // map ops
	ExternalPort uint16 // map ops: the mapped external port
	Lifetime     uint32 // map ops: seconds
}

// Append appends the wire form of r to b: 12 bytes for the external
// address, 16 for a mapping, 8 for any other opcode (an unsupported one).
func (r *NATPMPResponse) Append(b []byte) []byte {
	b = append(b, NATPMPVersion, natpmpOpReply|r.Op)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Result))
	b = binary.BigEndian.AppendUint32(b, r.Epoch)
	switch r.Op {
	case NATPMPOpExternal:
		var a [4]byte
		if r.External.Is4() {
			a = r.External.As4()
		}
		b = append(b, a[:]...)
	case NATPMPOpMapUDP, NATPMPOpMapTCP:
		b = binary.BigEndian.AppendUint16(b, r.InternalPort)
		b = binary.BigEndian.AppendUint16(b, r.ExternalPort)
		b = binary.BigEndian.AppendUint32(b, r.Lifetime)
	}
	return b
}

// ParseNATPMPResponse parses a NAT-PMP response, as a client would (tests
// and the fuzz round trip use it).
func ParseNATPMPResponse(b []byte) (NATPMPResponse, error) {
	if len(b) < natpmpHeaderReplySize {
		return NATPMPResponse{}, fmt.Errorf("%w: response of %d bytes", ErrNATPMPShort, len(b))
	}
	if b[0] != NATPMPVersion {
		return NATPMPResponse{}, fmt.Errorf("%w: version %d", ErrNATPMPVersion, b[0])
	}
	if b[1] < natpmpOpReply {
		return NATPMPResponse{}, fmt.Errorf("natpmp: opcode %d is a request, not a response", b[1])
	}
	r := NATPMPResponse{
		Op:     b[1] - natpmpOpReply,
		Result: NATPMPResult(binary.BigEndian.Uint16(b[2:])),
		Epoch:  binary.BigEndian.Uint32(b[4:]),
	}
	switch r.Op {
	case NATPMPOpExternal:
		if len(b) < natpmpExternalReplySize {
			return NATPMPResponse{}, fmt.Errorf("%w: external address response of %d bytes", ErrNATPMPShort, len(b))
		}
		r.External = netip.AddrFrom4([4]byte(b[8:12]))
	case NATPMPOpMapUDP, NATPMPOpMapTCP:
		if len(b) < natpmpMapReplySize {
			return NATPMPResponse{}, fmt.Errorf("%w: map response of %d bytes", ErrNATPMPShort, len(b))
		}
		r.InternalPort = binary.BigEndian.Uint16(b[8:])
		r.ExternalPort = binary.BigEndian.Uint16(b[10:])
		r.Lifetime = binary.BigEndian.Uint32(b[12:])
	}
	return r, nil
}
