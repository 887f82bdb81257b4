package wan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/ppp"
	"github.com/passgate/passgate/pkg/pppoe"
)

// PPPoEConfig configures the PPPoE mode: a PPPoE client (pkg/pppoe) finds
// the ISP's access concentrator, and a PPP session (pkg/ppp) over it logs
// in and gets the address.
type PPPoEConfig struct {
	MAC                 net.HardwareAddr // the WAN port's
	Username, Password  string
	ServiceName, ACName string
	// MTU is the PPP MTU asked for (the MRU): 1492, or up to 1500 with
	// Jumbo (RFC 4638 PPP-Max-Payload).
	MTU          int
	Jumbo        bool
	EchoInterval time.Duration
	EchoFailures int

	// Send transmits a complete, untagged Ethernet frame on the WAN
	// (routerd: the data plane's SendWAN, through pkg/wanport).
	Send func(frame []byte) error
	// Session tells the WAN port the session IPv4 travels in (nil: none).
	Session func(s *SessionInfo)

	Logf func(format string, args ...any)
}

// SessionInfo is the PPPoE session IPv4 is carried in.
type SessionInfo struct {
	ID  uint16
	AC  net.HardwareAddr
	MTU int // the most we may send: the smaller of our MTU and the peer's MRU
}

// PPPoEStatus is what `show interfaces wan` shows of the PPPoE mode.
type PPPoEStatus struct {
	State       string // in words: "discovering", "authenticating", "up"…
	SessionID   uint16
	AC          net.HardwareAddr
	ACName      string
	ServiceName string
	MRU         int // ours, as negotiated
	PeerMRU     int // the concentrator's (0: it named none, 1500 by default)
	MTU         int // what we send: the smaller of MRU and PeerMRU
	Auth        string
	Since       time.Time // when the state last changed
	LastFailure string    // in words, with the fix where there is one
	Sessions    int       // sessions established since start
}

// PPPoE is the PPPoE WAN mode.
type PPPoE struct {
	c      PPPoEConfig
	frames chan []byte

	mu sync.Mutex
	st PPPoEStatus
}

// Reconnection backoff after a session ends or fails: 1 s doubling to
// 64 s; an authentication failure waits at least 30 s (a wrong password
// must not hammer the ISP, which may lock the account).
const (
	pppoeBackoffMin  = time.Second
	pppoeBackoffMax  = 64 * time.Second
	pppoeAuthBackoff = 30 * time.Second
	// pppoeFrameQueue bounds the frames waiting for the client; more are
	// dropped (a flood of discovery frames cannot grow memory).
	pppoeFrameQueue = 64
	// pppoeNoPeer is the gateway when the concentrator names no address
	// of its own in IPCP (as pppd does).
	pppoeNoPeer = "10.64.64.64"
)

// NewPPPoE checks c and returns the mode; Run starts it.
func NewPPPoE(c PPPoEConfig) (*PPPoE, error) {
	if len(c.MAC) != 6 {
		return nil, fmt.Errorf("wan: pppoe: WAN MAC %v is not 6 bytes", c.MAC)
	}
	if c.Send == nil {
		return nil, errors.New("wan: pppoe: no Send")
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.MTU == 0 {
		c.MTU = 1492
	}
	return &PPPoE{c: c, frames: make(chan []byte, pppoeFrameQueue), st: PPPoEStatus{State: "starting"}}, nil
}

// Deliver hands the mode a PPPoE discovery or PPP control frame from the
// WAN (untagged). It copies the frame and never blocks.
func (p *PPPoE) Deliver(frame []byte) {
	if len(frame) > 1600 {
		return
	}
	select {
	case p.frames <- append([]byte(nil), frame...):
	default:
	}
}

// Status returns the mode's state for show commands.
func (p *PPPoE) Status() PPPoEStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.AC = append(net.HardwareAddr(nil), s.AC...)
	return s
}

func (p *PPPoE) setState(f func(s *PPPoEStatus)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.st.State
	f(&p.st)
	if p.st.State != old {
		p.st.Since = time.Now()
	}
}

// run is one PPPoE client's life: discovery, sessions, reconnection.
type pppoeRun struct {
	p      *PPPoE
	emit   func(Event)
	client *pppoe.Client
	sess   *ppp.Session // nil outside a session
	id     uint16
	ac     [6]byte
	lease  *Lease // the address held, nil if none
	// waitUntil: after a failure, discovery starts again then.
	waitUntil time.Time
	backoff   time.Duration
	clientErr string // the discovery failure last shown
}

