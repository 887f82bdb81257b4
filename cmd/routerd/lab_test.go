package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// The end-to-end lab: routerd in namespace rtr between a LAN segment (a
// bridge in namespace sw, with clients lan1 and lan2) and a WAN namespace
// holding the ISP's gateway and internet servers. Real peers from Debian
// packages (installed by `make deps`); a missing prerequisite fails the test
// with its name, it never skips. Everything the lab creates is removed.

var labTools = []sysdeps.Tool{
	sysdeps.IP, sysdeps.Ethtool, sysdeps.Dhclient, sysdeps.Busybox, sysdeps.Udhcpc,
	sysdeps.Dnsmasq, sysdeps.Curl, sysdeps.Iperf3, sysdeps.Turnserver, sysdeps.NATDiscovery,
	sysdeps.Traceroute, sysdeps.Socat, sysdeps.Ping, sysdeps.Nft, sysdeps.SSH, sysdeps.SSHKeygen,
}

type lab struct {
	t      testing.TB
	prefix string
	dir    string
	bin    string // routerd binary
	mu     sync.Mutex
	procs  []*exec.Cmd
	pids   []int // daemons the lab's commands left running
	rtr    *exec.Cmd
	rtrOut *lineBuffer
	config string
	// routerArgs are extra routerd flags (e.g. --cpuprofile for make bench).
	routerArgs []string
	// offloads leaves the veths' offloads at their defaults (TX checksum
	// offload, TSO/GSO): hosts hand over partial checksums and
	// super-packets, as in virtual machines and containers.
	offloads bool
	// extra are the namespaces addHost added.
	extra []string
}

// ns returns the full namespace name of a lab host.
func (l *lab) ns(name string) string { return l.prefix + name }

func newLab(t testing.TB, config string) *lab {
	t.Helper()
	return newLabWith(t, config, false)
}

// newLabWith is newLab with the veths' offloads at their defaults when
// offloads is set.
func newLabWith(t testing.TB, config string, offloads bool) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root (network namespaces, AF_PACKET); run make test as root")
	}
	if err := sysdeps.Require(labTools...); err != nil {
		t.Fatalf("end-to-end prerequisites: %v", err)
	}
	l := &lab{t: t, prefix: fmt.Sprintf("pg%d-", os.Getpid()%100000), dir: t.TempDir(), config: config, offloads: offloads}
	t.Cleanup(l.teardown)
	l.bin = filepath.Join(l.dir, "routerd")
	if out, err := exec.Command("go", "build", "-o", l.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build routerd: %v\n%s", err, out)
	}
	l.topology()
	return l
}

func (l *lab) sh(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in namespace ns and returns its output.
func (l *lab) in(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(ns)}, args...)...).CombinedOutput()
	return string(out), err
}

