package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// v6class is what an IPv6 address is, in the terms of the forwarding
// engine (pkg/fw6), so that the configuration accepts exactly the
// addresses the engine forwards for.
type v6class uint8

const (
	v6Global    v6class = iota // forwardable unicast (2000::/3 and the rest of the unassigned unicast space)
	v6ULA                      // fc00::/7 (RFC 4193)
	v6LinkLocal                // fe80::/10
	v6Bad                      // anything else; why says what it is
)

var (
	pfxDoc     = netip.MustParsePrefix("2001:db8::/32")
	pfxDoc2    = netip.MustParsePrefix("3fff::/20")
	pfxOrchid  = netip.MustParsePrefix("2001:10::/28")
	pfxOrchid2 = netip.MustParsePrefix("2001:20::/28")
	pfxSite    = netip.MustParsePrefix("fec0::/10")
	pfxLL      = netip.MustParsePrefix("fe80::/10")
	pfxULA     = netip.MustParsePrefix("fc00::/7")
	pfxULAL1   = netip.MustParsePrefix("fd00::/8")
	pfxDiscard = netip.MustParsePrefix("100::/64")
	pfxV4Space = netip.MustParsePrefix("::/64")
)

// classify6 classifies a (an IPv6 address without zone); for v6Bad, why
// says what a is ("is a multicast address (ff00::/8)").
func classify6(a netip.Addr) (c v6class, why string) {
	switch {
	case a.Is4In6():
		return v6Bad, "is an IPv4-mapped address (::ffff:0:0/96)"
	case a.IsUnspecified():
		return v6Bad, "is the unspecified address ::"
	case a.IsLoopback():
		return v6Bad, "is the loopback address ::1"
	case a.IsMulticast():
		return v6Bad, "is a multicast address (ff00::/8)"
	case pfxLL.Contains(a):
		return v6LinkLocal, "is a link-local address (fe80::/10)"
	case pfxSite.Contains(a):
		return v6Bad, "is a deprecated site-local address (fec0::/10, RFC 3879)"
	case pfxULA.Contains(a):
		return v6ULA, "is a unique local address (fc00::/7)"
	case pfxDoc.Contains(a):
		return v6Bad, "is a documentation address (2001:db8::/32, RFC 3849) that never appears on a real network"
	case pfxDoc2.Contains(a):
		return v6Bad, "is a documentation address (3fff::/20, RFC 9637) that never appears on a real network"
	case pfxOrchid.Contains(a), pfxOrchid2.Contains(a):
		return v6Bad, "is an ORCHID identifier (2001:10::/28, 2001:20::/28), not a routable address"
	case pfxDiscard.Contains(a):
		return v6Bad, "is in the discard-only prefix 100::/64 (RFC 6666)"
	case pfxV4Space.Contains(a):
		return v6Bad, "is a reserved address (::/64)"
	}
	return v6Global, ""
}

// v6Accept is the set of address classes a value takes.
type v6Accept struct {
	ula, linkLocal bool
	what           string // "a global unicast or unique local address"
	eg             string // an example
}

// parseIPv6 parses an IPv6 address without zone and checks its class.
func parseIPv6(s string, acc v6Accept) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err == nil && a.Zone() != "":
		return a, errf("%q has a zone (%%%s); give the address without it, e.g. %s", s, a.Zone(), a.WithZone(""))
	case err != nil || !a.Is6():
		return a, errf("%q is not an IPv6 address; use %s, e.g. %s", s, acc.what, acc.eg)
	}
	c, why := classify6(a)
	if c == v6Bad || (c == v6ULA && !acc.ula) || (c == v6LinkLocal && !acc.linkLocal) {
		return a, errf("%s %s; use %s, e.g. %s", a, why, acc.what, acc.eg)
	}
	return a, nil
}

var (
	// acceptLANHost: a LAN host's forwardable address (firewall ipv6 allow).
	acceptLANHost = v6Accept{ula: true, what: "a global unicast or unique local address of the LAN host", eg: "2600:1:2:3::10"}
	// acceptDNS: a DNS server; link-local is fine on the link it is on.
	acceptDNS = v6Accept{ula: true, linkLocal: true, what: "a unicast address (global, unique local or link-local)", eg: "2620:fe::fe"}
	// acceptGateway: the ISP's router on the WAN link.
	acceptGateway = v6Accept{linkLocal: true, what: "the gateway's link-local or global unicast address", eg: "fe80::1"}
	// acceptGlobal: the ISP's addresses and prefixes.
	acceptGlobal = v6Accept{what: "a global unicast address", eg: "2600:1:2:3::2"}
)

