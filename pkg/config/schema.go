package config

import (
	"net/netip"
	"slices"
	"time"
)

// The schema is one tree describing the whole configuration language. The
// walker (Set, Delete, Expand, Complete) and the printer (Commands) are both
// driven by it, so the two cannot drift apart.
//
// Node kinds:
//
//	container  keyword followed by one of its children
//	leaf       keyword followed by its values (args); it may also have
//	           children, which are alternatives to the values
//	           ("ipsec enable" or "ipsec esp-mode ...")
//	multi      repeatable leaf: each set adds one value (dns)
//	tag        keyword NAME, then either one value (value form:
//	           authorized-key NAME "KEY") or one or more clauses on the same
//	           line (port-forward NAME protocol tcp port 80 to A.B.C.D)
//
// Clauses are leaves; a clause's "then" children may follow directly after
// its values (to A.B.C.D port 80).
type nodeKind uint8

const (
	kContainer nodeKind = iota
	kLeaf
	kMulti
	kTag
)

type node struct {
	word, help string
	kind       nodeKind
	args       []*vtype // leaf: values; multi: the value; tag: value after NAME (value form)
	children   []*node  // container: keywords; leaf: alternatives; tag: clauses
	then       []*node  // clause: optional clauses right after its values
	name       *vtype   // tag: the NAME type
	max        int      // multi: most values allowed; tag: most entries (0: no limit)

	leaf  *leafBinding  // leaf, and tag in value form
	multi *multiBinding // multi
	list  *listBinding  // tag
}

// leafBinding connects a leaf to its field(s). tag is the entry name for
// clauses and value-form tags, "" otherwise.
type leafBinding struct {
	get   func(c *Config, tag string) []any // nil when at the default (not printed)
	set   func(c *Config, tag string, vals []any)
	reset func(c *Config, tag string)
}

type multiBinding struct {
	items  func(c *Config) []any
	add    func(c *Config, v any) bool // false if already present
	remove func(c *Config, v any) bool // false if absent
	clear  func(c *Config)
}

type listBinding struct {
	names  func(c *Config) []string // sorted
	has    func(c *Config, name string) bool
	ensure func(c *Config, name string)
	drop   func(c *Config, name string)
	clear  func(c *Config)
}

// ---- constructors ----

func container(word, help string, children ...*node) *node {
	return &node{word: word, help: help, kind: kContainer, children: children}
}

func leaf(word, help string, b leafBinding, args ...*vtype) *node {
	return &node{word: word, help: help, kind: kLeaf, args: args, leaf: &b}
}

func multi(word, help string, max int, b multiBinding, arg *vtype) *node {
	return &node{word: word, help: help, kind: kMulti, args: []*vtype{arg}, multi: &b, max: max}
}

func tagged(word, help string, name *vtype, b listBinding, clauses ...*node) *node {
	return &node{word: word, help: help, kind: kTag, name: name, list: &b, children: clauses}
}

func (n *node) withChildren(children ...*node) *node { n.children = children; return n }
func (n *node) withThen(then ...*node) *node         { n.then = then; return n }
func (n *node) withMax(max int) *node                { n.max = max; return n }
func (n *node) withValue(b leafBinding, arg *vtype) *node {
	n.leaf, n.args = &b, []*vtype{arg}
	return n
}

// ---- bindings ----

// field binds a leaf to one field; its default is the field's value in New().
func field[T comparable](p func(c *Config) *T) leafBinding {
	def := *p(New())
	return leafBinding{
		get: func(c *Config, _ string) []any {
			if v := *p(c); v != def {
				return []any{v}
			}
			return nil
		},
		set:   func(c *Config, _ string, vals []any) { *p(c) = vals[0].(T) },
		reset: func(c *Config, _ string) { *p(c) = def },
	}
}

// pair binds a two-value leaf to two fields that are set together.
func pair[T comparable](p, q func(c *Config) *T) leafBinding {
	defP, defQ := *p(New()), *q(New())
	return leafBinding{
		get: func(c *Config, _ string) []any {
			if *p(c) == defP && *q(c) == defQ {
				return nil
			}
			return []any{*p(c), *q(c)}
		},
		set:   func(c *Config, _ string, vals []any) { *p(c), *q(c) = vals[0].(T), vals[1].(T) },
		reset: func(c *Config, _ string) { *p(c), *q(c) = defP, defQ },
	}
}

