//go:build linux

package ra

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/internal/netnstest"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/ndp6"
)

// miniRouter is the shape routerd's LAN port will have next round: one
// loop reading frames from an AF_PACKET link, handing them to ndp6 (and
// router solicitations to the advertiser), and writing what they return,
// with the timers run on every wake.
type miniRouter struct {
	l     link.Link
	start time.Time
	mu    sync.Mutex
	adv   *Advertiser
	nd    *ndp6.Node
	pend  [][]byte
	done  chan struct{}
}

func (r *miniRouter) now() time.Duration { return time.Since(r.start) }

func (r *miniRouter) loop() {
	defer close(r.done)
	frames := make([]link.Frame, 64)
	var out [][]byte
	for {
		n, err := r.l.ReadBatch(frames)
		if err != nil {
			return
		}
		r.mu.Lock()
		now := r.now()
		out = append(out[:0], r.pend...)
		r.pend = r.pend[:0]
		for _, f := range frames[:n] {
			out = r.nd.Handle(out, f.Data, now)
			if m, err := ndp6.Parse(f.Data); err == nil && m.Type == ndp6.TypeRouterSolicitation {
				r.adv.HandleRS(f.Data, now)
			}
		}
		ras, _ := r.adv.Poll(now)
		out = append(out, ras...)
		out, _ = r.nd.Tick(out, nil, now)
		r.mu.Unlock()
		if len(out) > 0 {
			r.l.WriteBatch(link.Plain(out...))
		}
	}
}

// do runs fn with the router's state locked; frames fn returns are sent on
// the next wake (within the link's 10 ms poll timeout).
func (r *miniRouter) do(fn func(now time.Duration) [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pend = append(r.pend, fn(r.now())...)
}

func startRouter(t *testing.T, p *netnstest.Pair, cfg Config, addrs ...netip.Addr) *miniRouter {
	t.Helper()
	l := p.OpenRouterLink(t)
	cfg.MAC = [6]byte(l.MAC())
	r := &miniRouter{l: l, start: time.Now(), done: make(chan struct{})}
	var err error
	if r.adv, err = New(cfg, 0, 42); err != nil {
		t.Fatal(err)
	}
	if r.nd, err = ndp6.New(ndp6.Config{MAC: cfg.MAC, Router: true, Seed: 42}); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := r.nd.AddAddress(a, 0); err != nil {
			t.Fatal(err)
		}
	}
	go r.loop()
	t.Cleanup(func() {
		l.Close()
		<-r.done
	})
	return r
}

