package dataplane

import (
	"context"
	"errors"
	"time"

	"github.com/passgate/passgate/pkg/fw6"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/srcguard"
)

// reader reads link l, member i of port, until ctx ends or l closes.
func (d *Dataplane) reader(ctx context.Context, port, i int, l link.Link) {
	frames := make([]link.Frame, d.cfg.Batch)
	hints := make([]nat.Hint, d.cfg.Batch)
	hints6 := make([]fw6.Hint, d.cfg.Batch)
	q := d.newTxq(i)
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
		d.q = &q
		now := d.cfg.Clock()
		prefetched := n > 1 && port != PortSelf
		if prefetched {
			// Prefetch the table memory of the whole batch first so the
			// cache misses of a large table overlap: the index slots,
			// then the session records they name (pkg/nat, pkg/fw6).
			// Every key is hashed first and the slots prefetched in one
			// tight loop per engine (PrefetchSlots): with work between
			// them, fewer prefetches are in flight at once.
			dir, dir6 := nat.Outbound, fw6.FromLAN
			if port == PortWAN {
				dir, dir6 = nat.Inbound, fw6.FromWAN
			}
			any6 := false
			for k, f := range frames[:n] {
				hints[k], hints6[k] = 0, 0
				if len(f.Data) <= packet.EthernetHeaderLen+packet.IPv4HeaderLen {
					continue
				}
				switch packet.Ethernet(f.Data).EtherType() {
				case packet.EtherTypeIPv4:
					hints[k] = d.e.SlotHint(packet.Ethernet(f.Data).Payload(), dir)
				case packet.EtherTypeIPv6:
					if d.v6 != nil {
						hints6[k] = d.v6.Engine.SlotHint(packet.Ethernet(f.Data).Payload(), dir6)
						any6 = any6 || hints6[k] != 0
					}
				}
			}
			d.e.PrefetchSlots(hints[:n])
			if any6 {
				d.v6.Engine.PrefetchSlots(hints6[:n])
			}
			// Each hint now names the session prefetched, which
			// TranslateHinted and ProcessHinted check and use instead of
			// looking the packet's key up again.
			d.e.PrefetchSessions(hints[:n])
			if any6 {
				d.v6.Engine.PrefetchSessions(hints6[:n])
			}
		}
		for k, f := range frames[:n] {
			var h nat.Hint
			var h6 fw6.Hint
			if prefetched {
				h, h6 = hints[k], hints6[k]
			}
			if f.Len != len(f.Data) {
				d.cnt.Truncated++
				continue
			}
			if d.caps[port] != nil {
				d.tap(port, f.Data)
			}
			switch port {
			case PortLAN:
				d.fromLAN(f, now, h, h6)
			case PortWAN:
				d.fromWAN(f, now, h, h6)
			case PortSelf:
				d.fromSelf(f.Data, now)
			}
		}
		d.offloadEnded()
		d.tapQueued(&q)
		d.q = &d.ctlq
		d.mu.Unlock()
		d.write(&q) // outside the lock: the other ports' readers go on meanwhile
	}
}

// isGroupMAC reports a broadcast or multicast destination (the I/G bit).
func isGroupMAC(m []byte) bool { return m[0]&1 != 0 }

// fromLAN handles a frame from the LAN; h is its IPv4 packet's Hint
// (nat.Engine.PrefetchSession), or 0, and h6 its IPv6 packet's
// (fw6.Engine.PrefetchSession), or 0.
func (d *Dataplane) fromLAN(fr link.Frame, now time.Duration, h nat.Hint, h6 fw6.Hint) {
	f := fr.Data
	if len(f) < packet.EthernetHeaderLen {
		d.cnt.Truncated++
		return
	}
	eth := packet.Ethernet(f)
	if d.cfg.Devices != nil && !d.cfg.Devices.See([6]byte(eth.Src()), now) {
		d.cnt.LANMACFiltered++
		return
	}
	switch eth.EtherType() {
	case packet.EtherTypeARP:
		d.arpFromLAN(f, now)
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) != d.lanMAC && !isGroupMAC(eth.Dst()) {
			d.cnt.NotForUs++
			return
		}
		if ip := packet.IPv4(eth.Payload()); len(ip) >= packet.IPv4HeaderLen && ip.Src() == d.lanIP {
			// The router's own address from a LAN device is a forgery:
			// the router's own packets come from self0, and the engine
			// takes this source for them (their TTL kept, their
			// sessions ridden or reset).
			d.cnt.LANSpoofed++
			return
		}
		if d.cfg.Guard != nil && !d.lanSourceOK(eth, now) {
			return
		}
		// The firewall's rules may name the device (nat.Filter).
		d.e.SetFrameMAC([6]byte(eth.Src()), true)
		if !fr.Offload.IsZero() {
			d.offloaded(PortLAN, nat.Outbound, fr, now)
			return
		}
		d.route(PortLAN, f, d.e.TranslateHinted(eth.Payload(), nat.Outbound, h), link.Offload{}, now)
	case packet.EtherTypeIPv6:
		d.fromLAN6(fr, now, h6)
	default:
		d.cnt.NonIPv4++
	}
}

