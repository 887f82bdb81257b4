package passthrough

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// Attacks on the PPTP ALG: a LAN host that wants another host's GRE, or
// anyone on the WAN who knows a control connection's addresses and ports.

// tcpSeg builds a TCP segment acknowledging ack (with the "A" flag).
func tcpSeg(t testing.TB, p pk, ack uint32) []byte {
	p.Ack = ack
	return nattest.TCP(t, p)
}

// try sends payload from the client at its next sequence number without
// requiring a verdict; the sequence number advances only if it went out.
func (c *ctrl) try(payload []byte) (nat.Result, []byte) {
	c.r.t.Helper()
	res := c.r.e.Translate(nattest.TCP(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "PA", Seq: c.seqOut, Payload: payload}), nat.Outbound)
	if res.Verdict != nat.Forward {
		return res, nil
	}
	c.seqOut += uint32(len(payload))
	return res, nattest.Oracle(c.r.t, res.Packet).TCP.Payload
}

// fromServer sends a segment from the server's address and port to the
// client's external port, as anyone on the WAN can.
func (c *ctrl) fromServer(flags string, seq, ack uint32, payload []byte) nat.Result {
	c.r.t.Helper()
	return c.r.e.Translate(tcpSeg(c.r.t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: flags, Seq: seq, Payload: payload}, ack), nat.Inbound)
}

// stillWorks checks that a call survives: GRE both ways, and control
// messages about it are still translated both ways.
func (c *ctrl) stillWorks(id, pac, alias uint16, n uint32) {
	c.r.t.Helper()
	c.greRoundTrip(id, pac, alias, n)
	if lan := c.recv(pptpMsg(pptpWEN, alias, 0, 0)); be16(lan, 12) != id {
		c.r.t.Fatalf("WAN-Error-Notify reached the client with %#x, want its call ID %#x", be16(lan, 12), id)
	}
	if lan := c.recv(pptpMsg(pptpSLI, alias, 0, 0)); be16(lan, 12) != id {
		c.r.t.Fatalf("Set-Link-Info reached the client with %#x, want %#x", be16(lan, 12), id)
	}
}

func greCalls(r *rig, host string) int {
	n := 0
	for _, s := range r.p.Sessions() {
		if s.Protocol == "gre" && (host == "" || s.Host.String() == host) {
			n++
		}
	}
	return n
}

// One real call, then Outgoing-Call-Requests the server never answers,
// all with Call IDs in the victim's range (an alias keeps the high byte):
// first 255 from one attacker host, then from as many hosts as it takes to
// use up the range. No request may leave with a Call ID that is a live
// alias of another call to that server: the server would then hold two
// calls with one peer Call ID, and its GRE for one of them would reach the
// other's host.
func TestAttack_PPTPAliasExhaustion(t *testing.T) {
	r := newRig(t, nil)
	victim := openCtrl(r, lan1, 40000)
	const vid, vpac = 0x0042, 7
	va := victim.call(vid, vpac)
	owner := map[uint16]string{va: lan1} // Call IDs the server has seen, by host
	next := uint16(vid)                  // the attacker's 255th request asks for the victim's own ID
	reasons := map[nat.Reason]int{}
	// attack sends up to n requests from host, on as many control
	// connections as it takes; it returns how many went out.
	attack := func(host string, n int) (accepted int) {
		for port := uint16(41000); n > 0; port++ {
			c := openCtrl(r, host, port)
			for k := 0; k < 16 && n > 0; k++ {
				next = next%0xff + 1 // 0x0001..0x00ff, the victim's range
				n--
				res, wan := c.try(pptpMsg(pptpOCRQ, next, 0, 0))
				if res.Verdict != nat.Forward {
					reasons[res.Reason]++
					break // this connection is held up; try another
				}
				id := be16(wan, 12)
				if prev, ok := owner[id]; ok {
					t.Fatalf("request from %s left with Call ID %#x, already the live Call ID of a call of %s", host, id, prev)
				}
				owner[id] = host
				accepted++
			}
		}
		return accepted
	}
	if n := attack("192.168.1.100", 255); n > pptpMaxCallsPerHost {
		t.Fatalf("one host placed %d calls", n)
	}
	victim.stillWorks(vid, vpac, va, 1)
	for h := 101; reasons[nat.ReasonPortsExhausted] == 0; h++ {
		if h > 110 {
			t.Fatalf("the alias range never ran out: %v", reasons)
		}
		attack(fmt.Sprintf("192.168.1.%d", h), 70)
	}
	victim.stillWorks(vid, vpac, va, 2)
	// Whatever the server sends to the Call IDs it was given reaches the
	// host that was given them, or nobody.
	for id, host := range owner {
		res := r.e.Translate(gre(t, server, extIP, id, u32(1), nil, []byte("x")), nat.Inbound)
		if res.Verdict == nat.Forward {
			if d := nattest.Oracle(t, res.Packet); d.Dst() != host {
				t.Fatalf("GRE for Call ID %#x went to %s, not %s", id, d.Dst(), host)
			}
		}
	}
	if c := r.p.Counters(); c.PPTPAliasExhausted == 0 || r.p.PPTPLimitCounters().RefusedPerHost == 0 {
		t.Fatalf("refusals not counted: %+v %+v", c, r.p.PPTPLimitCounters())
	}
}

