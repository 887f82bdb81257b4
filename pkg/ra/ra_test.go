package ra

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/ndp6"
)

// RFC 4861 §6.2 / §4.2: the advertisement of a home LAN, decoded by
// gopacket, says what the configuration says: from the link-local address
// to all-nodes with hop limit 255, Cur Hop Limit 64, M=0 O=1 (RFC 7084
// L-9), router lifetime 1800 s, SLLA, MTU, both /64s with L=1 A=1 (L-6) and
// RFC 9096's lifetimes, Route Information for the delegated prefix and the
// ULA /48 (L-3), RDNSS and DNSSL (L-11).
func TestRFC4861_6_2_AdvertisementContents(t *testing.T) {
	a := newAdv(t, homeConfig())
	out, _ := a.Poll(0)
	if len(out) != 1 {
		t.Fatalf("%d advertisements at start, want 1", len(out))
	}
	v := decodeRA(t, out[0])
	v.check(t)
	if v.ra.HopLimit != 64 || v.ra.ManagedAddressConfig() || !v.ra.OtherConfig() {
		t.Errorf("hop limit %d M=%v O=%v, want 64, M=0, O=1", v.ra.HopLimit, v.ra.ManagedAddressConfig(), v.ra.OtherConfig())
	}
	if v.ra.RouterLifetime != 1800 || v.ra.ReachableTime != 0 || v.ra.RetransTimer != 0 {
		t.Errorf("router lifetime %d reachable %d retrans %d", v.ra.RouterLifetime, v.ra.ReachableTime, v.ra.RetransTimer)
	}
	if v.mtu != 1500 {
		t.Errorf("MTU %d", v.mtu)
	}
	want := pio{onLink: true, auto: true, valid: NDValidLimit, preferred: NDPreferredLimit}
	for _, p := range []netip.Prefix{lan64, ula64} {
		if got := v.prefixes[p]; got != want {
			t.Errorf("prefix %v: %+v, want %+v", p, got, want)
		}
	}
	if len(v.prefixes) != 2 {
		t.Errorf("prefixes %v", v.prefixes)
	}
	for _, r := range []netip.Prefix{delegated, ula48} {
		if v.routes[r] != NDValidLimit {
			t.Errorf("route %v lifetime %v (routes %v)", r, v.routes[r], v.routes)
		}
	}
	if v.rdnss[dnsULA] != 3*DefaultMaxInterval || len(v.rdnss) != 1 {
		t.Errorf("RDNSS %v, want %v for %v", v.rdnss, 3*DefaultMaxInterval, dnsULA)
	}
	if v.dnssl["lan"] != 3*DefaultMaxInterval || len(v.dnssl) != 1 {
		t.Errorf("DNSSL %v", v.dnssl)
	}
	// mdlayher/ndp, a second decoder, reads the same message.
	m, err := ndp.ParseMessage(out[0][ndp6.EthHeaderLen+ndp6.IPv6HeaderLen:])
	if err != nil {
		t.Fatalf("mdlayher/ndp cannot parse the RA: %v", err)
	}
	if ra := m.(*ndp.RouterAdvertisement); ra.RouterLifetime != 1800*time.Second || len(ra.Options) != 8 {
		t.Errorf("ndp reads lifetime %v, %d options", ra.RouterLifetime, len(ra.Options))
	}
	// ndp6 (routerd's own receive path) accepts it too.
	if msg, err := ndp6.Parse(out[0]); err != nil || msg.Type != ndp6.TypeRouterAdvertisement || !msg.HasLLA {
		t.Errorf("ndp6.Parse: %+v %v", msg, err)
	}
}

// RFC 7084 G-4: with no default route on the WAN the router lifetime is 0,
// and the prefixes are still advertised (the LAN works locally).
func TestRFC7084_G4_NoWANDefaultRouteMeansRouterLifetimeZero(t *testing.T) {
	c := homeConfig()
	c.DefaultRoute = false
	out, _ := newAdv(t, c).Poll(0)
	v := decodeRA(t, out[0])
	if v.ra.RouterLifetime != 0 || len(v.prefixes) != 2 {
		t.Fatalf("router lifetime %d, %d prefixes", v.ra.RouterLifetime, len(v.prefixes))
	}
}

