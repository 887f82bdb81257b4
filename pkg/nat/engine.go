package nat

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/packet"
)

// Dir is the side a packet arrived on.
type Dir uint8

const (
	Outbound Dir = iota // arrived on the LAN, heading for the WAN
	Inbound             // arrived on the WAN
)

// Verdict says what to do with a translated packet.
type Verdict uint8

const (
	Drop    Verdict = iota // discard; Result.Reason says why
	Forward                // send Result.Packet (and More) out of the other side
	Hairpin                // send Result.Packet (and More) back out of the LAN side
	Local                  // for the router itself: hand to its own stack (self0)
	Reply                  // the engine answered (ICMP error or echo reply): send Result.Packet back out of the side it came from
	Held                   // kept by the engine (an out-of-order fragment); nothing to send now
	numVerdicts
)

var verdictNames = [...]string{"drop", "forward", "hairpin", "local", "reply", "held"}

func (v Verdict) String() string { return verdictNames[v] }

// Result of Translate. Packet and More may point into engine-owned buffers
// and are valid until the next call into the engine.
type Result struct {
	Verdict Verdict
	Reason  Reason
	Packet  []byte
	More    [][]byte // further packets going the same way as Packet (fragments)
}

// Engine is one NAPT instance between a LAN and a WAN address.
type Engine struct {
	cfg      Config
	lanIP    uint32
	lanNet   uint32
	lanMask  uint32
	lanBcast uint32
	ext      uint32 // external address; 0 = none (no WAN lease)
	tmo      [numStates]uint32
	mss      uint16 // MSS clamp value, 0 = off
	dmz      uint32

	now        uint32 // seconds since the clock's origin
	nowD       time.Duration
	sweep      uint32 // sweep cursor
	sweepCarry uint64

	t       *table
	helper  Helper
	perHost map[uint32]uint32
	hostMax uint32
	rng     uint64
	ipID    uint16

	pending pendingSYNs
	frags   fragTable

	pkt     []byte   // the packet to send, when the verdict has one
	more    [][]byte // further packets (points at moreBuf or frags.out)
	moreBuf [][]byte
	reply   [576]byte
	toWAN   [][]byte
	cnt     Counters

	lastForwardFlush int
	sink             uint32 // keeps Prefetch's loads alive
}

// New returns an engine with configuration c and no external address.
func New(c Config) (*Engine, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		t:       newTable(c.MaxSessions, c.Seed^0x9e3779b97f4a7c15),
		perHost: make(map[uint32]uint32),
		rng:     c.Seed | 1,
		moreBuf: make([][]byte, 0, 64),
		toWAN:   make([][]byte, 0, 8),
	}
	e.frags.init()
	e.apply(c)
	return e, nil
}

func seconds(d time.Duration) uint32 { return uint32((d + time.Second - 1) / time.Second) }

// apply installs the parts of c that need no flushing.
func (e *Engine) apply(c Config) {
	e.cfg = c
	e.lanIP = packet.AddrTo4(c.LAN.Addr())
	e.lanMask = ^uint32(0) << (32 - c.LAN.Bits())
	if c.LAN.Bits() == 0 {
		e.lanMask = 0
	}
	e.lanNet = e.lanIP & e.lanMask
	e.lanBcast = e.lanNet | ^e.lanMask
	e.tmo[stUDP] = seconds(c.Timeouts.UDP)
	e.tmo[stICMP] = seconds(c.Timeouts.ICMP)
	for _, s := range []uint8{stSynOut, stSynIn, stFinBoth, stReset} {
		e.tmo[s] = seconds(c.Timeouts.TCPTransitory)
	}
	for _, s := range []uint8{stEstablished, stFinOut, stFinIn} {
		e.tmo[s] = seconds(c.Timeouts.TCPEstablished)
	}
	switch {
	case c.MSSClamp == MSSAuto:
		e.mss = uint16(min(c.WANMTU, c.LANMTU) - 40)
	case c.MSSClamp > 0:
		e.mss = uint16(c.MSSClamp)
	default:
		e.mss = 0
	}
	e.dmz = packet.AddrTo4(c.DMZ)
	e.hostMax = uint32(c.MaxSessionsPerHost)
	if e.hostMax == 0 {
		e.hostMax = uint32(max(c.MaxSessions/4, 1))
	}
	e.lastForwardFlush = e.installForwards()
}