// A host places calls on one control connection as fast as it can, then
// on more connections: it gets pptpMaxCallsPerCtrl per connection and
// pptpMaxCallsPerHost in all, and another host is not affected.
func TestAttack_PPTPCallFlood(t *testing.T) {
	r := newRig(t, nil)
	victim := openCtrl(r, lan1, 40000)
	va := victim.call(0x4242, 9)
	c := openCtrl(r, lan2, 40000)
	var last []byte
	for k := 1; k <= 255; k++ {
		msg := pptpMsg(pptpOCRQ, uint16(k)<<8|1, 0, 0)
		res, _ := c.try(msg)
		if k <= pptpMaxCallsPerCtrl {
			if res.Verdict != nat.Forward {
				t.Fatalf("call %d of a control connection refused: %v", k, res.Reason)
			}
			continue
		}
		if res.Verdict == nat.Forward {
			t.Fatalf("call %d on one control connection accepted (limit %d)", k, pptpMaxCallsPerCtrl)
		}
		if k == pptpMaxCallsPerCtrl+1 {
			last = msg
			if res.Reason != nat.ReasonHostLimit {
				t.Fatalf("refused with %v, want %v", res.Reason, nat.ReasonHostLimit)
			}
		}
	}
	if n := greCalls(r, lan2); n != pptpMaxCallsPerCtrl {
		t.Fatalf("%d calls on one connection", n)
	}
	if r.p.PPTPLimitCounters().RefusedPerConnection == 0 {
		t.Fatal("refusals not counted")
	}
	// The refused request is held, not lost: once a call ends, the client's
	// retransmission goes out with an alias of its own.
	c.recv(pptpMsg(pptpOCRP, 100, 0x0101, 1))
	c.recv(pptpMsg(pptpCDN, 100, 0, 0))
	_, wan := c.try(last)
	if wan == nil || be16(wan, 12)>>8 != 17 {
		t.Fatalf("retransmitted request after a call ended: %x", wan)
	}
	// More connections from the same host: pptpMaxCallsPerHost in all.
	total := pptpMaxCallsPerCtrl
	for port := uint16(40001); port < 40010; port++ {
		c := openCtrl(r, lan2, port)
		for k := 0; k < pptpMaxCallsPerCtrl; k++ {
			if res, _ := c.try(pptpMsg(pptpOCRQ, uint16(port)<<4|uint16(k), 0, 0)); res.Verdict != nat.Forward {
				break
			}
			total++
		}
	}
	if total != pptpMaxCallsPerHost || greCalls(r, lan2) != pptpMaxCallsPerHost {
		t.Fatalf("host holds %d calls (%d listed), limit %d", total, greCalls(r, lan2), pptpMaxCallsPerHost)
	}
	// Others are unaffected.
	victim.stillWorks(0x4242, 9, va, 1)
	other := openCtrl(r, lan3, 40000)
	a := other.call(0x5151, 10)
	other.greRoundTrip(0x5151, 10, a, 1)
}

// A reset forged from the server's address and port, with a sequence
// number outside what the server has sent and the client not yet
// acknowledged, must not tear down the calls (RFC 5961 §3).
func TestAttack_PPTPForgedRST(t *testing.T) {
	r := newRig(t, nil)
	c, a := aliasedCall(r)
	for i, off := range []uint32{1 << 30, 1, ^uint32(0), 1<<32 - 1<<20, 1 << 31} {
		for _, flags := range []string{"R", "RA"} {
			c.ackAll() // an idle connection: everything acknowledged
			c.fromServer(flags, c.seqIn+off, c.seqOut, nil)
			c.stillWorks(0x1234, 5, a, uint32(10*i+len(flags)))
		}
	}
	// And the control connection still carries rewritten messages out.
	if wan := c.send(pptpMsg(pptpCCRQ, 0x1234, 0, 0)); be16(wan, 12) != a {
		t.Fatalf("Call-Clear-Request after forged resets carried %#x, want alias %#x", be16(wan, 12), a)
	}
	if r.p.PPTPLimitCounters().IgnoredRST == 0 {
		t.Fatal("ignored resets not counted")
	}
}

