//go:build linux

package dhcpv6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/afpacket"
	"github.com/passgate/passgate/pkg/link"
)

// The end-to-end test: Debian's Kea DHCPv6 server delegates prefixes in
// one network namespace ("the ISP"); the client runs on the other end of
// a veth pair through FrameConn over a real AF_PACKET socket (pkg/link),
// with IPv6 off in its namespace's kernel, as routerd's WAN port is. It
// needs root, iproute2, ethtool and kea-dhcp6; without them it fails and
// says which is missing (never skips).

var e2eSeq atomic.Int32

// keaLab is the two namespaces and the veth between them.
type keaLab struct {
	t       *testing.T
	isp, cl string // namespace names
	mac     net.HardwareAddr
	dir     string
}

func newKeaLab(t *testing.T) *keaLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("prerequisite missing: the DHCPv6 end-to-end test must run as root (it makes network namespaces); euid is %d", os.Geteuid())
	}
	if err := sysdeps.Require(sysdeps.IP, sysdeps.Ethtool, sysdeps.KeaDHCP6); err != nil {
		t.Fatalf("prerequisite missing: %v", err)
	}
	n := e2eSeq.Add(1)
	l := &keaLab{
		t:   t,
		isp: fmt.Sprintf("pgd6-%d-%d-isp", os.Getpid(), n),
		cl:  fmt.Sprintf("pgd6-%d-%d-cl", os.Getpid(), n),
		mac: net.HardwareAddr{0x02, 0xd6, 0, 0, byte(n), 1},
		dir: t.TempDir(),
	}
	for _, ns := range []string{l.isp, l.cl} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("remove namespace %s: %v: %s", ns, err, out)
			}
		})
	}
	// The ISP's side: IPv6 on, without duplicate address detection so Kea
	// can bind at once.
	inNS(t, l.isp, func() {
		for _, p := range []string{"all", "default"} {
			writeSysctl(t, "/proc/sys/net/ipv6/conf/"+p+"/accept_dad", "0")
		}
	})
	// The router's side: the kernel has no IPv6 there (routerd owns the
	// port).
	inNS(t, l.cl, func() {
		for _, p := range []string{"all", "default"} {
			writeSysctl(t, "/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", "1")
		}
	})
	run(t, "ip", "-n", l.isp, "link", "add", "isp0", "type", "veth", "peer", "name", "wan0", "netns", l.cl)
	run(t, "ip", "-n", l.cl, "link", "set", "wan0", "address", l.mac.String(), "up")
	run(t, "ip", "-n", l.isp, "link", "set", "isp0", "up")
	run(t, "ip", "-n", l.isp, "addr", "add", "2001:db8:1::1/64", "dev", "isp0", "nodad")
	// veth leaves UDP checksums to be finished by a NIC that does not
	// exist; real wires never carry such frames.
	run(t, "ip", "netns", "exec", l.isp, "ethtool", "-K", "isp0", "tx", "off")
	// routerd will answer neighbour solicitations for its link-local
	// address (pkg/ndp6, next round); here the ISP is told the neighbour.
	run(t, "ip", "-n", l.isp, "neigh", "add", LinkLocal(l.mac).String(), "lladdr", l.mac.String(), "dev", "isp0", "nud", "permanent")
	return l
}

