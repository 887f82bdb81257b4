package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/passhash"
)

// Issue is one finding of Validate.
type Issue struct {
	Path string // configuration path concerned, e.g. "dhcp-server lan range"
	Msg  string // what is wrong and what is allowed
}

func (i Issue) String() string { return i.Path + ": " + i.Msg }

// Error makes an Issue usable as an error.
func (i Issue) Error() string { return i.String() }

type validator struct {
	errs, warns []Issue
}

func (v *validator) err(path, format string, a ...any) {
	v.errs = append(v.errs, Issue{path, fmt.Sprintf(format, a...)})
}

func (v *validator) warn(path, format string, a ...any) {
	v.warns = append(v.warns, Issue{path, fmt.Sprintf(format, a...)})
}

// subnet is an interface subnet with the router's own address in it.
type subnet struct {
	ok   bool
	self netip.Addr
	net  netip.Prefix
}

func newSubnet(p netip.Prefix) subnet {
	if !p.IsValid() {
		return subnet{}
	}
	return subnet{ok: true, self: p.Addr(), net: p.Masked()}
}

func (s subnet) first() netip.Addr { return s.net.Addr().Next() }
func (s subnet) last() netip.Addr  { return lastAddr(s.net).Prev() }

// host reports whether a is a usable host address of the subnet.
func (s subnet) host(a netip.Addr) bool {
	return s.net.Contains(a) && a.Compare(s.first()) >= 0 && a.Compare(s.last()) <= 0
}

func (s subnet) hosts() string { return fmt.Sprintf("%s to %s", s.first(), s.last()) }

// outside says why a is not a usable host of the subnet called what.
func (s subnet) outside(a netip.Addr, what string) string {
	switch {
	case a == s.net.Addr():
		return fmt.Sprintf("is the network address of the %s subnet %s", what, s.net)
	case a == lastAddr(s.net):
		return fmt.Sprintf("is the broadcast address of the %s subnet %s", what, s.net)
	}
	return fmt.Sprintf("is outside the %s subnet %s", what, s.net)
}

// Validate runs the cross-field checks that decide whether c can be
// committed. errs must be empty to commit; warnings are shown but do not
// block. Every message says what is wrong and what is allowed. The order
// is stable (schema order, entries by name).
func (c *Config) Validate() (errs, warnings []Issue) {
	v := &validator{}
	c.checkInterfaces(v)
	c.checkPPPoE(v)
	c.checkIPv6Interfaces(v)
	c.checkDHCP(v)
	c.checkNAT(v)
	c.checkFirewall(v)
	c.checkQoS(v)
	c.checkServices(v)
	c.checkDNS(v)
	c.checkConsole(v)
	return v.errs, v.warns
}

func (c *Config) checkInterfaces(v *validator) {
	lan, wan := c.Interfaces.LAN, c.Interfaces.WAN
	if lan.Device == "" {
		v.err("interfaces lan device", "not set; name the LAN port, e.g. set interfaces lan device eth0")
	}
	if !lan.Address.IsValid() {
		v.err("interfaces lan address", "not set; give the router's LAN address, e.g. set interfaces lan address 192.168.1.1/24")
	}
	if wan.Device == "" {
		v.err("interfaces wan device", "not set; name the WAN port, e.g. set interfaces wan device eth1")
	} else if wan.Device == lan.Device {
		v.err("interfaces wan device", "%s is also the LAN device; LAN and WAN need different ports", wan.Device)
	}
	if wan.Mode == WANStatic {
		if !wan.Address.IsValid() {
			v.err("interfaces wan address", "mode static needs an address; e.g. set interfaces wan address 203.0.113.2/24")
		}
		if !wan.Gateway.IsValid() {
			v.err("interfaces wan gateway", "mode static needs a gateway; e.g. set interfaces wan gateway 203.0.113.1")
		}
		if w := newSubnet(wan.Address); w.ok && wan.Gateway.IsValid() {
			switch {
			case wan.Gateway == w.self:
				v.err("interfaces wan gateway", "%s is the router's own WAN address; give the ISP's gateway, an address from %s", wan.Gateway, w.hosts())
			case !w.host(wan.Gateway):
				v.err("interfaces wan gateway", "%s %s; use an address from %s", wan.Gateway, w.outside(wan.Gateway, "WAN"), w.hosts())
			}
		}
		if len(wan.DNS) == 0 {
			v.warn("interfaces wan dns", "mode static has no dns server, so the router cannot resolve names; add e.g. set interfaces wan dns 9.9.9.9")
		}
		if l, w := newSubnet(lan.Address), newSubnet(wan.Address); l.ok && w.ok && l.net.Overlaps(w.net) {
			v.err("interfaces wan address", "subnet %s overlaps the LAN subnet %s; LAN and WAN subnets must be disjoint, so change one of them", w.net, l.net)
		}
	} else {
		ignored := "is ignored in mode dhcp (the ISP's DHCP server provides it); delete it or set interfaces wan mode static"
		if wan.Mode == WANPPPoE {
			ignored = "is ignored in mode pppoe (the ISP's concentrator provides it); delete it or set interfaces wan mode static"
		}
		if wan.Address.IsValid() {
			v.warn("interfaces wan address", "%s", ignored)
		}
		if wan.Gateway.IsValid() {
			v.warn("interfaces wan gateway", "%s", ignored)
		}
		if len(wan.DNS) > 0 {
			v.warn("interfaces wan dns", "%s", ignored)
		}
	}
}

