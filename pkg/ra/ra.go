// Package ra sends routerd's Router Advertisements on a LAN port (RFC 4861
// §6.2): the M and O flags, the router lifetime (zero while the WAN has no
// IPv6 default route, RFC 7084 G-4/G-5, or every prefix is ULA, ULA-5),
// the MTU, Prefix Information for the LAN /64 of the delegated prefix and
// the ULA /64 (A=1, L=1, RFC 7084 L-6), Route Information for the
// delegated prefix and the ULA /48 (RFC 4191, RFC 7084 L-3), RDNSS and
// DNSSL (RFC 8106, RFC 7084 L-11) and the source link-layer address.
//
// It keeps RFC 4861's timing: unsolicited advertisements at random
// intervals in [MinInterval, MaxInterval], the first
// MAX_INITIAL_RTR_ADVERTISEMENTS (and those after a configuration change)
// at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart, answers to Router
// Solicitations delayed by up to MAX_RA_DELAY_TIME and never closer than
// MIN_DELAY_BETWEEN_RAS to the previous multicast advertisement, and a
// final advertisement with router lifetime 0 on shutdown.
//
// Renumbering (RFC 7084 L-13 as updated by RFC 9096): when a prefix leaves
// the configuration, it is advertised with preferred lifetime 0 and a valid
// lifetime of what hosts were last told, at most two hours, decremented in
// real time, and dropped when that reaches zero. Advertised lifetimes never
// exceed what is left of the delegated prefix's lease (RFC 9096 L-15) and
// default to ND_PREFERRED_LIMIT and ND_VALID_LIMIT (RFC 9096 §4).
//
// An Advertiser is pure like pkg/nat and pkg/ndp6: configuration and a
// virtual clock in, Ethernet frames and the next time to wake out, no
// goroutines, no I/O; its owner serialises the calls. Messages are encoded
// with github.com/mdlayher/ndp.
package ra

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/ndp6"
)

// Protocol constants (RFC 4861 §10, RFC 9096 §4, RFC 7084 L-13).
const (
	MaxInitialRtrAdvertInterval = 16 * time.Second
	MaxInitialRtrAdvertisements = 3
	MinDelayBetweenRAs          = 3 * time.Second
	MaxRADelayTime              = 500 * time.Millisecond

	NDPreferredLimit  = 2700 * time.Second // RFC 9096 ND_PREFERRED_LIMIT
	NDValidLimit      = 5400 * time.Second // RFC 9096 ND_VALID_LIMIT
	OldPrefixMaxValid = 2 * time.Hour      // RFC 7084 L-13 (b)

	DefaultMaxInterval = 600 * time.Second // RFC 4861 §6.2.1 MaxRtrAdvInterval
	DefaultHopLimit    = 64
)

// Caps on a configuration, so that an advertisement stays well inside the
// IPv6 minimum MTU (about 900 bytes at most).
const (
	MaxPrefixes   = 8
	MaxRoutes     = 8
	MaxRDNSS      = 3
	MaxDNSSL      = 4
	maxStale      = 4
	maxDNSSLBytes = 240 // encoded names; mdlayher/ndp cannot encode an option of 256 bytes or more
	maxLifetime   = time.Duration(math.MaxUint32-1) * time.Second
)

// Prefix is a Prefix Information option (RFC 4861 §4.6.2).
type Prefix struct {
	Prefix netip.Prefix // a /64 when Autonomous (SLAAC)
	// ValidLifetime and PreferredLifetime advertised; zero means
	// NDValidLimit and NDPreferredLimit (RFC 9096).
	ValidLifetime, PreferredLifetime time.Duration
	// ValidUntil and PreferredUntil are when the delegated prefix's lease
	// ends (the virtual clock of the calls): the advertised lifetimes
	// never exceed what is left (RFC 9096 L-15). Zero: no lease (ULA,
	// static).
	ValidUntil, PreferredUntil time.Duration
	// NoOnLink and NoAutonomous clear the L and A flags, which are set by
	// default (RFC 7084 L-6, L-7).
	NoOnLink, NoAutonomous bool
}

