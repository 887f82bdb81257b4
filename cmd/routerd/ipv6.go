package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passgate/passgate/internal/meminfo"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/dhcpd6"
	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/ndp6"
	"github.com/passgate/passgate/pkg/netconf"
	"github.com/passgate/passgate/pkg/ra"
	"github.com/passgate/passgate/pkg/wan/dhcpv6"
	"github.com/passgate/passgate/pkg/wan/slaac"
)

// ulaFileName holds the ULA /48 routerd generated (RFC 4193) when the
// configuration names none, so the LAN keeps its local addresses across
// restarts.
const ulaFileName = "lan-ula"

// ipv6Control is routerd's IPv6 control plane. It owns the WAN host side
// (router advertisements and SLAAC in pkg/wan/slaac, the DHCPv6 client),
// decides the LAN's prefixes (a /64 of the delegated prefix and of the
// ULA /48) and pushes the result everywhere it is needed: the firewall's
// prefixes and router addresses, both ports' neighbour-discovery
// addresses, the advertiser, the stateless DHCPv6 server, the data plane's
// WAN route and self0's addresses and default route.
//
// Lock order: the data plane calls into it (WAN router advertisements)
// with its lock held and takes c.mu; c never calls the data plane while
// holding c.mu.
type ipv6Control struct {
	r      *router
	dp     *dataplane.Dataplane
	clock  func() time.Duration
	logf   func(format string, args ...any)
	cfg    config.Config // the running configuration's IPv6 settings are start-only
	lanMAC net.HardwareAddr
	wanMAC net.HardwareAddr
	lanLL  netip.Addr
	wanLL  netip.Addr
	nhLL   netip.Addr
	nhMAC  net.HardwareAddr
	ula    netip.Prefix // the ULA /48, or invalid
	wake   chan struct{}
	// dnsOn: the router's DNS forwarder runs, so the LAN is told of the
	// router's own address (RDNSS, DHCPv6) unless DNS servers are
	// configured. Set by the router (dns.go), read by desired.
	dnsOn atomic.Bool

	server *dhcpd6.Server // used under the data plane's lock
	frames *dhcpv6.FrameConn

	mu      sync.Mutex
	host    *slaac.Host
	lease   *dhcpv6.Lease // the delegated prefix held, nil if none
	leaseAt time.Duration // when the lease was obtained, on clock
	client  *dhcpv6.Client
	applied ipv6State
	dadSeen map[netip.Addr]bool // WAN addresses already reported duplicate
	// wanLLReady: the WAN link-local address passed DAD, so it may be
	// a source (router solicitations, the DHCPv6 client).
	wanLLReady bool
}

// ipv6State is what the control plane has computed from the configuration,
// the WAN's advertisements and the DHCPv6 lease.
type ipv6State struct {
	Delegated         []netip.Prefix
	LAN               netip.Prefix  // the /64 of the delegated prefix, or invalid
	LANValid, LANPref time.Duration // when the delegated prefix's lease ends (clock); 0: no lease (static)
	ULA               netip.Prefix  // the ULA /64, or invalid
	WANAddrs          []netip.Prefix
	Gateway           netip.Addr
	OnLink            []netip.Prefix
	DNS               []netip.Addr // what the LAN is told (RDNSS, DHCPv6)
	WANDNS            []netip.Addr // the WAN's: the DNS forwarder's IPv6 upstreams
	Domains           []string
	Note              string // a problem to show (prefix too small for the subnet ID…)
}

func (s ipv6State) routerLAN(ll netip.Addr) []netip.Addr {
	out := []netip.Addr{ll}
	for _, p := range []netip.Prefix{s.LAN, s.ULA} {
		if p.IsValid() {
			out = append(out, routerAddr(p))
		}
	}
	return out
}

// routerAddr is the router's address in a LAN /64: ::1.
func routerAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	a[15] = 1
	return netip.AddrFrom16(a)
}

// linkLocal is the modified EUI-64 link-local address of mac.
func linkLocal(mac net.HardwareAddr) netip.Addr { return dhcpv6.LinkLocal(mac) }

