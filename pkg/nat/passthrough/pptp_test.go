package passthrough

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// pptpMsg builds a PPTP control message of its RFC 2637 length with the
// Call-ID fields at 12 and 14 and the result code at 16.
func pptpMsg(ctype uint16, f12, f14 uint16, result byte) []byte {
	length := map[uint16]int{1: 156, 2: 156, 5: 16, 6: 20, 7: 168, 8: 32, 9: 220, 10: 24, 11: 28, 12: 16, 13: 148, 14: 40, 15: 24}[ctype]
	b := make([]byte, length)
	binary.BigEndian.PutUint16(b[0:], uint16(length))
	binary.BigEndian.PutUint16(b[2:], 1)
	binary.BigEndian.PutUint32(b[4:], pptpMagic)
	binary.BigEndian.PutUint16(b[8:], ctype)
	if length >= 14 {
		binary.BigEndian.PutUint16(b[12:], f12)
	}
	if length >= 16 && ctype != pptpCCRQ && ctype != 5 {
		binary.BigEndian.PutUint16(b[14:], f14)
	}
	if length >= 17 && (ctype == pptpOCRP || ctype == pptpICRP) {
		b[16] = result
	}
	return b
}

// ctrl is one PPTP control connection driven through the rig.
type ctrl struct {
	r       *rig
	host    string
	port    uint16
	seqOut  uint32 // client's next sequence number
	seqIn   uint32 // server's next sequence number
	extPort uint16
}

func openCtrl(r *rig, host string, port uint16) *ctrl {
	c := &ctrl{r: r, host: host, port: port, seqOut: 1000, seqIn: 9000}
	d := r.must(nat.Outbound, nattest.TCP(r.t, pk{Src: host, Dst: server, SP: port, DP: 1723, Flags: "S", Seq: c.seqOut}), nat.Forward)
	c.extPort = d.SPort()
	c.seqOut++
	r.must(nat.Inbound, nattest.TCP(r.t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "SA", Seq: c.seqIn}), nat.Forward)
	c.seqIn++
	c.send(pptpMsg(1, 0, 0, 0))
	c.recv(pptpMsg(2, 0, 0, 0))
	return c
}

// send carries payload from the client in one segment and returns what the
// server receives.
func (c *ctrl) send(payload []byte) []byte {
	c.r.t.Helper()
	d := c.r.must(nat.Outbound, nattest.TCP(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "PA", Seq: c.seqOut, Payload: payload}), nat.Forward)
	c.seqOut += uint32(len(payload))
	return d.TCP.Payload
}

// recv carries payload from the server and returns what the client receives.
func (c *ctrl) recv(payload []byte) []byte {
	c.r.t.Helper()
	d := c.r.must(nat.Inbound, nattest.TCP(c.r.t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "PA", Seq: c.seqIn, Payload: payload}), nat.Forward)
	if d.Dst() != c.host {
		c.r.t.Fatalf("control reply went to %s, want %s", d.Dst(), c.host)
	}
	c.seqIn += uint32(len(payload))
	return d.TCP.Payload
}

func (c *ctrl) close() {
	c.r.must(nat.Outbound, nattest.TCP(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "FA", Seq: c.seqOut}), nat.Forward)
	c.r.must(nat.Inbound, nattest.TCP(c.r.t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "FA", Seq: c.seqIn}), nat.Forward)
}

// call sets up an outgoing call with client call ID id; the server answers
// with its own call ID pac. It returns the alias the server saw.
func (c *ctrl) call(id, pac uint16) uint16 {
	c.r.t.Helper()
	wan := c.send(pptpMsg(pptpOCRQ, id, 0, 0))
	alias := be16(wan, 12)
	lan := c.recv(pptpMsg(pptpOCRP, pac, alias, 1))
	if be16(lan, 14) != id || be16(lan, 12) != pac {
		c.r.t.Fatalf("Outgoing-Call-Reply reached the client with peer call %d (want %d), call %d (want %d)", be16(lan, 14), id, be16(lan, 12), pac)
	}
	return alias
}

