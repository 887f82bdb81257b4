// Package slaac is the router's WAN port as an IPv6 host of the ISP's
// link: it takes the ISP's router advertisements (RFC 4861 §6.3.4), keeps
// the default routers with their RFC 4191 preference, forms addresses from
// the advertised prefixes (SLAAC, RFC 4862 §5.5.3, with RFC 7217 stable
// interface identifiers when given a secret, else modified EUI-64), keeps
// the on-link prefixes, the MTU, RDNSS and DNSSL (RFC 8106) and the M and
// O flags that tell routerd to ask DHCPv6 (RFC 7084 WAA-6, WPD-4), and
// sends router solicitations (RFC 4861 §6.3.7, RFC 7559 backoff).
//
// Like pkg/ra and pkg/ndp6 it is pure: validated messages in
// (ndp6.Parse), frames out, the virtual clock passed in, no goroutines,
// no I/O, no logging; memory is bounded by Config's caps; it is not safe
// for concurrent use. Duplicate address detection is the owner's, with
// pkg/ndp6; Duplicate tells the host an address failed it.
package slaac

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/ndp6"
)

// Protocol constants (RFC 4861 §10, RFC 7559, RFC 4862 §5.5.3).
const (
	MaxRtrSolicitationDelay = time.Second
	RtrSolicitationInterval = 4 * time.Second
	MaxRtrSolicitations     = 3
	MaxRtrSolicitationRT    = time.Hour // RFC 7559 §2: the backoff's ceiling
	twoHours                = 2 * time.Hour
	// MaxLifetime caps "infinite" and very long prefix and DNS
	// lifetimes, as pkg/wan/dhcpv6 does: a later advertisement renews them.
	MaxLifetime = 7 * 24 * time.Hour
	maxDNS      = 8
	maxDomains  = 8
	maxOptions  = 64
	maxDADTries = 3
)

// Config configures a Host.
type Config struct {
	MAC [6]byte // the WAN port's MAC (required)
	// Autoconf forms addresses from prefixes with the A flag; false only
	// learns routers, prefixes on the link, flags and DNS.
	Autoconf bool
	// Secret, when set, makes RFC 7217 stable interface identifiers;
	// empty means modified EUI-64 of MAC.
	Secret []byte
	// MaxRouters (default 4) and MaxPrefixes (default 8) cap what one
	// link can make the host keep: advertisements from routers beyond the
	// cap are ignored, prefixes beyond it are not taken.
	MaxRouters, MaxPrefixes int
	// LinkMTU is the port's MTU; an MTU option is taken only within
	// 1280..LinkMTU. Default 1500.
	LinkMTU int
	Seed    uint64
}

// RouterInfo is one default router.
type RouterInfo struct {
	Addr           netip.Addr
	MAC            [6]byte // from the source link-layer address option; zero if none
	Preference     int     // RFC 4191: 1 high, 0 medium, -1 low
	Until          time.Duration
	Managed, Other bool
}

// Addr is one SLAAC address.
type Addr struct {
	Prefix                     netip.Prefix // the advertised /64
	Addr                       netip.Addr
	PreferredUntil, ValidUntil time.Duration
}

// State is what the host knows, for its owner.
type State struct {
	// Router is the default router chosen (RFC 4191: highest preference,
	// then the first learnt); invalid when there is none.
	Router            netip.Addr
	RouterMAC         [6]byte
	RouterLifetimeEnd time.Duration
	Routers           []RouterInfo
	// Managed and Other are the chosen router's M and O flags.
	Managed, Other bool
	MTU            int // 0: no MTU option
	// ReachableTime and RetransTimer from the chosen router, 0 if unset.
	ReachableTime, RetransTimer time.Duration
	Addresses                   []Addr
	OnLink                      []netip.Prefix
	DNS                         []netip.Addr
	Domains                     []string
}

// Counters are cumulative.
type Counters struct {
	RAsAccepted    uint64
	RAsIgnored     uint64 // not a router advertisement, or malformed options
	RouterCapHit   uint64 // advertisements from a router beyond MaxRouters
	PrefixCapHit   uint64 // prefixes not taken: MaxPrefixes reached
	PrefixesIgnore uint64 // prefix options refused by RFC 4862 §5.5.3 (a)-(d)
	Solicitations  uint64 // router solicitations sent
	DADFailures    uint64
}