// Config returns the engine's current configuration.
func (e *Engine) Config() Config { return e.cfg }

// External returns the external (WAN) address, invalid if none.
func (e *Engine) External() netip.Addr {
	if e.ext == 0 {
		return netip.Addr{}
	}
	return packet.AddrFrom4(e.ext)
}

// SetExternal sets the WAN address the engine translates to. Changing it
// flushes every session (they were bound to the old address); the number
// flushed is returned. An invalid address means "no WAN address": outbound
// packets are dropped until one is set.
func (e *Engine) SetExternal(a netip.Addr) int {
	n := packet.AddrTo4(a)
	if n == e.ext {
		return 0
	}
	e.ext = n
	return e.Flush(nil)
}

// Tick tells the engine the time (a monotonic duration from any fixed
// origin) and does the time-driven work: expiring sessions (a bounded,
// amortised slice of the table per call; a full pass every sweepPeriod),
// fragment state, and held unsolicited SYNs. It returns ICMP errors to
// send out of the WAN side (RFC 5382 REQ-4), valid until the next call.
func (e *Engine) Tick(now time.Duration) [][]byte {
	if now < e.nowD {
		now = e.nowD
	}
	elapsed := now - e.nowD
	e.nowD = now
	e.now = uint32(now / time.Second)
	e.sweepSessions(elapsed)
	e.frags.expire(e.now)
	e.toWAN = e.toWAN[:0]
	e.pending.expire(e)
	if e.helper != nil {
		e.helper.Tick(e.now)
	}
	return e.toWAN
}

// sweepPeriod is how long one full expiry pass over the table takes.
const sweepPeriod = 2 * time.Second

func (e *Engine) sweepSessions(elapsed time.Duration) {
	hwm := uint64(e.t.hwm)
	if hwm == 0 {
		return
	}
	work := hwm*uint64(elapsed) + e.sweepCarry
	n := work / uint64(sweepPeriod)
	e.sweepCarry = work % uint64(sweepPeriod)
	if n > hwm {
		n = hwm
	}
	for ; n > 0; n-- {
		if e.sweep >= e.t.hwm {
			e.sweep = 0
		}
		i := e.sweep
		e.sweep++
		if s := e.t.s(i); s.proto != 0 && e.expired(s) {
			e.remove(i)
			e.cnt.SessionsExpired++
		}
	}
}

func (e *Engine) expired(s *session) bool {
	return e.now-s.lastSeen > e.tmo[s.state]
}

// remove deletes session i and releases its mapping when unused.
func (e *Engine) remove(i uint32) {
	s := e.t.s(i)
	if s.flags&flagHelper != 0 && e.helper != nil {
		e.helper.Closed(e.flowOf(s))
	}
	mi, host := s.mapping, s.intIP
	e.t.unlink(i)
	m := &e.t.maps[mi]
	m.refs--
	if m.refs == 0 && !m.static {
		e.t.removeMapping(mi)
	}
	if c := e.perHost[host]; c <= 1 {
		delete(e.perHost, host)
	} else {
		e.perHost[host] = c - 1
	}
}

// Flush removes the sessions for which keep returns false (all if keep is
// nil) and returns how many it removed.
func (e *Engine) Flush(drop func(SessionInfo) bool) int {
	n := 0
	for i := uint32(0); i < e.t.hwm; i++ {
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		if drop == nil || drop(e.info(s)) {
			e.remove(i)
			n++
		}
	}
	return n
}

