package config

import (
	"net/netip"
	"slices"
	"strings"
)

// DNS is the router's DNS forwarder for the LAN (pkg/dnsfwd).
type DNS struct {
	// Forwarder: the router answers DNS on its LAN addresses and the DHCP
	// server and router advertisements name it (default true).
	Forwarder bool
	// Upstream are the servers the forwarder asks, in order, then
	// TLSUpstreams (DNS over TLS); both empty: the WAN's (from DHCP,
	// DHCPv6 or the static configuration).
	Upstream     []netip.Addr
	TLSUpstreams []DNSTLSUpstream // sorted by Name
	// Domain is the local domain LAN host names live under (default "lan").
	Domain string
	// Hosts are fixed names, sorted by Name.
	Hosts []DNSHost
	// RebindProtection drops private addresses from answers for public
	// names (default true); RebindAllow are domains exempt from it.
	RebindProtection bool
	RebindAllow      []string
}

// DNSHost is one fixed name: NAME.domain resolves to its addresses.
type DNSHost struct {
	Name    string
	Address netip.Addr // IPv4
	IPv6    netip.Addr
}

// DNSTLSUpstream is a resolver asked over TLS (RFC 7858): its
// certificate must be valid for ServerName.
type DNSTLSUpstream struct {
	Name       string
	Address    netip.Addr
	ServerName string
	Port       int // 0: 853
}

// DNS limits.
const (
	MaxDNSUpstreams   = 4
	MaxDNSTLS         = 4
	MaxDNSHosts       = 256
	MaxDNSRebindAllow = 32
)

var dnsTLSList, dnsTLSLookup = entries(func(c *Config) *[]DNSTLSUpstream { return &c.DNS.TLSUpstreams }, func(e *DNSTLSUpstream) *string { return &e.Name })

var dnsHostList, dnsHostLookup = entries(func(c *Config) *[]DNSHost { return &c.DNS.Hosts }, func(e *DNSHost) *string { return &e.Name })

func dnsNode() *node {
	return container("dns", "the router's DNS forwarder for the LAN",
		leaf("forwarder", "answer DNS for LAN hosts on the router's addresses (default enable)",
			field(func(c *Config) *bool { return &c.DNS.Forwarder }), tSwitch("the DNS forwarder")),
		multi("upstream", "DNS server the forwarder asks (default: the WAN's; repeat the command for more)", MaxDNSUpstreams,
			addrs(func(c *Config) *[]netip.Addr { return &c.DNS.Upstream }), tIPAny("upstream DNS server address")),
		tagged("tls-upstream", "a DNS server asked over TLS (DNS over TLS, port 853)", tName("name of this server"), dnsTLSList,
			leaf("address", "its address",
				entryField(dnsTLSLookup, func(e *DNSTLSUpstream) *netip.Addr { return &e.Address }), tIPAny("DNS over TLS server address")),
			leaf("server-name", "the name its certificate must carry",
				entryField(dnsTLSLookup, func(e *DNSTLSUpstream) *string { return &e.ServerName }), tHostname("server name, e.g. dns.quad9.net")),
			leaf("port", "TCP port (default 853)",
				entryField(dnsTLSLookup, func(e *DNSTLSUpstream) *int { return &e.Port }), tInt(1, 65535, "TCP port")),
		).withMax(MaxDNSTLS),
		leaf("domain", "local domain of LAN host names (default lan)",
			field(func(c *Config) *string { return &c.DNS.Domain }), tDomain("local domain, e.g. lan or home.arpa")),
		tagged("host", "a fixed name for a LAN address", tHostname("host name, e.g. nas"), dnsHostList,
			leaf("address", "the host's IPv4 address",
				entryField(dnsHostLookup, func(e *DNSHost) *netip.Addr { return &e.Address }), tIPv4("IPv4 address")),
			leaf("ipv6", "the host's IPv6 address",
				entryField(dnsHostLookup, func(e *DNSHost) *netip.Addr { return &e.IPv6 }), tIPv6("IPv6 address", acceptLANHost)),
		).withMax(MaxDNSHosts),
		leaf("rebind-protection", "drop private addresses from answers for public names (default enable)",
			field(func(c *Config) *bool { return &c.DNS.RebindProtection }), tSwitch("DNS rebinding protection")),
		multi("rebind-allow", "domain whose answers may hold private addresses (repeat the command for more)", MaxDNSRebindAllow,
			strs(func(c *Config) *[]string { return &c.DNS.RebindAllow }), tDomain("domain, e.g. corp.example.com")),
	)
}

// strs binds a repeatable leaf to a list of strings.
func strs(p func(c *Config) *[]string) multiBinding {
	return multiBinding{
		items: func(c *Config) []any {
			var out []any
			for _, s := range *p(c) {
				out = append(out, s)
			}
			return out
		},
		add: func(c *Config, v any) bool {
			s := strings.ToLower(v.(string))
			if slices.Contains(*p(c), s) {
				return false
			}
			*p(c) = append(*p(c), s)
			return true
		},
		remove: func(c *Config, v any) bool {
			i := slices.Index(*p(c), strings.ToLower(v.(string)))
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

// tIPAny is an IPv4 or IPv6 unicast address.
func tIPAny(help string) *vtype {
	v4, v6 := tIPv4(help), tIPv6(help, acceptDNS)
	return &vtype{
		ph:   "<A.B.C.D|X:X::X>",
		help: help,
		parse: func(s string) (any, error) {
			if strings.Contains(s, ":") {
				return v6.parse(s)
			}
			return v4.parse(s)
		},
		format: func(v any) string { return v.(netip.Addr).String() },
	}
}

// checkDNS validates the DNS section.
func (c *Config) checkDNS(v *validator) {
	d := c.DNS
	for _, h := range d.Hosts {
		path := "dns host " + h.Name
		if !h.Address.IsValid() && !h.IPv6.IsValid() {
			v.err(path, "has no address; add e.g. set dns host %s address 192.168.1.5", h.Name)
		}
		if strings.Contains(h.Name, ".") && !strings.HasSuffix(strings.ToLower(h.Name), "."+c.dnsDomain()) {
			v.err(path, "is not under the local domain %s; use a single name (it becomes %s.%s)", c.dnsDomain(),
				strings.SplitN(h.Name, ".", 2)[0], c.dnsDomain())
		}
	}
	for _, u := range d.TLSUpstreams {
		path := "dns tls-upstream " + u.Name
		if !u.Address.IsValid() {
			v.err(path, "has no address; add e.g. set dns tls-upstream %s address 9.9.9.9", u.Name)
		}
		if u.ServerName == "" {
			v.err(path, "has no server-name, so its certificate cannot be checked; add e.g. set dns tls-upstream %s server-name dns.quad9.net", u.Name)
		}
	}
	if !d.Forwarder && (len(d.Upstream) > 0 || len(d.Hosts) > 0 || len(d.TLSUpstreams) > 0) {
		v.warn("dns forwarder", "the forwarder is disabled, so dns upstream and dns host entries have no effect")
	}
	lan := c.Interfaces.LAN.Address.Addr()
	for _, u := range d.Upstream {
		if u == lan {
			v.err("dns upstream", "%s is the router itself; name the servers the router should ask, e.g. 9.9.9.9", u)
		}
	}
}

// dnsDomain is the local domain in effect.
func (c *Config) dnsDomain() string {
	if c.DNS.Domain == "" {
		return "lan"
	}
	return strings.ToLower(c.DNS.Domain)
}
