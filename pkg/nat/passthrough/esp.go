package passthrough

import (
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// Raw ESP (IP protocol 50) has no ports, and the SPI is chosen by the
// receiver and covered by the ICV, so a NAT can neither rewrite it nor see
// the pairing of a host's outbound and inbound SPIs (it is negotiated
// inside encrypted IKE). SPI learning: an outbound SPI toward a server
// opens an SA record without an inbound SPI; an unknown inbound SPI from
// that server is bound to it.
//
// Learning is serialised per server: at most one SA toward a server is
// learning at a time (it holds the server's lock). An SA sends only while
// it holds the lock until its binding is confirmed — a round trip (an
// outbound packet, then an inbound one on its SPIs, with no SPI bound in
// between) and then a clock second with no unknown SPI from the server.
// Another SA toward that server that is not confirmed waits — its packets
// are dropped and counted (ESPSerialised) — until the lock is free: the
// holder is confirmed, or its wait runs out (ESPUnboundTimeout with
// neither a bind nor an unknown SPI). So the server can only be answering
// one SA whose inbound SPI we may not know, and an unknown inbound SPI has
// exactly one candidate: the holder. A forged inbound packet can therefore
// only bind to the holder; the server's real reply binds to it too (the
// holder keeps at most espMaxIn SPIs, the oldest replaced first, and the
// real reply is repeated while its client sends, so it comes back). An SA
// whose lock ran out unconfirmed keeps its SPIs but sends again only once
// it holds the lock again, so a reply that was lost to forged SPIs is
// never answered toward the next holder. A confirmed SA whose host keeps
// sending while nothing has come back for espRelearn learns again (a wrong
// binding heals), and until then sends only holding the lock too: an SA
// sends while another learns only if traffic has come back on its SPIs. The worst a forger achieves is delaying tunnels toward
// one server while it keeps forging; no client ever receives another's SA.
//
// Single-client mode allows one LAN host per server; an unknown inbound
// SPI from the server goes to that host without creating any record.
//
// Records come only from LAN packets and are capped per host and in total;
// expiry pops idle lists ordered by last use.

const (
	espMaxPerHost = 32   // SAs per LAN host: 16 tunnels mid-rekey
	espMaxTotal   = 4096 // SAs in all
	espMaxIn      = 4    // inbound SPIs one SA may hold (forged ones included); the oldest goes first
	// espRelearn: a bound SA whose host keeps sending (espRelearnPkts
	// packets) while no inbound packet has arrived on its SPIs for this
	// long learns again.
	espRelearn     = 10 * time.Second
	espRelearnPkts = 16
)

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
	spiOut, spiIn     uint32 // spiIn 0: not bound yet; the latest SPI learnt
	more              [espMaxIn - 1]uint32
	nMore             uint8
	created, lastSeen uint32
	lastIn            uint32 // last inbound packet on one of its SPIs
	learnSince        uint32 // took the server's lock, or last bound an SPI
	rtOut             bool   // on probation: an outbound packet since the last bind
	rtDone            bool   // and an inbound one after it: a round trip
	confirmed         bool   // released the lock after a round trip: sends without it
	relearning        bool   // learning again after espRelearn without inbound
	outSinceIn        uint16 // outbound packets since the last inbound one (saturating)
	srv               *espServer
	links             lruLinks[espSA]
	traffic
}

// espServer is a server with SAs from the LAN.
type espServer struct {
	n     int    // SAs toward it
	host  uint32 // single-client mode: its one LAN host
	learn *espSA // the SA holding the learning lock, or nil
	// lastUnknown: the last inbound packet from the server with an SPI we
	// do not know. The lock is not released within a second of one: the
	// server may be answering the learner on an SPI not learnt yet.
	lastUnknown uint32
}

// ESPLimitCounters count what the serialised SPI learning and the caps on
// ESP and shared-port IKE records refused.
type ESPLimitCounters struct {
	ESPSerialised uint64 // outbound ESP dropped: another SA toward the server is learning
	ESPHostLimit  uint64 // new SA refused: the host has espMaxPerHost SAs
	ESPTableFull  uint64 // new SA refused: espMaxTotal SAs
	ESPRelearned  uint64 // bound SAs that started learning again
	ESPNoRecord   uint64 // single-client mode: unknown inbound SPIs delivered without a record
	ESPInReplaced uint64 // the learner held espMaxIn SPIs: its oldest was forgotten for a new one
	IKEHostLimit  uint64 // shared-port IKE SA refused: the host has ikeMaxPerHost
	IKETableFull  uint64 // shared-port IKE SA refused: ikeMaxTotal
}

// ESPLimits returns the counters of the ESP and shared-IKE limits.
func (p *Passthrough) ESPLimits() ESPLimitCounters { return p.esp.lim }

type espState struct {
	out     map[espOutKey]*espSA
	in      map[espInKey]*espSA
	servers map[uint32]*espServer
	hosts   map[uint32]int // SAs per LAN host
	// outOwners counts the SAs with each (server, outbound SPI): ICMP
	// errors about outbound ESP name no host, so they go to an SA only
	// when it is the one with that SPI.
	outOwners map[espInKey]ownerRef[espSA]
	unbound   lruList[espSA] // learning mode, no inbound SPI yet
	bound     lruList[espSA]
	// The last SA hit each way: a burst of one tunnel skips the map.
	lastOut, lastIn *espSA
	lim             ESPLimitCounters
}