// Translate processes one IPv4 packet (starting at the IPv4 header) that
// arrived on side dir. The packet is rewritten in place.
func (e *Engine) Translate(b []byte, dir Dir) Result {
	e.more = e.moreBuf[:0]
	e.pkt = nil
	var v verdict
	if dir == Outbound {
		v = e.outbound(b)
	} else {
		v = e.inbound(b)
	}
	r := Result{Verdict: v.verdict(), Reason: v.reason(), Packet: e.pkt}
	if len(e.more) > 0 {
		r.More = e.more
	}
	e.cnt.Verdicts[r.Verdict%numVerdicts]++
	if r.Verdict == Drop {
		e.cnt.Drops[r.Reason%NumReasons]++
	}
	return r
}

// verdict is the internal, two-byte form of a result: the Verdict in the
// low byte and the drop Reason in the high byte. The packet to send is in
// e.pkt (and e.more).
type verdict uint16

func (v verdict) verdict() Verdict { return Verdict(v) }
func (v verdict) reason() Reason   { return Reason(v >> 8) }

func drop(r Reason) verdict { return verdict(Drop) | verdict(r)<<8 }

func isMartian(a uint32) bool {
	return a == 0 || a>>24 == 127 || a>>28 == 0xe || a == 0xffffffff
}

func (e *Engine) outbound(b []byte) verdict {
	p := packet.IPv4(b)
	if err := p.Check(); err != packet.IPv4OK {
		return drop(ipv4Reason(err))
	}
	p = p[:p.TotalLen()]
	src, dst := p.Src(), p.Dst()
	if dst == e.lanIP || dst == e.lanBcast || dst>>28 == 0xe || dst == 0xffffffff {
		e.pkt = p
		return verdict(Local)
	}
	if src&e.lanMask != e.lanNet || src == e.lanBcast || src == e.lanNet {
		return drop(ReasonSpoofedSource)
	}
	if dst&e.lanMask == e.lanNet {
		return drop(ReasonLANToLAN)
	}
	if isMartian(dst) {
		return drop(ReasonMartian)
	}
	if e.ext == 0 {
		return drop(ReasonNoWAN)
	}
	hairpin := dst == e.ext
	if hairpin && !e.cfg.Hairpin && !(p.Protocol() == packet.ProtoICMP) {
		return drop(ReasonHairpinDisabled)
	}
	// The router's own packets (from self0, with its LAN address) are
	// originated here, not forwarded: no TTL check or decrement, as for
	// any host's own traffic.
	own := src == e.lanIP
	if p.TTL() <= 1 && !own {
		return e.icmpError(p, packet.ICMPTimeExceeded, 0, 0, e.lanIP)
	}
	mtu := e.cfg.WANMTU
	if hairpin {
		mtu = e.cfg.LANMTU
	}
	if len(p) > mtu && p.DF() {
		return e.icmpError(p, packet.ICMPUnreachable, packet.ICMPCodeFragNeeded, uint16(mtu), e.lanIP)
	}
	if p.FragOffset() != 0 {
		return e.laterFragment(p, mtu)
	}
	var r verdict
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		r = e.outL4(p, hairpin)
	case packet.ProtoICMP:
		r = e.outICMP(p, hairpin)
	default:
		if hairpin {
			return drop(ReasonProtocol)
		}
		r = e.outOther(p)
	}
	return e.finish(p, r, mtu, src, dst, !own)
}

func (e *Engine) inbound(b []byte) verdict {
	p := packet.IPv4(b)
	if err := p.Check(); err != packet.IPv4OK {
		return drop(ipv4Reason(err))
	}
	p = p[:p.TotalLen()]
	src, dst := p.Src(), p.Dst()
	if dst != e.ext || e.ext == 0 {
		return drop(ReasonNotForUs)
	}
	if isMartian(src) || src == e.ext {
		return drop(ReasonMartian)
	}
	mtu := e.cfg.LANMTU
	if p.FragOffset() != 0 {
		if p.TTL() <= 1 {
			return drop(ReasonTTL)
		}
		return e.laterFragment(p, mtu)
	}
	var r verdict
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		r = e.inL4(p, false)
	case packet.ProtoICMP:
		r = e.inICMP(p)
	default:
		r = e.inOther(p)
	}
	if r != verdict(Forward) {
		return r
	}
	// The router's duties apply to what is actually forwarded; checks that
	// need the packet as received ran on a copy of its header in inL4.
	return e.finish(p, r, mtu, src, dst, true)
}

