package tcfast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// The flow map's key and value as the kernel stores them. The byte offsets
// below are the single definition of the layout: the Go encoders in this
// file and the programs' instructions (emit.go) both use them.
//
// Key, 20 bytes:
//
//	offset size field
//	 0      4   ingress ifindex, host byte order (as __sk_buff.ingress_ifindex)
//	 4      1   IP protocol: 6 TCP, 17 UDP
//	 5      3   padding, zero
//	 8      4   source IPv4 address, network byte order (as in the header)
//	12      4   destination IPv4 address, network byte order
//	16      2   source port, network byte order
//	18      2   destination port, network byte order
//
// Value, 56 bytes:
//
//	offset size field
//	 0      1   rewrite: 0 the source endpoint, 1 the destination endpoint
//	 1      1   padding, zero
//	 2      2   new port, network byte order
//	 4      4   new IPv4 address, network byte order
//	 8      4   egress ifindex, host byte order
//	12      2   egress MTU (largest IPv4 packet), host byte order
//	14      6   new Ethernet destination MAC
//	20      6   new Ethernet source MAC (follows the destination, as in a header)
//	26      6   Ethernet source the frames must have (the LAN host's or the WAN gateway's MAC); a frame from another MAC is a miss
//	32      8   last seen: bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last redirected frame, 0 = none
//	40      8   packets redirected (a GSO super-packet counts its segments)
//	48      8   bytes redirected (IPv4 total length; a GSO super-packet's length without its Ethernet header)
//
// The three counters are written by the tc program only: last seen with a
// plain 8-byte store, packets and bytes with atomic adds.
const (
	KeySize   = 20 // bytes of a flow map key
	ValueSize = 56 // bytes of a flow map value

	keyIfindex = 0
	keyProto   = 4
	keySrc     = 8
	keyDst     = 12
	keySrcPort = 16
	keyDstPort = 18

	valRewrite  = 0
	valPort     = 2
	valAddr     = 4
	valEgress   = 8
	valMTU      = 12
	valDstMAC   = 14
	valSrcMAC   = 20
	valFromMAC  = 26
	valLastSeen = 32
	valPackets  = 40
	valBytes    = 48
)

// IP protocol numbers of the flows the fast path takes.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Key identifies a flow's direction as its frames arrive on a port: the
// ingress port and the packet's 5-tuple before translation. The struct
// mirrors the map key's layout (see KeySize) field for field, padding
// included; ports are numbers here and network byte order in the map
// (MarshalBinary converts).
type Key struct {
	Ifindex uint32  // the port the frames arrive on
	Proto   uint8   // ProtoTCP or ProtoUDP
	_       [3]byte // padding, always zero in the map
	Src     [4]byte // source IPv4 address as it arrives
	Dst     [4]byte // destination IPv4 address as it arrives
	SrcPort uint16  // source port as it arrives
	DstPort uint16  // destination port as it arrives
}

// NewKey returns the key of frames arriving on port ifindex from src to
// dst, both IPv4.
func NewKey(ifindex int, proto uint8, src, dst netip.AddrPort) (Key, error) {
	k := Key{Ifindex: uint32(ifindex), Proto: proto, SrcPort: src.Port(), DstPort: dst.Port()}
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return Key{}, fmt.Errorf("tcfast: key %v -> %v: not IPv4", src, dst)
	}
	k.Src, k.Dst = src.Addr().As4(), dst.Addr().As4()
	return k, k.validate()
}

func (k Key) validate() error {
	if k.Ifindex == 0 || k.Ifindex > 1<<31-1 {
		return fmt.Errorf("tcfast: key %v: ifindex %d out of range", k, k.Ifindex)
	}
	if k.Proto != ProtoTCP && k.Proto != ProtoUDP {
		return fmt.Errorf("tcfast: key %v: protocol %d is neither TCP nor UDP", k, k.Proto)
	}
	return nil
}

// String shows the key as "if3 tcp 192.168.1.10:40000->203.0.113.1:443".
func (k Key) String() string {
	p := fmt.Sprintf("proto%d", k.Proto)
	switch k.Proto {
	case ProtoTCP:
		p = "tcp"
	case ProtoUDP:
		p = "udp"
	}
	return fmt.Sprintf("if%d %s %v->%v", k.Ifindex, p,
		netip.AddrPortFrom(netip.AddrFrom4(k.Src), k.SrcPort),
		netip.AddrPortFrom(netip.AddrFrom4(k.Dst), k.DstPort))
}

// MarshalBinary encodes k in the map's layout.
func (k Key) MarshalBinary() ([]byte, error) {
	b := k.encode()
	return b[:], nil
}

// UnmarshalBinary decodes a key in the map's layout. Non-zero padding is
// an error: the programs never build such a key.
func (k *Key) UnmarshalBinary(b []byte) error {
	if len(b) != KeySize {
		return fmt.Errorf("tcfast: key of %d bytes, want %d", len(b), KeySize)
	}
	if b[keyProto+1]|b[keyProto+2]|b[keyProto+3] != 0 {
		return errors.New("tcfast: key padding is not zero")
	}
	*k = Key{
		Ifindex: binary.NativeEndian.Uint32(b[keyIfindex:]),
		Proto:   b[keyProto],
		Src:     [4]byte(b[keySrc:]),
		Dst:     [4]byte(b[keyDst:]),
		SrcPort: binary.BigEndian.Uint16(b[keySrcPort:]),
		DstPort: binary.BigEndian.Uint16(b[keyDstPort:]),
	}
	return nil
}

