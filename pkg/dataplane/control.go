package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/landev"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Tick runs the timers: the engine's (expiry, held SYN errors), ARP queues
// and the gateway's ARP entry.
func (d *Dataplane) Tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Clock()
	d.fold(now) // before the engine's expiry: the kernel's packets keep sessions alive
	for _, p := range d.e.Tick(now) {
		d.toWAN(p, nil, link.Offload{}, now)
	}
	d.offloadEnded()
	d.cnt.ARPUnresolved += uint64(d.lanARP.expire(now) + d.wanARP.expire(now))
	d.tickIPv6(now)
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
	d.offloadEnded()
	d.flush()
}

// SetWAN installs the WAN address and gateway (from DHCP or static
// configuration); an invalid prefix removes them. Sessions bound to the
// old address are flushed; the count is returned.
func (d *Dataplane) SetWAN(addr netip.Prefix, gw netip.Addr) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.offloadEnded()
	if !addr.IsValid() {
		d.wanIP, d.wanMask, d.gw = 0, 0, 0
		return d.e.SetExternal(netip.Addr{})
	}
	d.wanIP = packet.AddrTo4(addr.Addr())
	d.wanMask = ^uint32(0) << (32 - addr.Bits())
	d.gw = packet.AddrTo4(gw)
	n := d.e.SetExternal(addr.Addr())
	if e, ok := d.wanARP.entries[d.gw]; d.gw != 0 && !(ok && e.static) {
		d.lastGWQuery = d.cfg.Clock()
		d.arpRequest(PortWAN, d.gw)
		d.flush()
	}
	return n
}

// SetWANPeer makes mac the WAN's next hop for gw for good, with no ARP:
// on a point-to-point line (PPPoE) the gateway is the peer at the other
// end and nothing on the WAN answers ARP. A previous peer is forgotten;
// an invalid gw only forgets.
func (d *Dataplane) SetWANPeer(gw netip.Addr, mac net.HardwareAddr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ip, e := range d.wanARP.entries {
		if e.static {
			delete(d.wanARP.entries, ip)
		}
	}
	if !gw.Is4() || len(mac) != 6 {
		return
	}
	ip := packet.AddrTo4(gw)
	d.wanARP.entries[ip] = arpEntry{mac: [6]byte(mac), static: true}
	// Packets that waited for the peer go now.
	if q := d.wanARP.pending[ip]; q != nil {
		delete(d.wanARP.pending, ip)
		d.wanARP.nPend -= len(q.frames)
		for _, f := range q.frames {
			d.wanARP.nBytes -= len(f.Data)
			copy(packet.Ethernet(f.Data).Dst(), mac)
			d.q.out[PortWAN] = append(d.q.out[PortWAN], f)
		}
		d.flush()
	}
}

// SendWAN transmits a complete Ethernet frame on the WAN port (the DHCP
// client's messages).
func (d *Dataplane) SendWAN(frame []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.links[PortWAN].WriteBatch(link.Plain(frame))
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

// Ports returns every port's link counters, summed over the port's links.
func (d *Dataplane) Ports() []PortStats {
	var out []PortStats
	for p, ms := range d.members {
		if len(ms) == 0 {
			continue
		}
		ps := PortStats{Name: portNames[p] + " (" + ms[0].Name() + ")", Device: ms[0].Name(), Readers: len(ms), Kernel: d.kernelStats(p)}
		for _, l := range ms {
			s := l.Stats()
			ps.RxPackets += s.RxPackets
			ps.RxBytes += s.RxBytes
			ps.RxDropped += s.RxDropped
			ps.TxPackets += s.TxPackets
			ps.TxBytes += s.TxBytes
			ps.TxDropped += s.TxDropped
		}
		out = append(out, ps)
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

// Lease tells the source guard that the LAN DHCP server leased ip to mac.
func (d *Dataplane) Lease(ip netip.Addr, mac net.HardwareAddr) {
	if d.cfg.Guard == nil || !ip.Is4() || len(mac) != 6 {
		return
	}
	d.mu.Lock()
	d.cfg.Guard.Lease(packet.AddrTo4(ip), [6]byte(mac), d.cfg.Clock())
	d.mu.Unlock()
}

// Do6 runs fn with the IPv6 engines (firewall, neighbour discovery, the
// advertiser) while no packet is being processed, and sends what fn
// appends to the ports' queues: routerd's control plane changes
// addresses, prefixes and configuration through it. now is the data
// plane's clock. It returns false, without calling fn, when IPv6 is off.
func (d *Dataplane) Do6(fn func(v *IPv6Config, now time.Duration, out *Out6)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.v6 == nil {
		return false
	}
	var o Out6
	now := d.cfg.Clock()
	fn(d.v6, now, &o)
	d.enqueueAll(PortLAN, o.LAN)
	d.enqueueAll(PortWAN, o.WAN)
	d.flush()
	return true
}

// Out6 collects frames a Do6 callback wants sent.
type Out6 struct{ LAN, WAN [][]byte }

// SetIPv6Route installs the WAN side's IPv6 routing (default router and
// on-link prefixes). A changed default router's neighbour entry is kept:
// the cache ages it out.
func (d *Dataplane) SetIPv6Route(r IPv6Route) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r.OnLink = append([]netip.Prefix(nil), r.OnLink...)
	d.wan6 = r
}

// IPv6Route returns the WAN side's IPv6 routing.
func (d *Dataplane) IPv6Route() IPv6Route {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.wan6
	r.OnLink = append([]netip.Prefix(nil), r.OnLink...)
	return r
}

// DoDevices runs fn with the LAN device table (Config.Devices) under the
// data plane's lock: to read it or change its filter. It does nothing
// when there is no table.
func (d *Dataplane) DoDevices(fn func(t *landev.Table, now time.Duration)) {
	if d.cfg.Devices == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.cfg.Devices, d.cfg.Clock())
	d.offloadBlocked()
}

// SetSelfFilter installs f (nil: none) for packets to the router itself.
func (d *Dataplane) SetSelfFilter(f SelfFilter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.self = f
}
