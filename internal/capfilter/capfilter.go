// Package capfilter parses the filter of the shell's `capture` command into
// a match function over Ethernet frames.
//
// A filter is terms joined by "and", all of which must hold:
//
//	host A.B.C.D   the IPv4 source or destination is A.B.C.D
//	port N         the TCP or UDP source or destination port is N
//	proto NAME     the IPv4 protocol is tcp, udp, icmp, gre or esp; or
//	               the frame is ARP (proto arp, which takes no other term)
//
// Frames of other EtherTypes, and IPv4 packets that are truncated or
// malformed, match no filter.
package capfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/passgate/passgate/pkg/packet"
)

const usage = "use host A.B.C.D, port N or proto tcp|udp|icmp|gre|esp|arp, joined by and"

var protocols = map[string]uint8{
	"tcp": packet.ProtoTCP, "udp": packet.ProtoUDP, "icmp": packet.ProtoICMP,
	"gre": packet.ProtoGRE, "esp": packet.ProtoESP,
}

// term is one condition on a valid IPv4 packet and its layer-4 bytes.
type term func(p packet.IPv4, l4 []byte) bool

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
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("capture filter: %q is not an IPv4 address", v)
			}
			h := packet.AddrTo4(a)
			terms = append(terms, func(p packet.IPv4, _ []byte) bool { return p.Src() == h || p.Dst() == h })
		case "port":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("capture filter: %q is not a port", v)
			}
			port := uint16(n)
			terms = append(terms, func(p packet.IPv4, l4 []byte) bool {
				return (p.Protocol() == packet.ProtoTCP || p.Protocol() == packet.ProtoUDP) && len(l4) >= 4 &&
					(binary.BigEndian.Uint16(l4) == port || binary.BigEndian.Uint16(l4[2:]) == port)
			})
		case "proto":
			if v == "arp" {
				arp = true
				continue
			}
			num, ok := protocols[v]
			if !ok {
				return nil, fmt.Errorf("capture filter: unknown protocol %q; use tcp, udp, icmp, gre, esp or arp", v)
			}
			terms = append(terms, func(p packet.IPv4, _ []byte) bool { return p.Protocol() == num })
		default:
			return nil, fmt.Errorf("capture filter: unknown term %q; %s", kw, usage)
		}
	}
	switch {
	case arp && len(terms) > 0:
		return nil, fmt.Errorf("capture filter: proto arp matches ARP frames, which have no IPv4 host, port or protocol; give it alone")
	case arp:
		return isARP, nil
	case len(terms) == 0:
		return nil, nil
	}
	return func(f []byte) bool { return matchIPv4(f, terms) }, nil
}

func isARP(f []byte) bool {
	return len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == packet.EtherTypeARP
}

func matchIPv4(f []byte, terms []term) bool {
	if len(f) < 14 || binary.BigEndian.Uint16(f[12:]) != packet.EtherTypeIPv4 {
		return false
	}
	p := packet.IPv4(f[14:])
	if p.Check() != packet.IPv4OK {
		return false
	}
	l4 := p[p.HeaderLen():p.TotalLen()]
	for _, t := range terms {
		if !t(p, l4) {
			return false
		}
	}
	return true
}