// kea is one run of kea-dhcp6 in the ISP namespace.
type kea struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startKea runs kea-dhcp6 in the foreground with a configuration in the
// lab's directory delegating /56s from pool (a /40), with the lease file
// leases, and waits until it listens.
func (l *keaLab) startKea(pool netip.Prefix, leases string) *kea {
	t := l.t
	t.Helper()
	conf := fmt.Sprintf(`{
"Dhcp6": {
  "interfaces-config": { "interfaces": [ "isp0" ] },
  "lease-database": { "type": "memfile", "persist": true, "name": %q, "lfc-interval": 0 },
  "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "706173736761746531", "persist": false },
  "preferred-lifetime": 40, "valid-lifetime": 60, "renew-timer": 10, "rebind-timer": 30,
  "option-data": [
    { "name": "dns-servers", "data": "2001:db8:53::1, 2001:db8:53::2" },
    { "name": "domain-search", "data": "isp.example, home.example" }
  ],
  "subnet6": [ {
    "id": 1, "subnet": "2001:db8:1::/64", "interface": "isp0",
    "pools": [ { "pool": "2001:db8:1::100-2001:db8:1::1ff" } ],
    "pd-pools": [ { "prefix": %q, "prefix-len": %d, "delegated-len": 56 } ]
  } ],
  "loggers": [ { "name": "kea-dhcp6", "output_options": [ { "output": "stdout" } ], "severity": "DEBUG", "debuglevel": 40 } ]
}
}`, filepath.Join(l.dir, leases), pool.Addr().String(), pool.Bits())
	path := filepath.Join(l.dir, "kea-"+leases+".json")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &kea{out: &lockedBuffer{}, done: make(chan error, 1)}
	// ip netns exec execs kea-dhcp6 itself: the PID is Kea's.
	k.cmd = exec.Command("ip", "netns", "exec", l.isp, "kea-dhcp6", "-c", path)
	k.cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+l.dir, "KEA_LOCKFILE_DIR="+l.dir, "KEA_DHCP_DATA_DIR="+l.dir, "KEA_LOG_FILE_DIR="+l.dir)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start kea-dhcp6: %v", err)
	}
	go func() { k.done <- k.cmd.Wait() }()
	t.Cleanup(func() { k.stop(t) })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(k.out.String(), "DHCP6_STARTED") {
		select {
		case err := <-k.done:
			k.done <- err
			t.Fatalf("kea-dhcp6 exited (%v):\n%s", err, k.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kea-dhcp6 did not start in 10 s:\n%s", k.out)
		}
	}
	return k
}

// stop kills Kea (by its PID) and waits for it; it may be called twice.
func (k *kea) stop(t *testing.T) {
	if k.cmd.ProcessState != nil {
		return
	}
	k.cmd.Process.Kill()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		t.Errorf("kea-dhcp6 (pid %d) did not exit", k.cmd.Process.Pid)
	}
}

// wanPort is the router's WAN port: an AF_PACKET link in the client
// namespace feeding a FrameConn.
type wanPort struct {
	l    *afpacket.Link
	fc   *FrameConn
	done chan struct{}

	mu   sync.Mutex
	sent []d6.MessageType // types of the messages the client sent
}

// sentSince returns the types of the messages sent after the first n.
func (w *wanPort) sentSince(n int) []d6.MessageType {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]d6.MessageType(nil), w.sent[min(n, len(w.sent)):]...)
}

func (l *keaLab) openWAN() *wanPort {
	t := l.t
	t.Helper()
	var al *afpacket.Link
	var err error
	inNS(t, l.cl, func() { al, err = afpacket.Open("wan0", &afpacket.Config{NoVnetHdr: true}) })
	if err != nil {
		t.Fatal(err)
	}
	w := &wanPort{l: al, done: make(chan struct{})}
	w.fc = NewFrameConn(al.MAC(), func(f []byte) error {
		w.mu.Lock()
		w.sent = append(w.sent, d6.MessageType(f[frameOverhead]))
		w.mu.Unlock()
		n, err := al.WriteBatch(link.Plain(f))
		if err == nil && n != 1 {
			err = errors.New("frame dropped by the port")
		}
		return err
	}, nil)
	go func() {
		defer close(w.done)
		frames := make([]link.Frame, 32)
		for {
			n, err := al.ReadBatch(frames)
			if err != nil {
				return
			}
			for _, f := range frames[:n] {
				w.fc.Deliver(f.Data)
			}
		}
	}()
	t.Cleanup(func() { al.Close(); <-w.done })
	return w
}

// runClient runs a client on the WAN port until the returned stop is
// called; stop returns once Run has.
func runClient(t *testing.T, cfg Config) (<-chan Event, func()) {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 32)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx, func(e Event) { events <- e }); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(ReleaseWait + 10*time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return events, stop
}

