package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"
)

// Config is the whole typed router configuration. Obtain one from New,
// Default, Parse or Store.Load; the zero Config is not meaningful (its
// booleans and timeouts are not the defaults).
//
// Unset optional values are zero: an invalid netip.Addr or netip.Prefix,
// an empty string, a zero PortRange. List entries are kept sorted by name
// and empty lists are nil, so two equal configurations are reflect.DeepEqual.
type Config struct {
	System      System
	Interfaces  Interfaces
	DHCPServer  DHCPServer
	NAT         NAT
	Firewall    Firewall
	Passthrough Passthrough
	Service     Service
	DNS         DNS
	QoS         QoS
}

// QoS shapes the WAN line in routerd, so that the queue forms here, with
// flow queuing and VPN traffic first, and not in the modem (issue #18).
type QoS struct {
	// Upload and Download are the shaped rates in bits per second, a
	// little below the line's (0: not shaped). Upload shapes the WAN
	// port's egress, download the LAN port's.
	Upload, Download uint64
	// Priority adds classes to the priority tier (sorted by Name).
	Priority []QoSClass
}

// QoSClass puts TCP and/or UDP to or from a port range in the priority
// tier.
type QoSClass struct {
	Name     string
	Protocol Protocol
	Port     PortRange
}

// MaxQoSClasses bounds qos priority.
const MaxQoSClasses = 32

// System holds the router's identity and administrator login.
type System struct {
	Hostname string // default "passgate"
	// TimeZone is the IANA name of the router's time zone, for firewall
	// rules' time windows ("" is UTC).
	TimeZone string
	// FlowOffload lets the kernel (tc/eBPF, pkg/tcfast) forward established
	// IPv4 TCP/UDP flows instead of routerd ("set system flow-offload",
	// default off); off while a capture or a shaper runs.
	FlowOffload bool
	Admin       Admin
	Console     Console
	Update      Update
}

// Update is how firmware updates are tried (issue #17).
type Update struct {
	// CommitAfter is how long a new firmware version, on its trial boot,
	// must run ready (ports up, LAN DHCP serving, WAN tried) before it
	// becomes the committed one (default 60s).
	CommitAfter time.Duration
}

// Console is the serial console's login.
type Console struct {
	// Login makes the console ask for the admin password (the
	// PasswordHash SSH checks too) before each session. Default false:
	// the console is open, as the way in when nothing else works.
	Login bool
}

// Admin is the administrator account. There is never a default password:
// with PasswordHash empty, password login is impossible.
type Admin struct {
	PasswordHash string // crypt(3) string such as "$6$salt$hash" or "$2b$10$..."
}

// Interfaces holds the two ports.
type Interfaces struct {
	LAN LAN
	WAN WAN
}

// LAN is the home-network port.
type LAN struct {
	Device  string       // kernel interface name, e.g. "eth0"
	Address netip.Prefix // router's own address with the subnet length, e.g. 192.168.1.1/24
	MTU     int          // default 1500
	IPv6    LANIPv6
}

// LANIPv6 is IPv6 on the LAN: which /64s the LAN gets (one from the
// delegated prefix, one from the ULA /48) and what router advertisements
// (RDNSS, DNSSL) and stateless DHCPv6 hand out.
type LANIPv6 struct {
	// Disabled turns IPv6 on the LAN off: no RAs, nothing forwarded.
	// Default false (IPv6 on).
	Disabled bool
	// ULA is the unique local /48 (RFC 4193, inside fd00::/8). Unset,
	// routerd generates one (GenerateULA) and keeps it.
	ULA netip.Prefix
	// NoULA gives the LAN no unique local prefix at all.
	NoULA bool
	// SubnetID picks the LAN's /64 inside the delegated prefix and the
	// ULA /48: 0..65535 (MaxSubnetID). Default 0.
	SubnetID int
	// DNS are the recursive DNS servers advertised (RDNSS, DHCPv6), in
	// the order given, at most MaxIPv6DNS; empty means the WAN's.
	DNS []netip.Addr
	// Domain is the search domain advertised (DNSSL, DHCPv6); "" none.
	Domain string
}

