package dataplane

import (
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/ndp6"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/ra"
)

// IPv6 is forwarded without translation: the fw6 engine decides (hop
// limit, ICMPv6 errors, the RFC 6092 firewall), and next hops are resolved
// with Neighbor Discovery by one ndp6.Node per port, as ARP resolves them
// for IPv4. The router's own IPv6 addresses live on self0 as its IPv4 one
// does; routerd's LAN node answers neighbour solicitations for them and
// hands neighbour advertisements to self0 too (the kernel resolves LAN
// hosts it talks to itself). Router solicitations on the LAN go to the
// advertiser, DHCPv6 client messages to the stateless server; on the WAN,
// router advertisements and DHCPv6 server messages go to routerd's WAN
// host side (SLAAC, the DHCPv6 client).

// IPv6Config wires IPv6 into the data plane. Everything in it is called
// with the data plane's lock held and must not block; routerd changes the
// engines' state through Do6.
type IPv6Config struct {
	Engine   *fw6.Engine
	LAN, WAN *ndp6.Node
	// RA advertises the LAN prefixes; nil sends none (IPv6 off on the LAN).
	RA *ra.Advertiser
	// LANServer answers a DHCPv6 client message that arrived on the LAN
	// (UDP to port 547), appending reply frames to out; nil: no server.
	LANServer func(out [][]byte, frame []byte, now time.Duration) [][]byte
	// WANClient receives DHCPv6 server messages (UDP 547→546) arriving on
	// the WAN port; the frame is only valid during the call.
	WANClient func(frame []byte)
	// WANAdvert receives the router advertisements heard on the WAN, valid
	// by RFC 4861 §6.1.2 (ndp6.Parse).
	WANAdvert func(m ndp6.Message, now time.Duration)
}

// IPv6Route is the WAN side's IPv6 routing: the default router (usually a
// link-local address) and the prefixes on the WAN link. An invalid Gateway
// means no default route.
type IPv6Route struct {
	Gateway netip.Addr
	OnLink  []netip.Prefix
}

// ndType returns the ICMPv6 Neighbor Discovery type (133-137) of an IPv6
// packet without extension headers, or 0. ND with extension headers is not
// accepted (RFC 6980), so this is the whole test.
func ndType(ip []byte) uint8 {
	if len(ip) < packet.IPv6HeaderLen+packet.ICMPv6HeaderLen || ip[6] != packet.ProtoICMPv6 {
		return 0
	}
	if t := ip[packet.IPv6HeaderLen]; t >= ndp6.TypeRouterSolicitation && t <= ndp6.TypeRedirect {
		return t
	}
	return 0
}

// udpPorts returns the ports of an IPv6 UDP datagram without extension
// headers (ok false for anything else).
func udpPorts6(ip []byte) (src, dst uint16, ok bool) {
	if len(ip) < packet.IPv6HeaderLen+packet.UDPHeaderLen || ip[6] != packet.ProtoUDP {
		return 0, 0, false
	}
	u := packet.UDP(ip[packet.IPv6HeaderLen:])
	return u.SrcPort(), u.DstPort(), true
}

// local6 completes a partial checksum of a frame the router consumes
// itself (ND, DHCPv6); false if the offload does not fit the frame.
func (d *Dataplane) local6(fr link.Frame) bool {
	if fr.Offload.IsZero() {
		return true
	}
	if fr.Offload.GSO != link.GSONone || !fillChecksum(fr.Data, fr.Offload) {
		d.cnt.OffloadInvalid++
		return false
	}
	d.cnt.ChecksumsFilled++
	return true
}

// fromLAN6 handles an IPv6 frame from the LAN; h is its packet's Hint
// (fw6.Engine.PrefetchSession), or 0.
func (d *Dataplane) fromLAN6(fr link.Frame, now time.Duration, h fw6.Hint) {
	f := fr.Data
	if d.v6 == nil {
		d.cnt.NonIPv4++
		return
	}
	d.cnt.IPv6In++
	eth := packet.Ethernet(f)
	ip := eth.Payload()
	if len(ip) < packet.IPv6HeaderLen {
		d.cnt.Truncated++
		return
	}
	group := isGroupMAC(eth.Dst())
	if !group && [6]byte(eth.Dst()) != d.lanMAC {
		d.cnt.NotForUs++
		return
	}
	// The firewall's rules may name the device (fw6.Filter).
	d.v6.Engine.SetFrameMAC([6]byte(eth.Src()), true)
	if t := ndType(ip); t != 0 {
		d.ndFromLAN(f, t, now)
		return
	}
	if _, dport, ok := udpPorts6(ip); ok && dport == 547 && (group || ip[24] == 0xfe) {
		// To All_DHCP_Relay_Agents_and_Servers or the router's link-local.
		d.cnt.DHCPv6Server++
		if d.v6.LANServer != nil && d.local6(fr) {
			d.ndOut = d.v6.LANServer(d.ndOut[:0], f, now)
			d.enqueueAll(PortLAN, d.ndOut)
		}
		return
	}
	if ndp6.IsMLDQuery(ip) {
		d.cnt.NDIn++
		d.ndOut = d.v6.LAN.HandleMLD(d.ndOut[:0], f, now)
		d.enqueueAll(PortLAN, d.ndOut)
		return
	}
	if group {
		d.cnt.IPv6LinkMulticast++ // MLD reports, mDNS and the like: not routed (fw6 REC-2)
		return
	}
	d.tick6(now)
	if !fr.Offload.IsZero() {
		d.offloaded6(PortLAN, fw6.FromLAN, fr, now)
		return
	}
	d.route6(PortLAN, f, d.v6.Engine.ProcessHinted(ip, fw6.FromLAN, h), link.Offload{}, now)
}

