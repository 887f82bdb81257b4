package ppp

import (
	"fmt"
	"time"
)

// The option negotiation automaton of RFC 1661 §4, shared by LCP and IPCP.

type state uint8

const (
	sInitial state = iota
	sStarting
	sClosed
	sStopped
	sClosing
	sStopping
	sReqSent
	sAckRcvd
	sAckSent
	sOpened
	numStates
)

var stateNames = [numStates]string{"initial", "starting", "closed", "stopped", "closing", "stopping",
	"req-sent", "ack-rcvd", "ack-sent", "opened"}

func (s state) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

type event uint8

const (
	eUp event = iota
	eDown
	eOpen
	eClose
	eTOPlus  // timeout with the counter > 0
	eTOMinus // timeout with the counter expired
	eRCRPlus // good Configure-Request
	eRCRMinus
	eRCA
	eRCN // Configure-Nak or -Reject
	eRTR
	eRTA
	eRUC // unknown code
	eRXJPlus
	eRXJMinus
	eRXR // echo or discard request, echo reply
	numEvents
)

type action uint8

const (
	tlu action = iota + 1 // this layer up
	tld                   // this layer down
	tls                   // this layer started
	tlf                   // this layer finished
	irc                   // initialize restart count
	zrc                   // zero restart count
	scr                   // send Configure-Request
	sca                   // send Configure-Ack
	scn                   // send Configure-Nak or -Reject
	str                   // send Terminate-Request
	sta                   // send Terminate-Ack
	scj                   // send Code-Reject
	ser                   // send Echo-Reply
)

// transition is one cell of the table: the actions in order and the next
// state; ok false is "-", an event that cannot happen in that state
// (ignored).
type transition struct {
	acts []action
	next state
	ok   bool
}

func tr(next state, acts ...action) transition { return transition{acts: acts, next: next, ok: true} }

// table is RFC 1661 §4.1's state transition table, cell by cell. The
// "r" (restart) and "p" (passive) options are not used; "x" (crossed
// connection) needs nothing more than the table.
var table = func() (t [numStates][numEvents]transition) {
	set := func(s state, cells ...transition) {
		copy(t[s][:], cells)
	}
	var no transition
	//                 Up                       Down              Open                   Close                    TO+           TO-           RCR+                      RCR-                      RCA                 RCN                      RTR                       RTA                RUC           RXJ+          RXJ-                     RXR
	set(sInitial, tr(sClosed), no, tr(sStarting, tls), tr(sInitial), no, no, no, no, no, no, no, no, no, no, no, no)
	set(sStarting, tr(sReqSent, irc, scr), no, tr(sStarting), tr(sInitial, tlf), no, no, no, no, no, no, no, no, no, no, no, no)
	set(sClosed, no, tr(sInitial), tr(sReqSent, irc, scr), tr(sClosed), no, no, tr(sClosed, sta), tr(sClosed, sta), tr(sClosed, sta), tr(sClosed, sta), tr(sClosed, sta), tr(sClosed), tr(sClosed, scj), tr(sClosed), tr(sClosed, tlf), tr(sClosed))
	set(sStopped, no, tr(sStarting, tls), tr(sStopped), tr(sClosed), no, no, tr(sAckSent, irc, scr, sca), tr(sReqSent, irc, scr, scn), tr(sStopped, sta), tr(sStopped, sta), tr(sStopped, sta), tr(sStopped), tr(sStopped, scj), tr(sStopped), tr(sStopped, tlf), tr(sStopped))
	set(sClosing, no, tr(sInitial), tr(sStopping), tr(sClosing), tr(sClosing, str), tr(sClosed, tlf), tr(sClosing), tr(sClosing), tr(sClosing), tr(sClosing), tr(sClosing, sta), tr(sClosed, tlf), tr(sClosing, scj), tr(sClosing), tr(sClosed, tlf), tr(sClosing))
	set(sStopping, no, tr(sStarting), tr(sStopping), tr(sClosing), tr(sStopping, str), tr(sStopped, tlf), tr(sStopping), tr(sStopping), tr(sStopping), tr(sStopping), tr(sStopping, sta), tr(sStopped, tlf), tr(sStopping, scj), tr(sStopping), tr(sStopped, tlf), tr(sStopping))
	set(sReqSent, no, tr(sStarting), tr(sReqSent), tr(sClosing, irc, str), tr(sReqSent, scr), tr(sStopped, tlf), tr(sAckSent, sca), tr(sReqSent, scn), tr(sAckRcvd, irc), tr(sReqSent, irc, scr), tr(sReqSent, sta), tr(sReqSent), tr(sReqSent, scj), tr(sReqSent), tr(sStopped, tlf), tr(sReqSent))
	set(sAckRcvd, no, tr(sStarting), tr(sAckRcvd), tr(sClosing, irc, str), tr(sReqSent, scr), tr(sStopped, tlf), tr(sOpened, sca, tlu), tr(sAckRcvd, scn), tr(sReqSent, scr), tr(sReqSent, scr), tr(sReqSent, sta), tr(sReqSent), tr(sAckRcvd, scj), tr(sReqSent), tr(sStopped, tlf), tr(sAckRcvd))
	set(sAckSent, no, tr(sStarting), tr(sAckSent), tr(sClosing, irc, str), tr(sAckSent, scr), tr(sStopped, tlf), tr(sAckSent, sca), tr(sReqSent, scn), tr(sOpened, irc, tlu), tr(sAckSent, irc, scr), tr(sReqSent, sta), tr(sAckSent), tr(sAckSent, scj), tr(sAckSent), tr(sStopped, tlf), tr(sAckSent))
	set(sOpened, no, tr(sStarting, tld), tr(sOpened), tr(sClosing, tld, irc, str), no, no, tr(sAckSent, tld, scr, sca), tr(sReqSent, tld, scr, scn), tr(sReqSent, tld, scr), tr(sReqSent, tld, scr), tr(sStopping, tld, zrc, sta), tr(sReqSent, tld, scr), tr(sOpened, scj), tr(sOpened), tr(sStopping, tld, irc, str), tr(sOpened, ser))
	return t
}()

