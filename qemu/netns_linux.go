package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/internal/sysdeps"
)

// EnsureNetns creates the named network namespace (as `ip netns add` does,
// so `ip netns exec NAME ...` works) unless it exists, and brings up its
// loopback. Needs root.
func EnsureNetns(name string) error {
	if err := requireRoot("network namespaces"); err != nil {
		return err
	}
	if err := sysdeps.Require(sysdeps.IP); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add %s: %v\n%s", name, err, out)
		}
	}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s link set lo up: %v\n%s", name, err, out)
	}
	return nil
}

// DeleteNetns removes a namespace made by EnsureNetns.
func DeleteNetns(name string) error {
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v\n%s", name, err, out)
	}
	return nil
}

// OpenTapInNetns creates a tap interface called ifname inside the network
// namespace ns (which must exist), brings it up, and returns the tap's file
// descriptor, to be handed to QEMU as -netdev tap,fd=N. Frames the VM
// sends on that NIC arrive on ifname inside the namespace, so a program
// run with `ip netns exec ns` there (dhclient, curl) is a host on the VM's
// network. The interface disappears when the last copy of the descriptor
// is closed (when QEMU exits).
func OpenTapInNetns(ns, ifname string) (*os.File, error) {
	if err := requireRoot("a tap device"); err != nil {
		return nil, err
	}
	if len(ifname) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name %q too long", ifname)
	}
	var f *os.File
	err := InNetns(ns, func() error {
		var err error
		f, err = openTap(ifname)
		return err
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "set", ifname, "up").CombinedOutput(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ip -n %s link set %s up: %v\n%s", ns, ifname, err, out)
	}
	return f, nil
}

// InNetns runs fn on an OS thread switched into the network namespace ns
// and returns its error. Sockets fn creates belong to ns for their whole
// life, so a listener made there serves ns from any goroutine.
func InNetns(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", ns, err)
	}
	defer target.Close()
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			ch <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("setns into %s: %w", ns, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("setns back from %s: %w", ns, err)
			return // thread stays locked: it is discarded
		}
		runtime.UnlockOSThread()
		ch <- fnErr
	}()
	return <-ch
}

func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	if got := strings.TrimRight(ifr.Name(), "\x00"); got != name {
		unix.Close(fd)
		return nil, fmt.Errorf("tap created as %q, want %q (name taken?)", got, name)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

func requireRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("creating %s needs root (run as root or with sudo)", what)
	}
	return nil
}