// WAN is the internet uplink.
type WAN struct {
	Device  string
	Mode    WANMode      // default WANDHCP
	Address netip.Prefix // static mode: own address and subnet
	Gateway netip.Addr   // static mode: default gateway
	MTU     int          // default 1500
	DNS     []netip.Addr // static mode: DNS servers, in the order given
	IPv6    WANIPv6
	// VLAN tags every WAN frame with an 802.1Q tag (many DSL and fibre
	// ISPs want one, e.g. 7 or 10); routerd adds and removes it itself.
	VLAN VLAN
	// PPPoE is the PPPoE client of mode pppoe.
	PPPoE PPPoE
}

// VLAN is the ISP's VLAN on the WAN port.
type VLAN struct {
	ID       int // 1..4094; 0 is untagged (the default)
	Priority int // 802.1p priority code point of the tag, 0..7 (default 0)
}

// PPPoE is the WAN's PPPoE client (RFC 2516) and its PPP link.
type PPPoE struct {
	// Username and Password are the ISP's credentials (PAP or CHAP-MD5,
	// whichever the concentrator asks for). The password is kept in the
	// file as given and masked wherever the configuration is shown.
	Username, Password string
	// ServiceName and ACName narrow the choice of concentrator; empty
	// takes any service and the first concentrator that answers.
	ServiceName, ACName string
	// Jumbo asks for a PPP MTU of the WAN mtu (up to 1500) with RFC 4638's
	// PPP-Max-Payload, which needs a WAN port carrying mtu+8 bytes and a
	// concentrator that agrees; off, the PPP MTU is at most 1492.
	Jumbo bool
	// EchoInterval is how often an LCP echo request checks the link;
	// EchoFailures unanswered in a row end the session (defaults 10 s, 3).
	EchoInterval time.Duration
	EchoFailures int
}

// WANIPv6 is how the WAN gets IPv6 and the prefix for the LAN.
type WANIPv6 struct {
	Mode IPv6Mode // default IPv6DHCPv6PD
	// PrefixLength is the delegated prefix length asked for (the hint of
	// RFC 7084 WPD-2): 48..64, default 56. Mode dhcpv6-pd only.
	PrefixLength int
	// Static mode: the WAN address with its prefix length (optional), the
	// default gateway (link-local or global, required), the prefix routed
	// to the router (/32../64; required unless Address is set) and the DNS
	// servers (at most MaxIPv6DNS, in the order given).
	Address netip.Prefix
	Gateway netip.Addr
	Prefix  netip.Prefix
	DNS     []netip.Addr
}

// IPv6Mode says how the WAN gets IPv6.
type IPv6Mode string

// WAN IPv6 modes.
const (
	IPv6DHCPv6PD IPv6Mode = "dhcpv6-pd" // address by SLAAC or DHCPv6, prefix by DHCPv6 prefix delegation
	IPv6SLAAC    IPv6Mode = "slaac"     // address by SLAAC only, no delegated prefix
	IPv6Static   IPv6Mode = "static"    // all given in the configuration
	IPv6Off      IPv6Mode = "off"       // no IPv6 on the WAN
)

// Limits of the IPv6 settings.
const (
	MaxSubnetID   = 0xffff // subnet-id: the 16 bits between a /48 and a /64
	MaxIPv6DNS    = 8      // dns servers per list
	MaxAllowRules = 128    // firewall ipv6 allow rules (fw6.MaxAllowRules)
	MaxMACDevices = 512    // firewall mac-filter devices
)

// WANMode says how the WAN address is obtained.
type WANMode string

// WAN modes.
const (
	WANDHCP   WANMode = "dhcp"
	WANStatic WANMode = "static"
	WANPPPoE  WANMode = "pppoe"
)

// DHCPServer holds the DHCP server configuration (only the LAN pool for now).
type DHCPServer struct {
	LAN DHCPPool
}

// DHCPPool is one DHCP server pool. The server runs when RangeStart and
// RangeEnd are set.
type DHCPPool struct {
	RangeStart netip.Addr
	RangeEnd   netip.Addr
	LeaseTime  time.Duration // default 12h, whole seconds
	DNS        []netip.Addr  // offered to clients, in the order given
	Static     []StaticLease // sorted by Name
}

// StaticLease pins one host's address. Either field may be unset in an
// incomplete entry; Validate reports that.
type StaticLease struct {
	Name string
	MAC  MAC
	IP   netip.Addr
}

