package dhcpv6

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Limits on what the client accepts from a server. A server is trusted to
// delegate a prefix, not to make the router route the world to its LAN,
// renumber it every few seconds or make it allocate without bound.
const (
	// MinPrefixLength and MaxPrefixLength bound the delegated prefix
	// length accepted (RFC 7084 WPD-3: whatever size the server gives, in
	// this range). Longer than /64 leaves no room for SLAAC on the LAN;
	// shorter than /32 is no household's.
	MinPrefixLength = 32
	MaxPrefixLength = 64
	// DefaultPrefixLength is the prefix length hint sent when
	// Config.PrefixLength is 0 (a /56, 256 LANs, what most ISPs delegate).
	DefaultPrefixLength = 56
	// MinHintLength and MaxHintLength bound Config.PrefixLength.
	MinHintLength = 48
	MaxHintLength = 64
	// MinLifetime is the least valid lifetime a prefix is taken with: a
	// shorter one (but not 0) is treated as a withdrawal, so no server can
	// make the client renumber the LAN every few seconds.
	MinLifetime = 30 * time.Second
	// MaxLifetime caps lifetimes, T1 and T2, the infinite lifetime
	// (0xffffffff) included: the client then renews earlier than the
	// server needs, which is harmless, and its timers stay bounded.
	MaxLifetime = 7 * 24 * time.Hour
	// MinRenewTime is the least T1 and T2 used, whatever the server says.
	MinRenewTime = 10 * time.Second
	// MaxDNS and MaxDomains bound the DNS servers and search domains kept
	// from a reply; extra ones are ignored.
	MaxDNS     = 8
	MaxDomains = 8
	// maxIAItems bounds the prefixes (or addresses) looked at in one IA.
	maxIAItems = 8
)

// Lease is what the client holds: a delegated prefix (IA_PD) and, when
// Config.RequestAddress is set and the server gave one, a WAN address
// (IA_NA). Lifetimes and timers count from Obtained.
type Lease struct {
	// Prefix is the delegated prefix, MinPrefixLength..MaxPrefixLength
	// bits, global unicast (2000::/3) or unique local (fc00::/7).
	Prefix netip.Prefix
	// PreferredLifetime and ValidLifetime of Prefix, at most MaxLifetime.
	PreferredLifetime, ValidLifetime time.Duration
	// Address is the WAN address from IA_NA; the zero Addr if none.
	Address netip.Addr
	// AddressPreferred and AddressValid are the address's lifetimes.
	AddressPreferred, AddressValid time.Duration
	// T1 and T2 are when the client renews (with its server) and rebinds
	// (with any server), MinRenewTime ≤ T1 ≤ T2 < ValidLifetime.
	T1, T2 time.Duration
	// DNS servers (OPTION_DNS_SERVERS) in the server's order, at most
	// MaxDNS, global or unique-local unicast only.
	DNS []netip.Addr
	// Domains is the domain search list (OPTION_DOMAIN_LIST), at most
	// MaxDomains names, without the trailing dot.
	Domains []string
	// ServerID is the server's DUID; Server is the IPv6 address the
	// server's Reply came from (its link-local address, or a relay's).
	ServerID []byte
	Server   netip.Addr
	// Obtained is when the lease was granted: when the client last sent
	// the message that the Reply answers, on the client's clock.
	Obtained time.Time
}

// Expiry is when the prefix stops being valid.
func (l Lease) Expiry() time.Time { return l.Obtained.Add(l.ValidLifetime) }

// PreferredUntil is when the prefix stops being preferred.
func (l Lease) PreferredUntil() time.Time { return l.Obtained.Add(l.PreferredLifetime) }

func (l Lease) clone() Lease {
	l.DNS = slices.Clone(l.DNS)
	l.Domains = slices.Clone(l.Domains)
	l.ServerID = slices.Clone(l.ServerID)
	return l
}