func (l *lab) mustIn(ns string, args ...string) string {
	l.t.Helper()
	out, err := l.in(ns, args...)
	if err != nil {
		l.t.Fatalf("%s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return out
}

// start runs a long-lived command in ns; it is ended (by PID) at teardown.
func (l *lab) start(ns string, args ...string) *exec.Cmd {
	l.t.Helper()
	c := exec.Command("ip", append([]string{"netns", "exec", l.ns(ns)}, args...)...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Start(); err != nil {
		l.t.Fatalf("start %v: %v", args, err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, c)
	l.mu.Unlock()
	return c
}

// listenTCP starts a long-lived TCP server (args) in ns and returns once
// something listens on port there, so a test's first connection does not
// race the server's start.
func (l *lab) listenTCP(ns string, port int, args ...string) *exec.Cmd {
	l.t.Helper()
	c := l.start(ns, args...)
	want := fmt.Sprintf(":%d ", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if out, _ := l.in(ns, "ss", "-Hltn"); strings.Contains(out, want) {
			return c
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: nothing listens on TCP port %d 10 s after %v", ns, port, args)
		}
	}
}

func (l *lab) topology() {
	for _, n := range []string{"sw", "rtr", "lan1", "lan2", "wan"} {
		l.sh("ip", "netns", "add", l.ns(n))
		l.mustIn(n, "ip", "link", "set", "lo", "up")
	}
	l.mustIn("sw", "ip", "link", "add", "br0", "type", "bridge")
	l.mustIn("sw", "ip", "link", "set", "br0", "up")
	l.veth("rtr", "eth0", "sw", "r0", "")
	l.veth("lan1", "eth0", "sw", "l1", "02:00:00:00:01:01")
	l.veth("lan2", "eth0", "sw", "l2", "02:00:00:00:01:02")
	l.veth("rtr", "eth1", "wan", "eth0", routerWANMAC)
	for _, a := range []string{"203.0.113.1/24", "198.51.100.10/24", "198.51.100.11/24"} {
		l.mustIn("wan", "ip", "addr", "add", a, "dev", "eth0")
	}
}

// veth links namespace a (interface aIf, MAC mac unless "") to b (bIf),
// both up; bIf joins the LAN bridge when b is sw.
func (l *lab) veth(a, aIf, b, bIf, mac string) {
	l.sh("ip", "link", "add", l.prefix+"t0", "type", "veth", "peer", "name", l.prefix+"t1")
	l.sh("ip", "link", "set", l.prefix+"t0", "netns", l.ns(a), "name", aIf)
	l.sh("ip", "link", "set", l.prefix+"t1", "netns", l.ns(b), "name", bIf)
	if mac != "" {
		l.mustIn(a, "ip", "link", "set", aIf, "address", mac)
	}
	for _, e := range [][2]string{{a, aIf}, {b, bIf}} {
		if !l.offloads {
			// Complete frames only, as from a NIC without GRO.
			l.mustIn(e[0], "ethtool", "-K", e[1], "tx", "off")
		}
		l.mustIn(e[0], "ip", "link", "set", e[1], "up")
	}
	if b == "sw" {
		l.mustIn("sw", "ip", "link", "set", bIf, "master", "br0")
	}
}

// addHost adds namespace name to the lab (removed at teardown), linked
// by a veth from peerIf in namespace peer to eth0 in name; nothing is
// addressed.
func (l *lab) addHost(name, peer, peerIf string) {
	l.t.Helper()
	l.sh("ip", "netns", "add", l.ns(name))
	l.mu.Lock()
	l.extra = append(l.extra, name)
	l.mu.Unlock()
	l.mustIn(name, "ip", "link", "set", "lo", "up")
	l.veth(peer, peerIf, name, "eth0", "")
}

// routerWANMAC is the router's WAN port MAC, known to the ISP's DHCP server.
const routerWANMAC = "02:00:00:00:02:01"

func (l *lab) teardown() {
	l.mu.Lock()
	procs := l.procs
	l.mu.Unlock()
	for _, c := range procs {
		if c.Process != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	for _, pid := range l.pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	for _, n := range append([]string{"sw", "rtr", "lan1", "lan2", "wan"}, l.extra...) {
		exec.Command("ip", "netns", "del", l.ns(n)).Run()
	}
}

// adoptPIDFile records the daemon whose PID a command wrote to path, to end
// it at teardown.
func (l *lab) adoptPIDFile(path string) {
	// The daemon writes the file after its parent has returned.
	var b []byte
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err = os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("pid file %s: %v", path, err)
		}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		l.t.Fatalf("pid file %s: %v", path, err)
	}
	l.mu.Lock()
	l.pids = append(l.pids, pid)
	l.mu.Unlock()
}

// lineBuffer collects a process's output and lets a test wait for a line.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

func newLineBuffer() *lineBuffer {
	b := &lineBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *lineBuffer) feed(r *os.File) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		fmt.Fprintln(os.Stderr, "  routerd| "+s.Text())
		b.mu.Lock()
		b.lines = append(b.lines, s.Text())
		b.cond.Broadcast()
		b.mu.Unlock()
	}
}

// wait returns the first line containing substr, waiting up to timeout.
func (b *lineBuffer) wait(substr string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	go func() { time.Sleep(timeout); b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() }()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for _, ln := range b.lines {
			if strings.Contains(ln, substr) {
				return ln, true
			}
		}
		if time.Now().After(deadline) {
			return "", false
		}
		b.cond.Wait()
	}
}

func (b *lineBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// startRouter writes the configuration and starts routerd in rtr, waiting
// for its ready line.
func (l *lab) startRouter() {
	l.t.Helper()
	l.launchRouter()
	l.waitReady()
}

// launchRouter starts routerd without waiting for it to be ready.
func (l *lab) launchRouter() {
	l.t.Helper()
	cfg := filepath.Join(l.dir, "passgate.conf")
	if err := os.WriteFile(cfg, []byte(l.config), 0o644); err != nil {
		l.t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		l.t.Fatal(err)
	}
	args := []string{"netns", "exec", l.ns("rtr"), l.bin, "--config", cfg}
	args = append(args, l.routerArgs...)
	c := exec.Command("ip", args...)
	c.Stdout, c.Stderr = pw, pw
	if err := c.Start(); err != nil {
		l.t.Fatal(err)
	}
	pw.Close()
	l.rtrOut = newLineBuffer()
	go l.rtrOut.feed(pr)
	l.mu.Lock()
	l.procs = append(l.procs, c)
	l.rtr = c
	l.mu.Unlock()
}

func (l *lab) waitReady() {
	l.t.Helper()
	if _, ok := l.rtrOut.wait("passgate ready:", 20*time.Second); !ok {
		l.t.Fatalf("routerd did not print its ready line:\n%s", l.rtrOut.text())
	}
}

func (l *lab) stopRouter() {
	l.t.Helper()
	if l.rtr != nil {
		// The supervisor never exits by itself (on a board it is init); killing
		// it makes the worker get SIGTERM (Pdeathsig).
		l.rtr.Process.Kill()
		done := make(chan struct{})
		go func() { l.rtr.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			l.rtr.Process.Kill()
			<-done
		}
		l.rtr = nil
	}
}

// cli runs cmd in the shell of the router started with --socket sock
// ("routerd shell -c") and returns its output with runs of white space
// made one space (the shell wraps long lines); a failed command fails the
// test.
func (l *lab) cli(sock, cmd string) string {
	l.t.Helper()
	out, err := exec.Command(l.bin, "shell", "-socket", sock, "-c", cmd).CombinedOutput()
	if err != nil {
		l.t.Fatalf("routerd shell -c %q: %v\n%s", cmd, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// script writes an executable shell script and returns its path.
func (l *lab) script(name, body string) string {
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return p
}

func contains(out, s string) bool { return bytes.Contains([]byte(out), []byte(s)) }