// NAT holds the NAPT engine's behaviour.
type NAT struct {
	Filtering          Filtering // default FilterAddressDependent
	Timeouts           Timeouts
	Hairpin            bool          // default true
	MSSClamp           int           // MSSClampAuto (default), MSSClampDisabled or 536..9000
	PortForwards       []PortForward // sorted by Name
	DMZ                netip.Addr    // unset: no DMZ host
	MaxSessions        int           // 0 = automatic (sized from memory)
	MaxSessionsPerHost int           // 0 = automatic
}

// MSS clamp special values.
const (
	MSSClampAuto     = 0  // clamp to the path MTU of the WAN link
	MSSClampDisabled = -1 // never rewrite the MSS option
)

// Filtering is the inbound filtering behaviour (RFC 4787 §5).
type Filtering string

// Filtering behaviours.
const (
	FilterEndpointIndependent  Filtering = "endpoint-independent"
	FilterAddressDependent     Filtering = "address-dependent"
	FilterAddressPortDependent Filtering = "address-port-dependent"
)

// Timeouts are the idle timeouts of NAT mappings, in whole seconds.
type Timeouts struct {
	UDP            time.Duration // default 300s (RFC 4787 REQ-5: ≥ 120s)
	TCPEstablished time.Duration // default 7440s (RFC 5382 REQ-5)
	TCPTransitory  time.Duration // default 240s
	ICMP           time.Duration // default 60s (RFC 5508 REQ-2)
	GRE            time.Duration // default 600s
	ESP            time.Duration // default 600s
}

// PortForward sends inbound connections on external ports to a LAN host.
// Fields may be unset in an incomplete entry; Validate reports that.
type PortForward struct {
	Name     string
	Protocol Protocol
	Port     PortRange  // external port(s)
	To       netip.Addr // LAN host
	ToPort   PortRange  // internal port(s); zero means the same as Port
}

// InternalPorts returns the internal port range: ToPort if set, else Port.
func (p PortForward) InternalPorts() PortRange {
	if p.ToPort.IsZero() {
		return p.Port
	}
	return p.ToPort
}

// Protocol selects the transport protocol(s) of a port forward or an IPv6
// allow rule.
type Protocol string

// Port-forward protocols.
const (
	ProtoTCP    Protocol = "tcp"
	ProtoUDP    Protocol = "udp"
	ProtoTCPUDP Protocol = "tcp-udp"
)

// HasTCP reports whether p includes TCP.
func (p Protocol) HasTCP() bool { return p == ProtoTCP || p == ProtoTCPUDP }

// HasUDP reports whether p includes UDP.
func (p Protocol) HasUDP() bool { return p == ProtoUDP || p == ProtoTCPUDP }

// Firewall holds the stateful firewall settings (IPv4 has none of its own:
// the NAT is its firewall).
type Firewall struct {
	IPv6      FirewallIPv6
	MACFilter MACFilter
	Rules     []FirewallRule // sorted by Name; run in Order, then Name
}

// MACFilter says which LAN devices may use the router, by MAC address: a
// device that may not gets no DHCP lease, no answer to ARP and nothing
// forwarded (routerd drops every frame it sends).
type MACFilter struct {
	Mode    MACFilterMode
	Devices []MACDevice // sorted by Name
}

// MACFilterMode is how the device list is used.
type MACFilterMode string

// MAC filter modes.
const (
	MACFilterOff   MACFilterMode = "off"   // every device (default)
	MACFilterAllow MACFilterMode = "allow" // only the devices listed
	MACFilterDeny  MACFilterMode = "deny"  // every device but those listed
)

// MACDevice is one device of the MAC filter's list.
type MACDevice struct {
	Name string
	MAC  MAC
}

// Blocks reports whether the filter keeps device m off the LAN.
func (f MACFilter) Blocks(m MAC) bool {
	listed := slices.ContainsFunc(f.Devices, func(d MACDevice) bool { return d.MAC == m })
	switch f.Mode {
	case MACFilterAllow:
		return !listed
	case MACFilterDeny:
		return listed
	}
	return false
}