// finish applies the forwarding duties to a translated packet: TTL,
// fragment bookkeeping and fragmentation to the outgoing MTU.
func (e *Engine) finish(p packet.IPv4, r verdict, mtu int, origSrc, origDst uint32, decTTL bool) verdict {
	if r != verdict(Forward) && r != verdict(Hairpin) {
		return r
	}
	if decTTL {
		p.DecTTL()
	}
	if p[6]&0x20 != 0 { // MF: a first fragment
		e.frags.record(e, fragKey{src: origSrc, dst: origDst, id: p.ID(), proto: p.Protocol()},
			p.Src(), p.Dst(), r.verdict(), mtu)
	}
	e.pkt = p
	if len(p) > mtu {
		return e.fragmentResult(r, mtu)
	}
	return r
}

// outL4 translates an outbound TCP or UDP packet.
func (e *Engine) outL4(p packet.IPv4, hairpin bool) verdict {
	proto := p.Protocol()
	l4 := p[p.HeaderLen():]
	if (proto == packet.ProtoTCP && (len(l4) < packet.TCPHeaderLen || packet.TCP(l4).DataOffset() < packet.TCPHeaderLen)) ||
		(proto == packet.ProtoUDP && len(l4) < packet.UDPHeaderLen) {
		return drop(ReasonTruncated)
	}
	src, dst := p.Src(), p.Dst()
	sp := binary.BigEndian.Uint16(l4[0:])
	dp := binary.BigEndian.Uint16(l4[2:])
	var flags uint8
	if proto == packet.ProtoTCP {
		flags = l4[13]
	} else if e.helper != nil && !hairpin && e.helper.ShareUDP(sp, dp) {
		return e.outShared(p, l4)
	}
	i := e.t.lookupOut(proto, src, sp, dst, dp)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		i = none
	}
	if i == none {
		var r Reason
		if i, r = e.newSession(proto, src, sp, dst, dp, flags, 0); i == none {
			return e.refuse(p, r)
		}
	}
	s := e.t.s(i)
	if proto == packet.ProtoTCP {
		s.state = tcpOut(s.state, flags)
		if flags&packet.TCPSyn != 0 && e.mss != 0 {
			clampMSS(packet.TCP(l4), e.mss)
		}
	}
	s.lastSeen = e.now
	s.pktsOut++
	s.bytesOut += uint64(len(p))
	ext := s.extPort
	p.SetSrc(e.ext)
	if proto == packet.ProtoTCP {
		c := packet.Update32(binary.BigEndian.Uint16(l4[16:]), src, e.ext)
		binary.BigEndian.PutUint16(l4[0:], ext)
		binary.BigEndian.PutUint16(l4[16:], packet.Update16(c, sp, ext))
		if s.flags&flagHelper != 0 {
			if v, r := e.helper.TCP(Outbound, e.flowOf(s), tcpStateOf(s.state), p, packet.TCP(l4), e.now); v != Forward {
				return verdict(v) | verdict(r)<<8
			}
		}
	} else {
		c := packet.UpdateUDP32(binary.BigEndian.Uint16(l4[6:]), src, e.ext)
		binary.BigEndian.PutUint16(l4[0:], ext)
		binary.BigEndian.PutUint16(l4[6:], packet.UpdateUDP(c, sp, ext))
	}
	if hairpin {
		r := e.inL4(p, true)
		if r == verdict(Forward) {
			r = verdict(Hairpin)
		}
		return r
	}
	return verdict(Forward)
}

