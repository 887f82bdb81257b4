package dhcpv6

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/passgate/passgate/pkg/wan"
)

// Config configures the client.
type Config struct {
	// Transport carries the messages (required); on the router a
	// FrameConn fed by the data plane.
	Transport Transport
	// HWAddr is the WAN port's MAC address (required): the DUID is made
	// from it on the first start.
	HWAddr net.HardwareAddr
	// PrefixLength is the prefix length hint sent in IA_PD (RFC 7084
	// WPD-2); 0 means DefaultPrefixLength, otherwise
	// MinHintLength..MaxHintLength. The server may delegate another
	// length (MinPrefixLength..MaxPrefixLength are taken, WPD-3). A
	// prefix remembered from before a restart is asked for as it is, so
	// a new hint applies once that prefix is released or has expired.
	PrefixLength int
	// RequestAddress also asks for a WAN address (IA_NA) in the same
	// exchanges (RFC 7084 W-5). A reply with a prefix and no address is
	// still taken (WPD-6).
	RequestAddress bool
	// RapidCommit asks for the two-message exchange (Solicit/Reply,
	// RFC 8415 §18.2.1); servers that do not do it answer with an
	// Advertise as usual.
	RapidCommit bool
	// ReleaseOnStop sends a Release when Run's context is done while a
	// prefix is held, waits up to ReleaseWait for the Reply, and reports
	// PrefixLost{Reason: LostReleased}. The next start then Solicits with
	// the released prefix as a hint.
	ReleaseOnStop bool
	// AllowUnicast lets the client send Request, Renew and Release
	// straight to a server that offers its address (OPTION_UNICAST,
	// RFC 8415 §21.12). Off by default: the client always sends to
	// AllServers, which every server on the link hears, and ignores the
	// option.
	AllowUnicast bool
	// AcceptReconfigure offers Reconfigure Accept (RFC 7084 WAA-4) and
	// takes a Reconfigure authenticated with the server's reconfigure
	// key (RFC 8415 §18.2.11, §20.4; see reconfigure.go). Off by default:
	// every Reconfigure is dropped. routerd turns it on.
	AcceptReconfigure bool
	// DUIDType is the DUID made on the first start; later starts use the
	// stored one (DUIDFileName), whatever this says.
	DUIDType DUIDType
	// StateDir is where the DUID and the lease are kept; empty keeps
	// nothing (the DUID is then always DUID-LL of HWAddr).
	StateDir string
	// Clock is the time source; nil means wan.SystemClock.
	Clock wan.Clock
	// Rand draws transaction IDs and retransmission jitter; nil means a
	// generator seeded from crypto/rand. Tests pass a seeded one.
	Rand *rand.Rand
	// Logf receives state changes and rare problems; nil discards them.
	Logf func(format string, args ...any)
}

// Timing parameters of RFC 8415 §7.6 that the client uses.
const (
	SolMaxDelay = 1 * time.Second    // random delay before the first Solicit
	SolTimeout  = 1 * time.Second    // Solicit IRT
	SolMaxRT    = 3600 * time.Second // Solicit MRT, until a server sends SOL_MAX_RT
	ReqTimeout  = 1 * time.Second    // Request IRT
	ReqMaxRT    = 30 * time.Second   // Request MRT
	ReqMaxRC    = 10                 // Request transmissions before giving up
	RenTimeout  = 10 * time.Second   // Renew IRT (MRD: until T2)
	RenMaxRT    = 600 * time.Second  // Renew MRT
	RebTimeout  = 10 * time.Second   // Rebind IRT (MRD: until the prefix expires)
	RebMaxRT    = 600 * time.Second  // Rebind MRT
	RelTimeout  = 1 * time.Second    // Release IRT
	RelMaxRC    = 4                  // Release transmissions at most
)

// passgate's own timing.
const (
	// RebootRebind is how long the client tries to confirm a remembered
	// lease with Rebind after a restart before it Solicits (with the
	// remembered prefix as a hint): a server that does not know the
	// binding may stay silent rather than say NoBinding, and the board's
	// clock may be wrong after a power cut, so the remembered lifetime is
	// not waited out.
	RebootRebind = 10 * time.Second
	// ReleaseWait bounds the Release exchange on shutdown (about three
	// transmissions), so that stopping is never held up by a silent
	// server.
	ReleaseWait = 3 * time.Second
	// PersistEvery is the least time between writes of the lease file
	// for renewals that change nothing but lifetimes.
	PersistEvery = time.Hour
	// RecvErrorBackoff bounds the pause after a Transport.Recv error; the
	// pause starts at one second and doubles.
	RecvErrorBackoff = 16 * time.Second
)

