package ppp

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)

// peer plays pppd as an ISP's concentrator: LCP asking for auth, PAP or
// CHAP-MD5 against one secret, IPCP assigning 198.51.100.2 and two DNS
// servers.
type peer struct {
	t          *testing.T
	auth       uint16
	user, pass string
	magic      uint32
	mru        int
	id         uint8
	challenge  []byte
	lcpAcked   bool // the client acked our LCP request
	ipcpAcked  bool
	sentLCPReq bool
	rejectDNS  bool
	noVJ       bool // the client rejected VJ compression: ask without it
}

func (p *peer) ctl(proto uint16, code uint8, id uint8, data []byte) Packet {
	return Packet{proto, control{Code: code, ID: id, Data: data}.encode()}
}

func (p *peer) lcpRequest() Packet {
	p.id++
	opts := []option{{optMagic, binary.BigEndian.AppendUint32(nil, p.magic)}}
	if p.mru != 0 {
		opts = append(opts, option{optMRU, binary.BigEndian.AppendUint16(nil, uint16(p.mru))})
	}
	switch p.auth {
	case ProtoPAP:
		opts = append(opts, option{optAuth, []byte{0xc0, 0x23}})
	case ProtoCHAP:
		opts = append(opts, option{optAuth, []byte{0xc2, 0x23, 5}})
	}
	return p.ctl(ProtoLCP, ConfReq, p.id, encodeOptions(opts))
}

// answer returns the peer's answers to one packet of the client.
func (p *peer) answer(pk Packet) []Packet {
	c, err := parseControl(pk.Data)
	if err != nil {
		p.t.Fatalf("the client sent a bad packet: %v", err)
	}
	var out []Packet
	switch pk.Proto {
	case ProtoLCP:
		switch c.Code {
		case ConfReq:
			out = append(out, p.ctl(ProtoLCP, ConfAck, c.ID, c.Data))
			if !p.sentLCPReq {
				p.sentLCPReq = true
				out = append(out, p.lcpRequest())
			}
		case ConfAck:
			p.lcpAcked = true
			if p.auth == ProtoCHAP {
				p.challenge = []byte("0123456789abcdef")
				out = append(out, p.ctl(ProtoCHAP, 1, 77, append([]byte{16}, append(p.challenge, "isp"...)...)))
			}
		case EchoReq:
			out = append(out, p.ctl(ProtoLCP, EchoReply, c.ID, binary.BigEndian.AppendUint32(nil, p.magic)))
		case TermReq:
			out = append(out, p.ctl(ProtoLCP, TermAck, c.ID, nil))
		}
	case ProtoPAP:
		d := c.Data
		u := string(d[1 : 1+d[0]])
		pw := string(d[2+d[0] : 2+int(d[0])+int(d[1+d[0]])])
		if u == p.user && pw == p.pass {
			out = append(out, p.ctl(ProtoPAP, 2, c.ID, []byte("\x0aLogin ok")))
			out = append(out, p.ipcpRequest())
		} else {
			out = append(out, p.ctl(ProtoPAP, 3, c.ID, []byte("\x0fLogin incorrect")))
		}
	case ProtoCHAP:
		h := md5.Sum(append(append([]byte{c.ID}, p.pass...), p.challenge...))
		if c.Code == 2 && bytes.Equal(c.Data[1:17], h[:]) && string(c.Data[17:]) == p.user {
			out = append(out, p.ctl(ProtoCHAP, 3, c.ID, []byte("Access granted")))
			out = append(out, p.ipcpRequest())
		} else {
			out = append(out, p.ctl(ProtoCHAP, 4, c.ID, []byte("Access denied")))
		}
	case ProtoIPCP:
		switch c.Code {
		case ConfReq:
			opts, _ := parseOptions(c.Data)
			var nak, rej []option
			for _, o := range opts {
				want := map[uint8]string{optIPAddress: "198.51.100.2", optDNS1: "198.51.100.53", optDNS2: "198.51.100.54"}[o.Type]
				if p.rejectDNS && o.Type != optIPAddress {
					rej = append(rej, o)
					continue
				}
				if netip.AddrFrom4([4]byte(o.Data)).String() != want {
					nak = append(nak, addrOpt(o.Type, netip.MustParseAddr(want)))
				}
			}
			switch {
			case len(rej) > 0:
				out = append(out, p.ctl(ProtoIPCP, ConfRej, c.ID, encodeOptions(rej)))
			case len(nak) > 0:
				out = append(out, p.ctl(ProtoIPCP, ConfNak, c.ID, encodeOptions(nak)))
			default:
				out = append(out, p.ctl(ProtoIPCP, ConfAck, c.ID, c.Data))
			}
		case ConfAck:
			p.ipcpAcked = true
		case ConfRej:
			p.noVJ = true
			out = append(out, p.ipcpRequest())
		}
	}
	return out
}