// fromWAN6 handles an IPv6 frame from the WAN; h is as for fromLAN6.
func (d *Dataplane) fromWAN6(fr link.Frame, now time.Duration, h fw6.Hint) {
	f := fr.Data
	if d.v6 == nil {
		d.cnt.NonIPv4++
		return
	}
	d.cnt.IPv6In++
	eth := packet.Ethernet(f)
	ip := eth.Payload()
	if len(ip) < packet.IPv6HeaderLen {
		d.cnt.Truncated++
		return
	}
	group := isGroupMAC(eth.Dst())
	if !group && [6]byte(eth.Dst()) != d.wanMAC {
		d.cnt.NotForUs++
		return
	}
	if t := ndType(ip); t != 0 {
		d.ndFromWAN(f, t, now)
		return
	}
	if sport, dport, ok := udpPorts6(ip); ok && sport == 547 && dport == 546 {
		d.cnt.DHCPv6Client++
		if d.v6.WANClient != nil && d.local6(fr) {
			d.v6.WANClient(f)
		}
		return
	}
	if ndp6.IsMLDQuery(ip) {
		// The ISP's querier: ndp6 answers with the groups the WAN port
		// listens to, so a snooping switch keeps sending them.
		d.cnt.NDIn++
		d.ndOut = d.v6.WAN.HandleMLD(d.ndOut[:0], f, now)
		d.enqueueAll(PortWAN, d.ndOut)
		return
	}
	if group {
		d.cnt.IPv6LinkMulticast++
		return
	}
	d.tick6(now)
	if !fr.Offload.IsZero() {
		d.offloaded6(PortWAN, fw6.FromWAN, fr, now)
		return
	}
	d.route6(PortWAN, f, d.v6.Engine.ProcessHinted(ip, fw6.FromWAN, h), link.Offload{}, now)
}

// fromSelf6 handles an IPv6 frame the router's own stack sent: to the
// virtual next hop it is routed to the WAN through the firewall; anything
// else (LAN hosts, the kernel's own neighbour discovery, multicast) goes
// out of the LAN port unchanged.
func (d *Dataplane) fromSelf6(f []byte, now time.Duration) {
	if d.v6 == nil {
		d.cnt.NonIPv4++
		return
	}
	eth := packet.Ethernet(f)
	if [6]byte(eth.Dst()) != d.nhMAC {
		ip := eth.Payload()
		if t := ndType(ip); t == ndp6.TypeRouterSolicitation || t == ndp6.TypeRouterAdvertisement || t == ndp6.TypeRedirect {
			return // the LAN's router is routerd (pkg/ra), not the kernel
		}
		d.enqueue(PortLAN, f, link.Offload{})
		return
	}
	ip := eth.Payload()
	if ndType(ip) != 0 {
		return // to the virtual next hop, which has a permanent entry
	}
	d.tick6(now)
	d.route6(PortSelf, f, d.v6.Engine.Process(ip, fw6.FromSelf), link.Offload{}, now)
}

// tick6 gives the firewall the time once per batch (its ICMPv6 error rate
// limit refills from it) and sends the errors it releases.
func (d *Dataplane) tick6(now time.Duration) {
	if now == d.lastTick6 {
		return
	}
	d.lastTick6 = now
	for _, p := range d.v6.Engine.Tick(now) {
		d.toWAN6(PortLAN, p, nil, link.Offload{}, now)
	}
}

