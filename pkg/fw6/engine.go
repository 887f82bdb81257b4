package fw6

import (
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/tcpstate"
)

// Dir is where a packet came from.
type Dir uint8

const (
	FromLAN  Dir = iota // arrived on the LAN port
	FromWAN             // arrived on the WAN port
	FromSelf            // sent by the router's own stack (self0) toward the WAN
)

var dirNames = [...]string{"lan", "wan", "self"}

func (d Dir) String() string {
	if int(d) < len(dirNames) {
		return dirNames[d]
	}
	return "dir?"
}

// Verdict says what to do with a packet.
type Verdict uint8

const (
	Drop    Verdict = iota // discard; Result.Reason says why
	Forward                // send Result.Packet out of the other port (FromSelf: the WAN port)
	ToSelf                 // for the router itself: hand Result.Packet to its own stack (self0)
	Reply                  // the engine answered with an ICMPv6 error: send Result.Packet back where the packet came from
	numVerdicts
)

var verdictNames = [...]string{"drop", "forward", "to-self", "reply"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "verdict?"
}

// Result of Process. Packet is the input packet (trimmed to its payload
// length) for Forward and ToSelf, and an engine-owned buffer for Reply,
// valid until the next call into the engine.
type Result struct {
	Verdict Verdict
	Reason  Reason
	Packet  []byte
}

// Engine is one IPv6 forwarding engine between a LAN and a WAN.
type Engine struct {
	cfg   Config
	addrs Addresses

	filter   Filter
	frameMAC frameMAC

	lan       prefixSet // LAN prefixes
	lanGlobal int       // how many of them are not ULA (RFC 7084 G-3)
	delegated prefixSet
	rLAN      addrSet // router's own addresses
	rWAN      addrSet
	rGlobal   addrSet // router's global addresses, WAN first: error sources toward the WAN
	rUnicast  addrSet // router's addresses but link-local ones: global and ULA
	rOutside  addrSet // router's addresses outside the LAN and delegated prefixes (the WAN's)

	tmo  [numStates]uint32
	mss  uint16
	rule []allowRule

	now        uint32 // seconds since the clock's origin
	nowD       time.Duration
	sweep      uint32
	sweepCarry uint64

	t       *table
	perHost map[addr]uint32
	in      inboundState
	hostMax uint32

	adm     admission // inbound: the session the packet opens (firewall.go)
	pending heldSYNs
	frags   fragTable
	errs    bucket // ICMPv6 errors other than Packet Too Big
	ptb     bucket // Packet Too Big
	errIval time.Duration

	pkt   []byte
	reply [packet.IPv6MinMTU]byte
	toWAN [][]byte
	cnt   Counters

	slowOnly bool // tests: the general path only, no fast path (fast.go)
}

// allowRule is an AllowRule in the engine's form.
type allowRule struct {
	proto    uint8
	lo, hi   uint16
	host     addr
	inactive bool
}

// New returns an engine with configuration c and no addresses: nothing is
// forwarded until SetAddresses gives it a LAN prefix (RFC 7084 G-3).
func New(c Config) (*Engine, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		t:       newTable(c.MaxSessions, c.Seed^0x9e3779b97f4a7c15, c.Filtering == EndpointIndependent),
		perHost: make(map[addr]uint32),
		toWAN:   make([][]byte, 0, maxHeldSYN),
	}
	e.frags.seed = c.Seed ^ 0x6a09e667f3bcc909
	e.apply(c)
	return e, nil
}

func seconds(d time.Duration) uint32 { return uint32((d + time.Second - 1) / time.Second) }

// apply installs the parts of c that need no flushing.
func (e *Engine) apply(c Config) {
	e.cfg = c
	e.tmo[stUDP] = seconds(c.Timeouts.UDP)
	e.tmo[stICMP] = seconds(c.Timeouts.ICMP)
	e.tmo[stOther] = seconds(c.Timeouts.Other)
	e.tmo[stLong] = seconds(c.Timeouts.TCPEstablished)
	for s := range tcpstate.NumStates {
		e.tmo[s] = seconds(c.Timeouts.TCPEstablished)
		if s.Transitory() {
			e.tmo[s] = seconds(c.Timeouts.TCPTransitory)
		}
	}
	switch {
	case c.MSSClamp == MSSAuto:
		e.mss = uint16(min(c.WANMTU, c.LANMTU) - packet.IPv6HeaderLen - packet.TCPHeaderLen)
	case c.MSSClamp > 0:
		e.mss = uint16(c.MSSClamp)
	default:
		e.mss = 0
	}
	e.hostMax = uint32(c.MaxSessionsPerHost)
	if e.hostMax == 0 {
		e.hostMax = uint32(max(c.MaxSessions/4, 1))
	}
	e.rule = e.rule[:0]
	for _, r := range c.Allow {
		e.rule = append(e.rule, allowRule{proto: r.Proto, lo: r.PortStart, hi: r.PortEnd, host: fromNetip(r.Host)})
	}
	e.errIval = time.Second / time.Duration(c.ICMPErrorRate)
}