// Route is a Route Information option (RFC 4191 §2.3): RFC 7084 L-3 asks
// for one for the delegated prefix and the ULA prefix.
type Route struct {
	Prefix   netip.Prefix
	Lifetime time.Duration // zero means NDValidLimit
	Until    time.Duration // end of the lease, as Prefix.ValidUntil
}

// Config is what the advertisements say.
type Config struct {
	MAC       [6]byte    // the LAN port's address (source link-layer address option)
	LinkLocal netip.Addr // the router's link-local address: the RA source (RFC 4861 §6.1.2)

	Managed bool // M: addresses from DHCPv6
	Other   bool // O: other configuration (DNS) from DHCPv6; RFC 7084 L-9 wants it set
	// HopLimit for hosts (Cur Hop Limit); zero means 64.
	HopLimit uint8
	// MTU option; zero leaves it out.
	MTU int

	// DefaultRoute: the WAN has an IPv6 default route. Without it the
	// router lifetime is 0 (RFC 7084 G-4), and losing it sends an
	// advertisement at once (G-5).
	DefaultRoute bool
	// RouterLifetime when advertising as a default router; zero means
	// 3 × MaxInterval (RFC 4861 §6.2.1), at most 9000 s.
	RouterLifetime time.Duration

	Prefixes []Prefix
	Routes   []Route
	RDNSS    []netip.Addr
	DNSSL    []string
	// DNSLifetime of the RDNSS and DNSSL options; zero means 3 ×
	// MaxInterval (RFC 8106 §5.1).
	DNSLifetime time.Duration

	// MinInterval and MaxInterval between unsolicited advertisements
	// (MinRtrAdvInterval, MaxRtrAdvInterval). Zero MaxInterval means 600 s;
	// zero MinInterval means MaxInterval/3.
	MinInterval, MaxInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.HopLimit == 0 {
		c.HopLimit = DefaultHopLimit
	}
	if c.MaxInterval == 0 {
		c.MaxInterval = DefaultMaxInterval
	}
	if c.MinInterval == 0 {
		c.MinInterval = max(c.MaxInterval/3, 3*time.Second)
	}
	if c.RouterLifetime == 0 {
		c.RouterLifetime = min(3*c.MaxInterval, 9000*time.Second)
	}
	if c.DNSLifetime == 0 {
		c.DNSLifetime = 3 * c.MaxInterval
	}
	switch {
	case c.MAC == [6]byte{} || c.MAC[0]&1 != 0:
		return fmt.Errorf("ra: MAC %x is not a unicast Ethernet address", c.MAC)
	case !c.LinkLocal.Is6() || !c.LinkLocal.IsLinkLocalUnicast() || c.LinkLocal.Zone() != "":
		return fmt.Errorf("ra: source %v is not an IPv6 link-local address (RFC 4861 §6.1.2 requires one)", c.LinkLocal)
	case c.MaxInterval < 4*time.Second || c.MaxInterval > 1800*time.Second:
		return fmt.Errorf("ra: MaxInterval %v out of RFC 4861's range 4s-1800s", c.MaxInterval)
	case c.MinInterval < 3*time.Second || c.MinInterval > c.MaxInterval*3/4:
		return fmt.Errorf("ra: MinInterval %v out of RFC 4861's range 3s-%v (0.75 × MaxInterval)", c.MinInterval, c.MaxInterval*3/4)
	case c.RouterLifetime < c.MaxInterval || c.RouterLifetime > 9000*time.Second:
		return fmt.Errorf("ra: RouterLifetime %v out of RFC 4861's range MaxInterval (%v)-9000s", c.RouterLifetime, c.MaxInterval)
	case c.MTU != 0 && (c.MTU < 1280 || c.MTU > 65535):
		return fmt.Errorf("ra: MTU %d out of range 1280-65535 (0 leaves the option out)", c.MTU)
	case c.DNSLifetime < 0 || c.DNSLifetime > maxLifetime:
		return fmt.Errorf("ra: DNSLifetime %v out of range", c.DNSLifetime)
	case len(c.Prefixes) > MaxPrefixes:
		return fmt.Errorf("ra: %d prefixes, at most %d", len(c.Prefixes), MaxPrefixes)
	case len(c.Routes) > MaxRoutes:
		return fmt.Errorf("ra: %d routes, at most %d", len(c.Routes), MaxRoutes)
	case len(c.RDNSS) > MaxRDNSS:
		return fmt.Errorf("ra: %d DNS servers, at most %d (RFC 8106 §5.3.1)", len(c.RDNSS), MaxRDNSS)
	case len(c.DNSSL) > MaxDNSSL:
		return fmt.Errorf("ra: %d search domains, at most %d", len(c.DNSSL), MaxDNSSL)
	}
	for i, p := range c.Prefixes {
		if err := checkPrefix(p.Prefix, !p.NoAutonomous); err != nil {
			return err
		}
		if p.ValidLifetime == 0 {
			c.Prefixes[i].ValidLifetime = NDValidLimit
		}
		if p.PreferredLifetime == 0 {
			c.Prefixes[i].PreferredLifetime = min(NDPreferredLimit, c.Prefixes[i].ValidLifetime)
		}
		p = c.Prefixes[i]
		if p.ValidLifetime < 0 || p.ValidLifetime > maxLifetime || p.PreferredLifetime < 0 || p.PreferredLifetime > p.ValidLifetime {
			return fmt.Errorf("ra: prefix %v lifetimes valid %v, preferred %v: need 0 ≤ preferred ≤ valid < 2^32 s", p.Prefix, p.ValidLifetime, p.PreferredLifetime)
		}
		for _, q := range c.Prefixes[:i] {
			if q.Prefix == p.Prefix {
				return fmt.Errorf("ra: prefix %v listed twice", p.Prefix)
			}
		}
	}
	for i, r := range c.Routes {
		if err := checkPrefix(r.Prefix, false); err != nil {
			return err
		}
		if r.Lifetime == 0 {
			c.Routes[i].Lifetime = NDValidLimit
		}
		if c.Routes[i].Lifetime < 0 || c.Routes[i].Lifetime > maxLifetime {
			return fmt.Errorf("ra: route %v lifetime %v out of range", r.Prefix, r.Lifetime)
		}
	}
	for _, a := range c.RDNSS {
		if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.Zone() != "" {
			return fmt.Errorf("ra: DNS server %v is not an IPv6 unicast address", a)
		}
	}
	n := 0
	for i, d := range c.DNSSL {
		if err := checkDomain(d); err != nil {
			return err
		}
		c.DNSSL[i] = strings.ToLower(strings.TrimSuffix(d, "."))
		n += len(c.DNSSL[i]) + 2
	}
	if n > maxDNSSLBytes {
		return fmt.Errorf("ra: search domains take %d bytes, at most %d", n, maxDNSSLBytes)
	}
	return nil
}