type router struct {
	RouterInfo
	reachable, retrans time.Duration
	mtu                int
}

type prefixEntry struct {
	prefix         netip.Prefix
	onLinkUntil    time.Duration // 0: not on-link
	addr           netip.Addr    // zero: none formed
	pref, valid    time.Duration // the address's lifetimes (absolute)
	dadCounter     int
	failed         bool // DAD failed for good: no address in this prefix
	autonomousSeen bool
}

type timedAddr struct {
	a     netip.Addr
	until time.Duration
}

type timedName struct {
	n     string
	until time.Duration
}

// Host is the WAN port's IPv6 host side.
type Host struct {
	cfg      Config
	rng      *rand.Rand
	routers  []router
	prefixes []prefixEntry
	dns      []timedAddr
	domains  []timedName
	cnt      Counters

	soliciting bool
	nextRS     time.Duration
	sent       int
	rsBackoff  time.Duration
}

// New returns a host with nothing learnt.
func New(cfg Config) (*Host, error) {
	if cfg.MAC == ([6]byte{}) {
		return nil, errors.New("slaac: the port's MAC is required")
	}
	if cfg.MaxRouters <= 0 {
		cfg.MaxRouters = 4
	}
	if cfg.MaxPrefixes <= 0 {
		cfg.MaxPrefixes = 8
	}
	if cfg.LinkMTU <= 0 {
		cfg.LinkMTU = 1500
	}
	cfg.MaxRouters, cfg.MaxPrefixes = min(cfg.MaxRouters, 64), min(cfg.MaxPrefixes, 64)
	cfg.Secret = slices.Clone(cfg.Secret)
	return &Host{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}, nil
}

// Counters returns the cumulative counters.
func (h *Host) Counters() Counters { return h.cnt }

// Start begins soliciting routers (the link came up): the first
// solicitation after a random delay of up to MaxRtrSolicitationDelay.
func (h *Host) Start(now time.Duration) {
	h.soliciting, h.sent, h.rsBackoff = true, 0, 0
	h.nextRS = now + time.Duration(h.rng.Int64N(int64(MaxRtrSolicitationDelay)))
}

func lifetime(secs uint32) time.Duration {
	d := time.Duration(secs) * time.Second
	if secs == 0xffffffff || d > MaxLifetime {
		return MaxLifetime
	}
	return d
}

// HandleRA takes a router advertisement ndp6.Parse validated and reports
// whether State changed in a way the owner acts on (a router, an address,
// a flag, the MTU, DNS); lifetimes merely refreshed are not a change.
func (h *Host) HandleRA(m ndp6.Message, now time.Duration) bool {
	b := m.Body
	if m.Type != ndp6.TypeRouterAdvertisement || len(b) < 16 || !m.Src.IsLinkLocalUnicast() {
		h.cnt.RAsIgnored++
		return false
	}
	opts, ok := walkOptions(b[16:])
	if !ok {
		h.cnt.RAsIgnored++
		return false
	}
	flags := b[5]
	rl := time.Duration(binary.BigEndian.Uint16(b[6:])) * time.Second
	i := slices.IndexFunc(h.routers, func(r router) bool { return r.Addr == m.Src })
	if i < 0 && rl > 0 && len(h.routers) >= h.cfg.MaxRouters {
		h.cnt.RouterCapHit++
		return false
	}
	h.cnt.RAsAccepted++
	changed := false
	pref := 0
	switch (flags >> 3) & 3 {
	case 1:
		pref = 1
	case 3:
		pref = -1
	}
	r := router{RouterInfo: RouterInfo{Addr: m.Src, Preference: pref, Until: now + rl,
		Managed: flags&0x80 != 0, Other: flags&0x40 != 0}}
	if v := binary.BigEndian.Uint32(b[8:]); v != 0 {
		r.reachable = time.Duration(v) * time.Millisecond
	}
	if v := binary.BigEndian.Uint32(b[12:]); v != 0 {
		r.retrans = time.Duration(v) * time.Millisecond
	}
	if m.HasLLA {
		r.MAC = m.LLA
	}
	for _, o := range opts {
		switch o[0] {
		case 5: // MTU
			if mtu := int(binary.BigEndian.Uint32(o[4:])); len(o) == 8 && mtu >= 1280 && mtu <= h.cfg.LinkMTU {
				r.mtu = mtu
			}
		case 3:
			changed = h.prefixOption(o, now) || changed
		case 25:
			changed = h.rdnss(o, now) || changed
		case 31:
			changed = h.dnssl(o, now) || changed
		}
	}
	switch {
	case i < 0 && rl > 0:
		h.routers = append(h.routers, r)
		changed = true
	case i >= 0 && rl == 0:
		h.routers = slices.Delete(h.routers, i, i+1)
		changed = true
	case i >= 0:
		old := h.routers[i]
		if old.MAC != r.MAC || old.Preference != r.Preference || old.Managed != r.Managed || old.Other != r.Other || old.mtu != r.mtu {
			changed = true
		}
		h.routers[i] = r
	}
	if len(h.routers) > 0 {
		h.soliciting = false
	}
	return changed
}

