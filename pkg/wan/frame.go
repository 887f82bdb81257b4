package wan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/passgate/passgate/pkg/packet"
)

// UDP ports of DHCPv4 (RFC 2131 §4.1).
const (
	ClientPort = 68
	ServerPort = 67
)

// Frame layout: Ethernet II, an IPv4 header without options, UDP.
const (
	frameOverhead = packet.EthernetHeaderLen + packet.IPv4HeaderLen + packet.UDPHeaderLen
	ipTTL         = 64
)

// MaxMessageLen is the largest DHCP message FrameConn sends or accepts: what
// fits in one unfragmented IPv4 datagram on a 1500-byte link.
const MaxMessageLen = 1500 - packet.IPv4HeaderLen - packet.UDPHeaderLen

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Errors from ParseServerFrame.
var (
	// ErrNotDHCP: the frame is not an IPv4/UDP message from port 67 to
	// port 68 addressed to this port's MAC or broadcast. The data plane
	// should process it as ordinary traffic.
	ErrNotDHCP = errors.New("wan: not a DHCP server-to-client frame")
	// ErrBadFrame: the frame is addressed to the DHCP client port but
	// damaged (truncated, bad checksum, fragmented). Drop it.
	ErrBadFrame = errors.New("wan: damaged DHCP frame")
)