// lanSourceOK asks the source guard whether the frame's sender may use its
// IPv4 source address. Addresses outside the LAN prefix, or unspecified,
// are left to the engine, which judges them; the router's own is refused
// before (fromLAN).
func (d *Dataplane) lanSourceOK(eth packet.Ethernet, now time.Duration) bool {
	ip := packet.IPv4(eth.Payload())
	if len(ip) < packet.IPv4HeaderLen {
		return true
	}
	src := ip.Src()
	if src == 0 || src&d.lanMask != d.lanIP&d.lanMask {
		return true
	}
	switch d.cfg.Guard.Check(src, [6]byte(eth.Src()), now) {
	case srcguard.Conflict:
		d.cnt.LANSpoofed++
		return false
	case srcguard.TooMany:
		d.cnt.LANAddrLimit++
		return false
	}
	return true
}

// fromWAN handles a frame from the WAN; h and h6 are as for fromLAN.
func (d *Dataplane) fromWAN(fr link.Frame, now time.Duration, h nat.Hint, h6 fw6.Hint) {
	f := fr.Data
	if len(f) < packet.EthernetHeaderLen {
		d.cnt.Truncated++
		return
	}
	eth := packet.Ethernet(f)
	switch eth.EtherType() {
	case packet.EtherTypeARP:
		d.arpFromWAN(f, now)
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) != d.wanMAC && !isGroupMAC(eth.Dst()) {
			d.cnt.NotForUs++
			return
		}
		ip := eth.Payload()
		if d.dhcpToClient(ip) {
			if !fr.Offload.IsZero() {
				if !fillChecksum(f[:packet.EthernetHeaderLen+packet.IPv4(ip).TotalLen()], fr.Offload) {
					d.cnt.OffloadInvalid++
					return
				}
				d.cnt.ChecksumsFilled++
			}
			d.cfg.WANDHCP(f)
			return
		}
		if !fr.Offload.IsZero() {
			d.offloaded(PortWAN, nat.Inbound, fr, now)
			return
		}
		d.route(PortWAN, f, d.e.TranslateHinted(ip, nat.Inbound, h), link.Offload{}, now)
	case packet.EtherTypeIPv6:
		d.fromWAN6(fr, now, h6)
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
		d.enqueue(PortLAN, f, link.Offload{}) // the kernel asking for or answering LAN hosts
	case packet.EtherTypeIPv4:
		if [6]byte(eth.Dst()) == d.nhMAC {
			d.e.SetFrameMAC([6]byte{}, false) // the router's own: no LAN device
			d.route(PortSelf, f, d.e.Translate(eth.Payload(), nat.Outbound), link.Offload{}, now)
			return
		}
		d.enqueue(PortLAN, f, link.Offload{}) // to a LAN host or broadcast
	case packet.EtherTypeIPv6:
		d.fromSelf6(f, now)
	default:
		d.cnt.NonIPv4++
	}
}

// dhcpToClient reports UDP 67→68 datagrams for the WAN DHCP client.
func (d *Dataplane) dhcpToClient(ip []byte) bool {
	p := packet.IPv4(ip)
	if d.cfg.WANDHCP == nil || len(p) < packet.IPv4HeaderLen || p.Protocol() != packet.ProtoUDP {
		return false
	}
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