func espLinks(sa *espSA) *lruLinks[espSA] { return &sa.links }

func (es *espState) init() {
	es.lastOut, es.lastIn = nil, nil
	es.out = make(map[espOutKey]*espSA)
	es.in = make(map[espInKey]*espSA)
	es.servers = make(map[uint32]*espServer)
	es.hosts = make(map[uint32]int)
	es.outOwners = make(map[espInKey]ownerRef[espSA])
	es.unbound = lruList[espSA]{links: espLinks}
	es.bound = lruList[espSA]{links: espLinks}
}

// holder returns the SA holding srv's learning lock, releasing a lock
// held past the unbound wait (no bind, or no round trip after one) with no
// unknown SPI from the server in that time either.
func holder(srv *espServer, now uint32) *espSA {
	l := srv.learn
	if l == nil {
		return nil
	}
	if l.rtDone && now != srv.lastUnknown {
		// A round trip, and in this second the server sent no SPI we do
		// not know: the binding is confirmed.
		srv.learn, l.rtOut, l.rtDone, l.relearning, l.confirmed = nil, false, false, false, true
		return nil
	}
	if now-l.learnSince > seconds(ESPUnboundTimeout) && now-srv.lastUnknown > seconds(ESPUnboundTimeout) {
		srv.learn = nil
		return nil
	}
	return l
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
	single := p.cfg.ESPMode == SingleClient
	switch {
	case sa == nil:
		var r nat.Reason
		if sa, r = es.create(p, k, now); sa == nil {
			return nat.Drop, r
		}
	case single:
	case sa.srv.learn == sa && holder(sa.srv, now) == sa:
		if sa.spiIn != 0 {
			sa.rtOut = true
			if sa.confirmed && !sa.relearning && es.silent(sa, now) {
				sa.relearning = true
				es.lim.ESPRelearned++
			}
		}
	case !sa.confirmed:
		// Not bound, or bound without a confirmed round trip: it sends
		// only while holding the server's lock, so the server is never
		// answering two SAs whose SPIs we may not know.
		if holder(sa.srv, now) != nil {
			es.lim.ESPSerialised++
			p.cnt.IPsec.Unmatched++
			return nat.Drop, nat.ReasonBlocked
		}
		sa.srv.learn, sa.learnSince, sa.rtOut, sa.rtDone = sa, now, sa.spiIn != 0, false
	case es.silent(sa, now):
		// Its host sends and nothing has come back: perhaps its binding
		// was wrong (forged), and the server answers on an SPI we do not
		// know. Like an unconfirmed SA it then sends only holding the
		// lock, so that answer can never bind to another SA; it learns
		// again, keeping the SPIs it has.
		if holder(sa.srv, now) != nil {
			es.lim.ESPSerialised++
			p.cnt.IPsec.Unmatched++
			return nat.Drop, nat.ReasonBlocked
		}
		sa.srv.learn, sa.learnSince, sa.rtOut, sa.rtDone, sa.relearning = sa, now, true, false, true
		es.lim.ESPRelearned++
	}
	if sa.outSinceIn < 0xffff {
		sa.outSinceIn++
	}
	es.lastOut = sa
	if sa.lastSeen != now {
		sa.lastSeen = now
		sa.links.on.touch(sa)
	}
	sa.out(len(ip))
	p.cnt.IPsec.countOut(len(ip))
	return nat.Forward, 0
}

// silent reports whether sa's host keeps sending and nothing comes back.
func (es *espState) silent(sa *espSA, now uint32) bool {
	return sa.outSinceIn >= espRelearnPkts && now-sa.lastIn >= seconds(espRelearn) && now-sa.learnSince >= seconds(espRelearn)
}

