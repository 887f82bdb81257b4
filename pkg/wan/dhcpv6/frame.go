package dhcpv6

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/passgate/passgate/pkg/packet"
)

// Frame layout: Ethernet II, an IPv6 header without extension headers, UDP.
const (
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	frameOverhead = packet.EthernetHeaderLen + ipv6HeaderLen + udpHeaderLen
	protoUDP      = 17
	// Hop limits: 1 for the link-scoped multicast to AllServers (the
	// message is for this link only), 64 for unicast to a server.
	multicastHops = 1
	unicastHops   = 64
)

// Errors from ParseServerFrame.
var (
	// ErrNotDHCP: the frame is not an IPv6/UDP datagram from port 547 to
	// port 546 addressed to this port's MAC and link-local address. The
	// data plane processes it as ordinary traffic.
	ErrNotDHCP = errors.New("dhcpv6: not a DHCPv6 server-to-client frame")
	// ErrBadFrame: the frame is addressed to the DHCPv6 client but damaged
	// (truncated, lengths that disagree, zero or wrong UDP checksum, too
	// large, a source that cannot send). Drop it.
	ErrBadFrame = errors.New("dhcpv6: damaged DHCPv6 frame")
)

// LinkLocal returns the link-local address formed from mac by modified
// EUI-64 (RFC 4291 §2.5.1, appendix A): fe80::, then mac with the
// universal/local bit inverted and ff:fe in its middle. It is the address
// the client sends from; the zero Addr if mac is not 6 bytes long.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	if len(mac) != 6 {
		return netip.Addr{}
	}
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// MulticastMAC is the Ethernet address an IPv6 multicast address maps to
// (RFC 2464 §7): 33:33 and the address's last four bytes.
func MulticastMAC(group netip.Addr) net.HardwareAddr {
	b := group.As16()
	return net.HardwareAddr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// AppendClientFrame appends to b an Ethernet II + IPv6 + UDP frame carrying
// the DHCPv6 client message msg from src port 546 to dst port 547, and
// returns the extended slice. A multicast dst goes to its multicast MAC
// (dstMAC is ignored) with hop limit 1; a unicast dst to dstMAC with hop
// limit 64. Traffic class and flow label are 0; the UDP checksum (which
// IPv6 makes mandatory) is filled in. src and dst must be IPv6 addresses.
func AppendClientFrame(b []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, msg []byte) []byte {
	hops := byte(unicastHops)
	if dst.IsMulticast() {
		dstMAC = MulticastMAC(dst)
		hops = multicastHops
	}
	start := len(b)
	b = append(b, make([]byte, frameOverhead)...)
	b = append(b, msg...)
	eth := packet.Ethernet(b[start:])
	var to, from [6]byte
	copy(to[:], dstMAC)
	copy(from[:], srcMAC)
	eth.PutHeader(to, from, packet.EtherTypeIPv6)
	ip := eth.Payload()
	udpLen := udpHeaderLen + len(msg)
	ip[0] = 6 << 4
	ip[1], ip[2], ip[3] = 0, 0, 0
	binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
	ip[6] = protoUDP
	ip[7] = hops
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	udp := ip[ipv6HeaderLen:]
	binary.BigEndian.PutUint16(udp[0:], ClientPort)
	binary.BigEndian.PutUint16(udp[2:], ServerPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	binary.BigEndian.PutUint16(udp[6:], 0)
	sum := packet.Fold(packet.Sum(udp[:udpLen], pseudoSum(ip, udpLen)))
	if sum == 0 {
		sum = 0xffff // RFC 8200 §8.1: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return b
}

// pseudoSum is the unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1)
// for a UDP datagram of length n in the IPv6 packet ip.
func pseudoSum(ip []byte, n int) uint32 {
	return packet.Sum(ip[8:40], uint32(n)+protoUDP)
}

// ParseServerFrame returns the DHCPv6 message carried by frame and the
// IPv6 address it came from, if frame is an Ethernet II IPv6 datagram
// whose next header is UDP (no extension headers), from port 547 to port
// 546, addressed to mac and to the IPv6 address local (the client's
// link-local address: servers and relays answer there). The UDP checksum
// is verified (a zero one is refused, RFC 8200 §8.1); Ethernet padding
// after the datagram is ignored. The message aliases frame.
//
// It returns ErrNotDHCP for frames that are not for the DHCPv6 client and
// ErrBadFrame (wrapped, with detail) for damaged ones.
func ParseServerFrame(frame []byte, mac net.HardwareAddr, local netip.Addr) ([]byte, netip.Addr, error) {
	var none netip.Addr
	eth := packet.Ethernet(frame)
	if len(eth) < frameOverhead || !bytes.Equal(eth.Dst(), mac) || eth.EtherType() != packet.EtherTypeIPv6 {
		return nil, none, ErrNotDHCP
	}
	ip := eth.Payload()
	if ip[0]>>4 != 6 || ip[6] != protoUDP {
		return nil, none, ErrNotDHCP
	}
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	if dst != local {
		return nil, none, ErrNotDHCP
	}
	udp := ip[ipv6HeaderLen:]
	if binary.BigEndian.Uint16(udp[0:]) != ServerPort || binary.BigEndian.Uint16(udp[2:]) != ClientPort {
		return nil, none, ErrNotDHCP
	}
	// From here on the frame is meant for the client; problems make it
	// ErrBadFrame.
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if plen > len(ip)-ipv6HeaderLen {
		return nil, none, fmt.Errorf("%w: IPv6 payload length %d, %d bytes present", ErrBadFrame, plen, len(ip)-ipv6HeaderLen)
	}
	if n := int(binary.BigEndian.Uint16(udp[4:])); n != plen {
		return nil, none, fmt.Errorf("%w: UDP length %d in an IPv6 payload of %d", ErrBadFrame, n, plen)
	}
	if plen-udpHeaderLen > MaxMessageLen {
		return nil, none, fmt.Errorf("%w: message of %d bytes exceeds %d", ErrBadFrame, plen-udpHeaderLen, MaxMessageLen)
	}
	if binary.BigEndian.Uint16(udp[6:]) == 0 {
		return nil, none, fmt.Errorf("%w: zero UDP checksum", ErrBadFrame)
	}
	if packet.Fold(packet.Sum(udp[:plen], pseudoSum(ip, plen))) != 0 {
		return nil, none, fmt.Errorf("%w: UDP checksum", ErrBadFrame)
	}
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	if src.IsUnspecified() || src.IsMulticast() || src.Is4In6() || src.IsLoopback() {
		return nil, none, fmt.Errorf("%w: source %v cannot send", ErrBadFrame, src)
	}
	if src.IsLinkLocalUnicast() {
		// Hand the client a source it can answer on this port alone.
		src = src.WithZone("")
	}
	return udp[udpHeaderLen:plen], src, nil
}

// FrameConn is a Transport over Ethernet frames on the WAN port, for the
// data plane: it offers FrameConn every frame it reads on the WAN port
// (Deliver), and FrameConn writes the client's frames through the function
// it was given. The client sends from the port's link-local address
// (LinkLocal of the port's MAC). It is safe for concurrent use.
//
// The data plane must also answer neighbour solicitations for that
// link-local address (servers resolve it before they answer); pkg/wan's
// FrameConn is the IPv4 counterpart.
type FrameConn struct {
	mac     net.HardwareAddr
	local   netip.Addr
	write   func(frame []byte) error
	resolve func(ip netip.Addr) (net.HardwareAddr, error)
	in      chan memMsg

	wmu  sync.Mutex
	wbuf []byte

	delivered, dropped, damaged atomic.Uint64
}

// NewFrameConn returns a FrameConn for the port with hardware address mac.
// write sends one frame out of the port; it must not keep the slice.
// resolve returns the hardware address to unicast to an IPv6 address (the
// neighbour cache); the client unicasts only to a server that offered it
// (Config.AllowUnicast). A nil resolve, or an error from it, makes such a
// Send fail, and the client sends to AllServers instead.
func NewFrameConn(mac net.HardwareAddr, write func(frame []byte) error, resolve func(ip netip.Addr) (net.HardwareAddr, error)) *FrameConn {
	return &FrameConn{
		mac:     bytes.Clone(mac),
		local:   LinkLocal(mac),
		write:   write,
		resolve: resolve,
		in:      make(chan memMsg, MemQueue),
	}
}

// LocalAddr is the link-local address the client sends from and receives
// on.
func (c *FrameConn) LocalAddr() netip.Addr { return c.local }

// Deliver offers a frame read on the WAN port. It returns true if the frame
// was a DHCPv6 server-to-client frame for this port: the frame is then
// consumed — its message is copied and queued for Recv, or dropped if
// damaged or if MemQueue messages already wait — and the data plane must
// not process it further. Otherwise it returns false and leaves the frame
// alone. Deliver never blocks, does not allocate for frames that are not
// DHCPv6, and does not keep frame.
//
// Frames whose UDP checksum the kernel left unfinished (veth peers with
// transmit checksum offload) fail the checksum and are counted as damaged;
// test topologies turn that offload off on the server's side.
func (c *FrameConn) Deliver(frame []byte) bool {
	msg, from, err := ParseServerFrame(frame, c.mac, c.local)
	if errors.Is(err, ErrNotDHCP) {
		return false
	}
	if err != nil {
		c.damaged.Add(1)
		return true
	}
	select {
	case c.in <- memMsg{bytes.Clone(msg), from}:
		c.delivered.Add(1)
	default:
		c.dropped.Add(1)
	}
	return true
}

// Send implements Transport: it builds the frame and writes it.
func (c *FrameConn) Send(msg []byte, to netip.Addr) error {
	if len(msg) > MaxMessageLen {
		return fmt.Errorf("dhcpv6: message of %d bytes exceeds %d", len(msg), MaxMessageLen)
	}
	if !to.IsValid() {
		to = AllServers
	}
	if !to.Is6() || to.Is4In6() {
		return fmt.Errorf("dhcpv6: %v is not an IPv6 address", to)
	}
	to = to.WithZone("")
	var dstMAC net.HardwareAddr
	if !to.IsMulticast() {
		if c.resolve == nil {
			return fmt.Errorf("dhcpv6: no way to resolve %v for a unicast message", to)
		}
		hw, err := c.resolve(to)
		if err != nil {
			return fmt.Errorf("dhcpv6: resolve %v: %w", to, err)
		}
		if len(hw) != 6 {
			return fmt.Errorf("dhcpv6: resolve %v: bad hardware address %v", to, hw)
		}
		dstMAC = hw
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendClientFrame(c.wbuf[:0], c.mac, dstMAC, c.local, to, msg)
	return c.write(c.wbuf)
}

// Recv implements Transport: it waits for the next delivered message.
func (c *FrameConn) Recv(ctx context.Context) ([]byte, netip.Addr, error) {
	select {
	case m := <-c.in:
		return m.b, m.addr, nil
	case <-ctx.Done():
		return nil, netip.Addr{}, ctx.Err()
	}
}

// FrameStats counts what FrameConn did with delivered frames.
type FrameStats struct {
	Delivered uint64 // queued for the client
	Dropped   uint64 // DHCPv6 frames dropped because the queue was full
	Damaged   uint64 // DHCPv6 frames dropped as damaged (ErrBadFrame)
}

// Stats returns FrameConn's counters.
func (c *FrameConn) Stats() FrameStats {
	return FrameStats{Delivered: c.delivered.Load(), Dropped: c.dropped.Load(), Damaged: c.damaged.Load()}
}
