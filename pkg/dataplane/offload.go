package dataplane

import (
	"encoding/binary"
	"time"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Frames with offloads (link.Offload) come from hosts and NICs that leave
// work to the port: a partial checksum (TX checksum offload), or a GSO/GRO
// super-packet standing for a train of TCP segments or UDP datagrams. They
// are forwarded without doing that work here whenever the egress port can
// take them (link.Link.Offloads):
//
//   - A partial checksum stays partial. The engine translates the packet as
//     usual; its incremental checksum updates are then meaningless, and the
//     checksum field is set to what the egress expects of a partial
//     checksum, the pseudo-header sum of the translated addresses. The NAT's
//     other edits (ports, MSS clamp, a helper's payload rewrite) are in the
//     bytes the checksum will be computed over, so they need nothing.
//   - A super-packet is translated once. The engine sees its first segment
//     (the headers with GSOSize bytes of payload, the IP length adjusted):
//     the same session, state, TTL and MTU decisions as for every segment
//     of the train; then the whole super-packet gets the translated headers
//     and goes on as a super-packet. Session byte counters see the first
//     segment only.
//
// Where the egress cannot take them, partial checksums are completed and
// super-packets cut into segments (segment.go) on the way out. Before
// translation, a super-packet is segmented when translating it once would
// be wrong: without DF (the engine might fragment), or when a helper
// rewrites its payload (Config.PayloadHelper). A partial checksum is
// completed before translation when the engine might fragment the packet.

// l4Shape checks that offload o describes the transport checksum of the
// IPv4 packet in frame f: TCP or UDP, checksum at the transport header,
// not a fragment, and for a super-packet the matching GSO type. It returns
// the IP header length, the transport header length and the IP total length.
func l4Shape(f []byte, o link.Offload) (ihl, thl, total int, ok bool) {
	const eth = packet.EthernetHeaderLen
	ip := packet.IPv4(f[eth:])
	if ip.Check() != packet.IPv4OK || ip.IsFragment() {
		return 0, 0, 0, false
	}
	ihl, total = ip.HeaderLen(), ip.TotalLen()
	if int(o.CsumStart) != eth+ihl {
		return 0, 0, 0, false
	}
	switch ip.Protocol() {
	case packet.ProtoTCP:
		if o.CsumOffset != 16 || total < ihl+packet.TCPHeaderLen || (o.GSO != link.GSONone && o.GSO != link.GSOTCPv4) {
			return 0, 0, 0, false
		}
		thl = packet.TCP(ip[ihl:]).DataOffset()
	case packet.ProtoUDP:
		if o.CsumOffset != 6 || (o.GSO != link.GSONone && o.GSO != link.GSOUDPL4) {
			return 0, 0, 0, false
		}
		thl = packet.UDPHeaderLen
	default:
		return 0, 0, 0, false
	}
	if thl < 8 || ihl+thl > total {
		return 0, 0, 0, false
	}
	return ihl, thl, total, true
}

// offloaded handles an IPv4 frame for the router's MAC that arrived on
// port from with an offload.
func (d *Dataplane) offloaded(from int, dir nat.Dir, f link.Frame, now time.Duration) {
	const eth = packet.EthernetHeaderLen
	o := f.Offload
	if !o.Valid(len(f.Data)) {
		d.cnt.OffloadInvalid++
		return
	}
	ihl, thl, total, ok := l4Shape(f.Data, o)
	if o.GSO == link.GSONone {
		ip := packet.IPv4(f.Data[eth:])
		if !ok || !ip.DF() || total > d.minMTU {
			// A checksum elsewhere (inside a tunnel), or a packet the
			// engine may fragment: finish the checksum first.
			end := len(f.Data)
			if ip.Check() == packet.IPv4OK {
				end = eth + ip.TotalLen()
			}
			if !fillChecksum(f.Data[:end], o) {
				d.cnt.OffloadInvalid++
				return
			}
			d.cnt.ChecksumsFilled++
			d.route(from, f.Data, d.e.Translate(ip, dir), link.Offload{}, now)
			return
		}
		r := d.e.Translate(ip, dir)
		d.route(from, f.Data, r, d.keepPartial(ip, r, o), now)
		return
	}
	d.cnt.SuperPackets++
	if !ok {
		d.cnt.OffloadInvalid++
		return
	}
	b := f.Data[:eth+total]
	ip := packet.IPv4(b[eth:])
	if total-ihl-thl <= int(o.GSOSize) {
		// Not more than one segment after all.
		o.GSO, o.GSOSize, o.ECN = link.GSONone, 0, false
		d.offloaded(from, dir, link.Frame{Data: b, Len: len(b), Offload: o}, now)
		return
	}
	ports := packet.Ports(ip[ihl:])
	if !ip.DF() || (d.cfg.PayloadHelper != nil && d.cfg.PayloadHelper(ip.Protocol(), ports.Src(), ports.Dst())) {
		d.cnt.SuperSegmented++
		segment(b, o, d.alloc, func(seg []byte) {
			d.route(from, seg, d.e.Translate(seg[eth:], dir), link.Offload{}, now)
		})
		return
	}
	// Translate the first segment's view.
	view := ip[:ihl+thl+int(o.GSOSize)]
	setLengths(view, ihl, len(view))
	r := d.e.Translate(view, dir)
	setLengths(ip, ihl, total)
	switch {
	case r.Verdict == nat.Local:
		d.route(from, b, nat.Result{Verdict: nat.Local, Packet: ip}, o, now)
	case (r.Verdict == nat.Forward || r.Verdict == nat.Hairpin) && sameStart(r.Packet, ip) && len(r.Packet) == len(view) && len(d.e.More()) == 0:
		setPartial(ip, ihl)
		d.route(from, b, nat.Result{Verdict: r.Verdict, Packet: ip}, o, now)
	case r.Verdict == nat.Forward || r.Verdict == nat.Hairpin:
		d.cnt.OffloadInvalid++ // the engine did not forward the view as it is: cannot happen with DF
	default:
		d.route(from, b, r, link.Offload{}, now) // dropped, or answered (an ICMP error about the first segment)
	}
}

// keepPartial returns the offload a translated packet with a partial
// checksum keeps: the same where the engine forwarded it in place, its
// checksum field reset to the new pseudo-header sum; none where the engine
// answered instead (the answer is its own packet).
func (d *Dataplane) keepPartial(ip packet.IPv4, r nat.Result, o link.Offload) link.Offload {
	switch {
	case r.Verdict == nat.Local:
		return o // untouched: the router's own stack gets it completed
	case (r.Verdict == nat.Forward || r.Verdict == nat.Hairpin) && sameStart(r.Packet, ip) && len(d.e.More()) == 0:
		setPartial(packet.IPv4(r.Packet), ip.HeaderLen())
		return o
	case r.Verdict == nat.Forward || r.Verdict == nat.Hairpin:
		d.cnt.OffloadInvalid++
	}
	return link.Offload{}
}

// sameStart reports whether p starts where ip does.
func sameStart(p, ip []byte) bool { return len(p) > 0 && len(ip) > 0 && &p[0] == &ip[0] }

// setLengths sets the IP total length of ip (and the UDP length) to n and
// recomputes the header checksum.
func setLengths(ip packet.IPv4, ihl, n int) {
	ip.SetTotalLen(n)
	if ip.Protocol() == packet.ProtoUDP {
		binary.BigEndian.PutUint16(ip[ihl+4:], uint16(n-ihl))
	}
	ip.UpdateHeaderChecksum()
}

// setPartial stores the pseudo-header sum of ip's addresses and length in
// its TCP or UDP checksum field, not complemented: a partial checksum as
// Linux leaves it for the device (and as its GSO expects it, over the whole
// super-packet).
func setPartial(ip packet.IPv4, ihl int) {
	at := ihl + 16
	if ip.Protocol() == packet.ProtoUDP {
		at = ihl + 6
	}
	sum := packet.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), len(ip)-ihl)
	binary.BigEndian.PutUint16(ip[at:], ^packet.Fold(sum))
}

