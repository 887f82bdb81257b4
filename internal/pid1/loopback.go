package pid1

import "golang.org/x/sys/unix"

// loopbackUp sets lo up, as every init does; the kernel leaves it down.
// It uses the interface flags ioctl rather than netlink: this package runs
// from routerd's package initialisation (internal/earlyboot), and so
// imports as little as it can (a netlink library brings the net package's
// initialisation before it).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
