package dhcpv6

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"github.com/passgate/passgate/pkg/wan"
)

var (
	epoch     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clientMAC = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	// ispPrefix is what the test ISP delegates unless told otherwise.
	ispPrefix  = netip.MustParsePrefix("2001:db8:100::/56")
	ispPrefix2 = netip.MustParsePrefix("2001:db8:200::/56")
	ispAddr    = netip.MustParseAddr("2001:db8:1::100")
	ispDNS     = []netip.Addr{netip.MustParseAddr("2001:db8:53::1"), netip.MustParseAddr("2001:db8:53::2")}
)

// ---------------------------------------------------------------- the ISP

// isp is a DHCPv6 server built on the insomniacslk codec, played by the
// tests: it answers what it is configured to and checks the client's
// messages as a strict server would.
type isp struct {
	t    *testing.T
	name string
	duid []byte
	addr netip.Addr // link-local source of its messages

	mu        sync.Mutex
	pref      int // Preference option; -1 omits it
	prefix    netip.Prefix
	preferred time.Duration
	valid     time.Duration
	t1, t2    time.Duration
	address   netip.Addr // IA_NA; zero answers NoAddrsAvail
	dns       []netip.Addr
	domains   []string
	rapid     bool // honours Rapid Commit
	silent    map[d6.MessageType]bool
	noPrefix  bool                      // NoPrefixAvail in the IA_PD
	noBinding bool                      // NoBinding for Renew and Rebind
	status    iana.StatusCode           // top-level status in Replies; 0 none
	withdraw  netip.Prefix              // also sent with lifetimes 0
	extra     []d6.Option               // added to every answer
	mutate    func(resp *d6.Message)    // last touch on every answer
	seen      []*d6.Message             // what it received
	bound     map[netip.Prefix]struct{} // prefixes it has given
}

func newISP(t *testing.T, name string, n byte) *isp {
	return &isp{
		t:         t,
		name:      name,
		duid:      []byte{0, 2, 0, 0, 0x09, 0xbf, 'i', 's', 'p', n}, // DUID-EN
		addr:      netip.AddrFrom16([16]byte{0xfe, 0x80, 15: n}),
		pref:      -1,
		prefix:    ispPrefix,
		preferred: 3600 * time.Second,
		valid:     7200 * time.Second,
		t1:        1800 * time.Second,
		t2:        2880 * time.Second,
		address:   ispAddr,
		dns:       ispDNS,
		domains:   []string{"isp.example", "home.example"},
		silent:    map[d6.MessageType]bool{},
		bound:     map[netip.Prefix]struct{}{},
	}
}

