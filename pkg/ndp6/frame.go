package ndp6

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/mdlayher/ndp"

	"github.com/passgate/passgate/pkg/packet"
)

// Sizes and constants of the frames this package reads and writes.
const (
	EthHeaderLen  = 14
	IPv6HeaderLen = 40
	etherTypeIPv6 = 0x86dd
	protoICMPv6   = 58

	// HopLimit is the IPv6 hop limit of every Neighbor Discovery message:
	// a receiver drops ND whose hop limit is not 255 (RFC 4861 §7.1), so
	// an off-link sender cannot forge it.
	HopLimit = 255
)

// ICMPv6 types of Neighbor Discovery (RFC 4861 §4).
const (
	TypeRouterSolicitation    = 133
	TypeRouterAdvertisement   = 134
	TypeNeighborSolicitation  = 135
	TypeNeighborAdvertisement = 136
	TypeRedirect              = 137
)

// Option types read here (RFC 4861 §4.6, RFC 7527 §4.3).
const (
	optSourceLLA = 1
	optTargetLLA = 2
	optNonce     = 14
)

// Why Parse rejected a frame. Each names the RFC 4861 §6.1/§7.1 rule it
// enforces; none allocates.
var (
	ErrShort           = errors.New("ndp6: frame shorter than Ethernet, IPv6 and ICMPv6 headers")
	ErrNotIPv6         = errors.New("ndp6: not an untagged IPv6 frame (EtherType 0x86dd)")
	ErrTruncated       = errors.New("ndp6: IPv6 payload length beyond the frame")
	ErrNotND           = errors.New("ndp6: not an ICMPv6 Neighbor Discovery message (next header must be 58 directly, type 133-137)")
	ErrHopLimit        = errors.New("ndp6: hop limit is not 255 (RFC 4861 §7.1: the message may come from off-link)")
	ErrCode            = errors.New("ndp6: ICMPv6 code is not 0")
	ErrChecksum        = errors.New("ndp6: bad ICMPv6 checksum")
	ErrLength          = errors.New("ndp6: ICMPv6 length below the message's minimum")
	ErrOption          = errors.New("ndp6: an option has length 0, runs past the message, or is a link-layer address option that is not 8 bytes")
	ErrSource          = errors.New("ndp6: source address is multicast")
	ErrTarget          = errors.New("ndp6: target address is multicast")
	ErrDADDestination  = errors.New("ndp6: solicitation from the unspecified address not sent to a solicited-node multicast address")
	ErrUnspecifiedSLLA = errors.New("ndp6: message from the unspecified address carries a source link-layer address option")
	ErrSolicitedMcast  = errors.New("ndp6: advertisement to a multicast address has the Solicited flag set")
	ErrRASource        = errors.New("ndp6: router advertisement source is not link-local")
)

// Message is a validated Neighbor Discovery message: the fields this
// package and pkg/ra act on, read straight from the frame. Body and Nonce
// point into the frame.
type Message struct {
	EthDst, EthSrc [6]byte
	Src, Dst       netip.Addr
	Type           uint8
	// Flags is the first byte after the checksum: M/O for a router
	// advertisement, R/S/O for a neighbour advertisement.
	Flags uint8
	// Target of a solicitation or advertisement.
	Target netip.Addr
	// LLA is the source link-layer address option (solicitations, router
	// advertisements) or the target link-layer address option (neighbour
	// advertisements), when HasLLA.
	LLA    [6]byte
	HasLLA bool
	// Nonce is the value of an RFC 7527 Nonce option, or nil.
	Nonce []byte
	// Body is the ICMPv6 message, type byte to the end of the payload.
	Body []byte
}

// Neighbour advertisement flags (Message.Flags).
const (
	FlagRouter    = 0x80
	FlagSolicited = 0x40
	FlagOverride  = 0x20
)

// minLen is the smallest ICMPv6 length of each message, options excluded.
func minLen(t uint8) int {
	switch t {
	case TypeRouterSolicitation:
		return 8
	case TypeRouterAdvertisement:
		return 16
	case TypeNeighborSolicitation, TypeNeighborAdvertisement:
		return 24
	case TypeRedirect:
		return 40
	}
	return 0
}

