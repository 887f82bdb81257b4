//go:build linux

package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The router's own IPv6 stack lives on self0 beside its IPv4 one. routerd
// does the router's work on the LAN (router advertisements, answering
// neighbour solicitations for the router's addresses), so the kernel on
// self0 is a quiet host: it accepts no router advertisements, configures
// nothing by itself, sends no router solicitations, runs no duplicate
// address detection (routerd's ndp6 does it on the wire), and does not
// forward. Its addresses are the router's LAN addresses (::1 of each LAN
// /64) and its WAN addresses as /128s; its default route points at the
// virtual next hop, whose frames routerd routes to the WAN.

// PrepareSelfIPv6 sets self0's IPv6 sysctls as described above, or turns
// IPv6 off on it (on false). Call it before the interface comes up, so the
// kernel never solicits or runs DAD there.
func PrepareSelfIPv6(ifname string, on bool) error {
	return onIface(ifname, func(i *iface) error { return i.prepareSelfIPv6(on) })
}

func (i *iface) prepareSelfIPv6(on bool) error {
	ifname := i.name
	if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, os.ErrNotExist) {
		if on {
			return errorf(ifname, "enable IPv6", errors.New("the kernel has no IPv6"))
		}
		return nil
	}
	if !on {
		return i.disableIPv6()
	}
	conf := "net/ipv6/conf/" + ifname + "/"
	for _, kv := range [][2]string{
		{"accept_ra", "0"}, {"autoconf", "0"}, {"router_solicitations", "0"},
		{"accept_dad", "0"}, {"dad_transmits", "0"}, {"forwarding", "0"},
		{"accept_redirects", "0"}, {"disable_ipv6", "0"},
	} {
		if err := writeSysctl(conf+kv[0], kv[1]); err != nil {
			return errorf(ifname, "set IPv6 "+kv[0], err)
		}
	}
	return nil
}

// VirtualNextHop6 is the IPv6 address of self0's virtual next hop: the
// link-local EUI-64 address of its MAC (VirtualNextHopMAC). It never
// appears on the wire.
func VirtualNextHop6(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	if len(mac) == 6 {
		a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
		a[11], a[12] = 0xff, 0xfe
		a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	}
	return netip.AddrFrom16(a)
}

// SetIPv6Addresses makes want the interface's global (non-link-local) IPv6
// addresses: missing ones are added without DAD, others removed. A /64
// gives the kernel the connected route for that LAN prefix; a /128 (a WAN
// address) adds none.
func SetIPv6Addresses(ifname string, want []netip.Prefix) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	have, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V6) })
	if err != nil {
		return errorf(ifname, "list IPv6 addresses", err)
	}
	keep := make(map[netip.Prefix]bool)
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP)
		if ip.IsLinkLocalUnicast() {
			continue
		}
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip, ones)
		if containsPrefix(want, p) {
			keep[p] = true
			continue
		}
		if err := netlink.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return errorf(ifname, "remove address "+p.String(), err)
		}
	}
	for _, p := range want {
		if keep[p] || !p.Addr().Is6() || p.Addr().Is4In6() {
			continue
		}
		a := &netlink.Addr{IPNet: prefixToIPNet(p), Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrReplace(l, a); err != nil {
			return errorf(ifname, "add address "+p.String(), err)
		}
	}
	return nil
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// SetIPv6DefaultRoute points self0's IPv6 default route at the virtual
// next hop via (a link-local address) with a permanent neighbour entry
// via → viaMAC; on false removes the route (the router then has no IPv6
// route off the LAN, and the kernel says so at once instead of waiting).
func SetIPv6DefaultRoute(ifname string, via netip.Addr, viaMAC net.HardwareAddr, on bool) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	r := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		Gw:        via.AsSlice(),
		Protocol:  unix.RTPROT_STATIC,
		Table:     unix.RT_TABLE_MAIN,
	}
	if !on {
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
			return errorf(ifname, "remove IPv6 default route", err)
		}
		return nil
	}
	if err := AddPermanentNeighbor(ifname, via, viaMAC); err != nil {
		return err
	}
	if err := netlink.RouteReplace(r); err != nil {
		return errorf(ifname, fmt.Sprintf("set IPv6 default route via %v", via), err)
	}
	return nil
}
