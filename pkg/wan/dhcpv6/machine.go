package dhcpv6

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// state is where the client is in RFC 8415 §18.2.
type state int

const (
	stateInit       state = iota // waiting before a Solicit (start delay, or backing off)
	stateSoliciting              // Solicit sent, collecting Advertises
	stateRequesting              // Request to the chosen server
	stateBound                   // lease held, waiting for T1
	stateRenewing                // Renew to our server, until T2
	stateRebinding               // Rebind to any server, until the prefix expires
	stateRebooting               // Rebind for the remembered lease after a restart
	stateReleasing               // Release sent on shutdown, waiting for the Reply
	stateStopped                 // Run is not running
)

func (s state) String() string {
	switch s {
	case stateInit:
		return "init"
	case stateSoliciting:
		return "soliciting"
	case stateRequesting:
		return "requesting"
	case stateBound:
		return "bound"
	case stateRenewing:
		return "renewing"
	case stateRebinding:
		return "rebinding"
	case stateRebooting:
		return "rebooting"
	case stateReleasing:
		return "releasing"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// requested is the Option Request Option: DNS servers, domain list and
// SOL_MAX_RT (RFC 7084 WAA-4, WAA-8; RFC 8415 §21.7 asks for SOL_MAX_RT).
var requested = []d6.OptionCode{d6.OptionDNSRecursiveNameServer, d6.OptionDomainSearchList, d6.OptionSolMaxRT}

// retrans is one message exchange's retransmission state (RFC 8415 §15).
type retrans struct {
	irt, mrt time.Duration
	mrc      int       // transmissions at most; 0 = no limit
	end      time.Time // MRD as a time; zero = no limit
	rt       time.Duration
	sent     int       // transmissions so far
	begun    time.Time // first transmission, for the Elapsed Time option
}

// machine is one run of the client state machine. All of it runs on Run's
// goroutine (or a test's); it touches Client's shared fields only through
// inc and publish.
type machine struct {
	c    *Client
	emit func(Event)

	st       state
	deadline time.Time
	xid      d6.TransactionID
	rt       retrans
	lastSent time.Time // latest transmission of the current exchange

	// Soliciting.
	firstRT bool   // the first RT is over: the next usable Advertise is taken
	best    *reply // best Advertise during the first RT

	// Requesting: the server asked and what is asked for.
	server   *reply
	want     netip.Prefix
	wantAddr netip.Addr

	lease          *Lease // held and reported; nil if none
	t1, t2, expiry time.Time

	remembered *Lease    // from the lease file, not reported yet
	rebootEnd  time.Time // end of the Rebind after a restart

	hint     netip.Prefix // prefix to ask for in Solicit
	hintAddr netip.Addr
	unicast  netip.Addr // the server's unicast address (AllowUnicast only)
	solMaxRT time.Duration
	failures int // failed exchanges since the last lease; paces retries

	sendFailing bool
	lastDropLog time.Time

	key        *reconfKey // the binding's reconfigure key (AcceptReconfigure)
	lastReconf time.Time  // the last Reconfigure taken

	// What the lease file last got, and when (see persist).
	savedAt   time.Time
	savedWhat string
}

func newMachine(c *Client, emit func(Event)) *machine {
	return &machine{c: c, emit: emit, solMaxRT: SolMaxRT}
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

// start enters the first state: Rebind for an unexpired remembered lease
// (RFC 8415 §18.2.12: a client that may have moved confirms its delegated
// prefixes with Rebind), otherwise a Solicit after a random delay of up to
// SolMaxDelay (§18.2.1), asking for the remembered prefix if any.
func (m *machine) start(now time.Time) {
	mem, l, err := m.c.store.loadLease(m.c.duid)
	if err != nil {
		m.c.logf("dhcpv6: ignoring the remembered lease: %v", err)
	}
	if l != nil {
		m.hint, m.hintAddr = l.Prefix, l.Address
		if !mem.Released && now.Before(l.Expiry()) {
			m.remembered = l
			m.c.logf("dhcpv6: confirming remembered prefix %v (Rebind)", l.Prefix)
			m.enterRebooting(now)
			return
		}
	}
	m.enterInit(now, time.Duration(m.c.rnd.Int64N(int64(SolMaxDelay))))
}

// timeout handles the deadline.
func (m *machine) timeout(now time.Time) {
	switch m.st {
	case stateInit:
		m.enterSoliciting(now)
	case stateSoliciting:
		if !m.firstRT {
			m.firstRT = true
			if m.best != nil {
				m.enterRequesting(now, m.best)
				return
			}
		}
		m.retransmit(now, d6.MessageTypeSolicit)
	case stateRequesting:
		if m.exhausted(now) {
			m.c.logf("dhcpv6: no Reply to %d Requests", m.rt.sent)
			if m.lease != nil {
				// After NoBinding: the lease is still ours by its
				// lifetimes; ask any server until it expires.
				m.enterRebinding(now)
				return
			}
			m.fail(now)
			return
		}
		m.retransmit(now, d6.MessageTypeRequest)
	case stateBound, stateRenewing, stateRebinding:
		switch {
		case !now.Before(m.expiry):
			m.expire(now)
		case m.st == stateRebinding:
			// Also before T2: after a Request after NoBinding gone
			// unanswered.
			m.retransmit(now, d6.MessageTypeRebind)
		case !now.Before(m.t2):
			m.c.logf("dhcpv6: T2 reached without renewal; rebinding %v with any server", m.lease.Prefix)
			m.enterRebinding(now)
		case m.st == stateRenewing:
			m.retransmit(now, d6.MessageTypeRenew)
		default:
			m.enterRenewing(now)
		}
	case stateRebooting:
		if m.exhausted(now) {
			m.c.logf("dhcpv6: remembered prefix %v not confirmed; soliciting", m.remembered.Prefix)
			m.enterSoliciting(now)
			return
		}
		m.retransmit(now, d6.MessageTypeRebind)
	case stateReleasing:
		if m.exhausted(now) {
			m.released(now)
			return
		}
		m.retransmit(now, d6.MessageTypeRelease)
	default:
		m.deadline = now.Add(MaxLifetime)
	}
}

// receive handles one message from the Transport.
func (m *machine) receive(now time.Time, b []byte, from netip.Addr) {
	defer func() {
		// parseReply and the machine are fuzzed not to panic; this is
		// the last line of defence for a hostile network.
		if p := recover(); p != nil {
			m.drop(now, dropMalformed, "")
			m.c.logf("dhcpv6: BUG: panic on a received message (ignored): %v", p)
		}
	}()
	m.c.inc(func(k *Counters) { k.Received++ })
	if len(b) > 0 && d6.MessageType(b[0]) == d6.MessageTypeReconfigure {
		m.reconfigure(now, b)
		return
	}
	r, why := parseReply(b, from, m.c.duid, iaid)
	if why != dropNone {
		m.drop(now, why, "")
		return
	}
	if r.discarded > 0 || r.badItems > 0 {
		m.c.inc(func(k *Counters) { k.BadIA += uint64(r.discarded); k.BadItems += uint64(r.badItems) })
	}
	switch m.st {
	case stateSoliciting, stateRequesting, stateRenewing, stateRebinding, stateRebooting, stateReleasing:
	default:
		m.drop(now, dropUnexpected, "")
		return
	}
	if r.xid != m.xid {
		m.drop(now, dropWrongXID, "")
		return
	}
	if r.solMaxRT > 0 {
		// RFC 8415 §18.2.9, §18.2.10: processed in any Advertise or
		// Reply, even one otherwise ignored.
		m.solMaxRT = r.solMaxRT
		if m.st == stateSoliciting {
			m.rt.mrt = r.solMaxRT
		}
	}
	if !m.c.cfg.AllowUnicast {
		r.unicast = netip.Addr{}
	}
	switch m.st {
	case stateSoliciting:
		if r.typ == d6.MessageTypeAdvertise {
			m.advertise(now, r)
			return
		}
		if !m.c.cfg.RapidCommit || !r.rapid {
			m.drop(now, dropUnexpected, "") // a Reply to a Solicit needs Rapid Commit on both sides
			return
		}
		if r.status != iana.StatusSuccess {
			m.drop(now, dropStatus, r.statusText)
			return
		}
		it, ok := pick(r.pd, netip.Prefix{})
		if !ok {
			m.drop(now, dropNoPrefix, r.statusText)
			return
		}
		m.bind(now, r, it)
	case stateRequesting:
		if r.typ != d6.MessageTypeReply {
			m.drop(now, dropUnexpected, "") // a late Advertise: the choice is made
			return
		}
		if !bytes.Equal(r.serverID, m.server.serverID) {
			m.drop(now, dropBadServerID, "")
			return
		}
		m.requestReply(now, r)
	case stateRenewing, stateRebinding, stateRebooting:
		if r.typ != d6.MessageTypeReply {
			m.drop(now, dropUnexpected, "")
			return
		}
		if m.st == stateRenewing && !bytes.Equal(r.serverID, m.lease.ServerID) {
			m.drop(now, dropBadServerID, "")
			return
		}
		m.extendReply(now, r)
	case stateReleasing:
		if r.typ != d6.MessageTypeReply || !bytes.Equal(r.serverID, m.lease.ServerID) {
			m.drop(now, dropUnexpected, "")
			return
		}
		m.released(now)
	}
}

// advertise handles an Advertise while soliciting (RFC 8415 §18.2.9): one
// without a usable prefix is ignored; during the first RT the best one is
// kept (highest preference, then one with an address if asked for), and
// preference 255 is taken at once; after the first RT the first usable one
// is taken.
func (m *machine) advertise(now time.Time, r *reply) {
	if r.status != iana.StatusSuccess {
		m.drop(now, dropStatus, r.statusText)
		return
	}
	if _, ok := pick(r.pd, m.hint); !ok {
		m.drop(now, dropNoPrefix, r.statusText)
		return
	}
	m.c.inc(func(k *Counters) { k.Advertises++ })
	if m.firstRT {
		m.enterRequesting(now, r)
		return
	}
	if m.best == nil || m.better(r, m.best) {
		m.best = r
	}
	if r.pref == 255 {
		m.enterRequesting(now, m.best)
	}
}

func (m *machine) better(a, b *reply) bool {
	if a.pref != b.pref {
		return a.pref > b.pref
	}
	if m.c.cfg.RequestAddress {
		_, ha := pick(a.na, netip.Prefix{})
		_, hb := pick(b.na, netip.Prefix{})
		return ha && !hb
	}
	return false
}

// requestReply handles the Reply to a Request.
func (m *machine) requestReply(now time.Time, r *reply) {
	switch r.status {
	case iana.StatusSuccess:
	case iana.StatusUnspecFail, iana.StatusUseMulticast:
		// Retransmission goes on at its pace (RFC 8415 §18.2.10: rate
		// limited); UseMulticast stops unicast.
		m.unicast = netip.Addr{}
		m.drop(now, dropStatus, r.statusText)
		return
	case iana.StatusNotOnLink:
		m.hint, m.hintAddr = netip.Prefix{}, netip.Addr{}
		m.refused(now, r)
		return
	default:
		m.refused(now, r)
		return
	}
	if r.pd == nil || r.pd.status != iana.StatusSuccess {
		m.refused(now, r)
		return
	}
	cur := m.want
	if m.lease != nil {
		cur = m.lease.Prefix
	}
	it, ok := pick(r.pd, cur)
	if !ok {
		m.refused(now, r)
		return
	}
	m.bind(now, r, it)
}

// refused handles a Reply to a Request that gives no prefix (NoPrefixAvail
// and the like): a held lease is lost, and the client Solicits again after
// a pause that doubles with each failure.
func (m *machine) refused(now time.Time, r *reply) {
	text := r.statusText
	if r.pd != nil && r.pd.status != iana.StatusSuccess {
		text = fmt.Sprintf("%v %s", r.pd.status, text)
	}
	m.drop(now, dropNoPrefix, text)
	if m.lease != nil {
		m.lost(LostWithdrawn)
	}
	m.fail(now)
}

// extendReply handles the Reply to a Renew or Rebind (also the Rebind
// after a restart), RFC 8415 §18.2.10.1.
func (m *machine) extendReply(now time.Time, r *reply) {
	held := m.lease
	if m.st == stateRebooting {
		held = m.remembered
	}
	switch r.status {
	case iana.StatusSuccess:
	case iana.StatusUnspecFail, iana.StatusUseMulticast:
		m.unicast = netip.Addr{}
		m.drop(now, dropStatus, r.statusText)
		return
	default:
		if m.st == stateRebooting {
			if r.status == iana.StatusNotOnLink {
				m.hint, m.hintAddr = netip.Prefix{}, netip.Addr{}
			}
			m.drop(now, dropStatus, r.statusText)
			m.enterSoliciting(now)
			return
		}
		m.drop(now, dropStatus, r.statusText)
		return
	}
	pd := r.pd
	switch {
	case pd == nil:
		// The server said nothing about the IA_PD: keep it and keep
		// asking at the retransmission pace (§18.2.10.1).
		m.drop(now, dropNoPrefix, "")
		return
	case pd.status == iana.StatusNoBinding:
		// The server does not know the binding: Request it back
		// (§18.2.10.1), from the server that answered.
		m.c.logf("dhcpv6: %v is not bound at the server; requesting it", held.Prefix)
		m.enterRequestingFor(now, r, held.Prefix, held.Address)
		return
	case pd.status != iana.StatusSuccess:
		m.drop(now, dropNoPrefix, fmt.Sprintf("%v %s", pd.status, r.statusText))
		if m.st == stateRebooting {
			m.enterSoliciting(now)
		}
		return
	}
	if it, ok := pick(pd, held.Prefix); ok {
		m.bind(now, r, it)
		return
	}
	if old, ok := pd.find(held.Prefix); ok && old.valid < MinLifetime {
		m.c.logf("dhcpv6: server withdrew %v", held.Prefix)
		m.drop(now, dropNoPrefix, "")
		if m.st == stateRebooting {
			m.hint = netip.Prefix{}
			m.enterSoliciting(now)
			return
		}
		m.lost(LostWithdrawn)
		m.fail(now)
		return
	}
	m.drop(now, dropNoPrefix, "")
}

// pick chooses the prefix (or address) to hold from ia: cur if the server
// keeps it, else the first with a preferred lifetime, else the first. Only
// items with at least MinLifetime of valid lifetime are candidates.
func pick(ia *iaResult, cur netip.Prefix) (iaItem, bool) {
	if ia == nil || ia.status != iana.StatusSuccess {
		return iaItem{}, false
	}
	var first, preferred *iaItem
	for i := range ia.items {
		it := &ia.items[i]
		if it.valid < MinLifetime {
			continue
		}
		if it.prefix == cur {
			return *it, true
		}
		if first == nil {
			first = it
		}
		if preferred == nil && it.preferred > 0 {
			preferred = it
		}
	}
	switch {
	case preferred != nil:
		return *preferred, true
	case first != nil:
		return *first, true
	}
	return iaItem{}, false
}

// bind takes the lease in a Reply and reports it.
func (m *machine) bind(now time.Time, r *reply, it iaItem) {
	m.c.inc(func(k *Counters) { k.Replies++ })
	obtained := m.lastSent
	old := m.lease
	l := Lease{
		Prefix:            it.prefix,
		PreferredLifetime: it.preferred,
		ValidLifetime:     it.valid,
		DNS:               r.dns,
		Domains:           r.domains,
		ServerID:          r.serverID,
		Server:            r.from,
		Obtained:          obtained,
	}
	var curAddr netip.Addr
	if old != nil {
		curAddr = old.Address
	} else if m.remembered != nil {
		curAddr = m.remembered.Address
	}
	if m.c.cfg.RequestAddress {
		if a, ok := pick(r.na, netip.PrefixFrom(curAddr, 128)); ok {
			l.Address, l.AddressPreferred, l.AddressValid = a.prefix.Addr(), a.preferred, a.valid
		} else if old != nil && old.Address.IsValid() {
			// Not in this Reply (or withdrawn): keep what is left of it,
			// unless the server withdrew it.
			if w, ok := r.na.find(netip.PrefixFrom(old.Address, 128)); !ok || w.valid >= MinLifetime {
				left := old.Obtained.Add(old.AddressValid).Sub(obtained)
				if left > 0 {
					l.Address = old.Address
					l.AddressValid = left
					l.AddressPreferred = min(max(old.Obtained.Add(old.AddressPreferred).Sub(obtained), 0), left)
				}
			}
		}
	}
	l.T1, l.T2 = timers(&l, r)
	m.lease = &l
	m.t1, m.t2, m.expiry = obtained.Add(l.T1), obtained.Add(l.T2), l.Expiry()
	m.st = stateBound
	m.deadline = m.t1
	m.failures = 0
	m.hint, m.hintAddr = l.Prefix, l.Address
	m.unicast = r.unicast
	m.server, m.best = nil, nil
	m.takeKey(r)
	m.persist(now, false)
	rem := m.remembered
	m.remembered = nil
	switch {
	case old == nil && rem != nil && rem.Prefix != l.Prefix && now.Before(rem.Expiry()):
		m.c.logf("dhcpv6: remembered prefix %v replaced: %v", rem.Prefix, l)
		m.emit(PrefixChanged{Lease: l.clone(), Old: *rem})
	case old == nil:
		m.c.logf("dhcpv6: prefix acquired: %v", l)
		m.emit(PrefixAcquired{l.clone()})
	case old.Prefix != l.Prefix:
		m.c.logf("dhcpv6: prefix changed from %v to %v", old.Prefix, l)
		m.emit(PrefixChanged{Lease: l.clone(), Old: *old})
	default:
		m.emit(PrefixRenewed{l.clone()})
	}
}

// timers returns T1 and T2 for l from the Reply's IAs (RFC 8415 §21.4,
// §21.21): the earliest the server gives, or, where it gives 0 ("client's
// choice") or more than the preferred lifetime, 0.5 and 0.8 of the
// shortest preferred lifetime (the valid one if that is 0); then at least
// MinRenewTime, so MinRenewTime ≤ T1 ≤ T2 < ValidLifetime.
func timers(l *Lease, r *reply) (t1, t2 time.Duration) {
	base := l.PreferredLifetime
	t1, t2 = r.pd.t1, r.pd.t2
	if l.Address.IsValid() && r.na != nil {
		t1, t2 = minNonZero(t1, r.na.t1), minNonZero(t2, r.na.t2)
		base = minNonZero(base, l.AddressPreferred)
	}
	if base == 0 {
		base = l.ValidLifetime
	}
	if t2 == 0 || t2 > base || t2 >= l.ValidLifetime {
		t2 = base * 4 / 5
	}
	if t1 == 0 || t1 > t2 {
		t1 = min(base/2, t2)
	}
	t1 = max(t1, MinRenewTime)
	t2 = max(t2, t1)
	return t1, t2
}

func minNonZero(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// lost ends the lease held and reports it.
func (m *machine) lost(why LostReason) {
	old := *m.lease
	m.lease, m.key = nil, nil
	m.c.logf("dhcpv6: prefix %v lost: %v", old.Prefix, why)
	if why != LostReleased {
		m.forget()
	}
	if why == LostWithdrawn {
		m.hint, m.hintAddr = netip.Prefix{}, netip.Addr{}
	}
	m.emit(PrefixLost{Lease: old, Reason: why})
}

// expire ends a lease nobody extended and starts over, asking for the same
// prefix.
func (m *machine) expire(now time.Time) {
	p := m.lease.Prefix
	m.lost(LostExpired)
	m.hint = p
	m.enterSoliciting(now)
}

// fail paces a new Solicit after a failed exchange: 1 s, doubling, at
// most SOL_MAX_RT, each ±10%.
func (m *machine) fail(now time.Time) {
	m.failures++
	d := min(SolTimeout<<min(m.failures-1, 20), m.solMaxRT)
	d += m.jitter(d, false)
	m.enterInit(now, d)
}

// stop ends the run. With ReleaseOnStop and a lease it starts the Release
// and reports true: the caller keeps running the machine until it stops.
func (m *machine) stop(now time.Time) bool {
	if m.lease != nil && m.c.cfg.ReleaseOnStop {
		m.st = stateReleasing
		m.newExchange(now, RelTimeout, 0, RelMaxRC, now.Add(ReleaseWait))
		m.c.inc(func(k *Counters) { k.Releases++ })
		m.transmit(now, d6.MessageTypeRelease, false)
		return true
	}
	m.st = stateStopped
	return false
}

// released ends the Release exchange (answered or not).
func (m *machine) released(now time.Time) {
	m.persist(now, true)
	m.lost(LostReleased)
	m.st = stateStopped
}

func (m *machine) enterInit(now time.Time, delay time.Duration) {
	m.st = stateInit
	m.deadline = now.Add(max(delay, 0))
}

func (m *machine) enterSoliciting(now time.Time) {
	m.st = stateSoliciting
	m.firstRT, m.best, m.server = false, nil, nil
	m.newExchange(now, SolTimeout, m.solMaxRT, 0, time.Time{})
	m.transmit(now, d6.MessageTypeSolicit, true)
}

func (m *machine) enterRequesting(now time.Time, adv *reply) {
	it, _ := pick(adv.pd, m.hint)
	var addr netip.Addr
	if a, ok := pick(adv.na, netip.PrefixFrom(m.hintAddr, 128)); ok {
		addr = a.prefix.Addr()
	}
	m.enterRequestingFor(now, adv, it.prefix, addr)
}

// enterRequestingFor Requests prefix (and addr, if valid) from the server
// that sent r.
func (m *machine) enterRequestingFor(now time.Time, r *reply, prefix netip.Prefix, addr netip.Addr) {
	m.st = stateRequesting
	m.server, m.best = r, nil
	m.want, m.wantAddr = prefix, addr
	if m.c.cfg.AllowUnicast {
		m.unicast = r.unicast
	}
	m.newExchange(now, ReqTimeout, ReqMaxRT, ReqMaxRC, time.Time{})
	m.transmit(now, d6.MessageTypeRequest, false)
}

func (m *machine) enterRenewing(now time.Time) {
	m.st = stateRenewing
	m.newExchange(now, RenTimeout, RenMaxRT, 0, m.t2)
	m.transmit(now, d6.MessageTypeRenew, false)
}

func (m *machine) enterRebinding(now time.Time) {
	m.st = stateRebinding
	m.unicast = netip.Addr{}
	m.newExchange(now, RebTimeout, RebMaxRT, 0, m.expiry)
	m.transmit(now, d6.MessageTypeRebind, false)
}

func (m *machine) enterRebooting(now time.Time) {
	m.st = stateRebooting
	m.rebootEnd = now.Add(RebootRebind)
	m.newExchange(now, RebTimeout, RebMaxRT, 0, m.rebootEnd)
	m.transmit(now, d6.MessageTypeRebind, false)
}

// newExchange starts a message exchange: a new transaction ID and fresh
// retransmission state.
func (m *machine) newExchange(now time.Time, irt, mrt time.Duration, mrc int, end time.Time) {
	v := m.c.rnd.Uint32()
	m.xid = d6.TransactionID{byte(v >> 16), byte(v >> 8), byte(v)}
	m.rt = retrans{irt: irt, mrt: mrt, mrc: mrc, end: end, begun: now}
}

// exhausted reports whether the exchange has failed: MRC transmissions
// made, or MRD over (RFC 8415 §15).
func (m *machine) exhausted(now time.Time) bool {
	return (m.rt.mrc > 0 && m.rt.sent >= m.rt.mrc) || (!m.rt.end.IsZero() && !now.Before(m.rt.end))
}

// retransmit sends the current message again and schedules the next.
func (m *machine) retransmit(now time.Time, t d6.MessageType) {
	m.c.inc(func(k *Counters) { k.Retransmits++ })
	m.transmit(now, t, false)
}

// transmit sends a message of type t for the current exchange and sets
// the deadline by RFC 8415 §15: RT = IRT + RAND*IRT first (RAND > 0 for
// the first Solicit), then 2*RT + RAND*RT, and MRT + RAND*MRT past MRT,
// RAND uniform in ±0.1; never past MRD.
func (m *machine) transmit(now time.Time, t d6.MessageType, firstSolicit bool) {
	r := &m.rt
	r.sent++
	m.lastSent = now
	m.send(now, t)
	if r.sent == 1 {
		r.rt = r.irt + m.jitter(r.irt, firstSolicit)
	} else {
		r.rt = 2*r.rt + m.jitter(r.rt, false)
	}
	if r.mrt > 0 && r.rt > r.mrt {
		r.rt = r.mrt + m.jitter(r.mrt, false)
	}
	m.deadline = now.Add(r.rt)
	if !r.end.IsZero() && m.deadline.After(r.end) {
		m.deadline = r.end
	}
}

// jitter is RAND*d, RAND uniform in [-0.1, 0.1], or in (0, 0.1] when
// positive.
func (m *machine) jitter(d time.Duration, positive bool) time.Duration {
	f := m.c.rnd.Float64()*0.2 - 0.1
	if positive {
		f = (1 - m.c.rnd.Float64()) * 0.1
	}
	return time.Duration(f * float64(d))
}

// send builds the message of type t for the current state and hands it to
// the Transport: to the server's unicast address where allowed and known,
// else (or if that fails) to AllServers.
func (m *machine) send(now time.Time, t d6.MessageType) {
	msg := &d6.Message{MessageType: t, TransactionID: m.xid}
	msg.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionClientID, OptionData: m.c.duid})
	var serverID []byte
	var prefix netip.Prefix
	var addr netip.Addr
	switch t {
	case d6.MessageTypeSolicit:
		prefix, addr = m.hint, m.hintAddr
	case d6.MessageTypeRequest:
		serverID, prefix, addr = m.server.serverID, m.want, m.wantAddr
	case d6.MessageTypeRenew, d6.MessageTypeRelease:
		serverID, prefix, addr = m.lease.ServerID, m.lease.Prefix, m.lease.Address
	case d6.MessageTypeRebind:
		l := m.lease
		if m.st == stateRebooting {
			l = m.remembered
		}
		prefix, addr = l.Prefix, l.Address
	}
	if serverID != nil {
		msg.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionServerID, OptionData: serverID})
	}
	// Elapsed Time (RFC 8415 §21.9): hundredths of a second since the
	// exchange began, 0xffff at most.
	msg.AddOption(d6.OptElapsedTime(min(now.Sub(m.rt.begun), 655350*time.Millisecond)))
	if t != d6.MessageTypeRelease {
		msg.AddOption(d6.OptRequestedOption(requested...))
	}
	if m.c.cfg.AcceptReconfigure && t != d6.MessageTypeRelease {
		msg.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionReconfAccept})
	}
	if t == d6.MessageTypeSolicit && m.c.cfg.RapidCommit {
		msg.AddOption(&d6.OptionGeneric{OptionCode: d6.OptionRapidCommit})
	}
	if m.c.cfg.RequestAddress {
		na := &d6.OptIANA{IaId: iaid}
		if addr.IsValid() {
			na.Options.Add(&d6.OptIAAddress{IPv6Addr: net.IP(addr.AsSlice())})
		}
		msg.AddOption(na)
	}
	pd := &d6.OptIAPD{IaId: iaid}
	if !prefix.IsValid() {
		// A length hint only (RFC 8415 §18.2.1): prefix ::, length
		// hintLen.
		prefix = netip.PrefixFrom(netip.IPv6Unspecified(), m.c.hintLen)
	}
	pd.Options.Add(&d6.OptIAPrefix{Prefix: &net.IPNet{IP: net.IP(prefix.Addr().AsSlice()), Mask: net.CIDRMask(prefix.Bits(), 128)}})
	msg.AddOption(pd)

	b := msg.ToBytes()
	var to netip.Addr
	if m.unicast.IsValid() && (t == d6.MessageTypeRequest || t == d6.MessageTypeRenew || t == d6.MessageTypeRelease) {
		to = m.unicast
	}
	m.c.inc(func(k *Counters) { k.Sent++ })
	err := m.c.tr.Send(b, to)
	if err != nil && to.IsValid() {
		m.c.logf("dhcpv6: unicast to %v failed (%v); sending to all servers", to, err)
		m.unicast = netip.Addr{}
		m.c.inc(func(k *Counters) { k.SendErrors++; k.Sent++ })
		err = m.c.tr.Send(b, netip.Addr{})
	}
	if err != nil {
		m.c.inc(func(k *Counters) { k.SendErrors++ })
		if !m.sendFailing {
			m.c.logf("dhcpv6: send %v failed (will retry): %v", t, err)
		}
		m.sendFailing = true
		return
	}
	m.sendFailing = false
}

