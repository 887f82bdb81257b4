package passthrough

import (
	"encoding/binary"
	"net/netip"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/packet"
)

// PPTP (RFC 2637). The client (PNS) opens TCP 1723 to the server (PAC);
// each side picks its own Call ID, and a GRE packet's key carries the
// receiver's. Two clients behind one NAT may pick the same Call ID for one
// server, so the NAT gives each call an alias unique per server: outbound
// control messages carry the alias instead of the client's ID, inbound GRE
// (keyed by the alias) is delivered to the client with its ID restored, and
// outbound GRE (keyed by the server's ID) only needs the source address
// changed. A control connection may carry several calls.
//
// The control stream is parsed per direction as a byte stream (messages
// may span or share segments). An alias keeps the original ID's high byte
// (and equals the original when that is free for the server), so only the
// low byte of a Call-ID field (offset 13 or 15 of a message) ever changes:
// by the time that byte is seen the whole field is known, even if the field
// straddles two segments. Each rewrite is logged by sequence number so a
// retransmitted segment is rewritten the same way. Segments that arrive
// ahead of a gap are dropped (TCP resends them in order); a stream that
// stops looking like PPTP is left alone from then on.

const pptpMagic = 0x1a2b3c4d

// Control message types with Call-ID fields.
const (
	pptpOCRQ = 7  // Outgoing-Call-Request: @12 PNS call ID
	pptpOCRP = 8  // Outgoing-Call-Reply: @12 PAC call ID, @14 peer's (PNS) call ID, @16 result
	pptpICRQ = 9  // Incoming-Call-Request: @12 PAC call ID
	pptpICRP = 10 // Incoming-Call-Reply: @12 PNS call ID, @14 peer's (PAC) call ID, @16 result
	pptpICCN = 11 // Incoming-Call-Connected: @12 peer's (PNS) call ID
	pptpCCRQ = 12 // Call-Clear-Request: @12 PNS call ID
	pptpCDN  = 13 // Call-Disconnect-Notify: @12 PAC call ID
	pptpWEN  = 14 // WAN-Error-Notify: @12 peer's (PNS) call ID
	pptpSLI  = 15 // Set-Link-Info: @12 peer's call ID
)

type ctrlKey struct {
	host   uint32
	hport  uint16
	server uint32
	sport  uint16
}

type aliasKey struct {
	server uint32
	alias  uint16
}

type pacKey struct {
	host, server uint32
	pac          uint16
}

type pptpCall struct {
	ctrl              *pptpCtrl
	host, server      uint32
	orig, alias, pac  uint16
	pacKnown          bool
	created, lastSeen uint32
	traffic
}

type rewriteLog struct {
	seq      uint32
	old, new byte
	valid    bool
}

// stream is the parse state of one direction of a control connection.
type stream struct {
	next   uint32 // next expected sequence number
	synced bool   // SYN seen: next is meaningful
	bad    bool   // not PPTP (any more): pass unchanged
	pos    int    // position in the current message
	length int    // current message's length
	hdr    [17]byte
	call   *pptpCall // call created or found by this message's @12 field
	log    [16]rewriteLog
	logN   int
}

type pptpCtrl struct {
	key     ctrlKey
	out, in stream
	calls   []*pptpCall
}

type pptpState struct {
	ctrls   map[ctrlKey]*pptpCtrl
	byAlias map[aliasKey]*pptpCall
	byPAC   map[pacKey]*pptpCall
	rnd     uint32
	// The last call hit each way: a burst of one call skips the map.
	lastOut, lastIn *pptpCall
}

func (ps *pptpState) init() {
	ps.ctrls = make(map[ctrlKey]*pptpCtrl)
	ps.byAlias = make(map[aliasKey]*pptpCall)
	ps.byPAC = make(map[pacKey]*pptpCall)
	ps.rnd = 0x2545f491
}

func a4(a netip.Addr) uint32 { return packet.AddrTo4(a) }

