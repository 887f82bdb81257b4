// Package passthrough is passgate's VPN passthrough: the PPTP control ALG
// with enhanced-GRE call-ID aliasing, raw ESP by SPI learning, optional
// sharing of external UDP port 500 by IKE initiator SPI, relaxed reply
// filtering for L2TP, and the per-protocol switches. It plugs into the NAPT
// engine as a nat.Helper; NAT-T (UDP 4500) and IKE on its own port need no
// more than the engine's endpoint-independent UDP mapping.
//
// Like the engine, a Passthrough is driven from the engine's goroutine only.
package passthrough

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// ESPMode chooses how raw ESP (IP protocol 50) is demultiplexed.
type ESPMode uint8

const (
	// SPILearning binds each unknown inbound SPI from a server to the one
	// outbound SA toward that server that is learning (learning is
	// serialised per server, see esp.go), so several LAN hosts can use raw
	// ESP with one server.
	SPILearning ESPMode = iota
	// SingleClient allows one LAN host per server, like Linux and most
	// routers: every inbound SPI from the server goes to that host.
	SingleClient
)

func (m ESPMode) String() string {
	if m == SingleClient {
		return "single-client"
	}
	return "spi-learning"
}

// Well-known ports.
const (
	PortPPTP = 1723
	PortIKE  = 500
	PortNATT = 4500
	PortL2TP = 1701
)

// Config switches and tunes the passthrough.
type Config struct {
	PPTP  bool
	L2TP  bool
	IPsec bool

	ESPMode      ESPMode
	IKESharePort bool // share external UDP 500; route inbound IKE by initiator SPI

	GRETimeout time.Duration // idle timeout of a PPTP call's GRE (≥ 600 s)
	ESPTimeout time.Duration // idle timeout of a bound ESP SA (and shared IKE)
}

// ESPUnboundTimeout is how long an outbound ESP SA waits for its inbound SPI.
const ESPUnboundTimeout = 30 * time.Second

// DefaultConfig has every protocol enabled.
func DefaultConfig() Config {
	return Config{PPTP: true, L2TP: true, IPsec: true, ESPMode: SPILearning,
		GRETimeout: 600 * time.Second, ESPTimeout: 600 * time.Second}
}

// ProtoCounters count one protocol's passthrough traffic.
type ProtoCounters struct {
	PacketsOut, PacketsIn uint64
	BytesOut, BytesIn     uint64
	Blocked               uint64 // dropped because the switch is off
	Unmatched             uint64 // dropped: no call / SA matches
	Created, Expired      uint64 // calls or SAs
}

// traffic counts one call's, SA's or protocol's packets and bytes.
type traffic struct {
	pktsOut, pktsIn   uint64
	bytesOut, bytesIn uint64
}

func (t *traffic) out(n int) { t.pktsOut++; t.bytesOut += uint64(n) }
func (t *traffic) in(n int)  { t.pktsIn++; t.bytesIn += uint64(n) }

// countOut/countIn add a packet to a protocol's counters.
func (c *ProtoCounters) countOut(n int) { c.PacketsOut++; c.BytesOut += uint64(n) }
func (c *ProtoCounters) countIn(n int)  { c.PacketsIn++; c.BytesIn += uint64(n) }

// Counters are the passthrough's cumulative counters.
type Counters struct {
	PPTP  ProtoCounters // control messages rewritten are in PPTPRewrites; GRE packets here
	IPsec ProtoCounters // raw ESP and shared-port IKE; NAT-T is plain UDP in the NAT sessions
	L2TP  ProtoCounters // only Blocked: L2TP is plain UDP

	PPTPRewrites       uint64 // Call-ID fields rewritten in control messages
	PPTPReordered      uint64 // control segments dropped for arriving ahead of a gap
	PPTPDesync         uint64 // control streams given up as unparsable
	PPTPAliasExhausted uint64
	ESPLearned         uint64 // inbound SPIs bound by learning
	ESPConflicts       uint64 // single-client mode: a second host refused
}

// Passthrough implements nat.Helper.
type Passthrough struct {
	cfg Config
	eng *nat.Engine
	now uint32

	pptp pptpState
	esp  espState
	ike  ikeState
	cnt  Counters
}

// New attaches a passthrough with configuration c to engine e.
func New(e *nat.Engine, c Config) (*Passthrough, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	p := &Passthrough{cfg: c, eng: e, now: e.Now()}
	p.pptp.init()
	p.esp.init()
	p.ike.init()
	e.SetHelper(p)
	return p, nil
}

