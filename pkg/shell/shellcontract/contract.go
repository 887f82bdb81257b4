package shellcontract

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// Run runs the contract against the backend newHarness makes; every
// subtest starts a fresh one from Config().
func Run(t *testing.T, newHarness NewHarness) {
	start := func(t *testing.T) Harness {
		t.Helper()
		return newHarness(t, Config())
	}
	t.Run("NATSessions", func(t *testing.T) { testNATSessions(t, start(t)) })
	t.Run("ClearNATSessions", func(t *testing.T) { testClearNATSessions(t, start) })
	t.Run("Commit", func(t *testing.T) { testCommit(t, start(t)) })
	t.Run("Interfaces", func(t *testing.T) { testInterfaces(t, start(t)) })
	t.Run("DHCPLeases", func(t *testing.T) { testDHCPLeases(t, start(t)) })
	t.Run("Passthrough", func(t *testing.T) { testPassthrough(t, start(t)) })
	t.Run("Counters", func(t *testing.T) { testCounters(t, start(t)) })
	t.Run("Reboot", func(t *testing.T) { testReboot(t, start(t)) })
	t.Run("FactoryReset", func(t *testing.T) { testFactoryReset(t, start(t)) })
	t.Run("SystemSSHKey", func(t *testing.T) { testSystemSSHKey(t, start(t)) })
	t.Run("CommitConfirmed", func(t *testing.T) { testCommitConfirmed(t, start) })
	t.Run("SaveFails", func(t *testing.T) { testSaveFails(t, start(t)) })
	t.Run("NeedsRestart", func(t *testing.T) { testNeedsRestart(t, start(t)) })
	t.Run("CommitHistory", func(t *testing.T) { testCommitHistory(t, start(t)) })
	t.Run("Routes", func(t *testing.T) { testRoutes(t, start(t)) })
	t.Run("Neighbors", func(t *testing.T) { testNeighbors(t, start(t)) })
}

// traffic is the sessions the session tests open: two LAN hosts, one
// remote shared by two sessions, and one remote (8.8.8.8) seen only as a
// remote address.
var traffic = []struct {
	proto            string
	internal, remote netip.AddrPort
}{
	{"tcp", ap("192.168.1.10:40001"), ap("198.51.100.7:443")},
	{"udp", ap("192.168.1.20:5353"), ap("192.0.2.53:53")},
	{"icmp", ap("192.168.1.10:7"), ap("192.0.2.53:0")},
	{"udp", ap("192.168.1.10:40002"), ap("8.8.8.8:53")},
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func addr(s string) netip.Addr   { return netip.MustParseAddr(s) }

// external stands for Harness.External in a filter table.
var external = addr("255.255.255.254")

// filterCases are the documented filters and the traffic indexes each
// selects: the protocol, and a host that matches the internal, the
// external or the remote address.
var filterCases = []struct {
	name string
	f    shell.SessionFilter
	want []int
}{
	{"zero filter selects all", shell.SessionFilter{}, []int{0, 1, 2, 3}},
	{"protocol tcp", shell.SessionFilter{Protocol: "tcp"}, []int{0}},
	{"protocol udp", shell.SessionFilter{Protocol: "udp"}, []int{1, 3}},
	{"protocol icmp", shell.SessionFilter{Protocol: "icmp"}, []int{2}},
	{"protocol without sessions", shell.SessionFilter{Protocol: "esp"}, nil},
	{"host internal", shell.SessionFilter{Host: addr("192.168.1.10")}, []int{0, 2, 3}},
	{"host remote of one session", shell.SessionFilter{Host: addr("8.8.8.8")}, []int{3}},
	{"host remote of two sessions", shell.SessionFilter{Host: addr("192.0.2.53")}, []int{1, 2}},
	{"host external", shell.SessionFilter{Host: external}, []int{0, 1, 2, 3}},
	{"protocol and remote host", shell.SessionFilter{Protocol: "udp", Host: addr("192.0.2.53")}, []int{1}},
	{"protocol and external host", shell.SessionFilter{Protocol: "icmp", Host: external}, []int{2}},
	{"protocol and internal host", shell.SessionFilter{Protocol: "udp", Host: addr("192.168.1.20")}, []int{1}},
	{"host of nobody", shell.SessionFilter{Host: addr("192.168.1.99")}, nil},
	{"host of nobody for that protocol", shell.SessionFilter{Protocol: "tcp", Host: addr("8.8.8.8")}, nil},
}

func addTraffic(t *testing.T, h Harness) {
	t.Helper()
	for _, s := range traffic {
		h.AddSession(t, s.proto, s.internal, s.remote)
	}
}

func resolve(h Harness, f shell.SessionFilter) shell.SessionFilter {
	if f.Host == external {
		f.Host = h.External()
	}
	return f
}

// which maps listed sessions to traffic indexes (-1: not from traffic),
// sorted; ICMP sessions are told apart by identifier and remote address.
func which(t *testing.T, h Harness, ss []shell.NATSession) []int {
	t.Helper()
	var out []int
	for _, s := range ss {
		i := slices.IndexFunc(traffic, func(x struct {
			proto            string
			internal, remote netip.AddrPort
		}) bool {
			if x.proto != s.Protocol || x.internal != s.Internal {
				return false
			}
			if x.proto == "icmp" {
				return x.remote.Addr() == s.Remote.Addr()
			}
			return x.remote == s.Remote
		})
		if s.External.Addr() != h.External() {
			t.Errorf("session %v %v -> %v: external address %v, want %v", s.Protocol, s.Internal, s.Remote, s.External.Addr(), h.External())
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func testNATSessions(t *testing.T, h Harness) {
	ctx := context.Background()
	if ss, err := h.Router().NATSessions(ctx, shell.SessionFilter{}); err != nil || len(ss) != 0 {
		t.Fatalf("a fresh router: %d sessions, %v; want none", len(ss), err)
	}
	addTraffic(t, h)
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			ss, err := h.Router().NATSessions(ctx, resolve(h, c.f))
			if err != nil {
				t.Fatal(err)
			}
			if got := which(t, h, ss); !slices.Equal(got, c.want) {
				t.Errorf("NATSessions(%+v) selects %v, want %v:\n%s", resolve(h, c.f), got, c.want, listing(ss))
			}
		})
	}
}

func testClearNATSessions(t *testing.T, start func(*testing.T) Harness) {
	ctx := context.Background()
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			addTraffic(t, h)
			f := resolve(h, c.f)
			n, err := h.Router().ClearNATSessions(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(c.want) {
				t.Errorf("ClearNATSessions(%+v) = %d, want %d", f, n, len(c.want))
			}
			left, err := h.Router().NATSessions(ctx, shell.SessionFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for i := range traffic {
				if !slices.Contains(c.want, i) {
					want = append(want, i)
				}
			}
			if got := which(t, h, left); !slices.Equal(got, want) {
				t.Errorf("after ClearNATSessions(%+v) left %v, want %v:\n%s", f, got, want, listing(left))
			}
			if again, _ := h.Router().ClearNATSessions(ctx, f); again != 0 {
				t.Errorf("a second ClearNATSessions(%+v) removed %d more", f, again)
			}
		})
	}
}

