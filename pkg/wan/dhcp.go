package wan

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DHCPConfig configures the DHCP client.
type DHCPConfig struct {
	// Transport carries the messages (required); on the router a FrameConn
	// fed by the data plane.
	Transport Transport
	// HWAddr is the WAN port's MAC address (required): chaddr, and the
	// default client identifier.
	HWAddr net.HardwareAddr
	// Hostname is sent as option 12 in DISCOVER and REQUEST; empty omits it.
	Hostname string
	// ClientID is option 61; nil means hardware type 1 followed by HWAddr,
	// as most clients send.
	ClientID []byte
	// StateDir is where the lease is remembered (LeaseFileName) so that a
	// restart asks for the same address; empty remembers nothing.
	StateDir string
	// ReleaseOnStop sends a DHCPRELEASE when Run's context is done while a
	// lease is held, and reports LeaseLost{Reason: LostReleased}. The
	// next start then asks for the address with a DISCOVER rather than
	// INIT-REBOOT.
	ReleaseOnStop bool
	// BroadcastFlag sets the BROADCAST bit in DISCOVER and REQUEST, asking
	// servers to broadcast their replies. Not needed: the data plane sees
	// frames unicast to the offered address too (RFC 2131 §4.1 prefers
	// the bit clear for such clients). For odd relays only.
	BroadcastFlag bool
	// Probe, if set, is asked whether an address just acknowledged
	// (REQUESTING or INIT-REBOOT) is already in use on the WAN, e.g. by an
	// ARP probe (RFC 5227) from the data plane. True makes the client
	// DECLINE it and start again after DeclineWait. It runs on the client's
	// goroutine and should return within a few seconds.
	Probe func(ctx context.Context, addr netip.Addr) (inUse bool)
	// Clock is the time source; nil means SystemClock.
	Clock Clock
	// Rand draws transaction IDs and retransmission jitter; nil means a
	// generator seeded from crypto/rand. Tests pass a seeded one.
	Rand *rand.Rand
	// Logf receives state changes and rare problems; nil discards them.
	Logf func(format string, args ...any)
}

// Timing of the client (RFC 2131 §3.1, §4.1, §4.4.5).
const (
	// FirstRetransmit is the base delay before the first retransmission in
	// SELECTING, REQUESTING and INIT-REBOOT; it doubles with every
	// retransmission up to MaxRetransmit, each randomised by ±1 s.
	FirstRetransmit = 4 * time.Second
	MaxRetransmit   = 64 * time.Second
	// RequestTries is how many REQUESTs are sent in REQUESTING before the
	// client goes back to INIT (about 60 s).
	RequestTries = 4
	// RebootTries is how many INIT-REBOOT REQUESTs are sent before the
	// client falls back to a DISCOVER (about 12 s): a server that does
	// not know the lease may stay silent rather than NAK.
	RebootTries = 2
	// MinRenewRetransmit is the least time between retransmissions in
	// RENEWING and REBINDING, which otherwise wait half the time left to
	// T2 or to expiry.
	MinRenewRetransmit = 60 * time.Second
	// DeclineWait is how long the client waits after a DECLINE before it
	// starts again (RFC 2131 §3.1: at least ten seconds).
	DeclineWait = 10 * time.Second
	// RecvErrorBackoff bounds the pause after a Transport.Recv error; the
	// pause starts at one second and doubles.
	RecvErrorBackoff = 16 * time.Second
)

// maxMessageSize is sent as option 57: a full Ethernet-MTU datagram.
const maxMessageSize = 1500

// DHCP is the WAN DHCP client. Make one with NewDHCP and call Run.
type DHCP struct {
	cfg      DHCPConfig
	tr       Transport
	hw       net.HardwareAddr
	clientID []byte
	clock    Clock
	rnd      *rand.Rand
	store    store
	running  atomic.Bool

	mu       sync.Mutex
	state    state
	lease    *Lease
	counters Counters

	// waitHook, if set (tests), is called just before Run pauses after a
	// failed Recv, with the context that ends the pause (a test's
	// Transport reports its own blocking Recv).
	waitHook func(ctx context.Context)
}

// Counters are the client's message statistics since NewDHCP.
type Counters struct {
	Sent        uint64 // messages handed to the Transport, retransmissions included
	Retransmits uint64 // of those, retransmissions
	SendErrors  uint64 // Transport.Send failures
	RecvErrors  uint64 // Transport.Recv failures
	Received    uint64 // messages read from the Transport

	Offers, Acks, Naks uint64 // accepted
	Declines, Releases uint64 // sent

	// Ignored counts received messages that changed nothing; the fields
	// after it say why (they add up to Ignored).
	Ignored       uint64
	Malformed     uint64 // not a parseable DHCP message
	NotReply      uint64 // op is not BOOTREPLY
	WrongHWAddr   uint64 // not for our hardware address
	WrongXID      uint64 // not an answer to our current transaction
	Unexpected    uint64 // not OFFER/ACK/NAK, or not one the state waits for
	BadServerID   uint64 // missing or unusable server identifier, or not the selected server
	BadAddress    uint64 // yiaddr zero or unusable (broadcast, network, multicast, ...)
	BadLeaseTime  uint64 // lease time missing or below MinLeaseTime
	BadSubnetMask uint64 // subnet mask not contiguous, or zero

	LeaseFileErrors uint64 // failed writes of the remembered lease
}

