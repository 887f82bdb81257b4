//go:build linux

// Package netconf configures the kernel's side of the router over netlink,
// sysctls and ioctls: physical ports stripped of IPv4 and IPv6, the TAP
// interface self0 that carries the router's own address, its default route
// to a virtual next hop, permanent neighbour entries.
//
// Every function acts on the network namespace of the calling OS thread (a
// caller that switches namespaces must hold runtime.LockOSThread), is
// idempotent (calling it again with the same arguments succeeds and changes
// nothing), and returns errors of the form "netconf: IFNAME: WHAT: cause".
package netconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errorf wraps err as "netconf: IFNAME: what: err".
func errorf(ifname, what string, err error) error {
	return fmt.Errorf("netconf: %s: %s: %w", ifname, what, err)
}

// link looks up ifname. The error says the interface does not exist.
func link(ifname string) (netlink.Link, error) {
	return linkOn(nil, ifname)
}

// linkOn looks ifname up on h, or on a socket of its own if h is nil.
func linkOn(h *netlink.Handle, ifname string) (netlink.Link, error) {
	var l netlink.Link
	var err error
	if h != nil {
		l, err = h.LinkByName(ifname)
	} else {
		l, err = netlink.LinkByName(ifname)
	}
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, errorf(ifname, "find interface", fmt.Errorf("no such interface: %w", err))
		}
		return nil, errorf(ifname, "find interface", err)
	}
	return l, nil
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed underneath it.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var out []T
	var err error
	for range 5 {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}

// LinkUp sets ifname administratively up.
func LinkUp(ifname string) error { return onIface(ifname, (*iface).up) }

func (i *iface) up() error {
	if i.l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := i.h.LinkSetUp(i.l); err != nil {
		return errorf(i.name, "set up", err)
	}
	return nil
}

// LinkDown sets ifname administratively down.
func LinkDown(ifname string) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		return nil
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return errorf(ifname, "set down", err)
	}
	return nil
}

// SetMTU sets ifname's MTU.
func SetMTU(ifname string, mtu int) error {
	return onIface(ifname, func(i *iface) error { return i.setMTU(mtu) })
}

func (i *iface) setMTU(mtu int) error {
	if i.l.Attrs().MTU == mtu {
		return nil
	}
	if err := i.h.LinkSetMTU(i.l, mtu); err != nil {
		return errorf(i.name, fmt.Sprintf("set mtu %d", mtu), err)
	}
	return nil
}

// SetMAC sets ifname's hardware address. If the driver refuses to change it
// while the interface is up, the interface is taken down for the change and
// brought back up.
func SetMAC(ifname string, mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return errorf(ifname, "set mac", fmt.Errorf("%q is not a 6-byte Ethernet address", mac))
	}
	return onIface(ifname, func(i *iface) error { return i.setMAC(mac) })
}

func (i *iface) setMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return errorf(i.name, "set mac", fmt.Errorf("%q is not a 6-byte Ethernet address", mac))
	}
	if i.l.Attrs().HardwareAddr.String() == mac.String() {
		return nil
	}
	err := i.h.LinkSetHardwareAddr(i.l, mac)
	if errors.Is(err, unix.EBUSY) && i.l.Attrs().Flags&net.FlagUp != 0 {
		if err = i.h.LinkSetDown(i.l); err == nil {
			err = i.h.LinkSetHardwareAddr(i.l, mac)
			if uerr := i.h.LinkSetUp(i.l); err == nil {
				err = uerr
			}
		}
	}
	if err != nil {
		return errorf(i.name, "set mac "+mac.String(), err)
	}
	return nil
}

// FlushIPv4 removes every IPv4 address from ifname.
func FlushIPv4(ifname string) error { return onIface(ifname, (*iface).flushIPv4) }

func (i *iface) flushIPv4() error {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return i.h.AddrList(i.l, netlink.FAMILY_V4) })
	if err != nil {
		return errorf(i.name, "list IPv4 addresses", err)
	}
	for _, a := range addrs {
		// Deleting a primary address also deletes its secondaries.
		if err := i.h.AddrDel(i.l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return errorf(i.name, "remove address "+a.IPNet.String(), err)
		}
	}
	return nil
}

// SetIPv4Address makes addr (the interface's address and prefix length,
// such as 192.168.1.1/24) the only IPv4 address on ifname.
func SetIPv4Address(ifname string, addr netip.Prefix) error {
	if err := checkIPv4Address(ifname, addr); err != nil {
		return err
	}
	return onIface(ifname, func(i *iface) error { return i.setIPv4Address(addr) })
}

func checkIPv4Address(ifname string, addr netip.Prefix) error {
	if !addr.IsValid() || !addr.Addr().Is4() {
		return errorf(ifname, "set address", fmt.Errorf("%v is not an IPv4 address with prefix length", addr))
	}
	return nil
}

func (i *iface) setIPv4Address(addr netip.Prefix) error {
	if err := checkIPv4Address(i.name, addr); err != nil {
		return err
	}
	what := "set address " + addr.String()
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return i.h.AddrList(i.l, netlink.FAMILY_V4) })
	if err != nil {
		return errorf(i.name, what, err)
	}
	want := prefixToIPNet(addr)
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			continue
		}
		if err := i.h.AddrDel(i.l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return errorf(i.name, what+": remove old address "+a.IPNet.String(), err)
		}
	}
	if err := i.h.AddrReplace(i.l, &netlink.Addr{IPNet: want}); err != nil {
		return errorf(i.name, what, err)
	}
	return nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// writeSysctl writes value to /proc/sys/<key> (key with slashes), unless it
