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
//
// Records come only from LAN packets and are capped per host and in total;
// one the server has not answered lives ESPUnboundTimeout, an answered one
// ESPTimeout; expiry pops idle lists ordered by last use.

const (
	ikeMaxPerHost = 32   // shared-port IKE SAs per LAN host
	ikeMaxTotal   = 4096 // in all
)

type ikeKey struct {
	server uint32
	spi    uint64
}

type ikeSA struct {
	host, server      uint32
	spi               uint64
	created, lastSeen uint32
	answered          bool
	links             lruLinks[ikeSA]
	traffic
}

type ikeState struct {
	sas        map[ikeKey]*ikeSA
	hosts      map[uint32]int
	unanswered lruList[ikeSA]
	answered   lruList[ikeSA]
}

func ikeLinks(sa *ikeSA) *lruLinks[ikeSA] { return &sa.links }

func (is *ikeState) init() {
	is.sas = make(map[ikeKey]*ikeSA)
	is.hosts = make(map[uint32]int)
	is.unanswered = lruList[ikeSA]{links: ikeLinks}
	is.answered = lruList[ikeSA]{links: ikeLinks}
}

// OutShared implements nat.Helper.
func (p *Passthrough) OutShared(ip packet.IPv4, udp packet.UDP, now uint32) (nat.Verdict, nat.Reason) {
	pl := packet.IKE(udp.Payload())
	if len(pl) < packet.IKEHeaderLen {
		p.cnt.IPsec.Unmatched++
		return nat.Drop, nat.ReasonTruncated
	}
	is := &p.ike
	k := ikeKey{ip.Dst(), pl.InitiatorSPI()}
	sa := is.sas[k]
	if sa == nil || sa.host != ip.Src() {
		if sa != nil && !is.idle(p, sa, now) {
			p.cnt.IPsec.Unmatched++ // another host already owns this SPI with that server
			return nat.Drop, nat.ReasonFiltered
		}
		if sa != nil {
			is.remove(sa)
		}
		switch {
		case is.hosts[ip.Src()] >= ikeMaxPerHost:
			p.esp.lim.IKEHostLimit++
			p.cnt.IPsec.Unmatched++
			return nat.Drop, nat.ReasonHostLimit
		case len(is.sas) >= ikeMaxTotal:
			p.esp.lim.IKETableFull++
			p.cnt.IPsec.Unmatched++
			return nat.Drop, nat.ReasonTableFull
		}
		sa = &ikeSA{host: ip.Src(), server: k.server, spi: k.spi, created: now, lastSeen: now}
		is.sas[k] = sa
		is.hosts[sa.host]++
		is.unanswered.pushBack(sa)
		p.cnt.IPsec.Created++
	}
	if sa.lastSeen != now {
		sa.lastSeen = now
		sa.links.on.touch(sa)
	}
	sa.out(len(ip))
	p.cnt.IPsec.countOut(len(ip))
	return nat.Forward, 0
}

// idle reports whether sa is past its timeout (and only waits for Tick).
func (is *ikeState) idle(p *Passthrough, sa *ikeSA, now uint32) bool {
	tmo := seconds(ESPUnboundTimeout)
	if sa.answered {
		tmo = seconds(p.cfg.ESPTimeout)
	}
	return now-sa.lastSeen > tmo
}

// InShared implements nat.Helper.
func (p *Passthrough) InShared(ip packet.IPv4, udp packet.UDP, now uint32) (uint32, nat.Verdict, nat.Reason) {
	pl := packet.IKE(udp.Payload())
	if len(pl) < packet.IKEHeaderLen {
		p.cnt.IPsec.Unmatched++
		return 0, nat.Drop, nat.ReasonTruncated
	}
	is := &p.ike
	sa := is.sas[ikeKey{ip.Src(), pl.InitiatorSPI()}]
	if sa == nil || is.idle(p, sa, now) {
		p.cnt.IPsec.Unmatched++
		return 0, nat.Drop, nat.ReasonNoMapping
	}
	if !sa.answered {
		sa.answered = true
		is.unanswered.unlink(sa)
		is.answered.pushBack(sa)
	}
	if sa.lastSeen != now {
		sa.lastSeen = now
		sa.links.on.touch(sa)
	}
	sa.in(len(ip))
	p.cnt.IPsec.countIn(len(ip))
	return sa.host, nat.Forward, 0
}

func (is *ikeState) remove(sa *ikeSA) {
	if sa.links.on != nil {
		sa.links.on.unlink(sa)
	}
	k := ikeKey{sa.server, sa.spi}
	if is.sas[k] != sa {
		return
	}
	delete(is.sas, k)
	if n := is.hosts[sa.host] - 1; n > 0 {
		is.hosts[sa.host] = n
	} else {
		delete(is.hosts, sa.host)
	}
}

// expire pops idle SAs off the front of each list; at most tickBudget per
// list and Tick.
func (is *ikeState) expire(p *Passthrough, now uint32) {
	for _, l := range []struct {
		list *lruList[ikeSA]
		tmo  uint32
	}{{&is.unanswered, seconds(ESPUnboundTimeout)}, {&is.answered, seconds(p.cfg.ESPTimeout)}} {
		for i := 0; i < tickBudget && l.list.head != nil && now-l.list.head.lastSeen > l.tmo; i++ {
			is.remove(l.list.head)
			p.cnt.IPsec.Expired++
		}
	}
}

func (is *ikeState) flushAll() int {
	n := len(is.sas)
	is.init()
	return n
}
