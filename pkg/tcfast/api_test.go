package tcfast

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcState is what a port's ingress holds: whether it has a clsact qdisc,
// and the names of the BPF filters on clsact ingress.
func tcState(t *testing.T, ifindex int) (clsact bool, filters []string) {
	t.Helper()
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := netlink.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			clsact = true
		}
	}
	if !clsact {
		return false, nil
	}
	fs, err := netlink.FilterList(link, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok {
			filters = append(filters, bf.Name)
		}
	}
	return clsact, filters
}

// TestAPI: Attach makes the clsact qdisc and the filter, Detach and Close
// take away what Attach made (and only that) and the flows of the port;
// Put wants an attached ingress port and a valid entry; missing flows and
// a closed FastPath give their errors.
func TestAPI(t *testing.T) {
	ns := newNS(t, "api")
	run(t, "ip", "-n", ns, "link", "add", "name", "tcfa0", "type", "veth", "peer", "name", "tcfa1")
	run(t, "ip", "-n", ns, "link", "add", "name", "tcfa2", "type", "veth", "peer", "name", "tcfa3")
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", "tcfa1", "clsact") // someone else's
	run(t, "ip", "-n", ns, "link", "add", "name", "tcfa4", "type", "veth", "peer", "name", "tcfa5")
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", "tcfa4", "ingress")
	t.Cleanup(enterNS(t, ns))
	idx := func(name string) int {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().Index
	}
	a0, a1, a2, a4 := idx("tcfa0"), idx("tcfa1"), idx("tcfa2"), idx("tcfa4")

	f, err := New(Config{MaxFlows: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted MaxFlows 0")
	}
	key := func(ifindex int, sport uint16) Key {
		k, err := NewKey(ifindex, ProtoUDP, netip.AddrPortFrom(hostIP, sport), netip.AddrPortFrom(remoteIP, 53))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	e := Entry{Rewrite: RewriteSource, Addr: extIP.As4(), Port: 1024, Egress: uint32(a2), MTU: 1500, FromMAC: hostMAC}
	if err := f.Put(key(a0, 1), e); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("Put on an unattached port: %v", err)
	}
	for _, p := range []int{a0, a1, a2} {
		if err := f.Attach(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Attach(a0); err != nil {
		t.Errorf("second Attach: %v", err)
	}
	if err := f.Attach(a4); err == nil || !strings.Contains(err.Error(), "clsact") {
		t.Errorf("Attach to a port with an ingress qdisc: %v", err)
	}
	for _, p := range []int{a0, a1, a2} {
		if cls, fs := tcState(t, p); !cls || len(fs) != 1 || !strings.HasPrefix(fs[0], tcProgName) {
			t.Errorf("port %d after Attach: clsact %v, filters %v", p, cls, fs)
		}
	}
	if err := f.Put(key(a0, 1), Entry{Rewrite: RewriteSource, Egress: uint32(a2), MTU: 20, FromMAC: hostMAC}); err == nil {
		t.Error("Put accepted MTU 20")
	}
	noFrom := e
	noFrom.FromMAC = [6]byte{}
	if err := f.Put(key(a0, 1), noFrom); err == nil || !strings.Contains(err.Error(), "FromMAC") {
		t.Errorf("Put with no FromMAC: %v", err)
	}
	bcast := e
	bcast.FromMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if err := f.Put(key(a0, 1), bcast); err == nil || !strings.Contains(err.Error(), "group") {
		t.Errorf("Put with a broadcast FromMAC: %v", err)
	}
	if _, err := f.Read(key(a0, 1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused Put left an entry: %v", err)
	}
	for _, k := range []Key{key(a0, 1), key(a0, 2), key(a2, 1)} {
		if err := f.Put(k, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, s, err := f.Lookup(key(a0, 2)); err != nil || got != e || s != (Stats{}) {
		t.Errorf("Lookup: %+v %+v %v", got, s, err)
	}
	if _, err := f.Read(key(a0, 3)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read of a missing flow: %v", err)
	}
	if err := f.Delete(key(a0, 2)); err != nil {
		t.Error(err)
	}
	if err := f.Delete(key(a0, 2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}

	// Detach takes the port's flows, its filter and the qdisc Attach made.
	if err := f.Detach(a0); err != nil {
		t.Fatal(err)
	}
	if cls, _ := tcState(t, a0); cls {
		t.Error("Detach left the clsact qdisc Attach made")
	}
	if _, err := f.Read(key(a0, 1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Detach left a flow of the port: %v", err)
	}
	if _, err := f.Read(key(a2, 1)); err != nil {
		t.Errorf("Detach took another port's flow: %v", err)
	}
	if err := f.Detach(a0); err == nil {
		t.Error("Detach of a detached port succeeded")
	}

	// Close: the filters go, and the qdiscs Attach made; not tcfa1's own.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if cls, fs := tcState(t, a1); !cls || len(fs) != 0 {
		t.Errorf("tcfa1 after Close: clsact %v (want its own kept), filters %v", cls, fs)
	}
	if cls, _ := tcState(t, a2); cls {
		t.Error("Close left the clsact qdisc Attach made")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for what, err := range map[string]error{
		"Put": f.Put(key(a2, 1), e), "Delete": f.Delete(key(a2, 1)), "Attach": f.Attach(a0),
		"Flows": f.Flows(func(Key, Entry, Stats) bool { return true }), "AttachSocket": f.AttachSocket(0),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", what, err)
		}
	}
}

// TestMissingHints: the errors name what the kernel or the process lacks.
func TestMissingHints(t *testing.T) {
	for _, c := range []struct {
		hint, want string
	}{
		{missingBPF(fmt.Errorf("map create: %w", unix.EPERM)), "needs root"},
		{missingBPF(fmt.Errorf("map create: %w", unix.ENOSYS)), "CONFIG_BPF_SYSCALL"},
		{missingBPF(fmt.Errorf("map create: %w", unix.EINVAL)), ""},
		{kindHint(fmt.Errorf("qdisc add: %w", unix.ENOENT), "the clsact qdisc (CONFIG_NET_SCH_INGRESS)"), "lacks the clsact qdisc"},
		{kindHint(fmt.Errorf("filter add: %w", unix.EOPNOTSUPP), "the bpf classifier (CONFIG_NET_CLS_BPF)"), "CONFIG_NET_CLS_BPF"},
		{kindHint(fmt.Errorf("filter add: %w", unix.EEXIST), "x"), ""},
	} {
		if (c.want == "") != (c.hint == "") || !strings.Contains(c.hint, c.want) {
			t.Errorf("hint %q, want one with %q", c.hint, c.want)
		}
	}
}
