package portmap

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// Hand-written from RFC 6887 §7.1 (request header), §7.2 (response
// header), §7.3 (options) and §11.1 (MAP), byte by byte; the package's
// builders are not used to make them.

var testNonce = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// mapped is an IPv4-mapped IPv6 address field.
func mapped(a, b, c, d byte) []byte {
	return []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// pcpMapRequestBytes: MAP TCP from 192.168.1.10, internal port 8080,
// suggested 8081 and no suggested address, lifetime 3600.
func pcpMapRequestBytes() []byte {
	return cat(
		[]byte{2, 1, 0, 0}, // version 2, R=0 opcode MAP, reserved
		[]byte{0, 0, 0x0e, 0x10},
		mapped(192, 168, 1, 10),
		testNonce[:],
		[]byte{6, 0, 0, 0}, // protocol TCP, reserved
		[]byte{0x1f, 0x90, 0x1f, 0x91},
		mapped(0, 0, 0, 0),
	)
}

func TestParsePCPMapVector(t *testing.T) {
	b := pcpMapRequestBytes()
	if len(b) != 60 {
		t.Fatalf("vector is %d bytes, want 60", len(b))
	}
	r, err := ParsePCP(b)
	if err != nil {
		t.Fatal(err)
	}
	want := PCPMap{Nonce: testNonce, Protocol: 6, InternalPort: 8080, ExternalPort: 8081, ExternalAddr: netip.IPv4Unspecified()}
	if r.Opcode != PCPOpMap || r.Lifetime != 3600 || r.Client != netip.MustParseAddr("192.168.1.10") || r.Map != want || len(r.Options) != 0 {
		t.Errorf("parsed %+v", r)
	}
	// With PREFER_FAILURE and an optional option (code 200, 3 bytes
	// padded to 4) that is skipped.
	b = cat(b, []byte{2, 0, 0, 0}, []byte{200, 0, 0, 3, 0xaa, 0xbb, 0xcc, 0})
	r, err = ParsePCP(b)
	if err != nil {
		t.Fatal(err)
	}
	if !r.PreferFailure() || len(r.Options) != 1 {
		t.Errorf("options %+v", r.Options)
	}
}

func TestPCPResponseVectors(t *testing.T) {
	m := PCPMap{Nonce: testNonce, Protocol: 6, InternalPort: 8080, ExternalPort: 8081, ExternalAddr: netip.MustParseAddr("203.0.113.2")}
	got := (&PCPResponse{Opcode: PCPOpMap, Lifetime: 3600, Epoch: 5, Map: &m}).Append(nil)
	want := cat(
		[]byte{2, 0x81, 0, 0}, // version, R=1 MAP, reserved, SUCCESS
		[]byte{0, 0, 0x0e, 0x10},
		[]byte{0, 0, 0, 5},
		make([]byte, 12),
		testNonce[:],
		[]byte{6, 0, 0, 0},
		[]byte{0x1f, 0x90, 0x1f, 0x91},
		mapped(203, 0, 113, 2),
	)
	if !bytes.Equal(got, want) {
		t.Fatalf("MAP response\n got % x\nwant % x", got, want)
	}
	back, err := ParsePCPResponse(got)
	if err != nil || back.Map == nil || *back.Map != m || back.Lifetime != 3600 || back.Epoch != 5 {
		t.Fatalf("round trip %+v %v", back, err)
	}

	got = (&PCPResponse{Opcode: PCPOpAnnounce, Epoch: 0}).Append(nil)
	want = cat([]byte{2, 0x80, 0, 0}, make([]byte, 20))
	if !bytes.Equal(got, want) {
		t.Fatalf("ANNOUNCE\n got % x\nwant % x", got, want)
	}

	got = (&PCPResponse{Opcode: PCPOpPeer, Result: PCPUnsuppOpcode, Lifetime: 1800, Epoch: 9, Body: []byte{1, 2, 3, 4, 5}}).Append(nil)
	want = cat([]byte{2, 0x82, 0, 4}, []byte{0, 0, 0x07, 0x08}, []byte{0, 0, 0, 9}, make([]byte, 12), []byte{1, 2, 3, 4})
	if !bytes.Equal(got, want) {
		t.Fatalf("error response\n got % x\nwant % x", got, want)
	}
}

func TestParsePCPErrors(t *testing.T) {
	req := pcpMapRequestBytes()
	with := func(f func(b []byte) []byte) []byte { return f(slices.Clone(req)) }
	opt := func(code byte, data ...byte) []byte {
		o := []byte{code, 0, 0, byte(len(data))}
		o = append(o, data...)
		for len(o)%4 != 0 {
			o = append(o, 0)
		}
		return o
	}
	announce := cat([]byte{2, 0, 0, 0, 0, 0, 0, 0}, mapped(192, 168, 1, 10))
	tests := []struct {
		name string
		in   []byte
		want PCPResult // 0 with drop: dropped
		drop bool
	}{
		{"empty", nil, 0, true},
		{"one byte", []byte{2}, 0, true},
		{"a response (R bit)", with(func(b []byte) []byte { b[1] |= 0x80; return b }), 0, true},
		{"version 1", with(func(b []byte) []byte { b[0] = 1; return b }), PCPUnsuppVersion, false},
		{"version 3", with(func(b []byte) []byte { b[0] = 3; return b }), PCPUnsuppVersion, false},
		{"version 3, two bytes", []byte{3, 1}, PCPUnsuppVersion, false},
		{"PEER", with(func(b []byte) []byte { b[1] = PCPOpPeer; return b }), PCPUnsuppOpcode, false},
		{"opcode 3", with(func(b []byte) []byte { b[1] = 3; return b }), PCPUnsuppOpcode, false},
		{"opcode 127", []byte{2, 127}, PCPUnsuppOpcode, false},
		{"header truncated", req[:20], PCPMalformedRequest, false},
		{"not a multiple of 4", cat(req, []byte{0}), PCPMalformedRequest, false},
		{"oversized", cat(req, make([]byte, 1100-len(req)+4)), PCPMalformedRequest, false},
		{"MAP truncated", req[:56], PCPMalformedRequest, false},
		{"option header truncated", cat(req, []byte{200, 0}), PCPMalformedRequest, false},
		{"option overruns", cat(req, []byte{200, 0, 0, 8, 0, 0, 0, 0}), PCPMalformedOption, false},
		{"option length 65535", cat(req, []byte{200, 0, 0xff, 0xff}), PCPMalformedOption, false},
		{"THIRD_PARTY", cat(req, opt(PCPOptThirdParty, mapped(192, 168, 1, 11)...)), PCPUnsuppOption, false},
		{"FILTER", cat(req, opt(PCPOptFilter, make([]byte, 20)...)), PCPUnsuppOption, false},
		{"unknown mandatory option", cat(req, opt(99)), PCPUnsuppOption, false},
		{"option code 0", cat(req, opt(0)), PCPUnsuppOption, false},
		{"PREFER_FAILURE with data", cat(req, opt(PCPOptPreferFailure, 1)), PCPMalformedOption, false},
		{"PREFER_FAILURE twice", cat(req, opt(PCPOptPreferFailure), opt(PCPOptPreferFailure)), PCPMalformedOption, false},
		{"PREFER_FAILURE on ANNOUNCE", cat(announce, opt(PCPOptPreferFailure)), PCPMalformedOption, false},
		{"too many options", cat(req, bytes.Repeat(opt(200), PCPMaxOptions+1)), PCPMalformedOption, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePCP(tt.in)
			if tt.drop {
				if !errors.Is(err, ErrPCPDrop) {
					t.Fatalf("err = %v, want a drop", err)
				}
				return
			}
			var perr *PCPError
			if !errors.As(err, &perr) || perr.Result != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Exactly PCPMaxOptions optional options are fine.
	if _, err := ParsePCP(cat(req, bytes.Repeat(opt(200), PCPMaxOptions))); err != nil {
		t.Errorf("%d options: %v", PCPMaxOptions, err)
	}
	if _, err := ParsePCP(announce); err != nil {
		t.Errorf("ANNOUNCE: %v", err)
	}
}

// FuzzPCP: the parser never panics or reads past its input; what it
// accepts is a version 2 ANNOUNCE or MAP of a valid length, and an error
// response built from any header it read stays within 1100 bytes.
func FuzzPCP(f *testing.F) {
	f.Add(pcpMapRequestBytes())
	f.Add(cat(pcpMapRequestBytes(), []byte{2, 0, 0, 0}))
	f.Add(cat([]byte{2, 0, 0, 0, 0, 0, 0, 0}, mapped(10, 0, 0, 1)))
	f.Add([]byte{1, 1})
	f.Add(cat(pcpMapRequestBytes(), []byte{200, 0, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParsePCP(b)
		var perr *PCPError
		switch {
		case errors.As(err, &perr):
			out := (&PCPResponse{Opcode: r.Opcode, Result: perr.Result, Body: r.Body}).Append(nil)
			if len(out) > PCPMaxSize || len(out)%4 != 0 {
				t.Fatalf("error response of %d bytes", len(out))
			}
			if _, err := ParsePCPResponse(out); err != nil {
				t.Fatalf("error response does not parse: %v", err)
			}
			return
		case err != nil:
			return
		}
		if b[0] != 2 || len(b) < 24 || len(b) > PCPMaxSize || len(b)%4 != 0 || (r.Opcode != PCPOpMap && r.Opcode != PCPOpAnnounce) || len(r.Options) > PCPMaxOptions {
			t.Fatalf("accepted %d bytes % x as %+v", len(b), b[:min(len(b), 8)], r)
		}
		if r.Opcode == PCPOpMap {
			m := r.Map
			out := (&PCPResponse{Opcode: PCPOpMap, Map: &m}).Append(nil)
			back, err := ParsePCPResponse(out)
			if err != nil || back.Map == nil {
				t.Fatalf("MAP response round trip: %v", err)
			}
			if m.ExternalAddr.Is6() && m.ExternalAddr.IsUnspecified() {
				m.ExternalAddr = back.Map.ExternalAddr // "::" is written as ::ffff:0.0.0.0
			}
			if *back.Map != m {
				t.Fatalf("MAP response round trip %+v, want %+v", *back.Map, m)
			}
		}
	})
}