// create opens an SA for a new outbound SPI, or says why not.
func (es *espState) create(p *Passthrough, k espOutKey, now uint32) (*espSA, nat.Reason) {
	srv := es.servers[k.server]
	single := p.cfg.ESPMode == SingleClient
	if srv != nil {
		if single && srv.n > 0 && srv.host != k.host {
			p.cnt.ESPConflicts++
			p.cnt.IPsec.Blocked++
			return nil, nat.ReasonBlocked
		}
		if !single && holder(srv, now) != nil {
			es.lim.ESPSerialised++
			p.cnt.IPsec.Unmatched++
			return nil, nat.ReasonBlocked
		}
	}
	if es.hosts[k.host] >= espMaxPerHost {
		es.lim.ESPHostLimit++
		p.cnt.IPsec.Unmatched++
		return nil, nat.ReasonHostLimit
	}
	if len(es.out) >= espMaxTotal {
		es.lim.ESPTableFull++
		p.cnt.IPsec.Unmatched++
		return nil, nat.ReasonTableFull
	}
	if srv == nil {
		srv = &espServer{}
		es.servers[k.server] = srv
	}
	sa := &espSA{host: k.host, server: k.server, spiOut: k.spi, created: now, lastSeen: now,
		lastIn: now, learnSince: now, srv: srv}
	srv.n++
	srv.host = k.host
	es.hosts[k.host]++
	es.out[k] = sa
	ref(es.outOwners, espInKey{k.server, k.spi}, sa)
	if single {
		es.bound.pushBack(sa) // one host per server: any inbound SPI is its
	} else {
		es.unbound.pushBack(sa)
	}
	if srv.learn == nil {
		srv.learn = sa
	}
	p.cnt.IPsec.Created++
	return sa, 0
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
			if srv := es.servers[k.server]; srv != nil && p.cfg.ESPMode == SingleClient {
				// Its one host; no record from a WAN packet.
				es.lim.ESPNoRecord++
				p.cnt.IPsec.countIn(len(ip))
				return srv.host, nat.Forward, 0
			}
			p.cnt.IPsec.Unmatched++
			return 0, nat.Drop, nat.ReasonNoMapping
		}
	} else if sa.rtOut {
		sa.rtDone = true
	}
	es.lastIn = sa
	sa.lastIn, sa.outSinceIn = now, 0
	if sa.lastSeen != now {
		sa.lastSeen = now
		sa.links.on.touch(sa)
	}
	sa.in(len(ip))
	p.cnt.IPsec.countIn(len(ip))
	return sa.host, nat.Forward, 0
}

// bind learns an unknown inbound SPI: it goes to the SA holding the
// server's learning lock, if any — the one SA the server can be answering
// without our knowing its SPI.
func (es *espState) bind(p *Passthrough, k espInKey, now uint32) *espSA {
	srv := es.servers[k.server]
	if srv == nil {
		return nil
	}
	sa := holder(srv, now)
	srv.lastUnknown = now
	if sa == nil {
		return nil
	}
	switch {
	case sa.spiIn == 0:
		sa.spiIn = k.spi
		if sa.links.on == &es.unbound {
			es.unbound.unlink(sa)
			es.bound.pushBack(sa)
		}
	case int(sa.nMore) < len(sa.more):
		sa.more[sa.nMore] = sa.spiIn
		sa.nMore++
		sa.spiIn = k.spi
	default:
		// Full (forged SPIs?): forget the oldest. While it holds the lock
		// the holder gets every unknown SPI from the server, so a real one
		// forgotten comes back to it; it is not confirmed until a round
		// trip follows the last SPI it learnt.
		delete(es.in, espInKey{sa.server, sa.more[0]})
		copy(sa.more[:], sa.more[1:])
		sa.more[len(sa.more)-1] = sa.spiIn
		sa.spiIn = k.spi
		es.lim.ESPInReplaced++
	}
	es.in[k] = sa
	sa.learnSince, sa.rtOut, sa.rtDone = now, false, false
	if p.cfg.ESPMode == SingleClient {
		srv.learn = nil // nothing to serialise with one host
	}
	p.cnt.ESPLearned++
	return sa
}

func (es *espState) remove(sa *espSA) {
	if es.lastOut == sa {
		es.lastOut = nil
	}
	if es.lastIn == sa {
		es.lastIn = nil
	}
	if sa.links.on != nil {
		sa.links.on.unlink(sa)
	}
	k := espOutKey{sa.host, sa.server, sa.spiOut}
	if es.out[k] != sa {
		return // already gone
	}
	delete(es.out, k)
	unref(es.outOwners, espInKey{sa.server, sa.spiOut}, sa)
	if sa.spiIn != 0 {
		delete(es.in, espInKey{sa.server, sa.spiIn})
	}
	for _, spi := range sa.more[:sa.nMore] {
		delete(es.in, espInKey{sa.server, spi})
	}
	if n := es.hosts[sa.host] - 1; n > 0 {
		es.hosts[sa.host] = n
	} else {
		delete(es.hosts, sa.host)
	}
	srv := sa.srv
	if srv.learn == sa {
		srv.learn = nil
	}
	if srv.n--; srv.n == 0 {
		delete(es.servers, sa.server)
	}
}

// errorOwner: the host of the one SA toward server with outbound SPI spi.
func (es *espState) errorOwner(server, spi uint32) (uint32, bool) {
	if r := es.outOwners[espInKey{server, spi}]; r.n == 1 && r.only != nil {
		return r.only.host, true
	}
	return 0, false
}

// expire pops idle SAs off the front of each list (ordered by last use);
// at most tickBudget per list and Tick.
func (es *espState) expire(p *Passthrough, now uint32) {
	for _, l := range []struct {
		list *lruList[espSA]
		tmo  uint32
	}{{&es.unbound, seconds(ESPUnboundTimeout)}, {&es.bound, seconds(p.cfg.ESPTimeout)}} {
		for i := 0; i < tickBudget && l.list.head != nil && now-l.list.head.lastSeen > l.tmo; i++ {
			es.remove(l.list.head)
			p.cnt.IPsec.Expired++
		}
	}
}

func (es *espState) flushAll(p *Passthrough) int {
	n := len(es.out)
	es.init()
	return n
}
