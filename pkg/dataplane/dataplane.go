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
// The engine is single-threaded: each port has a reader goroutine, and a
// batch is processed and written under one mutex, which also serialises
// the control plane (Do) and the timer tick.
package dataplane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
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
	LANAddr  netip.Prefix
	// NextHopMAC is the MAC of the virtual next hop self0's default route
	// points at: frames from self0 to it are routed through the NAT.
	NextHopMAC net.HardwareAddr
	Engine     *nat.Engine

	// WANDHCP receives the frames of DHCP client messages arriving on the
	// WAN port (UDP from port 67 to port 68); the frame is only valid during
	// the call, which must not block.
	WANDHCP func(frame []byte)

	Clock     func() time.Duration // monotonic; default: time since New
	Batch     int                  // frames per read; default 64
	TickEvery time.Duration        // engine and ARP timers; default 100 ms
	Logf      func(format string, args ...any)
}

// Counters of the data plane itself (the links and the engine have their own).
type Counters struct {
	NotForUs       uint64 // frames to another MAC
	NonIPv4        uint64 // IPv6, VLAN-tagged and other EtherTypes
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
}

// PortStats is one port's link counters.
type PortStats struct {
	Name string
	link.Stats
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

	lanARP, wanARP *arpTable
	links          [numPorts]link.Link
	out            [numPorts][][]byte
	arena          []byte
	arenaPos       int
	lastGWQuery    time.Duration

	cnt   Counters
	start time.Time
	caps  [numPorts]*capture
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
		lanARP: newARPTable(4096, 5*time.Minute), wanARP: newARPTable(256, 5*time.Minute),
		arena: make([]byte, 256<<10)}
	if c.Clock == nil {
		d.cfg.Clock = func() time.Duration { return time.Since(d.start) }
	}
	d.lanIP = packet.AddrTo4(c.LANAddr.Addr())
	d.lanMask = ^uint32(0) << (32 - c.LANAddr.Bits())
	copy(d.lanMAC[:], c.LAN.MAC())
	copy(d.wanMAC[:], c.WAN.MAC())
	copy(d.nhMAC[:], c.NextHopMAC)
	d.links = [numPorts]link.Link{c.LAN, c.WAN, c.Self}
	return d, nil
}