// field returns the value of a "name : value" line of rdisc6/ndisc6
// output after the line that starts the block (or the whole output).
func field(out, block, name string) string {
	if block != "" {
		i := strings.Index(out, block)
		if i < 0 {
			return ""
		}
		out = out[i+len(block):]
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s*:\s*(.*?)\s*$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestE2E_KernelHostConfiguresItselfFromAdvertisements sends the
// advertisements this package builds, through a raw AF_PACKET socket, to a
// Linux host (accept_ra=2, autoconf) in another namespace, and checks with
// the real tools that: rdisc6 sees the advertisement as built (flags,
// lifetimes, MTU, prefixes, RDNSS, DNSSL, SLLA); the kernel configures
// SLAAC addresses in both prefixes, a default route via the router's
// link-local address and the RFC 4191 route of the delegated prefix; a
// real ndisc6 solicitation for the router's addresses is answered by ndp6;
// the kernel resolves the router and ndp6 resolves the host; a renumbering
// deprecates the old address and configures the new one (RFC 7084 L-13);
// and the final advertisement on shutdown removes the default route.
func TestE2E_KernelHostConfiguresItselfFromAdvertisements(t *testing.T) {
	p := netnstest.NewPair(t, "ra", map[string]string{
		"accept_ra": "2", "autoconf": "1", "accept_ra_rt_info_max_plen": "64",
	}, sysdeps.Rdisc6, sysdeps.Ndisc6, sysdeps.Ping)
	routerGUA := netip.MustParseAddr("2001:db8:1:2::1")
	routerULA := netip.MustParseAddr("fd00:1:2:3::1")
	cfg := homeConfig()
	cfg.MinInterval, cfg.MaxInterval = 5*time.Second, 10*time.Second
	r := startRouter(t, p, cfg, routerLL, routerGUA, routerULA)
	mac := r.adv.Config().MAC
	macStr := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
	hostMAC := p.HostMAC(t)

	// The host's link-local address must pass DAD before it can solicit.
	if ok, why := netnstest.Wait(10*time.Second, func() (bool, string) {
		out, _ := p.Host("ip", "-6", "addr", "show", "dev", p.HostIf, "scope", "link")
		return strings.Contains(out, "inet6 fe80::") && !strings.Contains(out, "tentative"), out
	}); !ok {
		t.Fatalf("host link-local address not ready: %s", why)
	}

	// rdisc6 solicits and prints the advertisement.
	out, err := p.Host("rdisc6", "-n", "-1", "-r", "5", "-w", "2000", p.HostIf)
	if err != nil {
		t.Fatalf("rdisc6: %v\n%s", err, out)
	}
	t.Logf("rdisc6:\n%s", out)
	for _, c := range []struct{ block, name, want string }{
		{"", "Hop limit", "64"},
		{"", "Stateful address conf.", "No"},
		{"", "Stateful other conf.", "Yes"},
		{"", "Router lifetime", "30 "}, // 3 × MaxInterval
		{"", "Source link-layer address", macStr},
		{"", "MTU", "1500"},
		{"Prefix                   : 2001:db8:1:2::/64", "On-link", "Yes"},
		{"Prefix                   : 2001:db8:1:2::/64", "Autonomous address conf.", "Yes"},
		{"Prefix                   : 2001:db8:1:2::/64", "Valid time", "5400"},
		{"Prefix                   : 2001:db8:1:2::/64", "Pref. time", "2700"},
		{"Prefix                   : fd00:1:2:3::/64", "Valid time", "5400"},
		{"", "Recursive DNS server", "fd00:1:2:3::1"},
		{"", "DNS server lifetime", "30 "},
		{"", "DNS search list", "lan"},
		{"", "Route", "2001:db8:1::/56"},
	} {
		if got := field(out, c.block, c.name); !strings.HasPrefix(strings.ToLower(got), strings.ToLower(c.want)) {
			t.Errorf("rdisc6 %s%s: %q, want %q", c.block, c.name, got, c.want)
		}
	}
	if !strings.Contains(out, "from "+routerLL.String()) {
		t.Errorf("rdisc6 does not show the advertisement from %v", routerLL)
	}

	// The kernel's SLAAC: an address in each prefix, a default route via
	// the link-local address, the delegated prefix's route (RFC 4191).
	ok, why := netnstest.Wait(10*time.Second, func() (bool, string) {
		addrs, _ := p.Host("ip", "-6", "addr", "show", "dev", p.HostIf)
		routes, _ := p.Host("ip", "-6", "route", "show", "dev", p.HostIf)
		return slaac(addrs, "2001:db8:1:2:", "") && slaac(addrs, "fd00:1:2:3:", "") &&
			strings.Contains(routes, "default via fe80::1") && strings.Contains(routes, "2001:db8:1::/56 via fe80::1"), addrs + routes
	})
	if !ok {
		t.Fatalf("the host did not configure itself from the advertisements:\n%s", why)
	}
	hostGUA := slaacAddr(t, p, "2001:db8:1:2:")

	// A real ndisc6 solicitation for each router address is answered by ndp6.
	for _, a := range []netip.Addr{routerLL, routerGUA, routerULA} {
		out, err := p.Host("ndisc6", "-n", "-1", "-r", "3", "-w", "1000", a.String(), p.HostIf)
		if err != nil || !strings.EqualFold(field(out, "", "Target link-layer address"), macStr) {
			t.Errorf("ndisc6 %v: %v\n%s", a, err, out)
		}
	}
	// The kernel resolves the router (the echo itself goes unanswered).
	p.Host("ping", "-6", "-c", "1", "-W", "1", routerGUA.String())
	if out, _ := p.Host("ip", "-6", "neigh", "show", routerGUA.String(), "dev", p.HostIf); !strings.Contains(strings.ToLower(out), macStr) {
		t.Errorf("the kernel did not resolve the router: %q", out)
	}
	// ndp6 resolves the host: a multicast solicitation, the kernel's answer.
	// (The host's solicitation above taught ndp6 its address: forget it.)
	pkt := udpFrame(t, mac, routerGUA, hostGUA)
	r.do(func(now time.Duration) [][]byte {
		r.nd.Forget(hostGUA)
		_, v, out := r.nd.Resolve(nil, hostGUA, pkt, now)
		if v != ndp6.Queued {
			t.Errorf("Resolve(%v) = %v", hostGUA, v)
		}
		return out
	})
	ok, why = netnstest.Wait(5*time.Second, func() (bool, string) {
		var e ndp6.Neighbour
		r.do(func(now time.Duration) [][]byte { e, _ = r.nd.Lookup(hostGUA, now); return nil })
		return e.State == ndp6.Reachable && e.MAC == hostMAC, fmt.Sprintf("%+v", e)
	})
	if !ok {
		t.Errorf("ndp6 did not resolve the kernel host %v at %x: %s", hostGUA, hostMAC, why)
	}

	// Renumbering: a new delegated prefix.
	newGUA := netip.MustParseAddr("2001:db8:9:2::1")
	r.do(func(now time.Duration) [][]byte {
		c := r.adv.Config()
		c.Prefixes[0].Prefix = lan64New
		c.Routes[0].Prefix = netip.MustParsePrefix("2001:db8:9::/56")
		if err := r.adv.SetConfig(c, now); err != nil {
			t.Error(err)
		}
		r.nd.AddAddress(newGUA, now)
		return nil
	})
	ok, why = netnstest.Wait(10*time.Second, func() (bool, string) {
		addrs, _ := p.Host("ip", "-6", "addr", "show", "dev", p.HostIf)
		return slaac(addrs, "2001:db8:9:2:", "") && slaac(addrs, "2001:db8:1:2:", "deprecated"), addrs
	})
	if !ok {
		t.Fatalf("renumbering: want the old address deprecated and a new one:\n%s", why)
	}
	out, _ = p.Host("rdisc6", "-n", "-1", "-r", "5", "-w", "2000", p.HostIf)
	if got := field(out, "Prefix                   : 2001:db8:1:2::/64", "Pref. time"); !strings.HasPrefix(got, "0 ") {
		t.Errorf("rdisc6 after renumbering: old prefix preferred time %q, want 0\n%s", got, out)
	}

	// Shutdown: the final advertisement withdraws the default route.
	r.do(func(now time.Duration) [][]byte { return [][]byte{r.adv.Shutdown(now)} })
	ok, why = netnstest.Wait(5*time.Second, func() (bool, string) {
		routes, _ := p.Host("ip", "-6", "route", "show", "default")
		return !strings.Contains(routes, "fe80::1"), routes
	})
	if !ok {
		t.Errorf("default route still there after the final advertisement: %s", why)
	}
}

// slaac reports whether addrs (ip -6 addr output) has a global dynamic
// address starting with prefix, not tentative, whose line mentions flag.
func slaac(addrs, prefix, flag string) bool {
	for _, l := range strings.Split(addrs, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "inet6 "+prefix) && strings.Contains(l, "dynamic") &&
			!strings.Contains(l, "tentative") && strings.Contains(l, flag) &&
			(flag == "deprecated" || !strings.Contains(l, "deprecated")) {
			return true
		}
	}
	return false
}

func slaacAddr(t *testing.T, p *netnstest.Pair, prefix string) netip.Addr {
	t.Helper()
	out, _ := p.Host("ip", "-6", "-o", "addr", "show", "dev", p.HostIf)
	m := regexp.MustCompile(`inet6 (` + regexp.QuoteMeta(prefix) + `[0-9a-f:]*)/64`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no address in %s on the host: %s", prefix, out)
	}
	return netip.MustParseAddr(m[1])
}

func udpFrame(t *testing.T, src [6]byte, from, to netip.Addr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src[:], DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: from.AsSlice(), DstIP: to.AsSlice()}
	udp := &layers.UDP{SrcPort: 4000, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload("x")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
