package fw6

import "github.com/passgate/passgate/pkg/packet"

// Reason says why the engine did not forward a packet. A packet answered
// with an ICMPv6 error (verdict Reply) carries the reason too.
type Reason uint8

const (
	ReasonNone             Reason = iota
	ReasonIPv6Truncated           // shorter than an IPv6 header
	ReasonIPv6Version             // not IPv6
	ReasonIPv6Length              // payload length beyond the buffer, or a jumbogram
	ReasonExtHeader               // extension header truncated, or hop-by-hop not first
	ReasonExtTooMany              // more than packet.MaxExtHeaders extension headers (RFC 8883)
	ReasonExtTooLong              // upper-layer header beyond packet.MaxHeaderChain bytes (RFC 8883)
	ReasonRoutingType0            // type 0 routing header (RFC 5095, RFC 6092 REC-4)
	ReasonFragmentChain           // first fragment without the whole header chain (RFC 7112)
	ReasonFragment                // later fragment whose first fragment was not forwarded
	ReasonTruncated               // upper-layer header truncated
	ReasonMartianSource           // source multicast, unspecified, loopback or reserved (REC-1, REC-3)
	ReasonMartianDest             // destination unspecified, loopback or reserved (REC-3)
	ReasonLinkLocal               // link-local source or destination is never forwarded
	ReasonMulticast               // multicast is not forwarded (REC-2)
	ReasonULA                     // unique local address across the site border (REC-7, RFC 7084 ULA-4)
	ReasonSpoofedSource           // LAN source outside the LAN prefixes (REC-5, RFC 7084 L-14), or the router's own
	ReasonLANSourceFromWAN        // WAN packet from the delegated or LAN prefixes (REC-6)
	ReasonLANToLAN                // LAN packet to the LAN itself
	ReasonUnassigned              // destination in a delegated prefix not assigned to the LAN (RFC 7084 WPD-5)
	ReasonNoPrefix                // no global LAN prefix yet (RFC 7084 G-3)
	ReasonNotForUs                // WAN packet to an address that is not on the LAN or the router's
	ReasonHopLimit                // hop limit exhausted (RFC 4443 §3.3)
	ReasonTooBig                  // larger than the egress MTU (RFC 4443 §3.2)
	ReasonNoSession               // unsolicited inbound packet (RFC 6092 simple security)
	ReasonUnsolicitedSYN          // unsolicited inbound TCP SYN or SCTP INIT, held for REC-34 and REC-39
	ReasonSelfClosed              // to the router from the WAN: nothing open there (REC-8, REC-50)
	ReasonICMPType                // ICMPv6 type not forwarded (RFC 4890)
	ReasonICMPBad                 // ICMPv6 error too short to name the packet it quotes
	ReasonICMPNoMatch             // ICMPv6 error about no tracked flow (REC-10)
	ReasonBlocked                 // a passthrough switch is off
	ReasonTableFull               // session table full and nothing evictable
	ReasonHostLimit               // the LAN host reached its session limit
	ReasonInboundLimit            // the LAN host reached its limit of sessions opened from the WAN
	ReasonFirewall                // a firewall rule dropped the new connection
	ReasonFirewallReject          // a firewall rule rejected the new connection
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "ipv6-truncated", "ipv6-version", "ipv6-length", "ext-header", "ext-too-many", "ext-too-long",
	"routing-type0", "fragment-chain", "fragment", "l4-truncated", "martian-source", "martian-destination",
	"link-local", "multicast", "ula-boundary", "spoofed-source", "lan-source-from-wan", "lan-to-lan",
	"unassigned-prefix", "no-prefix", "not-for-us", "hop-limit", "too-big", "no-session", "unsolicited-syn",
	"self-closed", "icmp-type", "icmp-bad", "icmp-no-match", "blocked", "table-full", "host-limit",
	"inbound-limit", "firewall-drop", "firewall-reject",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason?"
}

func ipv6Reason(e packet.IPv6Error) Reason {
	switch e {
	case packet.IPv6Truncated:
		return ReasonIPv6Truncated
	case packet.IPv6BadVersion:
		return ReasonIPv6Version
	}
	return ReasonIPv6Length
}

// BlockedCounters count packets a passthrough switch refused, per switch.
type BlockedCounters struct {
	PPTP, L2TP, IPsec uint64
}

// Counters are the engine's cumulative counters.
type Counters struct {
	Verdicts [numVerdicts]uint64 // packets by verdict
	// Drops counts packets not forwarded by reason, those answered with
	// an ICMPv6 error (verdict Reply) included.
	Drops              [NumReasons]uint64
	Blocked            BlockedCounters
	SessionsCreated    uint64
	SessionsExpired    uint64
	SessionsEvicted    uint64
	ICMPErrorsSent     uint64 // built by the engine (Reply verdicts and Tick's)
	ICMPErrorsLimited  uint64 // not sent: rate limit (RFC 4443 §2.4 (f))
	FragmentsForwarded uint64 // later fragments forwarded by their first fragment's state
	Sessions           int    // current
}

// Counters returns a snapshot of the counters.
func (e *Engine) Counters() Counters {
	c := e.cnt
	c.Sessions = int(e.t.count)
	return c
}
