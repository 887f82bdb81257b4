package slaac

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/ndp6"
	"github.com/passgate/passgate/pkg/packet"
)

var (
	wanMAC  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x02, 0x01}
	ispMAC  = [6]byte{0x02, 0x00, 0x00, 0x00, 0x09, 0x01}
	ispLL   = netip.MustParseAddr("fe80::1")
	ispLL2  = netip.MustParseAddr("fe80::2")
	prefix1 = netip.MustParsePrefix("2600:5::/64")
)

type raOpts struct {
	src        netip.Addr
	lifetime   time.Duration
	managed    bool
	other      bool
	pref       ndp.Preference
	prefixes   []*ndp.PrefixInformation
	extra      []ndp.Option
	noSLLA     bool
	reachable  time.Duration
	retransmit time.Duration
}

func pio(p netip.Prefix, onLink, auto bool, valid, preferred time.Duration) *ndp.PrefixInformation {
	return &ndp.PrefixInformation{PrefixLength: uint8(p.Bits()), OnLink: onLink, AutonomousAddressConfiguration: auto,
		ValidLifetime: valid, PreferredLifetime: preferred, Prefix: p.Addr()}
}

// ra builds a router advertisement with mdlayher/ndp (an independent
// encoder) and validates it with ndp6.Parse, as the data plane does.
func ra(t testing.TB, o raOpts) ndp6.Message {
	t.Helper()
	if !o.src.IsValid() {
		o.src = ispLL
	}
	m := &ndp.RouterAdvertisement{CurrentHopLimit: 64, ManagedConfiguration: o.managed, OtherConfiguration: o.other,
		RouterSelectionPreference: o.pref, RouterLifetime: o.lifetime, ReachableTime: o.reachable, RetransmitTimer: o.retransmit}
	if !o.noSLLA {
		m.Options = append(m.Options, &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr(ispMAC[:])})
	}
	for _, p := range o.prefixes {
		m.Options = append(m.Options, p)
	}
	m.Options = append(m.Options, o.extra...)
	f, err := ndp6.Marshal([6]byte{0x33, 0x33, 0, 0, 0, 1}, ispMAC, o.src, netip.MustParseAddr("ff02::1"), m)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ndp6.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func newHost(t testing.TB, c Config) *Host {
	t.Helper()
	c.MAC = wanMAC
	h, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRFC4861_6_3_4_DefaultRouterAndFlags(t *testing.T) {
	h := newHost(t, Config{Autoconf: true})
	if !h.HandleRA(ra(t, raOpts{lifetime: 1800 * time.Second, managed: true, other: true, reachable: 30 * time.Second,
		extra: []ndp.Option{ndp.NewMTU(1492)}}), 0) {
		t.Fatal("first RA reported no change")
	}
	s := h.State(time.Second)
	if s.Router != ispLL || s.RouterMAC != ispMAC || s.RouterLifetimeEnd != 1800*time.Second || !s.Managed || !s.Other ||
		s.MTU != 1492 || s.ReachableTime != 30*time.Second {
		t.Fatalf("state %+v", s)
	}
	// The same RA again changes nothing the owner acts on.
	if h.HandleRA(ra(t, raOpts{lifetime: 1800 * time.Second, managed: true, other: true, reachable: 30 * time.Second,
		extra: []ndp.Option{ndp.NewMTU(1492)}}), 10*time.Second) {
		t.Error("a refreshing RA reported a change")
	}
	// Router lifetime 0 removes it.
	if !h.HandleRA(ra(t, raOpts{}), 20*time.Second) || h.State(20*time.Second).Router.IsValid() {
		t.Error("router lifetime 0 did not remove the router")
	}
	// Expiry removes it too.
	h.HandleRA(ra(t, raOpts{lifetime: 30 * time.Second}), 30*time.Second)
	if _, changed := h.Tick(nil, netip.Addr{}, 61*time.Second); !changed || h.State(61*time.Second).Router.IsValid() {
		t.Error("an expired router is kept")
	}
}

func TestRFC4191_PreferenceChoosesRouter(t *testing.T) {
	h := newHost(t, Config{})
	h.HandleRA(ra(t, raOpts{src: ispLL, lifetime: time.Hour, pref: ndp.Low}), 0)
	h.HandleRA(ra(t, raOpts{src: ispLL2, lifetime: time.Hour, pref: ndp.High}), 0)
	if s := h.State(0); s.Router != ispLL2 || len(s.Routers) != 2 {
		t.Fatalf("chose %v of %v, want the high-preference one", s.Router, s.Routers)
	}
}

func TestRFC4862_5_5_3_PrefixRules(t *testing.T) {
	ll := netip.MustParsePrefix("fe80::/64")
	for _, tc := range []struct {
		name   string
		p      *ndp.PrefixInformation
		addr   bool
		onLink bool
	}{
		{"A and L", pio(prefix1, true, true, time.Hour, 30*time.Minute), true, true},
		{"(a) A clear: on-link only", pio(prefix1, true, false, time.Hour, 30*time.Minute), false, true},
		{"(b) link-local prefix ignored", pio(ll, true, true, time.Hour, time.Hour), false, false},
		{"(c) preferred > valid ignored", pio(prefix1, true, true, time.Minute, time.Hour), false, false},
		{"(d) /56 cannot be autoconfigured", pio(netip.MustParsePrefix("2600:5::/56"), true, true, time.Hour, time.Hour), false, true},
		{"valid 0 for an unknown prefix", pio(prefix1, true, true, 0, 0), false, false},
		{"site-local (RFC 3879, QEMU's user network) ignored", pio(netip.MustParsePrefix("fec0::/64"), true, true, time.Hour, time.Hour), false, false},
	} {
		h := newHost(t, Config{Autoconf: true})
		h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{tc.p}}), 0)
		s := h.State(0)
		if (len(s.Addresses) == 1) != tc.addr || (len(s.OnLink) == 1) != tc.onLink {
			t.Errorf("%s: addresses %v, on-link %v", tc.name, s.Addresses, s.OnLink)
		}
	}
	// EUI-64 address of the WAN MAC.
	h := newHost(t, Config{Autoconf: true})
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, 30*time.Minute)}}), 0)
	if a := h.State(0).Addresses; len(a) != 1 || a[0].Addr != netip.MustParseAddr("2600:5::ff:fe00:201") ||
		a[0].ValidUntil != time.Hour || a[0].PreferredUntil != 30*time.Minute {
		t.Fatalf("address %+v", a)
	}
	// Autoconf off (static mode): routers and on-link prefixes, no address.
	h = newHost(t, Config{})
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	if s := h.State(0); len(s.Addresses) != 0 || len(s.OnLink) != 1 {
		t.Fatalf("autoconf off: %+v", s)
	}
}