// inverted binds an enable/disable leaf to a field that says "disabled";
// the default is the field's value in New().
func inverted(p func(c *Config) *bool) leafBinding {
	def := *p(New())
	return leafBinding{
		get: func(c *Config, _ string) []any {
			if v := *p(c); v != def {
				return []any{!v}
			}
			return nil
		},
		set:   func(c *Config, _ string, vals []any) { *p(c) = !vals[0].(bool) },
		reset: func(c *Config, _ string) { *p(c) = def },
	}
}

// ula binds "interfaces lan ipv6 ula PREFIX|disable" to ULA and NoULA;
// disable wins (a Config built in Go with both set fails Validate).
func ula() leafBinding {
	v6 := func(c *Config) *LANIPv6 { return &c.Interfaces.LAN.IPv6 }
	return leafBinding{
		get: func(c *Config, _ string) []any {
			switch {
			case v6(c).NoULA:
				return []any{ulaOff{}}
			case v6(c).ULA.IsValid():
				return []any{v6(c).ULA}
			}
			return nil
		},
		set: func(c *Config, _ string, vals []any) {
			p, _ := vals[0].(netip.Prefix)
			v6(c).ULA, v6(c).NoULA = p, !p.IsValid()
		},
		reset: func(c *Config, _ string) { v6(c).ULA, v6(c).NoULA = netip.Prefix{}, false },
	}
}

func addrs(p func(c *Config) *[]netip.Addr) multiBinding {
	return multiBinding{
		items: func(c *Config) []any {
			var out []any
			for _, a := range *p(c) {
				out = append(out, a)
			}
			return out
		},
		add: func(c *Config, v any) bool {
			if slices.Contains(*p(c), v.(netip.Addr)) {
				return false
			}
			*p(c) = append(*p(c), v.(netip.Addr))
			return true
		},
		remove: func(c *Config, v any) bool {
			i := slices.Index(*p(c), v.(netip.Addr))
			if i < 0 {
				return false
			}
			*p(c) = slices.Delete(*p(c), i, i+1)
			if len(*p(c)) == 0 {
				*p(c) = nil
			}
			return true
		},
		clear: func(c *Config) { *p(c) = nil },
	}
}

// entries binds a tag to a slice of named entries, kept sorted by name
// (Set inserts in order). Lookups scan linearly and names() sorts, so a
// Config built by hand with entries out of order still prints correctly.
// It also returns the lookup used by the entry's field bindings.
func entries[E any](p func(c *Config) *[]E, key func(e *E) *string) (listBinding, func(c *Config, name string) *E) {
	find := func(c *Config, name string) int {
		for i := range *p(c) {
			if *key(&(*p(c))[i]) == name {
				return i
			}
		}
		return -1
	}
	lookup := func(c *Config, name string) *E {
		if i := find(c, name); i >= 0 {
			return &(*p(c))[i]
		}
		return nil
	}
	b := listBinding{
		names: func(c *Config) []string {
			var out []string
			for i := range *p(c) {
				out = append(out, *key(&(*p(c))[i]))
			}
			slices.Sort(out)
			return slices.Compact(out)
		},
		has: func(c *Config, name string) bool { return find(c, name) >= 0 },
		ensure: func(c *Config, name string) {
			if find(c, name) >= 0 {
				return
			}
			i := 0
			for i < len(*p(c)) && *key(&(*p(c))[i]) < name {
				i++
			}
			var e E
			*key(&e) = name
			*p(c) = slices.Insert(*p(c), i, e)
		},
		drop: func(c *Config, name string) {
			if i := find(c, name); i >= 0 {
				*p(c) = slices.Delete(*p(c), i, i+1)
				if len(*p(c)) == 0 {
					*p(c) = nil
				}
			}
		},
		clear: func(c *Config) { *p(c) = nil },
	}
	return b, lookup
}