func checkPrefix(p netip.Prefix, slaac bool) error {
	switch {
	case !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "":
		return fmt.Errorf("ra: %v is not an IPv6 prefix", p)
	case p.Masked() != p:
		return fmt.Errorf("ra: prefix %v has host bits set (want %v)", p, p.Masked())
	case p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() || p.Bits() == 0:
		return fmt.Errorf("ra: %v cannot be advertised (link-local, multicast or ::/0)", p)
	case slaac && p.Bits() != 64:
		return fmt.Errorf("ra: prefix %v for address autoconfiguration must be a /64 (RFC 4862 §5.5.3 with 64-bit interface identifiers)", p)
	}
	return nil
}

// checkDomain accepts a DNS name of letters, digits and hyphens, labels of
// 1-63 characters, at most 253 in all; a trailing dot is allowed.
func checkDomain(d string) error {
	name := strings.TrimSuffix(d, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("ra: search domain %q must be 1-253 characters", d)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("ra: search domain %q has an empty, over-long (63) or hyphen-edged label", d)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("ra: search domain %q: only letters, digits and hyphens are allowed", d)
			}
		}
	}
	return nil
}

// stale is a prefix that left the configuration, advertised as deprecated
// until validEnd.
type stale struct {
	prefix   netip.Prefix
	onLink   bool
	validEnd time.Duration
}

