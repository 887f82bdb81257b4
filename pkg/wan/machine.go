package wan

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// state is an RFC 2131 client state (Figure 5).
type state int

const (
	stateInit       state = iota // waiting to start a DISCOVER (after NAK or DECLINE)
	stateSelecting               // DISCOVER sent, waiting for an OFFER
	stateRequesting              // REQUEST for an OFFER sent, waiting for ACK/NAK
	stateBound                   // lease held, waiting for T1
	stateRenewing                // unicast REQUEST to our server, until T2
	stateRebinding               // broadcast REQUEST to any server, until expiry
	stateRebooting               // INIT-REBOOT: REQUEST for the remembered address
	stateStopped                 // Run is not running
)

func (s state) String() string {
	switch s {
	case stateInit:
		return "init"
	case stateSelecting:
		return "selecting"
	case stateRequesting:
		return "requesting"
	case stateBound:
		return "bound"
	case stateRenewing:
		return "renewing"
	case stateRebinding:
		return "rebinding"
	case stateRebooting:
		return "init-reboot"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// requestedOptions is option 55: subnet mask, router, DNS, lease time, T1,
// T2, interface MTU.
var requestedOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
	dhcpv4.OptionInterfaceMTU,
}

// machine is one run of the client state machine. All of it runs on Run's
// goroutine; it touches DHCP's shared fields only through inc and publish.
type machine struct {
	c    *DHCP
	ctx  context.Context
	emit func(Event)

	st       state
	deadline time.Time // when timeout is due
	xid      dhcpv4.TransactionID
	attempt  int       // transmissions of the current message, minus one
	begun    time.Time // start of the exchange, for the secs field
	sentAt   time.Time // first transmission of the REQUEST being answered

	offer     *reply     // REQUESTING: the OFFER requested
	lease     *Lease     // the lease held; nil if none
	t1, t2    time.Time  // of lease
	expiry    time.Time  // of lease
	requested netip.Addr // address to ask for (option 50) in DISCOVER / INIT-REBOOT
	naks      int        // NAKs since the last ACK

	sendFailing bool
	lastDropLog time.Time
}

// publish copies the state and lease for Status.
func (m *machine) publish() {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = m.st
	if m.lease != nil {
		l := m.lease.clone()
		c.lease = &l
	} else {
		c.lease = nil
	}
}

// start enters the first state: INIT-REBOOT with an unexpired remembered
// lease, otherwise SELECTING (asking for the remembered address, if any).
func (m *machine) start(now time.Time) {
	mem, err := m.c.store.load(m.c.clientID)
	if err != nil {
		m.c.logf("wan: dhcp: ignoring remembered lease: %v", err)
	}
	if mem != nil {
		m.requested = mem.Address.Addr()
		if !mem.Released && now.Before(mem.Expiry) {
			m.c.logf("wan: dhcp: asking for remembered address %v (INIT-REBOOT)", m.requested)
			m.enterRebooting(now)
			return
		}
	}
	m.enterSelecting(now)
}

// timeout handles the deadline.
func (m *machine) timeout(now time.Time) {
	switch m.st {
	case stateInit:
		m.enterSelecting(now)
	case stateSelecting:
		m.attempt++
		m.c.inc(func(k *Counters) { k.Retransmits++ })
		m.sendDiscover(now)
		m.deadline = now.Add(m.backoff(m.attempt))
	case stateRequesting:
		m.attempt++
		if m.attempt >= RequestTries {
			m.c.logf("wan: dhcp: no answer from %v to REQUEST for %v; starting again", m.offer.server, m.offer.lease.Addr.Addr())
			m.requested = m.offer.lease.Addr.Addr()
			m.enterSelecting(now)
			return
		}
		m.c.inc(func(k *Counters) { k.Retransmits++ })
		m.sendSelectingRequest(now)
		m.deadline = now.Add(m.backoff(m.attempt))
	case stateRebooting:
		m.attempt++
		if m.attempt >= RebootTries {
			m.c.logf("wan: dhcp: no answer to INIT-REBOOT for %v; sending DISCOVER", m.requested)
			m.enterSelecting(now)
			return
		}
		m.c.inc(func(k *Counters) { k.Retransmits++ })
		m.sendRebootRequest(now)
		m.deadline = now.Add(m.backoff(m.attempt))
	case stateBound, stateRenewing, stateRebinding:
		switch {
		case !now.Before(m.expiry):
			m.expire(now)
		case !now.Before(m.t2):
			if m.st == stateRebinding {
				m.c.inc(func(k *Counters) { k.Retransmits++ })
			} else {
				if m.st == stateBound {
					m.begun = now
				}
				m.c.logf("wan: dhcp: T2 reached without renewal; rebinding %v with any server", m.lease.Addr.Addr())
			}
			m.st = stateRebinding
			m.sendRenewal(now, true)
		default:
			if m.st == stateRenewing {
				m.c.inc(func(k *Counters) { k.Retransmits++ })
			} else {
				m.begun = now // secs counts from the start of renewal
			}
			m.st = stateRenewing
			m.sendRenewal(now, false)
		}
	default:
		// Stopped: nothing is due.
		m.deadline = now.Add(MaxLeaseTime)
	}
}

// receive handles one message from the Transport.
func (m *machine) receive(now time.Time, b []byte) {
	defer func() {
		// parseReply and the state machine are fuzzed not to panic; this
		// is the last line of defence for a hostile network.
		if p := recover(); p != nil {
			m.drop(now, dropMalformed)
			m.c.logf("wan: dhcp: BUG: panic on a received message (ignored): %v", p)
		}
	}()
	m.c.inc(func(k *Counters) { k.Received++ })
	r, why := parseReply(b, m.c.hw)
	if why != dropNone {
		m.drop(now, why)
		return
	}
	switch m.st {
	case stateSelecting, stateRequesting, stateRenewing, stateRebinding, stateRebooting:
	default:
		m.drop(now, dropUnexpected)
		return
	}
	if r.xid != m.xid {
		m.drop(now, dropWrongXID)
		return
	}
	switch m.st {
	case stateSelecting:
		if r.typ != dhcpv4.MessageTypeOffer {
			m.drop(now, dropUnexpected)
			return
		}
		m.c.inc(func(k *Counters) { k.Offers++ })
		m.offer = r
		m.enterRequesting(now)
	case stateRequesting:
		if r.typ == dhcpv4.MessageTypeOffer {
			m.drop(now, dropUnexpected) // a later OFFER; we chose already
			return
		}
		if r.server != m.offer.server {
			m.drop(now, dropBadServerID)
			return
		}
		m.answer(now, r)
	default: // RENEWING, REBINDING, INIT-REBOOT: any server may answer
		if r.typ == dhcpv4.MessageTypeOffer {
			m.drop(now, dropUnexpected)
			return
		}
		m.answer(now, r)
	}
}

// answer handles an ACK or NAK to our REQUEST.
func (m *machine) answer(now time.Time, r *reply) {
	if r.typ == dhcpv4.MessageTypeNak {
		m.nak(now, r)
		return
	}
	m.bind(now, r)
}

func (m *machine) drop(now time.Time, why dropReason) {
	m.c.inc(func(k *Counters) {
		k.Ignored++
		switch why {
		case dropMalformed:
			k.Malformed++
		case dropNotReply:
			k.NotReply++
		case dropWrongHWAddr:
			k.WrongHWAddr++
		case dropWrongXID:
			k.WrongXID++
		case dropUnexpected:
			k.Unexpected++
		case dropBadServerID:
			k.BadServerID++
		case dropBadAddress:
			k.BadAddress++
		case dropBadLeaseTime:
			k.BadLeaseTime++
		case dropBadSubnetMask:
			k.BadSubnetMask++
		}
	})
	// Wrong transaction IDs and hardware addresses are normal on a shared
	// segment; the rest are worth a line, at most one a minute.
	if why != dropWrongXID && why != dropWrongHWAddr && why != dropUnexpected &&
		(m.lastDropLog.IsZero() || now.Sub(m.lastDropLog) >= time.Minute) {
		m.lastDropLog = now
		m.c.logf("wan: dhcp: ignored a server message in state %v: %v (further ones are counted, not logged, for a minute)", m.st, why)
	}
}

func (m *machine) enterInit(now time.Time, delay time.Duration) {
	if delay <= 0 {
		m.enterSelecting(now)
		return
	}
	m.st = stateInit
	m.deadline = now.Add(delay)
}

func (m *machine) enterSelecting(now time.Time) {
	m.st = stateSelecting
	m.xid = m.newXID()
	m.attempt = 0
	m.begun = now
	m.offer = nil
	m.sendDiscover(now)
	m.deadline = now.Add(m.backoff(0))
}

func (m *machine) enterRequesting(now time.Time) {
	m.st = stateRequesting
	m.attempt = 0
	m.sentAt = now
	m.sendSelectingRequest(now)
	m.deadline = now.Add(m.backoff(0))
}

func (m *machine) enterRebooting(now time.Time) {
	m.st = stateRebooting
	m.xid = m.newXID()
	m.attempt = 0
	m.begun = now
	m.sentAt = now
	m.sendRebootRequest(now)
	m.deadline = now.Add(m.backoff(0))
}

// bind takes the lease in an ACK.
func (m *machine) bind(now time.Time, r *reply) {
	addr := r.lease.Addr.Addr()
	if (m.st == stateRequesting || m.st == stateRebooting) && m.c.cfg.Probe != nil && m.c.cfg.Probe(m.ctx, addr) {
		m.decline(now, r)
		return
	}
	m.c.inc(func(k *Counters) { k.Acks++ })
	l := r.lease.clone()
	l.Obtained = m.sentAt
	old := m.lease
	m.lease = &l
	m.t1 = m.sentAt.Add(l.T1)
	m.t2 = m.sentAt.Add(l.T2)
	m.expiry = m.sentAt.Add(l.LeaseTime)
	m.st = stateBound
	m.deadline = m.t1
	m.naks = 0
	m.requested = addr
	m.offer = nil
	m.persist(false)
	switch {
	case old == nil:
		m.c.logf("wan: dhcp: lease acquired: %v", l)
		m.emit(LeaseAcquired{l.clone()})
	case old.Addr.Addr() != addr:
		m.c.logf("wan: dhcp: lease changed from %v to %v", old.Addr, l)
		m.emit(LeaseChanged{Lease: l.clone(), Old: *old})
	default:
		m.emit(LeaseRenewed{l.clone()})
	}
}

// nak handles a DHCPNAK: the address (held or asked for) is not ours.
func (m *machine) nak(now time.Time, r *reply) {
	m.c.inc(func(k *Counters) { k.Naks++ })
	m.c.logf("wan: dhcp: NAK from %v in state %v: %q", r.server, m.st, r.text)
	m.naks++
	m.requested = netip.Addr{}
	m.forget()
	if m.lease != nil {
		old := *m.lease
		m.lease = nil
		m.emit(LeaseLost{Lease: old, Reason: LostNAK})
	}
	// The first NAK restarts at once; a server that keeps refusing is
	// asked again with growing pauses rather than in a tight loop.
	delay := time.Duration(0)
	if m.naks > 1 {
		delay = m.backoff(m.naks - 2)
	}
	m.enterInit(now, delay)
}

// decline refuses an address the Probe found in use.
func (m *machine) decline(now time.Time, r *reply) {
	addr := r.lease.Addr.Addr()
	m.c.logf("wan: dhcp: %v from %v is in use on the WAN; declining it", addr, r.server)
	d := m.message(dhcpv4.MessageTypeDecline, now)
	d.UpdateOption(dhcpv4.OptRequestedIPAddress(addr.AsSlice()))
	d.UpdateOption(dhcpv4.OptServerIdentifier(r.server.AsSlice()))
	m.send(d, netip.Addr{}, netip.Addr{})
	m.c.inc(func(k *Counters) { k.Declines++ })
	m.requested = netip.Addr{}
	m.forget()
	m.enterInit(now, DeclineWait)
}

// expire ends a lease nobody renewed.
func (m *machine) expire(now time.Time) {
	old := *m.lease
	m.lease = nil
	m.c.logf("wan: dhcp: lease on %v expired", old.Addr)
	m.emit(LeaseLost{Lease: old, Reason: LostExpired})
	m.requested = old.Addr.Addr()
	m.enterSelecting(now)
}

// stop ends the run, releasing the lease if configured to.
func (m *machine) stop(now time.Time) {
	if m.lease != nil && m.c.cfg.ReleaseOnStop {
		old := *m.lease
		m.xid = m.newXID()
		d := m.message(dhcpv4.MessageTypeRelease, now)
		d.ClientIPAddr = old.Addr.Addr().AsSlice()
		d.UpdateOption(dhcpv4.OptServerIdentifier(old.Server.AsSlice()))
		// RELEASE goes to the server (RFC 2131 §4.4.6). It gets no
		// answer and is sent once; if the unicast cannot be sent
		// (no neighbour for the server), broadcast it instead.
		if err := m.send(d, old.Server, old.Addr.Addr()); err != nil {
			m.send(d, netip.Addr{}, old.Addr.Addr())
		}
		m.c.inc(func(k *Counters) { k.Releases++ })
		m.persist(true)
		m.lease = nil
		m.c.logf("wan: dhcp: released %v", old.Addr)
		m.emit(LeaseLost{Lease: old, Reason: LostReleased})
	}
	m.st = stateStopped
}

// sendDiscover sends (or resends) the DISCOVER of the current exchange.
func (m *machine) sendDiscover(now time.Time) {
	d := m.message(dhcpv4.MessageTypeDiscover, now)
	if m.requested.IsValid() {
		d.UpdateOption(dhcpv4.OptRequestedIPAddress(m.requested.AsSlice()))
	}
	m.send(d, netip.Addr{}, netip.Addr{})
}

// sendSelectingRequest requests the chosen OFFER (SELECTING → REQUESTING).
func (m *machine) sendSelectingRequest(now time.Time) {
	d := m.message(dhcpv4.MessageTypeRequest, now)
	d.UpdateOption(dhcpv4.OptRequestedIPAddress(m.offer.lease.Addr.Addr().AsSlice()))
	d.UpdateOption(dhcpv4.OptServerIdentifier(m.offer.server.AsSlice()))
	m.send(d, netip.Addr{}, netip.Addr{})
}

// sendRebootRequest asks for the remembered address (INIT-REBOOT).
func (m *machine) sendRebootRequest(now time.Time) {
	d := m.message(dhcpv4.MessageTypeRequest, now)
	d.UpdateOption(dhcpv4.OptRequestedIPAddress(m.requested.AsSlice()))
	m.send(d, netip.Addr{}, netip.Addr{})
}

// sendRenewal sends a RENEWING (unicast to our server) or REBINDING
// (broadcast) REQUEST, each with a fresh transaction ID so that the ACK
// tells which transmission it answers, and sets the next deadline: half the
// time left to T2 (renewing) or expiry (rebinding), at least
// MinRenewRetransmit, never past that limit.
func (m *machine) sendRenewal(now time.Time, rebind bool) {
	m.xid = m.newXID()
	m.sentAt = now
	d := m.message(dhcpv4.MessageTypeRequest, now)
	addr := m.lease.Addr.Addr()
	d.ClientIPAddr = addr.AsSlice()
	limit := m.t2
	if rebind {
		limit = m.expiry
		m.send(d, netip.Addr{}, addr)
	} else {
		m.send(d, m.lease.Server, addr)
	}
	next := now.Add(max(limit.Sub(now)/2, MinRenewRetransmit))
	if next.After(limit) {
		next = limit
	}
	m.deadline = next
}

// message starts a client message of type t for the current transaction.
func (m *machine) message(t dhcpv4.MessageType, now time.Time) *dhcpv4.DHCPv4 {
	d := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		TransactionID: m.xid,
		ClientHWAddr:  net.HardwareAddr(append([]byte(nil), m.c.hw...)),
		ClientIPAddr:  net.IPv4zero.To4(),
		YourIPAddr:    net.IPv4zero.To4(),
		ServerIPAddr:  net.IPv4zero.To4(),
		GatewayIPAddr: net.IPv4zero.To4(),
		Options:       dhcpv4.Options{},
	}
	d.UpdateOption(dhcpv4.OptMessageType(t))
	d.UpdateOption(dhcpv4.OptClientIdentifier(m.c.clientID))
	if t == dhcpv4.MessageTypeDiscover || t == dhcpv4.MessageTypeRequest {
		if s := now.Sub(m.begun) / time.Second; s > 0 {
			d.NumSeconds = uint16(min(s, 0xffff))
		}
		if m.c.cfg.BroadcastFlag {
			d.SetBroadcast()
		}
		if m.c.cfg.Hostname != "" {
			d.UpdateOption(dhcpv4.OptHostName(m.c.cfg.Hostname))
		}
		d.UpdateOption(dhcpv4.OptParameterRequestList(requestedOptions...))
		d.UpdateOption(dhcpv4.OptMaxMessageSize(maxMessageSize))
	}
	return d
}