// AppendClientFrame appends to b an Ethernet II + IPv4 + UDP frame carrying
// the DHCP client message msg from src:68 to dst:67 and returns the extended
// slice. An invalid src means 0.0.0.0 (a client without an address); an
// invalid dst means the limited broadcast 255.255.255.255. A broadcast dst,
// or a dstMAC that is not 6 bytes long, sends the frame to the Ethernet
// broadcast address. The IPv4
// header has no options, TTL 64, DF clear, identification 0; both checksums
// are filled in. Frames shorter than the Ethernet minimum are not padded
// (the NIC does that).
func AppendClientFrame(b []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, msg []byte) []byte {
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	if !dst.IsValid() {
		dst = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	if dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || len(dstMAC) != 6 {
		dstMAC = broadcastMAC
	}
	start := len(b)
	b = append(b, make([]byte, frameOverhead)...)
	b = append(b, msg...)
	eth := packet.Ethernet(b[start:])
	var from [6]byte
	copy(from[:], srcMAC)
	eth.PutHeader([6]byte(dstMAC), from, packet.EtherTypeIPv4)
	ip := packet.IPv4(eth.Payload())
	s4, d4 := packet.AddrTo4(src), packet.AddrTo4(dst)
	packet.UDP(ip[packet.IPv4HeaderLen:]).PutHeader(ClientPort, ServerPort, s4, d4)
	ip.PutHeader(packet.IPv4Header{TTL: ipTTL, Protocol: packet.ProtoUDP, Src: s4, Dst: d4})
	return b
}

// ParseServerFrame returns the DHCP message carried by frame if frame is an
// Ethernet II IPv4/UDP datagram from port 67 to port 68 whose destination
// MAC is mac or broadcast. The IPv4 destination is not checked: servers send
// replies to the limited broadcast, to the subnet broadcast, or unicast to the
// address they offer (before the client has it), and all are accepted. The
// IPv4 header checksum and a non-zero UDP checksum are verified; Ethernet
// padding after the IPv4 datagram is ignored. The result aliases frame.
//
// It returns ErrNotDHCP for frames that are not for the DHCP client and
// ErrBadFrame (wrapped, with detail) for damaged ones.
func ParseServerFrame(frame []byte, mac net.HardwareAddr) ([]byte, error) {
	eth := packet.Ethernet(frame)
	if len(eth) < packet.EthernetHeaderLen {
		return nil, ErrNotDHCP
	}
	if dst := eth.Dst(); !bytes.Equal(dst, broadcastMAC) && !bytes.Equal(dst, mac) {
		return nil, ErrNotDHCP
	}
	if eth.EtherType() != packet.EtherTypeIPv4 {
		return nil, ErrNotDHCP
	}
	ip := packet.IPv4(eth.Payload())
	if len(ip) < packet.IPv4HeaderLen || ip.Version() != 4 || ip.Protocol() != packet.ProtoUDP {
		return nil, ErrNotDHCP
	}
	ihl := ip.HeaderLen()
	if ihl < packet.IPv4HeaderLen || len(ip) < ihl+packet.UDPHeaderLen {
		return nil, ErrNotDHCP
	}
	if ip.FragOffset() != 0 {
		return nil, ErrNotDHCP // a later fragment: no UDP header to look at
	}
	udp := packet.UDP(ip[ihl:])
	if udp.SrcPort() != ServerPort || udp.DstPort() != ClientPort {
		return nil, ErrNotDHCP
	}
	// From here on the frame is meant for us; problems make it ErrBadFrame.
	if ip.MF() {
		return nil, fmt.Errorf("%w: fragmented datagram", ErrBadFrame)
	}
	totalLen := ip.TotalLen()
	if totalLen < ihl+packet.UDPHeaderLen || totalLen > len(ip) {
		return nil, fmt.Errorf("%w: IPv4 total length %d, %d bytes present", ErrBadFrame, totalLen, len(ip))
	}
	if packet.Checksum(ip[:ihl]) != 0 {
		return nil, fmt.Errorf("%w: IPv4 header checksum", ErrBadFrame)
	}
	udpLen := udp.Length()
	if udpLen < packet.UDPHeaderLen || udpLen > totalLen-ihl {
		return nil, fmt.Errorf("%w: UDP length %d", ErrBadFrame, udpLen)
	}
	if udp.Checksum() != 0 {
		sum := packet.PseudoHeaderSum(ip.Src(), ip.Dst(), packet.ProtoUDP, udpLen)
		if packet.Fold(packet.Sum(udp[:udpLen], sum)) != 0 {
			return nil, fmt.Errorf("%w: UDP checksum", ErrBadFrame)
		}
	}
	return udp[packet.UDPHeaderLen:udpLen], nil
}

// FrameConn is a Transport over Ethernet frames on the WAN port, for the data
// plane: it gives FrameConn every frame it reads on the WAN port that might
// be DHCP (Deliver), and FrameConn writes the client's frames through the
// function it was given. It is safe for concurrent use.
type FrameConn struct {
	mac     net.HardwareAddr
	write   func(frame []byte) error
	resolve func(ip netip.Addr) (net.HardwareAddr, error)
	in      chan []byte

	wmu  sync.Mutex
	wbuf []byte

	delivered, dropped, damaged atomic.Uint64
}

// FrameConnQueue is how many received DHCP messages FrameConn holds for the
// client before it drops new ones. The client reads them as they come; a
// full queue means a flood.
const FrameConnQueue = 32

// NewFrameConn returns a FrameConn for the port with hardware address mac.
// write sends one frame out of the port; it must not keep the slice. resolve
// returns the hardware address to unicast an IPv4 packet to (the server when
// it is on the WAN subnet, otherwise the gateway); the client unicasts only
// RENEWING requests and RELEASE, to its server, from its leased address. A nil
// resolve, or an error from it, makes such a Send fail; the client then
// retransmits later and falls back to broadcast at T2 (REBINDING).
func NewFrameConn(mac net.HardwareAddr, write func(frame []byte) error, resolve func(ip netip.Addr) (net.HardwareAddr, error)) *FrameConn {
	return &FrameConn{
		mac:     bytes.Clone(mac),
		write:   write,
		resolve: resolve,
		in:      make(chan []byte, FrameConnQueue),
	}
}

// Deliver offers a frame read on the WAN port. It returns true if the frame
// was a DHCP server-to-client frame for this port (port 67 → 68, to this MAC
// or broadcast): the frame is then consumed — its message is copied and
// queued for Recv, or dropped if damaged or if the queue is full — and the
// data plane must not process it further. Otherwise it returns false and
// leaves the frame alone. Deliver never blocks and does not keep frame.
//
// The data plane should offer every IPv4/UDP frame to port 68 before NAT
// (and its port allocator should never map a flow to WAN port 68). Frames
// whose UDP checksum the kernel left unfinished (veth peers with transmit
// checksum offload, TP_STATUS_CSUMNOTREADY) fail the checksum and are
// counted as damaged; test topologies turn that offload off on the
// server's side, as real wires never carry such frames.
func (c *FrameConn) Deliver(frame []byte) bool {
	msg, err := ParseServerFrame(frame, c.mac)
	if errors.Is(err, ErrNotDHCP) {
		return false
	}
	if err != nil {
		c.damaged.Add(1)
		return true
	}
	select {
	case c.in <- bytes.Clone(msg):
		c.delivered.Add(1)
	default:
		c.dropped.Add(1)
	}
	return true
}

// Send implements Transport: it builds the frame and writes it.
func (c *FrameConn) Send(msg []byte, to, from netip.Addr) error {
	if len(msg) > MaxMessageLen {
		return fmt.Errorf("wan: DHCP message of %d bytes exceeds %d", len(msg), MaxMessageLen)
	}
	dstMAC := broadcastMAC
	if to.IsValid() && to != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		if c.resolve == nil {
			return fmt.Errorf("wan: no way to resolve %v for a unicast DHCP message", to)
		}
		hw, err := c.resolve(to)
		if err != nil {
			return fmt.Errorf("wan: resolve %v: %w", to, err)
		}
		if len(hw) != 6 {
			return fmt.Errorf("wan: resolve %v: bad hardware address %v", to, hw)
		}
		dstMAC = hw
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendClientFrame(c.wbuf[:0], c.mac, dstMAC, from, to, msg)
	return c.write(c.wbuf)
}

// Recv implements Transport: it waits for the next delivered DHCP message.
func (c *FrameConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// FrameStats counts what FrameConn did with delivered frames.
type FrameStats struct {
	Delivered uint64 // queued for the client
	Dropped   uint64 // DHCP frames dropped because the queue was full
	Damaged   uint64 // DHCP frames dropped as damaged (ErrBadFrame)
}

// Stats returns FrameConn's counters.
func (c *FrameConn) Stats() FrameStats {
	return FrameStats{Delivered: c.delivered.Load(), Dropped: c.dropped.Load(), Damaged: c.damaged.Load()}
}
