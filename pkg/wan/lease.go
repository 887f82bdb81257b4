package wan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Lease is the WAN addressing in force: from a DHCP server or from the
// static configuration.
type Lease struct {
	// Addr is the WAN address and the length of its subnet.
	Addr netip.Prefix
	// Gateway is the default gateway (the first usable address of DHCP
	// option 3); the zero Addr if the server gave none.
	Gateway netip.Addr
	// DNS servers (option 6), in the server's order; at most MaxDNS.
	DNS []netip.Addr
	// MTU is the interface MTU the server asked for (option 26), 0 if none
	// or out of range. routerd clamps it to the port's MTU.
	MTU int
	// LeaseTime is how long the lease lasts from Obtained; 0 for a static
	// lease, which never expires. A DHCP lease time above MaxLeaseTime
	// (including the "infinite" lease) is taken as MaxLeaseTime.
	LeaseTime time.Duration
	// T1 and T2 are the renewal and rebinding times, from Obtained.
	T1, T2 time.Duration
	// Server is the DHCP server's identifier (option 54); zero for static.
	Server netip.Addr
	// Obtained is when the lease started: for DHCP, when the REQUEST that
	// the ACK answers was sent (RFC 2131 §4.4.1), on the client's clock.
	Obtained time.Time
}

// Expiry returns when the lease ends; the zero Time for a static lease.
func (l Lease) Expiry() time.Time {
	if l.LeaseTime == 0 {
		return time.Time{}
	}
	return l.Obtained.Add(l.LeaseTime)
}

func (l Lease) clone() Lease {
	l.DNS = slices.Clone(l.DNS)
	return l
}

// String is a one-line summary for logs.
func (l Lease) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v", l.Addr)
	if l.Gateway.IsValid() {
		fmt.Fprintf(&b, " gateway %v", l.Gateway)
	}
	if len(l.DNS) > 0 {
		fmt.Fprintf(&b, " dns %v", l.DNS)
	}
	if l.MTU != 0 {
		fmt.Fprintf(&b, " mtu %d", l.MTU)
	}
	if l.Server.IsValid() {
		fmt.Fprintf(&b, " server %v lease %v", l.Server, l.LeaseTime)
	}
	return b.String()
}

// Event is what a WAN mode reports to routerd: LeaseAcquired, LeaseRenewed,
// LeaseChanged or LeaseLost.
type Event interface{ wanEvent() }

// LeaseAcquired: the WAN has an address after having none (first lease,
// or a new one after LeaseLost). Static mode sends exactly one.
type LeaseAcquired struct{ Lease }

// LeaseRenewed: the lease was extended (RENEWING or REBINDING) and the
// address is the same. Other fields (gateway, DNS, MTU, server, subnet
// length) may have changed; routerd updates what it uses of them. NAT
// flows stay valid.
type LeaseRenewed struct{ Lease }

// LeaseChanged: a renewal (or REBINDING to another server) gave a different
// address without the lease being lost first. Lease is the new one and Old
// the one it replaces; routerd moves the NAT to the new address and flushes
// the flows on the old one.
type LeaseChanged struct {
	Lease
	Old Lease
}

// LeaseLost: the WAN has no address any more; Lease is the one lost. The
// client keeps trying to get a new one (LeaseAcquired follows), except
// after LostReleased, which is the last event of Run.
type LeaseLost struct {
	Lease
	Reason LostReason
}

func (LeaseAcquired) wanEvent() {}
func (LeaseRenewed) wanEvent()  {}
func (LeaseChanged) wanEvent()  {}
func (LeaseLost) wanEvent()     {}

// LostReason says why a lease was lost.
type LostReason int

const (
	// LostExpired: no server extended the lease before it ran out.
	LostExpired LostReason = iota + 1
	// LostNAK: the server refused the renewal (DHCPNAK).
	LostNAK
	// LostReleased: the client released it on shutdown (ReleaseOnStop).
	LostReleased
	// LostSessionEnded: the PPPoE session ended (PADT, LCP terminate,
	// echo failure); PPPoEStatus.LastFailure says why.
	LostSessionEnded
)