// send hands d to the Transport. A failure is counted and logged once per
// run of failures; the retransmission timers carry on regardless.
func (m *machine) send(d *dhcpv4.DHCPv4, to, from netip.Addr) error {
	m.c.inc(func(k *Counters) { k.Sent++ })
	err := m.c.tr.Send(d.ToBytes(), to, from)
	if err != nil {
		m.c.inc(func(k *Counters) { k.SendErrors++ })
		if !m.sendFailing {
			m.c.logf("wan: dhcp: send %v failed (will retry): %v", d.MessageType(), err)
		}
		m.sendFailing = true
		return err
	}
	m.sendFailing = false
	return nil
}

// backoff is the wait before retransmission n (0 = after the first
// transmission): 4 s doubling to 64 s, plus a uniform jitter of ±1 s
// (RFC 2131 §4.1).
func (m *machine) backoff(n int) time.Duration {
	base := MaxRetransmit
	if n < 4 {
		base = FirstRetransmit << n
	}
	jitter := time.Duration(m.c.rnd.Int64N(int64(2*time.Second)+1)) - time.Second
	return base + jitter
}

func (m *machine) newXID() dhcpv4.TransactionID {
	var x dhcpv4.TransactionID
	v := m.c.rnd.Uint32()
	x[0], x[1], x[2], x[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return x
}

// persist remembers the lease (or, released, that it was given back).
func (m *machine) persist(released bool) {
	if m.lease == nil {
		return
	}
	err := m.c.store.save(&memory{
		ClientID: hex.EncodeToString(m.c.clientID),
		Address:  m.lease.Addr,
		Server:   m.lease.Server,
		Obtained: m.lease.Obtained,
		Expiry:   m.lease.Expiry(),
		Released: released,
	})
	if err != nil {
		m.c.inc(func(k *Counters) { k.LeaseFileErrors++ })
		m.c.logf("wan: dhcp: cannot remember the lease: %v", err)
	}
}

// forget drops the remembered lease (NAK, DECLINE).
func (m *machine) forget() {
	if err := m.c.store.clear(); err != nil {
		m.c.inc(func(k *Counters) { k.LeaseFileErrors++ })
		m.c.logf("wan: dhcp: cannot forget the lease: %v", err)
	}
}