func (c Config) validate() error {
	if c.GRETimeout < 600*time.Second {
		return fmt.Errorf("passthrough: GRE timeout %v is below 600 s", c.GRETimeout)
	}
	if c.ESPTimeout < 60*time.Second {
		return fmt.Errorf("passthrough: ESP timeout %v is below 60 s", c.ESPTimeout)
	}
	if c.ESPMode > SingleClient {
		return fmt.Errorf("passthrough: unknown ESP mode %d", c.ESPMode)
	}
	return nil
}

// Config returns the current configuration.
func (p *Passthrough) Config() Config { return p.cfg }

// Counters returns a snapshot of the counters.
func (p *Passthrough) Counters() Counters { return p.cnt }

// SetConfig applies a new configuration at once. A protocol switched off
// is blocked from LAN to WAN from the next packet on, and its state —
// passthrough calls and SAs and the NAT sessions of its ports — is
// flushed. It returns one line per change for the user, e.g.
// "pptp passthrough disabled: 2 calls closed".
func (p *Passthrough) SetConfig(c Config) ([]string, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := p.cfg
	p.cfg = c
	var out []string
	onOff := func(b bool) string {
		if b {
			return "enabled"
		}
		return "disabled"
	}
	if old.PPTP != c.PPTP {
		msg := "pptp passthrough " + onOff(c.PPTP)
		if !c.PPTP {
			calls := p.pptp.flushAll(p)
			sess := p.flushPorts(packet.ProtoTCP, PortPPTP)
			msg += fmt.Sprintf(": %d calls closed, %d control connections dropped", calls, sess)
		}
		out = append(out, msg)
	}
	if old.L2TP != c.L2TP {
		msg := "l2tp passthrough " + onOff(c.L2TP)
		if !c.L2TP {
			msg += fmt.Sprintf(": %d sessions dropped", p.flushPorts(packet.ProtoUDP, PortL2TP))
		}
		out = append(out, msg)
	}
	if old.IPsec != c.IPsec {
		msg := "ipsec passthrough " + onOff(c.IPsec)
		if !c.IPsec {
			sas := p.esp.flushAll(p)
			ike := p.ike.flushAll()
			sess := p.flushPorts(packet.ProtoUDP, PortIKE, PortNATT)
			msg += fmt.Sprintf(": %d ESP SAs and %d IKE sessions dropped", sas, sess+ike)
		}
		out = append(out, msg)
	}
	if old.ESPMode != c.ESPMode {
		n := p.esp.flushAll(p)
		out = append(out, fmt.Sprintf("ipsec esp-mode %v: %d ESP SAs reset", c.ESPMode, n))
	}
	if old.IKESharePort != c.IKESharePort {
		n := p.ike.flushAll()
		out = append(out, fmt.Sprintf("ipsec ike-share-port %s: %d shared IKE sessions reset", onOff(c.IKESharePort), n))
	}
	return out, nil
}

// flushPorts removes the engine's sessions to any of the remote ports.
func (p *Passthrough) flushPorts(proto uint8, ports ...uint16) int {
	return p.eng.Flush(func(s nat.SessionInfo) bool {
		if s.Protocol != proto {
			return false
		}
		for _, port := range ports {
			if s.Remote.Port() == port {
				return true
			}
		}
		return false
	})
}

// Blocked implements nat.Helper: the switches.
func (p *Passthrough) Blocked(proto uint8, dport uint16) bool {
	switch {
	case proto == packet.ProtoTCP && dport == PortPPTP && !p.cfg.PPTP:
		p.cnt.PPTP.Blocked++
		return true
	case proto == packet.ProtoUDP && dport == PortL2TP && !p.cfg.L2TP:
		p.cnt.L2TP.Blocked++
		return true
	case proto == packet.ProtoUDP && (dport == PortIKE || dport == PortNATT) && !p.cfg.IPsec:
		p.cnt.IPsec.Blocked++
		return true
	}
	return false
}

// ClaimTCP implements nat.Helper: PPTP control connections.
func (p *Passthrough) ClaimTCP(dport uint16) bool { return dport == PortPPTP && p.cfg.PPTP }

// AnyPortReply implements nat.Helper: an L2TP server may answer from
// another port (RFC 2661 §8.1).
func (p *Passthrough) AnyPortReply(proto uint8, rport uint16) bool {
	return p.cfg.L2TP && proto == packet.ProtoUDP && rport == PortL2TP
}

