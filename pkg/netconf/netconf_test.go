//go:build linux

package netconf

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests need root: each runs in a fresh, unnamed network namespace
// that disappears when the test ends (its handle is closed and the thread
// switched back), so they never touch the host's interfaces. Without root
// they fail, naming the prerequisite; they never skip.

// enterNewNS locks the test goroutine to its OS thread and moves that thread
// into a new network namespace until the test ends.
func enterNewNS(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("prerequisite missing: netconf tests must run as root (they create network namespaces, veth pairs and TAP devices); euid is %d", os.Geteuid())
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Fatalf("prerequisite missing: /dev/net/tun (kernel TUN/TAP support): %v", err)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("prerequisite missing: cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine
			// instead of running other code in the test namespace.
			t.Errorf("return to original netns: %v", err)
		} else {
			runtime.UnlockOSThread()
		}
		ns.Close()
		orig.Close()
	})
}

// addVeth creates a veth pair a <-> b in the current namespace.
func addVeth(t *testing.T, a, b string) {
	t.Helper()
	la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
	if err := netlink.LinkAdd(la); err != nil {
		t.Fatalf("add veth %s/%s: %v", a, b, err)
	}
}

func mustLink(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func sysctl(t *testing.T, key string) string {
	t.Helper()
	v, err := readSysctl(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func v4Addrs(t *testing.T, l netlink.Link) []string {
	t.Helper()
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

func TestPreparePort(t *testing.T) {
	enterNewNS(t)
	addVeth(t, "pgp0", "pgp1")
	l := mustLink(t, "pgp0")
	for _, a := range []string{"10.0.0.1/24", "10.0.0.2/24", "10.9.0.1/16"} {
		addr, _ := netlink.ParseAddr(a)
		if err := netlink.AddrAdd(l, addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/rp_filter", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	if got := v4Addrs(t, l); len(got) != 3 {
		t.Fatalf("setup: addresses %v", got)
	}
	if _, err := ethtool("pgp0", ethtoolSGRO, 1); err != nil {
		t.Fatalf("setup: turn GRO on: %v", err)
	}
	if gro, err := GRO("pgp0"); err != nil || !gro {
		t.Fatalf("setup: GRO %v, %v; want on", gro, err)
	}

	// Round 0 keeps GRO, which is on; rounds 1 and 2 turn it off (the
	// last checks idempotency).
	for round := range 3 {
		keepGRO := round == 0
		if err := PreparePort("pgp0", 1400, keepGRO); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := SetIPv4Forwarding(false); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l = mustLink(t, "pgp0")
		if got := v4Addrs(t, l); len(got) != 0 {
			t.Fatalf("round %d: IPv4 addresses left: %v", round, got)
		}
		if l.Attrs().MTU != 1400 {
			t.Fatalf("round %d: mtu %d", round, l.Attrs().MTU)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("round %d: not up", round)
		}
		for key, want := range map[string]string{
			"net/ipv6/conf/pgp0/disable_ipv6": "1",
			"net/ipv4/conf/pgp0/arp_ignore":   "8",
			"net/ipv4/conf/pgp0/rp_filter":    "1",
			"net/ipv4/conf/all/rp_filter":     "1",
			"net/ipv4/ip_forward":             "0",
		} {
			if got := sysctl(t, key); got != want {
				t.Fatalf("round %d: %s = %s, want %s", round, key, got, want)
			}
		}
		v6, err := netlink.AddrList(l, netlink.FAMILY_V6)
		if err != nil || len(v6) != 0 {
			t.Fatalf("round %d: IPv6 addresses %v, %v", round, v6, err)
		}
		if gro, err := GRO("pgp0"); err != nil || gro != keepGRO {
			t.Fatalf("round %d: GRO %v, %v; want %v", round, gro, err, keepGRO)
		}
	}
	// The peer was not touched.
	if sysctl(t, "net/ipv6/conf/pgp1/disable_ipv6") != "0" {
		t.Fatal("peer's IPv6 disabled too")
	}
	if err := SetIPv4Forwarding(true); err != nil || sysctl(t, "net/ipv4/ip_forward") != "1" {
		t.Fatalf("SetIPv4Forwarding(true): %v", err)
	}
}

func TestLinkUpDownMTUMAC(t *testing.T) {
	enterNewNS(t)
	addVeth(t, "pgp0", "pgp1")
	for range 2 {
		if err := LinkUp("pgp0"); err != nil {
			t.Fatal(err)
		}
	}
	if mustLink(t, "pgp0").Attrs().Flags&net.FlagUp == 0 {
		t.Fatal("not up")
	}
	mac := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	for range 2 {
		if err := SetMAC("pgp0", mac); err != nil {
			t.Fatal(err)
		}
		if err := SetMTU("pgp0", 1280); err != nil {
			t.Fatal(err)
		}
	}
	l := mustLink(t, "pgp0")
	if l.Attrs().HardwareAddr.String() != mac.String() || l.Attrs().MTU != 1280 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("mac %v mtu %d flags %v", l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().Flags)
	}
	for range 2 {
		if err := LinkDown("pgp0"); err != nil {
			t.Fatal(err)
		}
	}
	if mustLink(t, "pgp0").Attrs().Flags&net.FlagUp != 0 {
		t.Fatal("still up")
	}
	err := SetMTU("pgp0", 100000)
	if err == nil || !strings.HasPrefix(err.Error(), "netconf: pgp0: set mtu 100000: ") {
		t.Fatalf("impossible MTU: %v", err)
	}
}

func TestMissingInterface(t *testing.T) {
	enterNewNS(t)
	const name = "pgnope0"
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ip := netip.MustParseAddr("192.168.1.9")
	for what, err := range map[string]error{
		"LinkUp":               LinkUp(name),
		"LinkDown":             LinkDown(name),
		"SetMTU":               SetMTU(name, 1500),
		"SetMAC":               SetMAC(name, mac),
		"FlushIPv4":            FlushIPv4(name),
		"SetIPv4Address":       SetIPv4Address(name, netip.MustParsePrefix("192.168.1.1/24")),
		"DisableIPv6":          DisableIPv6(name),
		"IsolatePort":          IsolatePort(name),
		"LimitReceiveOffloads": LimitReceiveOffloads(name, false),
		"PreparePort":          PreparePort(name, 1500, true),
		"SetDefaultRoute":      SetDefaultRoute(name, ip, mac),
		"AddPermanentNeighbor": AddPermanentNeighbor(name, ip, mac),
		"DeleteNeighbor":       DeleteNeighbor(name, ip),
		"ConfigureSelf":        ConfigureSelf(SelfConfig{Name: name, MAC: mac, Address: netip.MustParsePrefix("192.168.1.1/24")}),
	} {
		if err == nil {
			t.Errorf("%s on a missing interface succeeded", what)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "netconf: "+name+": find interface: no such interface") {
			t.Errorf("%s: unclear error %q", what, msg)
		}
	}
}

func TestVirtualNextHop(t *testing.T) {
	for in, want := range map[string]string{
		"192.168.1.1/24":   "192.168.1.254",
		"192.168.1.254/24": "192.168.1.253",
		"10.0.0.1/8":       "10.255.255.254",
		"172.16.5.9/30":    "172.16.5.10",
		"172.16.5.10/30":   "172.16.5.9",
	} {
		got, err := VirtualNextHop(netip.MustParsePrefix(in))
		if err != nil || got.String() != want {
			t.Errorf("VirtualNextHop(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"192.168.1.1/31", "192.168.1.1/32", "2001:db8::1/64"} {
		if _, err := VirtualNextHop(netip.MustParsePrefix(in)); err == nil {
			t.Errorf("VirtualNextHop(%s) succeeded", in)
		}
	}
	for _, port := range []string{"b8:27:eb:01:02:03", "02:11:22:33:44:55", "06:11:22:33:44:55", "ff:ff:ff:ff:ff:ff"} {
		p, _ := net.ParseMAC(port)
		v := VirtualNextHopMAC(p)
		if v.String() == p.String() || v[0]&0x02 == 0 || v[0]&0x01 != 0 || v[1] != p[1] {
			t.Errorf("VirtualNextHopMAC(%s) = %s", port, v)
		}
		if p.String() != port {
			t.Errorf("VirtualNextHopMAC modified its argument")
		}
	}
}

func defaultRoutes(t *testing.T) []netlink.Route {
	t.Helper()
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Route
	for _, r := range routes {
		if r.Dst == nil || (r.Dst.IP.IsUnspecified() && r.Dst.Mask != nil && len(r.Dst.Mask) > 0 && net.IP(r.Dst.Mask).IsUnspecified()) {
			out = append(out, r)
		}
	}
	return out
}

func permanentNeigh(t *testing.T, ifindex int, ip string) *netlink.Neigh {
	t.Helper()
	neighs, err := netlink.NeighList(ifindex, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range neighs {
		if n.IP.String() == ip {
			if n.State&netlink.NUD_PERMANENT == 0 {
				t.Fatalf("neighbour %s state %#x, want PERMANENT", ip, n.State)
			}
			return &n
		}
	}
	return nil
}

// readFrameTo reads frames from the TAP until one is addressed to dst.
func readFrameTo(t *testing.T, tap *os.File, dst net.HardwareAddr) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	if err := tap.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := tap.Read(buf)
		if err != nil {
			t.Fatalf("read tap, waiting for a frame to %v: %v", dst, err)
		}
		if n >= 14 && net.HardwareAddr(buf[:6]).String() == dst.String() {
			return buf[:n]
		}
	}
}

func sendUDP(t *testing.T, to string) {
	t.Helper()
	c, err := net.Dial("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("passgate")); err != nil {
		t.Fatal(err)
	}
}

func TestSelf(t *testing.T) {
	enterNewNS(t)
	portMAC := net.HardwareAddr{0xb8, 0x27, 0xeb, 0x12, 0x34, 0x56}
	cfg := SelfConfig{MAC: portMAC, MTU: 1500, Address: netip.MustParsePrefix("192.168.1.1/24")}
	tap, err := SetupSelf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	nhMAC := VirtualNextHopMAC(portMAC)

	check := func(addr, nh string) {
		t.Helper()
		l := mustLink(t, "self0")
		tt, ok := l.(*netlink.Tuntap)
		if !ok || tt.Mode != netlink.TUNTAP_MODE_TAP {
			t.Fatalf("self0 is %T %+v, want a TAP", l, l)
		}
		if l.Attrs().HardwareAddr.String() != portMAC.String() || l.Attrs().MTU != 1500 || l.Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("self0 mac %v mtu %d flags %v", l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().Flags)
		}
		if got := v4Addrs(t, l); len(got) != 1 || got[0] != addr {
			t.Fatalf("self0 addresses %v, want [%s]", got, addr)
		}
		n := permanentNeigh(t, l.Attrs().Index, nh)
		if n == nil || n.HardwareAddr.String() != nhMAC.String() {
			t.Fatalf("no permanent neighbour %s lladdr %v: %+v", nh, nhMAC, n)
		}
		routes := defaultRoutes(t)
		if len(routes) != 1 || routes[0].LinkIndex != l.Attrs().Index || routes[0].Gw.String() != nh {
			t.Fatalf("default routes %+v, want one via %s dev self0", routes, nh)
		}
	}
	check("192.168.1.1/24", "192.168.1.254")

	// The router's own internet-bound traffic leaves self0 addressed to
	// the virtual next hop, without ARP.
	sendUDP(t, "198.51.100.7:9")
	f := readFrameTo(t, tap, nhMAC)
	if net.HardwareAddr(f[6:12]).String() != portMAC.String() || f[12] != 0x08 || f[13] != 0x00 {
		t.Fatalf("unexpected frame % x", f[:14])
	}

	// Idempotent.
	for range 2 {
		if err := ConfigureSelf(cfg); err != nil {
			t.Fatal(err)
		}
	}
	check("192.168.1.1/24", "192.168.1.254")

	// A second SetupSelf while the TAP is held fails clearly.
	if _, err := SetupSelf(cfg); err == nil || !strings.Contains(err.Error(), "netconf: self0: create tap") {
		t.Fatalf("second SetupSelf: %v", err)
	}

	// Reconfiguration to another LAN leaves nothing of the old one.
	cfg.Address = netip.MustParsePrefix("10.1.2.1/24")
	if err := ConfigureSelf(cfg); err != nil {
		t.Fatal(err)
	}
	check("10.1.2.1/24", "10.1.2.254")
	if n := permanentNeigh(t, mustLink(t, "self0").Attrs().Index, "192.168.1.254"); n != nil {
		t.Fatalf("stale neighbour for the old next hop: %+v", n)
	}

	// Closing the TAP removes the interface.
	tap.Close()
	if _, err := netlink.LinkByName("self0"); err == nil {
		t.Fatal("self0 still exists after its file was closed")
	}
}

func TestPermanentNeighbor(t *testing.T) {
	enterNewNS(t)
	portMAC := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x10}
	tap, err := SetupSelf(SelfConfig{Name: "pgself", MAC: portMAC, Address: netip.MustParsePrefix("192.168.7.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	idx := mustLink(t, "pgself").Attrs().Index
	client := net.HardwareAddr{0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03}
	ip := netip.MustParseAddr("192.168.7.100")
	for range 2 {
		if err := AddPermanentNeighbor("pgself", ip, client); err != nil {
			t.Fatal(err)
		}
	}
	if n := permanentNeigh(t, idx, "192.168.7.100"); n == nil || n.HardwareAddr.String() != client.String() {
		t.Fatalf("neighbour %+v", n)
	}
	// The kernel now unicasts to the client without ARP.
	sendUDP(t, "192.168.7.100:68")
	readFrameTo(t, tap, client)

	// Replacing the MAC works too.
	client2 := net.HardwareAddr{0x3c, 0x22, 0xfb, 0x01, 0x02, 0x04}
	if err := AddPermanentNeighbor("pgself", ip, client2); err != nil {
		t.Fatal(err)
	}
	if n := permanentNeigh(t, idx, "192.168.7.100"); n == nil || n.HardwareAddr.String() != client2.String() {
		t.Fatalf("neighbour after replace %+v", n)
	}
	for range 2 {
		if err := DeleteNeighbor("pgself", ip); err != nil {
			t.Fatal(err)
		}
	}
	if n := permanentNeigh(t, idx, "192.168.7.100"); n != nil {
		t.Fatalf("neighbour still there: %+v", n)
	}
	if err := AddPermanentNeighbor("pgself", netip.MustParseAddr("2001:db8::1"), client); err == nil {
		t.Fatal("IPv6 neighbour accepted")
	}
	if err := AddPermanentNeighbor("pgself", ip, net.HardwareAddr{1, 2}); err == nil {
		t.Fatal("short MAC accepted")
	}
}

func TestOpenTAPErrors(t *testing.T) {
	enterNewNS(t)
	if _, err := OpenTAP("this-name-is-too-long"); err == nil {
		t.Fatal("over-long name accepted")
	}
	addVeth(t, "pgp0", "pgp1")
	_, err := OpenTAP("pgp0")
	if err == nil || !strings.HasPrefix(err.Error(), "netconf: pgp0: create tap") {
		t.Fatalf("TAP over an existing veth: %v", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("wrong error kind")
	}
}
