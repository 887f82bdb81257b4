package passthrough

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

// FuzzEngineInvariants drives the engine and its passthrough helper with
// interleaved LAN and WAN packets of every protocol — UDP, TCP with any
// flags, ICMP echo, hairpinned traffic, a port forward, PPTP calls and
// their GRE, raw ESP with a server that answers only the SAs it was sent,
// forged ESP, GRE and TCP from the WAN, garbage — and checks after every
// step, as an attacker's victim would:
//
//   - no packet is delivered to a LAN host other than the one that owns
//     the mapping, the forward, the PPTP call or the ESP SA it belongs to;
//   - every forwarded packet is valid IPv4 for gopacket (the oracle);
//   - the session table stays within its cap;
//   - every call returns (the fuzzer's own time-out catches a hang).
func FuzzEngineInvariants(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 1, 0, 1, 2, 6, 0, 3, 1, 7, 1, 3, 1, 8, 0, 0, 0, 9, 1, 0, 0})
	f.Add([]byte{6, 0, 1, 0, 6, 1, 2, 0, 7, 0, 1, 0, 7, 1, 2, 0, 10, 0, 5, 5, 11, 0, 0, 0})
	f.Add([]byte{2, 0, 3, 4, 3, 0, 3, 0x12, 3, 1, 3, 0x04, 4, 2, 9, 0, 5, 1, 1, 1, 12, 3, 3, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		ops = ops[:min(len(ops), 4*400)]
		m := newModel(t)
		for i := 0; i+3 < len(ops); i += 4 {
			m.step(ops[i], ops[i+1], ops[i+2], ops[i+3])
		}
	})
}

// ownerKey names what an inbound packet is addressed to: a protocol and
// the external port (or ICMP identifier).
type ownerKey struct {
	proto uint8
	port  uint16
}

type endpoint struct {
	host string
	port uint16
}

type model struct {
	t *testing.T
	r *rig
	// owner is the LAN endpoint each external port was last seen mapped
	// to (and the forward's target).
	owner map[ownerKey]endpoint
	// callOwner is the LAN host behind each PPTP alias the server saw.
	callOwner map[uint16]string
	// pptp is each LAN host's control connection, once set up.
	pptp map[string]*fuzzCtrl
	// espSent is when the ESP server last received each outbound SPI. It
	// answers an SA (with the SA's inbound SPI) only within espReply of
	// the client's latest packet on it, as the far end of a tunnel does: a
	// reply a round trip after a request, or a stream whose client keeps
	// acknowledging. Server traffic on an SA the client has left for
	// longer is nothing the NAT could attribute, and SPI learning (the only
	// way to demultiplex raw ESP) does not claim to.
	espSent map[uint32]time.Duration
	// espPending are the SAs whose latest client packet the server has not
	// answered yet: it answers each before the clock moves on (a far end
	// that stays silent while its SA is used is outside what SPI learning
	// can tell apart from a forgery; docs/architecture.md says so).
	espPending map[int]bool
	// maxSessions is the table's cap.
	maxSessions int
}

type fuzzCtrl struct {
	host          string
	port, extPort uint16
	seqOut, seqIn uint32
	up            bool
}

const (
	espReply   = 2 * time.Second
	fwdExtPort = 8080
	fwdIntPort = 80
	attacker   = "198.51.100.66"
)

func newModel(t *testing.T) *model {
	r := newRig(t, func(nc *nat.Config, _ *Config) {
		nc.MaxSessions = 512
		nc.MaxSessionsPerHost = 128
		nc.PortForwards = []nat.PortForward{{Name: "web", Proto: packet.ProtoTCP, ExtStart: fwdExtPort, ExtEnd: fwdExtPort,
			Host: netip.MustParseAddr(lan3), IntStart: fwdIntPort}}
	})
	m := &model{t: t, r: r, owner: map[ownerKey]endpoint{}, callOwner: map[uint16]string{},
		pptp: map[string]*fuzzCtrl{}, espSent: map[uint32]time.Duration{}, espPending: map[int]bool{}, maxSessions: 512}
	m.owner[ownerKey{packet.ProtoTCP, fwdExtPort}] = endpoint{lan3, fwdIntPort}
	return m
}

// The ESP model: host h's SA with the server has outbound SPI espOut(h, k)
// and inbound SPI espIn(h, k), k a small generation number (rekeys).
func espOutSPI(h, k int) uint32 { return uint32(0x1000 + h*16 + k) }
func espInSPI(h, k int) uint32  { return uint32(0x2000 + h*16 + k) }