// TCP implements nat.Helper: one segment of a PPTP control connection,
// already translated.
func (p *Passthrough) TCP(dir nat.Dir, f nat.Flow, st nat.TCPState, ip packet.IPv4, tcp packet.TCP, now uint32) (nat.Verdict, nat.Reason) {
	ps := &p.pptp
	k := ctrlKey{host: a4(f.Internal.Addr()), hport: f.Internal.Port(), server: a4(f.Remote.Addr()), sport: f.Remote.Port()}
	c := ps.ctrls[k]
	if c == nil {
		if st == nat.TCPClosed {
			return nat.Forward, 0
		}
		c = &pptpCtrl{key: k}
		ps.ctrls[k] = c
	}
	doff := tcp.DataOffset()
	if doff < packet.TCPHeaderLen || doff > len(tcp) {
		return nat.Forward, 0
	}
	s := &c.out
	if dir == nat.Inbound {
		s = &c.in
	}
	flags, seq := tcp.Flags(), tcp.Seq()
	payload := tcp[doff:]
	switch {
	case flags&packet.TCPSyn != 0:
		*s = stream{next: seq + 1, synced: true}
	case len(payload) > 0:
		if !ps.segment(p, c, dir, s, seq, tcp, doff, now) {
			p.cnt.PPTPReordered++
			return nat.Drop, nat.ReasonFiltered
		}
	}
	if flags&packet.TCPFin != 0 && s.synced && seq+uint32(len(payload)) == s.next {
		s.next++
	}
	if st == nat.TCPClosed {
		ps.closeCalls(p, c)
	}
	return nat.Forward, 0
}

// Closed implements nat.Helper: the control connection's session is gone.
func (p *Passthrough) Closed(f nat.Flow) {
	k := ctrlKey{host: a4(f.Internal.Addr()), hport: f.Internal.Port(), server: a4(f.Remote.Addr()), sport: f.Remote.Port()}
	if c := p.pptp.ctrls[k]; c != nil {
		p.pptp.closeCalls(p, c)
		delete(p.pptp.ctrls, k)
	}
}

// segment processes the payload of one segment; false means "drop it: it
// starts beyond data not seen yet".
func (ps *pptpState) segment(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, seq uint32, tcp packet.TCP, doff int, now uint32) bool {
	if !s.synced || s.bad {
		return true
	}
	payload := tcp[doff:]
	d := int32(seq - s.next)
	if d > 0 {
		return false
	}
	start := int(-d)
	if start > 0 { // a retransmission: repeat the rewrites made before
		old := min(start, len(payload))
		for i := range s.log {
			r := &s.log[i]
			if k := int32(r.seq - seq); r.valid && k >= 0 && int(k) < old && payload[k] == r.old {
				setByte(tcp, doff+int(k), r.new)
			}
		}
	}
	for i := start; i < len(payload) && !s.bad; i++ {
		ps.feed(p, c, dir, s, tcp, doff, i, seq+uint32(i), now)
	}
	if start < len(payload) {
		s.next = seq + uint32(len(payload))
	}
	return true
}

// setByte changes byte off of a TCP segment and updates its checksum.
func setByte(tcp packet.TCP, off int, v byte) {
	old := tcp[off]
	tcp[off] = v
	if off&1 == 0 {
		tcp.SetChecksum(packet.Update16(tcp.Checksum(), uint16(old)<<8, uint16(v)<<8))
	} else {
		tcp.SetChecksum(packet.Update16(tcp.Checksum(), uint16(old), uint16(v)))
	}
}

// feed parses payload byte i (sequence number seq) of direction dir.
func (ps *pptpState) feed(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, tcp packet.TCP, doff, i int, seq uint32, now uint32) {
	b := tcp[doff+i]
	if s.pos < len(s.hdr) {
		s.hdr[s.pos] = b
	}
	s.pos++
	h := s.hdr[:]
	switch s.pos {
	case 2:
		s.length = int(binary.BigEndian.Uint16(h))
		s.call = nil
		if s.length < 12 {
			s.bad = true
			p.cnt.PPTPDesync++
			return
		}
	case 8:
		if binary.BigEndian.Uint32(h[4:]) != pptpMagic {
			s.bad = true
			p.cnt.PPTPDesync++
			return
		}
	case 14, 16, 17:
		if binary.BigEndian.Uint16(h[2:]) == 1 && s.length >= s.pos {
			ps.field(p, c, dir, s, tcp, doff, i, seq, now)
		}
	}
	if s.pos >= 2 && s.pos >= s.length {
		s.pos = 0
	}
}