// checkPPPoE checks the WAN's PPPoE client and VLAN.
func (c *Config) checkPPPoE(v *validator) {
	wan := c.Interfaces.WAN
	p, def := wan.PPPoE, New().Interfaces.WAN.PPPoE
	if wan.VLAN.Priority != 0 && wan.VLAN.ID == 0 {
		v.warn("interfaces wan vlan priority", "is unused without a VLAN id; e.g. set interfaces wan vlan 7")
	}
	if wan.Mode != WANPPPoE {
		if p != def {
			v.warn("interfaces wan pppoe", "is unused in mode %s; set interfaces wan mode pppoe to log in with it", wan.Mode)
		}
		return
	}
	if p.Username == "" {
		v.err("interfaces wan pppoe username", "mode pppoe needs the ISP's login; e.g. set interfaces wan pppoe username \"user@isp.example\"")
	}
	if p.Password == "" {
		v.err("interfaces wan pppoe password", "mode pppoe needs the ISP's password; e.g. set interfaces wan pppoe password \"secret\"")
	}
	if p.Jumbo && wan.MTU > 1500 {
		v.err("interfaces wan mtu", "%d is more than PPPoE carries (RFC 4638 allows up to 1500); use 1500 or less", wan.MTU)
	}
	if !p.Jumbo && wan.MTU < 1492 {
		v.warn("interfaces wan mtu", "PPP MTU %d is below PPPoE's 1492; routerd uses %d", wan.MTU, wan.MTU)
	}
}

// PPPMTU is the PPP link's MTU in mode pppoe: the WAN mtu, at most 1492,
// or at most 1500 with jumbo (RFC 4638).
func (w WAN) PPPMTU() int {
	if w.PPPoE.Jumbo {
		return min(w.MTU, 1500)
	}
	return min(w.MTU, 1492)
}

