// Package fw6 is routerd's IPv6 forwarding engine: the forwarding duties of
// an IPv6 router (hop limit, ICMPv6 errors with rate limiting, Packet Too
// Big instead of fragmentation, MSS clamping, no forwarding of link-local,
// multicast, documentation or other special addresses, source address
// validation on both sides) and the stateful "simple security" firewall of
// RFC 6092 with RFC 4890 ICMPv6 filtering, the VPN passthrough switches and
// inbound allow rules. There is no address translation.
//
// The engine is pure, like pkg/nat's: Process takes an IPv6 packet and the
// side it arrived on, may decrement its hop limit and clamp a TCP MSS in
// place, and returns a verdict. It does no I/O, reads no clock (Tick tells
// it the time) and does not log. It is not safe for concurrent use: its
// owner (the data plane) serialises every call, including the read-only
// listings.
package fw6

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// Filtering is how an inbound packet that matches no session but is
// addressed to a LAN host's endpoint with live sessions is treated (RFC
// 6092 REC-11, REC-17, REC-33; the terms are RFC 4787's).
type Filtering uint8

const (
	// EndpointIndependent admits it from any remote address.
	EndpointIndependent Filtering = iota
	// AddressDependent admits it only from a remote address the LAN host's
	// endpoint has a session with (any remote port).
	AddressDependent
)

var filteringNames = [...]string{"endpoint-independent", "address-dependent"}

func (f Filtering) String() string {
	if int(f) < len(filteringNames) {
		return filteringNames[f]
	}
	return fmt.Sprintf("filtering(%d)", f)
}

// Timeouts are the idle timeouts of sessions.
type Timeouts struct {
	UDP            time.Duration // RFC 6092 REC-14: ≥ 2 min, default 5 min (UDP-Lite too, REC-20)
	TCPEstablished time.Duration // REC-35: ≥ 2 h 4 min; SCTP and DCCP use it too (REC-40, REC-44)
	TCPTransitory  time.Duration // REC-35: ≥ 4 min, also after RST
	ICMP           time.Duration // echo sessions
	Other          time.Duration // other upper-layer protocols, ESP, GRE (REC-12: ≥ 2 min, default 5 min)
}

// AllowRule admits unsolicited inbound TCP or UDP to a LAN host: the IPv6
// counterpart of a port forward (`set firewall ipv6 allow NAME protocol
// tcp port 22 to HOST`). It is evaluated when a flow is created.
type AllowRule struct {
	Name      string
	Proto     uint8 // packet.ProtoTCP or packet.ProtoUDP
	PortStart uint16
	PortEnd   uint16     // inclusive; equal to PortStart for one port
	Host      netip.Addr // the LAN host (a /128)
}

// Passthrough are the VPN passthrough switches, shared with IPv4
// (pkg/nat/passthrough): a protocol switched off is blocked in both
// directions and counted.
type Passthrough struct {
	PPTP  bool // TCP 1723 and GRE
	L2TP  bool // UDP 1701
	IPsec bool // ESP, AH, IKE on UDP 500 and 4500
}

// MSSAuto clamps the TCP MSS to what the smaller of the WAN and LAN MTUs
// allows: MTU − 60 (IPv6 header 40, TCP header 20).
const MSSAuto = -1

// Limits on the configuration.
const (
	MaxAllowRules  = 128
	MaxPrefixes    = 8
	MaxRouterAddrs = 8
)