// RFC 7084 G-5: losing the WAN default route is advertised at once (no
// later than MIN_DELAY_BETWEEN_RAS after the previous advertisement), with
// router lifetime 0.
func TestRFC7084_G5_LosingTheDefaultRouteIsAdvertisedAtOnce(t *testing.T) {
	a := newAdv(t, homeConfig())
	run(a, 0, 100*time.Second)
	c := homeConfig()
	c.DefaultRoute = false
	now := 100*time.Second + 500*time.Millisecond
	if err := a.SetConfig(c, now); err != nil {
		t.Fatal(err)
	}
	at, frames := run(a, now, now+MinDelayBetweenRAs)
	if len(frames) == 0 {
		t.Fatal("no advertisement within MIN_DELAY_BETWEEN_RAS of losing the default route")
	}
	if v := decodeRA(t, frames[0]); v.ra.RouterLifetime != 0 {
		t.Fatalf("router lifetime %d at %v", v.ra.RouterLifetime, at[0])
	}
}

// RFC 7084 L-4 and ULA-5: no prefix, or only ULA prefixes: router lifetime 0.
func TestRFC7084_L4_ULA5_NoGlobalPrefixMeansRouterLifetimeZero(t *testing.T) {
	for name, prefixes := range map[string][]Prefix{
		"no prefix":         nil,
		"only ULA":          {{Prefix: ula64}},
		"lease ran out":     {{Prefix: lan64, ValidUntil: 10 * time.Second}, {Prefix: ula64}},
		"global, delegated": {{Prefix: lan64, ValidUntil: time.Hour}},
	} {
		c := homeConfig()
		c.Prefixes = prefixes
		a := newAdv(t, c)
		run(a, 0, 20*time.Second)
		want := uint16(0)
		if name == "global, delegated" {
			want = 1800
		}
		if v := decodeRA(t, a.Build(20*time.Second)); v.ra.RouterLifetime != want {
			t.Errorf("%s: router lifetime %d, want %d", name, v.ra.RouterLifetime, want)
		}
	}
}

// RFC 7084 L-6 and L-7: A and L are set by default and can be cleared.
func TestRFC7084_L6_L7_PrefixFlags(t *testing.T) {
	c := homeConfig()
	c.Prefixes[1].NoAutonomous = true
	c.Prefixes[1].NoOnLink = true
	v := decodeRA(t, newAdv(t, c).Build(0))
	if p := v.prefixes[lan64]; !p.onLink || !p.auto {
		t.Errorf("LAN prefix %+v", p)
	}
	if p := v.prefixes[ula64]; p.onLink || p.auto {
		t.Errorf("ULA prefix with the flags cleared: %+v", p)
	}
}

// RFC 7084 L-9: M=0 and O=1 unless addresses come from DHCPv6.
func TestRFC7084_L9_ManagedAndOtherFlags(t *testing.T) {
	for _, tc := range []struct{ m, o bool }{{false, true}, {true, true}, {false, false}} {
		c := homeConfig()
		c.Managed, c.Other = tc.m, tc.o
		v := decodeRA(t, newAdv(t, c).Build(0))
		if v.ra.ManagedAddressConfig() != tc.m || v.ra.OtherConfig() != tc.o {
			t.Errorf("M=%v O=%v advertised as M=%v O=%v", tc.m, tc.o, v.ra.ManagedAddressConfig(), v.ra.OtherConfig())
		}
	}
}