// Status is a snapshot of the client for `show` commands.
type Status struct {
	State string // init, selecting, requesting, bound, renewing, rebinding, init-reboot, stopped
	// Lease is the lease held, nil if none. After Run has returned
	// without releasing it, it is the lease still held at the server,
	// which the next Run asks for again.
	Lease    *Lease
	Counters Counters
}

// NewDHCP checks cfg and returns a client. It does no I/O.
func NewDHCP(cfg DHCPConfig) (*DHCP, error) {
	if cfg.Transport == nil {
		return nil, errors.New("wan: DHCP client needs a Transport")
	}
	if len(cfg.HWAddr) != 6 || cfg.HWAddr[0]&1 != 0 || bytes.Equal(cfg.HWAddr, make([]byte, 6)) {
		return nil, fmt.Errorf("wan: DHCP client needs a unicast Ethernet address, not %q", cfg.HWAddr)
	}
	if len(cfg.Hostname) > 255 {
		return nil, fmt.Errorf("wan: hostname of %d bytes, at most 255", len(cfg.Hostname))
	}
	for _, c := range []byte(cfg.Hostname) {
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("wan: hostname %q has a character outside printable ASCII", cfg.Hostname)
		}
	}
	if cfg.ClientID != nil && (len(cfg.ClientID) < 2 || len(cfg.ClientID) > 255) {
		return nil, fmt.Errorf("wan: client identifier of %d bytes, want 2..255", len(cfg.ClientID))
	}
	c := &DHCP{
		cfg:   cfg,
		tr:    cfg.Transport,
		hw:    bytes.Clone(cfg.HWAddr),
		clock: cfg.Clock,
		rnd:   cfg.Rand,
		store: store{dir: cfg.StateDir},
		state: stateStopped,
	}
	if c.clock == nil {
		c.clock = SystemClock
	}
	if c.rnd == nil {
		var seed [32]byte
		crand.Read(seed[:])
		c.rnd = rand.New(rand.NewChaCha8(seed))
	}
	if cfg.ClientID != nil {
		c.clientID = bytes.Clone(cfg.ClientID)
	} else {
		c.clientID = append([]byte{1}, c.hw...)
	}
	return c, nil
}

// Status returns the current state, lease and counters. Safe at any time.
func (c *DHCP) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{State: c.state.String(), Counters: c.counters}
	if c.lease != nil {
		l := c.lease.clone()
		s.Lease = &l
	}
	return s
}

// Run runs the client until ctx is done, reporting to emit (which may be
// nil) from Run's goroutine; emit should not block for long. It starts
// with INIT-REBOOT if a lease is remembered, otherwise with a DISCOVER. It
// returns nil when ctx is done (after the RELEASE, with ReleaseOnStop), and
// an error only if the client is already running. Transport failures and
// bad messages never end it. Run may be called again after it returned; it
// then starts afresh from the remembered lease.
func (c *DHCP) Run(ctx context.Context, emit func(Event)) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("wan: DHCP client already running")
	}
	defer c.running.Store(false)
	if emit == nil {
		emit = func(Event) {}
	}
	m := &machine{c: c, ctx: ctx, emit: emit}
	m.start(c.clock.Now())
	m.publish()

	failing := 0 // consecutive Recv errors
	pause := false
	for ctx.Err() == nil {
		now := c.clock.Now()
		wait := m.deadline.Sub(now)
		if wait <= 0 {
			m.timeout(now)
			m.publish()
			continue
		}
		if pause {
			// Recv failed: pause before asking again (1 s, doubling),
			// but keep the timers: the lease may expire meanwhile.
			pause = false
			c.wait(ctx, min(time.Second<<min(failing-1, 5), RecvErrorBackoff, wait))
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		t := c.clock.AfterFunc(wait, cancel)
		// No waitHook here: a test's Transport says itself when Recv
		// blocks (a hook before Recv would announce a wait that a failing
		// Recv never makes, and a test could advance the clock meanwhile).
		b, err := c.tr.Recv(wctx)
		ended := wctx.Err() != nil // deadline or shutdown, before cancel below
		t.Stop()
		cancel()
		switch {
		case err == nil:
			failing = 0
			m.receive(c.clock.Now(), b)
			m.publish()
		case ended:
			// A deadline, or shutting down: the loop sees to both.
		default:
			c.inc(func(k *Counters) { k.RecvErrors++ })
			if failing == 0 {
				c.logf("wan: dhcp: receive failed (retrying): %v", err)
			}
			failing++
			pause = true
		}
	}
	m.stop(c.clock.Now())
	m.publish()
	return nil
}

// wait sleeps d on the client's clock, or until ctx is done.
func (c *DHCP) wait(ctx context.Context, d time.Duration) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := c.clock.AfterFunc(d, cancel)
	defer t.Stop()
	if c.waitHook != nil {
		c.waitHook(wctx)
	}
	<-wctx.Done()
}

func (c *DHCP) inc(f func(*Counters)) {
	c.mu.Lock()
	f(&c.counters)
	c.mu.Unlock()
}

func (c *DHCP) logf(format string, args ...any) {
	if c.cfg.Logf != nil {
		c.cfg.Logf(format, args...)
	}
}