// inL4 translates an inbound TCP or UDP packet addressed to the external
// address (or, for hairpinning, an outbound one already source-translated).
func (e *Engine) inL4(p packet.IPv4, hairpin bool) verdict {
	proto := p.Protocol()
	l4 := p[p.HeaderLen():]
	if (proto == packet.ProtoTCP && (len(l4) < packet.TCPHeaderLen || packet.TCP(l4).DataOffset() < packet.TCPHeaderLen)) ||
		(proto == packet.ProtoUDP && len(l4) < packet.UDPHeaderLen) {
		return drop(ReasonTruncated)
	}
	src := p.Src()
	sp := binary.BigEndian.Uint16(l4[0:])
	dp := binary.BigEndian.Uint16(l4[2:])
	var flags uint8
	if proto == packet.ProtoTCP {
		flags = l4[13]
	} else if e.helper != nil && !hairpin && e.helper.ShareUDP(sp, dp) {
		return e.inShared(p, l4)
	}
	i, head := e.t.lookupIn(proto, dp, src, sp)
	if i != none && e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		i, head = e.t.lookupIn(proto, dp, src, sp)
	}
	var intIP uint32
	var intPort uint16
	var claimed *session
	if i != none {
		s := e.t.s(i)
		if s.flags&flagHelper != 0 {
			claimed = s
		}
		if proto == packet.ProtoTCP {
			s.state = tcpIn(s.state, flags)
		}
		s.flags |= flagReplied
		s.lastSeen = e.now // inbound refresh: RFC 4787 REQ-6 allows it
		s.pktsIn++
		s.bytesIn += uint64(len(p))
		intIP, intPort = s.intIP, s.intPort
	} else {
		var r Reason
		intIP, intPort, r = e.admitInbound(p, proto, dp, src, sp, flags, head, hairpin)
		if r != ReasonNone {
			return drop(r)
		}
	}
	if !hairpin {
		if r := e.inDuties(p); r != verdict(Forward) {
			return r
		}
	}
	if proto == packet.ProtoTCP && flags&packet.TCPSyn != 0 && e.mss != 0 {
		clampMSS(packet.TCP(l4), e.mss)
	}
	dst := p.Dst()
	p.SetDst(intIP)
	if proto == packet.ProtoTCP {
		c := packet.Update32(binary.BigEndian.Uint16(l4[16:]), dst, intIP)
		binary.BigEndian.PutUint16(l4[2:], intPort)
		binary.BigEndian.PutUint16(l4[16:], packet.Update16(c, dp, intPort))
	} else {
		c := packet.UpdateUDP32(binary.BigEndian.Uint16(l4[6:]), dst, intIP)
		binary.BigEndian.PutUint16(l4[2:], intPort)
		binary.BigEndian.PutUint16(l4[6:], packet.UpdateUDP(c, dp, intPort))
	}
	if claimed != nil {
		if v, r := e.helper.TCP(Inbound, e.flowOf(claimed), tcpStateOf(claimed.state), p, packet.TCP(l4), e.now); v != Forward {
			return verdict(v) | verdict(r)<<8
		}
	}
	return verdict(Forward)
}

// admitInbound decides about an inbound packet that matches no session:
// a port forward or DMZ creates a session; an existing mapping admits it if
// the filtering behaviour allows (without creating state); anything else is
// dropped, and an unsolicited SYN is held per RFC 5382 REQ-4.
func (e *Engine) admitInbound(p packet.IPv4, proto uint8, dp uint16, src uint32, sp uint16, flags uint8, head uint32, hairpin bool) (uint32, uint16, Reason) {
	mi := e.t.mappingByExt(proto, dp)
	if mi != none {
		m := &e.t.maps[mi]
		if m.static {
			if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) != packet.TCPSyn {
				// Only a SYN opens a forwarded connection.
				return 0, 0, ReasonNoSession
			}
			i, r := e.newSession(proto, m.intIP, m.intPort, src, sp, flags, flagInbound)
			if i == none {
				return 0, 0, r
			}
			return m.intIP, m.intPort, ReasonNone
		}
		// Hairpinned packets come from a LAN host: filtering protects
		// mappings from outside endpoints, not from the LAN itself, so they
		// pass whatever the filtering behaviour (LAN hosts reaching each
		// other through their public mappings, as STUN/ICE peers do).
		ok := hairpin
		switch e.cfg.Filtering {
		case EndpointIndependent:
			ok = true
		case AddressDependent:
			ok = ok || head != none
		case AddressPortDependent:
			ok = ok || (head != none && e.helper != nil && e.anyPortReply(proto, head))
		}
		if ok {
			return m.intIP, m.intPort, ReasonNone
		}
		if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn && !hairpin {
			e.pending.hold(e, p, dp, src, sp)
			return 0, 0, ReasonUnsolicitedSYN
		}
		return 0, 0, ReasonFiltered
	}
	if e.dmz != 0 && !hairpin && !(proto == packet.ProtoTCP && flags&packet.TCPSyn == 0) {
		// The DMZ host gets what nothing else claims, on the same port.
		i, r := e.newSessionAt(proto, e.dmz, dp, src, sp, flags, dp)
		if i == none {
			return 0, 0, r
		}
		return e.dmz, dp, ReasonNone
	}
	if proto == packet.ProtoTCP && flags&(packet.TCPSyn|packet.TCPAck|packet.TCPRst) == packet.TCPSyn && !hairpin {
		e.pending.hold(e, p, dp, src, sp)
		return 0, 0, ReasonUnsolicitedSYN
	}
	return 0, 0, ReasonNoMapping
}