// withdrawn is a route, DNS server or search domain that left the
// configuration, advertised with lifetime 0 in the next few RAs.
type withdrawn struct {
	route  netip.Prefix
	server netip.Addr
	domain string
	left   int
}

// Counters are cumulative.
type Counters struct {
	Sent        uint64 // advertisements sent (unsolicited, solicited, final)
	Solicited   uint64 // advertisements that answered solicitations
	RSReceived  uint64 // valid router solicitations
	RSInvalid   uint64 // frames HandleRS refused
	Renumbered  uint64 // prefixes deprecated because they left the configuration
	StaleExpiry uint64 // deprecated prefixes dropped when their valid lifetime ran out
	// EncodeErrors counts advertisements mdlayher/ndp refused to encode:
	// none unless the configuration checks miss something ndp checks.
	EncodeErrors uint64
}

// Never is the wake time Poll returns after Shutdown.
const Never = time.Duration(math.MaxInt64)

// Advertiser sends the advertisements of one LAN port. See the package
// documentation.
type Advertiser struct {
	cfg Config
	rng *rand.Rand

	next        time.Duration // next unsolicited RA
	initialLeft int
	lastSent    time.Duration
	sentAny     bool
	rsPending   bool
	rsAt        time.Duration
	stopped     bool

	validEnd  map[netip.Prefix]time.Duration // what hosts were last told, per prefix
	stale     []stale
	withdrawn []withdrawn

	cnt Counters
}

// New starts advertising cfg at now: the first advertisement is due at
// once. seed seeds the random intervals.
func New(cfg Config, now time.Duration, seed uint64) (*Advertiser, error) {
	cfg = cloneConfig(cfg)
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Advertiser{
		cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x7261)),
		next: now, initialLeft: MaxInitialRtrAdvertisements,
		validEnd: make(map[netip.Prefix]time.Duration),
	}, nil
}

func cloneConfig(c Config) Config {
	c.Prefixes = slices.Clone(c.Prefixes)
	c.Routes = slices.Clone(c.Routes)
	c.RDNSS = slices.Clone(c.RDNSS)
	c.DNSSL = slices.Clone(c.DNSSL)
	return c
}

// Config returns the configuration in force, defaults filled in.
func (a *Advertiser) Config() Config { return cloneConfig(a.cfg) }

// Counters returns the cumulative counters.
func (a *Advertiser) Counters() Counters { return a.cnt }

