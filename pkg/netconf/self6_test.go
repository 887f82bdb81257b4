package netconf

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func sysctl6(t *testing.T, ifname, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/" + key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func globalV6(t *testing.T, l netlink.Link) []string {
	t.Helper()
	as, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		if !a.IP.IsLinkLocalUnicast() {
			out = append(out, a.IPNet.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestSelfIPv6 checks self0 as the router's quiet IPv6 host: no RAs taken,
// no solicitations, no DAD; the addresses routerd gives it, and a default
// route through the virtual next hop that routerd routes to the WAN.
func TestSelfIPv6(t *testing.T) {
	enterNewNS(t)
	portMAC := net.HardwareAddr{0xb8, 0x27, 0xeb, 0x12, 0x34, 0x56}
	tap, err := SetupSelf(SelfConfig{MAC: portMAC, MTU: 1500, Address: netip.MustParsePrefix("192.168.1.1/24"), IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	for key, want := range map[string]string{"accept_ra": "0", "autoconf": "0", "router_solicitations": "0",
		"accept_dad": "0", "forwarding": "0", "disable_ipv6": "0"} {
		if got := sysctl6(t, "self0", key); got != want {
			t.Errorf("self0 %s = %s, want %s", key, got, want)
		}
	}
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:100::1/64"), netip.MustParsePrefix("fd00:1:2:3::1/64"),
		netip.MustParsePrefix("2001:db8:1::2/128")}
	if err := SetIPv6Addresses("self0", want); err != nil {
		t.Fatal(err)
	}
	l := mustLink(t, "self0")
	if got := globalV6(t, l); strings.Join(got, " ") != "2001:db8:100::1/64 2001:db8:1::2/128 fd00:1:2:3::1/64" {
		t.Fatalf("self0 IPv6 addresses %v", got)
	}
	// Renumbering: the old LAN prefix goes, the new one comes.
	want[0] = netip.MustParsePrefix("2001:db8:200::1/64")
	if err := SetIPv6Addresses("self0", want); err != nil {
		t.Fatal(err)
	}
	if got := globalV6(t, l); strings.Join(got, " ") != "2001:db8:1::2/128 2001:db8:200::1/64 fd00:1:2:3::1/64" {
		t.Fatalf("self0 IPv6 addresses after renumbering %v", got)
	}

	nhMAC := VirtualNextHopMAC(portMAC)
	nh := VirtualNextHop6(nhMAC)
	if !nh.IsLinkLocalUnicast() {
		t.Fatalf("virtual next hop %v is not link-local", nh)
	}
	if err := SetIPv6DefaultRoute("self0", nh, nhMAC, true); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp6", "[2001:db8:ffff::7]:9")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("passgate"))
	c.Close()
	f := readFrameTo(t, tap, nhMAC)
	if f[12] != 0x86 || f[13] != 0xdd || netip.AddrFrom16([16]byte(f[14+24:14+40])).String() != "2001:db8:ffff::7" {
		t.Fatalf("unexpected frame % x", f[:60])
	}
	if err := SetIPv6DefaultRoute("self0", nh, nhMAC, false); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("udp6", "[2001:db8:ffff::7]:9"); err == nil {
		t.Fatal("an IPv6 default route is left after removing it")
	}
	// Removing it twice is not an error.
	if err := SetIPv6DefaultRoute("self0", nh, nhMAC, false); err != nil {
		t.Fatal(err)
	}

	// IPv6 off: the kernel has none on self0.
	if err := PrepareSelfIPv6("self0", false); err != nil {
		t.Fatal(err)
	}
	if got := sysctl6(t, "self0", "disable_ipv6"); got != "1" {
		t.Fatalf("disable_ipv6 = %s", got)
	}
}
