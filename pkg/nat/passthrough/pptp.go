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
// stops looking like PPTP is left alone from then on, and a message shorter
// than its structure is passed without being acted on.
//
// A LAN host must not get another's GRE. A request that would create a
// call (Outgoing-Call-Request, Incoming-Call-Reply) when no alias is free
// or a limit is reached (pptp_calls.go) is held back: the segment is
// dropped from that message on and the decision is taken again when TCP
// resends it. It never goes out with the client's own ID, which may be
// another call's alias. A Call-Clear-Request for a call the connection does
// not have never carries another connection's alias either.
//
// A forged WAN packet must not break a control connection. Only the
// 5-tuple is public, so a reset tears down the calls only if its sequence
// number lies between the receiver's last acknowledgment and what the
// sender has sent (RFC 5961 §3: a real reset is sent at the receiver's
// next expected byte), and a SYN on a live connection changes nothing
// (RFC 5961 §4). Both are still passed on: the endpoints judge them too.

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

type rewriteLog struct {
	seq      uint32
	old, new byte
	valid    bool
}

// stream is the parse state of one direction of a control connection.
type stream struct {
	first  uint32 // sequence number of the stream's first byte (ISN+1)
	next   uint32 // next expected sequence number
	una    uint32 // the peer's acknowledgment: una..next is in flight
	synced bool   // SYN seen: next is meaningful
	synAck bool   // (inbound) the SYN-ACK acknowledged the client's SYN
	fin    bool   // FIN seen in sequence
	data   bool   // payload seen
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
	calls   []*pptpCall // at most pptpMaxCallsPerCtrl
	closed  bool        // reset or FIN both ways seen: a SYN may start it again
}

type pptpState struct {
	ctrls   map[ctrlKey]*pptpCtrl
	byAlias map[aliasKey]*pptpCall
	byPAC   map[pacKey]*pptpCall
	// pacOwners counts the calls to each (server, server Call ID): ICMP
	// errors about outbound GRE name no host, so they go to a call only
	// when it is the one call with that ID.
	pacOwners map[aliasKey]ownerRef[pptpCall]
	perServer map[uint32]int // control connections per server
	perHost   map[uint32]int // calls per LAN host
	rnd       uint32
	// The last call hit each way: a burst of one call skips the map.
	lastOut, lastIn *pptpCall
	expiry          lruList[pptpCall]
	lim             PPTPLimitCounters
}

func (ps *pptpState) init() {
	ps.ctrls = make(map[ctrlKey]*pptpCtrl)
	ps.byAlias = make(map[aliasKey]*pptpCall)
	ps.byPAC = make(map[pacKey]*pptpCall)
	ps.pacOwners = make(map[aliasKey]ownerRef[pptpCall])
	ps.perServer = make(map[uint32]int)
	ps.perHost = make(map[uint32]int)
	ps.rnd = 0x2545f491
	ps.expiry = lruList[pptpCall]{links: func(c *pptpCall) *lruLinks[pptpCall] { return &c.links }}
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
		ps.perServer[k.server]++
	}
	doff := tcp.DataOffset()
	if doff < packet.TCPHeaderLen || doff > len(tcp) {
		return nat.Forward, 0
	}
	s, peer := &c.out, &c.in
	if dir == nat.Inbound {
		s, peer = &c.in, &c.out
	}
	flags, seq := tcp.Flags(), tcp.Seq()
	ack := binary.BigEndian.Uint32(tcp[8:]) // the header is complete: doff ≥ 20
	payload := tcp[doff:]
	if flags&packet.TCPAck != 0 {
		peer.acked(ack)
	}
	switch {
	case flags&packet.TCPRst != 0:
		// RFC 5961 §3: a reset counts only at a sequence number its receiver
		// can expect — here, between what the receiver acknowledged and what
		// the sender has sent. Any other is passed on (the endpoint judges it
		// too) but does not tear down the calls.
		if s.synced && s.inFlight(seq) {
			ps.closeCtrl(p, c)
		} else if s.synced {
			ps.lim.IgnoredRST++
		}
		return nat.Forward, 0
	case flags&packet.TCPSyn != 0:
		if !ps.syn(c, dir, flags, seq, ack) {
			ps.lim.IgnoredSYN++
		}
	case len(payload) > 0 && dir == nat.Outbound && !s.synced:
		// Picked up without its SYN (after a restart, or once the NAT
		// session expired): what it carries cannot be checked, so it does
		// not go out; the client will connect again.
		ps.lim.Unsynced++
		return nat.Drop, nat.ReasonNoSession
	case len(payload) > 0:
		if v, r := ps.segment(p, c, dir, s, seq, tcp, doff, now); v != nat.Forward {
			return v, r
		}
	}
	if flags&packet.TCPFin != 0 {
		if !s.synced {
			s.fin = true
		} else if seq+uint32(len(payload)) == s.next {
			s.next++
			s.fin = true
		}
		if c.out.fin && c.in.fin {
			ps.closeCtrl(p, c)
		}
	}
	return nat.Forward, 0
}