// Config returns the engine's current configuration.
func (e *Engine) Config() Config { return e.cfg }

// Addresses returns the addresses the engine forwards for.
func (e *Engine) Addresses() Addresses { return e.addrs }

// Process handles one IPv6 packet (starting at the IPv6 header) that came
// from dir. It may decrement the hop limit and clamp a TCP MSS in place.
func (e *Engine) Process(b []byte, dir Dir) Result {
	return e.ProcessHinted(b, dir, 0)
}

// ProcessHinted is Process for a packet whose batch was prefetched: h is
// what PrefetchSession (or PrefetchSessions) returned for it. The fast
// path then takes the session h names, checked against the packet's key,
// instead of hashing the key and probing the index again; a hint that
// does not match (any hint at all: stale, another packet's, the zero
// Hint) only costs that check, and the result is always Process's.
func (e *Engine) ProcessHinted(b []byte, dir Dir, h Hint) Result {
	if !e.slowOnly && e.fast(b, dir, h) {
		return Result{Verdict: Forward, Packet: e.pkt}
	}
	e.pkt = nil
	var v verdict
	switch dir {
	case FromLAN:
		v = e.fromLAN(b)
	case FromWAN:
		v = e.fromWAN(b)
	case FromSelf:
		v = e.fromSelf(b)
	default:
		v = drop(ReasonNone)
	}
	r := Result{Verdict: v.verdict(), Reason: v.reason(), Packet: e.pkt}
	e.cnt.Verdicts[r.Verdict%numVerdicts]++
	if r.Verdict == Drop || r.Verdict == Reply {
		e.cnt.Drops[r.Reason%NumReasons]++
	}
	return r
}

// verdict is the internal two-byte form of a result: the Verdict in the
// low byte and the Reason in the high byte.
type verdict uint16

func (v verdict) verdict() Verdict { return Verdict(v) }
func (v verdict) reason() Reason   { return Reason(v >> 8) }

func drop(r Reason) verdict { return verdict(Drop) | verdict(r)<<8 }

const (
	vForward = verdict(Forward)
	vToSelf  = verdict(ToSelf)
)

// pkt is a parsed packet.
type pkt struct {
	p        packet.IPv6
	src, dst addr
	ch       packet.Chain
	l4       []byte // from the upper-layer header on (empty in a later fragment)
	sp, dp   uint16 // ports; ICMPv6: type<<8|code in sp
	flags    uint8  // TCP flags
	ok4      bool   // the upper-layer header is complete enough to read sp, dp and flags
	bad      bool   // the chain is refused (chainErr, or a type 0 routing header)
	chainErr packet.ChainError
}

// badChain refuses a packet whose header chain the engine does not
// forward: an ICMPv6 Parameter Problem for the RFC 8883 limits (code 8
// too many headers, code 7 chain too long, pointing where the walk
// stopped) and for RFC 7112 (code 3), a plain drop for a malformed chain
// and a type 0 routing header (RFC 5095).
func (e *Engine) badChain(q *pkt, dir Dir) (verdict, bool) {
	if !q.bad {
		return 0, false
	}
	switch q.chainErr {
	case packet.ChainOK:
		return drop(ReasonRoutingType0), true
	case packet.ChainTooMany:
		return e.icmpError(q, dir, packet.ICMPv6ParamProblem, packet.ICMPv6TooManyExtHeaders, uint32(q.ch.Offset), ReasonExtTooMany), true
	case packet.ChainTooLong:
		return e.icmpError(q, dir, packet.ICMPv6ParamProblem, packet.ICMPv6ChainTooLong, uint32(q.ch.Offset), ReasonExtTooLong), true
	case packet.ChainFragmentIncomplete:
		return e.icmpError(q, dir, packet.ICMPv6ParamProblem, packet.ICMPv6IncompleteChain, 0, ReasonFragmentChain), true
	}
	return drop(ReasonExtHeader), true
}

