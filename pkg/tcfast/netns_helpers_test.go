package tcfast

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/passgate/passgate/internal/netnstest"
	"github.com/passgate/passgate/internal/sysdeps"
)

// The kernel tests need root and iproute2's ip: they load BPF programs and
// make network namespaces named tcf-<role>-<pid>-<n> with veth pairs
// named tcf*. Without them they fail (never skip) and say what is missing.
// Every namespace is removed when its test ends, whatever happens.

var nsSeq atomic.Int32

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("prerequisite missing: tcfast's tests load BPF programs and make network namespaces, and must run as root; euid is %d", os.Geteuid())
	}
	if err := sysdeps.Require(sysdeps.IP); err != nil {
		tb.Fatalf("prerequisite missing: the test namespaces are made with ip: %v", err)
	}
}

// newNS creates namespace tcf-<role>-<pid>-<n> with IPv6 off (so that the
// kernel sends nothing of its own on its links) and returns its name.
func newNS(tb testing.TB, role string) string {
	tb.Helper()
	requireRoot(tb)
	ns := fmt.Sprintf("tcf-%s-%d-%d", role, os.Getpid(), nsSeq.Add(1))
	run(tb, "ip", "netns", "add", ns)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			tb.Errorf("remove namespace %s: %v: %s", ns, err, out)
		}
	})
	inNS(tb, ns, func() {
		for _, p := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Fatalf("disable IPv6 in %s: %v", ns, err)
			}
		}
	})
	run(tb, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS and enterNS are internal/netnstest's InNS and Enter.
func inNS(tb testing.TB, ns string, fn func()) { tb.Helper(); netnstest.InNS(tb, ns, fn) }

func enterNS(tb testing.TB, ns string) func() { tb.Helper(); return netnstest.Enter(tb, ns) }

// ifaceIn returns interface name's index and MAC in namespace ns.
func ifaceIn(tb testing.TB, ns, name string) (int, [6]byte) {
	tb.Helper()
	var ifi *net.Interface
	var err error
	inNS(tb, ns, func() { ifi, err = net.InterfaceByName(name) })
	if err != nil {
		tb.Fatalf("%s in %s: %v", name, ns, err)
	}
	return ifi.Index, [6]byte(ifi.HardwareAddr)
}
