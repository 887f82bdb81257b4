package dataplane

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/srcguard"
	"github.com/passgate/passgate/pkg/tcfast"
)

// Flow offload: established IPv4 TCP and UDP session directions forwarded
// by the kernel (pkg/tcfast) instead of this loop, as docs/architecture.md
// ("Flow offload to the kernel") lays out. The data plane
//
//   - installs a direction when the engine offers it (nat.OffloadCandidate:
//     the fast path forwarded its packet, and enough of them), with the
//     rewrite the engine applied, the egress port's MAC and MTU, the next
//     hop's MAC from ARP, and the MAC the frames came from, so that another
//     device's frames with the same addresses still come here, to the
//     source guard and the MAC filter;
//   - installs nothing while a capture runs on the LAN or WAN port or a
//     shaper is set (both need every frame), and takes everything out of
//     the kernel when one starts;
//   - folds the kernel's counters and last-seen times into the engine's
//     sessions, the device table and the source guard every FoldEvery, and
//     checks then that each direction's next hop and route still hold;
//   - removes a session's directions when the engine ends them
//     (nat.OffloadEnded: the session is gone or left the established
//     state), after every batch, tick and control call.
//
// All of it runs under d.mu, like the engine: the map operations are
// system calls of a microsecond or two, made once per long flow.

// Offloader is the kernel's flow table as the data plane uses it:
// *tcfast.FastPath, with the ports attached and its socket filter on every
// link of the LAN and WAN ports.
type Offloader interface {
	Put(tcfast.Key, tcfast.Entry) error
	Delete(tcfast.Key) error
	Flows(fn func(tcfast.Key, tcfast.Entry, tcfast.Stats) bool) error
	Read(tcfast.Key) (tcfast.Stats, error)
	// Now is the kernel's clock of Stats.LastSeen (CLOCK_MONOTONIC).
	Now() (time.Duration, error)
}

// OffloadConfig turns flow offload on.
type OffloadConfig struct {
	Kernel     Offloader
	LANIfindex int // the LAN port's interface index, as the kernel keys frames
	WANIfindex int
	// FoldEvery is how often the kernel's figures are folded in; default
	// one second (the engine's session clock counts seconds).
	FoldEvery time.Duration
}

// offload is the data plane's record of what it installed.
type offload struct {
	k       Offloader
	ifindex [numPorts]uint32
	every   time.Duration
	last    time.Duration // the last fold
	flows   map[nat.FlowID]*offFlow
	byKey   map[tcfast.Key]offRef
	errLog  bool // a Put failure was logged
	// ports is what the kernel forwarded through the LAN and WAN ports
	// for offloaded flows, as folded (Ports reports it beside the links'
	// own counters, without d.mu).
	ports [2]struct{ rxPackets, rxBytes, txPackets, txBytes atomic.Uint64 }
}

type offRef struct {
	id  nat.FlowID
	dir nat.Dir
}

// offFlow is a session's installed directions, indexed by nat.Dir.
type offFlow [2]offDir

type offDir struct {
	on    bool
	key   tcfast.Key
	entry tcfast.Entry
	hop   uint32       // the next hop the entry's DstMAC belongs to
	seen  tcfast.Stats // the kernel's counters folded so far
}

func newOffload(c *OffloadConfig) (*offload, error) {
	if c.Kernel == nil || c.LANIfindex <= 0 || c.WANIfindex <= 0 {
		return nil, errors.New("dataplane: flow offload needs the kernel's flow table and both ports' interface indexes")
	}
	o := &offload{k: c.Kernel, every: c.FoldEvery, flows: make(map[nat.FlowID]*offFlow), byKey: make(map[tcfast.Key]offRef)}
	if o.every <= 0 {
		o.every = time.Second
	}
	o.ifindex[PortLAN], o.ifindex[PortWAN] = uint32(c.LANIfindex), uint32(c.WANIfindex)
	return o, nil
}

// be4 is an IPv4 address (host byte order, as pkg/packet reads it) in
// network byte order, as tcfast takes it.
func be4(a uint32) (b [4]byte) {
	binary.BigEndian.PutUint32(b[:], a)
	return b
}

// offloadPaused reports whether a feature needs every frame: a capture on
// the LAN or WAN port, or a shaper.
func (d *Dataplane) offloadPaused() bool {
	return d.caps[PortLAN] != nil || d.caps[PortWAN] != nil || d.shaped[PortLAN] != nil || d.shaped[PortWAN] != nil
}