// fillChecksum completes a partial checksum in frame f: the Internet
// checksum of f[CsumStart:] (whose checksum field holds the pseudo-header
// sum) goes into the field. A zero result is sent as 0xffff, which means
// the same for TCP and is what UDP requires. It reports false when the
// offsets do not fit the frame.
func fillChecksum(f []byte, o link.Offload) bool {
	start, at := int(o.CsumStart), int(o.CsumStart)+int(o.CsumOffset)
	if !o.NeedsCsum || o.GSO != link.GSONone || start < packet.EthernetHeaderLen || at+2 > len(f) {
		return false
	}
	c := packet.Fold(packet.Sum(f[start:], 0))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(f[at:], c)
	return true
}

// enqueue queues frame b for port. An offload the port cannot take is
// done here: the checksum completed, a super-packet cut into segments.
func (d *Dataplane) enqueue(port int, b []byte, o link.Offload) {
	sp := d.shaped[port]
	if !o.IsZero() && (!d.offloads[port] || sp != nil) {
		if o.GSO != link.GSONone {
			d.cnt.SuperSegmented++
			segment(b, o, d.alloc, func(seg []byte) {
				if sp != nil {
					d.shape(sp, seg)
					return
				}
				d.q.out[port] = append(d.q.out[port], link.Frame{Data: seg, Len: len(seg)})
			})
			return
		}
		if !fillChecksum(b, o) {
			d.cnt.OffloadInvalid++
			return
		}
		d.cnt.ChecksumsFilled++
		o = link.Offload{}
	}
	if sp != nil {
		d.shape(sp, b)
		return
	}
	d.q.out[port] = append(d.q.out[port], link.Frame{Data: b, Len: len(b), Offload: o})
}

