// Package nat is passgate's NAPT engine: endpoint-independent mapping,
// configurable filtering, hairpinning, RFC 7857 TCP state tracking, ICMP
// query and error translation, fragment handling, port forwards, DMZ, MSS
// clamping and the forwarding duties of a router (TTL, MTU).
//
// The engine is pure: Translate takes an IPv4 packet and the side it
// arrived on, rewrites it in place and returns a verdict. It does no I/O,
// reads no clock (Tick tells it the time) and does not log. It is not safe
// for concurrent use: its owner (the data plane) serialises every call,
// including the read-only Sessions and Counters listings.
package nat

import (
	"fmt"
	"net/netip"
	"time"
)

// Filtering is the inbound filtering behaviour (RFC 4787 §5).
type Filtering uint8

const (
	EndpointIndependent  Filtering = iota // any remote may reach a mapping
	AddressDependent                      // remotes the host has sent to
	AddressPortDependent                  // remote addr:port pairs the host has sent to
)

var filteringNames = [...]string{"endpoint-independent", "address-dependent", "address-port-dependent"}

func (f Filtering) String() string {
	if int(f) < len(filteringNames) {
		return filteringNames[f]
	}
	return fmt.Sprintf("filtering(%d)", f)
}

// Timeouts are the idle timeouts of sessions.
type Timeouts struct {
	UDP            time.Duration // RFC 4787 REQ-5: ≥ 120 s, default 300 s
	TCPEstablished time.Duration // RFC 5382 REQ-5: ≥ 7440 s
	TCPTransitory  time.Duration // RFC 5382 REQ-5: ≥ 240 s, also after RST (RFC 7857 §2)
	ICMP           time.Duration // RFC 5508 REQ-2: ≥ 60 s
}

// PortForward sends WAN traffic for a range of external ports to a LAN host.
type PortForward struct {
	Name     string
	Proto    uint8 // packet.ProtoTCP or packet.ProtoUDP
	ExtStart uint16
	ExtEnd   uint16 // inclusive; equal to ExtStart for one port
	Host     netip.Addr
	IntStart uint16 // internal port for ExtStart; the range maps one to one
}

// MSSAuto clamps the TCP MSS to what the smaller of the WAN and LAN MTUs allows.
const MSSAuto = -1

// Config is the engine's configuration. The zero value is not usable; start
// from DefaultConfig.
type Config struct {
	LAN       netip.Prefix // the router's LAN address and subnet, e.g. 192.168.1.1/24
	Filtering Filtering
	Timeouts  Timeouts
	Hairpin   bool
	MSSClamp  int // 0 = off, MSSAuto, or a value
	WANMTU    int
	LANMTU    int

	PortForwards []PortForward
	DMZ          netip.Addr // invalid (zero) = no DMZ host

	MaxSessions        int // table size; see MaxSessionsForMemory
	MaxSessionsPerHost int // 0 = MaxSessions/4

	// UnsolicitedSYNSilent drops unsolicited inbound SYNs without the ICMP
	// Port Unreachable that RFC 5382 REQ-4 recommends after 6 s.
	UnsolicitedSYNSilent bool
	// IgnorePing makes the router not answer echo requests to its WAN address.
	IgnorePing bool

	Seed uint64 // hash and port randomisation seed; 0 is fine in tests only
}

// DefaultConfig returns the RFC-conformant defaults for a LAN prefix.
func DefaultConfig(lan netip.Prefix) Config {
	return Config{
		LAN:       lan,
		Filtering: AddressDependent,
		Timeouts: Timeouts{
			UDP:            300 * time.Second,
			TCPEstablished: 7440 * time.Second,
			TCPTransitory:  240 * time.Second,
			ICMP:           60 * time.Second,
		},
		Hairpin:     true,
		MSSClamp:    MSSAuto,
		WANMTU:      1500,
		LANMTU:      1500,
		MaxSessions: 65536,
	}
}

// BytesPerSession is the table memory one session costs at full load:
// the 64-byte session record plus its two index slots at load ≤ 0.5
// (mappings, shared by sessions, are counted by the benchmark).
const BytesPerSession = 64 + 2*2*4

