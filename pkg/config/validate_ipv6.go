package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// recheck runs a value of a Config built in Go through the parser the
// shell uses for it, so such a value is held to the same rules (Parse and
// Set never produce one that fails).
func (v *validator) recheck(path string, t *vtype, val any) bool {
	if _, err := t.parse(t.format(val)); err != nil {
		v.err(path, "%v", err)
		return false
	}
	return true
}

// The value types the IPv6 checks hold Go-built values to.
var (
	vULA          = tULA()
	vSubnetID     = tSubnetID()
	vIPv6DNS      = tIPv6("", acceptDNS)
	vDomain       = tDomain("")
	vPrefixLength = tInt(48, 64, "")
	vWANAddr6     = tIPv6IfAddr("")
	vGateway6     = tIPv6("", acceptGateway)
	vPrefix6      = tIPv6Net(32, 64, "", "2600:1:2:100::/56")
	vLANHost6     = tIPv6("", acceptLANHost)
	vPorts        = tPorts("")
)

func (v *validator) dnsList(path string, dns []netip.Addr) {
	if len(dns) > MaxIPv6DNS {
		v.err(path, "%d servers; at most %d are allowed, delete some", len(dns), MaxIPv6DNS)
	}
	for _, a := range dns {
		v.recheck(path, vIPv6DNS, a)
	}
}

// subnetIDs is how many subnet ids (LAN /64s) a prefix of bits (up to
// 64) holds, at most MaxSubnetID+1.
func subnetIDs(bits int) int { return 1 << (64 - max(bits, 48)) }