func (m *machine) drop(now time.Time, why dropReason, detail string) {
	m.c.inc(func(k *Counters) {
		k.Ignored++
		switch why {
		case dropMalformed:
			k.Malformed++
		case dropReconfigure:
			k.Reconfigure++
		case dropUnexpected:
			k.Unexpected++
		case dropWrongXID:
			k.WrongXID++
		case dropWrongClientID:
			k.WrongClientID++
		case dropBadServerID:
			k.BadServerID++
		case dropStatus:
			k.Status++
		case dropNoPrefix:
			k.NoPrefix++
		}
	})
	// Other clients' messages and late answers are normal on a shared
	// segment; the rest are worth a line, at most one a minute.
	if why != dropWrongXID && why != dropWrongClientID && why != dropUnexpected &&
		(m.lastDropLog.IsZero() || now.Sub(m.lastDropLog) >= time.Minute) {
		m.lastDropLog = now
		if detail != "" {
			detail = fmt.Sprintf(" (%q)", detail)
		}
		m.c.logf("dhcpv6: ignored a server message in state %v: %v%s (further ones are counted, not logged, for a minute)", m.st, why, detail)
	}
}

// persist remembers the lease (or, released, that it was given back). A
// renewal that changes only lifetimes is written at most every
// PersistEvery: the file serves to ask for the same prefix after a
// restart, which a stale lifetime does not hinder (the Rebind after a
// restart is bounded, and a lease the file says has expired is asked for
// with a Solicit), and a server with short lifetimes must not wear out the
// SD card.
func (m *machine) persist(now time.Time, released bool) {
	if m.lease == nil {
		return
	}
	what := fmt.Sprintf("%v %v %x %v", m.lease.Prefix, m.lease.Address, m.lease.ServerID, released)
	if what == m.savedWhat && now.Sub(m.savedAt) < PersistEvery {
		return
	}
	if err := m.c.store.saveLease(toMemory(m.lease, m.c.duid, released)); err != nil {
		m.c.inc(func(k *Counters) { k.StateFileErrors++ })
		m.c.logf("dhcpv6: cannot remember the lease: %v", err)
		return
	}
	m.savedAt, m.savedWhat = now, what
}

// forget drops the remembered lease.
func (m *machine) forget() {
	m.savedWhat = ""
	if err := m.c.store.clearLease(); err != nil {
		m.c.inc(func(k *Counters) { k.StateFileErrors++ })
		m.c.logf("dhcpv6: cannot forget the lease: %v", err)
	}
}
