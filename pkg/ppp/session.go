package ppp

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/peertext"
)

// Config configures a Session.
type Config struct {
	// Username and Password log in with PAP or CHAP-MD5, whichever the
	// concentrator asks for; at most 255 bytes each.
	Username, Password string
	// MRU is the most we receive (and the most we let the peer claim):
	// 1492 over PPPoE, up to 1500 with RFC 4638. Default 1492.
	MRU int
	// EchoInterval is the LCP keepalive period (default 10 s);
	// EchoFailures unanswered echo requests in a row end the link
	// (default 3).
	EchoInterval time.Duration
	EchoFailures int
	// Rand is the source of magic numbers; default crypto/rand.
	Rand io.Reader
}

// Event is a transition the driver acts on: Up or Down.
type Event interface{ pppEvent() }

// Up: IPCP is open; the link carries IPv4.
type Up struct {
	Local, Peer netip.Addr
	DNS         []netip.Addr
	PeerMRU     int // the most we may send
}

// Down: the link is down; Reason says why, in words for the owner.
type Down struct {
	Reason     string
	AuthFailed bool
}

func (Up) pppEvent()   {}
func (Down) pppEvent() {}

// Phase is the link's phase (RFC 1661 §3.2).
type Phase int

// The phases.
const (
	PhaseDead Phase = iota
	PhaseEstablish
	PhaseAuthenticate
	PhaseNetwork
	PhaseTerminate
)

func (p Phase) String() string {
	return [...]string{"dead", "establishing the link (LCP)", "authenticating", "network (IPCP)", "terminating"}[p]
}

// Status is the session's state for show commands.
type Status struct {
	Phase       Phase
	LCP, IPCP   string
	MRU         int    // what we receive
	PeerMRU     int    // what we send
	Auth        string // "pap", "chap-md5" or "none"
	EchoSent    uint64
	EchoMissed  int
	LastFailure string
	Ignored     uint64 // packets that did not parse or fit the state
}

// Timers of the authentication and the keepalive.
const (
	papRetry = 3 * time.Second
	papTries = 10
	// authTimeout bounds the authentication phase (a concentrator that
	// never challenges).
	authTimeout = 30 * time.Second
)

// Session is the PPP client over one PPPoE session. It is not safe for
// concurrent use.
type Session struct {
	c      Config
	phase  Phase
	lcp    *fsm
	lcpL   *lcp
	ipcp   *fsm
	ipcpL  *ipcp
	out    []Packet
	events []Event

	authDeadline time.Time
	papID        uint8
	papTries     int
	papNext      time.Time
	authed       bool

	echoNext   time.Time
	echoMissed int
	echoSent   uint64
	echoID     uint8

	lastFailure string
	authFailed  bool
	ignored     uint64
}

