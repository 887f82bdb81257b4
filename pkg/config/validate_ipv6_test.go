package config

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestValidateIPv6: every error and warning of the IPv6 checks, from set
// lines and from values only a Config built in Go can hold.
func TestValidateIPv6(t *testing.T) {
	const static = "set interfaces wan ipv6 mode static\nset interfaces wan ipv6 gateway fe80::1\n"
	tests := []struct {
		name  string
		lines string          // applied to validBase
		edit  func(c *Config) // then this
		errs  []string
		warns []string
	}{
		{name: "dhcpv6-pd with everything on the LAN",
			lines: "set interfaces lan ipv6 ula fd12:3456:789a::/48\nset interfaces lan ipv6 subnet-id 255\nset interfaces lan ipv6 dns fd12:3456:789a::1\nset interfaces lan ipv6 domain home.arpa\nset interfaces wan ipv6 prefix-length 56"},
		{name: "static complete", lines: static + "set interfaces wan ipv6 address 2600:1:2:3::2/64\nset interfaces wan ipv6 prefix 2600:1:2:100::/56\nset interfaces wan ipv6 dns 2620:fe::fe"},
		{name: "static with a prefix only", lines: static + "set interfaces wan ipv6 prefix 2600:1:2:100::/56"},
		{name: "static with an address only", lines: static + "set interfaces wan ipv6 address 2600:1:2:3::2/64"},
		{name: "static with a global gateway in the subnet", lines: "set interfaces wan ipv6 mode static\nset interfaces wan ipv6 address 2600:1:2:3::2/64\nset interfaces wan ipv6 gateway 2600:1:2:3::1"},
		{name: "static without gateway and prefix", lines: "set interfaces wan ipv6 mode static",
			errs: []string{
				"interfaces wan ipv6 gateway: mode static needs a gateway; e.g. set interfaces wan ipv6 gateway fe80::1",
				"interfaces wan ipv6 prefix: mode static needs the prefix routed to the router (or at least an address); e.g. set interfaces wan ipv6 prefix 2600:1:2:100::/56",
			}},
		{name: "static global gateway without address", lines: "set interfaces wan ipv6 mode static\nset interfaces wan ipv6 gateway 2600:1:2:3::1\nset interfaces wan ipv6 prefix 2600:1:2:100::/56",
			errs: []string{"interfaces wan ipv6 gateway: 2600:1:2:3::1 is a global address, which is reachable only inside the WAN subnet of interfaces wan ipv6 address, and that is not set; set the address, or give the gateway's link-local address (fe80::...)"}},
		{name: "static global gateway outside the subnet", lines: "set interfaces wan ipv6 mode static\nset interfaces wan ipv6 gateway 2600:1:2:4::1\nset interfaces wan ipv6 address 2600:1:2:3::2/64",
			errs: []string{"interfaces wan ipv6 gateway: 2600:1:2:4::1 is outside the WAN subnet 2600:1:2:3::/64; give the gateway's link-local address (fe80::...) or one in 2600:1:2:3::/64"}},
		{name: "static gateway is the router", lines: "set interfaces wan ipv6 mode static\nset interfaces wan ipv6 gateway 2600:1:2:3::2\nset interfaces wan ipv6 address 2600:1:2:3::2/64",
			errs: []string{"interfaces wan ipv6 gateway: 2600:1:2:3::2 is the router's own WAN address; give the ISP's gateway (its link-local address, or one in 2600:1:2:3::/64)"}},
		{name: "subnet-id does not fit the static prefix", lines: static + "set interfaces wan ipv6 prefix 2600:1:2:100::/60\nset interfaces lan ipv6 subnet-id 16",
			errs: []string{"interfaces lan ipv6 subnet-id: 16 does not fit the static prefix 2600:1:2:100::/60: a /60 holds subnet ids 0 to 15; use one of those"}},
		{name: "a /64 static prefix holds subnet id 0 only", lines: static + "set interfaces wan ipv6 prefix 2600:1:2:100::/64\nset interfaces lan ipv6 subnet-id 1",
			errs: []string{"interfaces lan ipv6 subnet-id: 1 does not fit the static prefix 2600:1:2:100::/64: a /64 holds subnet ids 0 to 0; use one of those"}},
		{name: "a /32 static prefix holds every subnet id", lines: static + "set interfaces wan ipv6 prefix 2600:1::/32\nset interfaces lan ipv6 subnet-id 0xffff"},
		{name: "LAN /64 on the WAN subnet", lines: static + "set interfaces wan ipv6 prefix 2600:1:2:100::/56\nset interfaces wan ipv6 address 2600:1:2:101::2/64\nset interfaces lan ipv6 subnet-id 1",
			errs: []string{"interfaces lan ipv6 subnet-id: 1 gives the LAN 2600:1:2:101::/64, which overlaps the WAN subnet 2600:1:2:101::/64; choose another subnet-id"}},
		{name: "subnet-id beyond the prefix length asked for", lines: "set interfaces wan ipv6 prefix-length 60\nset interfaces lan ipv6 subnet-id 16",
			warns: []string{"interfaces lan ipv6 subnet-id: 16 does not fit the /60 asked for (interfaces wan ipv6 prefix-length), which holds subnet ids 0 to 15: the LAN gets a global prefix only if the ISP delegates a larger one; use 0 to 15"}},
		{name: "static settings in mode dhcpv6-pd", lines: "set interfaces wan ipv6 address 2600:1:2:3::2/64\nset interfaces wan ipv6 gateway fe80::1\nset interfaces wan ipv6 prefix 2600:1:2:100::/56\nset interfaces wan ipv6 dns 2620:fe::fe",
			warns: []string{
				"interfaces wan ipv6 address: is ignored in mode dhcpv6-pd (the ISP's DHCPv6 server and router advertisements provide it); delete it or set interfaces wan ipv6 mode static",
				"interfaces wan ipv6 gateway: is ignored in mode dhcpv6-pd (the ISP's DHCPv6 server and router advertisements provide it); delete it or set interfaces wan ipv6 mode static",
				"interfaces wan ipv6 prefix: is ignored in mode dhcpv6-pd (the ISP's DHCPv6 server and router advertisements provide it); delete it or set interfaces wan ipv6 mode static",
				"interfaces wan ipv6 dns: is ignored in mode dhcpv6-pd (the ISP's DHCPv6 server and router advertisements provide it); delete it or set interfaces wan ipv6 mode static",
			}},
		{name: "static settings in mode slaac", lines: "set interfaces wan ipv6 mode slaac\nset interfaces wan ipv6 gateway fe80::1",
			warns: []string{"interfaces wan ipv6 gateway: is ignored in mode slaac (the ISP's router advertisements provide it); delete it or set interfaces wan ipv6 mode static"}},
		{name: "static settings in mode off", lines: "set interfaces wan ipv6 mode off\nset interfaces wan ipv6 dns 2620:fe::fe",
			warns: []string{"interfaces wan ipv6 dns: is ignored in mode off (IPv6 is off on the WAN); delete it or set interfaces wan ipv6 mode static"}},
		{name: "prefix-length outside dhcpv6-pd", lines: static + "set interfaces wan ipv6 prefix 2600:1:2:100::/56\nset interfaces wan ipv6 prefix-length 48",
			warns: []string{"interfaces wan ipv6 prefix-length: is asked for only in mode dhcpv6-pd, so it is ignored in mode static; delete it or set interfaces wan ipv6 mode dhcpv6-pd"}},
		{name: "LAN settings while LAN IPv6 is disabled", lines: "set interfaces lan ipv6 disable\nset interfaces lan ipv6 ula disable\nset interfaces lan ipv6 subnet-id 1\nset interfaces lan ipv6 dns fd00::53\nset interfaces lan ipv6 domain lan",
			warns: []string{"interfaces lan ipv6: is disabled, so ula, subnet-id, dns and domain have no effect; set interfaces lan ipv6 enable to use them"}},
		{name: "one LAN setting while disabled", lines: "set interfaces lan ipv6 disable\nset interfaces lan ipv6 domain lan",
			warns: []string{"interfaces lan ipv6: is disabled, so domain has no effect; set interfaces lan ipv6 enable to use them"}},
		{name: "LAN disabled alone is fine", lines: "set interfaces lan ipv6 disable"},
		{name: "no prefix at all on the LAN", lines: "set interfaces wan ipv6 mode off\nset interfaces lan ipv6 ula disable",
			warns: []string{"interfaces lan ipv6 ula: is disabled and interfaces wan ipv6 mode is off, so the LAN gets no IPv6 prefix (link-local only); delete interfaces lan ipv6 ula, or set interfaces lan ipv6 disable"}},
		{name: "WAN off with a ULA is fine", lines: "set interfaces wan ipv6 mode off"},
		{name: "allow rules", lines: "set firewall ipv6 allow a protocol tcp port 22 to 2600:1:2:3::10\nset firewall ipv6 allow b protocol tcp-udp port 1-65535 to 2600:1:2:3::10"},
		{name: "allow rule incomplete", lines: "set firewall ipv6 allow a port 22\nset firewall ipv6 allow b protocol udp to fd00::1",
			errs: []string{
				"firewall ipv6 allow a: has no protocol; add protocol tcp, udp or tcp-udp",
				"firewall ipv6 allow a: has no to; add the LAN host, e.g. to 2600:1:2:3::10",
				"firewall ipv6 allow b: has no port; add the port, e.g. port 22 or port 6000-6010",
			}},
		{name: "allow rules while LAN IPv6 is disabled", lines: "set interfaces lan ipv6 disable\nset firewall ipv6 allow a protocol tcp port 22 to 2600:1:2:3::10",
			warns: []string{"firewall ipv6 allow: has no effect while interfaces lan ipv6 is disabled; set interfaces lan ipv6 enable, or delete the rules"}},
		{name: "transparent mode", lines: "set firewall ipv6 transparent enable",
			warns: []string{"firewall ipv6 transparent: is enabled: anyone on the Internet can connect to every LAN host over IPv6; set firewall ipv6 transparent disable, and use allow rules for the hosts that must be reachable"}},
		{name: "transparent mode without LAN IPv6", lines: "set interfaces lan ipv6 disable\nset firewall ipv6 transparent enable"},

		// Values only Go code can build: held to the parser's rules.
		{name: "Go: ula both disabled and set", edit: func(c *Config) {
			c.Interfaces.LAN.IPv6.ULA, c.Interfaces.LAN.IPv6.NoULA = netip.MustParsePrefix("fd12:3456:789a::/48"), true
		}, errs: []string{"interfaces lan ipv6 ula: is both disable and fd12:3456:789a::/48; choose one"}},
		{name: "Go: ula outside fd00::/8", edit: func(c *Config) { c.Interfaces.LAN.IPv6.ULA = netip.MustParsePrefix("fc00::/48") },
			errs: []string{"interfaces lan ipv6 ula: fc00::/48 is not inside fd00::/8; a unique local prefix starts with fd followed by 40 random bits (RFC 4193), e.g. fd12:3456:789a::/48"}},
		{name: "Go: subnet-id out of range", edit: func(c *Config) { c.Interfaces.LAN.IPv6.SubnetID = 70000 },
			errs: []string{"interfaces lan ipv6 subnet-id: 70000 is out of range; use 0-65535 (hex 0x0-0xffff)"}},
		{name: "Go: negative subnet-id", edit: func(c *Config) { c.Interfaces.LAN.IPv6.SubnetID = -1 },
			errs: []string{"interfaces lan ipv6 subnet-id: -1 is out of range; use 0-65535 (hex 0x0-0xffff)"}},
		{name: "Go: too many and bad LAN dns", edit: func(c *Config) {
			for i := 0; i < 9; i++ {
				c.Interfaces.LAN.IPv6.DNS = append(c.Interfaces.LAN.IPv6.DNS, netip.MustParseAddr("2620:fe::fe"))
			}
			c.Interfaces.LAN.IPv6.DNS[8] = netip.MustParseAddr("ff02::1")
		}, errs: []string{
			"interfaces lan ipv6 dns: 9 servers; at most 8 are allowed, delete some",
			"interfaces lan ipv6 dns: ff02::1 is a multicast address (ff00::/8); use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe",
		}},
		{name: "Go: IPv4 in the WAN dns", edit: func(c *Config) { c.Interfaces.WAN.IPv6.DNS = []netip.Addr{netip.MustParseAddr("9.9.9.9")} },
			errs:  []string{`interfaces wan ipv6 dns: "9.9.9.9" is not an IPv6 address; use a unicast address (global, unique local or link-local), e.g. 2620:fe::fe`},
			warns: []string{"interfaces wan ipv6 dns: is ignored in mode dhcpv6-pd (the ISP's DHCPv6 server and router advertisements provide it); delete it or set interfaces wan ipv6 mode static"}},
		{name: "Go: bad domain", edit: func(c *Config) { c.Interfaces.LAN.IPv6.Domain = "a..b" },
			errs: []string{`interfaces lan ipv6 domain: "a..b" is not a domain; use letters, digits and '-' (not first or last), e.g. home.arpa`}},
		{name: "Go: unknown mode", edit: func(c *Config) { c.Interfaces.WAN.IPv6.Mode = "pppoe" },
			errs: []string{`interfaces wan ipv6 mode: "pppoe" is not a mode; use dhcpv6-pd, slaac, static or off`}},
		{name: "Go: prefix-length 70", edit: func(c *Config) { c.Interfaces.WAN.IPv6.PrefixLength = 70 },
			errs: []string{"interfaces wan ipv6 prefix-length: 70 is out of range; use 48-64"}},
		{name: "Go: static values of the wrong kind", edit: func(c *Config) {
			w := &c.Interfaces.WAN.IPv6
			w.Mode = IPv6Static
			w.Address = netip.MustParsePrefix("fd00::2/64")
			w.Gateway = netip.MustParseAddr("fd00::1")
			w.Prefix = netip.MustParsePrefix("2600:1:2:180::/56")
		}, errs: []string{
			"interfaces wan ipv6 address: fd00::2 is a unique local address (fc00::/7); use a global unicast address, e.g. 2600:1:2:3::2",
			"interfaces wan ipv6 gateway: fd00::1 is a unique local address (fc00::/7); use the gateway's link-local or global unicast address, e.g. fe80::1",
			"interfaces wan ipv6 prefix: 2600:1:2:180::/56 has bits set after the first 56; the prefix is 2600:1:2:100::/56",
		}},
		{name: "Go: allow rules of the wrong kind", edit: func(c *Config) {
			c.Firewall.IPv6.Allow = []IPv6Allow{
				{Name: "a", Protocol: "icmp", Port: PortRange{30, 20}, To: netip.MustParseAddr("fe80::1")},
				{Name: "b", Protocol: ProtoUDP, Port: PortRange{0, 20}, To: netip.MustParseAddr("192.168.1.10")},
			}
		}, errs: []string{
			`firewall ipv6 allow a: protocol "icmp" is not valid; use tcp, udp or tcp-udp`,
			"firewall ipv6 allow a: port range 30-20 is reversed; give the lower port first (20-30)",
			"firewall ipv6 allow a: fe80::1 is a link-local address (fe80::/10); use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10",
			`firewall ipv6 allow b: "0-20" is not a port; use a number 1-65535 or a range like 8000-8010`,
			`firewall ipv6 allow b: "192.168.1.10" is not an IPv6 address; use a global unicast or unique local address of the LAN host, e.g. 2600:1:2:3::10`,
		}},
		{name: "Go: too many allow rules", edit: func(c *Config) {
			c.Firewall.IPv6.Allow = make([]IPv6Allow, MaxAllowRules+1)
			for i := range c.Firewall.IPv6.Allow {
				c.Firewall.IPv6.Allow[i] = IPv6Allow{Name: string(rune('a'+i%26)) + string(rune('0'+i/26)), Protocol: ProtoTCP, Port: PortRange{22, 22}, To: netip.MustParseAddr("2600:1:2:3::10")}
			}
		}, errs: []string{"firewall ipv6 allow: 129 rules; at most 128 are allowed, delete some"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			setLines(t, c, tt.lines)
			if tt.edit != nil {
				tt.edit(c)
			}
			errs, warns := c.Validate()
			if got := issueStrings(errs); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors:\ngot  %q\nwant %q", got, tt.errs)
			}
			if got := issueStrings(warns); !reflect.DeepEqual(got, tt.warns) {
				t.Errorf("warnings:\ngot  %q\nwant %q", got, tt.warns)
			}
		})
	}
}
