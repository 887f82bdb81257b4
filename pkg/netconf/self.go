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

// DefaultSelfName is the name of the TAP interface that carries the
// router's own IP stack.
const DefaultSelfName = "self0"

// OpenTAP creates the TAP interface name (IFF_TAP|IFF_NO_PI: each read or
// write is exactly one Ethernet frame, no extra header) and returns its
// file. The file is non-blocking and registered with Go's poller, so Read
// and Write block only the calling goroutine and honour deadlines.
//
// The interface is not persistent: it disappears when the file is closed
// (and so when routerd exits). Opening a name that another file already
// holds fails with EBUSY; a persistent TAP of that name is attached to.
func OpenTAP(name string) (*os.File, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, errorf(name, "create tap", err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, errorf(name, "create tap: open /dev/net/tun", err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EBUSY) {
			err = fmt.Errorf("%w (another process holds it open)", err)
		}
		return nil, errorf(name, "create tap: TUNSETIFF", err)
	}
	if got := ifr.Name(); got != name {
		unix.Close(fd)
		return nil, errorf(name, "create tap", fmt.Errorf("kernel named it %q", got))
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

// SelfConfig describes the router's own interface.
type SelfConfig struct {
	// Name of the TAP interface; "" means DefaultSelfName.
	Name string
	// MAC is the LAN port's hardware address, so the router shows one MAC
	// on the LAN.
	MAC net.HardwareAddr
	// MTU of the interface (the LAN port's); 0 leaves it alone.
	MTU int
	// Address is the router's LAN address with the LAN prefix length,
	// such as 192.168.1.1/24.
	Address netip.Prefix
	// NextHop is the virtual next hop of the kernel's default route; the
	// zero value means VirtualNextHop(Address).
	NextHop netip.Addr
	// NextHopMAC is the next hop's hardware address; nil means
	// VirtualNextHopMAC(MAC).
	NextHopMAC net.HardwareAddr
	// IPv6 gives the kernel an IPv6 stack on the interface, set up as a
	// quiet host (PrepareSelfIPv6); false turns IPv6 off there.
	IPv6 bool
}

func (c *SelfConfig) fill() error {
	if c.Name == "" {
		c.Name = DefaultSelfName
	}
	if len(c.MAC) != 6 {
		return errorf(c.Name, "configure", fmt.Errorf("MAC %q is not a 6-byte Ethernet address", c.MAC))
	}
	if !c.NextHop.IsValid() {
		nh, err := VirtualNextHop(c.Address)
		if err != nil {
			return errorf(c.Name, "configure", err)
		}
		c.NextHop = nh
	}
	if c.NextHopMAC == nil {
		c.NextHopMAC = VirtualNextHopMAC(c.MAC)
	}
	return nil
}

// SetupSelf creates the TAP interface and configures it (ConfigureSelf).
// It returns the TAP's file, through which routerd exchanges the frames of
// the router's own IP stack. On error nothing is left open.
func SetupSelf(cfg SelfConfig) (*os.File, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	f, err := OpenTAP(cfg.Name)
	if err != nil {
		return nil, err
	}
	if err := ConfigureSelf(cfg); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ConfigureSelf (re)applies cfg to an existing interface: MAC, MTU, up, the
// address as its only IPv4 address, a permanent neighbour entry for the
// virtual next hop, and the default route through it. Neighbour entries for
// an earlier virtual next hop (same MAC, other address) are removed, so a
// change of LAN address leaves nothing stale behind. It is safe to call on
// every reconfiguration.
func ConfigureSelf(cfg SelfConfig) error {
	if err := cfg.fill(); err != nil {
		return err
	}
	return onIface(cfg.Name, func(i *iface) error {
		if err := i.setMAC(cfg.MAC); err != nil {
			return err
		}
		if cfg.MTU != 0 {
			if err := i.setMTU(cfg.MTU); err != nil {
				return err
			}
		}
		if err := i.prepareSelfIPv6(cfg.IPv6); err != nil {
			return err
		}
		if err := i.up(); err != nil {
			return err
		}
		if err := i.setIPv4Address(cfg.Address); err != nil {
			return err
		}
		if err := i.removeStaleNextHops(cfg.NextHop, cfg.NextHopMAC); err != nil {
			return err
		}
		return i.setDefaultRoute(cfg.NextHop, cfg.NextHopMAC)
	})
}

func (i *iface) removeStaleNextHops(keep netip.Addr, mac net.HardwareAddr) error {
	neighs, err := retryDump(func() ([]netlink.Neigh, error) { return i.h.NeighList(i.index(), netlink.FAMILY_V4) })
	if err != nil {
		return errorf(i.name, "list neighbours", err)
	}
	for _, n := range neighs {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap() == keep || n.State&netlink.NUD_PERMANENT == 0 || n.HardwareAddr.String() != mac.String() {
			continue
		}
		if err := i.deleteNeighbor(ip.Unmap()); err != nil {
			return err
		}
	}
	return nil
}

// VirtualNextHop returns the address reserved for the kernel's default
// route on self0, given the router's LAN address and prefix: the last usable
// address of the LAN (192.168.1.254 in 192.168.1.0/24), or the one before it
// if that is the router's own address. No host may use it: the DHCP server
// must keep it out of its pool and configuration validation should reject a
// static lease or range that includes it. Prefixes longer than /30 have no
// room for it.
func VirtualNextHop(lan netip.Prefix) (netip.Addr, error) {
	if !lan.IsValid() || !lan.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("virtual next hop: %v is not an IPv4 address with prefix length", lan)
	}
	if lan.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("virtual next hop: LAN prefix %v is longer than /30, no address to spare", lan)
	}
	a := lan.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	host := uint32(1)<<(32-lan.Bits()) - 1
	nh := v | host - 1 // broadcast - 1
	if nh == v {
		nh--
	}
	return netip.AddrFrom4([4]byte{byte(nh >> 24), byte(nh >> 16), byte(nh >> 8), byte(nh)}), nil
}

// VirtualNextHopMAC returns the virtual next hop's hardware address, derived
// from the LAN port's: bit 0x04 of the first byte flipped (so it always
// differs from the port's), then marked locally administered and unicast.
// It never appears on the wire: frames sent to it leave self0 and reach
// routerd only.
func VirtualNextHopMAC(portMAC net.HardwareAddr) net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	copy(m, portMAC)
	m[0] ^= 0x04  // differ from the port's address
	m[0] |= 0x02  // locally administered
	m[0] &^= 0x01 // unicast
	return m
}