func (r LostReason) String() string {
	switch r {
	case LostExpired:
		return "expired"
	case LostNAK:
		return "refused by server (NAK)"
	case LostReleased:
		return "released"
	case LostSessionEnded:
		return "PPPoE session ended"
	}
	return fmt.Sprintf("LostReason(%d)", int(r))
}

// Mode is a way of getting the WAN address: *DHCP or Static. Run reports
// events to emit, in order and from one goroutine, until ctx is done; it
// returns nil then, or an error at once if the mode is misconfigured.
type Mode interface {
	Run(ctx context.Context, emit func(Event)) error
}

// MaxDNS is the most DNS servers a lease carries; a server's extra ones are
// ignored.
const MaxDNS = 8

// Static is the static WAN mode: a fixed address, gateway and DNS servers.
type Static struct {
	Address netip.Prefix // e.g. 203.0.113.2/24
	Gateway netip.Addr   // optional; must lie in Address's subnet
	DNS     []netip.Addr
	MTU     int // 0: the port's own
}

// Validate reports the first problem with s, naming the field.
func (s Static) Validate() error {
	if err := checkPrefix(s.Address); err != nil {
		return fmt.Errorf("wan: static address %v: %w", s.Address, err)
	}
	if s.Gateway.IsValid() {
		switch {
		case !usableUnicast(s.Gateway):
			return fmt.Errorf("wan: static gateway %v is not a unicast address", s.Gateway)
		case s.Gateway == s.Address.Addr():
			return fmt.Errorf("wan: static gateway %v is the WAN address itself", s.Gateway)
		case !s.Address.Contains(s.Gateway) && s.Address.Bits() < 32:
			return fmt.Errorf("wan: static gateway %v is outside %v", s.Gateway, s.Address.Masked())
		}
	}
	if len(s.DNS) > MaxDNS {
		return fmt.Errorf("wan: %d static DNS servers, at most %d", len(s.DNS), MaxDNS)
	}
	for _, d := range s.DNS {
		if !usableUnicast(d) {
			return fmt.Errorf("wan: static DNS server %v is not a unicast address", d)
		}
	}
	if s.MTU != 0 && (s.MTU < MinMTU || s.MTU > MaxMTU) {
		return fmt.Errorf("wan: static MTU %d outside %d..%d", s.MTU, MinMTU, MaxMTU)
	}
	return nil
}

// Lease returns the lease s stands for.
func (s Static) Lease() Lease {
	return Lease{Addr: s.Address, Gateway: s.Gateway, DNS: slices.Clone(s.DNS), MTU: s.MTU}
}

// Run validates s, emits one LeaseAcquired and waits for ctx to be done.
func (s Static) Run(ctx context.Context, emit func(Event)) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if emit != nil {
		emit(LeaseAcquired{s.Lease()})
	}
	<-ctx.Done()
	return nil
}

// MTU bounds accepted from a server (option 26) or the configuration.
const (
	MinMTU = 576
	MaxMTU = 65535
)

var (
	errNotUnicast  = errors.New("not a usable unicast address")
	errBadLength   = errors.New("bad subnet length")
	errSubnetEdges = errors.New("is the subnet's network or broadcast address")
)

// checkPrefix reports whether p is a usable host address with a subnet.
func checkPrefix(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() {
		return errNotUnicast
	}
	if p.Bits() < 1 || p.Bits() > 32 {
		return errBadLength
	}
	a := p.Addr()
	if !usableUnicast(a) {
		return errNotUnicast
	}
	if p.Bits() <= 30 {
		host := ^uint32(0) >> p.Bits()
		v := be32(a)
		if v&host == 0 || v&host == host {
			return errSubnetEdges
		}
	}
	return nil
}

// usableUnicast reports whether a can be a host's IPv4 address: not
// unspecified, "this network" (0/8), loopback, link-local, multicast,
// reserved (240/4) or the limited broadcast.
func usableUnicast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	switch {
	case b[0] == 0, b[0] == 127, b[0] >= 224:
		return false
	case a.IsLinkLocalUnicast():
		return false
	}
	return true
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

var (
	_ Mode      = (*DHCP)(nil)
	_ Mode      = Static{}
	_ Transport = (*FrameConn)(nil)
)
