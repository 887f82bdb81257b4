package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a background process a case started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, gives the process grace to end, then SIGKILL.
func (p *proc) stop(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	<-p.done
}

// start runs argv in the background with its output appended to log.
func start(log string, argv ...string) (*proc, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// inNS prefixes argv to run in network namespace ns.
func inNS(ns string, argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// privateRun wraps argv so that it gets a private /run (a mount namespace
// of its own with a tmpfs there), for daemons that keep fixed-name
// sockets and PID files there.
func privateRun(argv ...string) []string {
	return append([]string{"unshare", "-m", "sh", "-c",
		`mount -t tmpfs lab-run /run && mkdir -p /run/lock && exec "$@"`, "sh"}, argv...)
}

// cmd runs argv and returns its combined output.
func cmd(argv ...string) (string, error) {
	var b bytes.Buffer
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(b.String()))
	}
	return b.String(), err
}

// ns runs argv in namespace n and returns its combined output.
func ns(n string, argv ...string) (string, error) { return cmd(inNS(n, argv...)...) }

// must runs each argv in turn and stops at the first error.
func must(argvs ...[]string) error {
	for _, a := range argvs {
		if _, err := cmd(a...); err != nil {
			return err
		}
	}
	return nil
}

// killNS kills every process in namespace n (daemons' children, such as
// pppd spawned by pptpd or xl2tpd, that left their parent).
func killNS(n string) {
	out, _ := cmd("ip", "netns", "pids", n)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// killNSExcept kills every process in namespace n but those keep says to
// spare (a case's infrastructure, such as the ISP's concentrator, that
// outlives the cases run inside it).
func killNSExcept(n string, keep func(pid int) bool) {
	out, _ := cmd("ip", "netns", "pids", n)
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && !keep(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ancestry is pid and its parents up to init.
func ancestry(pid int) []int {
	var chain []int
	for pid > 1 && len(chain) < 64 {
		chain = append(chain, pid)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			break
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if i < 0 || len(f) < 2 {
			break
		}
		pid, _ = strconv.Atoi(f[1])
	}
	return chain
}

// cmdline is the process's command line, arguments joined by spaces.
func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}