// parse validates b's fixed header and walks its header chain. Only a
// packet that is not IPv6 at all is refused here; a chain the engine will
// not forward is noted in q and refused by badChain once the addresses
// show the packet is the router's to answer.
func (e *Engine) parse(b []byte, q *pkt, dir Dir) (verdict, bool) {
	p := packet.IPv6(b)
	if err := p.Check(); err != packet.IPv6OK {
		return drop(ipv6Reason(err)), false
	}
	p = p[:packet.IPv6HeaderLen+p.PayloadLen()]
	q.p = p
	q.src, q.dst = load(p[8:24]), load(p[24:40])
	switch nh := p[6]; nh {
	case packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMPv6:
		// The common case: no extension headers.
		q.ch = packet.Chain{Proto: nh, Offset: packet.IPv6HeaderLen}
	default:
		q.ch, q.chainErr = p.Walk()
		if q.chainErr != packet.ChainOK || (q.ch.Routing && q.ch.RoutingType == 0) {
			q.bad = true
			return 0, true
		}
	}
	q.l4 = p[q.ch.Offset:]
	if q.ch.LaterFragment() {
		q.l4 = nil
		return 0, true
	}
	switch proto := q.ch.Proto; {
	case proto == packet.ProtoTCP:
		if len(q.l4) >= packet.TCPHeaderLen && packet.TCP(q.l4).DataOffset() >= packet.TCPHeaderLen {
			q.sp, q.dp = packet.Ports(q.l4).Src(), packet.Ports(q.l4).Dst()
			q.flags = packet.TCP(q.l4).Flags()
			q.ok4 = true
		}
	case proto == packet.ProtoICMPv6:
		if len(q.l4) >= packet.ICMPv6HeaderLen {
			q.sp = uint16(q.l4[0])<<8 | uint16(q.l4[1])
			q.ok4 = true
		}
	case hasPorts(proto):
		if len(q.l4) >= 8 || (len(q.l4) >= 4 && proto != packet.ProtoUDP && proto != packet.ProtoUDPLite) {
			q.sp, q.dp = packet.Ports(q.l4).Src(), packet.Ports(q.l4).Dst()
			q.ok4 = true
		}
	default:
		q.ok4 = true
	}
	return 0, true
}

// SetAddresses installs the prefixes and router addresses. Sessions of LAN
// addresses no longer in a LAN prefix, and the router's own sessions of
// addresses it no longer has, are flushed (a renumbered LAN starts afresh,
// as the IPv4 side does on a new WAN lease); it returns how many.
func (e *Engine) SetAddresses(a Addresses) (int, error) {
	if err := a.validate(); err != nil {
		return 0, err
	}
	e.addrs = Addresses{
		Delegated: append([]netip.Prefix(nil), a.Delegated...),
		LAN:       append([]netip.Prefix(nil), a.LAN...),
		RouterLAN: append([]netip.Addr(nil), a.RouterLAN...),
		RouterWAN: append([]netip.Addr(nil), a.RouterWAN...),
	}
	e.lan, e.delegated = e.lan[:0], e.delegated[:0]
	e.lanGlobal = 0
	for _, p := range a.LAN {
		pf := makePrefix(p)
		e.lan = append(e.lan, pf)
		if !pf.ula {
			e.lanGlobal++
		}
	}
	for _, p := range a.Delegated {
		e.delegated = append(e.delegated, makePrefix(p))
	}
	e.rLAN, e.rWAN, e.rGlobal = e.rLAN[:0], e.rWAN[:0], e.rGlobal[:0]
	for _, r := range a.RouterLAN {
		e.rLAN = append(e.rLAN, fromNetip(r.WithZone("")))
	}
	for _, r := range a.RouterWAN {
		e.rWAN = append(e.rWAN, fromNetip(r.WithZone("")))
	}
	e.rUnicast, e.rOutside = e.rUnicast[:0], e.rOutside[:0]
	for _, set := range []addrSet{e.rWAN, e.rLAN} {
		for _, r := range set {
			cl := classify(r)
			if cl == clGlobal {
				e.rGlobal = append(e.rGlobal, r)
			}
			if cl != clLinkLocal {
				e.rUnicast = append(e.rUnicast, r)
				if !e.lan.contains(r) && !e.delegated.contains(r) {
					e.rOutside = append(e.rOutside, r)
				}
			}
		}
	}
	n := e.Flush(func(s Session) bool {
		a := fromNetip(s.LAN.Addr())
		if s.Self {
			return !e.rLAN.contains(a) && !e.rWAN.contains(a)
		}
		return !e.lan.contains(a)
	})
	e.pending.forget(func(lan addr) bool { return !e.lan.contains(lan) })
	return n, nil
}

// isRouter reports whether a is one of the router's own addresses.
func (e *Engine) isRouter(a addr) bool { return e.rWAN.contains(a) || e.rLAN.contains(a) }