// RFC 1661 §4.6 defaults.
const (
	restartTimer = 3 * time.Second
	maxTerminate = 2
	maxConfigure = 10
	maxFailure   = 5
)

// layer is what LCP and IPCP tell the automaton.
type layer interface {
	// request returns our Configure-Request's options.
	request() []option
	// judge looks at the peer's request: nak and rej are the options to
	// Nak (with the values we want) and to Reject; both empty acks it.
	judge(opts []option) (nak, rej []option)
	// acked, naked and rejected take the peer's answer to our request.
	acked(opts []option)
	naked(opts []option)
	rejected(opts []option)
	up(now time.Time)
	down(now time.Time)
	finished(now time.Time)
}

// fsm is one protocol's automaton.
type fsm struct {
	proto   uint16
	l       layer
	st      state
	count   int       // restart counter
	timer   time.Time // zero: not running
	id      uint8     // identifier of our outstanding Configure- or Terminate-Request
	naks    int       // Naks sent since the last Ack we sent
	send    func(Packet)
	echo    func(rcv control) []byte // LCP's Echo-Reply data; nil for IPCP
	ignored uint64                   // packets that did not match or could not happen
}

func (f *fsm) String() string { return f.st.String() }

// deadline is when the restart timer fires; zero if it is not running.
func (f *fsm) deadline() time.Time { return f.timer }

// tick fires the restart timer.
func (f *fsm) tick(now time.Time) {
	if f.timer.IsZero() || now.Before(f.timer) {
		return
	}
	f.timer = time.Time{}
	if f.count > 0 {
		f.event(eTOPlus, nil, now)
	} else {
		f.event(eTOMinus, nil, now)
	}
}

// event runs the table for e; rcv is the packet that caused it.
func (f *fsm) event(e event, rcv *control, now time.Time) {
	t := table[f.st][e]
	if !t.ok {
		f.ignored++
		return
	}
	for i, a := range t.acts {
		f.do(a, t.acts[i+1:], rcv, now)
	}
	f.st = t.next
	switch f.st {
	case sClosing, sStopping, sReqSent, sAckRcvd, sAckSent:
	default:
		f.timer = time.Time{}
	}
}

