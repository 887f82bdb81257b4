// Package wanport is the WAN port as the data plane sees it when the ISP
// wants more than plain Ethernet: an 802.1Q VLAN tag on every frame
// (added and removed here), and PPPoE session framing (RFC 2516) around
// every IPv4 packet. It wraps the real port's link.Link and is itself a
// link.Link, so the data plane, the NAT engine and the DHCP client keep
// working on untagged Ethernet frames carrying IPv4; only this package
// knows the line's framing.
//
// With PPPoE, the data plane's IPv4 frames to the WAN become PPPoE session
// frames to the access concentrator (its MAC, our session ID, PPP protocol
// 0x0021); session frames carrying IPv4 from the concentrator become
// ordinary IPv4 frames. PPPoE discovery frames (EtherType 0x8863) and PPP
// control frames (LCP, authentication, IPCP…) are handed to the PPPoE
// client (Config.Control) and never reach the data plane; the client sends
// its frames through WriteBatch, which tags them and passes them on. Until
// a session is set (SetSession), IPv4 to the WAN is dropped and counted.
//
// Costs: a frame read is changed in place (the tag or the 8 PPPoE bytes
// cut out by moving the 12 address bytes); a frame written is copied once
// into a buffer with the extra header (the link contract lets WriteBatch
// keep no reference, so the copy cannot be avoided without a headroom in
// the caller's frames). Offloads (partial checksums, super-packets) are
// not used through a tag or PPPoE: Offloads reports false and the data
// plane completes checksums and cuts super-packets before writing.
package wanport

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	"github.com/passgate/passgate/pkg/link"
)

// EtherTypes this package reads and writes.
const (
	etherIPv4       = 0x0800
	etherIPv6       = 0x86dd
	etherVLAN       = 0x8100
	etherDiscovery  = 0x8863
	etherSession    = 0x8864
	pppIPv4         = 0x0021
	pppIPv6         = 0x0057
	sessionHdrLen   = 8 // PPPoE header (6) + PPP protocol (2)
	ethHdrLen       = 14
	maxExtraHdr     = link.VLANTagLen + sessionHdrLen
	defaultPPPoEMTU = 1492
)

// Config says how the WAN line is framed.
type Config struct {
	// VLAN is the 802.1Q VLAN ID of every frame (1..4094); 0 means
	// untagged. With a VLAN, untagged frames and frames of other VLANs
	// are dropped on receive.
	VLAN uint16
	// Priority is the 802.1p priority code point (0..7) of the tags.
	Priority uint8
	// PPPoE turns session framing on: the WAN carries only PPPoE.
	PPPoE bool
	// MTU is the PPP MTU (what MTU reports in PPPoE mode); default 1492.
	MTU int
	// Control receives PPPoE discovery frames and PPP control frames of
	// the session, as untagged Ethernet frames. The frame is only valid
	// during the call, which must not block. Nil drops them.
	Control func(frame []byte)
}

// Session is an established PPPoE session.
type Session struct {
	ID uint16
	AC net.HardwareAddr // the access concentrator's MAC
	// MTU is what the peer lets us send (its MRU); 0 means Config.MTU.
	MTU int
}

// Counters of what the port dropped or handed on.
type Counters struct {
	RxWrongVLAN  uint64 // untagged frames or frames of another VLAN (VLAN mode)
	RxNotPPPoE   uint64 // frames that are neither PPPoE discovery nor session (PPPoE mode)
	RxNoSession  uint64 // session frames of another session or concentrator, or before one exists
	RxMalformed  uint64 // PPPoE headers that do not parse
	RxControl    uint64 // frames handed to Control
	TxNoSession  uint64 // IPv4 to the WAN with no PPPoE session
	TxNotCarried uint64 // frames of an EtherType the line does not carry (ARP, IPv6 over PPPoE)
	TxTooBig     uint64 // IPv4 packets larger than the session's MTU
	TxOffload    uint64 // frames with an offload (the data plane should not send any)
}

// Port is the framed WAN port.
type Port struct {
	inner link.Link
	cfg   Config
	mtu   int
	tci   uint16
	sess  atomic.Pointer[Session]

	cnt struct {
		rxWrongVLAN, rxNotPPPoE, rxNoSession, rxMalformed, rxControl atomic.Uint64
		txNoSession, txNotCarried, txTooBig, txOffload               atomic.Uint64
	}

	txMu  sync.Mutex
	txBuf []byte
	txOut []link.Frame
}

// New wraps the WAN port inner. With neither VLAN nor PPPoE configured,
// use inner itself: Port would only add a check per frame.
func New(inner link.Link, c Config) *Port {
	p := &Port{inner: inner, cfg: c, mtu: inner.MTU()}
	if c.PPPoE {
		p.mtu = c.MTU
		if p.mtu <= 0 {
			p.mtu = defaultPPPoEMTU
		}
	}
	p.tci = uint16(c.Priority&7)<<13 | c.VLAN&0x0fff
	return p
}

// SetSession installs the PPPoE session frames are carried in; nil ends
// it (IPv4 to the WAN is then dropped until the next).
func (p *Port) SetSession(s *Session) {
	if s != nil {
		c := *s
		c.AC = append(net.HardwareAddr(nil), s.AC...)
		s = &c
	}
	p.sess.Store(s)
}

// Counters returns the port's own counters (the link's are in Stats).
func (p *Port) Counters() Counters {
	return Counters{
		RxWrongVLAN: p.cnt.rxWrongVLAN.Load(), RxNotPPPoE: p.cnt.rxNotPPPoE.Load(),
		RxNoSession: p.cnt.rxNoSession.Load(), RxMalformed: p.cnt.rxMalformed.Load(),
		RxControl: p.cnt.rxControl.Load(), TxNoSession: p.cnt.txNoSession.Load(),
		TxNotCarried: p.cnt.txNotCarried.Load(), TxTooBig: p.cnt.txTooBig.Load(),
		TxOffload: p.cnt.txOffload.Load(),
	}
}

// Offloads implements link.Link: false; see the package documentation.
func (p *Port) Offloads() bool { return false }

// MTU implements link.Link: the PPP MTU in PPPoE mode, else the port's.
func (p *Port) MTU() int { return p.mtu }

// MAC implements link.Link.
func (p *Port) MAC() net.HardwareAddr { return p.inner.MAC() }

// Name implements link.Link.
func (p *Port) Name() string { return p.inner.Name() }

// Stats implements link.Link: the port's counters.
func (p *Port) Stats() link.Stats { return p.inner.Stats() }

// Close implements link.Link.
func (p *Port) Close() error { return p.inner.Close() }

// Inner returns the wrapped link.
func (p *Port) Inner() link.Link { return p.inner }

func etherType(b []byte) uint16 { return binary.BigEndian.Uint16(b[12:14]) }