// FirewallIPv6 is the IPv6 firewall (RFC 6092): what unsolicited inbound
// traffic may reach LAN hosts.
type FirewallIPv6 struct {
	Allow []IPv6Allow // sorted by Name
	// InboundPing admits unsolicited inbound echo requests to LAN hosts
	// (RFC 4890 §4.3.1). Default true.
	InboundPing bool
	// InboundIPsec admits unsolicited inbound ESP and IKE to LAN hosts
	// (RFC 6092 REC-22, REC-24). Default true.
	InboundIPsec bool
	// Transparent is RFC 6092 REC-49's transparent mode: every
	// unsolicited inbound flow reaches the LAN host it is addressed to,
	// as if the router had no firewall. The forwarding rules that are not
	// filtering (no multicast, forbidden or spoofed addresses, the ULA
	// border) still hold. Default false.
	Transparent bool
}

// IPv6Allow admits unsolicited inbound TCP and/or UDP to ports of one LAN
// host: the IPv6 counterpart of a port forward, without translation.
// Fields may be unset in an incomplete entry; Validate reports that.
type IPv6Allow struct {
	Name     string
	Protocol Protocol
	Port     PortRange  // the host's port(s)
	To       netip.Addr // the LAN host: global unicast or unique local
}

// Passthrough holds the VPN passthrough switches.
type Passthrough struct {
	PPTP  bool // default true
	L2TP  bool // default true
	IPsec IPsec
}

// IPsec holds the IPsec passthrough settings.
type IPsec struct {
	Enabled bool    // default true
	ESPMode ESPMode // default ESPSPILearning
	// IKESharePort shares external UDP 500 between LAN hosts and routes
	// inbound IKE by initiator SPI (default false).
	IKESharePort bool
}

// ESPMode selects how raw ESP is mapped back to LAN hosts.
type ESPMode string

// ESP modes.
const (
	ESPSPILearning  ESPMode = "spi-learning"
	ESPSingleClient ESPMode = "single-client"
)

// Service holds the router's own services.
type Service struct {
	SSH SSH
	Web Web
	// PortMapping lets LAN hosts open ports on the WAN address for
	// themselves with NAT-PMP, PCP and UPnP IGD (default false).
	PortMapping bool
}

// SSH is the SSH server carrying the shell.
type SSH struct {
	Listen         SSHListen       // default ListenLAN
	Port           int             // default 22
	AuthorizedKeys []AuthorizedKey // sorted by Name
}

// Web is the admin page (pkg/webui). It is served on the router's LAN
// addresses only: no setting puts it on the WAN.
type Web struct {
	Enabled bool // default true
}

// SSHListen selects where the SSH server accepts connections.
type SSHListen string

// SSH listen choices.
const (
	ListenLAN SSHListen = "lan"
	ListenWAN SSHListen = "wan"
	ListenAll SSHListen = "all"
)

// AuthorizedKey is one OpenSSH public key allowed to log in as admin.
type AuthorizedKey struct {
	Name string
	Key  string // "ssh-ed25519 AAAA... comment", whitespace normalised
}

// MAC is an Ethernet address.
type MAC [6]byte

// String formats m as lower-case colon-separated hex.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsZero reports whether m is unset (all zero).
func (m MAC) IsZero() bool { return m == MAC{} }

// PortRange is an inclusive range of ports; a single port has First == Last.
// The zero PortRange means "unset".
type PortRange struct {
	First, Last uint16
}

// IsZero reports whether r is unset.
func (r PortRange) IsZero() bool { return r == PortRange{} }

// Len returns the number of ports in r.
func (r PortRange) Len() int {
	if r.IsZero() {
		return 0
	}
	return int(r.Last) - int(r.First) + 1
}

// Contains reports whether port p is in r.
func (r PortRange) Contains(p uint16) bool { return !r.IsZero() && r.First <= p && p <= r.Last }

// Overlaps reports whether r and o share a port.
func (r PortRange) Overlaps(o PortRange) bool {
	return !r.IsZero() && !o.IsZero() && r.First <= o.Last && o.First <= r.Last
}