// RFC 4862 §5.5.3 (e): a spoofed RA with a short valid lifetime cannot cut
// an address below two hours.
func TestRFC4862_5_5_3_e_TwoHourRule(t *testing.T) {
	h := newHost(t, Config{Autoconf: true})
	adv := func(valid time.Duration, now time.Duration) time.Duration {
		h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, valid, 0)}}), now)
		return h.State(now).Addresses[0].ValidUntil - now
	}
	if got := adv(24*time.Hour, 0); got != 24*time.Hour {
		t.Fatalf("valid %v", got)
	}
	if got := adv(10*time.Second, time.Second); got != twoHours {
		t.Errorf("remaining 24 h, advertised 10 s: valid %v, want 2 h", got)
	}
	if got := adv(3*time.Hour, 2*time.Second); got != 3*time.Hour {
		t.Errorf("advertised 3 h: valid %v", got)
	}
	// Remaining ≤ 2 h: a shorter advertised lifetime is ignored.
	h2 := newHost(t, Config{Autoconf: true})
	h = h2
	adv(time.Hour, 0)
	if got := adv(time.Minute, 0); got != time.Hour {
		t.Errorf("remaining 1 h, advertised 1 min: valid %v, want 1 h", got)
	}
	// A longer one is taken.
	if got := adv(90*time.Minute, 0); got != 90*time.Minute {
		t.Errorf("advertised 90 min: valid %v", got)
	}
}