// subnet64 returns the /64 with ID id inside p (a /48../64), or false when
// id does not fit.
func subnet64(p netip.Prefix, id int) (netip.Prefix, bool) {
	if !p.IsValid() || p.Bits() > 64 || id < 0 {
		return netip.Prefix{}, false
	}
	if free := 64 - p.Bits(); free < 63 && id >= 1<<free {
		return netip.Prefix{}, false
	}
	a := p.Masked().Addr().As16()
	hi := binary.BigEndian.Uint64(a[:8]) | uint64(id)
	binary.BigEndian.PutUint64(a[:8], hi)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64), true
}

// ipv6Wanted reports whether routerd runs IPv6 at all.
func ipv6Wanted(c *config.Config) bool { return !c.Interfaces.LAN.IPv6.Disabled }

// newIPv6Control builds the IPv6 engines for the data plane. It returns
// nil (and a nil IPv6Config) when IPv6 is off on the LAN.
func (r *router) newIPv6Control(cfg *config.Config, ula netip.Prefix, lanMAC, wanMAC, nhMAC net.HardwareAddr, clock func() time.Duration) (*ipv6Control, *dataplane.IPv6Config, error) {
	if !ipv6Wanted(cfg) {
		return nil, nil, nil
	}
	c := &ipv6Control{r: r, clock: clock, logf: r.logf, cfg: *cfg.Clone(), lanMAC: lanMAC, wanMAC: wanMAC,
		lanLL: linkLocal(lanMAC), wanLL: linkLocal(wanMAC), nhMAC: nhMAC, nhLL: netconf.VirtualNextHop6(nhMAC),
		wake: make(chan struct{}, 1), dadSeen: make(map[netip.Addr]bool)}
	c.ula = ula // r.loadULA, begun at start-up (prestart.go)
	mem, _ := meminfo.Read()
	fe, err := fw6.New(fw6Config(cfg, mem.Total, randomSeed()))
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 firewall: %w", err)
	}
	seed := randomSeed()
	// On the LAN the router also listens to all-routers (router
	// solicitations) and All_DHCP_Relay_Agents_and_Servers (DHCPv6): MLD
	// reports them for snooping switches.
	lanND, err := ndp6.New(ndp6.Config{MAC: [6]byte(lanMAC), Router: true, Seed: seed,
		Groups: []netip.Addr{netip.MustParseAddr("ff02::2"), netip.MustParseAddr("ff02::1:2")}})
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 lan neighbour discovery: %w", err)
	}
	wanND, err := ndp6.New(ndp6.Config{MAC: [6]byte(wanMAC), MaxNeighbours: 256, Seed: seed + 1})
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 wan neighbour discovery: %w", err)
	}
	now := clock()
	adv, err := ra.New(ra.Config{MAC: [6]byte(lanMAC), LinkLocal: c.lanLL, Other: true}, now, seed+2)
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 router advertisements: %w", err)
	}
	c.server, err = dhcpd6.New(dhcpd6.Config{MAC: [6]byte(lanMAC), LinkLocal: c.lanLL})
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 stateless dhcp server: %w", err)
	}
	w := cfg.Interfaces.WAN.IPv6
	c.host, err = slaac.New(slaac.Config{MAC: [6]byte(wanMAC), Autoconf: w.Mode == config.IPv6SLAAC || w.Mode == config.IPv6DHCPv6PD, Seed: seed + 3})
	if err != nil {
		return nil, nil, fmt.Errorf("ipv6 wan router discovery: %w", err)
	}
	c.frames = dhcpv6.NewFrameConn(wanMAC, func(f []byte) error { return c.dp.SendWAN(f) }, nil)
	v := &dataplane.IPv6Config{Engine: fe, LAN: lanND, WAN: wanND, RA: adv,
		LANServer: c.server.Handle, WANClient: func(f []byte) { c.frames.Deliver(f) }}
	if w.Mode != config.IPv6Off {
		v.WANAdvert = c.advert
	}
	return c, v, nil
}

// advert is the data plane's WAN router-advertisement hook (its lock held).
func (c *ipv6Control) advert(m ndp6.Message, now time.Duration) {
	c.mu.Lock()
	changed := c.host.HandleRA(m, now)
	c.mu.Unlock()
	if changed {
		c.poke()
	}
}