func (f *fsm) do(a action, rest []action, rcv *control, now time.Time) {
	switch a {
	case tlu:
		f.l.up(now)
	case tld:
		f.l.down(now)
	case tls:
	case tlf:
		f.l.finished(now)
	case irc:
		f.count = maxConfigure
		for _, r := range rest {
			if r == str {
				f.count = maxTerminate
			}
		}
		f.naks = 0
	case zrc:
		f.count = 0
		f.timer = now.Add(restartTimer)
	case scr:
		f.id++
		f.send(Packet{f.proto, control{Code: ConfReq, ID: f.id, Data: encodeOptions(f.l.request())}.encode()})
		f.count--
		f.timer = now.Add(restartTimer)
	case sca:
		f.naks = 0
		if po, ok := f.l.(interface{ peerOptions([]option) }); ok {
			opts, _ := parseOptions(rcv.Data)
			po.peerOptions(opts)
		}
		f.send(Packet{f.proto, control{Code: ConfAck, ID: rcv.ID, Data: rcv.Data}.encode()})
	case scn:
		opts, _ := parseOptions(rcv.Data)
		nak, rej := f.l.judge(opts)
		switch {
		case len(rej) > 0:
			f.send(Packet{f.proto, control{Code: ConfRej, ID: rcv.ID, Data: encodeOptions(rej)}.encode()})
		case f.naks >= maxFailure:
			// Max-Failure: after that many Naks, Reject what we would
			// Nak, so that the negotiation converges (RFC 1661 §4.6).
			f.send(Packet{f.proto, control{Code: ConfRej, ID: rcv.ID, Data: encodeOptions(rejectOf(opts, nak))}.encode()})
		default:
			f.naks++
			f.send(Packet{f.proto, control{Code: ConfNak, ID: rcv.ID, Data: encodeOptions(nak)}.encode()})
		}
	case str:
		f.id++
		f.send(Packet{f.proto, control{Code: TermReq, ID: f.id}.encode()})
		f.count--
		f.timer = now.Add(restartTimer)
	case sta:
		f.send(Packet{f.proto, control{Code: TermAck, ID: rcv.ID}.encode()})
	case scj:
		data := rcv.encode()
		f.id++
		f.send(Packet{f.proto, control{Code: CodeRej, ID: f.id, Data: data}.encode()})
	case ser:
		if f.echo != nil {
			if d := f.echo(*rcv); d != nil {
				f.send(Packet{f.proto, control{Code: EchoReply, ID: rcv.ID, Data: d}.encode()})
			}
		}
	}
}

// rejectOf returns the options of opts whose type is among naked (the
// peer's own values, as a Reject must carry them).
func rejectOf(opts, naked []option) []option {
	var out []option
	for _, o := range opts {
		for _, n := range naked {
			if o.Type == n.Type {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// input handles a control packet of the automaton's protocol.
func (f *fsm) input(c control, now time.Time) {
	switch c.Code {
	case ConfReq:
		opts, err := parseOptions(c.Data)
		if err != nil {
			f.ignored++
			return
		}
		if nak, rej := f.l.judge(opts); len(nak) == 0 && len(rej) == 0 {
			f.event(eRCRPlus, &c, now)
		} else {
			f.event(eRCRMinus, &c, now)
		}
	case ConfAck, ConfNak, ConfRej:
		if c.ID != f.id {
			f.ignored++ // an answer to an older request
			return
		}
		opts, err := parseOptions(c.Data)
		if err != nil {
			f.ignored++
			return
		}
		switch c.Code {
		case ConfAck:
			if f.st == sReqSent || f.st == sAckSent {
				f.l.acked(opts)
			}
			f.event(eRCA, &c, now)
		case ConfNak:
			f.l.naked(opts)
			f.event(eRCN, &c, now)
		default:
			f.l.rejected(opts)
			f.event(eRCN, &c, now)
		}
	case TermReq:
		f.event(eRTR, &c, now)
	case TermAck:
		f.event(eRTA, &c, now)
	case CodeRej:
		// A rejected code we cannot do without ends the automaton.
		if len(c.Data) > 0 && c.Data[0] >= ConfReq && c.Data[0] <= CodeRej {
			f.event(eRXJMinus, &c, now)
		} else {
			f.event(eRXJPlus, &c, now)
		}
	case EchoReq, DiscReq:
		// LCP only (IPCP has no such codes); the session takes Echo-Reply
		// and Protocol-Reject before they get here.
		if f.echo == nil {
			f.event(eRUC, &c, now)
			return
		}
		if c.Code == EchoReq {
			f.event(eRXR, &c, now)
		}
	default:
		f.event(eRUC, &c, now)
	}
}
