package wan

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/ppp"
	"github.com/passgate/passgate/pkg/pppoe"
)

// fakeAC is an ISP's access concentrator for the PPPoE mode's tests: it
// answers discovery, asks for PAP, checks one login, hands out
// 198.51.100.2 and two resolvers in IPCP, answers echoes; it speaks from
// the wire bytes (pkg/pppoe's codec for discovery, PPP by hand).
type fakeAC struct {
	t          *testing.T
	mac        [6]byte
	user, pass string
	mode       *PPPoE // where its frames go

	mu         sync.Mutex
	client     [6]byte
	id         uint16
	padi, padt int
	termReqs   int
	ppid       uint8
}

const fakeSession = 0x1234

func (a *fakeAC) count() (padi, padt, termReqs int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.padi, a.padt, a.termReqs
}

// send is the mode's Send: the concentrator reads the frame and answers.
func (a *fakeAC) send(f []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(f) < 14 {
		a.t.Errorf("short frame % x", f)
		return nil
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case pppoe.EtherTypeDiscovery:
		a.discovery(f)
	case pppoe.EtherTypeSession:
		id, proto, info, err := pppoe.ParseSession(f[14:])
		if err != nil || id != a.id {
			a.t.Errorf("session frame for %#x (%v), the session is %#x", id, err, a.id)
			return nil
		}
		a.ppp(proto, info)
	}
	return nil
}

func (a *fakeAC) discovery(f []byte) {
	d, err := pppoe.ParseDiscovery(f[14:])
	if err != nil {
		a.t.Errorf("the client sent a bad discovery packet: %v", err)
		return
	}
	a.client = [6]byte(f[6:12])
	var echo []pppoe.Tag
	for _, tg := range d.Tags {
		if tg.Type == pppoe.TagServiceName || tg.Type == pppoe.TagHostUniq {
			echo = append(echo, tg)
		}
	}
	switch d.Code {
	case pppoe.PADI:
		a.padi++
		a.disc(pppoe.Discovery{Code: pppoe.PADO, Tags: append(echo, pppoe.Tag{Type: pppoe.TagACName, Value: []byte("fake-ac")},
			pppoe.Tag{Type: pppoe.TagACCookie, Value: []byte("cookie")})})
	case pppoe.PADR:
		if c, _ := d.Tag(pppoe.TagACCookie); string(c) != "cookie" {
			a.t.Errorf("PADR without the AC-Cookie")
		}
		a.id = fakeSession
		a.disc(pppoe.Discovery{Code: pppoe.PADS, SessionID: a.id, Tags: echo})
	case pppoe.PADT:
		a.padt++
		a.id = 0
	}
}

func (a *fakeAC) disc(d pppoe.Discovery) {
	b := pppoe.AppendEthernet(nil, a.client, a.mac, pppoe.EtherTypeDiscovery)
	b, err := pppoe.AppendDiscovery(b, d)
	if err != nil {
		a.t.Fatal(err)
	}
	a.mode.Deliver(b)
}

// padtNow ends the session from the concentrator's side.
func (a *fakeAC) padtNow() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.disc(pppoe.Discovery{Code: pppoe.PADT, SessionID: a.id})
	a.id = 0
}

func (a *fakeAC) out(proto uint16, code, id uint8, data []byte) {
	b := pppoe.AppendEthernet(nil, a.client, a.mac, pppoe.EtherTypeSession)
	b = pppoe.AppendSessionHeader(b, a.id, proto, 4+len(data))
	b = append(b, code, id, byte((4+len(data))>>8), byte(4+len(data)))
	a.mode.Deliver(append(b, data...))
}

func pppOpt(typ uint8, data ...byte) []byte { return append([]byte{typ, byte(2 + len(data))}, data...) }