func (c *ipv6Control) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// start adds the link-local addresses (DAD starts on the WAN), begins
// router solicitation and runs the control loop until ctx ends.
func (c *ipv6Control) start(ctx context.Context, dp *dataplane.Dataplane, wg *sync.WaitGroup) {
	c.dp = dp
	mode := c.cfg.Interfaces.WAN.IPv6.Mode
	dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, _ *dataplane.Out6) {
		v.LAN.AddAddress(c.lanLL, now)
		if mode != config.IPv6Off {
			v.WAN.AddAddress(c.wanLL, now)
		}
	})
	if mode != config.IPv6Off && mode != config.IPv6Static {
		c.mu.Lock()
		c.host.Start(c.clock())
		c.mu.Unlock()
	}
	c.update()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.loop(ctx)
	}()
}

func (c *ipv6Control) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.stop()
			return
		case <-t.C:
		case <-c.wake:
		}
		c.update()
		c.maybeStartClient(ctx)
	}
}

// stop tells the LAN that the router leaves (router lifetime 0).
func (c *ipv6Control) stop() {
	c.dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, out *dataplane.Out6) {
		if v.RA != nil {
			out.LAN = append(out.LAN, v.RA.Shutdown(now))
		}
	})
}

// maybeStartClient starts the DHCPv6 client in mode dhcpv6-pd once the WAN
// link-local address has passed DAD (RFC 7084 W-2).
func (c *ipv6Control) maybeStartClient(ctx context.Context) {
	if c.cfg.Interfaces.WAN.IPv6.Mode != config.IPv6DHCPv6PD {
		return
	}
	c.mu.Lock()
	wait := c.client != nil || !c.wanLLReady
	c.mu.Unlock()
	if wait {
		return
	}
	cl, err := dhcpv6.NewClient(dhcpv6.Config{Transport: c.frames, HWAddr: c.wanMAC, RequestAddress: true, AcceptReconfigure: true,
		PrefixLength: c.cfg.Interfaces.WAN.IPv6.PrefixLength, StateDir: c.r.stateDir, Logf: c.logf})
	if err != nil {
		c.logf("ipv6: dhcpv6 client: %v", err)
		return
	}
	c.mu.Lock()
	c.client = cl
	c.mu.Unlock()
	c.logf("ipv6: wan link-local %v ready, asking for a prefix (dhcpv6)", c.wanLL)
	go func() {
		err := cl.Run(ctx, c.event)
		if err != nil && ctx.Err() == nil {
			c.logf("ipv6: dhcpv6 client stopped: %v", err)
		}
	}()
}

// event takes the DHCPv6 client's events.
func (c *ipv6Control) event(ev dhcpv6.Event) {
	now := c.clock()
	c.mu.Lock()
	var old netip.Prefix
	switch e := ev.(type) {
	case dhcpv6.PrefixAcquired:
		c.setLease(&e.Lease, now)
		c.logf("ipv6: delegated prefix %v (valid %v)", e.Prefix, e.ValidLifetime)
	case dhcpv6.PrefixRenewed:
		c.setLease(&e.Lease, now)
	case dhcpv6.PrefixChanged:
		c.setLease(&e.Lease, now)
		old = e.Old.Prefix
		c.logf("ipv6: delegated prefix changed from %v to %v: the LAN is renumbered", e.Old.Prefix, e.Prefix)
	case dhcpv6.PrefixLost:
		c.lease = nil
		c.logf("ipv6: delegated prefix lost (%v)", e.Reason)
	}
	c.mu.Unlock()
	if old.IsValid() {
		// After a restart the advertiser never had the old /64: tell
		// the LAN it is deprecated (RFC 7084 L-13, RFC 9096).
		if o, ok := subnet64(old, c.cfg.Interfaces.LAN.IPv6.SubnetID); ok {
			c.dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, _ *dataplane.Out6) {
				if v.RA != nil && !slices.ContainsFunc(v.RA.Config().Prefixes, func(p ra.Prefix) bool { return p.Prefix == o }) {
					v.RA.Deprecate(o, 2*time.Hour, now)
				}
			})
		}
	}
	c.poke()
}

func (c *ipv6Control) setLease(l *dhcpv6.Lease, now time.Duration) {
	lc := *l
	c.lease = &lc
	c.leaseAt = now - time.Since(l.Obtained)
}