func (m *model) step(op, a, b, c byte) {
	t := m.t
	host := lans[int(a)%len(lans)]
	hi := int(a) % len(lans)
	srv := server
	if a&0x80 != 0 {
		srv = server2
	}
	sport := uint16(40000 + int(b)%8)
	dport := uint16(1 + int(c)%4)
	switch op % 13 {
	case 0: // LAN UDP out
		m.out(nattest.UDP(t, pk{Src: host, Dst: srv, SP: sport, DP: dport, Payload: []byte{op, a}}))
	case 1: // WAN UDP in, to a port somebody may own
		m.in(nattest.UDP(t, pk{Src: srv, Dst: extIP, SP: dport, DP: m.somePort(b), Payload: []byte{c}}))
	case 2: // LAN TCP out, any flags
		m.out(nattest.TCP(t, pk{Src: host, Dst: srv, SP: sport, DP: dport, Flags: tcpFlags(c), Seq: uint32(b) << 8, Ack: 1}))
	case 3: // WAN TCP in, any flags, to mappings and the forward
		port := m.somePort(b)
		if a&1 == 0 {
			port = fwdExtPort
		}
		m.in(nattest.TCP(t, pk{Src: srv, Dst: extIP, SP: dport, DP: port, Flags: tcpFlags(c), Seq: uint32(c) << 8, Ack: uint32(b)<<8 + 1}))
	case 4: // LAN ICMP echo, or a hairpin to the external address
		if b&1 == 0 {
			m.out(nattest.ICMP(t, pk{Src: host, Dst: srv, Payload: []byte{c}}, 8, uint16(c%8), 1))
		} else {
			m.out(nattest.UDP(t, pk{Src: host, Dst: extIP, SP: sport, DP: m.somePort(c), Payload: []byte{a}}))
		}
	case 5: // WAN ICMP echo reply
		m.in(nattest.ICMP(t, pk{Src: srv, Dst: extIP, Payload: []byte{c}}, 0, m.somePort(b), 1))
	case 6: // PPTP: set up the control connection, or place a call
		m.pptpStep(host, b, c)
	case 7: // GRE from the server (or an attacker) to an alias
		src := server
		if a&0x40 != 0 {
			src = attacker
		}
		key := uint16(b)<<8 | uint16(c)
		if b&1 == 0 {
			for k := range m.callOwner { // a live alias, if any
				key = k
				break
			}
		}
		m.in(gre(t, src, extIP, key, u32(uint32(c)), nil, []byte{0xff, 0x03, 0, 0x21}))
	case 8: // ESP from a LAN host on its SA (generation b%2)
		spi := espOutSPI(hi, int(b)%2)
		d, ok := m.out(esp(t, host, server, spi, uint32(c)+1))
		if ok && d.Dst() == server {
			m.espSent[spi] = m.r.now
			m.espPending[hi*2+int(b)%2] = true
		}
	case 9: // ESP from the server: only for SAs it has seen
		k := int(b) % 2
		if at, ok := m.espSent[espOutSPI(hi, k)]; ok && m.r.now-at <= espReply {
			m.inESP(server, espInSPI(hi, k), hi, c)
			delete(m.espPending, hi*2+k)
		}
	case 10: // forged ESP from the server's address or an attacker
		src := server
		if a&0x40 != 0 {
			src = attacker
		}
		spi := uint32(b)<<8 | uint32(c)
		if spi>>8 == 0x20 { // never one of the model's real inbound SPIs
			spi |= 0x10000
		}
		m.in(esp(t, src, extIP, spi, 1))
	case 11: // time passes: a little, or past every transitory timeout
		for sa := 0; sa < 2*len(lans); sa++ { // the ESP server answers first
			if m.espPending[sa] {
				m.inESP(server, espInSPI(sa/2, sa%2), sa/2, c)
				delete(m.espPending, sa)
			}
		}
		d := time.Duration(c%16) * time.Second
		if b&0x0f == 0 {
			d = time.Duration(c) * 10 * time.Second
		}
		m.r.advance(d)
	case 12: // garbage in either direction
		g := []byte{0x45, 0, 0, byte(20 + c%40), 0, 0, 0, 0, 64, b, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2}
		g = append(g, make([]byte, int(c%40))...)
		dir := nat.Inbound
		if a&1 == 0 {
			dir = nat.Outbound
			copy(g[12:], []byte{192, 168, 1, 10})
		}
		m.r.e.Translate(g, dir)
	}
	if n := m.r.e.Counters().Sessions; n > m.maxSessions {
		t.Fatalf("%d sessions, over the cap of %d", n, m.maxSessions)
	}
}