// Run implements Mode: it runs the client until ctx is done, then ends
// the session politely (LCP Terminate-Request and PADT).
func (p *PPPoE) Run(ctx context.Context, emit func(Event)) error {
	maxPayload := 0
	if p.c.Jumbo && p.c.MTU > 1492 {
		maxPayload = p.c.MTU
	}
	client, err := pppoe.NewClient(pppoe.Config{MAC: [6]byte(p.c.MAC), ServiceName: p.c.ServiceName, ACName: p.c.ACName, MaxPayload: maxPayload})
	if err != nil {
		return fmt.Errorf("wan: pppoe: %w", err)
	}
	r := &pppoeRun{p: p, emit: emit, client: client, backoff: pppoeBackoffMin}
	now := time.Now()
	r.send(client.Start(now))
	p.setState(func(s *PPPoEStatus) { s.State = "discovering" })
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now = time.Now()
		next := r.deadline()
		d := time.Hour
		if !next.IsZero() {
			d = max(next.Sub(now), 0)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			r.stop(time.Now())
			return nil
		case f := <-p.frames:
			r.frame(f, time.Now())
		case <-timer.C:
			r.tick(time.Now())
		}
	}
}

func (r *pppoeRun) deadline() time.Time {
	var d time.Time
	for _, t := range []time.Time{r.client.Deadline(), r.waitUntil, r.sessDeadline()} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (r *pppoeRun) sessDeadline() time.Time {
	if r.sess == nil {
		return time.Time{}
	}
	return r.sess.Deadline()
}

func (r *pppoeRun) send(frames [][]byte) {
	for _, f := range frames {
		if err := r.p.c.Send(f); err != nil {
			r.p.c.Logf("wan: pppoe: send: %v", err)
		}
	}
}

// sendPPP sends PPP packets in the session.
func (r *pppoeRun) sendPPP(pkts []ppp.Packet) {
	for _, pk := range pkts {
		b := make([]byte, 0, 14+8+len(pk.Data))
		b = pppoe.AppendEthernet(b, r.ac, [6]byte(r.p.c.MAC), pppoe.EtherTypeSession)
		b = pppoe.AppendSessionHeader(b, r.id, pk.Proto, len(pk.Data))
		b = append(b, pk.Data...)
		r.send([][]byte{b})
	}
}

func (r *pppoeRun) frame(f []byte, now time.Time) {
	defer r.syncState()
	if len(f) < 14 {
		return
	}
	switch uint16(f[12])<<8 | uint16(f[13]) {
	case pppoe.EtherTypeDiscovery:
		r.send(r.client.HandleFrame(f, now))
		r.clientEvents(now)
	case pppoe.EtherTypeSession:
		if r.sess == nil || [6]byte(f[6:12]) != r.ac {
			return
		}
		id, proto, info, err := pppoe.ParseSession(f[14:])
		if err != nil || id != r.id {
			return
		}
		r.sendPPP(r.sess.Input(proto, info, now))
		r.pppEvents(now)
	}
}

// syncState shows the discovery stage's state while there is no session.
func (r *pppoeRun) syncState() {
	if r.sess != nil {
		return
	}
	var st string
	switch r.client.Status().State {
	case pppoe.Discovering:
		st = "discovering"
	case pppoe.Requesting:
		st = "requesting a session"
	default:
		return
	}
	r.p.setState(func(s *PPPoEStatus) { s.State = st })
}

func (r *pppoeRun) tick(now time.Time) {
	defer r.syncState()
	if !r.waitUntil.IsZero() && !now.Before(r.waitUntil) {
		r.waitUntil = time.Time{}
		r.send(r.client.Start(now))
		r.p.setState(func(s *PPPoEStatus) { s.State = "discovering" })
	}
	r.send(r.client.Tick(now))
	r.clientEvents(now)
	if r.sess != nil {
		r.sendPPP(r.sess.Tick(now))
		r.pppEvents(now)
	}
	if e := r.client.Status().LastError; e != r.clientErr && r.sess == nil {
		// A new discovery failure ("no PPPoE concentrator answered…").
		r.clientErr = e
		r.p.setState(func(s *PPPoEStatus) { s.LastFailure = e })
	}
}

// clientEvents handles the discovery stage's transitions.
func (r *pppoeRun) clientEvents(now time.Time) {
	for _, ev := range r.client.Events() {
		switch e := ev.(type) {
		case pppoe.SessionUp:
			sess, err := ppp.New(ppp.Config{Username: r.p.c.Username, Password: r.p.c.Password, MRU: r.p.c.MTU,
				EchoInterval: r.p.c.EchoInterval, EchoFailures: r.p.c.EchoFailures})
			if err != nil {
				r.p.c.Logf("wan: pppoe: %v", err)
				r.send(r.client.Terminate(now, "configuration error"))
				r.retry(now, pppoeAuthBackoff)
				continue
			}
			r.sess, r.id, r.ac = sess, e.ID, e.AC
			r.p.c.Logf("wan: pppoe: session %#04x with %q (%v)", e.ID, e.ACName, net.HardwareAddr(e.AC[:]))
			r.p.setState(func(s *PPPoEStatus) {
				s.State, s.SessionID, s.AC, s.ACName = "negotiating", e.ID, net.HardwareAddr(e.AC[:]), e.ACName
				s.ServiceName = r.client.Status().ServiceName
			})
			r.sendPPP(sess.Open(now))
			r.pppEvents(now)
		case pppoe.SessionDown:
			r.p.c.Logf("wan: pppoe: the concentrator ended the session: %s", e.Reason)
			if r.sess != nil {
				r.sess.LowerDown(now)
				r.sess = nil
			}
			// The client waits its own backoff and discovers again.
			r.down(now, "the concentrator ended the session (PADT): "+e.Reason)
		}
	}
}

// pppEvents handles the PPP session's transitions.
func (r *pppoeRun) pppEvents(now time.Time) {
	if r.sess == nil {
		return
	}
	for _, ev := range r.sess.Events() {
		switch e := ev.(type) {
		case ppp.Up:
			mtu := r.p.c.MTU
			if e.PeerMRU > 0 {
				mtu = min(mtu, e.PeerMRU)
			}
			gw := e.Peer
			if !gw.IsValid() || gw.IsUnspecified() {
				gw = netip.MustParseAddr(pppoeNoPeer)
			}
			l := Lease{Addr: netip.PrefixFrom(e.Local, 32), Gateway: gw, DNS: e.DNS, MTU: mtu, Obtained: now}
			if r.p.c.Session != nil {
				r.p.c.Session(&SessionInfo{ID: r.id, AC: net.HardwareAddr(r.ac[:]), MTU: mtu})
			}
			st := r.sess.Status()
			r.p.setState(func(s *PPPoEStatus) {
				s.State, s.MRU, s.PeerMRU, s.MTU, s.Auth, s.LastFailure = "up", st.MRU, e.PeerMRU, mtu, st.Auth, ""
				s.Sessions++
			})
			r.backoff = pppoeBackoffMin
			old := r.lease
			r.lease = &l
			r.p.c.Logf("wan: pppoe: up: %v", l)
			if old != nil && old.Addr != l.Addr {
				r.emit(LeaseChanged{Lease: l, Old: *old})
			} else if old != nil {
				r.emit(LeaseRenewed{Lease: l})
			} else {
				r.emit(LeaseAcquired{Lease: l})
			}
		case ppp.Down:
			wait := pppoeBackoffMin
			if e.AuthFailed {
				wait = pppoeAuthBackoff
			}
			r.send(r.client.Terminate(now, e.Reason))
			r.sess = nil
			r.down(now, e.Reason)
			r.retry(now, wait)
		}
	}
}

// down ends what the session held.
func (r *pppoeRun) down(now time.Time, why string) {
	if r.p.c.Session != nil {
		r.p.c.Session(nil)
	}
	if r.lease != nil {
		l := *r.lease
		r.lease = nil
		r.emit(LeaseLost{Lease: l, Reason: LostSessionEnded})
	}
	r.p.c.Logf("wan: pppoe: %s", why)
	r.p.setState(func(s *PPPoEStatus) { s.State, s.LastFailure, s.SessionID = "waiting to reconnect", why, 0 })
}

func (r *pppoeRun) retry(now time.Time, atLeast time.Duration) {
	wait := max(r.backoff, atLeast)
	r.backoff = min(wait*2, pppoeBackoffMax)
	r.waitUntil = now.Add(wait)
}

// stop ends the session on shutdown.
func (r *pppoeRun) stop(now time.Time) {
	if r.sess != nil {
		r.sendPPP(r.sess.Close("router shutting down", now))
		r.sess = nil
	}
	r.send(r.client.Terminate(now, "router shutting down"))
	if r.p.c.Session != nil {
		r.p.c.Session(nil)
	}
}