func listing(ss []shell.NATSession) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "  %s %v %v %v\n", s.Protocol, s.Internal, s.External, s.Remote)
	}
	return b.String()
}

// same compares configurations as the set lines they print.
func same(a, b *config.Config) bool { return a.String() == b.String() }

func diff(a, b *config.Config) string { return strings.Join(config.Diff(a, b), "\n") }

func testCommit(t *testing.T, h Harness) {
	ctx := context.Background()
	first := Config()
	r := h.Router()
	if c := r.Config(); !same(c, first) {
		t.Fatalf("Config is not the committed configuration:\n%s", diff(first, c))
	}
	next := r.Config().Clone()
	next.System.Hostname = "committed"
	next.Passthrough.PPTP = false
	next.NAT.Timeouts.UDP = 2 * time.Minute
	changes, err := r.Commit(ctx, next)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if !slices.ContainsFunc(changes, func(s string) bool { return strings.Contains(s, "pptp passthrough disabled") }) {
		t.Errorf("Commit's changes %q do not say pptp passthrough was disabled", changes)
	}
	if c := r.Config(); !same(c, next) {
		t.Errorf("Config after Commit:\n%s", diff(next, c))
	}
	if pt, err := r.Passthrough(ctx); err != nil || len(pt.Protocols) == 0 || pt.Protocols[0].Name != "pptp" || pt.Protocols[0].Enabled {
		t.Errorf("Passthrough after disabling pptp: %+v, %v", pt.Protocols, err)
	}

	revs := r.Revisions()
	if len(revs) < 2 || revs[0].N != 0 || revs[1].N != 1 {
		t.Fatalf("Revisions after one commit: %+v, want 0 (committed) and 1 (before)", revs)
	}
	for _, c := range []struct {
		n    int
		want *config.Config // nil: an error
	}{{0, next}, {1, first}, {-1, nil}, {len(revs), nil}} {
		got, err := r.Rollback(c.n)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("Rollback(%d) with %d revisions: no error", c.n, len(revs))
		case c.want != nil && err != nil:
			t.Errorf("Rollback(%d): %v", c.n, err)
		case c.want != nil && !same(got, c.want):
			t.Errorf("Rollback(%d):\n%s", c.n, diff(c.want, got))
		}
	}
	if c := r.Config(); !same(c, next) {
		t.Errorf("Rollback applied something; Config:\n%s", diff(next, c))
	}

	// The commit was saved: it is what the router comes back with.
	h.Restart(t)
	if c := h.Router().Config(); !same(c, next) {
		t.Errorf("after a restart Config is not the last commit:\n%s", diff(next, c))
	}
	if got := h.Router().Revisions(); len(got) != len(revs) {
		t.Errorf("a restart changed the revisions: %+v, before %+v", got, revs)
	}
}