func (s *isp) set(f func(s *isp)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *isp) received() []*d6.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// handle answers one client message (sent to the address to).
func (s *isp) handle(req *d6.Message, to netip.Addr) []*d6.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, req)
	t := req.MessageType
	if s.silent[t] {
		return nil
	}
	// A strict server's checks (RFC 8415 §16).
	if req.Options.ClientID() == nil {
		s.t.Errorf("%s: %v without a Client Identifier", s.name, t)
		return nil
	}
	if req.GetOneOption(d6.OptionElapsedTime) == nil {
		s.t.Errorf("%s: %v without Elapsed Time", s.name, t)
	}
	sid := req.GetOneOption(d6.OptionServerID)
	switch t {
	case d6.MessageTypeSolicit, d6.MessageTypeRebind:
		if sid != nil {
			s.t.Errorf("%s: %v carries a Server Identifier", s.name, t)
		}
	case d6.MessageTypeRequest, d6.MessageTypeRenew, d6.MessageTypeRelease:
		if sid == nil {
			s.t.Errorf("%s: %v without a Server Identifier", s.name, t)
			return nil
		}
		if !bytes.Equal(sid.ToBytes(), s.duid) {
			return nil // for another server
		}
	default:
		s.t.Errorf("%s: unexpected %v from the client", s.name, t)
		return nil
	}
	if to.IsValid() && to != AllServers && to != s.addr {
		return nil
	}
	if t != d6.MessageTypeRelease {
		oro := req.Options.RequestedOptions()
		for _, o := range requested {
			if !slices.Contains(oro, o) {
				s.t.Errorf("%s: %v does not request option %v", s.name, t, o)
			}
		}
	}
	resp := &d6.Message{MessageType: d6.MessageTypeReply, TransactionID: req.TransactionID}
	if t == d6.MessageTypeSolicit {
		if s.rapid && req.GetOneOption(d6.OptionRapidCommit) != nil {
			resp.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionRapidCommit})
		} else {
			resp.MessageType = d6.MessageTypeAdvertise
		}
	}
	resp.AddOption(req.GetOneOption(d6.OptionClientID))
	resp.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: s.duid})
	if t == d6.MessageTypeRelease {
		resp.AddOption(&d6.OptStatusCode{StatusCode: iana.StatusSuccess, StatusMessage: "released"})
		return []*d6.Message{resp}
	}
	if s.pref >= 0 {
		resp.AddOption(d6.OptPreference(uint8(s.pref)))
	}
	if s.status != 0 && resp.MessageType == d6.MessageTypeReply {
		resp.AddOption(&d6.OptStatusCode{StatusCode: s.status, StatusMessage: "status from " + s.name})
	}
	if req.Options.OneIAPD() != nil {
		ia := &d6.OptIAPD{IaId: req.Options.OneIAPD().IaId, T1: s.t1, T2: s.t2}
		switch {
		case s.noPrefix:
			ia.Options.Add(&d6.OptStatusCode{StatusCode: iana.StatusNoPrefixAvail, StatusMessage: "no prefixes left"})
		case s.noBinding && (t == d6.MessageTypeRenew || t == d6.MessageTypeRebind):
			ia.Options.Add(&d6.OptStatusCode{StatusCode: iana.StatusNoBinding, StatusMessage: "who are you"})
		default:
			if s.withdraw.IsValid() {
				ia.Options.Add(iaPrefix(s.withdraw, 0, 0))
			}
			ia.Options.Add(iaPrefix(s.prefix, s.preferred, s.valid))
			if resp.MessageType == d6.MessageTypeReply {
				s.bound[s.prefix] = struct{}{}
			}
		}
		resp.AddOption(ia)
	}
	if na := req.Options.OneIANA(); na != nil {
		ia := &d6.OptIANA{IaId: na.IaId, T1: s.t1, T2: s.t2}
		if s.address.IsValid() {
			ia.Options.Add(&d6.OptIAAddress{IPv6Addr: net.IP(s.address.AsSlice()), PreferredLifetime: s.preferred, ValidLifetime: s.valid})
		} else {
			ia.Options.Add(&d6.OptStatusCode{StatusCode: iana.StatusNoAddrsAvail, StatusMessage: "no addresses"})
		}
		resp.AddOption(ia)
	}
	if len(s.dns) > 0 {
		var ips []net.IP
		for _, a := range s.dns {
			ips = append(ips, net.IP(a.AsSlice()))
		}
		resp.AddOption(d6.OptDNS(ips...))
	}
	if len(s.domains) > 0 {
		resp.AddOption(d6.OptDomainSearchList(&rfc1035label.Labels{Labels: s.domains}))
	}
	for _, o := range s.extra {
		resp.AddOption(o)
	}
	if s.mutate != nil {
		s.mutate(resp)
	}
	return []*d6.Message{resp}
}

func iaPrefix(p netip.Prefix, preferred, valid time.Duration) *d6.OptIAPrefix {
	return &d6.OptIAPrefix{
		PreferredLifetime: preferred,
		ValidLifetime:     valid,
		Prefix:            &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 128)},
	}
}

// ---------------------------------------------------------------- simulator

// sent is one client message seen by the servers.
type sent struct {
	at  time.Time
	to  netip.Addr
	msg *d6.Message
}

func (s sent) String() string {
	return fmt.Sprintf("%v %v to %v xid %v", s.at.Sub(epoch), s.msg.MessageType, s.to, s.msg.TransactionID)
}

// sim drives a machine synchronously on a virtual clock: each message the
// client sends is decoded, handed to every server at once, and their
// answers are handed back to the client before time moves on.
type sim struct {
	t       *testing.T
	now     time.Time
	c       *Client
	m       *machine
	link    *MemLink
	servers []*isp
	events  []Event
	log     []sent
	logs    []string
}

// testConfig is the configuration most tests start from.
func testConfig(t *testing.T) Config {
	return Config{HWAddr: clientMAC, StateDir: t.TempDir(), Rand: rand.New(rand.NewPCG(1, 2))}
}

