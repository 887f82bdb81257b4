package wan

import (
	"fmt"
	"net/netip"
)

// LANConflict says, in words for the owner, what is wrong when the WAN
// address addr (and its gateway gw) overlaps the LAN prefix lan — the
// router is behind another router that uses the same private range (RFC
// 4787 REQ-7: the NAT must not treat such external addresses as its own
// LAN, and the owner must be told). It returns "" when they do not
// overlap. The advice names a LAN prefix that overlaps neither.
func LANConflict(addr netip.Prefix, gw netip.Addr, lan netip.Prefix) string {
	if !addr.IsValid() || !lan.IsValid() || !addr.Masked().Overlaps(lan.Masked()) {
		return ""
	}
	what := fmt.Sprintf("WAN hosts in %v are unreachable (their traffic stays on the LAN)", lan.Masked())
	if gw.IsValid() && lan.Contains(gw) {
		what = fmt.Sprintf("the WAN gateway %v is inside the LAN, so the internet is unreachable", gw)
	}
	advice := "move the LAN to another private range"
	if p, ok := freeLAN(addr); ok {
		advice = fmt.Sprintf("move the LAN: set interfaces lan address %v, commit, restart", p)
	}
	return fmt.Sprintf("the WAN address %v overlaps the LAN %v: %s; %s", addr, lan.Masked(), what, advice)
}

// freeLAN picks a common LAN prefix that the WAN prefix does not overlap.
func freeLAN(wan netip.Prefix) (netip.Prefix, bool) {
	for _, s := range []string{"192.168.77.1/24", "10.77.0.1/24", "172.27.0.1/24"} {
		if p := netip.MustParsePrefix(s); !p.Masked().Overlaps(wan.Masked()) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