// SetConfig changes what is advertised from now on. Prefixes that left the
// configuration are deprecated (RFC 7084 L-13); routes, DNS servers and
// search domains that left are withdrawn with lifetime 0; and, as RFC 4861
// §6.2.4 asks after a change, an advertisement is due at once (no sooner
// than MIN_DELAY_BETWEEN_RAS after the last) followed by a fast series —
// which also makes losing the WAN default route known at once (RFC 7084
// G-5). A configuration that is not valid changes nothing.
func (a *Advertiser) SetConfig(cfg Config, now time.Duration) error {
	cfg = cloneConfig(cfg)
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	old := a.cfg
	a.cfg = cfg
	a.expire(now)
	for _, p := range old.Prefixes {
		if slices.ContainsFunc(cfg.Prefixes, func(q Prefix) bool { return q.Prefix == p.Prefix }) {
			continue
		}
		end, told := a.validEnd[p.Prefix]
		delete(a.validEnd, p.Prefix)
		if !told || end <= now {
			continue
		}
		a.cnt.Renumbered++
		a.stale = append(a.stale, stale{prefix: p.Prefix, onLink: !p.NoOnLink, validEnd: min(end, now+OldPrefixMaxValid)})
		if len(a.stale) > maxStale {
			a.stale = a.stale[1:]
		}
	}
	a.stale = slices.DeleteFunc(a.stale, func(s stale) bool {
		return slices.ContainsFunc(cfg.Prefixes, func(q Prefix) bool { return q.Prefix == s.prefix })
	})
	for _, r := range old.Routes {
		if !slices.ContainsFunc(cfg.Routes, func(q Route) bool { return q.Prefix == r.Prefix }) {
			a.withdraw(withdrawn{route: r.Prefix})
		}
	}
	for _, s := range old.RDNSS {
		if !slices.Contains(cfg.RDNSS, s) {
			a.withdraw(withdrawn{server: s})
		}
	}
	for _, d := range old.DNSSL {
		if !slices.Contains(cfg.DNSSL, d) {
			a.withdraw(withdrawn{domain: d})
		}
	}
	a.initialLeft = MaxInitialRtrAdvertisements
	a.next = now
	if a.sentAny {
		a.next = max(now, a.lastSent+MinDelayBetweenRAs)
	}
	return nil
}

// Deprecate advertises p, which is not in the configuration, as a stale
// prefix: preferred lifetime 0 and a valid lifetime of validFor (at most two
// hours, RFC 7084 L-13) counting down from now. It is for the prefix a
// router advertised before a restart when the ISP delegates another one
// after it (RFC 9096): the owner persists what it advertised and hands the
// old prefix here. A prefix in the configuration is refused.
func (a *Advertiser) Deprecate(p netip.Prefix, validFor, now time.Duration) error {
	if err := checkPrefix(p, true); err != nil {
		return err
	}
	if slices.ContainsFunc(a.cfg.Prefixes, func(q Prefix) bool { return q.Prefix == p }) {
		return fmt.Errorf("ra: cannot deprecate %v: it is advertised", p)
	}
	if validFor <= 0 {
		return nil
	}
	a.stale = slices.DeleteFunc(a.stale, func(s stale) bool { return s.prefix == p })
	a.stale = append(a.stale, stale{prefix: p, onLink: true, validEnd: now + min(validFor, OldPrefixMaxValid)})
	if len(a.stale) > maxStale {
		a.stale = a.stale[1:]
	}
	a.cnt.Renumbered++
	a.next = min(a.next, max(now, a.lastSent+MinDelayBetweenRAs))
	return nil
}

func (a *Advertiser) withdraw(w withdrawn) {
	w.left = MaxInitialRtrAdvertisements
	a.withdrawn = append(a.withdrawn, w)
	if len(a.withdrawn) > MaxRoutes+MaxRDNSS+MaxDNSSL {
		a.withdrawn = a.withdrawn[1:]
	}
}

// expire drops deprecated prefixes whose valid lifetime ran out.
func (a *Advertiser) expire(now time.Duration) {
	a.stale = slices.DeleteFunc(a.stale, func(s stale) bool {
		if s.validEnd-now < time.Second {
			a.cnt.StaleExpiry++
			return true
		}
		return false
	})
}

// Poll returns the advertisements due at now (none or one) and when to call
// it next.
func (a *Advertiser) Poll(now time.Duration) ([][]byte, time.Duration) {
	if a.stopped {
		return nil, Never
	}
	var out [][]byte
	if now >= a.next || (a.rsPending && now >= a.rsAt) {
		if a.rsPending && now >= a.rsAt {
			a.cnt.Solicited++
		}
		if f := a.send(now, false); f != nil {
			out = append(out, f)
		}
		interval := a.cfg.MinInterval + time.Duration(a.rng.Int64N(int64(a.cfg.MaxInterval-a.cfg.MinInterval)+1))
		if a.initialLeft > 0 {
			a.initialLeft--
			interval = min(interval, MaxInitialRtrAdvertInterval)
		}
		a.next = now + interval
		a.rsPending = false
	}
	return out, a.wake()
}