func newSim(t *testing.T, cfg Config, servers ...*isp) *sim {
	t.Helper()
	s := &sim{t: t, now: epoch, link: NewMemLink(), servers: servers}
	cfg.Transport = s.link
	if cfg.HWAddr == nil {
		cfg.HWAddr = clientMAC
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	cfg.Logf = func(format string, args ...any) { s.logs = append(s.logs, fmt.Sprintf(format, args...)) }
	cfg.Clock = simClock{s}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

// simClock is the simulator's clock as the Client sees it; the machine is
// handed the time directly and sets no timers.
type simClock struct{ s *sim }

func (c simClock) Now() time.Time { return c.s.now }

func (c simClock) AfterFunc(time.Duration, func()) wan.Timer {
	panic("the simulator's machine set a timer")
}

// start begins a run (as Run does) and delivers what follows at once.
func (s *sim) start() *sim {
	s.c.ensureDUID()
	s.m = newMachine(s.c, func(e Event) { s.events = append(s.events, e) })
	s.m.start(s.now)
	s.pump()
	return s
}

// pump hands every pending client message to the servers and their
// answers to the client, until nothing is pending.
func (s *sim) pump() {
	for range 1000 {
		msgs, tos := s.link.ServerPending()
		if len(msgs) == 0 {
			return
		}
		for i, b := range msgs {
			msg, err := d6.MessageFromBytes(b)
			if err != nil {
				s.t.Fatalf("the client sent a message the codec cannot read: %v", err)
			}
			s.log = append(s.log, sent{s.now, tos[i], msg})
			for _, srv := range s.servers {
				for _, r := range srv.handle(msg, tos[i]) {
					s.m.receive(s.now, r.ToBytes(), srv.addr)
				}
			}
		}
	}
	s.t.Fatal("client and servers talk without end")
}

// deliver hands the client raw bytes from an address.
func (s *sim) deliver(b []byte, from netip.Addr) {
	s.m.receive(s.now, b, from)
	s.pump()
}

// advance moves the clock by d, firing the machine's deadlines on the way.
func (s *sim) advance(d time.Duration) {
	s.until(func() bool { return false }, d)
}

// until moves the clock until cond holds (checked after each deadline) or
// limit has passed; it reports whether cond held.
func (s *sim) until(cond func() bool, limit time.Duration) bool {
	end := s.now.Add(limit)
	for !cond() {
		if s.m.st == stateStopped || s.m.deadline.After(end) {
			s.now = end
			return cond()
		}
		if s.m.deadline.After(s.now) {
			s.now = s.m.deadline
		}
		s.m.timeout(s.now)
		s.pump()
	}
	return true
}

// bound runs until the client holds a lease, failing the test otherwise.
func (s *sim) bound() *Lease {
	s.t.Helper()
	if !s.until(func() bool { return s.m.st == stateBound }, time.Minute) {
		s.t.Fatalf("no lease after a minute; state %v; sent %v; log %q", s.m.st, s.log, s.logs)
	}
	return s.m.lease
}

// sends returns the messages of type t sent so far.
func (s *sim) sends(t d6.MessageType) []sent {
	var out []sent
	for _, x := range s.log {
		if x.msg.MessageType == t {
			out = append(out, x)
		}
	}
	return out
}

func (s *sim) clearLog() { s.log = nil; s.events = nil }

func (s *sim) counters() Counters { return s.c.Status().Counters }

// eventTypes names the events so far, for comparisons.
func (s *sim) eventTypes() []string {
	var out []string
	for _, e := range s.events {
		out = append(out, fmt.Sprintf("%T", e))
	}
	return out
}

// ------------------------------------------------------------ message probes

// iaPD returns the IA_PD prefix of a client message (zero if none) and
// whether the message had an IA_PD.
func iaPD(m *d6.Message) (netip.Prefix, bool) {
	ia := m.Options.OneIAPD()
	if ia == nil {
		return netip.Prefix{}, false
	}
	ps := ia.Options.Prefixes()
	if len(ps) == 0 || ps[0].Prefix == nil {
		return netip.Prefix{}, true
	}
	a, _ := netip.AddrFromSlice(ps[0].Prefix.IP)
	ones, _ := ps[0].Prefix.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

func elapsed(m *d6.Message) time.Duration { return m.Options.ElapsedTime() }

// ---------------------------------------------------------------- fake clock

// fakeClock is a wan.Clock that moves only when the test advances it;
// timer callbacks run on the advancing goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	when time.Time
	seq  int
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) wan.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	if d <= 0 {
		t.done = true
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

// fireNext moves the clock to the earliest timer and runs the ones due;
// false if none is pending.
func (c *fakeClock) fireNext() bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	sort.Slice(c.timers, func(i, j int) bool {
		if !c.timers[i].when.Equal(c.timers[j].when) {
			return c.timers[i].when.Before(c.timers[j].when)
		}
		return c.timers[i].seq < c.timers[j].seq
	})
	at := c.timers[0].when
	if at.After(c.now) {
		c.now = at
	}
	var due []*fakeTimer
	for len(c.timers) > 0 && !c.timers[0].when.After(c.now) {
		t := c.timers[0]
		t.done = true
		due = append(due, t)
		c.timers = c.timers[1:]
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
	return true
}

// syncLink is a Transport whose Send hands the message to the servers at
// once and queues their answers for Recv before returning, so the only
// thing that can wake Run is a queued answer or a timer.
type syncLink struct {
	t       *testing.T
	servers []*isp
	in      chan memMsg

	mu   sync.Mutex
	log  []sent
	now  func() time.Time
	down bool
}

func newSyncLink(t *testing.T, now func() time.Time, servers ...*isp) *syncLink {
	return &syncLink{t: t, servers: servers, in: make(chan memMsg, 64), now: now}
}

// errDown is what syncLink returns while down.
var errDown = errors.New("test link down")

func (l *syncLink) setDown(down bool) {
	l.mu.Lock()
	l.down = down
	l.mu.Unlock()
}

func (l *syncLink) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

func (l *syncLink) Send(b []byte, to netip.Addr) error {
	if l.isDown() {
		return errDown
	}
	msg, err := d6.MessageFromBytes(b)
	if err != nil {
		l.t.Errorf("the client sent a message the codec cannot read: %v", err)
		return nil
	}
	if !to.IsValid() {
		to = AllServers
	}
	l.mu.Lock()
	l.log = append(l.log, sent{l.now(), to, msg})
	l.mu.Unlock()
	for _, s := range l.servers {
		for _, r := range s.handle(msg, to) {
			l.in <- memMsg{r.ToBytes(), s.addr}
		}
	}
	return nil
}

func (l *syncLink) Recv(ctx context.Context) ([]byte, netip.Addr, error) {
	if l.isDown() {
		return nil, netip.Addr{}, errDown
	}
	select {
	case m := <-l.in:
		return m.b, m.addr, nil
	case <-ctx.Done():
		return nil, netip.Addr{}, ctx.Err()
	}
}

func (l *syncLink) sent() []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.log)
}

// runner runs Client.Run on a fake clock: step lets Run go until it
// blocks with nothing to read, then fires the next timer.
type runner struct {
	t       *testing.T
	clock   *fakeClock
	link    *syncLink
	c       *Client
	cancel  context.CancelFunc
	done    chan struct{}
	waits   chan struct{}
	blocked bool // Run is blocked and no timer was fired since

	mu     sync.Mutex
	events []Event
}

func newRunner(t *testing.T, cfg Config, servers ...*isp) *runner {
	t.Helper()
	r := &runner{t: t, clock: newFakeClock(), done: make(chan struct{}), waits: make(chan struct{})}
	r.link = newSyncLink(t, r.clock.Now, servers...)
	cfg.Transport = r.link
	cfg.Clock = r.clock
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Run hands over at each wait: the test then knows Run is about to
	// block, and that nothing else can wake it but a queued message or a
	// timer the test fires.
	c.waitHook = func(ctx context.Context) {
		if len(r.link.in) > 0 {
			return // Recv returns at once; only Run's sends fill the queue
		}
		select {
		case r.waits <- struct{}{}:
		case <-ctx.Done():
		}
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := c.Run(ctx, r.event); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) event(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *runner) eventList() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// idle waits until Run blocks with nothing queued for it (at once if it
// already is and no timer has been fired since).
func (r *runner) idle() {
	r.t.Helper()
	if r.blocked {
		return
	}
	select {
	case <-r.waits:
		r.blocked = true
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not block within 10 s")
	}
}

// fire fires the next timer; false if none is pending.
func (r *runner) fire() bool {
	r.blocked = false
	return r.clock.fireNext()
}

// until fires timers until cond holds, at most n of them.
func (r *runner) until(cond func() bool, n int) bool {
	r.t.Helper()
	for range n {
		r.idle()
		if cond() {
			return true
		}
		if !r.fire() {
			return cond()
		}
	}
	return cond()
}

// stop cancels Run and waits for it to return, letting the release wait
// run on the fake clock. It may be called more than once.
func (r *runner) stop() {
	r.t.Helper()
	r.cancel()
	r.blocked = false
	for {
		select {
		case <-r.done:
			return
		case <-r.waits:
			r.clock.fireNext()
		case <-time.After(10 * time.Second):
			r.t.Fatal("Run did not return within 10 s of its context ending")
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