// String formats r as "P" or "P-Q".
func (r PortRange) String() string {
	if r.First == r.Last {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// New returns a configuration with every value at its default and nothing
// configured: no interfaces, no DHCP pool, no forwards, no keys. Parse
// starts from New, and Commands prints only what differs from New.
func New() *Config {
	return &Config{
		System: System{Hostname: "passgate", Update: Update{CommitAfter: 60 * time.Second}},
		Interfaces: Interfaces{
			LAN: LAN{MTU: 1500},
			WAN: WAN{Mode: WANDHCP, MTU: 1500, IPv6: WANIPv6{Mode: IPv6DHCPv6PD, PrefixLength: 56},
				PPPoE: PPPoE{EchoInterval: 10 * time.Second, EchoFailures: 3}},
		},
		DHCPServer: DHCPServer{LAN: DHCPPool{LeaseTime: 12 * time.Hour}},
		NAT: NAT{
			Filtering: FilterAddressDependent,
			Timeouts: Timeouts{
				UDP:            300 * time.Second,
				TCPEstablished: 7440 * time.Second,
				TCPTransitory:  240 * time.Second,
				ICMP:           60 * time.Second,
				GRE:            600 * time.Second,
				ESP:            600 * time.Second,
			},
			Hairpin:  true,
			MSSClamp: MSSClampAuto,
		},
		Firewall: Firewall{IPv6: FirewallIPv6{InboundPing: true, InboundIPsec: true}, MACFilter: MACFilter{Mode: MACFilterOff}},
		Passthrough: Passthrough{
			PPTP:  true,
			L2TP:  true,
			IPsec: IPsec{Enabled: true, ESPMode: ESPSPILearning},
		},
		Service: Service{SSH: SSH{Listen: ListenLAN, Port: 22}, Web: Web{Enabled: true}},
		DNS:     DNS{Forwarder: true, Domain: "lan", RebindProtection: true},
	}
}

// Default returns the factory configuration: a working home router with
// the LAN on eth0 as 192.168.1.1/24, the WAN on eth1 by DHCP, and a DHCP
// pool 192.168.1.100-192.168.1.199 (12h leases) that offers the router as
// DNS server. There is no password and no SSH key: the first login is on
// the serial console.
func Default() *Config {
	c := New()
	c.Interfaces.LAN.Device = "eth0"
	c.Interfaces.LAN.Address = netip.MustParsePrefix("192.168.1.1/24")
	c.Interfaces.WAN.Device = "eth1"
	c.DHCPServer.LAN.RangeStart = netip.MustParseAddr("192.168.1.100")
	c.DHCPServer.LAN.RangeEnd = netip.MustParseAddr("192.168.1.199")
	c.DHCPServer.LAN.DNS = []netip.Addr{netip.MustParseAddr("192.168.1.1")}
	return c
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	n.Interfaces.WAN.DNS = slices.Clone(c.Interfaces.WAN.DNS)
	n.Interfaces.LAN.IPv6.DNS = slices.Clone(c.Interfaces.LAN.IPv6.DNS)
	n.Interfaces.WAN.IPv6.DNS = slices.Clone(c.Interfaces.WAN.IPv6.DNS)
	n.Firewall.IPv6.Allow = slices.Clone(c.Firewall.IPv6.Allow)
	n.Firewall.Rules = slices.Clone(c.Firewall.Rules)
	n.QoS.Priority = slices.Clone(c.QoS.Priority)
	n.Firewall.MACFilter.Devices = slices.Clone(c.Firewall.MACFilter.Devices)
	n.DHCPServer.LAN.DNS = slices.Clone(c.DHCPServer.LAN.DNS)
	n.DNS.Upstream = slices.Clone(c.DNS.Upstream)
	n.DNS.Hosts = slices.Clone(c.DNS.Hosts)
	n.DNS.TLSUpstreams = slices.Clone(c.DNS.TLSUpstreams)
	n.DNS.RebindAllow = slices.Clone(c.DNS.RebindAllow)
	n.DHCPServer.LAN.Static = slices.Clone(c.DHCPServer.LAN.Static)
	n.NAT.PortForwards = slices.Clone(c.NAT.PortForwards)
	n.Service.SSH.AuthorizedKeys = slices.Clone(c.Service.SSH.AuthorizedKeys)
	return &n
}

// Equal reports whether c and o hold the same configuration.
func (c *Config) Equal(o *Config) bool {
	return reflect.DeepEqual(c, o)
}

// Location is the router's time zone (UTC when unset or unknown).
func (s System) Location() *time.Location {
	if s.TimeZone == "" {
		return time.UTC
	}
	if l, err := time.LoadLocation(s.TimeZone); err == nil {
		return l
	}
	return time.UTC
}
