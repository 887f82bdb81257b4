package main

import (
	"net"
	"net/netip"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dhcpd"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/packet"
)

// natConfig maps the configuration language onto the engine's settings.
// memTotal (bytes of RAM; 0 when unknown, taken as 1 GiB) sizes the
// session table when max-sessions is 0.
func natConfig(c *config.Config, memTotal uint64, seed uint64) nat.Config {
	n := nat.DefaultConfig(c.Interfaces.LAN.Address)
	switch c.NAT.Filtering {
	case config.FilterEndpointIndependent:
		n.Filtering = nat.EndpointIndependent
	case config.FilterAddressPortDependent:
		n.Filtering = nat.AddressPortDependent
	default:
		n.Filtering = nat.AddressDependent
	}
	t := c.NAT.Timeouts
	n.Timeouts = nat.Timeouts{UDP: t.UDP, TCPEstablished: t.TCPEstablished, TCPTransitory: t.TCPTransitory, ICMP: t.ICMP}
	n.Hairpin = c.NAT.Hairpin
	switch c.NAT.MSSClamp {
	case config.MSSClampAuto:
		n.MSSClamp = nat.MSSAuto
	case config.MSSClampDisabled:
		n.MSSClamp = 0
	default:
		n.MSSClamp = c.NAT.MSSClamp
	}
	n.WANMTU, n.LANMTU = c.Interfaces.WAN.MTU, c.Interfaces.LAN.MTU
	if c.Interfaces.WAN.Mode == config.WANPPPoE {
		// The PPP link's MTU: the MSS clamp and Fragmentation Needed
		// follow it (1452 and 1492 on most lines).
		n.WANMTU = c.Interfaces.WAN.PPPMTU()
	}
	for _, f := range c.NAT.PortForwards {
		in := f.InternalPorts()
		for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
			if (proto == packet.ProtoTCP && !f.Protocol.HasTCP()) || (proto == packet.ProtoUDP && !f.Protocol.HasUDP()) {
				continue
			}
			n.PortForwards = append(n.PortForwards, nat.PortForward{Name: f.Name, Proto: proto,
				ExtStart: f.Port.First, ExtEnd: f.Port.Last, Host: f.To, IntStart: in.First})
		}
	}
	if ssh := c.Service.SSH; ssh.Listen == config.ListenWAN || ssh.Listen == config.ListenAll {
		// SSH from the WAN reaches the router's own stack through a forward
		// to its LAN address.
		n.PortForwards = append(n.PortForwards, nat.PortForward{Name: "ssh (router)", Proto: packet.ProtoTCP,
			ExtStart: uint16(ssh.Port), ExtEnd: uint16(ssh.Port), Host: c.Interfaces.LAN.Address.Addr(), IntStart: uint16(ssh.Port)})
	}
	n.DMZ = c.NAT.DMZ
	n.MaxSessions = c.NAT.MaxSessions
	if n.MaxSessions == 0 {
		if memTotal == 0 {
			memTotal = 1 << 30
		}
		n.MaxSessions = nat.MaxSessionsForMemory(memTotal)
	}
	n.MaxSessionsPerHost = c.NAT.MaxSessionsPerHost
	n.Seed = seed
	return n
}

// passthroughConfig maps the passthrough switches.
func passthroughConfig(c *config.Config) passthrough.Config {
	p := passthrough.DefaultConfig()
	p.PPTP = c.Passthrough.PPTP
	p.L2TP = c.Passthrough.L2TP
	p.IPsec = c.Passthrough.IPsec.Enabled
	p.ESPMode = passthrough.SPILearning
	if c.Passthrough.IPsec.ESPMode == config.ESPSingleClient {
		p.ESPMode = passthrough.SingleClient
	}
	p.IKESharePort = c.Passthrough.IPsec.IKESharePort
	p.GRETimeout = c.NAT.Timeouts.GRE
	p.ESPTimeout = c.NAT.Timeouts.ESP
	return p
}

// dhcpdConfig maps the LAN DHCP server; ok is false when no pool is
// configured. Clients get the configured DNS servers; with none, the
// router (its DNS forwarder) or, with the forwarder off, the WAN's.
func dhcpdConfig(c *config.Config, wanDNS []netip.Addr) (dhcpd.Config, bool) {
	p := c.DHCPServer.LAN
	if !p.RangeStart.IsValid() || !p.RangeEnd.IsValid() {
		return dhcpd.Config{}, false
	}
	lan := c.Interfaces.LAN.Address
	d := dhcpd.Config{ServerIP: lan.Addr(), Subnet: lan.Masked(), RangeStart: p.RangeStart, RangeEnd: p.RangeEnd,
		LeaseTime: p.LeaseTime, Router: lan.Addr(), DNS: p.DNS}
	switch {
	case c.DNS.Forwarder:
		if len(d.DNS) == 0 {
			d.DNS = []netip.Addr{lan.Addr()}
		}
	case len(d.DNS) == 0 || (len(d.DNS) == 1 && d.DNS[0] == lan.Addr() && len(wanDNS) > 0):
		d.DNS = wanDNS // no forwarder on the router: hand out the ISP's
	}
	for _, s := range p.Static {
		d.Static = append(d.Static, dhcpd.StaticLease{Name: s.Name, MAC: net.HardwareAddr(s.MAC[:]), IP: s.IP})
	}
	return d, true
}