func tcpFlags(c byte) string {
	return [...]string{"S", "SA", "A", "PA", "FA", "R", "RA", "SF", "F", "", "SR", "PA", "A", "S", "SA", "U"}[c%16]
}

// somePort picks an external port: one that is mapped, when any is.
func (m *model) somePort(b byte) uint16 {
	i := int(b) % (len(m.owner) + 1)
	for k := range m.owner {
		if i == 0 {
			return k.port
		}
		i--
	}
	return uint16(1024 + int(b)*251)
}

// out translates a LAN packet, records the mapping it used and checks a
// hairpinned one's destination.
func (m *model) out(b []byte) (nattest.Decoded, bool) {
	from := orig4(packet.IPv4(b)) // Translate rewrites b in place
	hairpinCopy := append([]byte(nil), b...)
	res := m.r.e.Translate(b, nat.Outbound)
	if res.Verdict != nat.Forward {
		return nattest.Decoded{}, false
	}
	d := nattest.Oracle(m.t, res.Packet)
	if d.Src() == extIP {
		if k, ok := m.key(d, true); ok {
			m.owner[k] = from
		}
	}
	if hk, ok := inKey(packet.IPv4(hairpinCopy)); ok && isLAN(d.Dst()) { // hairpin: delivered to a LAN host
		m.checkDelivery(hk, d)
	}
	return d, true
}

// in translates a WAN packet and checks who receives it.
func (m *model) in(b []byte) {
	k, keyed := inKey(packet.IPv4(b)) // Translate rewrites b in place
	isGRE := packet.IPv4(b).Protocol() == 47
	var alias uint16
	if isGRE && len(b) >= 28 {
		alias = be16(b[20:], 6) // the key's call ID, as the server addressed it
	}
	res := m.r.e.Translate(b, nat.Inbound)
	if res.Verdict != nat.Forward {
		return
	}
	d := nattest.Oracle(m.t, res.Packet)
	if !isLAN(d.Dst()) {
		m.t.Fatalf("inbound packet forwarded to %s, not a LAN host", d.Dst())
	}
	if keyed {
		m.checkDelivery(k, d)
	}
	if isGRE {
		if want, ok := m.callOwner[alias]; !ok || want != d.Dst() {
			m.t.Fatalf("GRE for alias %d delivered to %s; the call belongs to %q", alias, d.Dst(), want)
		}
	}
}

// inESP sends the server's ESP on host hi's SA and checks it reaches hi.
func (m *model) inESP(src string, spi uint32, hi int, seq byte) {
	res := m.r.e.Translate(esp(m.t, src, extIP, spi, uint32(seq)+1), nat.Inbound)
	if res.Verdict != nat.Forward {
		return // not learned yet: a delay, never a misdelivery
	}
	d := nattest.Oracle(m.t, res.Packet)
	if d.Dst() != lans[hi] {
		m.t.Fatalf("ESP SPI %#x of %s's SA delivered to %s", spi, lans[hi], d.Dst())
	}
}

// inKey is the owner key an inbound (or hairpinned) packet is addressed
// to: its protocol and destination port, or an echo reply's identifier.
func inKey(p packet.IPv4) (ownerKey, bool) {
	if p.Dst() != packet.IPv4(extIPHeader).Dst() || p.FragOffset() != 0 {
		return ownerKey{}, false
	}
	l4 := p.Payload()
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(l4) >= 4 {
			return ownerKey{p.Protocol(), binary.BigEndian.Uint16(l4[2:])}, true
		}
	case packet.ProtoICMP:
		if len(l4) >= 8 && l4[0] == 0 {
			return ownerKey{packet.ProtoICMP, binary.BigEndian.Uint16(l4[4:])}, true
		}
	}
	return ownerKey{}, false
}

var extIPHeader = func() []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	copy(b[16:], netip.MustParseAddr(extIP).AsSlice())
	return b
}()

// checkDelivery checks that a packet sent to external key k and delivered
// as d reached the LAN endpoint that owns k.
func (m *model) checkDelivery(k ownerKey, d nattest.Decoded) {
	var to endpoint
	switch {
	case d.TCP != nil:
		to = endpoint{d.Dst(), uint16(d.TCP.DstPort)}
	case d.UDP != nil:
		to = endpoint{d.Dst(), uint16(d.UDP.DstPort)}
	case d.ICMP != nil && d.ICMP.TypeCode.Type() == 0:
		to = endpoint{d.Dst(), d.ICMP.Id}
	default:
		return // ICMP errors and the rest: the engine's own tests
	}
	if want, ok := m.owner[k]; !ok || want != to {
		m.t.Fatalf("%s to external port %d delivered to %s:%d; that port belongs to %v (known: %v)",
			protoName(k.proto), k.port, to.host, to.port, want, ok)
	}
}