func (a *Advertiser) wake() time.Duration {
	if a.stopped {
		return Never
	}
	if a.rsPending {
		return min(a.next, a.rsAt)
	}
	return a.next
}

// HandleRS takes a frame received on the port. A valid Router Solicitation
// (RFC 4861 §6.1.1, checked by ndp6.Parse) schedules a multicast answer
// after a random delay of up to MAX_RA_DELAY_TIME, and no sooner than
// MIN_DELAY_BETWEEN_RAS after the previous advertisement (RFC 4861
// §6.2.6); solicitations arriving meanwhile share that answer. It returns
// when to call Poll, or an error (and changes nothing) for anything else.
func (a *Advertiser) HandleRS(frame []byte, now time.Duration) (time.Duration, error) {
	m, err := ndp6.Parse(frame)
	if err == nil && (m.Type != ndp6.TypeRouterSolicitation || (m.Dst != ndp6.AllRouters && m.Dst != a.cfg.LinkLocal)) {
		err = fmt.Errorf("ra: not a router solicitation for this router (type %d to %v)", m.Type, m.Dst)
	}
	if err != nil {
		a.cnt.RSInvalid++
		return a.wake(), err
	}
	a.cnt.RSReceived++
	if a.stopped {
		return Never, nil
	}
	if a.rsPending {
		return a.wake(), nil // already scheduled: this one shares the answer
	}
	at := now + time.Duration(a.rng.Int64N(int64(MaxRADelayTime)+1))
	if a.sentAny && at < a.lastSent+MinDelayBetweenRAs {
		at = a.lastSent + MinDelayBetweenRAs + time.Duration(a.rng.Int64N(int64(MaxRADelayTime)+1))
	}
	if at >= a.next {
		return a.wake(), nil // the unsolicited one comes first and answers it
	}
	a.rsPending, a.rsAt = true, at
	return a.wake(), nil
}

// Shutdown returns the final advertisement, router lifetime 0 (RFC 4861
// §6.2.5), and stops the advertiser. The prefixes are advertised unchanged:
// a router that restarts keeps its hosts' addresses (RFC 9096).
func (a *Advertiser) Shutdown(now time.Duration) []byte {
	if a.stopped {
		return nil
	}
	f := a.send(now, true)
	a.stopped = true
	return f
}

// Build returns the advertisement as it would be sent at now, without
// sending it (for listings and tests).
func (a *Advertiser) Build(now time.Duration) []byte {
	f, _ := a.build(now, false)
	return f
}

func (a *Advertiser) send(now time.Duration, final bool) []byte {
	a.expire(now)
	f, told := a.build(now, final)
	if f == nil {
		return nil
	}
	for p, end := range told {
		a.validEnd[p] = end
	}
	for i := range a.withdrawn {
		a.withdrawn[i].left--
	}
	a.withdrawn = slices.DeleteFunc(a.withdrawn, func(w withdrawn) bool { return w.left <= 0 })
	a.lastSent, a.sentAny = now, true
	a.cnt.Sent++
	return f
}

// remaining is lifetime capped by what is left until until (when set),
// in whole seconds, never negative.
func remaining(lifetime, until, now time.Duration) time.Duration {
	if until != 0 {
		lifetime = min(lifetime, until-now)
	}
	return max(0, lifetime.Truncate(time.Second))
}