// entryField binds a clause (or a value-form tag) to one field of an entry;
// the default is the zero value.
func entryField[E any, T comparable](lookup func(c *Config, name string) *E, f func(e *E) *T) leafBinding {
	var zero T
	return leafBinding{
		get: func(c *Config, tag string) []any {
			if e := lookup(c, tag); e != nil && *f(e) != zero {
				return []any{*f(e)}
			}
			return nil
		},
		set: func(c *Config, tag string, vals []any) { *f(lookup(c, tag)) = vals[0].(T) },
		reset: func(c *Config, tag string) {
			if e := lookup(c, tag); e != nil {
				*f(e) = zero
			}
		},
	}
}

// ---- the tree ----

var (
	staticList, staticLookup   = entries(func(c *Config) *[]StaticLease { return &c.DHCPServer.LAN.Static }, func(e *StaticLease) *string { return &e.Name })
	forwardList, forwardLookup = entries(func(c *Config) *[]PortForward { return &c.NAT.PortForwards }, func(e *PortForward) *string { return &e.Name })
	keyList, keyLookup         = entries(func(c *Config) *[]AuthorizedKey { return &c.Service.SSH.AuthorizedKeys }, func(e *AuthorizedKey) *string { return &e.Name })
	allowList, allowLookup     = entries(func(c *Config) *[]IPv6Allow { return &c.Firewall.IPv6.Allow }, func(e *IPv6Allow) *string { return &e.Name })
	qosList, qosLookup         = entries(func(c *Config) *[]QoSClass { return &c.QoS.Priority }, func(e *QoSClass) *string { return &e.Name })
	ruleList, ruleLookup       = entries(func(c *Config) *[]FirewallRule { return &c.Firewall.Rules }, func(e *FirewallRule) *string { return &e.Name })
	macDevList, macDevLookup   = entries(func(c *Config) *[]MACDevice { return &c.Firewall.MACFilter.Devices }, func(e *MACDevice) *string { return &e.Name })
)

const (
	maxTimeout = 7 * 24 * time.Hour
	maxDNS     = 4
)

func timeout(word, help string, p func(c *Config) *time.Duration) *node {
	return leaf(word, help, field(p), tSeconds(time.Second, maxTimeout, "idle timeout in seconds (or e.g. 5m)"))
}

// protocols are the choices of a port forward's or allow rule's protocol.
func protocols() *vtype {
	return tChoices(
		choice{"tcp", "TCP only", ProtoTCP},
		choice{"udp", "UDP only", ProtoUDP},
		choice{"tcp-udp", "both TCP and UDP", ProtoTCPUDP},
	)
}

func mtu(p func(c *Config) *int) *node {
	return leaf("mtu", "MTU in bytes (default 1500)", field(p), tInt(576, 9216, "MTU in bytes"))
}