// SetDefaultRoute points the kernel's IPv4 default route at via on ifname,
// with a permanent neighbour entry via -> viaMAC so the kernel sends the
// frames straight to that MAC without ARP. The route is marked onlink, so via
// need not be inside the interface's subnet. It replaces an existing default
// route of the main table with the same metric.
func SetDefaultRoute(ifname string, via netip.Addr, viaMAC net.HardwareAddr) error {
	if err := checkNeighbor(ifname, via, viaMAC); err != nil {
		return err
	}
	return onIface(ifname, func(i *iface) error { return i.setDefaultRoute(via, viaMAC) })
}

func (i *iface) setDefaultRoute(via netip.Addr, viaMAC net.HardwareAddr) error {
	if err := i.addPermanentNeighbor(via, viaMAC); err != nil {
		return err
	}
	r := &netlink.Route{
		LinkIndex: i.index(),
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        via.AsSlice(),
		Flags:     int(netlink.FLAG_ONLINK),
		Protocol:  unix.RTPROT_STATIC,
		Table:     unix.RT_TABLE_MAIN,
	}
	if err := i.h.RouteReplace(r); err != nil {
		return errorf(i.name, "set default route via "+via.String(), err)
	}
	return nil
}

// AddPermanentNeighbor adds (or replaces) a permanent IPv4 or IPv6 neighbour entry
// ip -> mac on ifname. The DHCP server uses it to unicast a reply to a
// client that has no address yet; SetDefaultRoute uses it for the virtual
// next hop.
func AddPermanentNeighbor(ifname string, ip netip.Addr, mac net.HardwareAddr) error {
	if err := checkNeighbor(ifname, ip, mac); err != nil {
		return err
	}
	return onIface(ifname, func(i *iface) error { return i.addPermanentNeighbor(ip, mac) })
}

// checkNeighbor says what is wrong with a neighbour entry ip -> mac.
func checkNeighbor(ifname string, ip netip.Addr, mac net.HardwareAddr) error {
	what := fmt.Sprintf("add permanent neighbour %v lladdr %v", ip, mac)
	if !ip.Is4() && (!ip.Is6() || ip.Is4In6()) {
		return errorf(ifname, what, errors.New("not an IPv4 or IPv6 address"))
	}
	if len(mac) != 6 {
		return errorf(ifname, what, errors.New("not a 6-byte Ethernet address"))
	}
	return nil
}

func (i *iface) addPermanentNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	if err := checkNeighbor(i.name, ip, mac); err != nil {
		return err
	}
	family := netlink.FAMILY_V4
	if ip.Is6() && !ip.Is4In6() {
		family = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{
		LinkIndex:    i.index(),
		Family:       family,
		State:        netlink.NUD_PERMANENT,
		IP:           ip.AsSlice(),
		HardwareAddr: mac,
	}
	if err := i.h.NeighSet(n); err != nil {
		return errorf(i.name, fmt.Sprintf("add permanent neighbour %v lladdr %v", ip, mac), err)
	}
	return nil
}

// DeleteNeighbor removes the IPv4 neighbour entry for ip on ifname; an
// entry that does not exist is not an error.
func DeleteNeighbor(ifname string, ip netip.Addr) error {
	return onIface(ifname, func(i *iface) error { return i.deleteNeighbor(ip) })
}

func (i *iface) deleteNeighbor(ip netip.Addr) error {
	n := &netlink.Neigh{LinkIndex: i.index(), Family: netlink.FAMILY_V4, IP: ip.AsSlice()}
	if err := i.h.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
		return errorf(i.name, "delete neighbour "+ip.String(), err)
	}
	return nil
}