// desired computes the IPv6 state from the configuration, the WAN host
// side and the lease. Called with c.mu held.
func (c *ipv6Control) desired(now time.Duration) ipv6State {
	var s ipv6State
	lanCfg, w := c.cfg.Interfaces.LAN.IPv6, c.cfg.Interfaces.WAN.IPv6
	if c.ula.IsValid() {
		s.ULA, _ = subnet64(c.ula, lanCfg.SubnetID)
	}
	switch w.Mode {
	case config.IPv6Static:
		if w.Address.IsValid() {
			s.WANAddrs = append(s.WANAddrs, w.Address)
			s.OnLink = append(s.OnLink, w.Address.Masked())
		}
		s.Gateway = w.Gateway
		if w.Prefix.IsValid() {
			s.Delegated = []netip.Prefix{w.Prefix}
		}
		s.DNS = slices.Clone(w.DNS)
	case config.IPv6SLAAC, config.IPv6DHCPv6PD:
		st := c.host.State(now)
		s.Gateway = st.Router
		s.OnLink = slices.Clone(st.OnLink)
		for _, a := range st.Addresses {
			s.WANAddrs = append(s.WANAddrs, netip.PrefixFrom(a.Addr, 128))
		}
		s.DNS = slices.Clone(st.DNS)
		s.Domains = slices.Clone(st.Domains)
		if l := c.lease; l != nil && w.Mode == config.IPv6DHCPv6PD {
			s.Delegated = []netip.Prefix{l.Prefix}
			s.LANValid = c.leaseAt + l.ValidLifetime
			s.LANPref = c.leaseAt + l.PreferredLifetime
			if l.Address.IsValid() && !slices.ContainsFunc(s.WANAddrs, func(p netip.Prefix) bool { return p.Addr() == l.Address }) {
				s.WANAddrs = append(s.WANAddrs, netip.PrefixFrom(l.Address, 128))
			}
			s.DNS = appendNew(s.DNS, l.DNS...)
			for _, d := range l.Domains {
				if !slices.Contains(s.Domains, d) {
					s.Domains = append(s.Domains, d)
				}
			}
		}
	}
	if len(s.Delegated) > 0 {
		var ok bool
		if s.LAN, ok = subnet64(s.Delegated[0], lanCfg.SubnetID); !ok {
			s.Note = fmt.Sprintf("the delegated prefix %v has no subnet %d for the LAN (interfaces lan ipv6 subnet-id); the LAN gets no global prefix", s.Delegated[0], lanCfg.SubnetID)
		}
	}
	s.WANDNS = slices.Clone(s.DNS)
	switch {
	case len(lanCfg.DNS) > 0:
		s.DNS = slices.Clone(lanCfg.DNS)
	case c.dnsOn.Load():
		// The forwarder: at the ULA address, which stays when the WAN's
		// prefix changes; else the delegated /64's; else link-local.
		s.DNS = []netip.Addr{c.lanLL}
		if p := validPrefixes(s.ULA, s.LAN); len(p) > 0 {
			s.DNS = []netip.Addr{routerAddr(p[0])}
		}
	}
	if lanCfg.Domain != "" {
		s.Domains = []string{lanCfg.Domain}
	}
	if len(s.DNS) > 8 {
		s.DNS = s.DNS[:8]
	}
	if len(s.Domains) > 8 {
		s.Domains = s.Domains[:8]
	}
	return s
}

func appendNew(dst []netip.Addr, add ...netip.Addr) []netip.Addr {
	for _, a := range add {
		if !slices.Contains(dst, a) {
			dst = append(dst, a)
		}
	}
	return dst
}

// update recomputes the state and applies what changed.
func (c *ipv6Control) update() {
	now := c.clock()
	c.mu.Lock()
	rs, _ := c.host.Tick(nil, c.wanSource(), now)
	s := c.desired(now)
	prev := c.applied
	same := fmt.Sprint(prev) == fmt.Sprint(s)
	c.applied = s
	c.mu.Unlock()
	for _, f := range rs {
		if err := c.dp.SendWAN(f); err != nil {
			c.logf("ipv6: router solicitation: %v", err)
		}
	}
	c.checkWANDuplicates()
	if same {
		return
	}
	c.apply(prev, s)
}