// lanPrefix returns the /64 with subnet id id inside p (p at most a /64
// and id fitting it).
func lanPrefix(p netip.Prefix, id int) netip.Prefix {
	a := p.Masked().Addr().As16()
	a[6] |= byte(id >> 8)
	a[7] |= byte(id)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func (c *Config) checkIPv6Interfaces(v *validator) {
	l, w := c.Interfaces.LAN.IPv6, c.Interfaces.WAN.IPv6

	// LAN.
	if l.ULA.IsValid() {
		v.recheck("interfaces lan ipv6 ula", vULA, l.ULA)
		if l.NoULA {
			v.err("interfaces lan ipv6 ula", "is both disable and %s; choose one", l.ULA)
		}
	}
	idOK := l.SubnetID >= 0 && l.SubnetID <= MaxSubnetID
	if !idOK {
		v.err("interfaces lan ipv6 subnet-id", "%d is out of range; use 0-65535 (hex 0x0-0xffff)", l.SubnetID)
	}
	v.dnsList("interfaces lan ipv6 dns", l.DNS)
	if l.Domain != "" {
		v.recheck("interfaces lan ipv6 domain", vDomain, l.Domain)
	}
	if l.Disabled {
		var unused []string
		if l.ULA.IsValid() || l.NoULA {
			unused = append(unused, "ula")
		}
		if l.SubnetID != 0 {
			unused = append(unused, "subnet-id")
		}
		if len(l.DNS) > 0 {
			unused = append(unused, "dns")
		}
		if l.Domain != "" {
			unused = append(unused, "domain")
		}
		if len(unused) > 0 {
			list, verb := unused[0], "has"
			if n := len(unused); n > 1 {
				list, verb = strings.Join(unused[:n-1], ", ")+" and "+unused[n-1], "have"
			}
			v.warn("interfaces lan ipv6", "is disabled, so %s %s no effect; set interfaces lan ipv6 enable to use them", list, verb)
		}
	} else if l.NoULA && w.Mode == IPv6Off {
		v.warn("interfaces lan ipv6 ula", "is disabled and interfaces wan ipv6 mode is off, so the LAN gets no IPv6 prefix (link-local only); delete interfaces lan ipv6 ula, or set interfaces lan ipv6 disable")
	}

	// WAN.
	modes := []IPv6Mode{IPv6DHCPv6PD, IPv6SLAAC, IPv6Static, IPv6Off}
	if !slices.Contains(modes, w.Mode) {
		v.err("interfaces wan ipv6 mode", "%q is not a mode; use dhcpv6-pd, slaac, static or off", w.Mode)
	}
	plOK := v.recheck("interfaces wan ipv6 prefix-length", vPrefixLength, w.PrefixLength)
	addrOK := w.Address.IsValid() && v.recheck("interfaces wan ipv6 address", vWANAddr6, w.Address)
	gwOK := w.Gateway.IsValid() && v.recheck("interfaces wan ipv6 gateway", vGateway6, w.Gateway)
	pfxOK := w.Prefix.IsValid() && v.recheck("interfaces wan ipv6 prefix", vPrefix6, w.Prefix)
	v.dnsList("interfaces wan ipv6 dns", w.DNS)

	if w.Mode == IPv6Static {
		if !w.Gateway.IsValid() {
			v.err("interfaces wan ipv6 gateway", "mode static needs a gateway; e.g. set interfaces wan ipv6 gateway fe80::1")
		}
		if !w.Prefix.IsValid() && !w.Address.IsValid() {
			v.err("interfaces wan ipv6 prefix", "mode static needs the prefix routed to the router (or at least an address); e.g. set interfaces wan ipv6 prefix 2600:1:2:100::/56")
		}
		if gwOK && !w.Gateway.IsLinkLocalUnicast() {
			switch {
			case !addrOK:
				v.err("interfaces wan ipv6 gateway", "%s is a global address, which is reachable only inside the WAN subnet of interfaces wan ipv6 address, and that is not set; set the address, or give the gateway's link-local address (fe80::...)", w.Gateway)
			case w.Gateway == w.Address.Addr():
				v.err("interfaces wan ipv6 gateway", "%s is the router's own WAN address; give the ISP's gateway (its link-local address, or one in %s)", w.Gateway, w.Address.Masked())
			case !w.Address.Masked().Contains(w.Gateway):
				v.err("interfaces wan ipv6 gateway", "%s is outside the WAN subnet %s; give the gateway's link-local address (fe80::...) or one in %s", w.Gateway, w.Address.Masked(), w.Address.Masked())
			}
		}
		if pfxOK && idOK {
			if n := subnetIDs(w.Prefix.Bits()); l.SubnetID >= n {
				v.err("interfaces lan ipv6 subnet-id", "%d does not fit the static prefix %s: a /%d holds subnet ids 0 to %d; use one of those",
					l.SubnetID, w.Prefix, w.Prefix.Bits(), n-1)
			} else if lp := lanPrefix(w.Prefix, l.SubnetID); addrOK && lp.Overlaps(w.Address.Masked()) {
				v.err("interfaces lan ipv6 subnet-id", "%d gives the LAN %s, which overlaps the WAN subnet %s; choose another subnet-id",
					l.SubnetID, lp, w.Address.Masked())
			}
		}
	} else {
		why := map[IPv6Mode]string{
			IPv6DHCPv6PD: "the ISP's DHCPv6 server and router advertisements provide it",
			IPv6SLAAC:    "the ISP's router advertisements provide it",
			IPv6Off:      "IPv6 is off on the WAN",
		}[w.Mode]
		if why == "" {
			why = "only mode static uses it"
		}
		ignored := fmt.Sprintf("is ignored in mode %s (%s); delete it or set interfaces wan ipv6 mode static", w.Mode, why)
		if w.Address.IsValid() {
			v.warn("interfaces wan ipv6 address", "%s", ignored)
		}
		if w.Gateway.IsValid() {
			v.warn("interfaces wan ipv6 gateway", "%s", ignored)
		}
		if w.Prefix.IsValid() {
			v.warn("interfaces wan ipv6 prefix", "%s", ignored)
		}
		if len(w.DNS) > 0 {
			v.warn("interfaces wan ipv6 dns", "%s", ignored)
		}
	}
	if w.Mode != IPv6DHCPv6PD && w.PrefixLength != New().Interfaces.WAN.IPv6.PrefixLength {
		v.warn("interfaces wan ipv6 prefix-length", "is asked for only in mode dhcpv6-pd, so it is ignored in mode %s; delete it or set interfaces wan ipv6 mode dhcpv6-pd", w.Mode)
	}
	if w.Mode == IPv6DHCPv6PD && plOK && idOK && !l.Disabled {
		if n := subnetIDs(w.PrefixLength); l.SubnetID >= n {
			v.warn("interfaces lan ipv6 subnet-id", "%d does not fit the /%d asked for (interfaces wan ipv6 prefix-length), which holds subnet ids 0 to %d: the LAN gets a global prefix only if the ISP delegates a larger one; use 0 to %d",
				l.SubnetID, w.PrefixLength, n-1, n-1)
		}
	}
}

func (c *Config) checkFirewall(v *validator) {
	c.checkMACFilter(v)
	c.checkRules(v)
	f := c.Firewall.IPv6
	if len(f.Allow) > MaxAllowRules {
		v.err("firewall ipv6 allow", "%d rules; at most %d are allowed, delete some", len(f.Allow), MaxAllowRules)
	}
	protos := []Protocol{ProtoTCP, ProtoUDP, ProtoTCPUDP}
	for _, r := range f.Allow {
		p := "firewall ipv6 allow " + r.Name
		switch {
		case r.Protocol == "":
			v.err(p, "has no protocol; add protocol tcp, udp or tcp-udp")
		case !slices.Contains(protos, r.Protocol):
			v.err(p, "protocol %q is not valid; use tcp, udp or tcp-udp", r.Protocol)
		}
		if r.Port.IsZero() {
			v.err(p, "has no port; add the port, e.g. port 22 or port 6000-6010")
		} else if _, err := vPorts.parse(fmt.Sprintf("%d-%d", r.Port.First, r.Port.Last)); err != nil {
			v.err(p, "%v", err)
		}
		if !r.To.IsValid() {
			v.err(p, "has no to; add the LAN host, e.g. to 2600:1:2:3::10")
		} else {
			v.recheck(p, vLANHost6, r.To)
		}
	}
	if len(f.Allow) > 0 && c.Interfaces.LAN.IPv6.Disabled {
		v.warn("firewall ipv6 allow", "has no effect while interfaces lan ipv6 is disabled; set interfaces lan ipv6 enable, or delete the rules")
	}
	if f.Transparent && !c.Interfaces.LAN.IPv6.Disabled {
		v.warn("firewall ipv6 transparent", "is enabled: anyone on the Internet can connect to every LAN host over IPv6; set firewall ipv6 transparent disable, and use allow rules for the hosts that must be reachable")
	}
}
