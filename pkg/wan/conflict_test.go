package wan

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLANConflict(t *testing.T) {
	lan := netip.MustParsePrefix("192.168.1.1/24")
	for _, tc := range []struct {
		addr, gw string
		want     []string // "" wants no conflict
	}{
		{"203.0.113.2/24", "203.0.113.1", nil},
		{"192.168.2.5/24", "192.168.2.1", nil},
		{"192.168.1.50/24", "192.168.1.254", []string{"overlaps the LAN 192.168.1.0/24", "gateway 192.168.1.254 is inside the LAN", "set interfaces lan address 192.168.77.1/24"}},
		{"192.168.0.10/16", "192.168.0.1", []string{"overlaps", "WAN hosts in 192.168.1.0/24 are unreachable", "10.77.0.1/24"}},
		{"192.168.1.9/30", "", []string{"overlaps", "unreachable", "192.168.77.1/24"}},
		{"10.0.0.5/8", "10.0.0.1", nil},
	} {
		var gw netip.Addr
		if tc.gw != "" {
			gw = netip.MustParseAddr(tc.gw)
		}
		got := LANConflict(netip.MustParsePrefix(tc.addr), gw, lan)
		if (got == "") != (tc.want == nil) {
			t.Errorf("%s via %s: %q", tc.addr, tc.gw, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s via %s: %q lacks %q", tc.addr, tc.gw, got, w)
			}
		}
	}
	if got := LANConflict(netip.Prefix{}, netip.Addr{}, lan); got != "" {
		t.Errorf("no WAN address: %q", got)
	}
}