// wanSource is the source of router solicitations: the WAN link-local
// address once it is assigned, else the unspecified address. c.mu held.
func (c *ipv6Control) wanSource() netip.Addr {
	if !c.wanLLReady {
		return netip.IPv6Unspecified()
	}
	return c.wanLL
}

// checkWANDuplicates reports WAN addresses that failed DAD to the SLAAC
// host, which drops them (or picks another, RFC 7217).
func (c *ipv6Control) checkWANDuplicates() {
	var dup []ndp6.Address
	ready := false
	c.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		for _, a := range v.WAN.Addresses(nil) {
			if a.State == ndp6.Duplicate {
				dup = append(dup, a)
			}
			if a.Addr == c.wanLL && a.State == ndp6.Assigned {
				ready = true
			}
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wanLLReady = ready
	for _, a := range dup {
		if c.dadSeen[a.Addr] {
			continue
		}
		c.dadSeen[a.Addr] = true
		if a.Addr == c.wanLL {
			c.logf("ipv6: WARNING: the WAN link-local address %v is in use by %v: no IPv6 on the WAN (RFC 4862 §5.4.5)",
				a.Addr, net.HardwareAddr(a.ConflictMAC[:]))
			continue
		}
		c.host.Duplicate(a.Addr)
		c.logf("ipv6: WARNING: WAN address %v is in use by %v (duplicate address detection)", a.Addr, net.HardwareAddr(a.ConflictMAC[:]))
	}
}

// apply pushes state s everywhere (prev is what was applied before).
func (c *ipv6Control) apply(prev, s ipv6State) {
	lanPrefixes := validPrefixes(s.LAN, s.ULA)
	routerLAN := s.routerLAN(c.lanLL)
	routerWAN := []netip.Addr{c.wanLL}
	for _, p := range s.WANAddrs {
		routerWAN = append(routerWAN, p.Addr())
	}
	wanAddrs := make([]netip.Addr, 0, len(s.WANAddrs))
	for _, p := range s.WANAddrs {
		wanAddrs = append(wanAddrs, p.Addr())
	}
	var flushed int
	var err error
	c.dp.Do6(func(v *dataplane.IPv6Config, now time.Duration, out *dataplane.Out6) {
		flushed, err = v.Engine.SetAddresses(fw6.Addresses{Delegated: s.Delegated, LAN: lanPrefixes, RouterLAN: routerLAN, RouterWAN: routerWAN})
		syncAddresses(v.LAN, routerLAN, now)
		syncAddresses(v.WAN, append([]netip.Addr{c.wanLL}, wanAddrs...), now)
		if v.RA != nil {
			if e := v.RA.SetConfig(c.raConfig(s), now); e != nil {
				c.logf("ipv6: router advertisements: %v", e)
			}
			frames, _ := v.RA.Poll(now)
			out.LAN = append(out.LAN, frames...)
		}
		if e := c.server.SetConfig(dhcpd6.Config{MAC: [6]byte(c.lanMAC), LinkLocal: c.lanLL, DNS: s.DNS, Domains: s.Domains}); e != nil {
			c.logf("ipv6: stateless dhcp server: %v", e)
		}
	})
	if err != nil {
		c.logf("ipv6: firewall addresses: %v", err)
	}
	c.dp.SetIPv6Route(dataplane.IPv6Route{Gateway: s.Gateway, OnLink: s.OnLink})
	var self []netip.Prefix
	for _, p := range lanPrefixes {
		self = append(self, netip.PrefixFrom(routerAddr(p), 64))
	}
	for _, a := range wanAddrs {
		self = append(self, netip.PrefixFrom(a, 128))
	}
	if e := netconf.SetIPv6Addresses(netconf.DefaultSelfName, self); e != nil {
		c.logf("ipv6: self0 addresses: %v", e)
	}
	if e := netconf.SetIPv6DefaultRoute(netconf.DefaultSelfName, c.nhLL, c.nhMAC, s.Gateway.IsValid()); e != nil {
		c.logf("ipv6: self0 default route: %v", e)
	}
	if prev.LAN != s.LAN || prev.ULA != s.ULA {
		c.logf("ipv6: lan prefixes %v (%d sessions of old prefixes flushed)", lanPrefixes, flushed)
	}
	if fmt.Sprint(prev.WANAddrs) != fmt.Sprint(s.WANAddrs) {
		c.logf("ipv6: wan addresses %v", s.WANAddrs)
	}
	if prev.Gateway != s.Gateway {
		if s.Gateway.IsValid() {
			c.logf("ipv6: default router %v", s.Gateway)
		} else if prev.Gateway.IsValid() {
			c.logf("ipv6: default router %v gone", prev.Gateway)
		}
	}
	if s.Note != "" && s.Note != prev.Note {
		c.logf("ipv6: WARNING: %s", s.Note)
	}
	if fmt.Sprint(prev.WANDNS, prev.LAN, prev.ULA) != fmt.Sprint(s.WANDNS, s.LAN, s.ULA) {
		c.r.setIPv6DNS(lanPrefixes, s.WANDNS)
	}
}

// setDNSForwarder says whether the DNS forwarder runs, and recomputes
// what the LAN is told.
func (c *ipv6Control) setDNSForwarder(on bool) {
	if c.dnsOn.Swap(on) != on {
		c.poke()
	}
}

func validPrefixes(ps ...netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p)
		}
	}
	return out
}