// walkOptions splits the options; false if one is malformed (ndp6.Parse
// checked lengths already) or there are too many.
func walkOptions(b []byte) ([][]byte, bool) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 || b[1] == 0 || int(b[1])*8 > len(b) || len(out) == maxOptions {
			return nil, false
		}
		n := int(b[1]) * 8
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, true
}

// siteLocal is the deprecated site-local prefix (RFC 3879).
var siteLocal = netip.MustParsePrefix("fec0::/10")

// prefixOption applies a Prefix Information option (RFC 4861 §6.3.4,
// RFC 4862 §5.5.3).
func (h *Host) prefixOption(o []byte, now time.Duration) bool {
	if len(o) != 32 || o[2] > 128 {
		h.cnt.PrefixesIgnore++
		return false
	}
	plen, flags := int(o[2]), o[3]
	valid, preferred := binary.BigEndian.Uint32(o[4:]), binary.BigEndian.Uint32(o[8:])
	p, err := netip.AddrFrom16([16]byte(o[16:32])).Prefix(plen)
	if err != nil || p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() || preferred > valid || siteLocal.Contains(p.Addr()) {
		// (b) link-local, (c) preferred > valid; and site-local, which
		// RFC 3879 deprecated and the forwarding engine treats as
		// reserved (QEMU's user network still advertises fec0::/64).
		h.cnt.PrefixesIgnore++
		return false
	}
	onLink, auto := flags&0x80 != 0, flags&0x40 != 0 && h.cfg.Autoconf
	if auto && plen != 64 {
		h.cnt.PrefixesIgnore++ // (d) prefix length + 64-bit IID must be 128
		auto = false
	}
	if !onLink && !auto {
		return false
	}
	i := slices.IndexFunc(h.prefixes, func(e prefixEntry) bool { return e.prefix == p })
	changed := false
	if i < 0 {
		if valid == 0 {
			return false
		}
		if len(h.prefixes) >= h.cfg.MaxPrefixes {
			h.cnt.PrefixCapHit++
			return false
		}
		h.prefixes = append(h.prefixes, prefixEntry{prefix: p})
		i = len(h.prefixes) - 1
	}
	e := &h.prefixes[i]
	if onLink {
		wasOn := e.onLinkUntil > now
		e.onLinkUntil = now + lifetime(valid)
		if valid == 0 {
			e.onLinkUntil = 0
		}
		changed = wasOn != (e.onLinkUntil > now)
	}
	if auto && !e.failed {
		vl, pl := lifetime(valid), lifetime(preferred)
		if !e.addr.IsValid() {
			if valid > 0 {
				e.addr = h.iid(p, e.dadCounter)
				e.valid, e.pref = now+vl, now+pl
				changed = true
			}
		} else {
			e.pref = now + pl
			// RFC 4862 §5.5.3 (e): a short valid lifetime can cut an
			// address only down to two hours (spoofed RAs cannot kill it).
			remaining := e.valid - now
			switch {
			case vl > twoHours || vl > remaining:
				e.valid = now + vl
			case remaining <= twoHours:
			default:
				e.valid = now + twoHours
			}
		}
	}
	h.gcPrefix(i, now)
	return changed
}