// syn handles a SYN of the control connection and reports whether it was
// expected. The client's SYN starts the outbound stream (again, once the
// connection was closed); the server's SYN-ACK starts the inbound one. A
// SYN on a live connection changes nothing (RFC 5961 §4): it is either a
// retransmission or forged.
func (ps *pptpState) syn(c *pptpCtrl, dir nat.Dir, flags uint8, seq, ack uint32) bool {
	if dir == nat.Outbound {
		switch {
		case flags&packet.TCPAck != 0:
			return false // control connections are opened from the LAN
		case c.out.synced && !c.closed:
			return seq+1 == c.out.next
		}
		c.out = stream{first: seq + 1, next: seq + 1, una: seq + 1, synced: true}
		c.in = stream{}
		c.closed = false
		return true
	}
	if flags&packet.TCPAck == 0 || !c.out.synced || c.closed {
		return false
	}
	valid := ack == c.out.next
	// The first SYN-ACK is taken; during the handshake, one that
	// acknowledges the client's SYN replaces one that did not (forged
	// before the server's own).
	if !c.in.synced || (!c.in.synAck && valid && seq+1 != c.in.next && !c.out.data && !c.in.data) {
		c.in = stream{first: seq + 1, next: seq + 1, una: seq + 1, synced: true, synAck: valid}
		return true
	}
	return seq+1 == c.in.next
}

// acked takes the peer's acknowledgment number for this stream if it lies
// between the last one and what was sent.
func (s *stream) acked(ack uint32) {
	if s.synced && ack-s.una <= s.next-s.una {
		s.una = ack
	}
}

// inFlight reports whether seq lies between the peer's acknowledgment and
// the next sequence number expected (both included).
func (s *stream) inFlight(seq uint32) bool { return seq-s.una <= s.next-s.una }

// closeCtrl ends a control connection seen to close (a reset or FIN both
// ways): its calls go. Its streams are still followed (a reset the
// endpoint ignored leaves it open), and a new SYN may start it again.
func (ps *pptpState) closeCtrl(p *Passthrough, c *pptpCtrl) {
	c.closed = true
	ps.closeCalls(p, c)
}

// Closed implements nat.Helper: the control connection's session is gone.
func (p *Passthrough) Closed(f nat.Flow) {
	k := ctrlKey{host: a4(f.Internal.Addr()), hport: f.Internal.Port(), server: a4(f.Remote.Addr()), sport: f.Remote.Port()}
	if c := p.pptp.ctrls[k]; c != nil {
		p.pptp.closeCalls(p, c)
		p.pptp.forget(k)
	}
}

// segment processes the payload of one segment; a Drop verdict means
// "drop it": it starts beyond data not seen yet, or it carries a request
// that cannot go out now (a call refused; TCP will resend it).
func (ps *pptpState) segment(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, seq uint32, tcp packet.TCP, doff int, now uint32) (nat.Verdict, nat.Reason) {
	if !s.synced {
		return nat.Forward, 0
	}
	payload := tcp[doff:]
	d := int32(seq - s.next)
	if d < 0 && uint32(-d) > s.next-s.first {
		// It starts before the stream's first byte: no retransmission does.
		// (Passing it unparsed would let a SYN the server never saw
		// make every later segment look like old data.)
		p.cnt.PPTPReordered++
		return nat.Drop, nat.ReasonFiltered
	}
	if s.bad { // not parsed, but followed: resets are judged by it
		if d <= 0 && int64(d)+int64(len(payload)) > 0 {
			s.next = seq + uint32(len(payload))
			s.data = true
		}
		return nat.Forward, 0
	}
	if d > 0 {
		p.cnt.PPTPReordered++
		return nat.Drop, nat.ReasonFiltered
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
		if r := ps.feed(p, c, dir, s, tcp, doff, i, seq+uint32(i), now); r != nat.ReasonNone {
			// Hold the segment back from byte i on: the bytes before it
			// were parsed (and any rewrites logged for the retransmission);
			// byte i is parsed again when it comes back.
			s.next = seq + uint32(i)
			return nat.Drop, r
		}
	}
	if start < len(payload) {
		s.next = seq + uint32(len(payload))
		s.data = true
	}
	return nat.Forward, 0
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

// feed parses payload byte i (sequence number seq) of direction dir. A
// reason other than ReasonNone refuses the byte: the parse state is left
// as it was before it.
func (ps *pptpState) feed(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, tcp packet.TCP, doff, i int, seq uint32, now uint32) nat.Reason {
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
			return nat.ReasonNone
		}
	case 8:
		if binary.BigEndian.Uint32(h[4:]) != pptpMagic {
			s.bad = true
			p.cnt.PPTPDesync++
			return nat.ReasonNone
		}
	case 14, 16, 17:
		if binary.BigEndian.Uint16(h[2:]) == 1 {
			if r := ps.field(p, c, dir, s, tcp, doff, i, seq, now); r != nat.ReasonNone {
				s.pos--
				return r
			}
		}
	}
	if s.pos >= 2 && s.pos >= s.length {
		s.pos = 0
	}
	return nat.ReasonNone
}