func (a *fakeAC) ppp(proto uint16, info []byte) {
	if len(info) < 4 {
		a.t.Errorf("short PPP packet % x", info)
		return
	}
	code, id, data := info[0], info[1], info[4:int(binary.BigEndian.Uint16(info[2:]))]
	switch proto {
	case ppp.ProtoLCP:
		switch code {
		case ppp.ConfReq:
			a.out(proto, ppp.ConfAck, id, data)
			a.ppid++
			a.out(proto, ppp.ConfReq, a.ppid, append(pppOpt(5, 0xfa, 0xce, 0xb0, 0x0c), pppOpt(3, 0xc0, 0x23)...))
		case ppp.EchoReq:
			a.out(proto, ppp.EchoReply, id, []byte{0xfa, 0xce, 0xb0, 0x0c})
		case ppp.TermReq:
			a.termReqs++
			a.out(proto, ppp.TermAck, id, nil)
		}
	case ppp.ProtoPAP:
		u := string(data[1 : 1+data[0]])
		pw := string(data[2+data[0] : 2+int(data[0])+int(data[1+data[0]])])
		if u != a.user || pw != a.pass {
			a.out(proto, 3, id, []byte("\x0fLogin incorrect"))
			return
		}
		a.out(proto, 2, id, []byte("\x02ok"))
		a.ppid++
		a.out(ppp.ProtoIPCP, ppp.ConfReq, a.ppid, pppOpt(3, 198, 51, 100, 1))
	case ppp.ProtoIPCP:
		if code != ppp.ConfReq {
			return
		}
		want := map[uint8][]byte{3: {198, 51, 100, 2}, 129: {198, 51, 100, 53}, 131: {198, 51, 100, 54}}
		var nak []byte
		for b := data; len(b) >= 2 && int(b[1]) <= len(b); b = b[b[1]:] {
			if w := want[b[0]]; w != nil && string(b[2:b[1]]) != string(w) {
				nak = append(nak, pppOpt(b[0], w...)...)
			}
		}
		if nak != nil {
			a.out(proto, ppp.ConfNak, id, nak)
		} else {
			a.out(proto, ppp.ConfAck, id, data)
		}
	}
}

// runPPPoE starts the mode against a fake concentrator; events arrive on
// the channel, the WAN port's session settings on the other.
func runPPPoE(t *testing.T, pass string) (*PPPoE, *fakeAC, chan Event, chan *SessionInfo, context.CancelFunc, chan struct{}) {
	t.Helper()
	ac := &fakeAC{t: t, mac: [6]byte{0x02, 0xac, 0, 0, 0, 1}, user: "user@isp", pass: "right"}
	sessions := make(chan *SessionInfo, 16)
	m, err := NewPPPoE(PPPoEConfig{MAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 9}, Username: "user@isp", Password: pass,
		EchoInterval: time.Second, EchoFailures: 3, Send: ac.send, Session: func(s *SessionInfo) { sessions <- s }})
	if err != nil {
		t.Fatal(err)
	}
	ac.mode = m
	events := make(chan Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, func(e Event) { events <- e }) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, ac, events, sessions, cancel, done
}

func nextEvent(t *testing.T, events chan Event, d time.Duration) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(d):
		t.Fatalf("no event in %v", d)
		return nil
	}
}