func testInterfaces(t *testing.T, h Harness) {
	cfg := Config()
	ifs, err := h.Router().Interfaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, device string
		mtu          int
		addr         netip.Prefix
	}{
		{"lan", cfg.Interfaces.LAN.Device, cfg.Interfaces.LAN.MTU, LANPrefix},
		{"wan", cfg.Interfaces.WAN.Device, cfg.Interfaces.WAN.MTU, WANPrefix},
	}
	if len(ifs) != len(want) {
		t.Fatalf("Interfaces: %d, want lan and wan: %+v", len(ifs), ifs)
	}
	for i, w := range want {
		got := ifs[i]
		if got.Name != w.name || got.Role != w.name || got.Device != w.device || got.MTU != w.mtu ||
			len(got.MAC) != 6 || !slices.Equal(got.Addresses, []netip.Prefix{w.addr}) {
			t.Errorf("interface %d: name %q role %q device %q mtu %d mac %v addresses %v; want %s on %s, mtu %d, a MAC, %v",
				i, got.Name, got.Role, got.Device, got.MTU, got.MAC, got.Addresses, w.name, w.device, w.mtu, w.addr)
		}
	}
	if bytes.Equal(ifs[0].MAC, ifs[1].MAC) {
		t.Errorf("lan and wan share the MAC %v", ifs[0].MAC)
	}
}

var (
	laptopMAC = net.HardwareAddr{0x02, 0, 0, 0, 0xc0, 0x01}
	phoneMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0xc0, 0x02}
)

// checkLeases checks that the leases are exactly the dynamic ones in want
// (address → MAC and hostname).
func checkLeases(t *testing.T, h Harness, want map[netip.Addr][2]string) {
	t.Helper()
	ls, err := h.Router().DHCPLeases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(want) {
		t.Errorf("DHCPLeases: %d, want %d: %+v", len(ls), len(want), ls)
	}
	for _, l := range ls {
		w, ok := want[l.IP]
		switch {
		case !ok:
			t.Errorf("unexpected lease %+v", l)
		case l.MAC.String() != w[0] || l.Hostname != w[1] || l.Static || l.Expires.IsZero():
			t.Errorf("lease %v: mac %v hostname %q static %v expires %v; want %s %q, dynamic, with an expiry",
				l.IP, l.MAC, l.Hostname, l.Static, l.Expires, w[0], w[1])
		}
	}
}

func inPool(a netip.Addr) bool { return a.Compare(PoolStart) >= 0 && a.Compare(PoolEnd) <= 0 }

func addLeases(t *testing.T, h Harness) map[netip.Addr][2]string {
	t.Helper()
	a := h.AddLease(t, laptopMAC, "laptop")
	b := h.AddLease(t, phoneMAC, "phone")
	if a == b || !inPool(a) || !inPool(b) {
		t.Fatalf("leases %v and %v: want two addresses from the pool %v-%v", a, b, PoolStart, PoolEnd)
	}
	return map[netip.Addr][2]string{a: {laptopMAC.String(), "laptop"}, b: {phoneMAC.String(), "phone"}}
}

func testDHCPLeases(t *testing.T, h Harness) {
	checkLeases(t, h, nil)
	want := addLeases(t, h)
	checkLeases(t, h, want)
}

func testPassthrough(t *testing.T, h Harness) {
	pt, err := h.Router().Passthrough(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []shell.PassthroughProtocol{{Name: "pptp", Enabled: true}, {Name: "l2tp", Enabled: true}, {Name: "ipsec", Enabled: true, Mode: "spi-learning"}}
	if len(pt.Protocols) != len(want) {
		t.Fatalf("Passthrough protocols %+v, want pptp, l2tp, ipsec", pt.Protocols)
	}
	for i, w := range want {
		if g := pt.Protocols[i]; g.Name != w.Name || g.Enabled != w.Enabled || g.Mode != w.Mode {
			t.Errorf("protocol %d: %q enabled %v mode %q; want %q enabled %v mode %q", i, g.Name, g.Enabled, g.Mode, w.Name, w.Enabled, w.Mode)
		}
	}
	uniqueNames(t, "passthrough extra counters", pt.Extra)
}

func uniqueNames(t *testing.T, what string, cs []shell.Counter) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Name == "" || seen[c.Name] {
			t.Errorf("%s: empty or repeated name %q in %+v", what, c.Name, cs)
		}
		seen[c.Name] = true
	}
}

