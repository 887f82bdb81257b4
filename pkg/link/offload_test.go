package link

import "testing"

func TestOffloadValid(t *testing.T) {
	csum := Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}
	gso := csum
	gso.GSO, gso.GSOSize = GSOTCPv4, 1448
	for _, c := range []struct {
		o    Offload
		n    int
		want bool
	}{
		{Offload{}, 60, true},
		{csum, 54, true},
		{csum, 51, false}, // the field would end past the frame
		{Offload{NeedsCsum: true, CsumStart: 10, CsumOffset: 6}, 60, false}, // inside the Ethernet header
		{gso, 3000, true},
		{Offload{GSO: GSOTCPv4, GSOSize: 1448}, 3000, false},                                         // GSO without a partial checksum
		{Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSO: GSOTCPv4}, 3000, false},        // no segment size
		{Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 6, GSO: 3, GSOSize: 1000}, 3000, false}, // UFO
		{Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, GSOSize: 1000}, 3000, false},        // a size without GSO
		{Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 16, ECN: true}, 3000, false},            // ECN without GSO
		{Offload{NeedsCsum: true, CsumStart: 34, CsumOffset: 6, GSO: GSOUDPL4, GSOSize: 1200}, 3000, true},
	} {
		if got := c.o.Valid(c.n); got != c.want {
			t.Errorf("%+v.Valid(%d) = %v, want %v", c.o, c.n, got, c.want)
		}
	}
}
