package dhcpd

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"
)

// MaxPoolSize is the largest dynamic pool accepted (a /16 worth of
// addresses). Address selection scans the pool, so the bound keeps the
// worst case of one DISCOVER small.
const MaxPoolSize = 1 << 16

// Config is the LAN DHCP server's configuration. routerd maps it from
// pkg/config; it can be replaced at runtime with Server.Reconfigure.
type Config struct {
	// ServerIP is the router's LAN address. It is the server identifier
	// (option 54) and must lie inside Subnet.
	ServerIP netip.Addr
	// Subnet is the LAN prefix, e.g. 192.168.1.0/24 (the host bits are
	// ignored). It gives the subnet mask (option 1) and broadcast address
	// (option 28).
	Subnet netip.Prefix
	// RangeStart and RangeEnd bound the dynamic pool, both inclusive.
	RangeStart, RangeEnd netip.Addr
	// LeaseTime is the lease handed out (option 51). T1 (option 58) is
	// half of it, T2 (option 59) seven eighths.
	LeaseTime time.Duration
	// Router is sent as option 3. The zero value omits the option;
	// routerd normally sets it to ServerIP.
	Router netip.Addr
	// DNS servers, sent as option 6 in this order. Empty omits the option.
	DNS []netip.Addr
	// Domain is the domain name (option 15); empty omits it.
	Domain string
	// Static leases: the MAC always gets its IP, and the IP is never
	// handed to another MAC. A static IP may lie inside or outside the
	// pool, but must be inside Subnet.
	Static []StaticLease
}

// StaticLease reserves IP for the client with hardware address MAC.
type StaticLease struct {
	Name string // the configuration's label, e.g. "laptop"
	MAC  net.HardwareAddr
	IP   netip.Addr
}

// Validate reports the first problem with c, naming the field.
func (c *Config) Validate() error {
	_, err := c.normalized()
	return err
}

// normalized checks c and returns a copy with IPv4-mapped addresses unmapped,
// the subnet masked and slices copied, so the server owns its configuration.
func (c *Config) normalized() (Config, error) {
	n := Config{
		ServerIP:   c.ServerIP.Unmap(),
		RangeStart: c.RangeStart.Unmap(),
		RangeEnd:   c.RangeEnd.Unmap(),
		LeaseTime:  c.LeaseTime,
		Router:     c.Router.Unmap(),
		Domain:     c.Domain,
	}
	fail := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("dhcpd: config: "+format, args...)
	}
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Unmap().Is4() {
		return fail("subnet %v is not an IPv4 prefix", c.Subnet)
	}
	bits := c.Subnet.Bits()
	if c.Subnet.Addr().Is4In6() {
		bits -= 96
	}
	if bits < 8 || bits > 30 {
		return fail("subnet %v: prefix length must be between /8 and /30", c.Subnet)
	}
	n.Subnet = netip.PrefixFrom(c.Subnet.Addr().Unmap(), bits).Masked()

	host := func(field string, a netip.Addr) error {
		switch {
		case !a.Is4():
			return fmt.Errorf("dhcpd: config: %s %v is not an IPv4 address", field, a)
		case !n.Subnet.Contains(a):
			return fmt.Errorf("dhcpd: config: %s %v is outside subnet %v", field, a, n.Subnet)
		case a == n.Subnet.Addr() || a == broadcastOf(n.Subnet):
			return fmt.Errorf("dhcpd: config: %s %v is the network or broadcast address of %v", field, a, n.Subnet)
		}
		return nil
	}
	if err := host("server address", n.ServerIP); err != nil {
		return Config{}, err
	}
	if err := host("range start", n.RangeStart); err != nil {
		return Config{}, err
	}
	if err := host("range end", n.RangeEnd); err != nil {
		return Config{}, err
	}
	if n.RangeEnd.Less(n.RangeStart) {
		return fail("range %v-%v: start is after end", n.RangeStart, n.RangeEnd)
	}
	if size := poolSize(n.RangeStart, n.RangeEnd); size > MaxPoolSize {
		return fail("range %v-%v has %d addresses, at most %d allowed", n.RangeStart, n.RangeEnd, size, MaxPoolSize)
	}
	if inRange(n.ServerIP, n.RangeStart, n.RangeEnd) {
		return fail("range %v-%v contains the server address %v", n.RangeStart, n.RangeEnd, n.ServerIP)
	}
	if c.LeaseTime < time.Minute {
		return fail("lease time %v is shorter than 1m", c.LeaseTime)
	}
	if c.LeaseTime > time.Duration(math.MaxUint32)*time.Second {
		return fail("lease time %v does not fit the 32-bit option", c.LeaseTime)
	}
	if n.Router.IsValid() && !n.Router.Is4() {
		return fail("router %v is not an IPv4 address", c.Router)
	}
	for _, d := range c.DNS {
		d = d.Unmap()
		if !d.Is4() {
			return fail("dns server %v is not an IPv4 address", d)
		}
		n.DNS = append(n.DNS, d)
	}
	if len(c.Domain) > 255 {
		return fail("domain name is %d bytes, at most 255 allowed", len(c.Domain))
	}

	seenMAC := map[string]string{}
	seenIP := map[netip.Addr]string{}
	for _, s := range c.Static {
		name := s.Name
		if name == "" {
			name = s.MAC.String()
		}
		if len(s.MAC) != 6 {
			return fail("static lease %q: MAC %q is not a 6-byte Ethernet address", name, s.MAC)
		}
		if s.MAC[0]&1 == 1 || bytes.Equal(s.MAC, make(net.HardwareAddr, 6)) {
			return fail("static lease %q: MAC %v is a multicast or zero address", name, s.MAC)
		}
		ip := s.IP.Unmap()
		if err := host("static lease "+fmt.Sprintf("%q", name)+" address", ip); err != nil {
			return Config{}, err
		}
		if ip == n.ServerIP {
			return fail("static lease %q: address %v is the server address", name, ip)
		}
		if other, ok := seenMAC[string(s.MAC)]; ok {
			return fail("static lease %q: MAC %v is already used by static lease %q", name, s.MAC, other)
		}
		if other, ok := seenIP[ip]; ok {
			return fail("static lease %q: address %v is already used by static lease %q", name, ip, other)
		}
		seenMAC[string(s.MAC)] = name
		seenIP[ip] = name
		n.Static = append(n.Static, StaticLease{Name: s.Name, MAC: slices.Clone(s.MAC), IP: ip})
	}
	return n, nil
}

// broadcastOf is the directed broadcast address of an IPv4 prefix.
func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= math.MaxUint32 >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func poolSize(start, end netip.Addr) uint64 {
	return uint64(u32(end)) - uint64(u32(start)) + 1
}

func inRange(a, start, end netip.Addr) bool {
	return a.Is4() && !a.Less(start) && !end.Less(a)
}

// mask is the IPv4 netmask of p.
func mask(p netip.Prefix) net.IPMask { return net.CIDRMask(p.Bits(), 32) }