// offer installs the direction the engine's last Translate offers, if it
// offers one. f is the frame as it arrived on port from (its Ethernet
// header not yet rewritten).
func (d *Dataplane) offer(from int, f []byte) {
	c, ok := d.e.OffloadCandidate()
	if !ok || d.offloadPaused() {
		return
	}
	o := d.off
	now := d.cfg.Clock()
	id := c.ID
	fromMAC := [6]byte(packet.Ethernet(f).Src())
	var dd offDir
	cfg := d.e.Config()
	switch {
	case c.Dir == nat.Outbound && from == PortLAN:
		hop, routed := d.wanHop(id.RemIP)
		mac, ok := d.wanARP.lookup(hop, now)
		if !routed || hop == 0 || !ok {
			return
		}
		dd = offDir{hop: hop,
			key: tcfast.Key{Ifindex: o.ifindex[PortLAN], Proto: id.Proto, Src: be4(id.IntIP), Dst: be4(id.RemIP), SrcPort: id.IntPort, DstPort: id.RemPort},
			entry: tcfast.Entry{Rewrite: tcfast.RewriteSource, Addr: be4(c.ExtIP), Port: c.ExtPort, Egress: o.ifindex[PortWAN],
				MTU: uint16(min(cfg.WANMTU, d.links[PortWAN].MTU())), DstMAC: mac, SrcMAC: d.wanMAC, FromMAC: fromMAC}}
	case c.Dir == nat.Inbound && from == PortWAN:
		mac, ok := d.lanARP.lookup(id.IntIP, now)
		if id.IntIP == d.lanIP || !ok {
			return
		}
		dd = offDir{hop: id.IntIP,
			key: tcfast.Key{Ifindex: o.ifindex[PortWAN], Proto: id.Proto, Src: be4(id.RemIP), Dst: be4(c.ExtIP), SrcPort: id.RemPort, DstPort: c.ExtPort},
			entry: tcfast.Entry{Rewrite: tcfast.RewriteDestination, Addr: be4(id.IntIP), Port: id.IntPort, Egress: o.ifindex[PortLAN],
				MTU: uint16(min(cfg.LANMTU, d.links[PortLAN].MTU())), DstMAC: mac, SrcMAC: d.lanMAC, FromMAC: fromMAC}}
	default:
		return
	}
	if err := o.k.Put(dd.key, dd.entry); err != nil {
		d.cnt.OffloadFailed++
		if !o.errLog {
			o.errLog = true
			d.cfg.Logf("dataplane: flow offload: %v (counted from now on, not logged again)", err)
		}
		return
	}
	if !d.e.MarkOffloaded(id, c.Dir) {
		// Cannot happen right after the offer; never leave an entry the
		// engine does not know of.
		d.deleteKernel(dd.key)
		return
	}
	fl := o.flows[id]
	if fl == nil {
		fl = new(offFlow)
		o.flows[id] = fl
	}
	dd.on = true
	fl[c.Dir] = dd
	o.byKey[dd.key] = offRef{id: id, dir: c.Dir}
	d.cnt.OffloadInstalled++
}

// deleteKernel removes a kernel entry; one already gone is no error.
func (d *Dataplane) deleteKernel(k tcfast.Key) {
	if err := d.off.k.Delete(k); err != nil && !errors.Is(err, tcfast.ErrNotFound) {
		d.cnt.OffloadFailed++
		d.cfg.Logf("dataplane: flow offload: %v", err)
	}
}

// forget takes session id's directions out of the kernel and the record.
func (d *Dataplane) forget(id nat.FlowID, out, in bool) {
	o := d.off
	fl := o.flows[id]
	if fl == nil {
		return
	}
	for dir, want := range [2]bool{out, in} {
		if dd := &fl[dir]; want && dd.on {
			// What the kernel forwarded since the last fold: a short
			// transfer may begin and end between two folds.
			if st, err := o.k.Read(dd.key); err == nil && st.Packets > dd.seen.Packets {
				pk, by := st.Packets-dd.seen.Packets, st.Bytes-dd.seen.Bytes
				d.countOffloaded(nat.Dir(dir), pk, by)
				d.e.FoldEnded(id, nat.Dir(dir), pk, by)
			}
			d.deleteKernel(dd.key)
			delete(o.byKey, dd.key)
			*dd = offDir{}
			d.cnt.OffloadRemoved++
		}
	}
	if !fl[0].on && !fl[1].on {
		delete(o.flows, id)
	}
}

// offloadEnded removes what the engine says has ended; d.mu is held.
func (d *Dataplane) offloadEnded() {
	if d.off == nil {
		return
	}
	for _, end := range d.e.OffloadEnded() {
		d.forget(end.ID, end.Out, end.In)
	}
}

// withdraw takes a session out of the kernel on the data plane's own
// initiative; the engine may offer it again.
func (d *Dataplane) withdraw(id nat.FlowID) {
	d.forget(id, true, true)
	d.e.Unoffload(id)
}

// offloadFlush takes every session out of the kernel; d.mu is held.
func (d *Dataplane) offloadFlush() {
	if d.off == nil {
		return
	}
	for id := range d.off.flows {
		d.withdraw(id)
	}
}

// offloadBlocked takes out the sessions of LAN devices the MAC filter
// now blocks; d.mu is held.
func (d *Dataplane) offloadBlocked() {
	if d.off == nil || d.cfg.Devices == nil {
		return
	}
	for id, fl := range d.off.flows {
		if dd := fl[nat.Outbound]; dd.on && d.cfg.Devices.Blocks(dd.entry.FromMAC) {
			d.withdraw(id)
		}
	}
}