// New checks c and returns a session in phase Dead; Open starts it.
func New(c Config) (*Session, error) {
	if len(c.Username) > 255 || len(c.Password) > 255 {
		return nil, errors.New("ppp: username and password are at most 255 bytes")
	}
	if c.MRU == 0 {
		c.MRU = 1492
	}
	if c.MRU < 576 || c.MRU > 1500 {
		return nil, fmt.Errorf("ppp: MRU %d out of range 576..1500", c.MRU)
	}
	if c.EchoInterval == 0 {
		c.EchoInterval = 10 * time.Second
	}
	if c.EchoFailures == 0 {
		c.EchoFailures = 3
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	s := &Session{c: c}
	s.lcpL = &lcp{s: s, mru: c.MRU, askMRU: true, askMagic: true}
	s.lcpL.magic = s.random32()
	s.lcp = &fsm{proto: ProtoLCP, l: s.lcpL, send: s.emit, echo: s.echoReply}
	s.ipcpL = &ipcp{s: s, askDNS1: true, askDNS2: true}
	s.ipcp = &fsm{proto: ProtoIPCP, l: s.ipcpL, send: s.emit}
	return s, nil
}

func (s *Session) random32() uint32 {
	var b [4]byte
	for {
		if _, err := io.ReadFull(s.c.Rand, b[:]); err != nil {
			return uint32(time.Now().UnixNano()) | 1
		}
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}

func (s *Session) emit(p Packet) { s.out = append(s.out, p) }

func (s *Session) take() []Packet {
	o := s.out
	s.out = nil
	return o
}

// Open starts the link: the PPPoE session exists (LCP Up and Open).
func (s *Session) Open(now time.Time) []Packet {
	s.phase = PhaseEstablish
	s.lcp.event(eOpen, nil, now)
	s.lcp.event(eUp, nil, now)
	return s.take()
}

// Close ends the link politely (LCP Terminate-Request).
func (s *Session) Close(reason string, now time.Time) []Packet {
	if s.lastFailure == "" {
		s.lastFailure = reason
	}
	s.lcp.event(eClose, nil, now)
	return s.take()
}

// LowerDown: the PPPoE session is gone.
func (s *Session) LowerDown(now time.Time) {
	s.lcp.event(eDown, nil, now)
	s.phase = PhaseDead
	s.out = nil
}

// Events returns the transitions since the last call and forgets them.
func (s *Session) Events() []Event {
	e := s.events
	s.events = nil
	return e
}

// Deadline is when Tick is due; zero when nothing waits.
func (s *Session) Deadline() time.Time {
	var d time.Time
	for _, t := range []time.Time{s.lcp.deadline(), s.ipcp.deadline(), s.papNext, s.authDeadline, s.echoNext} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// Tick runs the timers and returns packets to send.
func (s *Session) Tick(now time.Time) []Packet {
	s.lcp.tick(now)
	s.ipcp.tick(now)
	if !s.papNext.IsZero() && !now.Before(s.papNext) {
		s.sendPAP(now)
	}
	if !s.authDeadline.IsZero() && !now.Before(s.authDeadline) {
		s.authDeadline = time.Time{}
		s.fail("authentication did not finish within 30 s (the concentrator sent no challenge or result)", false, now)
	}
	if !s.echoNext.IsZero() && !now.Before(s.echoNext) {
		if s.echoMissed >= s.c.EchoFailures {
			s.echoNext = time.Time{}
			s.fail(fmt.Sprintf("no LCP echo reply from the concentrator for %v (%d echo requests unanswered)",
				time.Duration(s.echoMissed)*s.c.EchoInterval, s.echoMissed), false, now)
		} else {
			s.echoMissed++
			s.echoSent++
			s.echoID++
			s.emit(Packet{ProtoLCP, control{Code: EchoReq, ID: s.echoID, Data: binary.BigEndian.AppendUint32(nil, s.lcpL.magic)}.encode()})
			s.echoNext = now.Add(s.c.EchoInterval)
		}
	}
	return s.take()
}

// fail closes the link with a reason for the owner.
func (s *Session) fail(reason string, auth bool, now time.Time) {
	s.lastFailure, s.authFailed = reason, auth
	s.lcp.event(eClose, nil, now)
}

// Input takes a PPP packet from the peer and returns packets to send.
func (s *Session) Input(proto uint16, info []byte, now time.Time) []Packet {
	switch proto {
	case ProtoLCP:
		c, err := parseControl(info)
		if err != nil {
			s.ignored++
			break
		}
		switch c.Code {
		case EchoReply:
			if len(c.Data) >= 4 {
				if m := binary.BigEndian.Uint32(c.Data); m != s.lcpL.magic && (m != 0 || !s.lcpL.askMagic) {
					s.echoMissed = 0
				}
			}
		case ProtoRej:
			// The peer does not speak a protocol we sent: only IPCP and
			// the authentication protocols are ours to send, and without
			// them there is no link.
			if len(c.Data) >= 2 {
				p := binary.BigEndian.Uint16(c.Data)
				s.fail(fmt.Sprintf("the concentrator rejected protocol %#04x", p), false, now)
			}
		case TermReq:
			if s.lcp.st == sOpened && s.lastFailure == "" {
				s.lastFailure = "the concentrator ended the session (LCP Terminate-Request"
				if len(c.Data) > 0 {
					s.lastFailure += ": " + peertext.Clean(c.Data, 128)
				}
				s.lastFailure += ")"
			}
			s.lcp.input(c, now)
		default:
			s.lcp.input(c, now)
		}
	case ProtoPAP:
		s.inputPAP(info, now)
	case ProtoCHAP:
		s.inputCHAP(info, now)
	case ProtoIPCP:
		if s.phase != PhaseNetwork {
			s.ignored++ // RFC 1661 §3.4: silently discarded before the network phase
			break
		}
		c, err := parseControl(info)
		if err != nil {
			s.ignored++
			break
		}
		s.ipcp.input(c, now)
	default:
		if s.lcp.st == sOpened {
			// Protocol-Reject with as much of the packet as fits.
			data := binary.BigEndian.AppendUint16(nil, proto)
			data = append(data, info[:min(len(info), s.lcpL.sendMRU()-8)]...)
			s.lcp.id++
			s.emit(Packet{ProtoLCP, control{Code: ProtoRej, ID: s.lcp.id, Data: data}.encode()})
		} else {
			s.ignored++
		}
	}
	return s.take()
}

func (l *lcp) sendMRU() int {
	if l.peerMRU == 0 {
		return 1500
	}
	return l.peerMRU
}

func (s *Session) echoReply(c control) []byte {
	if len(c.Data) < 4 {
		return nil
	}
	return append(binary.BigEndian.AppendUint32(nil, s.lcpL.magic), c.Data[4:]...)
}

// lcpUp: the link is established; authenticate if the peer asked.
func (s *Session) lcpUp(now time.Time) {
	s.echoMissed, s.echoNext = 0, now.Add(s.c.EchoInterval)
	s.authed = false
	switch s.lcpL.auth {
	case ProtoPAP:
		s.phase = PhaseAuthenticate
		s.papTries = 0
		s.sendPAP(now)
		s.authDeadline = now.Add(authTimeout)
	case ProtoCHAP:
		s.phase = PhaseAuthenticate
		s.authDeadline = now.Add(authTimeout)
	default:
		s.network(now)
	}
}

func (s *Session) network(now time.Time) {
	s.phase, s.authed, s.authDeadline, s.papNext = PhaseNetwork, true, time.Time{}, time.Time{}
	s.ipcp.event(eOpen, nil, now)
	s.ipcp.event(eUp, nil, now)
}

func (s *Session) lcpDown(now time.Time) {
	s.phase = PhaseTerminate
	s.echoNext, s.papNext, s.authDeadline = time.Time{}, time.Time{}, time.Time{}
	s.ipcp.event(eDown, nil, now)
	s.ipcp.event(eClose, nil, now)
}

func (s *Session) lcpFinished(now time.Time) {
	s.phase = PhaseDead
	reason := s.lastFailure
	if reason == "" {
		reason = "the link could not be established (no LCP agreement with the concentrator)"
	}
	s.events = append(s.events, Down{Reason: reason, AuthFailed: s.authFailed})
}

func (s *Session) ipcpUp(now time.Time) {
	p := s.ipcpL
	if !p.addr.IsValid() || p.addr.IsUnspecified() {
		s.fail("the concentrator gave no IPv4 address (IPCP agreed on 0.0.0.0)", false, now)
		return
	}
	var dns []netip.Addr
	for _, a := range []netip.Addr{p.dns1, p.dns2} {
		if a.IsValid() && !a.IsUnspecified() {
			dns = append(dns, a)
		}
	}
	s.lastFailure = ""
	s.events = append(s.events, Up{Local: p.addr, Peer: p.peer, DNS: dns, PeerMRU: s.lcpL.peerMRU})
}

func (s *Session) ipcpDown(now time.Time) {}

// ---- authentication ----

func (s *Session) sendPAP(now time.Time) {
	if s.papTries >= papTries {
		s.papNext = time.Time{}
		s.fail(fmt.Sprintf("authentication failed: no answer to %d PAP requests", papTries), true, now)
		return
	}
	s.papTries++
	s.papID++
	d := append([]byte{byte(len(s.c.Username))}, s.c.Username...)
	d = append(append(d, byte(len(s.c.Password))), s.c.Password...)
	s.emit(Packet{ProtoPAP, control{Code: 1, ID: s.papID, Data: d}.encode()})
	s.papNext = now.Add(papRetry)
}

func (s *Session) inputPAP(info []byte, now time.Time) {
	c, err := parseControl(info)
	if err != nil || s.phase != PhaseAuthenticate || s.lcpL.auth != ProtoPAP || c.ID != s.papID {
		s.ignored++
		return
	}
	msg := ""
	if len(c.Data) >= 1 && int(c.Data[0]) <= len(c.Data)-1 {
		msg = peertext.Clean(c.Data[1:1+int(c.Data[0])], 128)
	}
	switch c.Code {
	case 2: // Authenticate-Ack
		s.network(now)
	case 3: // Authenticate-Nak
		s.papNext = time.Time{}
		s.fail(authFailed("PAP", msg), true, now)
	default:
		s.ignored++
	}
}

func (s *Session) inputCHAP(info []byte, now time.Time) {
	c, err := parseControl(info)
	if err != nil || s.lcpL.auth != ProtoCHAP || (s.phase != PhaseAuthenticate && s.phase != PhaseNetwork) {
		s.ignored++
		return
	}
	switch c.Code {
	case 1: // Challenge (also a re-challenge in the network phase)
		if len(c.Data) < 2 || c.Data[0] == 0 || int(c.Data[0]) > len(c.Data)-1 {
			s.ignored++
			return
		}
		h := md5.New()
		h.Write([]byte{c.ID})
		h.Write([]byte(s.c.Password))
		h.Write(c.Data[1 : 1+int(c.Data[0])])
		d := append([]byte{md5.Size}, h.Sum(nil)...)
		d = append(d, s.c.Username...)
		s.emit(Packet{ProtoCHAP, control{Code: 2, ID: c.ID, Data: d}.encode()})
	case 3: // Success
		if s.phase == PhaseAuthenticate {
			s.network(now)
		}
	case 4: // Failure
		s.fail(authFailed("CHAP", peertext.Clean(c.Data, 128)), true, now)
	default:
		s.ignored++
	}
}

// Status returns the session's state.
func (s *Session) Status() Status {
	auth := "none"
	switch s.lcpL.auth {
	case ProtoPAP:
		auth = "pap"
	case ProtoCHAP:
		auth = "chap-md5"
	}
	return Status{Phase: s.phase, LCP: s.lcp.String(), IPCP: s.ipcp.String(), MRU: s.lcpL.mru, PeerMRU: s.lcpL.peerMRU,
		Auth: auth, EchoSent: s.echoSent, EchoMissed: s.echoMissed, LastFailure: s.lastFailure,
		Ignored: s.ignored + s.lcp.ignored + s.ipcp.ignored}
}

// authFailed says in words that the login was refused, with the
// concentrator's message when it gave one.
func authFailed(method, msg string) string {
	why := method
	if msg != "" {
		why += ": " + msg
	}
	return "authentication failed: the concentrator refused the username or password (" + why +
		"); check set interfaces wan pppoe username and password"
}
