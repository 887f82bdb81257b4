// Command pgdebug is the debug agent of passgate's test images
// (firmware.Options.DebugAgent), for boot tests that must act inside the
// VM — kill routerd's worker, read /proc — without a shell on the console
// that routerd owns.
//
// It is /init there. It starts a copy of itself that serves commands on
// the virtio console /dev/hvc0 (which appears once routerd has mounted
// /dev and loaded the console's driver), then replaces itself with
// /bin/routerd (execve: same PID, same arguments), so routerd is still
// the kernel's first process, exactly as in a production image.
//
// The server reads one command per line and answers with its output and
// then "pgdebug: done STATUS" (STATUS 0 on success):
//
//	ps                  pid, parent pid, state and command line of every process
//	kill SIGNAL PID...  send a signal (name such as KILL or TERM, or number)
//	cat FILE...         print files (e.g. /proc/meminfo, /boot/passgate.conf)
//	PROGRAM ARGS...     run a program (an absolute path) and print its output
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	serveEnv = "PGDEBUG_SERVE"
	console  = "/dev/hvc0"
	routerd  = "/bin/routerd"
	self     = "/bin/pgdebug" // not /proc/self/exe: /proc is not mounted yet
)

func main() {
	if os.Getenv(serveEnv) == "1" {
		if err := serve(); err != nil {
			fmt.Fprintf(os.Stderr, "pgdebug: %v\n", err)
			os.Exit(1)
		}
		return
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	// The console the kernel gave /init, not /dev/null: /dev is not
	// mounted yet (routerd mounts it once it runs).
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pgdebug: cannot start the command server: %v\n", err)
	} else {
		fmt.Fprintf(os.Stderr, "pgdebug: command server on %s (pid %d); starting %s\n", console, cmd.Process.Pid, routerd)
	}
	args := append([]string{routerd}, os.Args[1:]...)
	err := syscall.Exec(routerd, args, os.Environ())
	// Only reached if exec failed; the kernel would panic if /init
	// returned, so wait instead and keep the agent reachable.
	fmt.Fprintf(os.Stderr, "pgdebug: exec %s: %v\n", routerd, err)
	for {
		time.Sleep(time.Hour)
	}
}

func serve() error {
	var f *os.File
	var err error
	for deadline := time.Now().Add(60 * time.Second); ; {
		f, err = os.OpenFile(console, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	// Lines in, no echo: the other end is a program.
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ECHOE | unix.ECHOK
		t.Lflag |= unix.ICANON
		unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	fmt.Fprintln(f, "pgdebug: ready")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		words := strings.Fields(sc.Text())
		if len(words) == 0 {
			continue
		}
		status := 0
		if err := run(f, words); err != nil {
			fmt.Fprintf(f, "pgdebug: %v\n", err)
			status = 1
		}
		fmt.Fprintf(f, "pgdebug: done %d\n", status)
	}
	return sc.Err()
}

func run(w io.Writer, words []string) error {
	switch words[0] {
	case "ps":
		return ps(w)
	case "kill":
		if len(words) < 3 {
			return fmt.Errorf("usage: kill SIGNAL PID...")
		}
		sig, err := signalOf(words[1])
		if err != nil {
			return err
		}
		for _, p := range words[2:] {
			pid, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("bad pid %q", p)
			}
			if err := unix.Kill(pid, sig); err != nil {
				return fmt.Errorf("kill %d: %v", pid, err)
			}
			fmt.Fprintf(w, "sent %v to %d\n", unix.SignalName(sig), pid)
		}
		return nil
	case "cat":
		for _, p := range words[1:] {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			w.Write(b)
		}
		return nil
	}
	if !filepath.IsAbs(words[0]) {
		return fmt.Errorf("unknown command %q (ps, kill, cat, or an absolute program path)", words[0])
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Stdout, cmd.Stderr = w, w
	return cmd.Run()
}

func signalOf(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func ps(w io.Writer) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	fmt.Fprintln(w, "PID PPID S COMMAND")
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		comm := s[strings.IndexByte(s, '(')+1 : i]
		if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(cl) > 0 {
			comm = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		}
		fmt.Fprintf(w, "%d %s %s %s\n", pid, f[1], f[0], comm)
	}
	return nil
}