// RouterLifetime is the router lifetime advertised at now: zero without a
// WAN default route (RFC 7084 G-4) or without a valid prefix that is not
// ULA (L-4, ULA-5).
func (a *Advertiser) RouterLifetime(now time.Duration) time.Duration {
	if !a.cfg.DefaultRoute {
		return 0
	}
	for _, p := range a.cfg.Prefixes {
		ula := p.Prefix.Addr().As16()[0]&0xfe == 0xfc
		if !ula && remaining(p.ValidLifetime, p.ValidUntil, now) > 0 {
			return a.cfg.RouterLifetime
		}
	}
	return 0
}

func (a *Advertiser) build(now time.Duration, final bool) ([]byte, map[netip.Prefix]time.Duration) {
	c := &a.cfg
	opts := []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: c.MAC[:]}}
	if c.MTU != 0 {
		opts = append(opts, ndp.NewMTU(uint32(c.MTU)))
	}
	told := make(map[netip.Prefix]time.Duration, len(c.Prefixes))
	for _, p := range c.Prefixes {
		valid := remaining(p.ValidLifetime, p.ValidUntil, now)
		pref := min(valid, remaining(p.PreferredLifetime, p.PreferredUntil, now))
		opts = append(opts, &ndp.PrefixInformation{
			PrefixLength: uint8(p.Prefix.Bits()), OnLink: !p.NoOnLink, AutonomousAddressConfiguration: !p.NoAutonomous,
			ValidLifetime: valid, PreferredLifetime: pref, Prefix: p.Prefix.Addr(),
		})
		told[p.Prefix] = now + valid
	}
	for _, s := range a.stale {
		opts = append(opts, &ndp.PrefixInformation{
			PrefixLength: uint8(s.prefix.Bits()), OnLink: s.onLink, AutonomousAddressConfiguration: true,
			ValidLifetime: remaining(s.validEnd-now, 0, now), PreferredLifetime: 0, Prefix: s.prefix.Addr(),
		})
	}
	for _, r := range c.Routes {
		opts = append(opts, &ndp.RouteInformation{
			PrefixLength: uint8(r.Prefix.Bits()), Preference: ndp.Medium,
			RouteLifetime: remaining(r.Lifetime, r.Until, now), Prefix: r.Prefix.Addr(),
		})
	}
	var oldServers []netip.Addr
	var oldDomains []string
	for _, w := range a.withdrawn {
		switch {
		case w.route.IsValid():
			opts = append(opts, &ndp.RouteInformation{PrefixLength: uint8(w.route.Bits()), Preference: ndp.Medium, Prefix: w.route.Addr()})
		case w.server.IsValid():
			oldServers = append(oldServers, w.server)
		default:
			oldDomains = append(oldDomains, w.domain)
		}
	}
	if len(c.RDNSS) > 0 {
		opts = append(opts, &ndp.RecursiveDNSServer{Lifetime: c.DNSLifetime.Truncate(time.Second), Servers: c.RDNSS})
	}
	if len(oldServers) > 0 {
		opts = append(opts, &ndp.RecursiveDNSServer{Lifetime: 0, Servers: oldServers})
	}
	if len(c.DNSSL) > 0 {
		opts = append(opts, &ndp.DNSSearchList{Lifetime: c.DNSLifetime.Truncate(time.Second), DomainNames: c.DNSSL})
	}
	if len(oldDomains) > 0 {
		opts = append(opts, &ndp.DNSSearchList{Lifetime: 0, DomainNames: oldDomains})
	}
	rl := a.RouterLifetime(now)
	if final {
		rl = 0
	}
	msg := &ndp.RouterAdvertisement{
		CurrentHopLimit: c.HopLimit, ManagedConfiguration: c.Managed, OtherConfiguration: c.Other,
		RouterSelectionPreference: ndp.Medium, RouterLifetime: rl, Options: opts,
	}
	f, err := ndp6.Marshal(ndp6.MulticastMAC(ndp6.AllNodes), c.MAC, c.LinkLocal, ndp6.AllNodes, msg)
	if err != nil {
		// setDefaults checks everything ndp checks: counted, never fatal.
		a.cnt.EncodeErrors++
		return nil, nil
	}
	return f, told
}
