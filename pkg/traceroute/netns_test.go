package traceroute

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTraceNamespaces traces through real kernels: a host, two routers
// forwarding (ip_forward) and the target's host, each in a network
// namespace. The probes' TTLs expire at the first router (192.0.2.1) and
// at the second (100.64.9.2, an address of the ISPs' shared space), and
// the third reaches the target, which answers port unreachable.
func TestTraceNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("prerequisite missing: the namespace trace must run as root (it makes network namespaces); euid is %d", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("prerequisite missing: ip (iproute2)")
	}
	prefix := fmt.Sprintf("tr%d-", os.Getpid()%100000)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		run(append([]string{"ip", "-n", prefix + ns}, args...)...)
	}
	sysctl := func(ns, kv string) { t.Helper(); run("ip", "netns", "exec", prefix+ns, "sysctl", "-qw", kv) }
	names := []string{"h", "r1", "r2", "r3"}
	t.Cleanup(func() {
		for _, n := range names {
			exec.Command("ip", "netns", "del", prefix+n).Run()
		}
	})
	for _, n := range names {
		run("ip", "netns", "add", prefix+n)
		in(n, "link", "set", "lo", "up")
	}
	link := func(a, aIf, aAddr, b, bIf, bAddr string) {
		run("ip", "link", "add", prefix+"x", "netns", prefix+a, "type", "veth", "peer", "name", prefix+"y", "netns", prefix+b)
		in(a, "link", "set", prefix+"x", "name", aIf)
		in(b, "link", "set", prefix+"y", "name", bIf)
		in(a, "addr", "add", aAddr, "dev", aIf)
		in(b, "addr", "add", bAddr, "dev", bIf)
		in(a, "link", "set", aIf, "up")
		in(b, "link", "set", bIf, "up")
	}
	link("h", "eth0", "192.0.2.2/24", "r1", "eth0", "192.0.2.1/24")
	link("r1", "eth1", "100.64.9.1/30", "r2", "eth0", "100.64.9.2/30")
	link("r2", "eth1", "198.51.100.1/30", "r3", "eth0", "198.51.100.2/30")
	in("h", "route", "add", "default", "via", "192.0.2.1")
	in("r1", "route", "add", "default", "via", "100.64.9.2")
	in("r2", "route", "add", "192.0.2.0/24", "via", "100.64.9.1")
	in("r2", "route", "add", "default", "via", "198.51.100.2")
	in("r3", "route", "add", "192.0.2.0/24", "via", "198.51.100.1")
	in("r3", "addr", "add", "203.0.113.9/32", "dev", "lo")
	sysctl("r1", "net.ipv4.ip_forward=1")
	sysctl("r2", "net.ipv4.ip_forward=1")

	tr := New(Options{Params: Params{Target: target9(), Hops: 4}, Dial: func() (Conn, error) { return dialIn(prefix + "h") }})
	start := time.Now()
	r, err := tr.Trace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1", "100.64.9.2", "203.0.113.9!"}
	if got := hops(r); !slices.Equal(got, want) {
		t.Errorf("hops %q, want %q", got, want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a trace whose hops all answer took %v", d)
	}
	for _, h := range r.Hops {
		if h.RTT <= 0 || h.RTT > time.Second {
			t.Errorf("hop %d: round trip %v", h.TTL, h.RTT)
		}
	}

	// The second router stops forwarding and answering: hop 2 and
	// beyond are silent, and the trace ends within its bound.
	sysctl("r2", "net.ipv4.ip_forward=0")
	tr = New(Options{Params: Params{Target: target9(), ProbeTimeout: 300 * time.Millisecond}, Dial: func() (Conn, error) { return dialIn(prefix + "h") }})
	start = time.Now()
	r, err = tr.Trace(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := hops(r); !slices.Equal(got, []string{"192.0.2.1", "*", "*"}) {
		t.Errorf("with a silent second router: hops %q", got)
	}
	if d := time.Since(start); d > 2*300*time.Millisecond+500*time.Millisecond {
		t.Errorf("took %v, beyond its bound", d)
	}
}

func target9() netip.Addr { return netip.MustParseAddr("203.0.113.9") }

// dialIn opens a probing socket in the named network namespace: a
// socket stays in the namespace it was made in, whichever thread uses
// it later.
func dialIn(ns string) (Conn, error) {
	type res struct {
		c   Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine, namespace and all
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, fmt.Errorf("namespace %s: %w", ns, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := DialUDP()
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