// key is the owner key of a translated outbound packet (its source port).
func (m *model) key(d nattest.Decoded, _ bool) (ownerKey, bool) {
	switch {
	case d.TCP != nil:
		return ownerKey{packet.ProtoTCP, uint16(d.TCP.SrcPort)}, true
	case d.UDP != nil:
		return ownerKey{packet.ProtoUDP, uint16(d.UDP.SrcPort)}, true
	case d.ICMP != nil && d.ICMP.TypeCode.Type() == 8:
		return ownerKey{packet.ProtoICMP, d.ICMP.Id}, true
	}
	return ownerKey{}, false
}

func orig4(p packet.IPv4) endpoint {
	ep := endpoint{host: packet.AddrFrom4(p.Src()).String()}
	switch p.Protocol() {
	case packet.ProtoTCP, packet.ProtoUDP:
		ep.port = binary.BigEndian.Uint16(p.Payload()[0:])
	case packet.ProtoICMP:
		ep.port = binary.BigEndian.Uint16(p.Payload()[4:])
	}
	return ep
}

func isLAN(a string) bool {
	return netip.MustParsePrefix("192.168.1.0/24").Contains(netip.MustParseAddr(a))
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "TCP"
	case packet.ProtoUDP:
		return "UDP"
	}
	return fmt.Sprintf("protocol %d", p)
}

// pptpStep opens host's control connection, or places a call (b odd) with
// a client Call ID from b and c (the server answers with a Call ID of its
// own), recording the alias the server saw as the host's.
func (m *model) pptpStep(host string, b, c byte) {
	t := m.t
	cc := m.pptp[host]
	if cc == nil {
		cc = &fuzzCtrl{host: host, port: 41000 + uint16(len(m.pptp)), seqOut: 1000, seqIn: 9000}
		m.pptp[host] = cc
	}
	send := func(payload []byte, flags string) ([]byte, bool) {
		res := m.r.e.Translate(nattest.TCP(t, pk{Src: host, Dst: server, SP: cc.port, DP: 1723, Flags: flags, Seq: cc.seqOut, Payload: payload}), nat.Outbound)
		if res.Verdict != nat.Forward {
			return nil, false
		}
		d := nattest.Oracle(t, res.Packet)
		cc.extPort = d.SPort()
		if flags == "S" {
			cc.seqOut++
		}
		cc.seqOut += uint32(len(payload))
		return d.TCP.Payload, true
	}
	recv := func(payload []byte, flags string) ([]byte, bool) {
		res := m.r.e.Translate(nattest.TCP(t, pk{Src: server, Dst: extIP, SP: 1723, DP: cc.extPort, Flags: flags, Seq: cc.seqIn, Ack: cc.seqOut, Payload: payload}), nat.Inbound)
		if res.Verdict != nat.Forward {
			return nil, false
		}
		d := nattest.Oracle(t, res.Packet)
		if d.Dst() != host {
			t.Fatalf("PPTP control for %s delivered to %s", host, d.Dst())
		}
		if flags == "SA" {
			cc.seqIn++
		}
		cc.seqIn += uint32(len(payload))
		return d.TCP.Payload, true
	}
	if !cc.up {
		if _, ok := send(nil, "S"); !ok {
			return
		}
		if _, ok := recv(nil, "SA"); !ok {
			return
		}
		if _, ok := send(pptpMsg(1, 0, 0, 0), "PA"); !ok {
			return
		}
		if _, ok := recv(pptpMsg(2, 0, 0, 0), "PA"); !ok {
			return
		}
		cc.up = true
		return
	}
	if b&1 == 0 {
		return
	}
	wan, ok := send(pptpMsg(pptpOCRQ, uint16(c)<<8|uint16(b), 0, 0), "PA")
	if !ok || len(wan) < 14 {
		return
	}
	// The call is the requester's from the request on: the server's GRE
	// may come before its reply (or be forged), and must reach only it.
	alias := be16(wan, 12)
	m.callOwner[alias] = host
	recv(pptpMsg(pptpOCRP, uint16(b)<<8|uint16(c), alias, 1), "PA")
}
