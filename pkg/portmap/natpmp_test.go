package portmap

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// The vectors below are written by hand from RFC 6886 §3.2 and §3.3's
// diagrams, not produced by this package.

func TestParseNATPMPVectors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want NATPMPRequest
		err  error
	}{
		{"external address", []byte{0, 0}, NATPMPRequest{Op: NATPMPOpExternal}, nil},
		{"external address, trailing bytes ignored", []byte{0, 0, 9, 9}, NATPMPRequest{Op: NATPMPOpExternal}, nil},
		{"map TCP 8080 for 3600 s", []byte{
			0, 2, 0, 0, // version, op, reserved
			0x1f, 0x90, // internal port 8080
			0x1f, 0x91, // suggested external port 8081
			0, 0, 0x0e, 0x10, // lifetime 3600
		}, NATPMPRequest{Op: NATPMPOpMapTCP, InternalPort: 8080, SuggestedPort: 8081, Lifetime: 3600}, nil},
		{"map UDP delete", []byte{0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0, 0},
			NATPMPRequest{Op: NATPMPOpMapUDP, InternalPort: 5000}, nil},
		{"empty", nil, NATPMPRequest{}, ErrNATPMPShort},
		{"one byte", []byte{0}, NATPMPRequest{}, ErrNATPMPShort},
		{"map truncated", []byte{0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0}, NATPMPRequest{}, ErrNATPMPShort},
		{"version 2", []byte{2, 0}, NATPMPRequest{}, ErrNATPMPVersion},
		{"a response", []byte{0, 128, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, NATPMPRequest{}, ErrNATPMPResponse},
		{"unknown opcode", []byte{0, 3}, NATPMPRequest{Op: 3}, ErrNATPMPOpcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNATPMP(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNATPMPResponseVectors(t *testing.T) {
	tests := []struct {
		name string
		r    NATPMPResponse
		want []byte
	}{
		{"external address", NATPMPResponse{Op: NATPMPOpExternal, Epoch: 5, External: netip.MustParseAddr("203.0.113.2")},
			[]byte{0, 128, 0, 0, 0, 0, 0, 5, 203, 0, 113, 2}},
		{"no external address", NATPMPResponse{Op: NATPMPOpExternal, Result: NATPMPNetworkFailure, Epoch: 7},
			[]byte{0, 128, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0}},
		{"map TCP", NATPMPResponse{Op: NATPMPOpMapTCP, Epoch: 0x01020304, InternalPort: 8080, ExternalPort: 8081, Lifetime: 3600},
			[]byte{0, 130, 0, 0, 1, 2, 3, 4, 0x1f, 0x90, 0x1f, 0x91, 0, 0, 0x0e, 0x10}},
		{"map UDP refused", NATPMPResponse{Op: NATPMPOpMapUDP, Result: NATPMPOutOfResources, InternalPort: 53},
			[]byte{0, 129, 0, 4, 0, 0, 0, 0, 0, 53, 0, 0, 0, 0, 0, 0}},
		{"unsupported opcode", NATPMPResponse{Op: 9, Result: NATPMPUnsuppOpcode, Epoch: 1},
			[]byte{0, 137, 0, 5, 0, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Append(nil)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Append = % x\nwant       % x", got, tt.want)
			}
			back, err := ParseNATPMPResponse(got)
			if err != nil {
				t.Fatal(err)
			}
			if tt.r.Op == NATPMPOpExternal && !tt.r.External.IsValid() {
				tt.r.External = netip.IPv4Unspecified()
			}
			if back != tt.r {
				t.Errorf("round trip %+v, want %+v", back, tt.r)
			}
		})
	}
}

// FuzzNATPMP: the parser never panics, accepts only what it can answer,
// and a parsed request's fields are the bytes it read.
func FuzzNATPMP(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 1, 0, 0, 0x13, 0x88, 0x13, 0x88, 0, 0, 0x0e, 0x10})
	f.Add([]byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 200})
	f.Add([]byte{0, 7, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseNATPMP(b)
		if err != nil {
			return
		}
		if len(b) < 2 || b[0] != 0 || r.Op != b[1] || r.Op > NATPMPOpMapTCP {
			t.Fatalf("accepted % x as %+v", b, r)
		}
		if r.Op != NATPMPOpExternal {
			if len(b) < 12 || r.InternalPort != uint16(b[4])<<8|uint16(b[5]) || r.Lifetime != uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11]) {
				t.Fatalf("% x parsed as %+v", b, r)
			}
		}
		resp := NATPMPResponse{Op: r.Op, Epoch: 1, InternalPort: r.InternalPort, ExternalPort: r.SuggestedPort, Lifetime: r.Lifetime}
		if r.Op == NATPMPOpExternal {
			resp.External = netip.IPv4Unspecified()
		}
		back, err := ParseNATPMPResponse(resp.Append(nil))
		if err != nil || back != resp {
			t.Fatalf("response round trip: %+v, %v; want %+v", back, err, resp)
		}
	})
}