// fold reads the kernel's counters and folds what is new into the
// engine, the device table and the source guard, and withdraws the
// directions that no longer hold: the session is gone, the device is
// blocked or the guard refuses it its address, or the next hop's MAC or
// the route changed (or its ARP entry aged out: the flow comes back here,
// which asks again; traffic the kernel forwarded confirms its sender's
// entry, so only idle flows' entries age). d.mu is held.
func (d *Dataplane) fold(now time.Duration) {
	o := d.off
	if o == nil || now-o.last < o.every {
		return
	}
	o.last = now
	kNow, err := o.k.Now()
	if err != nil {
		d.cfg.Logf("dataplane: flow offload: %v", err)
		return
	}
	var doomed []nat.FlowID
	var strays []tcfast.Key
	err = o.k.Flows(func(k tcfast.Key, _ tcfast.Entry, st tcfast.Stats) bool {
		ref, ok := o.byKey[k]
		if !ok {
			strays = append(strays, k)
			return true
		}
		dd := &o.flows[ref.id][ref.dir]
		pk, by := st.Packets-dd.seen.Packets, st.Bytes-dd.seen.Bytes
		if st.Packets < dd.seen.Packets {
			pk, by = st.Packets, st.Bytes // cannot happen: a Put restarts the counters only with a new record
		}
		dd.seen = st
		if pk == 0 {
			return true
		}
		last := now - (kNow - st.LastSeen)
		d.countOffloaded(ref.dir, pk, by)
		if !d.e.FoldOffloaded(ref.id, ref.dir, last, pk, by) {
			doomed = append(doomed, ref.id)
			return true
		}
		// The sender's ARP entry is confirmed by its frames: without
		// that, every entry would age out under offloaded traffic and
		// take its flows back from the kernel every five minutes.
		if ref.dir == nat.Outbound {
			d.lanARP.confirm(ref.id.IntIP, dd.entry.FromMAC, last)
		} else if hop, ok := d.wanHop(ref.id.RemIP); ok {
			d.wanARP.confirm(hop, dd.entry.FromMAC, last)
		}
		if ref.dir == nat.Outbound {
			mac := dd.entry.FromMAC
			if d.cfg.Devices != nil && !d.cfg.Devices.See(mac, last) {
				doomed = append(doomed, ref.id)
			} else if d.cfg.Guard != nil && d.cfg.Guard.Check(ref.id.IntIP, mac, last) != srcguard.Allow {
				doomed = append(doomed, ref.id)
			}
		}
		return true
	})
	if err != nil {
		d.cnt.OffloadFailed++
		d.cfg.Logf("dataplane: flow offload: %v", err)
	}
	for _, k := range strays {
		d.deleteKernel(k)
	}
	for id, fl := range o.flows {
		for dir := range fl {
			if dd := fl[dir]; dd.on && !d.offloadRouteHolds(nat.Dir(dir), id, dd, now) {
				doomed = append(doomed, id)
			}
		}
	}
	for _, id := range doomed {
		d.withdraw(id)
	}
}

// offloadRouteHolds reports whether an installed direction still goes
// where routing and ARP would send it now.
func (d *Dataplane) offloadRouteHolds(dir nat.Dir, id nat.FlowID, dd offDir, now time.Duration) bool {
	t, hop := d.lanARP, id.IntIP
	if dir == nat.Outbound {
		var ok bool
		if hop, ok = d.wanHop(id.RemIP); !ok {
			return false
		}
		t = d.wanARP
	}
	mac, ok := t.lookup(hop, now)
	return ok && hop == dd.hop && mac == dd.entry.DstMAC
}

// countOffloaded counts what the kernel forwarded in direction dir: in
// the totals and on the ports it came in and went out of (outbound: in
// on the LAN, out on the WAN). d.mu is held.
func (d *Dataplane) countOffloaded(dir nat.Dir, packets, bytes uint64) {
	d.cnt.OffloadPackets += packets
	d.cnt.OffloadBytes += bytes
	in, out := PortLAN, PortWAN
	if dir == nat.Inbound {
		in, out = PortWAN, PortLAN
	}
	p := &d.off.ports
	p[in].rxPackets.Add(packets)
	p[in].rxBytes.Add(bytes)
	p[out].txPackets.Add(packets)
	p[out].txBytes.Add(bytes)
}

// kernelStats is what the kernel forwarded through port for offloaded
// flows (zero without flow offload).
func (d *Dataplane) kernelStats(port int) link.Stats {
	if d.off == nil || port >= len(d.off.ports) {
		return link.Stats{}
	}
	p := &d.off.ports[port]
	return link.Stats{RxPackets: p.rxPackets.Load(), RxBytes: p.rxBytes.Load(), TxPackets: p.txPackets.Load(), TxBytes: p.txBytes.Load()}
}

// FlowOffloadOn reports whether flow offload is on (Config.Offload).
func (d *Dataplane) FlowOffloadOn() bool { return d.off != nil }

// OffloadedFlows is how many session directions the kernel forwards now.
func (d *Dataplane) OffloadedFlows() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.off == nil {
		return 0
	}
	return len(d.off.byKey)
}