// Run reads all ports until ctx is done. Link errors are logged and
// retried; nothing a packet does ends the loop.
func (d *Dataplane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for p, l := range d.links {
		if l == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.reader(ctx, p, l)
		}()
	}
	t := time.NewTicker(d.cfg.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, l := range d.links {
				if l != nil {
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

func (d *Dataplane) reader(ctx context.Context, port int, l link.Link) {
	frames := make([]link.Frame, d.cfg.Batch)
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		n, err := l.ReadBatch(frames)
		if errors.Is(err, link.ErrClosed) {
			return
		}
		if err != nil {
			d.cfg.Logf("dataplane: %s: read: %v (retrying in %v)", l.Name(), err, backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		if n == 0 {
			continue
		}
		d.mu.Lock()
		now := d.cfg.Clock()
		if n > 1 && port != PortSelf {
			// Touch the table memory of the whole batch first so the
			// cache misses of a large table overlap (2x at 100k flows).
			dir := nat.Outbound
			if port == PortWAN {
				dir = nat.Inbound
			}
			for _, f := range frames[:n] {
				if len(f.Data) > packet.EthernetHeaderLen+packet.IPv4HeaderLen && f.Data[12] == 0x08 && f.Data[13] == 0x00 {
					d.e.Prefetch(f.Data[packet.EthernetHeaderLen:], dir)
				}
			}
		}
		for _, f := range frames[:n] {
			if f.Len != len(f.Data) {
				d.cnt.Truncated++
				continue
			}
			if d.caps[port] != nil {
				d.tap(port, f.Data)
			}
			switch port {
			case PortLAN:
				d.fromLAN(f.Data, now)
			case PortWAN:
				d.fromWAN(f.Data, now)
			case PortSelf:
				d.fromSelf(f.Data, now)
			}
		}
		d.flush()
		d.mu.Unlock()
	}
}

// Tick runs the timers: the engine's (expiry, held SYN errors), ARP queues
// and the gateway's ARP entry.
func (d *Dataplane) Tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Clock()
	for _, p := range d.e.Tick(now) {
		d.toWAN(p, nil, now)
	}
	d.cnt.ARPUnresolved += uint64(d.lanARP.expire(now) + d.wanARP.expire(now))
	if d.gw != 0 {
		if _, ok := d.wanARP.lookup(d.gw, now-d.wanARP.ttl/2); !ok && now-d.lastGWQuery >= arpRetry {
			d.lastGWQuery = now
			d.arpRequest(PortWAN, d.gw)
		}
	}
	d.flush()
}

// Do runs fn with the engine while no packet is being processed (for the
// control plane: configuration, listings, counters).
func (d *Dataplane) Do(fn func(e *nat.Engine)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.e)
	d.flush()
}

// SetWAN installs the WAN address and gateway (from DHCP or static
// configuration); an invalid prefix removes them. Sessions bound to the
// old address are flushed; the count is returned.
func (d *Dataplane) SetWAN(addr netip.Prefix, gw netip.Addr) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !addr.IsValid() {
		d.wanIP, d.wanMask, d.gw = 0, 0, 0
		return d.e.SetExternal(netip.Addr{})
	}
	d.wanIP = packet.AddrTo4(addr.Addr())
	d.wanMask = ^uint32(0) << (32 - addr.Bits())
	d.gw = packet.AddrTo4(gw)
	n := d.e.SetExternal(addr.Addr())
	if d.gw != 0 {
		d.lastGWQuery = d.cfg.Clock()
		d.arpRequest(PortWAN, d.gw)
		d.flush()
	}
	return n
}

// SendWAN transmits a complete Ethernet frame on the WAN port (the DHCP
// client's messages).
func (d *Dataplane) SendWAN(frame []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.links[PortWAN].WriteBatch([][]byte{frame})
	return err
}

// ResolveWAN returns the MAC of a WAN neighbour (the DHCP server or the
// gateway) from the ARP cache, for the DHCP client's unicast renewals; an
// unknown address is asked for and reported as an error.
func (d *Dataplane) ResolveWAN(ip netip.Addr) (net.HardwareAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := packet.AddrTo4(ip)
	hop := a
	if d.wanIP == 0 || a&d.wanMask != d.wanIP&d.wanMask {
		hop = d.gw
	}
	if mac, ok := d.wanARP.lookup(hop, d.cfg.Clock()); ok {
		return append(net.HardwareAddr(nil), mac[:]...), nil
	}
	if hop != 0 && d.wanIP != 0 {
		d.arpRequest(PortWAN, hop)
		d.flush()
	}
	return nil, fmt.Errorf("dataplane: %v not in the WAN ARP cache yet", packet.AddrFrom4(hop))
}

// Counters returns the data plane's counters.
func (d *Dataplane) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cnt
}

// Ports returns every port's link counters.
func (d *Dataplane) Ports() []PortStats {
	var out []PortStats
	for p, l := range d.links {
		if l != nil {
			out = append(out, PortStats{Name: portNames[p] + " (" + l.Name() + ")", Stats: l.Stats()})
		}
	}
	return out
}

// ARPEntries lists a side's ARP cache ("lan" or "wan").
func (d *Dataplane) ARPEntries(side string) map[netip.Addr]net.HardwareAddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.lanARP
	if side == "wan" {
		t = d.wanARP
	}
	out := make(map[netip.Addr]net.HardwareAddr)
	now := d.cfg.Clock()
	for ip, e := range t.entries {
		if _, ok := t.lookup(ip, now); ok {
			out[packet.AddrFrom4(ip)] = append(net.HardwareAddr(nil), e.mac[:]...)
		}
	}
	return out
}

func isBroadcastMAC(m []byte) bool { return m[0]&1 != 0 }

func (d *Dataplane) fromLAN(f []byte, now time.Duration) {
	if len(f) < packet.EthernetHeaderLen {
		d.cnt.Truncated++
		return
	}
	eth := packet.Ethernet(f)
	switch eth.EtherType() {
	case packet.EtherTypeARP:
		d.arpFromLAN(f, now)
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) != d.lanMAC && !isBroadcastMAC(eth.Dst()) {
			d.cnt.NotForUs++
			return
		}
		d.route(PortLAN, f, d.e.Translate(f[packet.EthernetHeaderLen:], nat.Outbound), now)
	default:
		d.cnt.NonIPv4++
	}
}

func (d *Dataplane) fromWAN(f []byte, now time.Duration) {
	if len(f) < packet.EthernetHeaderLen {
		d.cnt.Truncated++
		return
	}
	eth := packet.Ethernet(f)
	switch eth.EtherType() {
	case packet.EtherTypeARP:
		d.arpFromWAN(f, now)
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) != d.wanMAC && !isBroadcastMAC(eth.Dst()) {
			d.cnt.NotForUs++
			return
		}
		ip := f[packet.EthernetHeaderLen:]
		if d.dhcpToClient(ip) {
			d.cfg.WANDHCP(f)
			return
		}
		d.route(PortWAN, f, d.e.Translate(ip, nat.Inbound), now)
	default:
		d.cnt.NonIPv4++
	}
}