// greRoundTrip checks GRE both ways for a call: the client's GRE (keyed by
// the server's call ID) leaves unchanged but for the source address; the
// server's GRE (keyed by the alias) reaches the client with its own ID.
func (c *ctrl) greRoundTrip(id, pac, alias uint16, n uint32) {
	r := c.r
	r.t.Helper()
	// PPP in HDLC-like framing carrying an IPv4 ping inside the tunnel.
	inner := nattest.ICMP(r.t, pk{Src: "192.168.50.2", Dst: "192.168.50.1", Payload: []byte(c.host)}, 8, uint16(n), 1)
	payload := append([]byte{0xff, 0x03, 0x00, 0x21}, inner...)
	d := r.must(nat.Outbound, gre(r.t, c.host, server, pac, u32(n), u32(n+100), payload), nat.Forward)
	g := greOf(r.t, d)
	if d.Src() != extIP || uint16(g.Key) != pac || g.Seq != n || g.Ack != n+100 || !bytes.Equal(g.Payload, payload) {
		r.t.Fatalf("outbound GRE changed: src %s key %d seq %d ack %d", d.Src(), uint16(g.Key), g.Seq, g.Ack)
	}
	d = r.must(nat.Inbound, gre(r.t, server, extIP, alias, u32(n+7), nil, payload), nat.Forward)
	g = greOf(r.t, d)
	if d.Dst() != c.host || uint16(g.Key) != id || g.Key>>16 != uint32(len(payload)) || g.Seq != n+7 || !bytes.Equal(g.Payload, payload) {
		r.t.Fatalf("inbound GRE: to %s key %d (want %s key %d)", d.Dst(), uint16(g.Key), c.host, id)
	}
	// Acknowledgement-only packets (S=0, A=1) both ways.
	d = r.must(nat.Inbound, gre(r.t, server, extIP, alias, nil, u32(n), nil), nat.Forward)
	if g = greOf(r.t, d); d.Dst() != c.host || uint16(g.Key) != id || !g.AckPresent || g.SeqPresent {
		r.t.Fatalf("inbound ack-only GRE not translated")
	}
	r.must(nat.Outbound, gre(r.t, c.host, server, pac, nil, u32(n), nil), nat.Forward)
}

func TestPPTPThreeClientsOneServerSameCallID(t *testing.T) {
	r := newRig(t, nil)
	const id = 0x4a2c // every client picked the same Call ID
	var ctrls []*ctrl
	aliases := map[uint16]string{}
	for i, h := range lans {
		c := openCtrl(r, h, 40000)
		alias := c.call(id, uint16(i*128)) // server call IDs 0, 128, 256: 0 is valid
		if alias == 0 {
			t.Fatal("alias 0 allocated")
		}
		if prev, ok := aliases[alias]; ok {
			t.Fatalf("alias %d given to %s and %s", alias, prev, h)
		}
		aliases[alias] = h
		if i == 0 && alias != id {
			t.Fatalf("first client's free call ID %d was rewritten to %d", id, alias)
		}
		ctrls = append(ctrls, c)
	}
	alias := func(i int) uint16 {
		for a, h := range aliases {
			if h == lans[i] {
				return a
			}
		}
		return 0
	}
	for n := uint32(1); n <= 3; n++ {
		for i, c := range ctrls {
			c.greRoundTrip(id, uint16(i*128), alias(i), n)
		}
	}
	if got := len(r.p.Sessions()); got != 6 { // 3 GRE calls + 3 control connections
		t.Fatalf("%d passthrough sessions listed, want 6", got)
	}
	// Client 1 hangs up: Call-Clear-Request carries the alias on the WAN.
	wan := ctrls[0].send(pptpMsg(pptpCCRQ, id, 0, 0))
	if be16(wan, 12) != alias(0) {
		t.Fatalf("Call-Clear-Request carried %d, want alias %d", be16(wan, 12), alias(0))
	}
	ctrls[0].close()
	r.mustDrop(nat.Inbound, gre(t, server, extIP, alias(0), u32(9), nil, []byte("x")), nat.ReasonNoSession)
	// The others keep working.
	ctrls[1].greRoundTrip(id, 128, alias(1), 10)
	ctrls[2].greRoundTrip(id, 256, alias(2), 10)
	// The server disconnects client 2's call: CDN carries its own ID.
	lan := ctrls[1].recv(pptpMsg(pptpCDN, 128, 0, 0))
	if be16(lan, 12) != 128 {
		t.Fatal("Call-Disconnect-Notify was rewritten")
	}
	r.mustDrop(nat.Inbound, gre(t, server, extIP, alias(1), u32(11), nil, []byte("x")), nat.ReasonNoSession)
	r.mustDrop(nat.Outbound, gre(t, lan2, server, 128, u32(11), nil, []byte("x")), nat.ReasonNoSession)
	ctrls[2].greRoundTrip(id, 256, alias(2), 11)
	// Client 3's control connection closes: its call goes with it.
	ctrls[2].close()
	r.mustDrop(nat.Inbound, gre(t, server, extIP, alias(2), u32(12), nil, []byte("x")), nat.ReasonNoSession)
	if c := r.p.Counters(); c.PPTP.Created != 3 || c.PPTPRewrites == 0 {
		t.Fatalf("counters %+v", c.PPTP)
	}
}