// iaid is the IAID of the client's IA_PD and IA_NA: one of each, a
// constant, so it is the same across restarts (RFC 8415 §12).
var iaid = [4]byte{0, 0, 0, 1}

// Client is the WAN DHCPv6 client. Make one with NewClient and call Run.
type Client struct {
	cfg     Config
	tr      Transport
	hw      net.HardwareAddr
	hintLen int
	clock   wan.Clock
	rnd     *rand.Rand
	store   store
	running atomic.Bool

	duid []byte // set by ensureDUID on Run's goroutine, then read-only

	mu       sync.Mutex
	state    state
	lease    *Lease
	duidPub  []byte
	counters Counters

	// waitHook, if set (tests), is called just before Run blocks, with
	// the context that ends the wait.
	waitHook func(ctx context.Context)
}

// Counters are the client's message statistics since NewClient.
type Counters struct {
	Sent        uint64 // messages handed to the Transport, retransmissions included
	Retransmits uint64 // of those, retransmissions
	SendErrors  uint64 // Transport.Send failures
	RecvErrors  uint64 // Transport.Recv failures
	Received    uint64 // messages read from the Transport

	Advertises uint64 // Advertises with a usable prefix
	Replies    uint64 // Replies that bound, renewed or changed the lease
	Releases   uint64 // Release exchanges begun

	ReconfigureAccepted uint64 // authenticated Reconfigures that started a Renew or Rebind

	// Ignored counts received messages that changed nothing; the fields
	// after it say why (they add up to Ignored).
	Ignored       uint64
	Malformed     uint64 // not a parseable DHCPv6 message, or too large
	Reconfigure   uint64 // Reconfigure messages refused (see reconfigure.go)
	Unexpected    uint64 // not Advertise/Reply, or not one the state waits for
	WrongXID      uint64 // not an answer to the current exchange
	WrongClientID uint64 // client identifier missing or not ours
	BadServerID   uint64 // server identifier missing, unusable or not the one asked
	Status        uint64 // UnspecFail, UseMulticast, ...: retransmission goes on
	NoPrefix      uint64 // no usable prefix for us (NoPrefixAvail, IA_PD missing)

	// BadIA counts IAs discarded for T1 > T2 (RFC 8415 §21.4, §21.21);
	// BadItems prefixes and addresses refused (outside
	// MinPrefixLength..MaxPrefixLength, link-local, multicast, preferred
	// lifetime above valid, ...). Both also happen in messages otherwise
	// used.
	BadIA, BadItems uint64

	StateFileErrors uint64 // failed writes of the DUID or lease file
}

// Status is a snapshot of the client for `show` commands.
type Status struct {
	// State: init, soliciting, requesting, bound, renewing, rebinding,
	// rebooting, releasing, stopped.
	State string
	// Lease is the lease held, nil if none.
	Lease *Lease
	// DUID is the client's DUID, nil before the first Run.
	DUID     []byte
	Counters Counters
}

// NewClient checks cfg and returns a client. It does no I/O.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Transport == nil {
		return nil, errors.New("dhcpv6: client needs a Transport")
	}
	if len(cfg.HWAddr) != 6 || cfg.HWAddr[0]&1 != 0 || bytes.Equal(cfg.HWAddr, make([]byte, 6)) {
		return nil, fmt.Errorf("dhcpv6: client needs a unicast Ethernet address, not %q", cfg.HWAddr)
	}
	hint := cfg.PrefixLength
	if hint == 0 {
		hint = DefaultPrefixLength
	}
	if hint < MinHintLength || hint > MaxHintLength {
		return nil, fmt.Errorf("dhcpv6: prefix length hint /%d, want /%d../%d", cfg.PrefixLength, MinHintLength, MaxHintLength)
	}
	if cfg.DUIDType != DUIDLL && cfg.DUIDType != DUIDLLT {
		return nil, fmt.Errorf("dhcpv6: unknown DUID type %d", cfg.DUIDType)
	}
	c := &Client{
		cfg:     cfg,
		tr:      cfg.Transport,
		hw:      bytes.Clone(cfg.HWAddr),
		hintLen: hint,
		clock:   cfg.Clock,
		rnd:     cfg.Rand,
		store:   store{dir: cfg.StateDir},
		state:   stateStopped,
	}
	if c.clock == nil {
		c.clock = wan.SystemClock
	}
	if c.rnd == nil {
		var seed [32]byte
		crand.Read(seed[:])
		c.rnd = rand.New(rand.NewChaCha8(seed))
	}
	return c, nil
}

