package config

import "strings"

// checkMACFilter: the list is sound, and an allow list cannot shut every
// device out.
func (c *Config) checkMACFilter(v *validator) {
	f := c.Firewall.MACFilter
	const p = "firewall mac-filter"
	switch f.Mode {
	case "", MACFilterOff, MACFilterAllow, MACFilterDeny:
	default:
		v.err(p+" mode", "%q is not valid; use off, allow or deny", f.Mode)
	}
	if len(f.Devices) > MaxMACDevices {
		v.err(p+" device", "%d devices; at most %d are allowed, delete some", len(f.Devices), MaxMACDevices)
	}
	macs := map[MAC]string{}
	for _, d := range f.Devices {
		dp := p + " device " + d.Name
		if d.MAC.IsZero() {
			v.err(dp, "has no mac; add it: set %s mac aa:bb:cc:dd:ee:ff", dp)
		} else if other, dup := macs[d.MAC]; dup {
			v.err(dp, "mac %s is already device %s; list each device once", d.MAC, other)
		} else {
			macs[d.MAC] = d.Name
		}
	}
	switch f.Mode {
	case MACFilterAllow:
		if len(f.Devices) == 0 {
			v.err(p+" mode", "allow with no device listed would shut every LAN device out, yours included; list the devices first: set %s device NAME mac aa:bb:cc:dd:ee:ff", p)
		}
		for _, s := range c.DHCPServer.LAN.Static {
			if !s.MAC.IsZero() && f.Blocks(s.MAC) {
				v.warn("dhcp-server lan static "+s.Name, "mac %s is not in the mac-filter allow list, so the host gets no lease and nothing forwarded; add it: set %s device %s mac %s", s.MAC, p, s.Name, s.MAC)
			}
		}
	case MACFilterDeny:
		if len(f.Devices) == 0 {
			v.warn(p+" mode", "deny with no device listed blocks nothing; list the devices to keep off the LAN: set %s device NAME mac aa:bb:cc:dd:ee:ff", p)
		}
	default:
		if len(f.Devices) > 0 {
			v.warn(p+" device", "the list has no effect while the mode is off; set %s mode allow (only the devices listed) or deny (all but them)", p)
		}
	}
}

// checkRules: every rule can match something and says what to do.
func (c *Config) checkRules(v *validator) {
	if len(c.Firewall.Rules) > MaxFirewallRules {
		v.err("firewall rule", "%d rules; at most %d are allowed, delete some", len(c.Firewall.Rules), MaxFirewallRules)
	}
	known := map[string]bool{}
	for _, s := range c.DHCPServer.LAN.Static {
		known[strings.ToLower(s.Name)] = true
	}
	for _, d := range c.Firewall.MACFilter.Devices {
		known[strings.ToLower(d.Name)] = true
	}
	for _, r := range c.Firewall.Rules {
		p := "firewall rule " + r.Name
		switch r.Action {
		case ActionAccept, ActionDrop, ActionReject:
		case "":
			v.err(p, "has no action; add one: set %s action accept, drop or reject", p)
		default:
			v.err(p, "action %q is not valid; use accept, drop or reject", r.Action)
		}
		if !r.Port.IsZero() && r.Protocol != RuleTCP && r.Protocol != RuleUDP && r.Protocol != RuleTCPUDP {
			v.err(p, "port %s needs protocol tcp, udp or tcp-udp; add e.g. set %s protocol tcp", r.Port, p)
		}
		if r.ICMPType != "" {
			switch r.Protocol {
			case RuleAny, RuleICMP:
			default:
				v.err(p, "icmp-type %s needs protocol icmp (or none: icmp-type implies it), not %s; delete %s protocol, or set %s protocol icmp", r.ICMPType, r.Protocol, p, p)
			}
			if v4, _, v6, _ := r.ICMPType.Types(); v6 == 2 || v6 >= 133 && v6 <= 137 {
				what := "only IPv4 messages of this type"
				if v4 < 0 {
					what = "nothing"
				}
				v.warn(p, "icmp-type %s matches %s: the router always lets IPv6 neighbour discovery and packet-too-big through to itself, since IPv6 stops working without them, and they do not cross the router", r.ICMPType, what)
			}
		}
		switch {
		case r.From.Zone == "lan" && r.To.Zone == "lan":
			v.err(p, "goes from lan to lan: LAN devices reach each other through the switch, not through the router, so no rule sees it")
		case r.From.Zone == "wan" && r.To.Zone == "wan":
			v.err(p, "goes from wan to wan: the router forwards nothing from the WAN back to it")
		case !r.From.MAC.IsZero() && !r.To.MAC.IsZero(), r.From.Host != "" && r.To.Host != "":
			v.err(p, "goes from one LAN device to another: the router does not see that traffic")
		}
		if r.Action == ActionReject && r.From.Zone == "wan" {
			v.warn(p, "rejects connections from the WAN by dropping them: the router tells only LAN devices")
		}
		for _, e := range []Endpoint{r.From, r.To} {
			if e.Host != "" && !known[e.Host] {
				v.warn(p, "matches %s only while a device has a DHCP lease with that host name; a static lease or a mac-filter device of that name makes it sure", e.Host)
			}
		}
	}
}

// checkQoS: every priority class names its protocol and ports.
func (c *Config) checkQoS(v *validator) {
	for _, q := range c.QoS.Priority {
		p := "qos priority " + q.Name
		if q.Protocol == "" {
			v.err(p, "has no protocol; add protocol tcp, udp or tcp-udp")
		}
		if q.Port.IsZero() {
			v.err(p, "has no port; add the port, e.g. port 3478 or port 3478-3479")
		}
	}
	if len(c.QoS.Priority) > 0 && c.QoS.Upload == 0 && c.QoS.Download == 0 {
		v.warn("qos priority", "has no effect while neither qos upload nor qos download is set")
	}
}
