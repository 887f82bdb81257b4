package config

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
