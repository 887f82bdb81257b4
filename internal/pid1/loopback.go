package pid1

import "github.com/vishvananda/netlink"

// loopbackUp sets lo up, as every init does; the kernel leaves it down.
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}
