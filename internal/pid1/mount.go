package pid1

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mount is one file system init mounts.
type Mount struct {
	Target string // under the root given to MountAll, e.g. "dev/pts"
	FSType string // also the source name
	Flags  uintptr
	Data   string
	Mode   os.FileMode // of the mount point, if MountAll makes it
}

const noExec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// Mounts are what routerd and its debug agent use: /dev for the block
// devices, serial ports and TUN; /proc and /sys for the network
// settings, /proc/net/packet and the process list; /tmp and /run for
// sockets and state that must not outlive a boot; /dev/pts for the
// debug build's terminals; /dev/shm for POSIX shared memory. In order:
// each mount point lies on what is mounted before it.
var Mounts = []Mount{
	{Target: "dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755", Mode: 0o755},
	{Target: "proc", FSType: "proc", Flags: noExec, Mode: 0o555},
	{Target: "sys", FSType: "sysfs", Flags: noExec, Mode: 0o555},
	{Target: "tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777", Mode: 0o1777},
	{Target: "run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755", Mode: 0o755},
	{Target: "dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620", Mode: 0o755},
	{Target: "dev/shm", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777", Mode: 0o1777},
}

// MountAll mounts Mounts under root, making each mount point if it is
// missing and leaving one that is already a mount point as it is (so a
// second call, or a root where some are mounted, changes nothing). It
// returns one error per mount that failed and goes on with the rest; a
// mount point on a failed mount is then skipped as well.
func MountAll(root string) []error {
	var errs []error
	failed := map[string]bool{}
	for _, m := range Mounts {
		if parent := filepath.Dir(m.Target); failed[parent] {
			failed[m.Target] = true
			errs = append(errs, fmt.Errorf("mount %s on /%s: skipped, /%s is not mounted", m.FSType, m.Target, parent))
			continue
		}
		if err := mount(root, m); err != nil {
			failed[m.Target] = true
			errs = append(errs, err)
		}
	}
	if !failed["dev"] && !failed["dev/pts"] {
		// The pty multiplexer of the new devpts instance.
		ptmx := filepath.Join(root, "dev/ptmx")
		if t, err := os.Readlink(ptmx); err != nil || t != "pts/ptmx" {
			os.Remove(ptmx)
			if err := os.Symlink("pts/ptmx", ptmx); err != nil {
				errs = append(errs, fmt.Errorf("/dev/ptmx: %w", err))
			}
		}
	}
	return errs
}

func mount(root string, m Mount) error {
	dir := filepath.Join(root, m.Target)
	if err := os.MkdirAll(dir, m.Mode); err != nil {
		return fmt.Errorf("mount %s on /%s: %w", m.FSType, m.Target, err)
	}
	mounted, err := isMountPoint(dir)
	if err != nil {
		return fmt.Errorf("mount %s on /%s: %w", m.FSType, m.Target, err)
	}
	if mounted {
		return nil
	}
	if err := unix.Mount(m.FSType, dir, m.FSType, m.Flags, m.Data); err != nil {
		return fmt.Errorf("mount %s on /%s: %w", m.FSType, m.Target, err)
	}
	return nil
}

// isMountPoint reports whether dir is the root of a mount: a different
// device from its parent's, or the same inode as its parent's (the root
// of the file system tree).
func isMountPoint(dir string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Join(dir, ".."), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino, nil
}