// field acts on a completed field of a control message: s.pos is 14 (the
// field at 12 is complete), 16 (field at 14) or 17 (result code at 16).
// Byte i is the field's low byte.
func (ps *pptpState) field(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, tcp packet.TCP, doff, i int, seq uint32, now uint32) {
	h := s.hdr[:]
	ctype := binary.BigEndian.Uint16(h[8:])
	f12 := binary.BigEndian.Uint16(h[12:])
	rewrite := func(v uint16) {
		if nb := byte(v); tcp[doff+i] != nb {
			s.log[s.logN%len(s.log)] = rewriteLog{seq: seq, old: tcp[doff+i], new: nb, valid: true}
			s.logN++
			setByte(tcp, doff+i, nb)
			p.cnt.PPTPRewrites++
		}
	}
	if dir == nat.Outbound {
		switch {
		case s.pos == 14 && (ctype == pptpOCRQ || ctype == pptpICRP):
			call := c.byOrig(f12)
			if call == nil {
				call = ps.newCall(p, c, f12, now)
			}
			if s.call = call; call != nil {
				rewrite(call.alias)
			}
		case s.pos == 14 && ctype == pptpCCRQ:
			if call := c.byOrig(f12); call != nil {
				rewrite(call.alias)
				ps.removeCall(p, call)
			}
		case s.pos == 16 && ctype == pptpICRP && s.call != nil:
			ps.setPAC(s.call, binary.BigEndian.Uint16(h[14:]))
		case s.pos == 17 && ctype == pptpICRP && s.call != nil && h[16] != 1:
			ps.removeCall(p, s.call) // the client refused the incoming call
		}
		return
	}
	switch {
	case s.pos == 14 && (ctype == pptpICCN || ctype == pptpWEN || ctype == pptpSLI):
		if call := c.byAlias(f12); call != nil {
			rewrite(call.orig)
		}
	case s.pos == 14 && ctype == pptpCDN:
		// CDN carries the server's own ID (RFC 2637 §2.13): look up, don't rewrite.
		if call := c.byPAC(f12); call != nil {
			ps.removeCall(p, call)
		}
	case s.pos == 16 && ctype == pptpOCRP:
		if call := c.byAlias(binary.BigEndian.Uint16(h[14:])); call != nil {
			ps.setPAC(call, f12)
			s.call = call
			rewrite(call.orig)
		}
	case s.pos == 17 && ctype == pptpOCRP && s.call != nil && h[16] != 1:
		ps.removeCall(p, s.call) // the server did not connect the call
	}
}

func (c *pptpCtrl) byOrig(id uint16) *pptpCall {
	for _, call := range c.calls {
		if call.orig == id {
			return call
		}
	}
	return nil
}

func (c *pptpCtrl) byAlias(id uint16) *pptpCall {
	for _, call := range c.calls {
		if call.alias == id {
			return call
		}
	}
	return nil
}

func (c *pptpCtrl) byPAC(id uint16) *pptpCall {
	for _, call := range c.calls {
		if call.pacKnown && call.pac == id {
			return call
		}
	}
	return nil
}

// newCall allocates an alias for the client's call ID orig: orig itself if
// no other call to this server uses it, else another ID with the same high
// byte; never 0.
func (ps *pptpState) newCall(p *Passthrough, c *pptpCtrl, orig uint16, now uint32) *pptpCall {
	server := c.key.server
	alias, ok := orig, orig != 0
	if ok {
		_, taken := ps.byAlias[aliasKey{server, alias}]
		ok = !taken
	}
	if !ok {
		ps.rnd = ps.rnd*1664525 + 1013904223
		start := ps.rnd >> 24
		for k := uint32(0); k < 256 && !ok; k++ {
			alias = orig&0xff00 | uint16((start+k)&0xff)
			_, taken := ps.byAlias[aliasKey{server, alias}]
			ok = alias != 0 && !taken
		}
	}
	if !ok {
		p.cnt.PPTPAliasExhausted++
		return nil
	}
	call := &pptpCall{ctrl: c, host: c.key.host, server: server, orig: orig, alias: alias, created: now, lastSeen: now}
	ps.byAlias[aliasKey{server, alias}] = call
	c.calls = append(c.calls, call)
	p.cnt.PPTP.Created++
	return call
}