// syncAddresses makes want the node's addresses (new ones start DAD).
func syncAddresses(n *ndp6.Node, want []netip.Addr, now time.Duration) {
	for _, a := range n.Addresses(nil) {
		if !slices.Contains(want, a.Addr) {
			n.RemoveAddress(a.Addr)
		}
	}
	for _, a := range want {
		n.AddAddress(a, now)
	}
}

// raConfig is what the LAN's router advertisements say for state s.
func (c *ipv6Control) raConfig(s ipv6State) ra.Config {
	rc := ra.Config{MAC: [6]byte(c.lanMAC), LinkLocal: c.lanLL, Other: true,
		DefaultRoute: s.Gateway.IsValid(), RDNSS: s.DNS, DNSSL: s.Domains}
	if s.LAN.IsValid() {
		rc.Prefixes = append(rc.Prefixes, ra.Prefix{Prefix: s.LAN, ValidUntil: s.LANValid, PreferredUntil: s.LANPref})
		if d := s.Delegated[0]; d.Bits() < 64 {
			rc.Routes = append(rc.Routes, ra.Route{Prefix: d, Until: s.LANValid})
		}
	}
	if s.ULA.IsValid() {
		rc.Prefixes = append(rc.Prefixes, ra.Prefix{Prefix: s.ULA})
		rc.Routes = append(rc.Routes, ra.Route{Prefix: c.ula})
	}
	return rc
}

// fw6Config maps the configuration onto the IPv6 firewall's settings.
func fw6Config(c *config.Config, memTotal, seed uint64) fw6.Config {
	f := fw6.DefaultConfig()
	f.LANMTU, f.WANMTU = c.Interfaces.LAN.MTU, c.Interfaces.WAN.MTU
	switch c.NAT.MSSClamp {
	case config.MSSClampAuto:
		f.MSSClamp = fw6.MSSAuto
	case config.MSSClampDisabled:
		f.MSSClamp = 0
	default:
		f.MSSClamp = c.NAT.MSSClamp
	}
	f.Passthrough = fw6.Passthrough{PPTP: c.Passthrough.PPTP, L2TP: c.Passthrough.L2TP, IPsec: c.Passthrough.IPsec.Enabled}
	fc := c.Firewall.IPv6
	f.InboundPing, f.InboundIPsec, f.Transparent = fc.InboundPing, fc.InboundIPsec, fc.Transparent
	for _, a := range fc.Allow {
		for _, proto := range []uint8{6, 17} {
			if (proto == 6 && !a.Protocol.HasTCP()) || (proto == 17 && !a.Protocol.HasUDP()) {
				continue
			}
			f.Allow = append(f.Allow, fw6.AllowRule{Name: a.Name, Proto: proto, PortStart: a.Port.First, PortEnd: a.Port.Last, Host: a.To})
		}
	}
	if memTotal == 0 {
		memTotal = 1 << 30
	}
	// A thirty-second of RAM, as the IPv4 table takes a sixteenth.
	f.MaxSessions = int(min(memTotal/32/fw6.BytesPerSession, 1<<20))
	f.MaxSessions = max(f.MaxSessions, 4096)
	f.Seed = seed
	return f
}