func TestPPTPSeveralCallsOnOneControlConnection(t *testing.T) {
	r := newRig(t, nil)
	c1 := openCtrl(r, lan1, 40000)
	c2 := openCtrl(r, lan2, 40000)
	a1 := c1.call(7, 1)
	a2 := c1.call(8, 2)
	a3 := c2.call(7, 3)
	if a1 == a3 || a1 == a2 {
		t.Fatalf("aliases %d %d %d not unique per server", a1, a2, a3)
	}
	c1.greRoundTrip(7, 1, a1, 1)
	c1.greRoundTrip(8, 2, a2, 1)
	c2.greRoundTrip(7, 3, a3, 1)
	c1.send(pptpMsg(pptpCCRQ, 8, 0, 0))
	c1.greRoundTrip(7, 1, a1, 2)
	r.mustDrop(nat.Inbound, gre(t, server, extIP, a2, nil, u32(1), nil), nat.ReasonNoSession)
}

func TestPPTPIncomingCall(t *testing.T) {
	r := newRig(t, nil)
	c1 := openCtrl(r, lan1, 40000)
	c2 := openCtrl(r, lan2, 40000)
	var aliases []uint16
	for _, c := range []*ctrl{c1, c2} {
		c.recv(pptpMsg(pptpICRQ, 55, 0, 0))
		wan := c.send(pptpMsg(pptpICRP, 300, 55, 1)) // both clients pick 300
		if be16(wan, 14) != 55 {
			t.Fatal("peer call ID (the server's) was rewritten")
		}
		alias := be16(wan, 12)
		lan := c.recv(pptpMsg(pptpICCN, alias, 0, 0))
		if be16(lan, 12) != 300 {
			t.Fatalf("Incoming-Call-Connected reached the client with %d, want 300", be16(lan, 12))
		}
		aliases = append(aliases, alias)
	}
	if aliases[0] == aliases[1] {
		t.Fatal("incoming calls share an alias")
	}
	c1.greRoundTrip(300, 55, aliases[0], 1)
	c2.greRoundTrip(300, 55, aliases[1], 1)
	// WAN-Error-Notify and Set-Link-Info carry the alias inbound.
	if lan := c2.recv(pptpMsg(pptpWEN, aliases[1], 0, 0)); be16(lan, 12) != 300 {
		t.Fatal("WAN-Error-Notify not de-aliased")
	}
	if lan := c2.recv(pptpMsg(pptpSLI, aliases[1], 0, 0)); be16(lan, 12) != 300 {
		t.Fatal("inbound Set-Link-Info not de-aliased")
	}
	if wan := c2.send(pptpMsg(pptpSLI, 55, 0, 0)); be16(wan, 12) != 55 {
		t.Fatal("outbound Set-Link-Info (the server's ID) was rewritten")
	}
}

func TestPPTPFailedCallIsForgotten(t *testing.T) {
	r := newRig(t, nil)
	c := openCtrl(r, lan1, 40000)
	wan := c.send(pptpMsg(pptpOCRQ, 9, 0, 0))
	c.recv(pptpMsg(pptpOCRP, 1, be16(wan, 12), 2)) // result 2: general error
	r.mustDrop(nat.Outbound, gre(t, lan1, server, 1, u32(1), nil, []byte("x")), nat.ReasonNoSession)
}

