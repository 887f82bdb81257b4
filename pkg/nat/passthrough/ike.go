package passthrough

import (
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Shared IKE port (optional, "ike-share-port"): legacy IKEv1 peers may
// insist on source port 500, so every LAN host's IKE between port 500s
// leaves from external port 500, and inbound IKE from a server is routed by
// the initiator SPI (cookie) at offset 0 of the IKE header, which stays the
// same for the whole IKE SA whichever side sends. IKEv2 servers accept any
// source port (RFC 7296 §2.11), so this is off by default and each host
// gets its own external port instead.

type ikeKey struct {
	server uint32
	spi    uint64
}

type ikeSA struct {
	host, server      uint32
	spi               uint64
	created, lastSeen uint32
	traffic
}

type ikeState struct{ sas map[ikeKey]*ikeSA }

func (is *ikeState) init() { is.sas = make(map[ikeKey]*ikeSA) }

// OutShared implements nat.Helper.
func (p *Passthrough) OutShared(ip packet.IPv4, udp packet.UDP, now uint32) (nat.Verdict, nat.Reason) {
	pl := packet.IKE(udp.Payload())
	if len(pl) < packet.IKEHeaderLen {
		p.cnt.IPsec.Unmatched++
		return nat.Drop, nat.ReasonTruncated
	}
	k := ikeKey{ip.Dst(), pl.InitiatorSPI()}
	sa := p.ike.sas[k]
	if sa == nil || sa.host != ip.Src() {
		if sa != nil && now-sa.lastSeen <= seconds(p.cfg.ESPTimeout) {
			p.cnt.IPsec.Unmatched++ // another host already owns this SPI with that server
			return nat.Drop, nat.ReasonFiltered
		}
		sa = &ikeSA{host: ip.Src(), server: k.server, spi: k.spi, created: now}
		p.ike.sas[k] = sa
		p.cnt.IPsec.Created++
	}
	sa.lastSeen = now
	sa.out(len(ip))
	p.cnt.IPsec.countOut(len(ip))
	return nat.Forward, 0
}

// InShared implements nat.Helper.
func (p *Passthrough) InShared(ip packet.IPv4, udp packet.UDP, now uint32) (uint32, nat.Verdict, nat.Reason) {
	pl := packet.IKE(udp.Payload())
	if len(pl) < packet.IKEHeaderLen {
		p.cnt.IPsec.Unmatched++
		return 0, nat.Drop, nat.ReasonTruncated
	}
	sa := p.ike.sas[ikeKey{ip.Src(), pl.InitiatorSPI()}]
	if sa == nil {
		p.cnt.IPsec.Unmatched++
		return 0, nat.Drop, nat.ReasonNoMapping
	}
	sa.lastSeen = now
	sa.in(len(ip))
	p.cnt.IPsec.countIn(len(ip))
	return sa.host, nat.Forward, 0
}

func (is *ikeState) expire(p *Passthrough, now uint32) {
	tmo := seconds(p.cfg.ESPTimeout)
	for k, sa := range is.sas {
		if now-sa.lastSeen > tmo {
			delete(is.sas, k)
			p.cnt.IPsec.Expired++
		}
	}
}

func (is *ikeState) flushAll() int {
	n := len(is.sas)
	is.init()
	return n
}
