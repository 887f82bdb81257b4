package nat

import (
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/tcpstate"
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

// Result of Translate. Packet may point into engine-owned buffers and is
// valid until the next call into the engine; so are the further packets
// (fragments) of More.
//
// The result is three fields of 32 bytes on purpose: Go's compiler keeps a
// struct of at most four fields and 32 bytes in registers. A larger one
// (with the fragments it was 56 bytes) lives in memory in every caller,
// written with narrow stores and copied with wide loads the CPU cannot
// forward from its store buffer, about 6 ns a packet on amd64.
type Result struct {
	Verdict Verdict
	Reason  Reason
	Packet  []byte
}

// More returns further packets going the same way as the last Translate's
// Packet: the fragments of an oversize packet, or held fragments released
// with it. The slice and its packets are valid until the next call into
// the engine.
func (e *Engine) More() [][]byte { return e.more }

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

	t        *table
	helper   Helper
	filter   Filter
	frameMAC frameMAC
	mtu      [maxMTUEvents]MTUEvent
	perHost  map[uint32]uint32
	in       inboundState // sessions opened from the WAN (session.go)
	hostMax  uint32
	rng      uint64
	ipID     uint16

	pending pendingSYNs
	frags   fragTable

	pkt     []byte   // the packet to send, when the verdict has one
	more    [][]byte // further packets (points at moreBuf or frags.out)
	moreBuf [][]byte
	reply   [576]byte
	toWAN   [][]byte
	cnt     Counters

	lastForwardFlush int
	slowOnly         bool   // tests: every packet takes the general path (fast.go)
	fastIdx          uint32 // the session the last Translate's fast path forwarded, or none (offload.go)
	fastDir          Dir
	offEnded         []OffloadEnd // sessions whose offloaded directions must leave the kernel
	sink             uint32       // keeps Prefetch's loads alive
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
		fastIdx: none,
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
	for s := range tcpstate.NumStates {
		e.tmo[s] = seconds(c.Timeouts.TCPEstablished)
		if s.Transitory() {
			e.tmo[s] = seconds(c.Timeouts.TCPTransitory)
		}
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