// Control messages may span segments and share them; the split may fall
// inside a Call-ID field. Retransmissions get the same rewrite.
func TestPPTPStreamSegmentation(t *testing.T) {
	r := newRig(t, nil)
	other := openCtrl(r, lan2, 40000)
	other.call(0x1111, 1) // takes 0x1111 so the next client's 0x1111 must be aliased
	c := openCtrl(r, lan1, 40001)
	// Outgoing-Call-Request split after byte 13 (inside the Call-ID field),
	// sent with an Echo-Request in the same first segment.
	msg := append(pptpMsg(5, 0, 0, 0), pptpMsg(pptpOCRQ, 0x1111, 0, 0)...)
	cut := 16 + 13
	segs := [][]byte{msg[:cut], msg[cut:]}
	var wan []byte
	for _, s := range segs {
		wan = append(wan, c.send(s)...)
	}
	alias := be16(wan, 16+12)
	if alias == 0x1111 || alias>>8 != 0x11 {
		t.Fatalf("alias %#x: must differ from the taken 0x1111 (and keep its high byte)", alias)
	}
	if !bytes.Equal(wan[:16], msg[:16]) || !bytes.Equal(wan[16+14:], msg[16+14:]) {
		t.Fatal("bytes other than the Call ID changed")
	}
	// Retransmit the second segment: the same rewrite again.
	d := r.must(nat.Outbound, nattest.TCP(t, pk{Src: lan1, Dst: server, SP: 40001, DP: 1723, Flags: "PA", Seq: c.seqOut - uint32(len(segs[1])), Payload: segs[1]}), nat.Forward)
	if !bytes.Equal(d.TCP.Payload, wan[cut:]) {
		t.Fatalf("retransmission rewritten differently")
	}
	// The reply, split after byte 15 (inside the peer-call-ID field) and
	// coalesced with the next message.
	reply := append(pptpMsg(pptpOCRP, 77, alias, 1), pptpMsg(6, 0, 0, 0)...)
	lan := append(c.recv(reply[:15]), c.recv(reply[15:])...)
	if be16(lan, 14) != 0x1111 || be16(lan, 12) != 77 {
		t.Fatalf("split reply de-aliased to %#x", be16(lan, 14))
	}
	c.greRoundTrip(0x1111, 77, alias, 1)
	// A segment beyond a gap is dropped (TCP resends in order).
	res := r.e.Translate(nattest.TCP(t, pk{Src: lan1, Dst: server, SP: 40001, DP: 1723, Flags: "PA", Seq: c.seqOut + 100, Payload: pptpMsg(5, 0, 0, 0)}), nat.Outbound)
	if res.Verdict != nat.Drop || r.p.Counters().PPTPReordered != 1 {
		t.Fatalf("segment after a gap: %v", res.Verdict)
	}
}

func TestPPTPMalformedControlPassesUnchanged(t *testing.T) {
	r := newRig(t, nil)
	c := openCtrl(r, lan1, 40000)
	junk := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 10)
	if got := c.send(junk); !bytes.Equal(got, junk) {
		t.Fatal("junk changed")
	}
	// Once the stream is not PPTP, later messages pass untouched too.
	m := pptpMsg(pptpOCRQ, 5, 0, 0)
	if got := c.send(m); !bytes.Equal(got, m) {
		t.Fatal("message after junk changed")
	}
	if r.p.Counters().PPTPDesync != 1 {
		t.Fatal("desync not counted")
	}
}

func TestPPTPGREIdleTimeout(t *testing.T) {
	r := newRig(t, func(_ *nat.Config, c *Config) { c.GRETimeout = 600 * time.Second })
	c := openCtrl(r, lan1, 40000)
	a := c.call(3, 4)
	// Keep the control connection alive with echoes, GRE silent.
	for i := 0; i < 5; i++ {
		r.advance(119 * time.Second)
		c.send(pptpMsg(5, 0, 0, 0))
	}
	c.greRoundTrip(3, 4, a, 1) // 595 s: still there
	r.advance(601 * time.Second)
	r.mustDrop(nat.Inbound, gre(t, server, extIP, a, u32(2), nil, []byte("x")), nat.ReasonNoSession)
}

func TestNonPPTPGREIsNotTranslated(t *testing.T) {
	r := newRig(t, nil)
	v0 := []byte{0x00, 0x00, 0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	r.mustDrop(nat.Outbound, ipPkt(t, lan1, server, 47, v0), nat.ReasonProtocol)
}
