package dataplane

import (
	"errors"
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// route sends the engine's result for a frame that arrived on port from.
// o is the offload the translated packet carries (zero for a plain one);
// it applies to r.Packet only, which must then still sit in f. r is the
// result of the engine's last Translate (or stands for it): the engine's
// More are its further packets.
func (d *Dataplane) route(from int, f []byte, r nat.Result, o link.Offload, now time.Duration) {
	switch r.Verdict {
	case nat.Local:
		if d.self != nil && from != PortSelf && !d.selfAllowed(from, f, r.Packet) {
			return
		}
		d.cnt.ToSelf++
		if d.links[PortSelf] != nil {
			d.enqueue(PortSelf, f[:packet.EthernetHeaderLen+len(r.Packet)], o)
		}
		return
	case nat.Drop, nat.Held:
		return
	}
	more := d.e.More()
	if d.off != nil && r.Verdict == nat.Forward && len(more) == 0 {
		d.offer(from, f)
	}
	for i := -1; i < len(more); i++ {
		p, po := r.Packet, o
		if i >= 0 {
			p, po = more[i], link.Offload{}
		}
		switch {
		case r.Verdict == nat.Reply:
			d.reply(from, f, p)
		case r.Verdict == nat.Hairpin || (r.Verdict == nat.Forward && from == PortWAN):
			d.toLAN(p, f, po, now)
		default:
			d.toWAN(p, f, po, now)
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
	q := d.q
	if q.arenaPos+n > len(q.arena) {
		d.flush()
	}
	b := q.arena[q.arenaPos : q.arenaPos+n]
	q.arenaPos += n
	return b
}

// setEth writes the Ethernet header of an IPv4 frame.
func setEth(b []byte, dst, src [6]byte) {
	packet.Ethernet(b).PutHeader(dst, src, packet.EtherTypeIPv4)
}

// wanHop is the WAN neighbour traffic to and from remote passes: remote
// itself on the WAN's subnet, else the gateway (0 when there is none;
// false: no WAN address).
func (d *Dataplane) wanHop(remote uint32) (uint32, bool) {
	if d.wanIP == 0 {
		return 0, false
	}
	if remote&d.wanMask != d.wanIP&d.wanMask {
		return d.gw, true
	}
	return remote, true
}

func (d *Dataplane) toWAN(p, in []byte, o link.Offload, now time.Duration) {
	if d.wanIP == 0 || len(p) < packet.IPv4HeaderLen {
		d.cnt.NoWANRoute++
		return
	}
	hop, _ := d.wanHop(packet.IPv4(p).Dst())
	if hop == 0 {
		d.cnt.NoWANRoute++
		return
	}
	b := d.frameFor(p, in)
	d.send(PortWAN, d.wanARP, hop, b, o, d.wanMAC, now)
}

func (d *Dataplane) toLAN(p, in []byte, o link.Offload, now time.Duration) {
	if len(p) < packet.IPv4HeaderLen {
		return
	}
	b := d.frameFor(p, in)
	dst := packet.IPv4(p).Dst()
	if dst == d.lanIP { // a reply to the router's own traffic
		d.cnt.ToSelf++
		if d.links[PortSelf] != nil {
			setEth(b, d.lanMAC, d.nhMAC)
			d.enqueue(PortSelf, b, o)
		}
		return
	}
	d.send(PortLAN, d.lanARP, dst, b, o, d.lanMAC, now)
}

// send resolves hop with ARP and queues b (header rewritten) for port.
func (d *Dataplane) send(port int, t *arpTable, hop uint32, b []byte, o link.Offload, src [6]byte, now time.Duration) {
	if mac, ok := t.lookup(hop, now); ok {
		setEth(b, mac, src)
		d.enqueue(port, b, o)
		return
	}
	setEth(b, [6]byte{}, src)
	query, queued := t.queue(hop, b, o, now)
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
	srcMAC := [6]byte(packet.Ethernet(in).Src())
	switch from {
	case PortLAN:
		setEth(b, srcMAC, d.lanMAC)
	case PortWAN:
		setEth(b, srcMAC, d.wanMAC)
	case PortSelf:
		setEth(b, d.lanMAC, d.nhMAC)
	}
	d.enqueue(from, b, link.Offload{})
}

// txq holds frames on their way out, per port, the links that send them
// and the arena for the ones that are not in an input frame any more.
type txq struct {
	out      [numPorts][]link.Frame
	via      [numPorts]link.Link
	arena    []byte
	arenaPos int
}

// newTxq returns the queue of reader i of a port: it sends on member i of
// each port (modulo their number), so readers do not share a transmit
// ring where there are enough.
func (d *Dataplane) newTxq(i int) txq {
	q := txq{arena: make([]byte, 256<<10)}
	for p, ms := range d.members {
		if len(ms) > 0 {
			q.via[p] = ms[i%len(ms)]
		}
	}
	return q
}

// flush writes every port's frames queued in d.q and resets its arena;
// d.mu is held.
func (d *Dataplane) flush() {
	d.tapQueued(d.q)
	d.write(d.q)
}

// tapQueued shows the capture sessions the frames queued in q; d.mu is
// held (the sessions are the data plane's).
func (d *Dataplane) tapQueued(q *txq) {
	for p := range q.out {
		if d.caps[p] == nil {
			continue
		}
		for _, f := range q.out[p] {
			if d.caps[p] != nil {
				d.tap(p, f.Data)
			}
		}
	}
}

// write hands q's frames to its links and resets q. It needs d.mu only
// when q is shared (ctlq): a link's WriteBatch is safe to call from
// several goroutines, and q.via is set once.
func (d *Dataplane) write(q *txq) {
	for p := range q.out {
		if len(q.out[p]) == 0 {
			continue
		}
		if l := q.via[p]; l != nil {
			if _, err := l.WriteBatch(q.out[p]); err != nil && !errors.Is(err, link.ErrClosed) {
				d.cfg.Logf("dataplane: %s: write: %v", l.Name(), err)
			}
		}
		clear(q.out[p])
		q.out[p] = q.out[p][:0]
	}
	q.arenaPos = 0
}

// selfAllowed asks the firewall's rules about a packet to the router
// itself; a rejected one from the LAN gets a TCP reset back, or for
// another protocol an ICMP "administratively prohibited" (one from the
// WAN is dropped).
func (d *Dataplane) selfAllowed(from int, f, p []byte) bool {
	switch d.self.DecideSelf(packet.IPv4(p), from == PortWAN, [6]byte(packet.Ethernet(f).Src())) {
	case nat.FilterAccept:
		return true
	case nat.FilterReject:
		if from == PortLAN {
			if b := packet.PutTCPReset4(d.rejectBuf[:], packet.IPv4(p)); b != nil {
				d.reply(from, f, b)
			} else if b := nat.AdminProhibited(d.rejectBuf[:], packet.IPv4(p), d.lanIP); b != nil {
				d.reply(from, f, b)
			}
		}
	}
	d.cnt.SelfFiltered++
	return false
}