// Parse validates frame as an Ethernet-framed Neighbor Discovery message
// per RFC 4861 §6.1.1, §6.1.2, §7.1.1 and §7.1.2 (hop limit 255, code 0,
// checksum, minimum lengths, option lengths, the unspecified-source rules)
// and returns its fields. It never allocates; a frame that fails any check
// yields one of the Err values above and must change nothing.
//
// ND with IPv6 extension headers is rejected (ErrNotND): RFC 6980 forbids
// fragmented ND and nothing on a home LAN sends others.
func Parse(frame []byte) (Message, error) {
	var m Message
	if len(frame) < EthHeaderLen+IPv6HeaderLen+4 {
		return m, ErrShort
	}
	if binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv6 {
		return m, ErrNotIPv6
	}
	ip := frame[EthHeaderLen:]
	if ip[0]>>4 != 6 {
		return m, ErrNotIPv6
	}
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if IPv6HeaderLen+plen > len(ip) {
		return m, ErrTruncated
	}
	if ip[6] != protoICMPv6 || plen < 4 {
		return m, ErrNotND
	}
	body := ip[IPv6HeaderLen : IPv6HeaderLen+plen]
	t := body[0]
	if t < TypeRouterSolicitation || t > TypeRedirect {
		return m, ErrNotND
	}
	if ip[7] != HopLimit {
		return m, ErrHopLimit
	}
	if body[1] != 0 {
		return m, ErrCode
	}
	if len(body) < minLen(t) {
		return m, ErrLength
	}
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	if checksum(src, dst, body) != 0 {
		return m, ErrChecksum
	}
	if src.IsMulticast() {
		return m, ErrSource
	}
	m = Message{
		EthDst: [6]byte(frame[0:6]), EthSrc: [6]byte(frame[6:12]),
		Src: src, Dst: dst, Type: t, Flags: body[4], Body: body,
	}
	if t == TypeNeighborSolicitation || t == TypeNeighborAdvertisement {
		m.Target = netip.AddrFrom16([16]byte(body[8:24]))
		if m.Target.IsMulticast() {
			return m, ErrTarget
		}
	}
	want := uint8(optSourceLLA)
	if t == TypeNeighborAdvertisement {
		want = optTargetLLA
	}
	var hasSLLA bool
	for o := body[minLen(t):]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return m, ErrOption
		}
		n := int(o[1]) * 8
		switch o[0] {
		case optSourceLLA, optTargetLLA:
			if n != 8 {
				return m, ErrOption
			}
			if o[0] == optSourceLLA {
				hasSLLA = true
			}
			if o[0] == want && !m.HasLLA {
				m.LLA, m.HasLLA = [6]byte(o[2:8]), true
			}
		case optNonce:
			if m.Nonce == nil {
				m.Nonce = o[2:n]
			}
		}
		o = o[n:]
	}
	switch t {
	case TypeRouterSolicitation:
		if src.IsUnspecified() && hasSLLA {
			return m, ErrUnspecifiedSLLA
		}
	case TypeRouterAdvertisement, TypeRedirect:
		if !src.IsLinkLocalUnicast() {
			return m, ErrRASource
		}
	case TypeNeighborSolicitation:
		if src.IsUnspecified() {
			if !isSolicitedNode(dst) {
				return m, ErrDADDestination
			}
			if hasSLLA {
				return m, ErrUnspecifiedSLLA
			}
		}
	case TypeNeighborAdvertisement:
		if dst.IsMulticast() && m.Flags&FlagSolicited != 0 {
			return m, ErrSolicitedMcast
		}
	}
	return m, nil
}

// checksum returns the ICMPv6 checksum of body with the IPv6 pseudo-header
// (RFC 8200 §8.1): 0 when body's checksum field is right, the value to
// store when the field is zero.
func checksum(src, dst netip.Addr, body []byte) uint16 {
	s16, d16 := src.As16(), dst.As16()
	s := packet.Sum(s16[:], 0)
	s = packet.Sum(d16[:], s)
	s += uint32(len(body)) + protoICMPv6
	return packet.Fold(packet.Sum(body, s))
}

// SolicitedNode is the solicited-node multicast address of a (RFC 4291
// §2.7.1): ff02::1:ff00:0/104 and a's last 24 bits.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return b[0] == 0xff && b[1] == 0x02 && b[11] == 1 && b[12] == 0xff &&
		binary.BigEndian.Uint64(b[2:10]) == 0 && b[10] == 0
}

// MulticastMAC is the Ethernet address an IPv6 multicast address maps to
// (RFC 2464 §7): 33:33 and its last 32 bits.
func MulticastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// Well-known multicast groups.
var (
	AllNodes   = netip.MustParseAddr("ff02::1")
	AllRouters = netip.MustParseAddr("ff02::2")
)

// Frame wraps an ICMPv6 message (checksum already set) in IPv6 (hop limit
// 255, next header ICMPv6) and Ethernet headers.
func Frame(dstMAC, srcMAC [6]byte, src, dst netip.Addr, icmp []byte) []byte {
	b := make([]byte, EthHeaderLen+IPv6HeaderLen+len(icmp))
	copy(b[0:6], dstMAC[:])
	copy(b[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(b[12:], etherTypeIPv6)
	ip := b[EthHeaderLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip[6] = protoICMPv6
	ip[7] = HopLimit
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[IPv6HeaderLen:], icmp)
	return b
}

// Marshal encodes m with mdlayher/ndp, checksummed for src → dst, and
// frames it. The message structures come from the caller's own
// configuration, so an error is a programming error in the caller.
func Marshal(dstMAC, srcMAC [6]byte, src, dst netip.Addr, m ndp.Message) ([]byte, error) {
	icmp, err := ndp.MarshalMessageChecksum(m, src, dst)
	if err != nil {
		return nil, err
	}
	return Frame(dstMAC, srcMAC, src, dst, icmp), nil
}

// IPv6Source returns the source address of an Ethernet-framed IPv6 packet,
// or the zero Addr when frame is not one.
func IPv6Source(frame []byte) netip.Addr {
	if len(frame) < EthHeaderLen+IPv6HeaderLen || binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv6 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(frame[EthHeaderLen+8 : EthHeaderLen+24]))
}