func (c *Config) checkDHCP(v *validator) {
	d := c.DHCPServer.LAN
	lan := newSubnet(c.Interfaces.LAN.Address)
	const path = "dhcp-server lan range"
	if d.RangeStart.IsValid() {
		switch {
		case !lan.ok:
			v.err(path, "needs interfaces lan address to be set first")
		case !lan.host(d.RangeStart) || !lan.host(d.RangeEnd):
			for _, a := range []netip.Addr{d.RangeStart, d.RangeEnd} {
				if !lan.host(a) {
					v.err(path, "%s %s; use addresses from %s", a, lan.outside(a, "LAN"), lan.hosts())
				}
			}
		case d.RangeStart.Compare(d.RangeEnd) > 0:
			v.err(path, "is reversed: %s comes after %s; give the lower address first (range %s %s)", d.RangeStart, d.RangeEnd, d.RangeEnd, d.RangeStart)
		case d.RangeStart.Compare(lan.self) <= 0 && lan.self.Compare(d.RangeEnd) <= 0:
			v.err(path, "includes the router's own address %s; the range must leave it out, e.g. start after it", lan.self)
		}
	} else if len(d.DNS) > 0 || len(d.Static) > 0 || d.LeaseTime != New().DHCPServer.LAN.LeaseTime {
		v.warn(path, "not set, so the DHCP server is off and the other dhcp-server lan settings are unused; e.g. set dhcp-server lan range 192.168.1.100 192.168.1.199")
	}
	macs := map[MAC]string{}
	ips := map[netip.Addr]string{}
	for _, s := range d.Static {
		p := "dhcp-server lan static " + s.Name
		if s.MAC.IsZero() {
			v.err(p, "has no mac; add it: set %s mac aa:bb:cc:dd:ee:ff", p)
		} else if other, dup := macs[s.MAC]; dup {
			v.err(p, "mac %s is already used by static %s; each host needs exactly one entry", s.MAC, other)
		} else {
			macs[s.MAC] = s.Name
		}
		if !s.IP.IsValid() {
			v.err(p, "has no ip; add it: set %s ip A.B.C.D", p)
			continue
		}
		switch {
		case lan.ok && s.IP == lan.self:
			v.err(p, "ip %s is the router's own address; use another address from %s", s.IP, lan.hosts())
		case lan.ok && !lan.host(s.IP):
			v.err(p, "ip %s %s; use an address from %s", s.IP, lan.outside(s.IP, "LAN"), lan.hosts())
		}
		if other, dup := ips[s.IP]; dup {
			v.err(p, "ip %s is already given to static %s; each host needs its own address", s.IP, other)
		} else {
			ips[s.IP] = s.Name
		}
	}
}

func protoOverlap(a, b Protocol) bool {
	return (a.HasTCP() && b.HasTCP()) || (a.HasUDP() && b.HasUDP())
}

func (c *Config) checkNAT(v *validator) {
	n := c.NAT
	lan := newSubnet(c.Interfaces.LAN.Address)
	ssh := c.Service.SSH
	for i, f := range n.PortForwards {
		p := "nat port-forward " + f.Name
		if f.Protocol == "" {
			v.err(p, "has no protocol; add protocol tcp, udp or tcp-udp")
		}
		if f.Port.IsZero() {
			v.err(p, "has no port; add the external port, e.g. port 8080 or port 8000-8010")
		}
		if !f.To.IsValid() {
			v.err(p, "has no to; add the LAN host, e.g. to 192.168.1.10")
		} else if lan.ok && f.To == lan.self {
			v.err(p, "to %s is the router's own address; forward to a LAN host from %s", f.To, lan.hosts())
		} else if lan.ok && !lan.host(f.To) {
			v.err(p, "to %s %s; forward to a LAN host from %s", f.To, lan.outside(f.To, "LAN"), lan.hosts())
		}
		if !f.ToPort.IsZero() && !f.Port.IsZero() && f.ToPort.Len() != f.Port.Len() {
			v.err(p, "external port %s has %d ports but internal port %s has %d; both ranges must have the same length",
				f.Port, f.Port.Len(), f.ToPort, f.ToPort.Len())
		}
		if ssh.Listen != ListenLAN && f.Protocol.HasTCP() && f.Port.Contains(uint16(ssh.Port)) {
			v.err(p, "external tcp port %d is used by service ssh (listen %s); choose another port, or set service ssh listen lan", ssh.Port, ssh.Listen)
		}
		for _, g := range n.PortForwards[:i] {
			if protoOverlap(f.Protocol, g.Protocol) && f.Port.Overlaps(g.Port) {
				v.err(p, "%s port %s overlaps port-forward %s (%s port %s); an external port can go to one host only, so choose ports that do not overlap",
					f.Protocol, f.Port, g.Name, g.Protocol, g.Port)
			}
		}
	}
	c.checkForwardedPorts(v)
	if n.DMZ.IsValid() && lan.ok {
		switch {
		case n.DMZ == lan.self:
			v.err("nat dmz", "%s is the router's own address; give a LAN host from %s", n.DMZ, lan.hosts())
		case !lan.host(n.DMZ):
			v.err("nat dmz", "%s %s; give a LAN host from %s", n.DMZ, lan.outside(n.DMZ, "LAN"), lan.hosts())
		}
	}
	if wanMSS := c.Interfaces.WAN.MTU - 40; n.MSSClamp > wanMSS {
		v.warn("nat mss-clamp", "%d is more than the WAN MTU %d allows (%d); use %d or less, or auto", n.MSSClamp, c.Interfaces.WAN.MTU, wanMSS, wanMSS)
	}
	floor := func(path string, got, min time.Duration, rule string) {
		if got < min {
			v.warn(path, "%d seconds is below the %d seconds that %s requires; use %d or more",
				got/time.Second, min/time.Second, rule, min/time.Second)
		}
	}
	t := n.Timeouts
	floor("nat timeout udp", t.UDP, 120*time.Second, "RFC 4787 REQ-5 (UDP mappings)")
	floor("nat timeout tcp-established", t.TCPEstablished, 7440*time.Second, "RFC 5382 REQ-5 (established TCP, 2 h 4 min)")
	floor("nat timeout tcp-transitory", t.TCPTransitory, 240*time.Second, "RFC 5382 REQ-5 (transitory TCP, 4 min)")
	floor("nat timeout icmp", t.ICMP, 60*time.Second, "RFC 5508 REQ-2 (ICMP query sessions)")
	if ip := c.Passthrough.IPsec; !ip.Enabled && (ip.ESPMode != ESPSPILearning || ip.IKESharePort) {
		v.warn("passthrough ipsec", "is disabled, so esp-mode and ike-share-port have no effect; set passthrough ipsec enable to use them")
	}
}