// String is a one-line summary for logs.
func (l Lease) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v preferred %v valid %v", l.Prefix, l.PreferredLifetime, l.ValidLifetime)
	if l.Address.IsValid() {
		fmt.Fprintf(&b, " address %v", l.Address)
	}
	if len(l.DNS) > 0 {
		fmt.Fprintf(&b, " dns %v", l.DNS)
	}
	if len(l.Domains) > 0 {
		fmt.Fprintf(&b, " domains %v", l.Domains)
	}
	fmt.Fprintf(&b, " t1 %v t2 %v from %v", l.T1, l.T2, l.Server)
	return b.String()
}

// Event is what the client reports: PrefixAcquired, PrefixRenewed,
// PrefixChanged or PrefixLost, in order, from Run's goroutine.
type Event interface{ dhcpv6Event() }

// PrefixAcquired: the client holds a prefix after holding none (the first
// of a run, or a new one after PrefixLost). routerd numbers the LAN from
// it.
type PrefixAcquired struct{ Lease }

// PrefixRenewed: the lease was extended and the prefix is the same. Other
// fields (lifetimes, address, DNS, domains, server) may have changed;
// flows stay valid.
type PrefixRenewed struct{ Lease }

// PrefixChanged: the server replaced the prefix without it being lost
// first (a renewal or rebind that returned another prefix, or a restart
// that found the remembered prefix replaced). Lease is the new one and Old
// the one it replaces: routerd numbers the LAN from the new prefix,
// deprecates the old one there (preferred lifetime 0, RFC 7084 L-13) and
// flushes the flows of addresses in it.
type PrefixChanged struct {
	Lease
	Old Lease
}

// PrefixLost: the client holds no prefix any more; Lease is the one lost.
// The client keeps trying to get a new one (PrefixAcquired follows),
// except after LostReleased, which is the last event of Run.
type PrefixLost struct {
	Lease
	Reason LostReason
}

func (PrefixAcquired) dhcpv6Event() {}
func (PrefixRenewed) dhcpv6Event()  {}
func (PrefixChanged) dhcpv6Event()  {}
func (PrefixLost) dhcpv6Event()     {}

// LostReason says why a prefix was lost.
type LostReason int

const (
	// LostExpired: no server extended the lease before it ran out.
	LostExpired LostReason = iota + 1
	// LostWithdrawn: the server withdrew the prefix (valid lifetime 0 or
	// below MinLifetime in a renewal) or refused to extend it (no prefix
	// in answer to a Request after NoBinding).
	LostWithdrawn
	// LostReleased: the client released it on shutdown
	// (Config.ReleaseOnStop).
	LostReleased
)

func (r LostReason) String() string {
	switch r {
	case LostExpired:
		return "expired"
	case LostWithdrawn:
		return "withdrawn by the server"
	case LostReleased:
		return "released"
	}
	return fmt.Sprintf("LostReason(%d)", int(r))
}

// usablePrefix reports why p cannot be a delegated prefix, or nil.
func usablePrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "":
		return fmt.Errorf("%v is not an IPv6 prefix", p)
	case p.Bits() < MinPrefixLength || p.Bits() > MaxPrefixLength:
		return fmt.Errorf("prefix length /%d is outside /%d../%d", p.Bits(), MinPrefixLength, MaxPrefixLength)
	case p.Masked() != p:
		return fmt.Errorf("%v has bits set past its length", p)
	case !globalOrULA(p.Addr()):
		return fmt.Errorf("%v is neither global unicast (2000::/3) nor unique local (fc00::/7)", p)
	}
	return nil
}

// globalOrULA reports whether a is in 2000::/3 or fc00::/7: the unicast
// space an ISP (or an upstream router, for unique local) delegates from.
// Link-local, multicast, loopback, unspecified, IPv4-mapped and the
// reserved ::/3 are not.
func globalOrULA(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	return b[0]&0xe0 == 0x20 || b[0]&0xfe == 0xfc
}