// Status returns the current state, lease, DUID and counters. Safe at any
// time.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{State: c.state.String(), Counters: c.counters, DUID: bytes.Clone(c.duidPub)}
	if c.lease != nil {
		l := c.lease.clone()
		s.Lease = &l
	}
	return s
}

// ensureDUID loads the stored DUID, or makes and stores one. A DUID that
// cannot be stored is used from memory and said in the log: the next
// start makes the same one if it is DUID-LL.
func (c *Client) ensureDUID() {
	if c.duid != nil {
		return
	}
	d, err := c.store.loadDUID()
	if err != nil {
		c.logf("dhcpv6: ignoring the stored DUID: %v", err)
	}
	if d == nil {
		d = makeDUID(c.cfg.DUIDType, c.hw, c.clock.Now())
		if err := c.store.saveDUID(d); err != nil {
			c.inc(func(k *Counters) { k.StateFileErrors++ })
			c.logf("dhcpv6: cannot store the DUID (using it from memory; the ISP may see a new client after a restart): %v", err)
		}
	}
	c.duid = d
	c.mu.Lock()
	c.duidPub = bytes.Clone(d)
	c.mu.Unlock()
}

// Run runs the client until ctx is done, reporting to emit (which may be
// nil) from Run's goroutine; emit should not block for long. It starts by
// confirming a remembered lease with Rebind, otherwise with a Solicit. It
// returns nil when ctx is done (after the Release, with ReleaseOnStop),
// and an error only if the client is already running. Transport failures
// and bad messages never end it. Run may be called again after it
// returned; it then starts afresh from the remembered lease.
func (c *Client) Run(ctx context.Context, emit func(Event)) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("dhcpv6: client already running")
	}
	defer c.running.Store(false)
	if emit == nil {
		emit = func(Event) {}
	}
	c.ensureDUID()
	m := newMachine(c, emit)
	m.start(c.clock.Now())
	m.publish()
	c.loop(ctx, m)
	if m.stop(c.clock.Now()) {
		// Releasing: carry on, with a context of our own, until the
		// Release is answered or ReleaseWait is over.
		m.publish()
		c.loop(context.WithoutCancel(ctx), m)
	}
	m.publish()
	return nil
}

// loop runs the machine until ctx is done or the machine stops: it waits
// in Transport.Recv until the machine's deadline and hands it what comes.
func (c *Client) loop(ctx context.Context, m *machine) {
	failing := 0 // consecutive Recv errors
	pause := false
	for ctx.Err() == nil && m.st != stateStopped {
		now := c.clock.Now()
		wait := m.deadline.Sub(now)
		if wait <= 0 {
			m.timeout(now)
			m.publish()
			continue
		}
		if pause {
			// Recv failed: pause before asking again (1 s, doubling),
			// but keep the timers.
			pause = false
			c.wait(ctx, min(time.Second<<min(failing-1, 5), RecvErrorBackoff, wait))
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		t := c.clock.AfterFunc(wait, cancel)
		if c.waitHook != nil {
			c.waitHook(wctx)
		}
		b, from, err := c.tr.Recv(wctx)
		ended := wctx.Err() != nil
		t.Stop()
		cancel()
		switch {
		case err == nil:
			failing = 0
			m.receive(c.clock.Now(), b, from)
			m.publish()
		case ended:
			// A deadline, or shutting down: the loop sees to both.
		default:
			c.inc(func(k *Counters) { k.RecvErrors++ })
			if failing == 0 {
				c.logf("dhcpv6: receive failed (retrying): %v", err)
			}
			failing++
			pause = true
		}
	}
}

// wait sleeps d on the client's clock, or until ctx is done.
func (c *Client) wait(ctx context.Context, d time.Duration) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := c.clock.AfterFunc(d, cancel)
	defer t.Stop()
	if c.waitHook != nil {
		c.waitHook(wctx)
	}
	<-wctx.Done()
}

func (c *Client) inc(f func(*Counters)) {
	c.mu.Lock()
	f(&c.counters)
	c.mu.Unlock()
}

func (c *Client) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}