func TestPPPoEModeUpAndPADT(t *testing.T) {
	m, ac, events, sessions, _, _ := runPPPoE(t, "right")
	e, ok := nextEvent(t, events, 5*time.Second).(LeaseAcquired)
	if !ok {
		t.Fatalf("first event %#v, want LeaseAcquired", e)
	}
	want := Lease{Addr: netip.MustParsePrefix("198.51.100.2/32"), Gateway: netip.MustParseAddr("198.51.100.1"),
		DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}, MTU: 1492}
	if e.Addr != want.Addr || e.Gateway != want.Gateway || len(e.DNS) != 2 || e.DNS[0] != want.DNS[0] || e.DNS[1] != want.DNS[1] || e.MTU != 1492 {
		t.Fatalf("lease %v, want %v", e.Lease, want)
	}
	if s := <-sessions; s == nil || s.ID != fakeSession || s.AC.String() != "02:ac:00:00:00:01" || s.MTU != 1492 {
		t.Fatalf("WAN port session %+v", s)
	}
	st := m.Status()
	if st.State != "up" || st.SessionID != fakeSession || st.ACName != "fake-ac" || st.Auth != "pap" || st.MTU != 1492 || st.Sessions != 1 {
		t.Fatalf("status %+v", st)
	}

	// The concentrator ends the session: the address goes, the WAN port
	// stops framing, and a new session follows after the backoff.
	ac.padtNow()
	lost, ok := nextEvent(t, events, 5*time.Second).(LeaseLost)
	if !ok || lost.Reason != LostSessionEnded || lost.Addr != want.Addr {
		t.Fatalf("after PADT: %#v, want LeaseLost(session ended)", lost)
	}
	if s := <-sessions; s != nil {
		t.Fatalf("WAN port still framing session %+v", s)
	}
	if st := m.Status(); !strings.Contains(st.LastFailure, "PADT") {
		t.Errorf("last failure %q does not name the PADT", st.LastFailure)
	}
	if _, ok := nextEvent(t, events, 10*time.Second).(LeaseAcquired); !ok {
		t.Fatal("no new lease after the PADT")
	}
	if st := m.Status(); st.Sessions != 2 || st.LastFailure != "" {
		t.Fatalf("status after the new session %+v", st)
	}
}

func TestPPPoEModeWrongPasswordWaits(t *testing.T) {
	m, ac, events, _, _, _ := runPPPoE(t, "wrong")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(m.Status().LastFailure, "authentication failed") {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: no authentication failure said", m.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// At least 30 s before the next attempt: nothing more for 2 s.
	time.Sleep(2 * time.Second)
	if padi, padt, _ := ac.count(); padi != 1 || padt != 1 {
		t.Errorf("%d PADI, %d PADT: want one attempt, ended by PADT, and a wait", padi, padt)
	}
	select {
	case e := <-events:
		t.Fatalf("event %#v with a wrong password", e)
	default:
	}
	if st := m.Status(); st.State != "waiting to reconnect" {
		t.Errorf("state %q", st.State)
	}
}

func TestPPPoEModeShutdownEndsTheSession(t *testing.T) {
	_, ac, events, _, cancel, done := runPPPoE(t, "right")
	if _, ok := nextEvent(t, events, 5*time.Second).(LeaseAcquired); !ok {
		t.Fatal("no lease")
	}
	cancel()
	<-done
	if _, padt, term := ac.count(); padt != 1 || term != 1 {
		t.Fatalf("on shutdown %d PADT, %d LCP Terminate-Request; want one of each", padt, term)
	}
}

func TestPPPoEModeIgnoresStrangers(t *testing.T) {
	m, _, events, _, _, _ := runPPPoE(t, "right")
	if _, ok := nextEvent(t, events, 5*time.Second).(LeaseAcquired); !ok {
		t.Fatal("no lease")
	}
	// A session frame from another MAC, one for another session, garbage
	// and a huge frame: nothing changes.
	other := pppoe.AppendEthernet(nil, [6]byte{0x02, 0, 0, 0, 0, 9}, [6]byte{0x02, 6, 6, 6, 6, 6}, pppoe.EtherTypeSession)
	other = pppoe.AppendSessionHeader(other, fakeSession, ppp.ProtoLCP, 4)
	other = append(other, ppp.TermReq, 1, 0, 4)
	m.Deliver(other)
	m.Deliver([]byte{1, 2, 3})
	m.Deliver(make([]byte, 9000))
	time.Sleep(200 * time.Millisecond)
	select {
	case e := <-events:
		t.Fatalf("event %#v from a stranger's frames", e)
	default:
	}
	if st := m.Status(); st.State != "up" || st.Sessions != 1 {
		t.Fatalf("status %+v", st)
	}
}