// gcPrefix drops entry i when it holds nothing any more.
func (h *Host) gcPrefix(i int, now time.Duration) {
	e := h.prefixes[i]
	if e.onLinkUntil <= now && (!e.addr.IsValid() || e.valid <= now) && !e.failed {
		h.prefixes = slices.Delete(h.prefixes, i, i+1)
	}
}

// iid forms the address in the /64 p: RFC 7217 with a secret, modified
// EUI-64 without.
func (h *Host) iid(p netip.Prefix, dadCounter int) netip.Addr {
	a := p.Addr().As16()
	mac := h.cfg.MAC
	if len(h.cfg.Secret) == 0 {
		a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
		return netip.AddrFrom16(a)
	}
	for c := dadCounter; ; c++ {
		s := sha256.New()
		s.Write(a[:8])
		s.Write(mac[:])
		s.Write([]byte{byte(c)})
		s.Write(h.cfg.Secret)
		sum := s.Sum(nil)
		copy(a[8:], sum[:8])
		// RFC 5453 reserved identifiers: all zeros (subnet-router anycast)
		// and the reserved anycast range fdff:ffff:ffff:ff80-ffff.
		iid := binary.BigEndian.Uint64(a[8:])
		if iid != 0 && iid < 0xfdffffffffffff80 || iid > 0xfdffffffffffffff {
			return netip.AddrFrom16(a)
		}
	}
}

// Duplicate reports that DAD found a in use on the link: the address is
// dropped; with a secret another one is formed (RFC 7217 §6, at most
// three tries), without one the prefix gets none.
func (h *Host) Duplicate(a netip.Addr) {
	for i := range h.prefixes {
		e := &h.prefixes[i]
		if e.addr != a {
			continue
		}
		h.cnt.DADFailures++
		e.dadCounter++
		if len(h.cfg.Secret) == 0 || e.dadCounter >= maxDADTries {
			e.addr, e.failed = netip.Addr{}, true
			return
		}
		e.addr = h.iid(e.prefix, e.dadCounter)
		return
	}
}

// rdnss applies an RDNSS option (RFC 8106 §5.1).
func (h *Host) rdnss(o []byte, now time.Duration) bool {
	if len(o) < 24 || (len(o)-8)%16 != 0 {
		return false
	}
	lt := binary.BigEndian.Uint32(o[4:])
	changed := false
	for b := o[8:]; len(b) >= 16; b = b[16:] {
		a := netip.AddrFrom16([16]byte(b[:16]))
		if a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() {
			continue
		}
		i := slices.IndexFunc(h.dns, func(t timedAddr) bool { return t.a == a })
		switch {
		case lt == 0 && i >= 0:
			h.dns = slices.Delete(h.dns, i, i+1)
			changed = true
		case lt > 0 && i >= 0:
			h.dns[i].until = now + lifetime(lt)
		case lt > 0 && len(h.dns) < maxDNS:
			h.dns = append(h.dns, timedAddr{a, now + lifetime(lt)})
			changed = true
		}
	}
	return changed
}

// dnssl applies a DNSSL option (RFC 8106 §5.2): names in DNS wire format,
// no compression, zero padding at the end.
func (h *Host) dnssl(o []byte, now time.Duration) bool {
	if len(o) < 16 {
		return false
	}
	lt := binary.BigEndian.Uint32(o[4:])
	changed := false
	b := o[8:]
	for len(b) > 0 && b[0] != 0 {
		var labels []string
		for {
			if len(b) == 0 {
				return changed
			}
			l := int(b[0])
			if l == 0 {
				b = b[1:]
				break
			}
			if l > 63 || 1+l > len(b) {
				return changed // compression pointers (0xc0…) and overruns
			}
			labels = append(labels, strings.ToLower(string(b[1:1+l])))
			b = b[1+l:]
		}
		name := strings.Join(labels, ".")
		if name == "" || len(name) > 253 {
			continue
		}
		i := slices.IndexFunc(h.domains, func(t timedName) bool { return t.n == name })
		switch {
		case lt == 0 && i >= 0:
			h.domains = slices.Delete(h.domains, i, i+1)
			changed = true
		case lt > 0 && i >= 0:
			h.domains[i].until = now + lifetime(lt)
		case lt > 0 && len(h.domains) < maxDomains:
			h.domains = append(h.domains, timedName{name, now + lifetime(lt)})
			changed = true
		}
	}
	return changed
}