// aliasedCall sets up a call of lan1 with Call ID 0x1234 and server Call
// ID 5 whose alias differs from 0x1234 (lan2 holds that one), so control
// messages about it must be rewritten.
func aliasedCall(r *rig) (*ctrl, uint16) {
	openCtrl(r, lan2, 40000).call(0x1234, 1)
	c := openCtrl(r, lan1, 40000)
	a := c.call(0x1234, 5)
	if a == 0x1234 {
		r.t.Fatal("call not aliased")
	}
	return c, a
}

// ackAll sends a pure acknowledgment each way, of everything sent so far.
func (c *ctrl) ackAll() {
	c.r.t.Helper()
	c.r.must(nat.Outbound, tcpSeg(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "A", Seq: c.seqOut}, c.seqIn), nat.Forward)
	c.r.must(nat.Inbound, tcpSeg(c.r.t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "A", Seq: c.seqIn}, c.seqOut), nat.Forward)
}

// A SYN forged from the server on a live control connection must not
// reset what the ALG expects next: later messages still get translated.
func TestAttack_PPTPForgedSYN(t *testing.T) {
	r := newRig(t, nil)
	c, a := aliasedCall(r)
	for i, off := range []uint32{0x12345678, 0, ^uint32(0), 100} {
		for _, flags := range []string{"S", "SA"} {
			c.ackAll()
			c.fromServer(flags, c.seqIn+off, c.seqOut, nil)
			c.stillWorks(0x1234, 5, a, uint32(10*i+len(flags)))
			if wan := c.send(pptpMsg(pptpSLI, 5, 0, 0)); be16(wan, 12) != 5 {
				t.Fatal("outbound Set-Link-Info changed")
			}
		}
	}
	if r.p.PPTPLimitCounters().IgnoredSYN == 0 {
		t.Fatal("ignored SYNs not counted")
	}
}

// During the handshake a SYN-ACK forged before the server's own is
// replaced by the real one, which acknowledges the client's SYN.
func TestAttack_PPTPForgedSYNACKInHandshake(t *testing.T) {
	r := newRig(t, nil)
	c := &ctrl{r: r, host: lan1, port: 40000, seqOut: 1000, seqIn: 9000}
	d := r.must(nat.Outbound, tcpSeg(t, pk{Src: lan1, Dst: server, SP: 40000, DP: 1723, Flags: "S", Seq: 1000}, 0), nat.Forward)
	c.extPort = d.SPort()
	c.seqOut++
	c.fromServer("SA", 0x55555555, 0x77777777, nil) // does not acknowledge the SYN
	r.must(nat.Inbound, tcpSeg(t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "SA", Seq: 9000}, 1001), nat.Forward)
	c.seqIn++
	c.send(pptpMsg(1, 0, 0, 0))
	c.recv(pptpMsg(2, 0, 0, 0))
	a := c.call(0x1234, 5)
	c.stillWorks(0x1234, 5, a, 1)
}

// A reset the receiver would accept still closes the calls: at the next
// sequence number, or anywhere in what the sender has sent that the
// receiver has not acknowledged.
func TestPPTPResetInWindowClosesCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		rst  func(c *ctrl)
	}{
		{"server-at-next", func(c *ctrl) { c.fromServer("RA", c.seqIn, c.seqOut, nil) }},
		{"server-unacknowledged", func(c *ctrl) {
			// The server sends an echo the client has not acknowledged yet,
			// then resets at the echo's first byte (the client's RCV.NXT).
			c.fromServer("PA", c.seqIn, 1001, pptpMsg(5, 0, 0, 0))
			c.r.must(nat.Outbound, tcpSeg(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "A", Seq: c.seqOut}, c.seqIn), nat.Forward)
			c.fromServer("R", c.seqIn, 0, nil)
		}},
		{"client-at-next", func(c *ctrl) {
			c.r.must(nat.Outbound, nattest.TCP(c.r.t, pk{Src: c.host, Dst: server, SP: c.port, DP: 1723, Flags: "R", Seq: c.seqOut}), nat.Forward)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			c := openCtrl(r, lan1, 40000)
			a := c.call(0x1234, 5)
			tc.rst(c)
			r.mustDrop(nat.Inbound, gre(t, server, extIP, a, u32(1), nil, []byte("x")), nat.ReasonNoSession)
			r.mustDrop(nat.Outbound, gre(t, lan1, server, 5, u32(1), nil, []byte("x")), nat.ReasonNoSession)
			if n := greCalls(r, ""); n != 0 {
				t.Fatalf("%d calls left", n)
			}
		})
	}
}