func counter(cs []shell.Counter, name string) (uint64, bool) {
	for _, c := range cs {
		if c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}

func testCounters(t *testing.T, h Harness) {
	ctx := context.Background()
	for i, s := range traffic[:2] {
		h.AddSession(t, s.proto, s.internal, s.remote)
		c, err := h.Router().Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := counter(c.Sessions, "current"); !ok || n != uint64(i+1) {
			t.Errorf("after %d sessions the session counter \"current\" is %d (present %v)", i+1, n, ok)
		}
	}
	c, err := h.Router().Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Verdicts) == 0 {
		t.Error("no verdict counters")
	}
	uniqueNames(t, "verdicts", c.Verdicts)
	uniqueNames(t, "drops", c.Drops)
	uniqueNames(t, "sessions", c.Sessions)
	// show vpn diagnose compares "current" with the table's size.
	if l, ok := counter(c.Sessions, "limit"); !ok || l < 2 {
		t.Errorf("session counter \"limit\" %d (present %v): want the session table's size", l, ok)
	}
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, p.Name)
	}
	for _, role := range []string{"lan", "wan"} {
		if !slices.ContainsFunc(ports, func(n string) bool { return n == role || strings.HasPrefix(n, role+" (") }) {
			t.Errorf("port counters for %q, want %s (optionally followed by its device)", ports, role)
		}
	}
}

func testReboot(t *testing.T, h Harness) {
	ctx := context.Background()
	leases := addLeases(t, h)
	h.AddSession(t, traffic[0].proto, traffic[0].internal, traffic[0].remote)
	key := h.HostKey(t)
	if key == nil {
		t.Fatal("a running router has no SSH host key")
	}
	if err := h.Router().Reboot(); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("Reboot asked for %d restarts, want 1", n)
	}
	h.Restart(t)
	if c := h.Router().Config(); !same(c, Config()) {
		t.Errorf("a reboot changed the configuration:\n%s", diff(Config(), c))
	}
	checkLeases(t, h, leases)
	if !bytes.Equal(h.HostKey(t), key) {
		t.Error("a reboot changed the SSH host key")
	}
	if ss, _ := h.Router().NATSessions(ctx, shell.SessionFilter{}); len(ss) != 0 {
		t.Errorf("sessions survived a reboot:\n%s", listing(ss))
	}
}

func testFactoryReset(t *testing.T, h Harness) {
	ctx := context.Background()
	next := h.Router().Config().Clone()
	next.System.Hostname = "customised"
	next.NAT.Hairpin = false
	if _, err := h.Router().Commit(ctx, next); err != nil {
		t.Fatal(err)
	}
	addLeases(t, h)
	key := h.HostKey(t)
	if key == nil {
		t.Fatal("a running router has no SSH host key")
	}
	if err := h.Router().FactoryReset(); err != nil {
		t.Fatalf("FactoryReset: %v", err)
	}
	if n := h.Restarts(); n != 1 {
		t.Fatalf("FactoryReset asked for %d restarts, want 1", n)
	}
	// The leases are forgotten at once, not only by the restart.
	checkLeases(t, h, nil)

	h.Restart(t)
	want := Factory(Config())
	if c := h.Router().Config(); !same(c, want) {
		t.Errorf("after a factory reset the configuration is not the factory one (with the board's devices):\n%s", diff(want, c))
	}
	checkLeases(t, h, nil)
	if k := h.HostKey(t); k == nil || bytes.Equal(k, key) {
		t.Errorf("after a factory reset the SSH host key is %s", map[bool]string{true: "none", false: "the old one"}[k == nil])
	}
}

// "show system" shows the fingerprint of the SSH host key the router
// presents (SHA256 over the key's encoding, as ssh-keygen -l prints it),
// before and after a reboot.
func testSystemSSHKey(t *testing.T, h Harness) {
	check := func(when string) {
		t.Helper()
		key := h.HostKey(t)
		if key == nil {
			t.Fatalf("%s: the router has no SSH host key", when)
		}
		sum := sha256.Sum256(key)
		want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		si, err := h.Router().System(context.Background())
		if err != nil {
			t.Fatalf("%s: System: %v", when, err)
		}
		if !strings.HasPrefix(si.SSHHostKey, "ssh-ed25519 "+want) {
			t.Errorf("%s: SSHHostKey %q, want the key's fingerprint ssh-ed25519 %s", when, si.SSHHostKey, want)
		}
	}
	check("running")
	if err := h.Router().Reboot(); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
	check("after a reboot")
}