// route6 sends the firewall's result for a frame that arrived on port
// from. o is the offload the forwarded packet carries, which must then
// still sit in f.
func (d *Dataplane) route6(from int, f []byte, r fw6.Result, o link.Offload, now time.Duration) {
	switch r.Verdict {
	case fw6.Forward:
		if from == PortWAN {
			d.toLAN6(r.Packet, f, o, now)
		} else {
			d.toWAN6(from, r.Packet, f, o, now)
		}
	case fw6.ToSelf:
		if d.self != nil && from != PortSelf && !d.selfAllowed6(from, f, r.Packet) {
			return
		}
		d.cnt.ToSelf++
		if d.links[PortSelf] == nil {
			return
		}
		b := d.frameFor(r.Packet, f)
		if from != PortLAN {
			setEth6(b, d.lanMAC, d.nhMAC)
		}
		d.enqueue(PortSelf, b, o)
	case fw6.Reply:
		d.reply6(from, f, r.Packet)
	}
}

// reply6 sends an ICMPv6 error the firewall built back where the packet
// it answers came from.
func (d *Dataplane) reply6(from int, in, p []byte) {
	b := d.frameFor(p, in)
	src := [6]byte(packet.Ethernet(in).Src())
	switch from {
	case PortLAN:
		setEth6(b, src, d.lanMAC)
	case PortWAN:
		setEth6(b, src, d.wanMAC)
	case PortSelf:
		setEth6(b, d.lanMAC, d.nhMAC)
	}
	d.enqueue(from, b, link.Offload{})
}

func setEth6(b []byte, dst, src [6]byte) {
	packet.Ethernet(b).PutHeader(dst, src, packet.EtherTypeIPv6)
}

// toWAN6 sends p to its next hop on the WAN: the destination itself when
// it is on the WAN link, else the default router. from is where p came
// from, for the "no route" error.
func (d *Dataplane) toWAN6(from int, p, in []byte, o link.Offload, now time.Duration) {
	if len(p) < packet.IPv6HeaderLen {
		return
	}
	dst := packet.IPv6(p).DstAddr()
	hop := d.wan6.Gateway
	for _, pfx := range d.wan6.OnLink {
		if pfx.Contains(dst) {
			hop = dst
			break
		}
	}
	if !hop.IsValid() {
		d.cnt.NoWANRoute6++
		if from != PortWAN {
			dir := fw6.FromLAN
			if from == PortSelf {
				dir = fw6.FromSelf
			}
			if r := d.v6.Engine.Error(p, dir, packet.ICMPv6DestUnreachable, packet.ICMPv6NoRoute, 0); r.Verdict == fw6.Reply && in != nil {
				d.reply6(from, in, r.Packet)
			}
		}
		return
	}
	d.resolve6(PortWAN, d.v6.WAN, hop, d.frameFor(p, in), o, d.wanMAC, now)
}

// toLAN6 sends p to its destination on the LAN.
func (d *Dataplane) toLAN6(p, in []byte, o link.Offload, now time.Duration) {
	if len(p) < packet.IPv6HeaderLen {
		return
	}
	d.resolve6(PortLAN, d.v6.LAN, packet.IPv6(p).DstAddr(), d.frameFor(p, in), o, d.lanMAC, now)
}

// resolve6 fills in b's Ethernet header for neighbour hop on port and
// queues it, or leaves it with the neighbour cache until hop answers. A
// frame with an offload is finished here first if it would have to wait:
// the cache keeps plain frames only.
func (d *Dataplane) resolve6(port int, n *ndp6.Node, hop netip.Addr, b []byte, o link.Offload, src [6]byte, now time.Duration) {
	setEth6(b, [6]byte{}, src)
	if !o.IsZero() {
		if e, ok := n.Lookup(hop, now); !ok || e.State == ndp6.Incomplete {
			if o.GSO != link.GSONone {
				d.cnt.SuperSegmented++
				segment(b, o, d.alloc, func(seg []byte) { d.resolve6(port, n, hop, seg, link.Offload{}, src, now) })
				return
			}
			if !fillChecksum(b, o) {
				d.cnt.OffloadInvalid++
				return
			}
			d.cnt.ChecksumsFilled++
			o = link.Offload{}
		}
	}
	mac, v, out := n.Resolve(d.ndOut[:0], hop, b, now)
	d.ndOut = out
	d.enqueueAll(port, out)
	switch v {
	case ndp6.Resolved:
		copy(b, mac[:])
		d.enqueue(port, b, o)
	case ndp6.Dropped:
		d.cnt.NDUnresolved++
	}
}

// ndFromLAN gives a Neighbor Discovery message from the LAN to the LAN
// node (and a router solicitation to the advertiser). Neighbour
// advertisements also go to self0, whose kernel resolves the LAN hosts it
// talks to; solicitations do not, as routerd answers for the router's
// addresses.
func (d *Dataplane) ndFromLAN(f []byte, t uint8, now time.Duration) {
	d.cnt.NDIn++
	d.ndOut = d.v6.LAN.Handle(d.ndOut[:0], f, now)
	d.enqueueAll(PortLAN, d.ndOut)
	switch t {
	case ndp6.TypeRouterSolicitation:
		if d.v6.RA != nil {
			d.v6.RA.HandleRS(f, now) // an invalid one is counted there
		}
	case ndp6.TypeNeighborAdvertisement:
		if d.links[PortSelf] != nil {
			d.enqueue(PortSelf, f, link.Offload{})
		}
	case ndp6.TypeRouterAdvertisement:
		d.cnt.LANRouterAdverts++ // another router on the LAN
	}
}