// l4Shape6 checks that offload o describes the transport checksum of the
// IPv6 packet in frame f: TCP or UDP right after the IPv6 header (no
// extension headers), the checksum at the transport header, and for a
// super-packet the matching GSO type. It returns the transport header
// length and the packet's length (header included).
func l4Shape6(f []byte, o link.Offload) (thl, total int, ok bool) {
	const eth, hl = packet.EthernetHeaderLen, packet.IPv6HeaderLen
	ip := packet.IPv6(f[eth:])
	if len(ip) < hl || ip.Version() != 6 || int(o.CsumStart) != eth+hl {
		return 0, 0, false
	}
	total = hl + ip.PayloadLen()
	if total > len(ip) {
		return 0, 0, false
	}
	switch ip.NextHeader() {
	case packet.ProtoTCP:
		if o.CsumOffset != 16 || total < hl+packet.TCPHeaderLen || (o.GSO != link.GSONone && o.GSO != link.GSOTCPv6) {
			return 0, 0, false
		}
		thl = packet.TCP(ip[hl:]).DataOffset()
	case packet.ProtoUDP:
		if o.CsumOffset != 6 || (o.GSO != link.GSONone && o.GSO != link.GSOUDPL4) {
			return 0, 0, false
		}
		thl = packet.UDPHeaderLen
	default:
		return 0, 0, false
	}
	if thl < 8 || hl+thl > total {
		return 0, 0, false
	}
	return thl, total, true
}

// offloaded6 handles an IPv6 frame for the router that arrived on port
// from with an offload. The firewall translates nothing, so a partial
// checksum stays valid except where it clamps an MSS (an incremental
// update of the field): the field is reset to the pseudo-header sum after
// it. A super-packet is judged on a view of its first segment, as on IPv4.
func (d *Dataplane) offloaded6(from int, dir fw6.Dir, fr link.Frame, now time.Duration) {
	const eth, hl = packet.EthernetHeaderLen, packet.IPv6HeaderLen
	f, o := fr.Data, fr.Offload
	if !o.Valid(len(f)) {
		d.cnt.OffloadInvalid++
		return
	}
	thl, total, ok := l4Shape6(f, o)
	ip := packet.IPv6(f[eth:])
	if o.GSO == link.GSONone {
		if !ok {
			if !fillChecksum(f, o) {
				d.cnt.OffloadInvalid++
				return
			}
			d.cnt.ChecksumsFilled++
			d.route6(from, f, d.v6.Engine.Process(ip, dir), link.Offload{}, now)
			return
		}
		r := d.v6.Engine.Process(ip, dir)
		d.route6(from, f, r, d.keepPartial6(ip, r, o), now)
		return
	}
	d.cnt.SuperPackets++
	if !ok {
		d.cnt.OffloadInvalid++
		return
	}
	b := f[:eth+total]
	ip = ip[:total]
	if total-hl-thl <= int(o.GSOSize) {
		o.GSO, o.GSOSize, o.ECN = link.GSONone, 0, false
		d.offloaded6(from, dir, link.Frame{Data: b, Len: len(b), Offload: o}, now)
		return
	}
	view := ip[:hl+thl+int(o.GSOSize)]
	setLengths6(view, len(view))
	r := d.v6.Engine.Process(view, dir)
	setLengths6(ip, total)
	switch {
	case r.Verdict == fw6.ToSelf:
		d.route6(from, b, fw6.Result{Verdict: fw6.ToSelf, Packet: ip}, o, now)
	case r.Verdict == fw6.Forward && sameStart(r.Packet, ip) && len(r.Packet) == len(view):
		setPartial6(ip)
		d.route6(from, b, fw6.Result{Verdict: fw6.Forward, Packet: ip}, o, now)
	case r.Verdict == fw6.Forward:
		d.cnt.OffloadInvalid++
	default:
		d.route6(from, b, r, link.Offload{}, now) // dropped, or answered about the first segment
	}
}

// keepPartial6 returns the offload a packet with a partial checksum keeps
// after the firewall: the same where it is forwarded in place (the field
// reset to the pseudo-header sum) or handed to self0, none where the
// firewall answered instead.
func (d *Dataplane) keepPartial6(ip packet.IPv6, r fw6.Result, o link.Offload) link.Offload {
	switch {
	case r.Verdict == fw6.ToSelf:
		return o
	case r.Verdict == fw6.Forward && sameStart(r.Packet, ip):
		setPartial6(packet.IPv6(r.Packet))
		return o
	case r.Verdict == fw6.Forward:
		d.cnt.OffloadInvalid++
	}
	return link.Offload{}
}

// setLengths6 sets the payload length of ip (TCP or UDP without extension
// headers) to n-40, and the UDP length.
func setLengths6(ip packet.IPv6, n int) {
	binary.BigEndian.PutUint16(ip[4:], uint16(n-packet.IPv6HeaderLen))
	if ip.NextHeader() == packet.ProtoUDP {
		binary.BigEndian.PutUint16(ip[packet.IPv6HeaderLen+4:], uint16(n-packet.IPv6HeaderLen))
	}
}

// setPartial6 is setPartial for IPv6.
func setPartial6(ip packet.IPv6) {
	at := packet.IPv6HeaderLen + 16
	if ip.NextHeader() == packet.ProtoUDP {
		at = packet.IPv6HeaderLen + 6
	}
	sum := packet.PseudoHeaderSum6(ip.Src(), ip.Dst(), ip.NextHeader(), len(ip)-packet.IPv6HeaderLen)
	binary.BigEndian.PutUint16(ip[at:], ^packet.Fold(sum))
}
