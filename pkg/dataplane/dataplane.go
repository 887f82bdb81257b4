// Package dataplane is routerd's packet loop: it reads batches of frames
// from the LAN port, the WAN port and the router's own TAP interface
// (self0), classifies them, runs IPv4 through the NAPT engine, resolves
// next hops with ARP on both sides, and writes batches out.
//
// The router's own services are ordinary kernel sockets on self0, which
// holds the LAN address and the LAN port's MAC: ARP and IPv4 for the
// router's LAN address go to self0; frames self0 sends to LAN hosts go out
// of the LAN port unchanged; frames it sends to its default route (a
// virtual next hop with a permanent neighbour entry) are NAT-ed like any LAN
// host's, and their replies come back to self0. WAN ARP, echo replies on
// the WAN address and DHCP client traffic are routerd's own.
//
// Offloads (offload.go): frames may arrive with a partial checksum or as
// GSO/GRO super-packets (link.Offload). A super-packet is translated once,
// on a view of its first segment, and sent on as a super-packet where the
// egress port takes offloads; elsewhere it is cut into segments here
// (segment.go). Partial checksums are completed here only for a port that
// cannot finish them.
//
// Readers: each port has a reader goroutine, and the LAN and WAN ports may
// have several (Config.MoreLAN, MoreWAN: links of a fanout group that
// share the port's frames by flow). A reader classifies and translates its
// batch under one mutex, which also serialises the engine's other users
// (the control plane's Do, the timer tick), and transmits the batch after
// letting go of it, on its own links: the transmit, where a forwarder
// spends most of its time, runs on as many cores as there are readers,
// while the engine's work per packet (tens of nanoseconds) stays serial.
package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/landev"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/srcguard"
)

// Port indexes.
const (
	PortLAN = iota
	PortWAN
	PortSelf
	numPorts
)

var portNames = [numPorts]string{"lan", "wan", "self"}

// Config wires the data plane.
type Config struct {
	LAN, WAN link.Link
	Self     link.Link // the router's own stack (TAP self0); may be nil in tests
	// MoreLAN and MoreWAN are further links on the LAN and WAN ports
	// that share the port's received frames with LAN and WAN (a fanout
	// group that keeps each flow on one member: afpacket.OpenGroup).
	// Each member gets a reader of its own; reader i of a port sends on
	// member i (modulo their number) of each port, so the readers
	// transmit side by side. Empty: one reader per port.
	MoreLAN, MoreWAN []link.Link
	LANAddr          netip.Prefix
	// NextHopMAC is the MAC of the virtual next hop self0's default route
	// points at: frames from self0 to it are routed through the NAT.
	NextHopMAC net.HardwareAddr
	Engine     *nat.Engine
	// Guard binds LAN source addresses to devices (nil: none); a LAN
	// packet from an address another device holds, or beyond a device's
	// share, is dropped and counted.
	Guard *srcguard.Guard
	// Devices records the devices seen on the LAN and holds the MAC
	// filter (nil: none); every frame from a device it blocks is dropped
	// and counted. Use it only inside DoDevices once Run has started.
	Devices *landev.Table

	// WANDHCP receives the frames of DHCP client messages arriving on the
	// WAN port (UDP from port 67 to port 68); the frame is only valid during
	// the call, which must not block.
	WANDHCP func(frame []byte)

	// PayloadHelper reports flows whose TCP or UDP payload a NAT helper
	// may rewrite (PPTP control). Their super-packets are cut into
	// segments before translation, so the helper sees every segment;
	// nil means none.
	PayloadHelper func(proto uint8, sport, dport uint16) bool

	// IPv6 forwards IPv6 (ipv6.go); nil drops every IPv6 frame.
	IPv6 *IPv6Config

	// Offload hands established IPv4 flows to the kernel (flowoffload.go);
	// nil: every frame is forwarded here.
	Offload *OffloadConfig

	Clock     func() time.Duration // monotonic; default: time since New
	Batch     int                  // frames per read; default 64
	TickEvery time.Duration        // engine and ARP timers; default 100 ms
	Logf      func(format string, args ...any)
}