func (d *Dataplane) fromSelf(f []byte, now time.Duration) {
	if len(f) < packet.EthernetHeaderLen {
		d.cnt.Truncated++
		return
	}
	d.cnt.FromSelf++
	eth := packet.Ethernet(f)
	switch eth.EtherType() {
	case packet.EtherTypeARP:
		d.out[PortLAN] = append(d.out[PortLAN], f) // the kernel asking for or answering LAN hosts
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) == d.nhMAC {
			d.route(PortSelf, f, d.e.Translate(f[packet.EthernetHeaderLen:], nat.Outbound), now)
			return
		}
		d.out[PortLAN] = append(d.out[PortLAN], f) // to a LAN host or broadcast
	default:
		d.cnt.NonIPv4++
	}
}

// dhcpToClient reports UDP 67→68 datagrams for the WAN DHCP client.
func (d *Dataplane) dhcpToClient(ip []byte) bool {
	if d.cfg.WANDHCP == nil || len(ip) < packet.IPv4HeaderLen || ip[9] != packet.ProtoUDP {
		return false
	}
	p := packet.IPv4(ip)
	if p.Check() != packet.IPv4OK || p.IsFragment() {
		return false
	}
	u := packet.UDP(p.Payload())
	if len(u) < packet.UDPHeaderLen || u.DstPort() != 68 || u.SrcPort() != 67 {
		return false
	}
	if dst := p.Dst(); dst != 0xffffffff && dst != d.wanIP && d.wanIP != 0 {
		return false
	}
	d.cnt.DHCPClient++
	return true
}

// route sends the engine's result for a frame that arrived on port from.
func (d *Dataplane) route(from int, f []byte, r nat.Result, now time.Duration) {
	switch r.Verdict {
	case nat.Local:
		d.cnt.ToSelf++
		if d.links[PortSelf] != nil {
			d.out[PortSelf] = append(d.out[PortSelf], f[:packet.EthernetHeaderLen+len(r.Packet)])
		}
		return
	case nat.Drop, nat.Held:
		return
	}
	for i := -1; i < len(r.More); i++ {
		p := r.Packet
		if i >= 0 {
			p = r.More[i]
		}
		switch {
		case r.Verdict == nat.Reply:
			d.reply(from, f, p)
		case r.Verdict == nat.Hairpin || (r.Verdict == nat.Forward && from == PortWAN):
			d.toLAN(p, f, now)
		default:
			d.toWAN(p, f, now)
		}
	}
}

// frameFor returns a frame buffer holding p after a 14-byte header: the
// input frame itself when p still sits in it, else a copy in the arena.
func (d *Dataplane) frameFor(p, in []byte) []byte {
	if in != nil && len(in) >= packet.EthernetHeaderLen+len(p) && len(p) > 0 &&
		&in[packet.EthernetHeaderLen] == &p[0] {
		return in[:packet.EthernetHeaderLen+len(p)]
	}
	b := d.alloc(packet.EthernetHeaderLen + len(p))
	copy(b[packet.EthernetHeaderLen:], p)
	return b
}

// alloc takes n bytes of the output arena, writing out what is queued
// first if it is full. Arena frames live until the next flush.
func (d *Dataplane) alloc(n int) []byte {
	if d.arenaPos+n > len(d.arena) {
		d.flush()
	}
	b := d.arena[d.arenaPos : d.arenaPos+n]
	d.arenaPos += n
	return b
}

func setEth(b []byte, dst, src [6]byte) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], packet.EtherTypeIPv4)
}

func (d *Dataplane) toWAN(p, in []byte, now time.Duration) {
	if d.wanIP == 0 || len(p) < packet.IPv4HeaderLen {
		d.cnt.NoWANRoute++
		return
	}
	hop := packet.IPv4(p).Dst()
	if hop&d.wanMask != d.wanIP&d.wanMask {
		hop = d.gw
	}
	if hop == 0 {
		d.cnt.NoWANRoute++
		return
	}
	b := d.frameFor(p, in)
	d.send(PortWAN, d.wanARP, hop, b, d.wanMAC, now)
}

