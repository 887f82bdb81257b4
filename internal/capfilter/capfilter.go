// Package capfilter parses the filter of the shell's `capture` command into
// a match function over Ethernet frames.
//
// A filter is terms joined by "and", all of which must hold:
//
//	host ADDR      the IPv4 or IPv6 source or destination is ADDR
//	port N         the TCP or UDP source or destination port is N
//	proto NAME     the upper-layer protocol is tcp, udp, gre or esp (over
//	               IPv4 or IPv6), icmp (IPv4) or icmp6 (IPv6); ip or ip6:
//	               any IPv4 or IPv6 packet; arp: the frame is ARP (which
//	               takes no other term)
//
// An IPv6 packet's extension headers are walked (within pkg/packet's
// bounds) to find its protocol and ports; a later fragment has a protocol
// but no ports. Frames of other EtherTypes, and packets that are
// truncated or malformed, match no filter.
package capfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/passgate/passgate/pkg/packet"
)

const usage = "use host ADDRESS, port N or proto tcp|udp|icmp|icmp6|gre|esp|ip|ip6|arp, joined by and"

// anyProto stands for proto ip / ip6 (a family, not a protocol).
const anyProto = 0xffff

var protocols = map[string]uint16{
	"tcp": packet.ProtoTCP, "udp": packet.ProtoUDP, "gre": packet.ProtoGRE, "esp": packet.ProtoESP,
	"icmp": packet.ProtoICMP, "icmp6": packet.ProtoICMPv6, "icmpv6": packet.ProtoICMPv6,
	"ip": anyProto, "ip6": anyProto, "ipv6": anyProto,
}

// pkt is what the terms look at: one valid IP packet.
type pkt struct {
	v6       bool
	src, dst netip.Addr
	proto    uint8
	l4       []byte // the upper-layer header and on; nil in a later fragment
}

// term is one condition on a packet.
type term func(p pkt) bool

// Parse returns the match function for filter. An empty filter returns a
// nil function: everything matches. The match function does not allocate
// and may be called from the data plane's loop.
func Parse(filter string) (func(frame []byte) bool, error) {
	words := strings.Fields(filter)
	var terms []term
	arp := false
	for i := 0; i < len(words); i++ {
		if words[i] == "and" {
			continue
		}
		if i+1 >= len(words) {
			return nil, fmt.Errorf("capture filter: %q needs a value; %s", words[i], usage)
		}
		kw, v := words[i], words[i+1]
		i++
		switch kw {
		case "host":
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("capture filter: %q is not an IPv4 or IPv6 address", v)
			}
			a = a.Unmap()
			terms = append(terms, func(p pkt) bool { return p.src == a || p.dst == a })
		case "port":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("capture filter: %q is not a port", v)
			}
			port := uint16(n)
			terms = append(terms, func(p pkt) bool {
				return (p.proto == packet.ProtoTCP || p.proto == packet.ProtoUDP) && len(p.l4) >= 4 &&
					(binary.BigEndian.Uint16(p.l4) == port || binary.BigEndian.Uint16(p.l4[2:]) == port)
			})
		case "proto":
			if v == "arp" {
				arp = true
				continue
			}
			num, ok := protocols[v]
			if !ok {
				return nil, fmt.Errorf("capture filter: unknown protocol %q; use tcp, udp, icmp, icmp6, gre, esp, ip, ip6 or arp", v)
			}
			switch {
			case v == "ip":
				terms = append(terms, func(p pkt) bool { return !p.v6 })
			case num == anyProto:
				terms = append(terms, func(p pkt) bool { return p.v6 })
			case num == packet.ProtoICMP:
				terms = append(terms, func(p pkt) bool { return !p.v6 && p.proto == packet.ProtoICMP })
			case num == packet.ProtoICMPv6:
				terms = append(terms, func(p pkt) bool { return p.v6 && p.proto == packet.ProtoICMPv6 })
			default:
				proto := uint8(num)
				terms = append(terms, func(p pkt) bool { return p.proto == proto })
			}
		default:
			return nil, fmt.Errorf("capture filter: unknown term %q; %s", kw, usage)
		}
	}
	switch {
	case arp && len(terms) > 0:
		return nil, fmt.Errorf("capture filter: proto arp matches ARP frames, which have no IP host, port or protocol; give it alone")
	case arp:
		return isARP, nil
	case len(terms) == 0:
		return nil, nil
	}
	return func(f []byte) bool { return match(f, terms) }, nil
}

func isARP(f []byte) bool {
	return len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == packet.EtherTypeARP
}

// match reads the frame's IP packet and applies every term.
func match(f []byte, terms []term) bool {
	var p pkt
	if !parse(f, &p) {
		return false
	}
	for _, t := range terms {
		if !t(p) {
			return false
		}
	}
	return true
}

// parse fills p from an Ethernet frame holding a valid IPv4 or IPv6 packet.
func parse(f []byte, p *pkt) bool {
	if len(f) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case packet.EtherTypeIPv4:
		ip := packet.IPv4(f[14:])
		if ip.Check() != packet.IPv4OK {
			return false
		}
		p.src, p.dst = packet.AddrFrom4(ip.Src()), packet.AddrFrom4(ip.Dst())
		p.proto = ip.Protocol()
		if ip.FragOffset() == 0 {
			p.l4 = ip[ip.HeaderLen():ip.TotalLen()]
		}
		return true
	case packet.EtherTypeIPv6:
		ip := packet.IPv6(f[14:])
		if ip.Check() != packet.IPv6OK {
			return false
		}
		ip = ip[:packet.IPv6HeaderLen+ip.PayloadLen()]
		c, err := ip.Walk()
		if err != packet.ChainOK {
			return false
		}
		p.v6 = true
		p.src, p.dst = ip.SrcAddr(), ip.DstAddr()
		p.proto = c.Proto
		if !c.LaterFragment() {
			p.l4 = ip[c.Offset:]
		}
		return true
	}
	return false
}