// tIPv6 is an IPv6 address of the classes acc allows.
func tIPv6(help string, acc v6Accept) *vtype {
	return &vtype{
		ph:   "<X:X::X>",
		help: help,
		parse: func(s string) (any, error) {
			a, err := parseIPv6(s, acc)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
		format: func(v any) string { return v.(netip.Addr).String() },
	}
}

// parseIPv6Prefix parses ADDR/N; an address without /N is named as such.
func parseIPv6Prefix(s, eg string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && a.Zone() == "" {
			return p, errf("%q has no prefix length; use e.g. %s", s, eg)
		}
		return p, errf("%q is not an IPv6 prefix; use address/length, e.g. %s", s, eg)
	}
	return p, nil
}

// tIPv6IfAddr is the WAN's own global address with its prefix length.
func tIPv6IfAddr(help string) *vtype {
	const eg = "2600:1:2:3::2/64"
	return &vtype{
		ph:   "<X:X::X/N>",
		help: help,
		parse: func(s string) (any, error) {
			p, err := parseIPv6Prefix(s, eg)
			if err != nil {
				return nil, err
			}
			a := p.Addr()
			if _, err := parseIPv6(a.String(), acceptGlobal); err != nil {
				return nil, err
			}
			if p.Bits() < 16 {
				return nil, errf("prefix length /%d is not supported; use /16 to /128 (usually /64)", p.Bits())
			}
			if p.Bits() < 127 && a == p.Masked().Addr() {
				return nil, errf("%s is the subnet-router anycast address of %s; give the router's own address, e.g. %s/%d",
					a, p.Masked(), p.Masked().Addr().Next(), p.Bits())
			}
			return p, nil
		},
		format: func(v any) string { return v.(netip.Prefix).String() },
	}
}

// tIPv6Net is a global unicast prefix of lo..hi bits without host bits.
func tIPv6Net(lo, hi int, help, eg string) *vtype {
	return &vtype{
		ph:   "<X:X::/N>",
		help: help,
		parse: func(s string) (any, error) {
			p, err := parseIPv6Prefix(s, eg)
			if err != nil {
				return nil, err
			}
			if _, err := parseIPv6(p.Masked().Addr().String(), acceptGlobal); err != nil {
				return nil, err
			}
			if p.Bits() < lo || p.Bits() > hi {
				return nil, errf("prefix length /%d is not supported; use /%d to /%d", p.Bits(), lo, hi)
			}
			if p != p.Masked() {
				return nil, errf("%s has bits set after the first %d; the prefix is %s", s, p.Bits(), p.Masked())
			}
			return p, nil
		},
		format: func(v any) string { return v.(netip.Prefix).String() },
	}
}

// ulaOff is the value of "ula disable".
type ulaOff struct{}

// tULA is a unique local /48 inside fd00::/8 (RFC 4193 §3.1, L = 1), or
// disable.
func tULA() *vtype {
	const eg = "fd12:3456:789a::/48"
	return &vtype{
		ph:      "<fdXX:XXXX:XXXX::/48>",
		help:    "unique local /48 inside fd00::/8, e.g. " + eg,
		choices: []choice{{"disable", "no unique local prefix on the LAN", ulaOff{}}},
		parse: func(s string) (any, error) {
			p, err := parseIPv6Prefix(s, eg)
			if err != nil {
				return nil, err
			}
			if !pfxULAL1.Contains(p.Addr()) {
				return nil, errf("%s is not inside fd00::/8; a unique local prefix starts with fd followed by 40 random bits (RFC 4193), e.g. %s", s, eg)
			}
			if p.Bits() != 48 {
				return nil, errf("%s is a /%d; give the /48, e.g. %s", s, p.Bits(), netip.PrefixFrom(p.Addr(), 48).Masked())
			}
			if p != p.Masked() {
				return nil, errf("%s has bits set after the first 48; the prefix is %s", s, p.Masked())
			}
			return p, nil
		},
		format: func(v any) string { return v.(netip.Prefix).String() },
	}
}

// tSubnetID is 0..MaxSubnetID, in decimal or as hex with 0x; printed in
// decimal.
func tSubnetID() *vtype {
	return &vtype{
		ph:   "<0-65535>",
		help: "subnet id in decimal or hex (0x1a)",
		parse: func(s string) (any, error) {
			n, ok := atoi(s)
			if h, isHex := strings.CutPrefix(strings.ToLower(s), "0x"); isHex {
				var err error
				var u uint64
				if len(h) <= 8 && h != "" && h[0] != '+' && h[0] != '-' {
					u, err = strconv.ParseUint(h, 16, 32)
				} else {
					err = strconv.ErrSyntax
				}
				n, ok = int(u), err == nil
			}
			if !ok {
				return nil, errf("%q is not a subnet id; use a number 0-65535 or hex 0x0-0xffff", s)
			}
			if n > MaxSubnetID {
				return nil, errf("%s is out of range; use 0-65535 (hex 0x0-0xffff)", s)
			}
			return n, nil
		},
		format: func(v any) string { return strconv.Itoa(v.(int)) },
	}
}