func (d *Dataplane) toLAN(p, in []byte, now time.Duration) {
	if len(p) < packet.IPv4HeaderLen {
		return
	}
	b := d.frameFor(p, in)
	dst := packet.IPv4(p).Dst()
	if dst == d.lanIP { // a reply to the router's own traffic
		d.cnt.ToSelf++
		if d.links[PortSelf] != nil {
			setEth(b, d.lanMAC, d.nhMAC)
			d.out[PortSelf] = append(d.out[PortSelf], b)
		}
		return
	}
	d.send(PortLAN, d.lanARP, dst, b, d.lanMAC, now)
}

// send resolves hop with ARP and queues b (header rewritten) for port.
func (d *Dataplane) send(port int, t *arpTable, hop uint32, b []byte, src [6]byte, now time.Duration) {
	if mac, ok := t.lookup(hop, now); ok {
		setEth(b, mac, src)
		d.out[port] = append(d.out[port], b)
		return
	}
	setEth(b, [6]byte{}, src)
	query, queued := t.queue(hop, b, now)
	if !queued {
		d.cnt.ARPQueueFull++
	}
	if query {
		d.arpRequest(port, hop)
	}
}

// reply sends an engine-built answer back out of the port it answers.
func (d *Dataplane) reply(from int, in, p []byte) {
	b := d.frameFor(p, in)
	var srcMAC [6]byte
	copy(srcMAC[:], in[6:12])
	switch from {
	case PortLAN:
		setEth(b, srcMAC, d.lanMAC)
	case PortWAN:
		setEth(b, srcMAC, d.wanMAC)
	case PortSelf:
		setEth(b, d.lanMAC, d.nhMAC)
	}
	d.out[from] = append(d.out[from], b)
}

func (d *Dataplane) arpRequest(port int, ip uint32) {
	b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
	if port == PortWAN {
		buildARP(b, packet.ARPRequest, d.wanMAC[:], d.wanIP, nil, ip)
	} else {
		buildARP(b, packet.ARPRequest, d.lanMAC[:], d.lanIP, nil, ip)
	}
	d.cnt.ARPRequests++
	d.out[port] = append(d.out[port], b)
}

func (d *Dataplane) arpFromLAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(f[packet.EthernetHeaderLen:])
	if !a.Valid() {
		d.cnt.Truncated++
		return
	}
	sip := a.SenderIP()
	if sip&d.lanMask == d.lanIP&d.lanMask && sip != d.lanIP {
		d.out[PortLAN] = append(d.out[PortLAN], d.lanARP.learn(sip, a.SenderMAC(), now)...)
	}
	switch {
	case a.Op() == packet.ARPRequest && a.TargetIP() == d.lanIP && sip != d.lanIP:
		b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
		buildARP(b, packet.ARPReply, d.lanMAC[:], d.lanIP, a.SenderMAC(), sip)
		d.cnt.ARPRepliesSent++
		d.out[PortLAN] = append(d.out[PortLAN], b)
	case a.Op() == packet.ARPReply && d.links[PortSelf] != nil:
		// The kernel on self0 may have asked too (it talks to LAN hosts).
		d.out[PortSelf] = append(d.out[PortSelf], f)
	}
}

func (d *Dataplane) arpFromWAN(f []byte, now time.Duration) {
	d.cnt.ARPIn++
	a := packet.ARP(f[packet.EthernetHeaderLen:])
	if !a.Valid() || d.wanIP == 0 {
		return
	}
	sip := a.SenderIP()
	if sip&d.wanMask == d.wanIP&d.wanMask && sip != d.wanIP {
		d.out[PortWAN] = append(d.out[PortWAN], d.wanARP.learn(sip, a.SenderMAC(), now)...)
	}
	if a.Op() == packet.ARPRequest && a.TargetIP() == d.wanIP {
		b := d.alloc(packet.EthernetHeaderLen + packet.ARPLen)
		buildARP(b, packet.ARPReply, d.wanMAC[:], d.wanIP, a.SenderMAC(), sip)
		d.cnt.ARPRepliesSent++
		d.out[PortWAN] = append(d.out[PortWAN], b)
	}
}

// flush writes every port's queued frames and resets the arena.
func (d *Dataplane) flush() {
	for p := range d.out {
		if len(d.out[p]) == 0 {
			continue
		}
		if d.caps[p] != nil {
			for _, f := range d.out[p] {
				if d.caps[p] != nil {
					d.tap(p, f)
				}
			}
		}
		if l := d.links[p]; l != nil {
			if _, err := l.WriteBatch(d.out[p]); err != nil && !errors.Is(err, link.ErrClosed) {
				d.cfg.Logf("dataplane: %s: write: %v", l.Name(), err)
			}
		}
		clear(d.out[p])
		d.out[p] = d.out[p][:0]
	}
	d.arenaPos = 0
}
