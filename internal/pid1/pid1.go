// Package pid1 does an init process's work for routerd when routerd is
// the kernel's first process (/init of the initramfs): it mounts the file
// systems the kernel does not mount for an initramfs, brings the loopback
// interface up, gives the process a PATH, and reaps the orphans the
// kernel hands to PID 1.
//
// routerd was u-root init's uinit until init's own start-up (its Go
// runtime, cgroup v1 hierarchy, a copy of /etc, a module scan) cost about
// half a second of a TCG boot for nothing routerd uses. What routerd does
// use is here, and nothing else.
package pid1

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Is reports whether this process is the kernel's first.
func Is() bool { return os.Getpid() == 1 }

// Path is the PATH a booted router's processes get.
const Path = "/bin:/sbin:/usr/bin:/usr/sbin"

// ConsoleLogLevel is the console's kernel log level Prepare sets: only
// messages more urgent than KERN_NOTICE (warnings, errors) reach the
// serial console, where the shell runs; the rest stay in the kernel's
// log. (The kernel's default prints informational lines, such as a port
// entering promiscuous mode, into the shell.)
const ConsoleLogLevel = 5

// Prepare readies the machine as init would: the console's log level
// first (the kernel modules that load next print informational lines),
// then the mounts (Mounts, under "/"), RCU grace periods expedited until
// ready (ExpediteRCU), the loopback interface up, PATH set. It goes on
// past a failure and returns them all joined: a router with a missing
// mount still routes and says what is missing.
func Prepare() error {
	var errs []error
	// syslog(2)'s SYSLOG_ACTION_CONSOLE_LEVEL takes the level as its
	// length argument.
	if _, _, e := unix.Syscall(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_CONSOLE_LEVEL, 0, ConsoleLogLevel); e != 0 {
		errs = append(errs, fmt.Errorf("console log level: %w", e))
	}
	errs = append(errs, MountAll("/")...)
	if err := ExpediteRCU(true); err != nil {
		errs = append(errs, fmt.Errorf("expedite RCU grace periods until ready: %w", err))
	}
	if err := loopbackUp(); err != nil {
		errs = append(errs, fmt.Errorf("loopback: %w", err))
	}
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", Path)
	}
	return errors.Join(errs...)
}