// MaxSessionsForMemory is the default table size for a machine with total
// bytes of RAM: a sixteenth of memory, between 16 Ki and 4 Mi sessions.
func MaxSessionsForMemory(total uint64) int {
	n := total / 16 / BytesPerSession
	return int(min(max(n, 16<<10), 4<<20))
}

// MinDynamicPorts is how many external ports of 1024-65535 per protocol
// port forwards must leave free: the LAN's own connections are mapped to
// them (one per internal address and port; a busy household uses a few
// thousand). MaxForwardedPorts is what remains for forwards.
const (
	MinDynamicPorts   = 8192
	MaxForwardedPorts = 65535 - 1024 + 1 - MinDynamicPorts
)

func protoName(p uint8) string {
	if p == 6 {
		return "tcp"
	}
	return "udp"
}

func (c *Config) validate() error {
	if !c.LAN.IsValid() || !c.LAN.Addr().Is4() {
		return fmt.Errorf("nat: LAN prefix %v is not an IPv4 prefix", c.LAN)
	}
	if c.WANMTU < 576 || c.LANMTU < 576 || c.WANMTU > 9216 || c.LANMTU > 9216 {
		return fmt.Errorf("nat: MTU wan %d lan %d out of range 576..9216", c.WANMTU, c.LANMTU)
	}
	if c.MaxSessions < 16 {
		return fmt.Errorf("nat: max sessions %d is below 16", c.MaxSessions)
	}
	for _, d := range []time.Duration{c.Timeouts.UDP, c.Timeouts.TCPEstablished, c.Timeouts.TCPTransitory, c.Timeouts.ICMP} {
		if d < time.Second {
			return fmt.Errorf("nat: timeout %v is below 1 s", d)
		}
	}
	var taken [2][65536 / 64]uint64 // external ports per protocol (TCP, UDP)
	var dynTaken [2]int             // of them, in the dynamic range 1024-65535
	for _, f := range c.PortForwards {
		if f.Proto != 6 && f.Proto != 17 {
			return fmt.Errorf("nat: port forward %q: protocol %d is not tcp or udp", f.Name, f.Proto)
		}
		if f.ExtStart == 0 || f.ExtEnd < f.ExtStart || f.IntStart == 0 ||
			int(f.IntStart)+int(f.ExtEnd-f.ExtStart) > 65535 {
			return fmt.Errorf("nat: port forward %q: bad port range", f.Name)
		}
		// The router's own address is allowed: its services (SSH on the WAN)
		// are reached that way, through self0.
		if !c.LAN.Contains(f.Host) {
			return fmt.Errorf("nat: port forward %q: host %v is not a LAN host", f.Name, f.Host)
		}
		pi := protoIndex(f.Proto)
		for p := uint32(f.ExtStart); p <= uint32(f.ExtEnd); p++ {
			w, bit := p/64, uint64(1)<<(p%64)
			if taken[pi][w]&bit != 0 {
				return fmt.Errorf("nat: port forward %q: external %s port %d is already forwarded; an external port goes to one host only",
					f.Name, protoName(f.Proto), p)
			}
			taken[pi][w] |= bit
			if p >= 1024 {
				dynTaken[pi]++
			}
		}
	}
	for pi, n := range dynTaken {
		if n > MaxForwardedPorts {
			return fmt.Errorf("nat: port forwards take %d of the %d %s ports 1024-65535; at most %d may be forwarded, so that %d stay free for the LAN's own connections (to send all unsolicited traffic to one host, use the dmz)",
				n, 65535-1024+1, protoName([]uint8{6, 17}[pi]), MaxForwardedPorts, MinDynamicPorts)
		}
	}
	if c.DMZ.IsValid() && (!c.LAN.Contains(c.DMZ) || c.DMZ == c.LAN.Addr()) {
		return fmt.Errorf("nat: DMZ host %v is not a LAN host", c.DMZ)
	}
	return nil
}