// pptpMinLen is each control message's structure length (RFC 2637 §2);
// shorter messages are skipped, as Linux does. 0: no Call-ID fields.
var pptpMinLen = [16]int{pptpOCRQ: 168, pptpOCRP: 32, pptpICRQ: 220, pptpICRP: 24, pptpICCN: 28,
	pptpCCRQ: 16, pptpCDN: 148, pptpWEN: 40, pptpSLI: 24}

// field acts on a completed field of a control message: s.pos is 14 (the
// field at 12 is complete), 16 (field at 14) or 17 (result code at 16).
// Byte i is the field's low byte. A reason other than ReasonNone means the
// message cannot go out (now).
func (ps *pptpState) field(p *Passthrough, c *pptpCtrl, dir nat.Dir, s *stream, tcp packet.TCP, doff, i int, seq uint32, now uint32) nat.Reason {
	h := s.hdr[:]
	ctype := binary.BigEndian.Uint16(h[8:])
	if ctype >= uint16(len(pptpMinLen)) || pptpMinLen[ctype] == 0 || s.length < pptpMinLen[ctype] {
		return nat.ReasonNone
	}
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
				var r nat.Reason
				if call, r = ps.newCall(p, c, f12, now); call == nil {
					// No alias of ours to give: the request must not go out
					// with the client's ID, which may be another call's alias.
					return r
				}
			}
			s.call = call
			rewrite(call.alias)
		case s.pos == 14 && ctype == pptpCCRQ:
			if call := c.byOrig(f12); call != nil {
				rewrite(call.alias)
				ps.removeCall(p, call)
			} else if other := ps.byAlias[aliasKey{c.key.server, f12}]; other != nil && other.ctrl != c {
				// A call we do not know, with the ID of another connection's
				// call: clear nothing of theirs.
				v, ok := ps.freeAlias(c.key.server, f12)
				if !ok {
					p.cnt.PPTPAliasExhausted++
					return nat.ReasonPortsExhausted
				}
				rewrite(v)
			}
		case s.pos == 16 && ctype == pptpICRP && s.call != nil:
			ps.setPAC(s.call, binary.BigEndian.Uint16(h[14:]))
		case s.pos == 17 && ctype == pptpICRP && s.call != nil && h[16] != 1:
			ps.removeCall(p, s.call) // the client refused the incoming call
		}
		return nat.ReasonNone
	}
	switch {
	case s.pos == 14 && (ctype == pptpICCN || ctype == pptpWEN || ctype == pptpSLI):
		if call := ps.byAliasOf(c, f12); call != nil {
			rewrite(call.orig)
		}
	case s.pos == 14 && ctype == pptpCDN:
		// CDN carries the server's own ID (RFC 2637 §2.13): look up, don't rewrite.
		if call := c.byPAC(f12); call != nil {
			ps.removeCall(p, call)
		}
	case s.pos == 16 && ctype == pptpOCRP:
		if call := ps.byAliasOf(c, binary.BigEndian.Uint16(h[14:])); call != nil {
			ps.setPAC(call, f12)
			s.call = call
			rewrite(call.orig)
		}
	case s.pos == 17 && ctype == pptpOCRP && s.call != nil && h[16] != 1:
		ps.removeCall(p, s.call) // the server did not connect the call
	}
	return nat.ReasonNone
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
	if call.lastSeen != now { // at most once a second per call
		ps.seen(call, now)
	}
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
	if call.lastSeen != now { // at most once a second per call
		ps.seen(call, now)
	}
	call.in(len(ip))
	p.cnt.PPTP.countIn(len(ip))
	return call.host, nat.Forward, 0
}