// newSession creates a session for an outbound 5-tuple, reusing the
// internal endpoint's mapping (endpoint-independent mapping) or allocating
// one. fl carries flagInbound for forwarded connections.
func (e *Engine) newSession(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags, fl uint8) (uint32, Reason) {
	return e.create(proto, ip, port, rip, rport, tcpFlags, fl, 0, false)
}

// newSessionAt is newSession for a DMZ host, which must get external port ext.
func (e *Engine) newSessionAt(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags uint8, ext uint16) (uint32, Reason) {
	return e.create(proto, ip, port, rip, rport, tcpFlags, flagInbound, ext, true)
}

func (e *Engine) create(proto uint8, ip uint32, port uint16, rip uint32, rport uint16, tcpFlags, fl uint8, wantExt uint16, exact bool) (uint32, Reason) {
	if proto == packet.ProtoTCP && tcpFlags&packet.TCPRst != 0 {
		return none, ReasonNoSession
	}
	if e.helper != nil && fl&flagInbound == 0 && e.helper.Blocked(proto, rport) {
		return none, ReasonBlocked
	}
	if e.perHost[ip] >= e.hostMax {
		return none, ReasonHostLimit
	}
	if e.t.count >= e.t.max && !e.evict() {
		return none, ReasonTableFull
	}
	mi := e.t.lookupMapping(proto, ip, port)
	if mi == none {
		var ext uint16
		var ok bool
		if exact {
			ext, ok = wantExt, e.t.extPorts[protoIndex(proto)][wantExt] == 0
		} else {
			ext, ok = e.allocPort(proto, port)
		}
		if !ok {
			return none, ReasonPortsExhausted
		}
		mi = e.t.addMapping(proto, ip, port, ext, false)
	}
	if exact && e.t.maps[mi].extPort != wantExt {
		return none, ReasonNoMapping // the DMZ host's endpoint is mapped elsewhere
	}
	i := e.t.alloc()
	if i == none { // cannot happen after the count check, but never index past the slab
		if e.t.maps[mi].refs == 0 && !e.t.maps[mi].static {
			e.t.removeMapping(mi)
		}
		return none, ReasonTableFull
	}
	m := &e.t.maps[mi]
	m.refs++
	s := e.t.s(i)
	*s = session{
		intIP: ip, remIP: rip, intPort: port, remPort: rport, extPort: m.extPort,
		proto: proto, flags: fl, lastSeen: e.now, created: e.now, mapping: mi,
	}
	switch proto {
	case packet.ProtoTCP:
		s.state = tcpNew(tcpFlags, fl&flagInbound != 0)
		if e.helper != nil && fl&flagInbound == 0 && e.helper.ClaimTCP(rport) {
			s.flags |= flagHelper
		}
		if e.pending.n > 0 && fl&flagInbound == 0 {
			e.pending.cancel(m.extPort, rip, rport)
		}
	case packet.ProtoUDP:
		s.state = stUDP
	default:
		s.state = stICMP
	}
	e.t.link(i)
	e.perHost[ip]++
	e.cnt.SessionsCreated++
	return i, ReasonNone
}