func (k Key) encode() [KeySize]byte {
	var b [KeySize]byte
	binary.NativeEndian.PutUint32(b[keyIfindex:], k.Ifindex)
	b[keyProto] = k.Proto
	copy(b[keySrc:], k.Src[:])
	copy(b[keyDst:], k.Dst[:])
	binary.BigEndian.PutUint16(b[keySrcPort:], k.SrcPort)
	binary.BigEndian.PutUint16(b[keyDstPort:], k.DstPort)
	return b
}

// Rewrite says which endpoint of a flow's packets the fast path translates.
type Rewrite uint8

const (
	// RewriteSource translates the source address and port: a LAN host's
	// packets leaving through the WAN (source NAT).
	RewriteSource Rewrite = 0
	// RewriteDestination translates the destination address and port: the
	// replies arriving on the WAN for a LAN host.
	RewriteDestination Rewrite = 1
)

// String names the endpoint.
func (r Rewrite) String() string {
	switch r {
	case RewriteSource:
		return "source"
	case RewriteDestination:
		return "destination"
	}
	return fmt.Sprintf("rewrite(%d)", uint8(r))
}

// Entry is what the fast path does with a flow's frames: the new endpoint,
// where the frame leaves and with which Ethernet header. The counters live
// beside it in the map value (Stats).
type Entry struct {
	Rewrite Rewrite // the endpoint translated
	Addr    [4]byte // its new IPv4 address
	Port    uint16  // its new port
	Egress  uint32  // ifindex of the port the frames leave by
	MTU     uint16  // the egress MTU: largest IPv4 packet (or GSO segment) redirected; larger ones go to routerd
	DstMAC  [6]byte // Ethernet destination: the next hop (WAN gateway or LAN host)
	SrcMAC  [6]byte // Ethernet source: the egress port's own MAC
	FromMAC [6]byte // Ethernet source the frames must have: the LAN host (LAN→WAN) or the WAN gateway (WAN→LAN); frames from another MAC are not taken
}

// MinMTU is the smallest egress MTU an Entry may have (RFC 791's 68).
const MinMTU = 68

func (e Entry) validate() error {
	if e.Rewrite != RewriteSource && e.Rewrite != RewriteDestination {
		return fmt.Errorf("entry: invalid rewrite %d", uint8(e.Rewrite))
	}
	if e.Egress == 0 || e.Egress > 1<<31-1 {
		return fmt.Errorf("entry: egress ifindex %d out of range", e.Egress)
	}
	if e.MTU < MinMTU {
		return fmt.Errorf("entry: MTU %d below %d", e.MTU, MinMTU)
	}
	if e.FromMAC == ([6]byte{}) {
		return errors.New("entry: FromMAC is all zero: the frames' Ethernet source must be given")
	}
	if e.FromMAC[0]&1 != 0 {
		return fmt.Errorf("entry: FromMAC %s is a group (multicast or broadcast) address, never a frame's source", net.HardwareAddr(e.FromMAC[:]))
	}
	return nil
}

// Stats are a flow's fast-path counters, kept by the tc program.
type Stats struct {
	// LastSeen is the CLOCK_MONOTONIC time (bpf_ktime_get_ns; see
	// Monotonic) of the last frame redirected, 0 if none was.
	LastSeen time.Duration
	Packets  uint64 // frames redirected, a GSO super-packet counted as its gso_segs (at least 1)
	Bytes    uint64 // IPv4 total lengths; for a GSO super-packet its length without the Ethernet header
}

// encodeValue lays out e with counters s in the map's value layout.
func encodeValue(e Entry, s Stats) [ValueSize]byte {
	var b [ValueSize]byte
	b[valRewrite] = byte(e.Rewrite)
	binary.BigEndian.PutUint16(b[valPort:], e.Port)
	copy(b[valAddr:], e.Addr[:])
	binary.NativeEndian.PutUint32(b[valEgress:], e.Egress)
	binary.NativeEndian.PutUint16(b[valMTU:], e.MTU)
	copy(b[valDstMAC:], e.DstMAC[:])
	copy(b[valSrcMAC:], e.SrcMAC[:])
	copy(b[valFromMAC:], e.FromMAC[:])
	binary.NativeEndian.PutUint64(b[valLastSeen:], uint64(s.LastSeen))
	binary.NativeEndian.PutUint64(b[valPackets:], s.Packets)
	binary.NativeEndian.PutUint64(b[valBytes:], s.Bytes)
	return b
}

// decodeValue reads a map value.
func decodeValue(b []byte) (Entry, Stats, error) {
	if len(b) != ValueSize {
		return Entry{}, Stats{}, fmt.Errorf("tcfast: value of %d bytes, want %d", len(b), ValueSize)
	}
	e := Entry{
		Rewrite: Rewrite(b[valRewrite]),
		Port:    binary.BigEndian.Uint16(b[valPort:]),
		Addr:    [4]byte(b[valAddr:]),
		Egress:  binary.NativeEndian.Uint32(b[valEgress:]),
		MTU:     binary.NativeEndian.Uint16(b[valMTU:]),
		DstMAC:  [6]byte(b[valDstMAC:]),
		SrcMAC:  [6]byte(b[valSrcMAC:]),
		FromMAC: [6]byte(b[valFromMAC:]),
	}
	s := Stats{
		LastSeen: time.Duration(binary.NativeEndian.Uint64(b[valLastSeen:])),
		Packets:  binary.NativeEndian.Uint64(b[valPackets:]),
		Bytes:    binary.NativeEndian.Uint64(b[valBytes:]),
	}
	return e, s, nil
}