func TestRFC7217_StableAddressesAndDAD(t *testing.T) {
	h := newHost(t, Config{Autoconf: true, Secret: []byte("secret")})
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	a1 := h.State(0).Addresses[0].Addr
	if a1 == netip.MustParseAddr("2600:5::ff:fe00:201") || !prefix1.Contains(a1) {
		t.Fatalf("stable address %v", a1)
	}
	h2 := newHost(t, Config{Autoconf: true, Secret: []byte("secret")})
	h2.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	if h2.State(0).Addresses[0].Addr != a1 {
		t.Fatal("the same secret, MAC and prefix gave another address")
	}
	h.Duplicate(a1)
	a2 := h.State(0).Addresses[0].Addr
	if a2 == a1 {
		t.Fatal("DAD failure kept the address")
	}
	h.Duplicate(a2)
	h.Duplicate(h.State(0).Addresses[0].Addr)
	if n := len(h.State(0).Addresses); n != 0 {
		t.Fatalf("after %d DAD failures still %d addresses", maxDADTries, n)
	}
	// EUI-64 has no second choice.
	h3 := newHost(t, Config{Autoconf: true})
	h3.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	h3.Duplicate(h3.State(0).Addresses[0].Addr)
	h3.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	if n := len(h3.State(0).Addresses); n != 0 {
		t.Fatal("an EUI-64 address that failed DAD came back")
	}
}

func TestRFC8106_RDNSSAndDNSSL(t *testing.T) {
	h := newHost(t, Config{})
	dns := netip.MustParseAddr("2600:5::53")
	rd := &ndp.RecursiveDNSServer{Lifetime: time.Minute, Servers: []netip.Addr{dns}}
	sl := &ndp.DNSSearchList{Lifetime: time.Minute, DomainNames: []string{"isp.example"}}
	if !h.HandleRA(ra(t, raOpts{lifetime: time.Hour, extra: []ndp.Option{rd, sl}}), 0) {
		t.Fatal("no change")
	}
	if s := h.State(0); len(s.DNS) != 1 || s.DNS[0] != dns || len(s.Domains) != 1 || s.Domains[0] != "isp.example" {
		t.Fatalf("state %+v", s)
	}
	if _, changed := h.Tick(nil, netip.Addr{}, 2*time.Minute); !changed || len(h.State(2*time.Minute).DNS) != 0 {
		t.Fatal("RDNSS did not expire")
	}
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour, extra: []ndp.Option{rd}}), 3*time.Minute)
	rd0 := &ndp.RecursiveDNSServer{Lifetime: 0, Servers: []netip.Addr{dns}}
	if !h.HandleRA(ra(t, raOpts{lifetime: time.Hour, extra: []ndp.Option{rd0}}), 4*time.Minute) || len(h.State(4*time.Minute).DNS) != 0 {
		t.Fatal("RDNSS lifetime 0 did not withdraw it")
	}
}

func TestRFC4861_6_3_7_RouterSolicitations(t *testing.T) {
	h := newHost(t, Config{Seed: 1})
	h.Start(0)
	var sent []time.Duration
	for now := time.Duration(0); now < 30*time.Second; now += 100 * time.Millisecond {
		out, _ := h.Tick(nil, netip.IPv6Unspecified(), now)
		for _, f := range out {
			m, err := ndp6.Parse(f)
			if err != nil || m.Type != ndp6.TypeRouterSolicitation || m.HasLLA || m.Dst != netip.MustParseAddr("ff02::2") {
				t.Fatalf("solicitation %+v %v", m, err)
			}
			sent = append(sent, now)
		}
	}
	if len(sent) != 4 || sent[0] > time.Second || sent[1]-sent[0] < RtrSolicitationInterval || sent[3]-sent[2] < 7*time.Second {
		t.Fatalf("solicitations at %v", sent)
	}
	// From an assigned link-local address with SLLA; an RA stops them.
	h.Start(0)
	out, _ := h.Tick(nil, netip.MustParseAddr("fe80::ff:fe00:201"), time.Second)
	if m, err := ndp6.Parse(out[0]); err != nil || !m.HasLLA || m.LLA != wanMAC {
		t.Fatalf("solicitation from the link-local address: %+v %v", m, err)
	}
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour}), time.Second)
	if out, _ := h.Tick(nil, netip.Addr{}, time.Hour/2); len(out) != 0 {
		t.Fatal("still soliciting with a router known")
	}
}