// Config is the engine's configuration. The zero value is not usable;
// start from DefaultConfig.
type Config struct {
	Filtering Filtering
	Timeouts  Timeouts
	LANMTU    int
	WANMTU    int
	MSSClamp  int // 0 = off, MSSAuto, or a value

	Allow       []AllowRule
	Passthrough Passthrough
	// InboundIPsec admits unsolicited ESP and IKE (UDP 500 and 4500) to LAN
	// hosts, as RFC 6092 REC-22 and REC-24 ask of the default mode. Off,
	// only IPsec flows a LAN host opened pass. No effect while the ipsec
	// switch is off.
	InboundIPsec bool
	// InboundHIP admits unsolicited HIP (RFC 6092 REC-26: the default mode
	// must not prohibit it).
	InboundHIP bool
	// InboundPing admits echo requests to LAN hosts (RFC 4890 §4.3.1:
	// connectivity checking is not to be dropped).
	InboundPing bool
	// IgnorePing hands no echo request from the WAN to the router itself.
	IgnorePing bool
	// Transparent forwards all unsolicited inbound flows (RFC 6092 REC-49's
	// "transparent mode"); sessions are still tracked and counted.
	Transparent bool
	// UnsolicitedSYNSilent drops unsolicited inbound TCP SYNs and SCTP
	// INITs without the ICMPv6 "administratively prohibited" that REC-34
	// and REC-39 ask for after 6 s.
	UnsolicitedSYNSilent bool

	// ICMPv6 errors the router sends are rate limited by a token bucket
	// (RFC 4443 §2.4 (f)): ICMPErrorRate per second, bursts of
	// ICMPErrorBurst. Packet Too Big has a bucket of its own with the same
	// parameters, so a flood that provokes other errors cannot starve
	// path-MTU discovery.
	ICMPErrorRate  int
	ICMPErrorBurst int

	MaxSessions        int // table size
	MaxSessionsPerHost int // 0 = MaxSessions/4

	Seed uint64 // hash seed; 0 is fine in tests only
}

// DefaultConfig returns the RFC-conformant defaults.
func DefaultConfig() Config {
	return Config{
		Filtering: AddressDependent,
		Timeouts: Timeouts{
			UDP:            300 * time.Second,
			TCPEstablished: 7440 * time.Second,
			TCPTransitory:  240 * time.Second,
			ICMP:           60 * time.Second,
			Other:          300 * time.Second,
		},
		LANMTU:         1500,
		WANMTU:         1500,
		MSSClamp:       MSSAuto,
		Passthrough:    Passthrough{PPTP: true, L2TP: true, IPsec: true},
		InboundIPsec:   true,
		InboundHIP:     true,
		InboundPing:    true,
		ICMPErrorRate:  100,
		ICMPErrorBurst: 50,
		MaxSessions:    65536,
	}
}

// BytesPerSession is the table memory one session costs at full load: the
// 88-byte record plus its slots in the two uint32 indexes at load ≤ 0.5.
const BytesPerSession = 88 + 2*2*4

func (c *Config) validate() error {
	if c.Filtering > AddressDependent {
		return fmt.Errorf("fw6: filtering %v is not endpoint-independent or address-dependent", c.Filtering)
	}
	if c.WANMTU < packet.IPv6MinMTU || c.LANMTU < packet.IPv6MinMTU || c.WANMTU > 9216 || c.LANMTU > 9216 {
		return fmt.Errorf("fw6: MTU wan %d lan %d out of range 1280..9216 (IPv6 links carry at least 1280 bytes)", c.WANMTU, c.LANMTU)
	}
	if c.MSSClamp < MSSAuto || c.MSSClamp > 65535 || (c.MSSClamp > 0 && c.MSSClamp < 536) {
		return fmt.Errorf("fw6: MSS clamp %d is not off (0), auto or 536..65535", c.MSSClamp)
	}
	if c.MaxSessions < 16 || c.MaxSessions > 1<<26 {
		return fmt.Errorf("fw6: max sessions %d is not within 16..%d", c.MaxSessions, 1<<26)
	}
	if c.MaxSessionsPerHost < 0 {
		return fmt.Errorf("fw6: max sessions per host %d is negative", c.MaxSessionsPerHost)
	}
	for _, m := range []struct {
		name string
		d    time.Duration
		min  time.Duration
		why  string
	}{
		{"udp", c.Timeouts.UDP, 120 * time.Second, "RFC 6092 REC-14"},
		{"tcp established", c.Timeouts.TCPEstablished, 7440 * time.Second, "RFC 6092 REC-35"},
		{"tcp transitory", c.Timeouts.TCPTransitory, 240 * time.Second, "RFC 6092 REC-35"},
		{"icmp", c.Timeouts.ICMP, time.Second, "a second"},
		{"other", c.Timeouts.Other, 120 * time.Second, "RFC 6092 REC-12"},
	} {
		if m.d < m.min {
			return fmt.Errorf("fw6: %s timeout %v is below %v (%s)", m.name, m.d, m.min, m.why)
		}
	}
	if c.ICMPErrorRate < 1 || c.ICMPErrorRate > 100000 || c.ICMPErrorBurst < 1 || c.ICMPErrorBurst > 10000 {
		return fmt.Errorf("fw6: ICMPv6 error rate %d/s burst %d out of range 1..100000 and 1..10000", c.ICMPErrorRate, c.ICMPErrorBurst)
	}
	if len(c.Allow) > MaxAllowRules {
		return fmt.Errorf("fw6: %d allow rules; at most %d", len(c.Allow), MaxAllowRules)
	}
	for _, r := range c.Allow {
		if r.Proto != packet.ProtoTCP && r.Proto != packet.ProtoUDP {
			return fmt.Errorf("fw6: allow rule %q: protocol %d is not tcp or udp", r.Name, r.Proto)
		}
		if r.PortStart == 0 || r.PortEnd < r.PortStart {
			return fmt.Errorf("fw6: allow rule %q: port range %d-%d is not within 1..65535 with start ≤ end", r.Name, r.PortStart, r.PortEnd)
		}
		if !r.Host.Is6() || r.Host.Is4In6() || r.Host.Zone() != "" {
			return fmt.Errorf("fw6: allow rule %q: host %v is not an IPv6 address", r.Name, r.Host)
		}
		if cl := classify(fromNetip(r.Host)); cl != clGlobal && cl != clULA {
			return fmt.Errorf("fw6: allow rule %q: host %v is not a global or unique local unicast address", r.Name, r.Host)
		}
	}
	return nil
}

