package nat

import "github.com/passgate/passgate/pkg/packet"

// Reason says why the engine dropped a packet.
type Reason uint8

const (
	ReasonNone             Reason = iota
	ReasonIPv4Truncated           // shorter than an IPv4 header
	ReasonIPv4Version             // not IPv4
	ReasonIPv4HeaderLen           // impossible header length
	ReasonIPv4TotalLen            // total length beyond the buffer or below the header
	ReasonIPv4Checksum            // bad header checksum
	ReasonTruncated               // transport header truncated
	ReasonNotForUs                // inbound, not addressed to the external address
	ReasonNoWAN                   // no external address yet
	ReasonSpoofedSource           // outbound source outside the LAN subnet
	ReasonLANToLAN                // destination on the LAN itself
	ReasonMartian                 // loopback, multicast, zero or broadcast address
	ReasonProtocol                // IP protocol not translated
	ReasonNoMapping               // inbound, no mapping, forward or DMZ
	ReasonFiltered                // inbound, refused by the filtering behaviour
	ReasonUnsolicitedSYN          // inbound SYN held per RFC 5382 REQ-4
	ReasonNoSession               // packet cannot open a session (RST, reply without request)
	ReasonTableFull               // session table full and nothing evictable
	ReasonHostLimit               // the LAN host reached its session limit
	ReasonPortsExhausted          // no free external port in the range
	ReasonHairpinDisabled         // hairpin traffic while hairpinning is off
	ReasonTTL                     // TTL expired where no ICMP error is sent
	ReasonICMPBad                 // ICMP error with a bad checksum or embedded header
	ReasonICMPNoMatch             // ICMP error that refers to no mapping
	ReasonICMPType                // ICMP type the NAT does not pass
	ReasonFragment                // fragment without state and no room to hold it
	ReasonBlocked                 // blocked by a passthrough switch
	ReasonLANSourceFromWAN        // inbound with a source inside the LAN prefix (ingress filtering)
	ReasonSourceRoute             // loose or strict source route option (RFC 7126)
	ReasonInboundLimit            // the LAN host reached its limit of sessions opened from the WAN
	ReasonFirewall                // a firewall rule dropped the new connection
	ReasonFirewallReject          // a firewall rule rejected the new connection
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "ipv4-truncated", "ipv4-version", "ipv4-header-length", "ipv4-total-length", "ipv4-checksum",
	"l4-truncated", "not-for-us", "no-wan-address", "spoofed-source", "lan-to-lan", "martian",
	"protocol", "no-mapping", "filtered", "unsolicited-syn", "no-session", "table-full",
	"host-limit", "ports-exhausted", "hairpin-disabled", "ttl", "icmp-bad", "icmp-no-match",
	"icmp-type", "fragment", "blocked", "lan-source-from-wan", "source-route", "inbound-limit",
	"firewall-drop", "firewall-reject",
}

func (r Reason) String() string { return reasonNames[r] }

func ipv4Reason(e packet.IPv4Error) Reason {
	switch e {
	case packet.IPv4Truncated:
		return ReasonIPv4Truncated
	case packet.IPv4BadVersion:
		return ReasonIPv4Version
	case packet.IPv4BadHeaderLen:
		return ReasonIPv4HeaderLen
	case packet.IPv4BadTotalLen:
		return ReasonIPv4TotalLen
	}
	return ReasonIPv4Checksum
}

// Counters are the engine's cumulative counters.
type Counters struct {
	Verdicts        [numVerdicts]uint64 // packets by verdict
	Drops           [NumReasons]uint64  // dropped packets by reason
	SessionsCreated uint64
	SessionsExpired uint64
	SessionsEvicted uint64
	FragmentsHeld   uint64
	ICMPErrorsSent  uint64
	Offloaded       uint64 // packets the kernel forwarded for offloaded sessions (offload.go)
	Sessions        int    // current
	Mappings        int    // current
}

// Counters returns a snapshot of the counters.
func (e *Engine) Counters() Counters {
	c := e.cnt
	c.Sessions = int(e.t.count)
	c.Mappings = len(e.t.maps) - len(e.t.mapFree)
	return c
}