// RFC 8106 §5.1: RDNSS and DNSSL lifetimes default to 3 × MaxRtrAdvInterval;
// a server or domain that leaves the configuration is advertised with
// lifetime 0 (hosts drop it) in the next advertisements.
func TestRFC8106_DNSOptionsAndWithdrawal(t *testing.T) {
	c := homeConfig()
	c.MaxInterval = 60 * time.Second
	c.RDNSS = append(c.RDNSS, netip.MustParseAddr("2001:db8:1:2::1"))
	c.DNSSL = []string{"home.arpa.", "Example.COM"}
	a := newAdv(t, c)
	v := decodeRA(t, a.Build(0))
	if len(v.rdnss) != 2 || v.rdnss[dnsULA] != 180*time.Second {
		t.Fatalf("RDNSS %v", v.rdnss)
	}
	if v.dnssl["home.arpa"] != 180*time.Second || v.dnssl["example.com"] != 180*time.Second {
		t.Fatalf("DNSSL %v", v.dnssl)
	}
	run(a, 0, 10*time.Second)
	c2 := homeConfig()
	c2.MaxInterval = 60 * time.Second
	c2.DNSSL = []string{"home.arpa"}
	if err := a.SetConfig(c2, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	_, frames := run(a, 20*time.Second, 200*time.Second)
	if len(frames) < MaxInitialRtrAdvertisements+1 {
		t.Fatalf("%d advertisements", len(frames))
	}
	for i, f := range frames {
		v := decodeRA(t, f)
		lt, ok := v.rdnss[netip.MustParseAddr("2001:db8:1:2::1")]
		dl, dok := v.dnssl["example.com"]
		if i < MaxInitialRtrAdvertisements {
			if !ok || lt != 0 || !dok || dl != 0 {
				t.Errorf("advertisement %d: withdrawn server %v/%v, domain %v/%v; want lifetime 0", i, lt, ok, dl, dok)
			}
		} else if ok || dok {
			t.Errorf("advertisement %d still withdraws: %v %v", i, v.rdnss, v.dnssl)
		}
		if v.rdnss[dnsULA] != 180*time.Second {
			t.Errorf("advertisement %d: kept server %v", i, v.rdnss)
		}
	}
}

// RFC 7084 L-13 (RFC 9096): when the delegated prefix changes, the old one
// is advertised at once with preferred lifetime 0 and valid lifetime what
// hosts were told, at most two hours, decremented in real time, and then
// dropped; the new one is advertised in full.
func TestRFC7084_L13_OldPrefixDeprecatedOnRenumbering(t *testing.T) {
	a := newAdv(t, homeConfig())
	sent, _ := run(a, 0, 100*time.Second)
	last := sent[len(sent)-1] // hosts were last told 5400 s then
	c := homeConfig()
	c.Prefixes[0].Prefix = lan64New
	c.Routes[0].Prefix = netip.MustParsePrefix("2001:db8:9::/56")
	now := 101 * time.Second
	if err := a.SetConfig(c, now); err != nil {
		t.Fatal(err)
	}
	at, frames := run(a, now, now+MinDelayBetweenRAs)
	if len(frames) != 1 {
		t.Fatalf("%d advertisements right after the change", len(frames))
	}
	v := decodeRA(t, frames[0])
	old, ok := v.prefixes[lan64]
	wantValid := (last + NDValidLimit - at[0]).Truncate(time.Second)
	if !ok || old.preferred != 0 || old.valid > NDValidLimit || old.valid < wantValid-time.Second || !old.auto {
		t.Fatalf("old prefix %+v (present %v), want preferred 0, valid about %v", old, ok, wantValid)
	}
	if p := v.prefixes[lan64New]; p.valid != NDValidLimit || p.preferred != NDPreferredLimit {
		t.Fatalf("new prefix %+v", p)
	}
	if lt, ok := v.routes[delegated]; !ok || lt != 0 {
		t.Errorf("old delegated route not withdrawn: %v %v", lt, ok)
	}
	// Decremented in real time.
	later := at[0] + 1000*time.Second
	if p := decodeRA(t, a.Build(later)).prefixes[lan64]; p.valid != old.valid-1000*time.Second || p.preferred != 0 {
		t.Errorf("1000 s later the old prefix says %+v (was %+v)", p, old)
	}
	// Dropped once the valid lifetime ran out: a bounded time.
	end := at[0] + old.valid + time.Second
	run(a, at[0], end+time.Hour)
	if _, ok := decodeRA(t, a.Build(end+time.Hour)).prefixes[lan64]; ok {
		t.Error("old prefix still advertised after its valid lifetime")
	}
	if c := a.Counters(); c.Renumbered != 1 || c.StaleExpiry != 1 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 7084 L-13 (b): the old prefix's valid lifetime is at most two hours,
// however long hosts were told.
func TestRFC7084_L13_OldPrefixValidAtMostTwoHours(t *testing.T) {
	c := homeConfig()
	c.Prefixes[0].ValidLifetime = 30 * 24 * time.Hour
	c.Prefixes[0].PreferredLifetime = 7 * 24 * time.Hour
	a := newAdv(t, c)
	run(a, 0, 10*time.Second)
	c.Prefixes = c.Prefixes[1:]
	if err := a.SetConfig(c, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	p := decodeRA(t, a.Build(20*time.Second)).prefixes[lan64]
	if p.valid != OldPrefixMaxValid || p.preferred != 0 {
		t.Fatalf("old prefix %+v, want valid 2h, preferred 0", p)
	}
	// Coming back ends the deprecation.
	if err := a.SetConfig(homeConfig(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if p := decodeRA(t, a.Build(30*time.Second)).prefixes[lan64]; p.preferred != NDPreferredLimit {
		t.Fatalf("prefix back in the configuration: %+v", p)
	}
}

// RFC 9096: after a restart, the prefix advertised before it (persisted by
// the owner) is deprecated when the ISP delegates another one.
func TestRFC9096_PrefixFromBeforeARestartIsDeprecated(t *testing.T) {
	c := homeConfig()
	c.Prefixes[0].Prefix = lan64New
	a := newAdv(t, c)
	if err := a.Deprecate(lan64, 5400*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Deprecate(lan64New, time.Hour, 0); err == nil {
		t.Fatal("deprecated an advertised prefix")
	}
	out, _ := a.Poll(0)
	v := decodeRA(t, out[0])
	if p := v.prefixes[lan64]; p.preferred != 0 || p.valid != 5400*time.Second {
		t.Fatalf("old prefix %+v", p)
	}
	if p := v.prefixes[lan64New]; p.preferred != NDPreferredLimit {
		t.Fatalf("new prefix %+v", p)
	}
}

// RFC 9096 L-15: advertised lifetimes never exceed what is left of the
// delegated prefix's lease, and count down with it.
func TestRFC9096_L15_LifetimesNeverExceedTheLease(t *testing.T) {
	c := homeConfig()
	c.Prefixes[0].ValidUntil = 3000 * time.Second
	c.Prefixes[0].PreferredUntil = 1000 * time.Second
	c.Routes[0].Until = 3000 * time.Second
	a := newAdv(t, c)
	for _, tc := range []struct {
		now              time.Duration
		valid, preferred time.Duration
	}{
		{0, 3000 * time.Second, 1000 * time.Second},
		{400*time.Second + 300*time.Millisecond, 2599 * time.Second, 599 * time.Second},
		{2000 * time.Second, 1000 * time.Second, 0},
		{4000 * time.Second, 0, 0},
	} {
		v := decodeRA(t, a.Build(tc.now))
		if p := v.prefixes[lan64]; p.valid != tc.valid || p.preferred != tc.preferred {
			t.Errorf("at %v: %+v, want valid %v preferred %v", tc.now, p, tc.valid, tc.preferred)
		}
		if r := v.routes[delegated]; r != tc.valid {
			t.Errorf("at %v: route lifetime %v", tc.now, r)
		}
		if p := v.prefixes[ula64]; p.valid != NDValidLimit {
			t.Errorf("ULA prefix %+v", p)
		}
	}
}

// RFC 4861 §6.2.4: unsolicited advertisements at uniformly random intervals
// in [MinRtrAdvInterval, MaxRtrAdvInterval]; the first
// MAX_INITIAL_RTR_ADVERTISEMENTS at most MAX_INITIAL_RTR_ADVERT_INTERVAL
// apart; never two within MIN_DELAY_BETWEEN_RAS.
func TestRFC4861_6_2_4_UnsolicitedTiming(t *testing.T) {
	c := homeConfig()
	c.MinInterval, c.MaxInterval = 30*time.Second, 90*time.Second
	a := newAdv(t, c)
	at, _ := run(a, 0, 6*time.Hour)
	if len(at) < 200 || at[0] != 0 {
		t.Fatalf("%d advertisements, first at %v", len(at), at[0])
	}
	distinct := map[time.Duration]bool{}
	for i := 1; i < len(at); i++ {
		d := at[i] - at[i-1]
		distinct[d] = true
		if i <= MaxInitialRtrAdvertisements {
			if d > MaxInitialRtrAdvertInterval || d < MinDelayBetweenRAs {
				t.Errorf("initial interval %d: %v", i, d)
			}
			continue
		}
		if d < c.MinInterval || d > c.MaxInterval {
			t.Errorf("interval %d: %v outside [%v, %v]", i, d, c.MinInterval, c.MaxInterval)
		}
	}
	if len(distinct) < len(at)/2 {
		t.Errorf("only %d distinct intervals in %d: not random", len(distinct), len(at))
	}
}

func rs(t testing.TB, src netip.Addr, slla bool) []byte {
	t.Helper()
	host := [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	msg := &ndp.RouterSolicitation{}
	if slla {
		msg.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: host[:]}}
	}
	f, err := ndp6.Marshal(ndp6.MulticastMAC(ndp6.AllRouters), host, src, ndp6.AllRouters, msg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// RFC 4861 §6.2.6: a solicitation is answered by a multicast advertisement
// after a random delay of at most MAX_RA_DELAY_TIME, solicitations arriving
// meanwhile share it, and an answer never comes within
// MIN_DELAY_BETWEEN_RAS of the previous advertisement.
func TestRFC4861_6_2_6_SolicitedAdvertisements(t *testing.T) {
	a := newAdv(t, homeConfig())
	run(a, 0, 60*time.Second) // the initial series is over; the next is ≥ 200 s away
	var delays []time.Duration
	now := 100 * time.Second
	for round := 0; round < 20; round++ {
		next, err := a.HandleRS(rs(t, netip.MustParseAddr("fe80::a"), true), now)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ { // a burst of solicitations
			n, _ := a.HandleRS(rs(t, netip.IPv6Unspecified(), false), now+time.Duration(i)*time.Millisecond)
			next = min(next, n)
		}
		at, frames := run(a, now, now+MaxRADelayTime)
		if len(frames) != 1 {
			t.Fatalf("round %d: %d answers to 6 solicitations", round, len(frames))
		}
		decodeRA(t, frames[0]).check(t)
		delays = append(delays, at[0]-now)
		now += 10 * time.Second
	}
	var lo, hi bool
	for _, d := range delays {
		if d < 0 || d > MaxRADelayTime {
			t.Fatalf("answer delayed %v", d)
		}
		lo, hi = lo || d < MaxRADelayTime/2, hi || d >= MaxRADelayTime/2
	}
	if !lo || !hi {
		t.Errorf("delays not spread over [0, %v]: %v", MaxRADelayTime, delays)
	}
	// Right after an advertisement: the answer waits MIN_DELAY_BETWEEN_RAS.
	last := now - 10*time.Second + delays[len(delays)-1]
	now = last + time.Second
	a.HandleRS(rs(t, netip.MustParseAddr("fe80::a"), true), now)
	at, _ := run(a, now, now+10*time.Second)
	if len(at) != 1 || at[0]-last < MinDelayBetweenRAs || at[0]-last > MinDelayBetweenRAs+MaxRADelayTime {
		t.Fatalf("answer %v after the previous advertisement, want [%v, %v]", at, MinDelayBetweenRAs, MinDelayBetweenRAs+MaxRADelayTime)
	}
	if c := a.Counters(); c.RSReceived != 20*6+1 || c.Solicited != 21 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 4861 §6.1.1: what is not a valid solicitation is refused and changes
// nothing.
func TestRFC4861_6_1_1_InvalidSolicitationsIgnored(t *testing.T) {
	a := newAdv(t, homeConfig())
	run(a, 0, 60*time.Second)
	good := rs(t, netip.MustParseAddr("fe80::a"), true)
	hop := append([]byte(nil), good...)
	hop[ndp6.EthHeaderLen+7] = 64
	slla := rs(t, netip.IPv6Unspecified(), true)
	na, _ := ndp6.Marshal(routerMAC, [6]byte{2, 0, 0, 0, 0, 0xa}, netip.MustParseAddr("fe80::a"), routerLL,
		&ndp.NeighborAdvertisement{Solicited: true, TargetAddress: netip.MustParseAddr("fe80::a")})
	before := a.wake()
	for name, f := range map[string][]byte{"hop limit 64": hop, "SLLA from ::": slla, "an advertisement": na, "runt": good[:30]} {
		if _, err := a.HandleRS(f, 100*time.Second); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if a.wake() != before || a.Counters().RSInvalid != 4 || a.Counters().RSReceived != 0 {
		t.Errorf("invalid solicitations changed the schedule: %+v", a.Counters())
	}
}

// RFC 4861 §6.2.5: shutting down sends a final advertisement with router
// lifetime 0 and stops.
func TestRFC4861_6_2_5_FinalAdvertisementOnShutdown(t *testing.T) {
	a := newAdv(t, homeConfig())
	run(a, 0, 30*time.Second)
	f := a.Shutdown(31 * time.Second)
	v := decodeRA(t, f)
	if v.ra.RouterLifetime != 0 || len(v.prefixes) != 2 {
		t.Fatalf("final RA: router lifetime %d, %d prefixes", v.ra.RouterLifetime, len(v.prefixes))
	}
	if out, next := a.Poll(time.Hour); len(out) != 0 || next != Never {
		t.Fatalf("after shutdown: %d frames, next %v", len(out), next)
	}
	if a.Shutdown(time.Hour) != nil {
		t.Fatal("a second final advertisement")
	}
}

func TestConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"global source":         func(c *Config) { c.LinkLocal = netip.MustParseAddr("2001:db8::1") },
		"no MAC":                func(c *Config) { c.MAC = [6]byte{} },
		"/56 for SLAAC":         func(c *Config) { c.Prefixes[0].Prefix = delegated },
		"host bits":             func(c *Config) { c.Prefixes[0].Prefix = netip.MustParsePrefix("2001:db8:1:2::1/64") },
		"link-local prefix":     func(c *Config) { c.Prefixes[0].Prefix = netip.MustParsePrefix("fe80::/64") },
		"preferred > valid":     func(c *Config) { c.Prefixes[0].ValidLifetime, c.Prefixes[0].PreferredLifetime = time.Hour, 2*time.Hour },
		"same prefix twice":     func(c *Config) { c.Prefixes[1] = c.Prefixes[0] },
		"four DNS servers":      func(c *Config) { c.RDNSS = append(c.RDNSS, dnsULA, dnsULA, dnsULA) },
		"bad domain":            func(c *Config) { c.DNSSL = []string{"bad_domain.lan"} },
		"MaxInterval 1h":        func(c *Config) { c.MaxInterval = time.Hour },
		"MinInterval too close": func(c *Config) { c.MaxInterval, c.MinInterval = 100*time.Second, 90*time.Second },
		"RouterLifetime 3h":     func(c *Config) { c.RouterLifetime = 3 * time.Hour },
		"MTU 1000":              func(c *Config) { c.MTU = 1000 },
		"multicast DNS server":  func(c *Config) { c.RDNSS = []netip.Addr{netip.MustParseAddr("ff02::fb")} },
	} {
		c := homeConfig()
		mod(&c)
		if _, err := New(c, 0, 1); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
		a := newAdv(t, homeConfig())
		if err := a.SetConfig(c, 0); err == nil {
			t.Errorf("%s: SetConfig accepted it", name)
		}
		if a.Config().Prefixes[0].Prefix != lan64 {
			t.Errorf("%s: a refused configuration changed the advertiser", name)
		}
	}
}

// The biggest configuration still fits the IPv6 minimum MTU and decodes.
func TestLargestAdvertisementFits(t *testing.T) {
	c := homeConfig()
	c.Prefixes, c.Routes, c.RDNSS = nil, nil, nil
	for i := 0; i < MaxPrefixes; i++ {
		c.Prefixes = append(c.Prefixes, Prefix{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(i)}), 64)})
		c.Routes = append(c.Routes, Route{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 6: byte(i)}), 56)})
	}
	for i := 0; i < MaxRDNSS; i++ {
		c.RDNSS = append(c.RDNSS, netip.AddrFrom16([16]byte{0xfd, 15: byte(i + 1)}))
	}
	c.DNSSL = []string{"a-rather-long-search-domain-name-number-one.example.com", "a-rather-long-search-domain-name-number-two.example.com", "three.example.net", "home.arpa"}
	a := newAdv(t, c)
	f := a.Build(0)
	if len(f)-ndp6.EthHeaderLen > 1280 {
		t.Fatalf("advertisement of %d bytes exceeds the IPv6 minimum MTU", len(f)-ndp6.EthHeaderLen)
	}
	v := decodeRA(t, f)
	if len(v.prefixes) != MaxPrefixes || len(v.routes) != MaxRoutes || len(v.rdnss) != MaxRDNSS || len(v.dnssl) != 4 {
		t.Fatalf("decoded %d prefixes %d routes %d servers %d domains", len(v.prefixes), len(v.routes), len(v.rdnss), len(v.dnssl))
	}
	if a.Counters().EncodeErrors != 0 {
		t.Fatal("encode errors")
	}
}

// FuzzHandleRS: no frame makes HandleRS panic or advertise sooner than the
// RFC allows.
func FuzzHandleRS(f *testing.F) {
	f.Add(rs(f, netip.MustParseAddr("fe80::a"), true))
	f.Add(rs(f, netip.IPv6Unspecified(), false))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := newAdv(t, homeConfig())
		run(a, 0, 60*time.Second)
		next, _ := a.HandleRS(b, 100*time.Second)
		if next < 100*time.Second {
			t.Fatalf("wake %v before now", next)
		}
		at, frames := run(a, 100*time.Second, 101*time.Second)
		for i, f := range frames {
			decodeRA(t, f)
			if at[i] > 100*time.Second+MaxRADelayTime {
				t.Fatalf("advertisement at %v", at[i])
			}
		}
	})
}
