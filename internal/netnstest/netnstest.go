//go:build linux

// Package netnstest builds the two-namespace links of the IPv6 end-to-end
// tests: a "router" namespace whose end of a veth pair is driven by the
// code under test through an AF_PACKET socket (the kernel there has IPv6
// off, as routerd owns its ports), and a "host" namespace whose kernel is
// a real IPv6 host (SLAAC, DAD, neighbour discovery) queried with real
// tools. Tests need root and iproute2; without them they fail with a
// message naming the prerequisite, never skip.
package netnstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/afpacket"
)

// Pair is a veth link between the router and host namespaces.
type Pair struct {
	RouterNS, HostNS string
	RouterIf, HostIf string // "r0" in RouterNS, "h0" in HostNS
}

var seq atomic.Int32

// NewPair creates the namespaces and link, both ends up, and removes them
// when the test ends. hostSysctls are net.ipv6.conf.h0.* settings for the
// host (for example "accept_ra": "2").
func NewPair(tb testing.TB, tag string, hostSysctls map[string]string, tools ...sysdeps.Tool) *Pair {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("prerequisite missing: this test must run as root (it creates network namespaces); euid is %d", os.Geteuid())
	}
	if err := sysdeps.Require(append([]sysdeps.Tool{sysdeps.IP}, tools...)...); err != nil {
		tb.Fatalf("prerequisite missing: %v", err)
	}
	n := seq.Add(1)
	p := &Pair{
		RouterNS: fmt.Sprintf("pg%sr-%d-%d", tag, os.Getpid(), n),
		HostNS:   fmt.Sprintf("pg%sh-%d-%d", tag, os.Getpid(), n),
		RouterIf: "r0", HostIf: "h0",
	}
	for _, ns := range []string{p.RouterNS, p.HostNS} {
		IP(tb, "netns", "add", ns)
		tb.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				tb.Errorf("remove namespace %s: %v: %s", ns, err, out)
			}
		})
	}
	InNS(tb, p.RouterNS, func() {
		for _, c := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Fatalf("disable IPv6 in %s: %v", p.RouterNS, err)
			}
		}
	})
	IP(tb, "-n", p.RouterNS, "link", "add", p.RouterIf, "type", "veth", "peer", "name", p.HostIf, "netns", p.HostNS)
	InNS(tb, p.HostNS, func() {
		for k, v := range hostSysctls {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p.HostIf+"/"+k, []byte(v), 0); err != nil {
				tb.Fatalf("set net.ipv6.conf.%s.%s=%s in %s: %v", p.HostIf, k, v, p.HostNS, err)
			}
		}
	})
	IP(tb, "-n", p.RouterNS, "link", "set", p.RouterIf, "up")
	IP(tb, "-n", p.HostNS, "link", "set", "lo", "up")
	IP(tb, "-n", p.HostNS, "link", "set", p.HostIf, "up")
	return p
}

// IP runs ip(8) and fails the test on error.
func IP(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Host runs a command in the host namespace and returns its combined
// output and error.
func (p *Pair) Host(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", p.HostNS, name}, args...)...).CombinedOutput()
	return string(out), err
}

// Wait polls cond every 100 ms until it returns true or timeout passes,
// and returns the last description cond gave.
func Wait(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok || time.Now().After(deadline) {
			return ok, why
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// OpenRouterLink opens an AF_PACKET link on the router's end.
// Frames are complete (no offloads), as a real NIC hands them over.
func (p *Pair) OpenRouterLink(tb testing.TB) *afpacket.Link {
	tb.Helper()
	var l *afpacket.Link
	var err error
	InNS(tb, p.RouterNS, func() { l, err = afpacket.Open(p.RouterIf, &afpacket.Config{NoVnetHdr: true}) })
	if err != nil {
		tb.Fatalf("open %s in %s: %v", p.RouterIf, p.RouterNS, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// HostMAC is the host end's Ethernet address.
func (p *Pair) HostMAC(tb testing.TB) [6]byte {
	tb.Helper()
	out, err := p.Host("cat", "/sys/class/net/"+p.HostIf+"/address")
	if err != nil {
		tb.Fatalf("read %s's MAC: %v: %s", p.HostIf, err, out)
	}
	var m [6]byte
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]); err != nil {
		tb.Fatalf("parse MAC %q: %v", out, err)
	}
	return m
}

// InNS runs fn on an OS thread switched into namespace ns; sockets opened
// by fn stay in ns.
func InNS(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	restore := Enter(tb, ns)
	defer restore()
	fn()
}

// Enter switches the calling goroutine's thread into namespace ns and
// locks it there; the function returned switches it back (a test that
// runs wholly in ns passes it to t.Cleanup).
func Enter(tb testing.TB, ns string) func() {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("open own netns: %v", err)
	}
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		tb.Fatalf("open netns %s: %v", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		tb.Fatalf("enter netns %s: %v", ns, err)
	}
	return func() {
		// Only a thread back in its own namespace may return to the pool;
		// otherwise it stays locked and dies with its goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		unix.Close(orig)
	}
}