// SelfFilter decides packets to the router itself: the firewall's rules
// "to self" (pkg/firewall), asked per packet, with the data plane's lock
// held.
type SelfFilter interface {
	DecideSelf(p packet.IPv4, fromWAN bool, mac [6]byte) nat.FilterVerdict
	DecideSelf6(p packet.IPv6, fromWAN bool, mac [6]byte) fw6.FilterVerdict
}

// Counters of the data plane itself (the links and the engine have their own).
type Counters struct {
	NotForUs       uint64 // frames to another MAC
	NonIPv4        uint64 // VLAN-tagged and other EtherTypes (IPv6 too while it is off)
	Truncated      uint64 // frames shorter than their headers, or cut by the ring
	ARPIn          uint64
	ARPRepliesSent uint64
	ARPRequests    uint64
	ARPUnresolved  uint64 // packets dropped because a next hop did not answer ARP
	ARPQueueFull   uint64
	ToSelf         uint64 // frames handed to the router's own stack
	FromSelf       uint64
	DHCPClient     uint64 // WAN DHCP messages handed to the client
	NoWANRoute     uint64 // no WAN address or gateway yet
	LANSpoofed     uint64 // LAN packets from an address another device holds (srcguard), or the router's own
	LANAddrLimit   uint64 // LAN packets from a device's address beyond its share (srcguard)
	LANMACFiltered uint64 // LAN frames from a device the MAC filter blocks (landev)
	SelfFiltered   uint64 // packets to the router itself a firewall rule dropped or rejected

	IPv6In            uint64 // IPv6 frames for the router's MACs or multicast
	NDIn              uint64 // Neighbor Discovery messages and MLD queries handed to ndp6
	NDUnresolved      uint64 // IPv6 packets dropped because a neighbour did not resolve (or could not be asked)
	NoWANRoute6       uint64 // IPv6 packets for the WAN with no default router yet
	DHCPv6Client      uint64 // WAN DHCPv6 messages handed to the client
	DHCPv6Server      uint64 // LAN DHCPv6 client messages handed to the stateless server
	IPv6LinkMulticast uint64 // link-scope multicast not for routerd (MLD, mDNS…): not routed
	LANRouterAdverts  uint64 // router advertisements heard on the LAN (another router there)

	SuperPackets    uint64 // GSO/GRO super-packets received
	SuperSegmented  uint64 // super-packets cut into segments here (for a port without offloads, or before translation)
	ChecksumsFilled uint64 // partial checksums completed here
	OffloadInvalid  uint64 // frames whose offload did not match their headers (dropped)

	OffloadInstalled uint64 // session directions handed to the kernel (flow offload)
	OffloadRemoved   uint64 // … and taken back
	OffloadPackets   uint64 // packets the kernel forwarded for them
	OffloadBytes     uint64
	OffloadFailed    uint64 // kernel flow table operations that failed (a full table)
}

// PortStats is one port's link counters.
type PortStats struct {
	Name       string // "lan (eth1)"
	Device     string // "eth1"
	Readers    int    // the port's links, each read by its own goroutine
	link.Stats        // what routerd read and wrote
	// Kernel is what the kernel forwarded through the port for offloaded
	// flows (flow offload; counted each fold, packets as segments and a
	// super-packet's bytes once); not in Stats.
	Kernel link.Stats
}