func nextEvent(t *testing.T, events <-chan Event, within time.Duration, k *kea) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(within):
		t.Fatalf("no event within %v; Kea says:\n%s", within, tail(k.out.String(), 40))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestEndToEndKeaPrefixDelegation(t *testing.T) {
	lab := newKeaLab(t)
	poolA := netip.MustParsePrefix("2001:db8:100::/40")
	poolB := netip.MustParsePrefix("2001:db8:200::/40")
	kA := lab.startKea(poolA, "leases-a.csv")
	wan := lab.openWAN()
	state := t.TempDir()
	var logMu sync.Mutex
	cfg := Config{
		Transport:      wan.fc,
		HWAddr:         lab.mac,
		RequestAddress: true,
		StateDir:       state,
		Logf: func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			t.Logf(format, args...)
		},
	}

	// 1. The prefix is delegated (with an address, DNS and domains).
	events, stop1 := runClient(t, cfg)
	start := time.Now()
	e := nextEvent(t, events, 15*time.Second, kA)
	acq, ok := e.(PrefixAcquired)
	if !ok {
		t.Fatalf("first event %#v, want PrefixAcquired", e)
	}
	a := acq.Prefix
	if a.Bits() != 56 || !poolA.Contains(a.Addr()) {
		t.Errorf("delegated %v, want a /56 of %v", a, poolA)
	}
	if !netip.MustParsePrefix("2001:db8:1::/64").Contains(acq.Address) {
		t.Errorf("address %v, want one of Kea's pool", acq.Address)
	}
	if fmt.Sprint(acq.DNS) != "[2001:db8:53::1 2001:db8:53::2]" || fmt.Sprint(acq.Domains) != "[isp.example home.example]" {
		t.Errorf("DNS %v domains %v", acq.DNS, acq.Domains)
	}
	if acq.ValidLifetime != time.Minute || acq.PreferredLifetime != 40*time.Second || acq.T1 != 10*time.Second || acq.T2 != 30*time.Second {
		t.Errorf("lifetimes %v/%v T1 %v T2 %v, want Kea's 40s/60s, 10s, 30s", acq.PreferredLifetime, acq.ValidLifetime, acq.T1, acq.T2)
	}
	t.Logf("acquired %v after %v", acq.Lease, time.Since(start))

	// 2. Renewed at T1.
	got := time.Now()
	e = nextEvent(t, events, 20*time.Second, kA)
	if r, ok := e.(PrefixRenewed); !ok || r.Prefix != a {
		t.Fatalf("second event %#v, want PrefixRenewed of %v", e, a)
	}
	if d := time.Since(got); d < 7*time.Second || d > 15*time.Second {
		t.Errorf("renewed %v after acquiring, want about T1 = 10 s", d)
	}

	// 3. A restart without Release: the client confirms the remembered
	// prefix with Rebind and keeps it.
	stop1()
	if strings.Count(kA.out.String(), "DHCP6_RELEASE") > 0 {
		t.Errorf("a stop without ReleaseOnStop released")
	}
	cfg.ReleaseOnStop = true
	mark := len(wan.sentSince(0))
	events, stop2 := runClient(t, cfg)
	e = nextEvent(t, events, 15*time.Second, kA)
	if r, ok := e.(PrefixAcquired); !ok || r.Prefix != a {
		t.Fatalf("after the restart %#v, want PrefixAcquired of the same %v", e, a)
	}
	if sent := wan.sentSince(mark); len(sent) == 0 || sent[0] != d6.MessageTypeRebind {
		t.Errorf("after the restart the client sent %v, want a Rebind first", sent)
	}

	// 4. The ISP renumbers: Kea restarts with another pool and no memory
	// of the old lease; the next renewal brings the new prefix.
	kA.stop(t)
	kB := lab.startKea(poolB, "leases-b.csv")
	e = nextEvent(t, events, 45*time.Second, kB)
	ch, ok := e.(PrefixChanged)
	if !ok {
		t.Fatalf("after renumbering %#v, want PrefixChanged; Kea says:\n%s", e, tail(kB.out.String(), 40))
	}
	b := ch.Prefix
	if ch.Old.Prefix != a || b.Bits() != 56 || !poolB.Contains(b.Addr()) {
		t.Errorf("changed %v → %v, want %v → a /56 of %v", ch.Old.Prefix, b, a, poolB)
	}

	// 5. Stop: the prefix is released at the server.
	stop2()
	var lost PrefixLost
	for _, e := range drain(events) {
		if l, ok := e.(PrefixLost); ok {
			lost = l
		}
	}
	if lost.Reason != LostReleased || lost.Prefix != b {
		t.Errorf("last event %+v, want PrefixLost released for %v", lost, b)
	}
	// Kea answered before its log reached the pipe: wait for the line.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := kB.out.String()
		if strings.Contains(grepLines(out, "DHCP6_RELEASE_PD"), b.Addr().String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("Kea logged no release of %v:\n%s", b, tail(out, 30))
			break
		}
	}
}

// drain returns what is queued on events without waiting.
func drain(events <-chan Event) []Event {
	var out []Event
	for {
		select {
		case e := <-events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func writeSysctl(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// inNS runs fn on an OS thread switched into namespace ns. Sockets opened
// by fn stay in ns, whichever thread uses them later.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open own netns: %v", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("open netns %s: %v", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter netns %s: %v", ns, err)
	}
	defer func() {
		// Only a thread back in its own namespace may return to the
		// pool; otherwise it stays locked and dies with the goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
