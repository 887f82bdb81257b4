//go:build linux

package netconf

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// iface is one interface, looked up once on a netlink socket of its own,
// for a sequence of changes: PreparePort and ConfigureSelf make six to
// eight, and a socket and a lookup for each (the package-level netlink
// calls) cost about 2 ms apiece under QEMU's emulation, on the way to the
// router's ready line. The link's attributes are those of the lookup; each
// change reads only attributes that the changes before it leave alone.
type iface struct {
	h    *netlink.Handle
	l    netlink.Link
	name string
}

// openIface opens a netlink socket in the calling thread's network
// namespace and looks ifname up on it. The error says when the interface
// does not exist.
func openIface(ifname string) (*iface, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, errorf(ifname, "open a netlink socket", err)
	}
	l, err := linkOn(h, ifname)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &iface{h: h, l: l, name: ifname}, nil
}

func (i *iface) close() { i.h.Close() }

// onIface runs f on ifname, looked up once.
func onIface(ifname string, f func(*iface) error) error {
	i, err := openIface(ifname)
	if err != nil {
		return err
	}
	defer i.close()
	return f(i)
}

// index is the interface's index.
func (i *iface) index() int { return i.l.Attrs().Index }