// Addresses are the prefixes and the router's own addresses the engine
// forwards for. They change at run time (prefix delegation, SLAAC on the
// WAN) and are set with SetAddresses.
type Addresses struct {
	// Delegated are the prefixes delegated to the router (IA_PD, e.g. a
	// /56). Destinations inside them but outside LAN are dropped (RFC 7084
	// WPD-5), and no WAN packet may come from them.
	Delegated []netip.Prefix
	// LAN are the prefixes assigned to the LAN link: /64s from the
	// delegated prefixes and the ULA /64. LAN sources must be in them.
	LAN []netip.Prefix
	// RouterLAN and RouterWAN are the router's own addresses on each
	// side, link-local ones included.
	RouterLAN []netip.Addr
	RouterWAN []netip.Addr
}

func (a *Addresses) validate() error {
	if len(a.Delegated) > MaxPrefixes || len(a.LAN) > MaxPrefixes {
		return fmt.Errorf("fw6: %d delegated and %d LAN prefixes; at most %d each", len(a.Delegated), len(a.LAN), MaxPrefixes)
	}
	if len(a.RouterLAN) > MaxRouterAddrs || len(a.RouterWAN) > MaxRouterAddrs {
		return fmt.Errorf("fw6: %d LAN and %d WAN router addresses; at most %d each", len(a.RouterLAN), len(a.RouterWAN), MaxRouterAddrs)
	}
	for _, set := range [][]netip.Prefix{a.Delegated, a.LAN} {
		for _, p := range set {
			if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				return fmt.Errorf("fw6: prefix %v is not an IPv6 prefix", p)
			}
			if cl := classify(fromNetip(p.Masked().Addr())); p.Bits() < 8 || (cl != clGlobal && cl != clULA) {
				return fmt.Errorf("fw6: prefix %v is not a global or unique local unicast prefix of length 8..128", p)
			}
		}
	}
	for _, set := range [][]netip.Addr{a.RouterLAN, a.RouterWAN} {
		for _, r := range set {
			if !r.Is6() || r.Is4In6() {
				return fmt.Errorf("fw6: router address %v is not an IPv6 address", r)
			}
			if cl := classify(fromNetip(r)); cl != clGlobal && cl != clULA && cl != clLinkLocal {
				return fmt.Errorf("fw6: router address %v is not a unicast address", r)
			}
		}
	}
	return nil
}