// Control messages shorter than their structure create nothing and are
// passed unchanged (as Linux does); the stream stays in step after them.
func TestAttack_PPTPShortOutgoingCallRequest(t *testing.T) {
	r := newRig(t, nil)
	other := openCtrl(r, lan2, 40000)
	other.call(0x1234, 1) // 0x1234 is taken: a real request would be aliased
	created := r.p.Counters().PPTP.Created
	c := openCtrl(r, lan1, 40000)
	short := func(ctype uint16, length int) []byte {
		m := pptpMsg(ctype, 0x1234, 0x1234, 1)[:length]
		binary.BigEndian.PutUint16(m, uint16(length))
		return m
	}
	for _, m := range [][]byte{short(pptpOCRQ, 14), short(pptpOCRQ, 167), short(pptpICRP, 16), short(pptpICRP, 23), short(pptpCCRQ, 14)} {
		if wan := c.send(m); !bytes.Equal(wan, m) {
			t.Fatalf("short message (type %d, %d bytes) changed: % x", be16(m, 8), len(m), wan)
		}
	}
	if got := r.p.Counters().PPTP.Created; got != created || greCalls(r, lan1) != 0 {
		t.Fatalf("short requests created %d calls", got-created)
	}
	// The inbound side too: a short Outgoing-Call-Reply is not acted on.
	if lan := c.recv(short(pptpOCRP, 16)); be16(lan, 14) != 0x1234 {
		t.Fatal("short reply rewritten")
	}
	a := c.call(0x1234, 2)
	if a == 0x1234 {
		t.Fatal("the real request after the short ones was not aliased")
	}
	c.greRoundTrip(0x1234, 2, a, 1)
}

// A Call-Clear-Request for a call this connection does not have, carrying
// another host's alias, must not reach the server as that call's ID.
func TestAttack_PPTPClearOthersCall(t *testing.T) {
	r := newRig(t, nil)
	victim := openCtrl(r, lan1, 40000)
	va := victim.call(0x2233, 4)
	c := openCtrl(r, lan2, 40000)
	wan := c.send(pptpMsg(pptpCCRQ, va, 0, 0))
	if be16(wan, 12) == va {
		t.Fatalf("Call-Clear-Request from %s left with %s's alias %#x", lan2, lan1, va)
	}
	// Its own unknown call IDs that nobody holds go out unchanged.
	if wan := c.send(pptpMsg(pptpCCRQ, 0x7777, 0, 0)); be16(wan, 12) != 0x7777 {
		t.Fatalf("Call-Clear-Request for a free ID changed to %#x", be16(wan, 12))
	}
	victim.stillWorks(0x2233, 4, va, 1)
}

// A client that makes the ALG lose track of its stream — a reset and a new
// SYN the server may never see (sent with a short TTL), or data on a
// connection whose SYN the ALG never saw — must not get a request past it
// unchecked.
func TestAttack_PPTPResyncEvasion(t *testing.T) {
	r := newRig(t, nil)
	victim := openCtrl(r, lan1, 40000)
	va := victim.call(0x3344, 4)
	c := openCtrl(r, lan2, 40000)
	for _, isn := range []uint32{c.seqOut + 1_000_000, c.seqOut - 1000, c.seqOut + 1<<31} {
		r.must(nat.Outbound, tcpSeg(t, pk{Src: lan2, Dst: server, SP: 40000, DP: 1723, Flags: "R", Seq: c.seqOut}, 0), nat.Forward)
		r.e.Translate(tcpSeg(t, pk{Src: lan2, Dst: server, SP: 40000, DP: 1723, Flags: "S", Seq: isn}, 0), nat.Outbound)
		res := r.e.Translate(nattest.TCP(t, pk{Src: lan2, Dst: server, SP: 40000, DP: 1723, Flags: "PA", Seq: c.seqOut, Payload: pptpMsg(pptpOCRQ, va, 0, 0)}), nat.Outbound)
		if res.Verdict == nat.Forward && be16(nattest.Oracle(t, res.Packet).TCP.Payload, 12) == va {
			t.Fatalf("after a reset and a SYN with ISN %d, a request left with %s's alias %#x", isn, lan1, va)
		}
	}
	// Data on a connection the ALG never saw open.
	res := r.e.Translate(nattest.TCP(t, pk{Src: lan3, Dst: server, SP: 40000, DP: 1723, Flags: "PA", Seq: 5000, Payload: pptpMsg(pptpOCRQ, va, 0, 0)}), nat.Outbound)
	if res.Verdict == nat.Forward && be16(nattest.Oracle(t, res.Packet).TCP.Payload, 12) == va {
		t.Fatalf("a request on a connection picked up mid-stream left with %s's alias %#x", lan1, va)
	}
	victim.stillWorks(0x3344, 4, va, 1)
}