func (p *peer) ipcpRequest() Packet {
	p.id++
	opts := []option{addrOpt(optIPAddress, netip.MustParseAddr("198.51.100.1"))}
	if !p.noVJ {
		opts = append(opts, option{2, []byte{0x00, 0x2d, 0x0f, 0x01}}) // VJ compression: rejected by the client
	}
	return p.ctl(ProtoIPCP, ConfReq, p.id, encodeOptions(opts))
}

// run exchanges packets until neither side has more to say.
func run(t *testing.T, s *Session, p *peer, first []Packet, now time.Time) {
	t.Helper()
	queue := first
	for n := 0; len(queue) > 0; n++ {
		if n > 200 {
			t.Fatal("the exchange does not end")
		}
		pk := queue[0]
		queue = queue[1:]
		for _, a := range p.answer(pk) {
			queue = append(queue, s.Input(a.Proto, a.Data, now)...)
		}
	}
}

func newSession(t *testing.T, c Config) *Session {
	t.Helper()
	seq := make([]byte, 4096)
	for i := range seq {
		seq[i] = byte(i*7 + i/256)
	}
	c.Rand = bytes.NewReader(seq)
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionUp(t *testing.T) {
	for _, auth := range []uint16{ProtoPAP, ProtoCHAP} {
		s := newSession(t, Config{Username: "user@isp", Password: "secret"})
		p := &peer{t: t, auth: auth, user: "user@isp", pass: "secret", magic: 0x11223344, mru: 1492}
		run(t, s, p, s.Open(epoch), epoch)
		ev := s.Events()
		if len(ev) != 1 {
			t.Fatalf("auth %#x: events %+v, status %+v", auth, ev, s.Status())
		}
		up := ev[0].(Up)
		if up.Local.String() != "198.51.100.2" || up.Peer.String() != "198.51.100.1" || len(up.DNS) != 2 ||
			up.DNS[1].String() != "198.51.100.54" || up.PeerMRU != 1492 {
			t.Fatalf("up %+v", up)
		}
		st := s.Status()
		if st.Phase != PhaseNetwork || st.LCP != "opened" || st.IPCP != "opened" || !p.lcpAcked || !p.ipcpAcked {
			t.Fatalf("status %+v", st)
		}
		if want := map[uint16]string{ProtoPAP: "pap", ProtoCHAP: "chap-md5"}[auth]; st.Auth != want {
			t.Errorf("auth %q, want %q", st.Auth, want)
		}

		// Keepalive: echo requests answered keep it up.
		now := epoch
		for range 5 {
			now = s.Deadline()
			run(t, s, p, s.Tick(now), now)
		}
		if len(s.Events()) != 0 || s.Status().EchoSent < 4 {
			t.Fatalf("echoes: %+v", s.Status())
		}

		// The concentrator ends it.
		out := s.Input(ProtoLCP, control{Code: TermReq, ID: 9, Data: []byte("admin reset")}.encode(), now)
		if len(out) != 1 {
			t.Fatalf("%d answers to Terminate-Request", len(out))
		}
		if c, _ := parseControl(out[0].Data); c.Code != TermAck {
			t.Fatalf("answered %d", c.Code)
		}
		for range 3 {
			if d := s.Deadline(); !d.IsZero() {
				now = d
				s.Tick(now)
			}
		}
		ev = s.Events()
		if len(ev) != 1 || !strings.Contains(ev[0].(Down).Reason, "the concentrator ended the session (LCP Terminate-Request: admin reset)") {
			t.Fatalf("down %+v", ev)
		}
	}
}

func TestAuthenticationFails(t *testing.T) {
	for _, auth := range []uint16{ProtoPAP, ProtoCHAP} {
		s := newSession(t, Config{Username: "user@isp", Password: "wrong"})
		p := &peer{t: t, auth: auth, user: "user@isp", pass: "secret", magic: 7}
		run(t, s, p, s.Open(epoch), epoch)
		ev := s.Events()
		if len(ev) != 1 {
			t.Fatalf("events %+v", ev)
		}
		d := ev[0].(Down)
		want := map[uint16]string{ProtoPAP: "(PAP: Login incorrect)", ProtoCHAP: "(CHAP: Access denied)"}[auth]
		if !d.AuthFailed || !strings.Contains(d.Reason, "authentication failed: the concentrator refused the username or password "+want) {
			t.Fatalf("down %+v", d)
		}
	}
}

func TestEchoFailure(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p", EchoInterval: 5 * time.Second, EchoFailures: 3})
	p := &peer{t: t, user: "u", pass: "p", magic: 9}
	p.sentLCPReq = false
	run(t, s, p, s.Open(epoch), epoch)
	// No auth asked: IPCP starts at once; the peer starts its IPCP too.
	run(t, s, p, []Packet{}, epoch)
	for _, a := range []Packet{p.ipcpRequest()} {
		run(t, s, p, s.Input(a.Proto, a.Data, epoch), epoch)
	}
	if ev := s.Events(); len(ev) != 1 {
		t.Fatalf("not up: %+v %+v", ev, s.Status())
	}
	// The concentrator goes silent.
	now := epoch
	var down []Event
	for range 10 {
		now = s.Deadline()
		s.Tick(now)
		if down = s.Events(); len(down) > 0 {
			break
		}
	}
	if len(down) != 1 || !strings.Contains(down[0].(Down).Reason, "no LCP echo reply from the concentrator for 15s (3 echo requests unanswered)") {
		t.Fatalf("down %+v", down)
	}
	// 3 echoes at 5 s, then the terminate requests (2 × 3 s).
	if d := now.Sub(epoch); d < 20*time.Second || d > 30*time.Second {
		t.Errorf("declared dead after %v", d)
	}
}

func TestLCPNegotiation(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p"})
	out := s.Open(epoch)
	req, _ := parseControl(out[0].Data)
	opts, _ := parseOptions(req.Data)
	if len(opts) != 2 || opts[0].Type != optMRU || binary.BigEndian.Uint16(opts[0].Data) != 1492 || opts[1].Type != optMagic {
		t.Fatalf("our request %+v", opts)
	}
	// The peer's request: MRU too big, MS-CHAPv2, PFC, ACFC, our magic.
	peerReq := encodeOptions([]option{{optMRU, []byte{0x05, 0xdc + 8}}, {optAuth, []byte{0xc2, 0x23, 0x81}},
		{optPFC, nil}, {optACFC, nil}, {optMagic, opts[1].Data}})
	ans := s.Input(ProtoLCP, control{Code: ConfReq, ID: 1, Data: peerReq}.encode(), epoch)
	rej, _ := parseControl(ans[0].Data)
	ro, _ := parseOptions(rej.Data)
	if rej.Code != ConfRej || len(ro) != 2 || ro[0].Type != optPFC || ro[1].Type != optACFC {
		t.Fatalf("answer %d %+v, want PFC and ACFC rejected first", rej.Code, ro)
	}
	peerReq = encodeOptions([]option{{optMRU, []byte{0x05, 0xdc + 8}}, {optAuth, []byte{0xc2, 0x23, 0x81}}, {optMagic, opts[1].Data}})
	ans = s.Input(ProtoLCP, control{Code: ConfReq, ID: 2, Data: peerReq}.encode(), epoch)
	nak, _ := parseControl(ans[0].Data)
	no, _ := parseOptions(nak.Data)
	if nak.Code != ConfNak || len(no) != 3 || binary.BigEndian.Uint16(no[0].Data) != 1492 ||
		!bytes.Equal(no[1].Data, []byte{0xc2, 0x23, 5}) || bytes.Equal(no[2].Data, opts[1].Data) {
		t.Fatalf("nak %+v", no)
	}
	// Our MRU Nak'd to 1400 is taken; a Reject of the magic number drops it.
	s.Input(ProtoLCP, control{Code: ConfNak, ID: req.ID, Data: encodeOptions([]option{{optMRU, []byte{0x05, 0x78}}})}.encode(), epoch)
	out = s.Input(ProtoLCP, control{Code: ConfRej, ID: req.ID + 1, Data: encodeOptions([]option{opts[1]})}.encode(), epoch)
	if len(out) != 1 {
		t.Fatalf("%d packets after the Reject", len(out))
	}
	r, _ := parseControl(out[0].Data)
	ro, _ = parseOptions(r.Data)
	if r.Code != ConfReq || len(ro) != 1 || binary.BigEndian.Uint16(ro[0].Data) != 1400 {
		t.Fatalf("request after Nak and Reject: %+v", ro)
	}
	// An answer with an old identifier is ignored.
	before := s.Status().Ignored
	s.Input(ProtoLCP, control{Code: ConfAck, ID: req.ID, Data: nil}.encode(), epoch)
	if s.Status().Ignored != before+1 {
		t.Errorf("a stale Ack was not ignored")
	}
}

func TestMaxFailureTurnsNaksIntoRejects(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p"})
	s.Open(epoch)
	req := encodeOptions([]option{{optAuth, []byte{0xc2, 0x27}}}) // EAP
	codes := ""
	for i := range 7 {
		ans := s.Input(ProtoLCP, control{Code: ConfReq, ID: uint8(i), Data: req}.encode(), epoch)
		c, _ := parseControl(ans[0].Data)
		codes += string(rune('0' + c.Code))
	}
	if codes != "3333344" {
		t.Fatalf("answers %s, want 5 Naks then Rejects", codes)
	}
}

func TestIPCPWithoutDNS(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p"})
	p := &peer{t: t, auth: ProtoPAP, user: "u", pass: "p", magic: 3, rejectDNS: true}
	run(t, s, p, s.Open(epoch), epoch)
	ev := s.Events()
	if len(ev) != 1 || ev[0].(Up).Local.String() != "198.51.100.2" || len(ev[0].(Up).DNS) != 0 {
		t.Fatalf("events %+v", ev)
	}
}

func TestUnknownProtocolRejected(t *testing.T) {
	s := newSession(t, Config{Username: "u", Password: "p"})
	p := &peer{t: t, auth: ProtoPAP, user: "u", pass: "p", magic: 3}
	run(t, s, p, s.Open(epoch), epoch)
	out := s.Input(0x8057, []byte{1, 1, 0, 4}, epoch) // IPV6CP: not spoken
	c, _ := parseControl(out[0].Data)
	if len(out) != 1 || out[0].Proto != ProtoLCP || c.Code != ProtoRej || binary.BigEndian.Uint16(c.Data) != 0x8057 {
		t.Fatalf("%+v", out)
	}
}

func TestNewChecks(t *testing.T) {
	for _, c := range []Config{{MRU: 100}, {MRU: 1501}, {Username: strings.Repeat("u", 256)}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