// Tick expires what ran out and appends the router solicitations due to
// out, sent from src (the WAN link-local address once DAD passed; the
// unspecified address before, then without the source link-layer address
// option, RFC 4861 §4.1). It reports whether State changed.
func (h *Host) Tick(out [][]byte, src netip.Addr, now time.Duration) ([][]byte, bool) {
	changed := false
	n := len(h.routers)
	h.routers = slices.DeleteFunc(h.routers, func(r router) bool { return r.Until <= now })
	if len(h.routers) != n {
		changed = true
		if len(h.routers) == 0 && n > 0 {
			h.Start(now) // lost every router: look for one again
		}
	}
	for i := len(h.prefixes) - 1; i >= 0; i-- {
		e := &h.prefixes[i]
		if e.addr.IsValid() && e.valid <= now {
			e.addr = netip.Addr{}
			changed = true
		}
		if e.onLinkUntil != 0 && e.onLinkUntil <= now {
			e.onLinkUntil = 0
			changed = true
		}
		if e.failed && e.onLinkUntil == 0 && e.valid <= now {
			e.failed = false
		}
		h.gcPrefix(i, now)
	}
	nd := len(h.dns)
	h.dns = slices.DeleteFunc(h.dns, func(t timedAddr) bool { return t.until <= now })
	nn := len(h.domains)
	h.domains = slices.DeleteFunc(h.domains, func(t timedName) bool { return t.until <= now })
	changed = changed || nd != len(h.dns) || nn != len(h.domains)
	if h.soliciting && now >= h.nextRS {
		if f, err := h.solicitation(src); err == nil {
			out = append(out, f)
			h.cnt.Solicitations++
		}
		h.sent++
		if h.sent < MaxRtrSolicitations {
			h.nextRS = now + RtrSolicitationInterval
		} else {
			// RFC 7559: keep trying, doubling up to an hour, ±10%.
			if h.rsBackoff == 0 {
				h.rsBackoff = RtrSolicitationInterval
			}
			h.rsBackoff = min(2*h.rsBackoff, MaxRtrSolicitationRT)
			jitter := time.Duration(h.rng.Int64N(int64(h.rsBackoff/5)+1)) - h.rsBackoff/10
			h.nextRS = now + h.rsBackoff + jitter
		}
	}
	return out, changed
}

func (h *Host) solicitation(src netip.Addr) ([]byte, error) {
	m := &ndp.RouterSolicitation{}
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	if !src.IsUnspecified() {
		m.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: h.cfg.MAC[:]}}
	}
	dst := netip.MustParseAddr("ff02::2")
	return ndp6.Marshal(ndp6.MulticastMAC(dst), h.cfg.MAC, src, dst, m)
}

// State returns what the host knows at now.
func (h *Host) State(now time.Duration) State {
	var s State
	best := -1
	for i, r := range h.routers {
		if r.Until <= now {
			continue
		}
		s.Routers = append(s.Routers, r.RouterInfo)
		if best < 0 || r.Preference > h.routers[best].Preference {
			best = i
		}
	}
	if best >= 0 {
		r := h.routers[best]
		s.Router, s.RouterMAC, s.RouterLifetimeEnd = r.Addr, r.MAC, r.Until
		s.Managed, s.Other, s.MTU = r.Managed, r.Other, r.mtu
		s.ReachableTime, s.RetransTimer = r.reachable, r.retrans
	}
	for _, e := range h.prefixes {
		if e.onLinkUntil > now {
			s.OnLink = append(s.OnLink, e.prefix)
		}
		if e.addr.IsValid() && e.valid > now {
			s.Addresses = append(s.Addresses, Addr{Prefix: e.prefix, Addr: e.addr, PreferredUntil: e.pref, ValidUntil: e.valid})
		}
	}
	for _, d := range h.dns {
		if d.until > now {
			s.DNS = append(s.DNS, d.a)
		}
	}
	for _, d := range h.domains {
		if d.until > now {
			s.Domains = append(s.Domains, d.n)
		}
	}
	return s
}