func (ps *pptpState) setPAC(call *pptpCall, pac uint16) {
	if call.pacKnown {
		delete(ps.byPAC, pacKey{call.host, call.server, call.pac})
	}
	call.pac, call.pacKnown = pac, true
	ps.byPAC[pacKey{call.host, call.server, pac}] = call
}

func (ps *pptpState) removeCall(p *Passthrough, call *pptpCall) {
	if ps.lastOut == call {
		ps.lastOut = nil
	}
	if ps.lastIn == call {
		ps.lastIn = nil
	}
	delete(ps.byAlias, aliasKey{call.server, call.alias})
	if call.pacKnown {
		if ps.byPAC[pacKey{call.host, call.server, call.pac}] == call {
			delete(ps.byPAC, pacKey{call.host, call.server, call.pac})
		}
	}
	c := call.ctrl
	for i, x := range c.calls {
		if x == call {
			c.calls = append(c.calls[:i], c.calls[i+1:]...)
			break
		}
	}
	for _, s := range []*stream{&c.out, &c.in} {
		if s.call == call {
			s.call = nil
		}
	}
}

func (ps *pptpState) closeCalls(p *Passthrough, c *pptpCtrl) int {
	n := len(c.calls)
	for len(c.calls) > 0 {
		ps.removeCall(p, c.calls[0])
	}
	return n
}

func (ps *pptpState) flushAll(p *Passthrough) int {
	n := 0
	for k, c := range ps.ctrls {
		n += ps.closeCalls(p, c)
		delete(ps.ctrls, k)
	}
	return n
}

func (ps *pptpState) expire(p *Passthrough, now uint32) {
	tmo := seconds(p.cfg.GRETimeout)
	for _, call := range ps.byAlias {
		if now-call.lastSeen > tmo {
			ps.removeCall(p, call)
			p.cnt.PPTP.Expired++
		}
	}
}

// greOut: client → server GRE carries the server's call ID; only the source
// address changes (done by the engine).
func (ps *pptpState) greOut(p *Passthrough, ip packet.IPv4, now uint32) (nat.Verdict, nat.Reason) {
	g := packet.GRE(ip.Payload())
	if g.EnhancedHeaderLen() == 0 {
		p.cnt.PPTP.Unmatched++
		return nat.Drop, nat.ReasonProtocol // GRE other than PPTP's is not translated
	}
	call := ps.lastOut
	if call == nil || call.pac != g.CallID() || call.host != ip.Src() || call.server != ip.Dst() || !call.pacKnown {
		call = ps.byPAC[pacKey{ip.Src(), ip.Dst(), g.CallID()}]
	}
	if call == nil {
		p.cnt.PPTP.Unmatched++
		return nat.Drop, nat.ReasonNoSession
	}
	ps.lastOut = call
	call.lastSeen = now
	call.out(len(ip))
	p.cnt.PPTP.countOut(len(ip))
	return nat.Forward, 0
}

// greIn: server → client GRE carries the alias: deliver to the call's
// client with its own call ID restored (no GRE checksum in PPTP's GRE).
func (ps *pptpState) greIn(p *Passthrough, ip packet.IPv4, now uint32) (uint32, nat.Verdict, nat.Reason) {
	g := packet.GRE(ip.Payload())
	if g.EnhancedHeaderLen() == 0 {
		p.cnt.PPTP.Unmatched++
		return 0, nat.Drop, nat.ReasonProtocol
	}
	call := ps.lastIn
	if call == nil || call.alias != g.CallID() || call.server != ip.Src() {
		call = ps.byAlias[aliasKey{ip.Src(), g.CallID()}]
	}
	if call == nil || !call.pacKnown {
		p.cnt.PPTP.Unmatched++
		return 0, nat.Drop, nat.ReasonNoSession
	}
	g.SetCallID(call.orig)
	ps.lastIn = call
	call.lastSeen = now
	call.in(len(ip))
	p.cnt.PPTP.countIn(len(ip))
	return call.host, nat.Forward, 0
}
