package passthrough

import (
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Raw ESP (IP protocol 50) has no ports, and the SPI is chosen by the
// receiver and covered by the ICV, so a NAT can neither rewrite it nor see
// the pairing of a host's outbound and inbound SPIs (it is negotiated
// inside encrypted IKE). SPI learning: an outbound SPI toward a server
// opens an SA record without an inbound SPI; the first unknown inbound SPI
// from that server is bound to the oldest such record (the client that
// started first is answered first). A bound inbound SPI always goes to its
// host; an unknown inbound SPI with no unbound record is dropped. Rekeys
// bring new SPIs, which are learnt the same way; old SAs idle out.

type espOutKey struct {
	host, server uint32
	spi          uint32
}

type espInKey struct {
	server uint32
	spi    uint32
}

type espSA struct {
	host, server      uint32
	spiOut, spiIn     uint32 // spiIn 0: not bound yet
	created, lastSeen uint32
	traffic
}

type espState struct {
	out     map[espOutKey]*espSA
	in      map[espInKey]*espSA
	unbound map[uint32][]*espSA // per server, oldest first
	// The last SA hit each way: a burst of one tunnel skips the map.
	lastOut, lastIn *espSA
}

func (es *espState) init() {
	es.lastOut, es.lastIn = nil, nil
	es.out = make(map[espOutKey]*espSA)
	es.in = make(map[espInKey]*espSA)
	es.unbound = make(map[uint32][]*espSA)
}

func (es *espState) outbound(p *Passthrough, ip packet.IPv4, now uint32) (nat.Verdict, nat.Reason) {
	pl := ip.Payload()
	if len(pl) < packet.ESPHeaderLen || packet.ESP(pl).SPI() == 0 {
		p.cnt.IPsec.Unmatched++
		return nat.Drop, nat.ReasonTruncated
	}
	k := espOutKey{ip.Src(), ip.Dst(), packet.ESP(pl).SPI()}
	sa := es.lastOut
	if sa == nil || sa.spiOut != k.spi || sa.host != k.host || sa.server != k.server {
		sa = es.out[k]
	}
	if sa == nil {
		if p.cfg.ESPMode == SingleClient {
			if h, ok := es.owner(k.server); ok && h != k.host {
				p.cnt.ESPConflicts++
				p.cnt.IPsec.Blocked++
				return nat.Drop, nat.ReasonBlocked
			}
		}
		sa = &espSA{host: k.host, server: k.server, spiOut: k.spi, created: now}
		es.out[k] = sa
		es.unbound[k.server] = append(es.unbound[k.server], sa)
		p.cnt.IPsec.Created++
	}
	es.lastOut = sa
	sa.lastSeen = now
	sa.out(len(ip))
	p.cnt.IPsec.countOut(len(ip))
	return nat.Forward, 0
}

// owner returns the LAN host that has ESP SAs with server (single-client mode).
func (es *espState) owner(server uint32) (uint32, bool) {
	for _, sa := range es.unbound[server] {
		return sa.host, true
	}
	for _, sa := range es.out {
		if sa.server == server {
			return sa.host, true
		}
	}
	return 0, false
}

func (es *espState) inbound(p *Passthrough, ip packet.IPv4, now uint32) (uint32, nat.Verdict, nat.Reason) {
	pl := ip.Payload()
	if len(pl) < packet.ESPHeaderLen || packet.ESP(pl).SPI() == 0 {
		p.cnt.IPsec.Unmatched++
		return 0, nat.Drop, nat.ReasonTruncated
	}
	k := espInKey{ip.Src(), packet.ESP(pl).SPI()}
	sa := es.lastIn
	if sa == nil || sa.spiIn != k.spi || sa.server != k.server {
		sa = es.in[k]
	}
	if sa == nil {
		sa = es.bind(p, k, now)
		if sa == nil {
			p.cnt.IPsec.Unmatched++
			return 0, nat.Drop, nat.ReasonNoMapping
		}
	}
	es.lastIn = sa
	sa.lastSeen = now
	sa.in(len(ip))
	p.cnt.IPsec.countIn(len(ip))
	return sa.host, nat.Forward, 0
}

// bind learns an unknown inbound SPI: it goes to the oldest live unbound
// SA toward that server (single-client mode: to the server's one host).
func (es *espState) bind(p *Passthrough, k espInKey, now uint32) *espSA {
	list := es.unbound[k.server]
	unboundTmo := seconds(ESPUnboundTimeout)
	for len(list) > 0 {
		sa := list[0]
		list = list[1:]
		if now-sa.lastSeen > unboundTmo || es.out[espOutKey{sa.host, sa.server, sa.spiOut}] != sa {
			continue // stale or already gone
		}
		sa.spiIn = k.spi
		es.in[k] = sa
		es.setUnbound(k.server, list)
		p.cnt.ESPLearned++
		return sa
	}
	es.setUnbound(k.server, list)
	if p.cfg.ESPMode == SingleClient {
		if h, ok := es.owner(k.server); ok {
			sa := &espSA{host: h, server: k.server, spiIn: k.spi, created: now}
			es.in[k] = sa
			return sa
		}
	}
	return nil
}

func (es *espState) setUnbound(server uint32, list []*espSA) {
	if len(list) == 0 {
		delete(es.unbound, server)
	} else {
		es.unbound[server] = list
	}
}

func (es *espState) remove(sa *espSA) {
	if es.lastOut == sa {
		es.lastOut = nil
	}
	if es.lastIn == sa {
		es.lastIn = nil
	}
	if sa.spiOut != 0 {
		if es.out[espOutKey{sa.host, sa.server, sa.spiOut}] == sa {
			delete(es.out, espOutKey{sa.host, sa.server, sa.spiOut})
		}
	}
	if sa.spiIn != 0 {
		if es.in[espInKey{sa.server, sa.spiIn}] == sa {
			delete(es.in, espInKey{sa.server, sa.spiIn})
		}
	} else {
		list := es.unbound[sa.server]
		for i, x := range list {
			if x == sa {
				es.setUnbound(sa.server, append(list[:i:i], list[i+1:]...))
				break
			}
		}
	}
}

func (es *espState) expire(p *Passthrough, now uint32) {
	bound, unbound := seconds(p.cfg.ESPTimeout), seconds(ESPUnboundTimeout)
	check := func(sa *espSA) {
		tmo := bound
		if sa.spiIn == 0 {
			tmo = unbound
		}
		if now-sa.lastSeen > tmo {
			es.remove(sa)
			p.cnt.IPsec.Expired++
		}
	}
	for _, sa := range es.out {
		check(sa)
	}
	for _, sa := range es.in {
		if sa.spiOut == 0 {
			check(sa)
		}
	}
}

func (es *espState) flushAll(p *Passthrough) int {
	n := len(es.out)
	for _, sa := range es.in {
		if sa.spiOut == 0 {
			n++
		}
	}
	es.init()
	return n
}