// evict frees a slot when the table is full, preferring sessions that never
// saw a reply; it looks at a bounded sample after the sweep cursor.
func (e *Engine) evict() bool {
	const sample = 64
	for k := 0; k < sample && e.t.hwm > 0; k++ {
		if e.sweep >= e.t.hwm {
			e.sweep = 0
		}
		i := e.sweep
		e.sweep++
		s := e.t.s(i)
		if s.proto == 0 {
			continue
		}
		if e.expired(s) {
			e.remove(i)
			e.cnt.SessionsExpired++
			return true
		}
		if s.flags&(flagReplied|flagInbound) == 0 {
			e.remove(i)
			e.cnt.SessionsEvicted++
			return true
		}
	}
	return false
}

// refuse answers a packet that could not get a session: ICMP
// "communication administratively prohibited" (RFC 5508 REQ-8) when
// resources ran out, a plain drop otherwise.
func (e *Engine) refuse(p packet.IPv4, r Reason) verdict {
	switch r {
	case ReasonTableFull, ReasonHostLimit, ReasonPortsExhausted:
		res := e.icmpError(p, packet.ICMPUnreachable, packet.ICMPCodeAdminProhibited, 0, e.lanIP)
		e.cnt.Drops[r]++ // the packet itself is dropped; the reply is counted as a reply
		return res
	}
	return drop(r)
}

// allocPort picks an external port for a new mapping: the internal port if
// it is free (port preservation), else a random free port in the same range
// (0–1023 or 1024–65535, RFC 4787 REQ-3a). ICMP identifiers use the whole
// 16-bit space. Ports are never overloaded.
func (e *Engine) allocPort(proto uint8, want uint16) (uint16, bool) {
	arr := &e.t.extPorts[protoIndex(proto)]
	reserved := func(p uint16) bool { return proto == packet.ProtoUDP && p == 68 }
	if (want != 0 || proto == packet.ProtoICMP) && arr[want] == 0 && !reserved(want) {
		return want, true
	}
	lo, hi := uint32(1024), uint32(65535)
	switch {
	case proto == packet.ProtoICMP:
		lo = 0
	case want < 1024:
		lo, hi = 1, 1023
	}
	n := hi - lo + 1
	start := uint32(e.random() % uint64(n))
	for k := uint32(0); k < n; k++ {
		p := uint16(lo + (start+k)%n)
		if arr[p] == 0 && !reserved(p) {
			return p, true
		}
	}
	return 0, false
}

func (e *Engine) random() uint64 {
	// xorshift64*
	x := e.rng
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	e.rng = x
	return x * 0x2545f4914f6cdd1d
}

// clampMSS lowers the MSS option of a SYN to mss, updating the checksum.
func clampMSS(t packet.TCP, mss uint16) {
	off := t.MSSOption()
	if off < 0 || binary.BigEndian.Uint16(t[off:]) <= mss {
		return
	}
	c := t.Checksum()
	if off&1 == 0 {
		c = packet.Update16(c, binary.BigEndian.Uint16(t[off:]), mss)
		binary.BigEndian.PutUint16(t[off:], mss)
	} else {
		// The option is not 16-bit aligned: update the two words it straddles.
		w1, w2 := binary.BigEndian.Uint16(t[off-1:]), binary.BigEndian.Uint16(t[off+1:])
		binary.BigEndian.PutUint16(t[off:], mss)
		c = packet.Update16(c, w1, binary.BigEndian.Uint16(t[off-1:]))
		c = packet.Update16(c, w2, binary.BigEndian.Uint16(t[off+1:]))
	}
	t.SetChecksum(c)
}

// anyPortReply reports whether a session in the inbound chain starting at
// head is to a port whose servers may answer from another port.
func (e *Engine) anyPortReply(proto uint8, head uint32) bool {
	for i := head; i != none; {
		s := e.t.s(i)
		if e.helper.AnyPortReply(proto, s.remPort) {
			return true
		}
		i = s.inNext
	}
	return false
}