// ndFromWAN gives a Neighbor Discovery message from the WAN to the WAN
// node, and a router advertisement to routerd's WAN host side.
func (d *Dataplane) ndFromWAN(f []byte, t uint8, now time.Duration) {
	d.cnt.NDIn++
	d.ndOut = d.v6.WAN.Handle(d.ndOut[:0], f, now)
	d.enqueueAll(PortWAN, d.ndOut)
	if t == ndp6.TypeRouterAdvertisement && d.v6.WANAdvert != nil {
		if m, err := ndp6.Parse(f); err == nil {
			d.v6.WANAdvert(m, now)
		}
	}
}

// enqueueAll queues frames built by the ND, RA and DHCPv6 code (which own
// them until their next call, so they are copied into the arena).
func (d *Dataplane) enqueueAll(port int, frames [][]byte) {
	for _, f := range frames {
		b := d.alloc(len(f))
		copy(b, f)
		d.enqueue(port, b, link.Offload{})
	}
}

// tickIPv6 runs the IPv6 timers: neighbour discovery on both ports (a
// resolution that failed is answered with Address Unreachable, RFC 4861
// §7.2.2), the advertiser's schedule, and the firewall's.
func (d *Dataplane) tickIPv6(now time.Duration) {
	if d.v6 == nil {
		return
	}
	d.tick6(now)
	var failed [][]byte
	d.ndOut, failed = d.v6.LAN.Tick(d.ndOut[:0], d.failed[:0], now)
	d.enqueueAll(PortLAN, d.ndOut)
	d.unreachable6(failed, fw6.FromWAN, now)
	d.ndOut, failed = d.v6.WAN.Tick(d.ndOut[:0], failed[:0], now)
	d.enqueueAll(PortWAN, d.ndOut)
	d.unreachable6(failed, fw6.FromLAN, now)
	d.failed = failed[:0]
	if d.v6.RA != nil {
		ras, _ := d.v6.RA.Poll(now)
		d.enqueueAll(PortLAN, ras)
	}
}

// unreachable6 answers packets whose next hop did not resolve with an
// ICMPv6 Destination Unreachable, Address Unreachable (RFC 4443 §3.1),
// back toward their source: dir is where they came from.
func (d *Dataplane) unreachable6(failed [][]byte, dir fw6.Dir, now time.Duration) {
	for _, fr := range failed {
		d.cnt.NDUnresolved++
		if len(fr) < packet.EthernetHeaderLen+packet.IPv6HeaderLen {
			continue
		}
		r := d.v6.Engine.Error(fr[packet.EthernetHeaderLen:], dir, packet.ICMPv6DestUnreachable, 3, 0)
		if r.Verdict != fw6.Reply {
			continue
		}
		b := d.alloc(packet.EthernetHeaderLen + len(r.Packet))
		copy(b[packet.EthernetHeaderLen:], r.Packet)
		p := b[packet.EthernetHeaderLen:]
		if dir == fw6.FromWAN {
			d.toWAN6(PortWAN, p, b, link.Offload{}, now)
		} else {
			d.toLAN6(p, b, link.Offload{}, now)
		}
	}
}

// selfAllowed6 asks the firewall's rules about an IPv6 packet to the
// router itself; a rejected one from the LAN gets a TCP reset back (TCP
// right after the fixed header), or an ICMPv6 "administratively
// prohibited" (one from the WAN is dropped).
func (d *Dataplane) selfAllowed6(from int, f, p []byte) bool {
	switch d.self.DecideSelf6(packet.IPv6(p), from == PortWAN, [6]byte(packet.Ethernet(f).Src())) {
	case fw6.FilterAccept:
		return true
	case fw6.FilterReject:
		if from == PortLAN {
			if packet.IPv6(p).NextHeader() == packet.ProtoTCP {
				if b := packet.PutTCPReset6(d.rejectBuf[:], packet.IPv6(p), packet.IPv6HeaderLen); b != nil {
					d.reply6(from, f, b)
				}
			} else if r := d.v6.Engine.Error(p, fw6.FromLAN, packet.ICMPv6DestUnreachable, packet.ICMPv6AdminProhibited, 0); r.Verdict == fw6.Reply {
				d.reply6(from, f, r.Packet)
			}
		}
	}
	d.cnt.SelfFiltered++
	return false
}