// An attacker on the ISP link floods advertisements from 10 000 routers,
// each with new prefixes: the caps hold, memory stays flat, the router
// learnt first stays the default router.
func TestAttack_RAFlood(t *testing.T) {
	h := newHost(t, Config{Autoconf: true})
	h.HandleRA(ra(t, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)}}), 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 10000 {
		a := ispLL.As16()
		a[14], a[15] = byte(i>>8), byte(i)
		pa := prefix1.Addr().As16()
		pa[4], pa[5] = byte(i>>8), byte(i)
		h.HandleRA(ra(t, raOpts{src: netip.AddrFrom16(a), lifetime: time.Hour,
			prefixes: []*ndp.PrefixInformation{pio(netip.PrefixFrom(netip.AddrFrom16(pa), 64), true, true, time.Hour, time.Hour)}}), time.Second)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := h.State(time.Second)
	if len(s.Routers) > 4 || len(s.Addresses) > 8 || len(s.OnLink) > 8 || s.Router != ispLL {
		t.Fatalf("after the flood: %d routers, %d addresses, %d prefixes, router %v", len(s.Routers), len(s.Addresses), len(s.OnLink), s.Router)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 256<<10 {
		t.Errorf("heap grew %d bytes", grow)
	}
	if c := h.Counters(); c.RouterCapHit == 0 {
		t.Errorf("counters %+v", c)
	}
}

func FuzzHandleRA(f *testing.F) {
	rd := &ndp.RecursiveDNSServer{Lifetime: time.Minute, Servers: []netip.Addr{netip.MustParseAddr("2600:5::53")}}
	sl := &ndp.DNSSearchList{Lifetime: time.Minute, DomainNames: []string{"isp.example"}}
	m := ra(f, raOpts{lifetime: time.Hour, prefixes: []*ndp.PrefixInformation{pio(prefix1, true, true, time.Hour, time.Hour)},
		extra: []ndp.Option{rd, sl, ndp.NewMTU(1492)}})
	f.Add(m.Body)
	f.Fuzz(func(t *testing.T, body []byte) {
		// Frame the body as an RA so ndp6.Parse's checks apply.
		if len(body) < 4 || len(body) > 1400 {
			return
		}
		icmp := append([]byte{134, 0, 0, 0}, body[4:]...)
		dst := netip.MustParseAddr("ff02::1")
		sa, da := ispLL.As16(), dst.As16()
		c := packet.ICMPv6Checksum(sa[:], da[:], icmp)
		icmp[2], icmp[3] = byte(c>>8), byte(c)
		msg, err := ndp6.Parse(ndp6.Frame([6]byte{0x33, 0x33, 0, 0, 0, 1}, ispMAC, ispLL, dst, icmp))
		if err != nil {
			return
		}
		h := newHost(t, Config{Autoconf: true, Secret: []byte("k")})
		for i := range 3 {
			h.HandleRA(msg, time.Duration(i)*time.Second)
			h.Tick(nil, netip.Addr{}, time.Duration(i)*time.Second)
		}
		s := h.State(3 * time.Second)
		if len(s.Routers) > 4 || len(s.Addresses) > 8 || len(s.OnLink) > 8 || len(s.DNS) > maxDNS || len(s.Domains) > maxDomains {
			t.Fatalf("caps exceeded: %+v", s)
		}
		for _, a := range s.Addresses {
			if !a.Prefix.Contains(a.Addr) || a.Prefix.Bits() != 64 {
				t.Fatalf("address %v outside %v", a.Addr, a.Prefix)
			}
		}
	})
}