// already holds it.
func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	return os.WriteFile(path, []byte(value), 0)
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	return strings.TrimSpace(string(b)), err
}

// DisableIPv6 turns IPv6 off on ifname (net.ipv6.conf.IFNAME.disable_ipv6 =
// 1), which also removes its IPv6 addresses. A kernel without IPv6 needs
// nothing done.
func DisableIPv6(ifname string) error { return onIface(ifname, (*iface).disableIPv6) }

func (i *iface) disableIPv6() error {
	if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := writeSysctl("net/ipv6/conf/"+i.name+"/disable_ipv6", "1"); err != nil {
		return errorf(i.name, "disable IPv6", err)
	}
	return nil
}

// SetIPv4Forwarding writes net.ipv4.ip_forward. The router keeps it off:
// routerd forwards in userspace, and the kernel must not forward what it sees
// on the ports. (Writing it also sets every interface's forwarding flag.)
func SetIPv4Forwarding(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := writeSysctl("net/ipv4/ip_forward", v); err != nil {
		return fmt.Errorf("netconf: set net.ipv4.ip_forward=%s: %w", v, err)
	}
	return nil
}

// IsolatePort keeps the kernel's IPv4 stack from answering on a physical
// port. Having no address on the port is not enough: Linux is a weak-host
// stack and would accept a packet for the router's LAN address (which lives
// on self0) arriving on the port, and answer ARP for it there, so the kernel
// and routerd would both reply. This sets, for ifname:
//
//   - net.ipv4.conf.IFNAME.arp_ignore = 8: never answer ARP on the port;
//   - net.ipv4.conf.IFNAME.rp_filter = 1: strict reverse-path filtering, so
//     the kernel drops every packet on the port whose source it would not
//     route back through the port (none: its routes all point at self0);
//     and net.ipv4.conf.all.rp_filter is lowered from 2 (loose) to 1 if
//     needed, because the kernel uses the larger of the two values.
//
// One gap remains: broadcasts from 0.0.0.0 (DHCP DISCOVER) are not checked
// by rp_filter, so the router's DHCP server socket must be bound to self0
// (SO_BINDTODEVICE) to not see the port's copy too.
func IsolatePort(ifname string) error { return onIface(ifname, (*iface).isolate) }

func (i *iface) isolate() error {
	conf := "net/ipv4/conf/" + i.name + "/"
	if err := writeSysctl(conf+"arp_ignore", "8"); err != nil {
		return errorf(i.name, "set arp_ignore=8", err)
	}
	if err := writeSysctl(conf+"rp_filter", "1"); err != nil {
		return errorf(i.name, "set rp_filter=1", err)
	}
	if all, err := readSysctl("net/ipv4/conf/all/rp_filter"); err == nil {
		if n, _ := strconv.Atoi(all); n > 1 {
			if err := writeSysctl("net/ipv4/conf/all/rp_filter", "1"); err != nil {
				return errorf(i.name, "lower net.ipv4.conf.all.rp_filter to 1", err)
			}
		}
	}
	return nil
}

// PreparePort readies a physical port for routerd: no IPv4 address, IPv6
// off, the kernel isolated from it (IsolatePort), LRO off and GRO too
// unless keepGRO (LimitReceiveOffloads), the MTU set (unless mtu is 0),
// and the link up.
func PreparePort(ifname string, mtu int, keepGRO bool) error {
	return onIface(ifname, func(i *iface) error {
		for _, step := range []func() error{i.flushIPv4, i.disableIPv6, i.isolate,
			func() error { return i.limitReceiveOffloads(keepGRO) }} {
			if err := step(); err != nil {
				return err
			}
		}
		if mtu != 0 {
			if err := i.setMTU(mtu); err != nil {
				return err
			}
		}
		return i.up()
	})
}

// ethtool commands and flags (linux/ethtool.h).
const (
	ethtoolGFLAGS = 0x25
	ethtoolSFLAGS = 0x26
	ethtoolGGRO   = 0x2b
	ethtoolSGRO   = 0x2c
	ethFlagLRO    = 0x8000
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

func ethtool(ifname string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}

// GRO reports whether generic receive offload is on for ifname.
func GRO(ifname string) (bool, error) {
	v, err := ethtool(ifname, ethtoolGGRO, 0)
	if err != nil {
		return false, errorf(ifname, "read GRO", err)
	}
	return v != 0, nil
}

// LimitReceiveOffloads turns LRO off on ifname and, unless keepGRO, GRO
// as well. Both merge a flow's received TCP segments into super-packets
// larger than the MTU. LRO's cannot be cut back into the segments that
// arrived, which is why the kernel turns it off on every forwarding
// device. GRO's can, and a port whose link takes super-packets
// (afpacket with PACKET_VNET_HDR) sends them on whole or has them cut at
// the egress: there keepGRO leaves GRO as the driver has it (on in the
// boards' drivers and virtio-net), sparing the router the work per
// segment. A driver that cannot switch them is left alone.
func LimitReceiveOffloads(ifname string, keepGRO bool) error {
	return onIface(ifname, func(i *iface) error { return i.limitReceiveOffloads(keepGRO) })
}

func (i *iface) limitReceiveOffloads(keepGRO bool) error {
	ifname := i.name
	if !keepGRO {
		if _, err := ethtool(ifname, ethtoolSGRO, 0); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			return errorf(ifname, "turn GRO off", err)
		}
	}
	flags, err := ethtool(ifname, ethtoolGFLAGS, 0)
	if err == nil && flags&ethFlagLRO != 0 {
		_, err = ethtool(ifname, ethtoolSFLAGS, flags&^ethFlagLRO)
	}
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return errorf(ifname, "turn LRO off", err)
	}
	return nil
}