// Dataplane is the running packet loop.
type Dataplane struct {
	cfg Config
	mu  sync.Mutex
	e   *nat.Engine

	lanIP, lanMask uint32
	lanMAC, wanMAC [6]byte
	nhMAC          [6]byte
	wanIP, wanMask uint32
	gw             uint32

	// self decides packets to the router itself (SetSelfFilter); nil:
	// all pass. rejectBuf holds the TCP reset or ICMP error answering a
	// rejected one.
	self      SelfFilter
	rejectBuf [576]byte

	// shaped are the ports with a shaper (shape.go); nil: not shaped.
	shaped [numPorts]*shapedPort

	lanARP, wanARP *arpTable
	links          [numPorts]link.Link
	// members are every port's links: links[p] first, then the
	// Config.More ones.
	members  [numPorts][]link.Link
	offloads [numPorts]bool // the port's WriteBatch takes offloaded frames
	minMTU   int            // the smaller MTU of LAN and WAN
	// q is where frames go out: the queue of the goroutine holding mu.
	// Each port reader has its own and writes it after letting go of mu,
	// so one reader's transmit (on a veth, the receiving side's whole
	// network stack) overlaps the other's work; everything else (ticks,
	// control calls) uses ctlq and writes it under mu.
	q           *txq
	ctlq        txq
	lastGWQuery time.Duration

	v6        *IPv6Config
	wan6      IPv6Route
	ndOut     [][]byte // frames the ND, RA and DHCPv6 code hands out
	failed    [][]byte
	lastTick6 time.Duration

	cnt   Counters
	start time.Time
	caps  [numPorts]*capture
	off   *offload // flow offload; nil: off
}

// New checks the configuration and returns a data plane; Run starts it.
func New(c Config) (*Dataplane, error) {
	if c.LAN == nil || c.WAN == nil || c.Engine == nil {
		return nil, errors.New("dataplane: LAN, WAN and Engine are required")
	}
	if !c.LANAddr.Addr().Is4() {
		return nil, fmt.Errorf("dataplane: LAN address %v is not IPv4", c.LANAddr)
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.TickEvery <= 0 {
		c.TickEvery = 100 * time.Millisecond
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	d := &Dataplane{cfg: c, e: c.Engine, start: time.Now(),
		lanARP: newARPTable(4096, 5*time.Minute), wanARP: newARPTable(256, 5*time.Minute)}
	d.q = &d.ctlq
	if c.Clock == nil {
		d.cfg.Clock = func() time.Duration { return time.Since(d.start) }
	}
	d.lanIP = packet.AddrTo4(c.LANAddr.Addr())
	d.lanMask = ^uint32(0) << (32 - c.LANAddr.Bits())
	copy(d.lanMAC[:], c.LAN.MAC())
	copy(d.wanMAC[:], c.WAN.MAC())
	copy(d.nhMAC[:], c.NextHopMAC)
	d.links = [numPorts]link.Link{c.LAN, c.WAN, c.Self}
	d.members = [numPorts][]link.Link{append([]link.Link{c.LAN}, c.MoreLAN...), append([]link.Link{c.WAN}, c.MoreWAN...)}
	if c.Self != nil {
		d.members[PortSelf] = []link.Link{c.Self}
	}
	for p, ms := range d.members {
		for k, l := range ms {
			if k == 0 {
				continue
			}
			if l == nil || !bytes.Equal(l.MAC(), ms[0].MAC()) || l.MTU() != ms[0].MTU() || l.Offloads() != ms[0].Offloads() {
				return nil, fmt.Errorf("dataplane: every %s link must be non-nil, with the port's MAC, MTU and offloads", portNames[p])
			}
		}
	}
	d.ctlq = d.newTxq(0)
	if v := c.IPv6; v != nil {
		if v.Engine == nil || v.LAN == nil || v.WAN == nil {
			return nil, errors.New("dataplane: IPv6 needs the firewall engine and a neighbour-discovery node per port")
		}
		d.v6 = v
	}
	for p, l := range d.links {
		d.offloads[p] = l != nil && l.Offloads()
	}
	d.minMTU = min(c.LAN.MTU(), c.WAN.MTU())
	if c.Offload != nil {
		var err error
		if d.off, err = newOffload(c.Offload); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Run reads all ports until ctx is done. Link errors are logged and
// retried; nothing a packet does ends the loop.
func (d *Dataplane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for p, ms := range d.members {
		for i, l := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.reader(ctx, p, i, l)
			}()
		}
	}
	t := time.NewTicker(d.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			d.offloadFlush()
			for p, sp := range d.shaped {
				if sp != nil {
					sp.remove()
					d.shaped[p] = nil
				}
			}
			d.mu.Unlock()
			for _, ms := range d.members {
				for _, l := range ms {
					l.Close()
				}
			}
			wg.Wait()
			return nil
		case <-t.C:
			d.Tick()
		}
	}
}