// OutOther implements nat.Helper for GRE and ESP.
func (p *Passthrough) OutOther(ip packet.IPv4, now uint32) (nat.Verdict, nat.Reason) {
	switch ip.Protocol() {
	case packet.ProtoGRE:
		if !p.cfg.PPTP {
			p.cnt.PPTP.Blocked++
			return nat.Drop, nat.ReasonBlocked
		}
		return p.pptp.greOut(p, ip, now)
	case packet.ProtoESP:
		if !p.cfg.IPsec {
			p.cnt.IPsec.Blocked++
			return nat.Drop, nat.ReasonBlocked
		}
		return p.esp.outbound(p, ip, now)
	}
	return nat.Drop, nat.ReasonProtocol
}

// InOther implements nat.Helper for GRE and ESP.
func (p *Passthrough) InOther(ip packet.IPv4, now uint32) (uint32, nat.Verdict, nat.Reason) {
	switch ip.Protocol() {
	case packet.ProtoGRE:
		if !p.cfg.PPTP {
			p.cnt.PPTP.Blocked++
			return 0, nat.Drop, nat.ReasonBlocked
		}
		return p.pptp.greIn(p, ip, now)
	case packet.ProtoESP:
		if !p.cfg.IPsec {
			p.cnt.IPsec.Blocked++
			return 0, nat.Drop, nat.ReasonBlocked
		}
		return p.esp.inbound(p, ip, now)
	}
	return 0, nat.Drop, nat.ReasonProtocol
}

// InError implements nat.Helper: the host of an ICMP error about outbound
// GRE (by the server's Call ID, which outbound GRE carries) or ESP (by the
// SA's outbound SPI). Path-MTU discovery of raw ESP and PPTP tunnels needs
// these "fragmentation needed" errors.
func (p *Passthrough) InError(proto uint8, remote uint32, l4 []byte) (uint32, bool) {
	switch proto {
	case packet.ProtoGRE:
		g := packet.GRE(l4)
		if !g.IsPPTP() {
			return 0, false
		}
		return p.pptp.errorOwner(remote, g.CallID())
	case packet.ProtoESP:
		if len(l4) < packet.ESPHeaderLen {
			return 0, false
		}
		return p.esp.errorOwner(remote, packet.ESP(l4).SPI())
	}
	return 0, false
}

// Unclaimed implements nat.Helper: no LAN host has a PPTP control
// connection with remote (for GRE) or an ESP SA toward it (for ESP).
func (p *Passthrough) Unclaimed(proto uint8, remote uint32) bool {
	switch proto {
	case packet.ProtoGRE:
		return p.pptp.perServer[remote] == 0
	case packet.ProtoESP:
		return p.esp.servers[remote] == nil
	}
	return true
}

// ShareUDP implements nat.Helper: IKE between port 500s when sharing is on.
func (p *Passthrough) ShareUDP(sport, dport uint16) bool {
	return sport == PortIKE && dport == PortIKE && p.cfg.IKESharePort && p.cfg.IPsec
}

// Tick implements nat.Helper: expiry.
func (p *Passthrough) Tick(now uint32) {
	p.now = now
	p.pptp.expire(p, now)
	p.esp.expire(p, now)
	p.ike.expire(p, now)
}

func seconds(d time.Duration) uint32 { return uint32((d + time.Second - 1) / time.Second) }

// Clear removes the passthrough state that match selects — PPTP calls
// ("gre"), ESP SAs ("esp") and shared-port IKE SAs ("ike"), by LAN host —
// for `clear nat sessions`, and returns how many went.
func (p *Passthrough) Clear(match func(proto string, host netip.Addr) bool) int {
	n := 0
	for _, call := range p.pptp.byAlias {
		if match("gre", packet.AddrFrom4(call.host)) {
			p.pptp.removeCall(p, call)
			n++
		}
	}
	var sas []*espSA
	for _, sa := range p.esp.out {
		sas = append(sas, sa)
	}
	for _, sa := range p.esp.in {
		if sa.spiOut == 0 {
			sas = append(sas, sa)
		}
	}
	for _, sa := range sas {
		if match("esp", packet.AddrFrom4(sa.host)) {
			p.esp.remove(sa)
			n++
		}
	}
	for _, sa := range p.ike.sas {
		if match("ike", packet.AddrFrom4(sa.host)) {
			p.ike.remove(sa)
			n++
		}
	}
	return n
}