// schema is the root of the language; its children follow "set"/"delete".
var schema = container("", "",
	container("system", "router identity and administrator login",
		leaf("hostname", "name of this router (default passgate)",
			field(func(c *Config) *string { return &c.System.Hostname }), tHostname("hostname")),
		leaf("time-zone", "the router's time zone, for firewall rules' times (default UTC)",
			field(func(c *Config) *string { return &c.System.TimeZone }), tTimeZone()),
		leaf("flow-offload", "forward established IPv4 TCP/UDP flows in the kernel (tc/eBPF) instead of routerd; off while a capture or a shaper runs (default disable)",
			field(func(c *Config) *bool { return &c.System.FlowOffload }), tSwitch("flow offload to the kernel")),
		container("admin", "administrator account",
			leaf("password-hash", "crypt(3) hash of the admin password (there is no default password)",
				field(func(c *Config) *string { return &c.System.Admin.PasswordHash }), tPasswordHash()),
		),
		container("console", "the serial console",
			leaf("login", "ask for the admin password on the serial console (default disable)",
				field(func(c *Config) *bool { return &c.System.Console.Login }), tSwitch("the console's password prompt")),
		),
		container("update", "firmware updates",
			leaf("commit-after", "how long a new version runs ready on its trial boot before it is kept (default 1m)",
				field(func(c *Config) *time.Duration { return &c.System.Update.CommitAfter }), tDuration(10*time.Second, time.Hour, "time, e.g. 60 or 2m (10s to 1h)")),
		),
	),
	container("interfaces", "network ports",
		container("lan", "LAN port (home network)",
			leaf("device", "kernel name of the LAN port",
				field(func(c *Config) *string { return &c.Interfaces.LAN.Device }), tDevice("interface name, e.g. eth0")),
			leaf("address", "router's LAN address and subnet length",
				field(func(c *Config) *netip.Prefix { return &c.Interfaces.LAN.Address }), tIfAddr("address/length, e.g. 192.168.1.1/24")),
			mtu(func(c *Config) *int { return &c.Interfaces.LAN.MTU }),
			leaf("ipv6", "IPv6 on the LAN (default enable)",
				inverted(func(c *Config) *bool { return &c.Interfaces.LAN.IPv6.Disabled }), tSwitch("IPv6 on the LAN")).withChildren(
				leaf("ula", "unique local /48 of the LAN (default: generated once and kept)", ula(), tULA()),
				leaf("subnet-id", "which /64 of the delegated prefix and of the ULA the LAN gets (default 0)",
					field(func(c *Config) *int { return &c.Interfaces.LAN.IPv6.SubnetID }), tSubnetID()),
				multi("dns", "DNS server advertised to LAN hosts (default: the WAN's; repeat the command for more)", MaxIPv6DNS,
					addrs(func(c *Config) *[]netip.Addr { return &c.Interfaces.LAN.IPv6.DNS }), tIPv6("DNS server address", acceptDNS)),
				leaf("domain", "search domain advertised to LAN hosts",
					field(func(c *Config) *string { return &c.Interfaces.LAN.IPv6.Domain }), tDomain("domain name, e.g. home.arpa")),
			),
		),
		container("wan", "WAN port (internet uplink)",
			leaf("device", "kernel name of the WAN port",
				field(func(c *Config) *string { return &c.Interfaces.WAN.Device }), tDevice("interface name, e.g. eth1")),
			leaf("mode", "how the WAN address is obtained (default dhcp)",
				field(func(c *Config) *WANMode { return &c.Interfaces.WAN.Mode }), tChoices(
					choice{"dhcp", "address from the ISP's DHCP server (default)", WANDHCP},
					choice{"static", "fixed address, gateway and dns given below", WANStatic},
					choice{"pppoe", "PPPoE login to the ISP (DSL, many fibre lines); see pppoe below", WANPPPoE},
				)),
			leaf("vlan", "802.1Q VLAN id the ISP wants on the WAN, e.g. 7 (default untagged)",
				field(func(c *Config) *int { return &c.Interfaces.WAN.VLAN.ID }), tInt(1, 4094, "VLAN id")).withChildren(
				leaf("priority", "802.1p priority of the tagged frames (default 0)",
					field(func(c *Config) *int { return &c.Interfaces.WAN.VLAN.Priority }), tInt(0, 7, "priority code point")),
			),
			container("pppoe", "PPPoE client (mode pppoe)",
				leaf("username", "the ISP's login name",
					field(func(c *Config) *string { return &c.Interfaces.WAN.PPPoE.Username }), tText("USERNAME", "login name in quotes, e.g. \"user@isp.example\"", 255)),
				leaf("password", "the ISP's password (stored in the configuration file; shown masked)",
					field(func(c *Config) *string { return &c.Interfaces.WAN.PPPoE.Password }), tSecret("PASSWORD", "password in quotes", 255)),
				leaf("service-name", "only a concentrator offering this service (default any)",
					field(func(c *Config) *string { return &c.Interfaces.WAN.PPPoE.ServiceName }), tText("SERVICE", "service name in quotes", 255)),
				leaf("ac-name", "only the concentrator of this name (default the first that answers)",
					field(func(c *Config) *string { return &c.Interfaces.WAN.PPPoE.ACName }), tText("AC-NAME", "access concentrator name in quotes", 255)),
				leaf("jumbo", "PPP MTU up to 1500 with RFC 4638 when the port and the ISP allow it (default disable: 1492)",
					field(func(c *Config) *bool { return &c.Interfaces.WAN.PPPoE.Jumbo }), tSwitch("RFC 4638 baby jumbo frames")),
				leaf("echo-interval", "seconds between LCP echo requests (default 10)",
					field(func(c *Config) *time.Duration { return &c.Interfaces.WAN.PPPoE.EchoInterval }), tSeconds(time.Second, 300*time.Second, "seconds between LCP echo requests")),
				leaf("echo-failures", "unanswered echo requests that end the session (default 3)",
					field(func(c *Config) *int { return &c.Interfaces.WAN.PPPoE.EchoFailures }), tInt(1, 30, "count")),
			),
			leaf("address", "WAN address and subnet length (static mode)",
				field(func(c *Config) *netip.Prefix { return &c.Interfaces.WAN.Address }), tIfAddr("address/length, e.g. 203.0.113.2/24")),
			leaf("gateway", "default gateway (static mode)",
				field(func(c *Config) *netip.Addr { return &c.Interfaces.WAN.Gateway }), tIPv4("gateway address in the WAN subnet")),
			mtu(func(c *Config) *int { return &c.Interfaces.WAN.MTU }),
			multi("dns", "DNS server (static mode; repeat the command for more)", maxDNS,
				addrs(func(c *Config) *[]netip.Addr { return &c.Interfaces.WAN.DNS }), tIPv4("DNS server address")),
			container("ipv6", "IPv6 on the WAN",
				leaf("mode", "how the WAN gets IPv6 (default dhcpv6-pd)",
					field(func(c *Config) *IPv6Mode { return &c.Interfaces.WAN.IPv6.Mode }), tChoices(
						choice{"dhcpv6-pd", "a prefix for the LAN from the ISP's DHCPv6 server (default)", IPv6DHCPv6PD},
						choice{"slaac", "a WAN address by SLAAC only, no delegated prefix", IPv6SLAAC},
						choice{"static", "address, gateway and prefix given below", IPv6Static},
						choice{"off", "no IPv6 on the WAN", IPv6Off},
					)),
				leaf("prefix-length", "delegated prefix length asked for (dhcpv6-pd mode; default 56)",
					field(func(c *Config) *int { return &c.Interfaces.WAN.IPv6.PrefixLength }), tInt(48, 64, "prefix length hint")),
				leaf("address", "WAN IPv6 address and prefix length (static mode)",
					field(func(c *Config) *netip.Prefix { return &c.Interfaces.WAN.IPv6.Address }), tIPv6IfAddr("address/length, e.g. 2600:1:2:3::2/64")),
				leaf("gateway", "default gateway (static mode)",
					field(func(c *Config) *netip.Addr { return &c.Interfaces.WAN.IPv6.Gateway }), tIPv6("gateway's link-local or global address", acceptGateway)),
				leaf("prefix", "prefix the ISP routes to the router, for the LAN (static mode)",
					field(func(c *Config) *netip.Prefix { return &c.Interfaces.WAN.IPv6.Prefix }),
					tIPv6Net(32, 64, "prefix/length, /32 to /64, e.g. 2600:1:2:100::/56", "2600:1:2:100::/56")),
				multi("dns", "DNS server (static mode; repeat the command for more)", MaxIPv6DNS,
					addrs(func(c *Config) *[]netip.Addr { return &c.Interfaces.WAN.IPv6.DNS }), tIPv6("DNS server address", acceptDNS)),
			),
		),
	),
	container("dhcp-server", "DHCP server",
		container("lan", "DHCP server on the LAN",
			leaf("range", "first and last address handed out",
				pair(func(c *Config) *netip.Addr { return &c.DHCPServer.LAN.RangeStart },
					func(c *Config) *netip.Addr { return &c.DHCPServer.LAN.RangeEnd }),
				tIPv4("first address of the pool"), tIPv4("last address of the pool")),
			leaf("lease-time", "how long a lease lasts (default 12h)",
				field(func(c *Config) *time.Duration { return &c.DHCPServer.LAN.LeaseTime }),
				tDuration(time.Minute, 365*24*time.Hour, "duration, e.g. 12h, 30m, 1d or seconds")),
			multi("dns", "DNS server offered to clients (repeat the command for more)", maxDNS,
				addrs(func(c *Config) *[]netip.Addr { return &c.DHCPServer.LAN.DNS }), tIPv4("DNS server address")),
			tagged("static", "fixed address for one host", tName("name of this host entry"), staticList,
				leaf("mac", "the host's MAC address",
					entryField(staticLookup, func(e *StaticLease) *MAC { return &e.MAC }), tMAC("MAC address")),
				leaf("ip", "address given to the host",
					entryField(staticLookup, func(e *StaticLease) *netip.Addr { return &e.IP }), tIPv4("address in the LAN subnet")),
			),
		),
	),
	container("nat", "address and port translation",
		leaf("filtering", "which inbound packets reach a mapping (default address-dependent)",
			field(func(c *Config) *Filtering { return &c.NAT.Filtering }), tChoices(
				choice{"endpoint-independent", "any remote host may send to a mapping (most open)", FilterEndpointIndependent},
				choice{"address-dependent", "only hosts the LAN side has sent to (default)", FilterAddressDependent},
				choice{"address-port-dependent", "only the exact host and port sent to (strictest)", FilterAddressPortDependent},
			)),
		container("timeout", "idle timeouts of mappings, in seconds",
			timeout("udp", "UDP (default 300; RFC 4787 wants at least 120)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.UDP }),
			timeout("tcp-established", "established TCP (default 7440; RFC 5382 wants at least 7440)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.TCPEstablished }),
			timeout("tcp-transitory", "TCP opening or closing (default 240)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.TCPTransitory }),
			timeout("icmp", "ICMP queries (default 60; RFC 5508 wants at least 60)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.ICMP }),
			timeout("gre", "PPTP GRE calls (default 600)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.GRE }),
			timeout("esp", "IPsec ESP (default 600)", func(c *Config) *time.Duration { return &c.NAT.Timeouts.ESP }),
		),
		leaf("hairpin", "LAN hosts may reach each other via the WAN address (default enable)",
			field(func(c *Config) *bool { return &c.NAT.Hairpin }), tSwitch("hairpinning")),
		leaf("mss-clamp", "rewrite the TCP MSS of forwarded SYNs (default auto)",
			field(func(c *Config) *int { return &c.NAT.MSSClamp }), tMSS()),
		tagged("port-forward", "send inbound connections on a WAN port to a LAN host", tName("name of this forward"), forwardList,
			leaf("protocol", "transport protocol",
				entryField(forwardLookup, func(e *PortForward) *Protocol { return &e.Protocol }), protocols()),
			leaf("port", "external port or range on the WAN address",
				entryField(forwardLookup, func(e *PortForward) *PortRange { return &e.Port }), tPorts("external port, e.g. 8080 or 8000-8010")),
			leaf("to", "LAN host that receives the connections",
				entryField(forwardLookup, func(e *PortForward) *netip.Addr { return &e.To }), tIPv4("LAN host address")).withThen(
				leaf("port", "port or range on the LAN host (default: same as external)",
					entryField(forwardLookup, func(e *PortForward) *PortRange { return &e.ToPort }), tPorts("internal port, e.g. 80 or 8000-8010")),
			),
		),
		leaf("dmz", "LAN host that receives all unsolicited inbound traffic",
			field(func(c *Config) *netip.Addr { return &c.NAT.DMZ }), tIPv4("LAN host address")),
		leaf("max-sessions", "most NAT sessions in total (default 0 = sized from memory)",
			field(func(c *Config) *int { return &c.NAT.MaxSessions }), tInt(0, 1<<24, "number of sessions; 0 = automatic")),
		leaf("max-sessions-per-host", "most NAT sessions per LAN host (default 0 = automatic)",
			field(func(c *Config) *int { return &c.NAT.MaxSessionsPerHost }), tInt(0, 1<<20, "number of sessions; 0 = automatic")),
	),
	container("firewall", "stateful firewall",
		container("ipv6", "IPv6 firewall: what unsolicited inbound traffic reaches LAN hosts",
			tagged("allow", "let inbound connections to ports of a LAN host through", tName("name of this rule"), allowList,
				leaf("protocol", "transport protocol",
					entryField(allowLookup, func(e *IPv6Allow) *Protocol { return &e.Protocol }), protocols()),
				leaf("port", "port or range on the LAN host",
					entryField(allowLookup, func(e *IPv6Allow) *PortRange { return &e.Port }), tPorts("port, e.g. 22 or 6000-6010")),
				leaf("to", "LAN host that receives the connections",
					entryField(allowLookup, func(e *IPv6Allow) *netip.Addr { return &e.To }), tIPv6("the LAN host's IPv6 address", acceptLANHost)),
			).withMax(MaxAllowRules),
			leaf("inbound-ping", "unsolicited echo requests reach LAN hosts (default enable)",
				field(func(c *Config) *bool { return &c.Firewall.IPv6.InboundPing }), tSwitch("inbound ping")),
			leaf("inbound-ipsec", "unsolicited ESP and IKE reach LAN hosts (default enable)",
				field(func(c *Config) *bool { return &c.Firewall.IPv6.InboundIPsec }), tSwitch("inbound IPsec")),
			leaf("transparent", "no IPv6 firewall: every inbound connection reaches LAN hosts (default disable)",
				field(func(c *Config) *bool { return &c.Firewall.IPv6.Transparent }), tSwitch("transparent mode")),
		),
		tagged("rule", "a rule for IPv4 connections through the router or to it (first match, in order)", tName("name of this rule"), ruleList,
			leaf("order", "where the rule runs: lower first, then by name (default 0)",
				entryField(ruleLookup, func(e *FirewallRule) *int { return &e.Order }), tInt(0, 9999, "position")),
			leaf("from", "where the connection comes from (default any)",
				entryField(ruleLookup, func(e *FirewallRule) *Endpoint { return &e.From }), tEndpoint(false, "lan, wan, a device's MAC or name, an address or prefix")),
			leaf("to", "where the connection goes (default any)",
				entryField(ruleLookup, func(e *FirewallRule) *Endpoint { return &e.To }), tEndpoint(true, "lan, wan, self (the router), a device's MAC or name, an address or prefix")),
			leaf("protocol", "protocol (default any)",
				entryField(ruleLookup, func(e *FirewallRule) *RuleProto { return &e.Protocol }), tChoices(
					choice{"tcp", "TCP only", RuleTCP},
					choice{"udp", "UDP only", RuleUDP},
					choice{"tcp-udp", "TCP and UDP", RuleTCPUDP},
					choice{"icmp", "ICMP (ping)", RuleICMP},
				)),
			leaf("icmp-type", "ICMP message type, IPv4 and IPv6 (protocol icmp; default any)",
				entryField(ruleLookup, func(e *FirewallRule) *ICMPType { return &e.ICMPType }), tICMPType()),
			leaf("port", "destination port or range (TCP, UDP; default any)",
				entryField(ruleLookup, func(e *FirewallRule) *PortRange { return &e.Port }), tPorts("port, e.g. 53 or 6000-6010")),
			leaf("time", "only during this daily window (default at any time)",
				entryField(ruleLookup, func(e *FirewallRule) *TimeWindow { return &e.Time }), tTimeWindow()),
			leaf("days", "only on these days (default every day)",
				entryField(ruleLookup, func(e *FirewallRule) *Weekdays { return &e.Days }), tWeekdays()),
			leaf("action", "what the rule does",
				entryField(ruleLookup, func(e *FirewallRule) *RuleAction { return &e.Action }), tChoices(
					choice{"accept", "let the connection through", ActionAccept},
					choice{"drop", "drop it silently", ActionDrop},
					choice{"reject", "refuse it: a LAN device is told at once (TCP reset; other protocols: ICMP administratively prohibited)", ActionReject},
				)),
			leaf("log", "log the connections it matches (rate-limited; default disable)",
				entryField(ruleLookup, func(e *FirewallRule) *bool { return &e.Log }), tSwitch("logging")),
		).withMax(MaxFirewallRules),
		container("mac-filter", "which LAN devices may use the router, by MAC address",
			leaf("mode", "how the device list is used (default off)",
				field(func(c *Config) *MACFilterMode { return &c.Firewall.MACFilter.Mode }), tChoices(
					choice{"off", "every device may use the router (default)", MACFilterOff},
					choice{"allow", "only the devices listed", MACFilterAllow},
					choice{"deny", "every device but those listed", MACFilterDeny},
				)),
			tagged("device", "a device of the list", tName("name of this device"), macDevList,
				leaf("mac", "the device's MAC address",
					entryField(macDevLookup, func(e *MACDevice) *MAC { return &e.MAC }), tMAC("MAC address")),
			).withMax(MaxMACDevices),
		),
	),
	container("qos", "shaping of the WAN line: VPN traffic first, no bufferbloat",
		leaf("upload", "shape what goes to the WAN at this rate, a little below the line's upload (default off)",
			field(func(c *Config) *uint64 { return &c.QoS.Upload }), tRate()),
		leaf("download", "shape what comes from the WAN (sent to the LAN) at this rate, a little below the line's download (default off)",
			field(func(c *Config) *uint64 { return &c.QoS.Download }), tRate()),
		tagged("priority", "more traffic in the priority tier (VPN, DNS and bare ACKs are there already)", tName("name of this class"), qosList,
			leaf("protocol", "transport protocol",
				entryField(qosLookup, func(e *QoSClass) *Protocol { return &e.Protocol }), protocols()),
			leaf("port", "port or range, either end of the connection",
				entryField(qosLookup, func(e *QoSClass) *PortRange { return &e.Port }), tPorts("port, e.g. 3478 or 3478-3479")),
		).withMax(MaxQoSClasses),
	),
	container("passthrough", "VPN passthrough helpers",
		leaf("pptp", "PPTP control and GRE calls (default enable)",
			field(func(c *Config) *bool { return &c.Passthrough.PPTP }), tSwitch("PPTP passthrough")),
		leaf("l2tp", "L2TP over UDP 1701 (default enable)",
			field(func(c *Config) *bool { return &c.Passthrough.L2TP }), tSwitch("L2TP passthrough")),
		leaf("ipsec", "IKE, NAT-T and raw ESP (default enable)",
			field(func(c *Config) *bool { return &c.Passthrough.IPsec.Enabled }), tSwitch("IPsec passthrough")).withChildren(
			leaf("esp-mode", "how raw ESP finds its LAN host (default spi-learning)",
				field(func(c *Config) *ESPMode { return &c.Passthrough.IPsec.ESPMode }), tChoices(
					choice{"spi-learning", "learn inbound SPIs: several hosts per server (default)", ESPSPILearning},
					choice{"single-client", "one LAN host per remote server", ESPSingleClient},
				)),
			leaf("ike-share-port", "share external UDP 500 and route inbound IKE by initiator SPI (default disable)",
				field(func(c *Config) *bool { return &c.Passthrough.IPsec.IKESharePort }), tSwitch("IKE port sharing")),
		),
	),
	dnsNode(),
	container("service", "the router's own services",
		container("ssh", "SSH server for the shell",
			leaf("listen", "where SSH accepts connections (default lan)",
				field(func(c *Config) *SSHListen { return &c.Service.SSH.Listen }), tChoices(
					choice{"lan", "LAN side only (default)", ListenLAN},
					choice{"wan", "WAN side only", ListenWAN},
					choice{"all", "both sides", ListenAll},
				)),
			leaf("port", "TCP port (default 22)",
				field(func(c *Config) *int { return &c.Service.SSH.Port }), tInt(1, 65535, "TCP port")),
			tagged("authorized-key", "public key allowed to log in as admin", tName("name of this key"), keyList).withValue(
				entryField(keyLookup, func(e *AuthorizedKey) *string { return &e.Key }), tAuthorizedKey()),
		),
		leaf("web", "the admin page on https://LAN-address/, LAN side only (default enable)",
			field(func(c *Config) *bool { return &c.Service.Web.Enabled }), tSwitch("web admin page")),
		leaf("port-mapping", "LAN hosts may open ports for themselves with NAT-PMP, PCP and UPnP IGD (default disable)",
			field(func(c *Config) *bool { return &c.Service.PortMapping }), tSwitch("port mapping")),
	),
)