func (c *Config) checkServices(v *validator) {
	// A hash that cannot verify (only possible in a Config built in Go:
	// the parser refuses it) lets nobody in either.
	if len(c.Service.SSH.AuthorizedKeys) == 0 && passhash.Check(c.System.Admin.PasswordHash) != nil {
		v.warn("service ssh", `has no authorized-key and system admin has no password-hash, so nobody can log in over SSH (the serial console still works); add e.g. set service ssh authorized-key laptop "ssh-ed25519 AAAA... you@laptop"`)
	}
}

// Port forwards are permanent mappings that hold their external ports; the
// LAN's own connections are mapped to the ports 1024-65535 left free (one
// per internal address and port). These match the engine's limits
// (nat.MinDynamicPorts); pkg/config does not import pkg/nat.
const (
	minDynamicPorts   = 8192
	maxForwardedPorts = 65535 - 1024 + 1 - minDynamicPorts
)

// checkForwardedPorts refuses port forwards that leave too few external
// ports for the LAN's own connections: such a configuration would refuse
// every other host's new connections of that protocol.
func (c *Config) checkForwardedPorts(v *validator) {
	dyn := func(r PortRange) int {
		if r.IsZero() || r.Last < 1024 {
			return 0
		}
		return int(r.Last) - int(max(r.First, 1024)) + 1
	}
	var tcp, udp int
	for _, f := range c.NAT.PortForwards {
		if f.Protocol.HasTCP() {
			tcp += dyn(f.Port)
		}
		if f.Protocol.HasUDP() {
			udp += dyn(f.Port)
		}
	}
	if ssh := c.Service.SSH; ssh.Listen != ListenLAN && ssh.Port >= 1024 {
		tcp++ // the router's own SSH on the WAN is a forward too
	}
	for _, p := range []struct {
		name string
		n    int
	}{{"tcp", tcp}, {"udp", udp}} {
		if p.n > maxForwardedPorts {
			v.err("nat port-forward", "the forwards take %d of the %d %s ports 1024-65535, but at most %d may be forwarded: %d must stay free for the LAN's own connections; forward fewer ports, or send all unsolicited traffic to one host with set nat dmz",
				p.n, 65535-1024+1, p.name, maxForwardedPorts, minDynamicPorts)
		}
	}
}
