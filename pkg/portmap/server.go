package portmap

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Defaults of Config's zero fields.
const (
	DefaultMinPort     = 1024
	DefaultMinLifetime = 120 * time.Second // RFC 6887 §15
	DefaultMaxLifetime = 2 * time.Hour     // RFC 6886 §3.3 recommends 7200 s
	DefaultMaxPerHost  = 16
	DefaultMaxMappings = 256
	DefaultRate        = 10 // requests per second per source
	DefaultBurst       = 20

	// errLifetimeShort and errLifetimeLong are the lifetimes of PCP error
	// responses (RFC 6887 §7.4): how long the client should take the
	// error to hold.
	errLifetimeShort = 30
	errLifetimeLong  = 30 * 60
)

// Config is the server's configuration.
type Config struct {
	// LAN is the IPv4 LAN prefix. Requests from any other source are
	// dropped unanswered.
	LAN netip.Prefix
	// MinPort is the lowest external port handed out (default 1024).
	MinPort uint16
	// MinLifetime and MaxLifetime bound the lifetime granted (defaults
	// 120 s and 2 h); 0 requested still deletes.
	MinLifetime, MaxLifetime time.Duration
	// MaxPerHost and MaxMappings cap the mappings of one internal address
	// and of all (defaults 16 and 256).
	MaxPerHost, MaxMappings int
	// Reserved reports the external ports that must never be mapped: the
	// router's own services reachable from the WAN and every port of a
	// configured port forward. Nil reserves nothing but ports below
	// MinPort. It is called with the server's lock held and must not call
	// back into the server.
	Reserved func(p Proto, port uint16) bool
	// OnChange is called, without the lock held, after the set of
	// mappings (protocol, external port, internal address and port) or
	// the external address changed; renewals that only move an expiry do
	// not call it. It may call Mappings.
	OnChange func()
	// Rate and Burst limit the requests of one source address (defaults
	// 10 per second, burst 20); requests over the limit are dropped.
	Rate  float64
	Burst int
	// Seed seeds the choice of external ports when the suggested and the
	// internal port are taken (routerd passes a random one).
	Seed uint64
	// Logf, if set, logs dropped requests; of those dropped by the rate
	// limit, one in DefaultBurst.
	Logf func(format string, args ...any)
}

// Counters are the server's counts since it started.
type Counters struct {
	Requests    uint64 // datagrams handled
	Answered    uint64 // responses returned
	Dropped     uint64 // not answered: not from the LAN, malformed beyond an answer, a response
	RateLimited uint64 // dropped by the rate limit
	Errors      uint64 // answered with an error result
}

// Server answers NAT-PMP and PCP requests from the LAN and keeps the
// mapping table. It is safe for concurrent use. It does no I/O and reads
// no clock: every call that needs the time is given it.
type Server struct {
	mu         sync.Mutex
	cfg        Config
	tab        *table
	lim        *limiter
	external   netip.Addr
	epochStart time.Time
	counters   Counters
}

// New returns a server with no external address (requests for mappings
// get NETWORK_FAILURE until SetExternal). now starts the epoch.
func New(cfg Config, now time.Time) (*Server, error) {
	if !cfg.LAN.IsValid() || !cfg.LAN.Addr().Is4() {
		return nil, fmt.Errorf("portmap: LAN prefix %v is not an IPv4 prefix", cfg.LAN)
	}
	cfg.LAN = cfg.LAN.Masked()
	if cfg.MinPort == 0 {
		cfg.MinPort = DefaultMinPort
	}
	if cfg.MinLifetime == 0 {
		cfg.MinLifetime = DefaultMinLifetime
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = DefaultMaxLifetime
	}
	if cfg.MinLifetime < time.Second || cfg.MaxLifetime < cfg.MinLifetime || cfg.MaxLifetime > 24*time.Hour {
		return nil, fmt.Errorf("portmap: lifetimes %v..%v: want 1 s <= min <= max <= 24 h", cfg.MinLifetime, cfg.MaxLifetime)
	}
	if cfg.MaxPerHost == 0 {
		cfg.MaxPerHost = DefaultMaxPerHost
	}
	if cfg.MaxMappings == 0 {
		cfg.MaxMappings = DefaultMaxMappings
	}
	if cfg.MaxPerHost < 0 || cfg.MaxMappings < 0 || cfg.MaxMappings > 16384 {
		return nil, fmt.Errorf("portmap: caps per host %d, total %d: want 0 < per host, total <= 16384", cfg.MaxPerHost, cfg.MaxMappings)
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Rate < 0 || cfg.Burst < 1 {
		return nil, fmt.Errorf("portmap: rate %v burst %d: want both positive", cfg.Rate, cfg.Burst)
	}
	return &Server{
		cfg:        cfg,
		tab:        newTable(cfg.Seed),
		lim:        newLimiter(cfg.Rate, cfg.Burst),
		epochStart: now,
	}, nil
}

// Mappings returns the current mappings, by protocol and external port.
func (s *Server) Mappings() []Mapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tab.list(s.external)
}

// Counters returns the counts so far.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// External returns the external address (invalid while there is none).
func (s *Server) External() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.external
}

// NextExpiry is when the earliest mapping expires (the zero time when
// there is none): the caller's timer for Expire.
func (s *Server) NextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tab.nextExpiry()
}

// Expire drops the mappings that expired at now and reports how many.
func (s *Server) Expire(now time.Time) int {
	s.mu.Lock()
	n := s.tab.expire(now)
	s.mu.Unlock()
	s.changed(n > 0)
	return n
}

// DropHost drops every mapping of addr (its lease ended or moved) and
// reports how many.
func (s *Server) DropHost(addr netip.Addr) int {
	addr = addr.Unmap()
	s.mu.Lock()
	n := 0
	if s.tab.perHost[addr] > 0 {
		n = s.tab.deleteWhere(func(k mapKey, _ *entry) bool { return k.host == addr })
	}
	s.mu.Unlock()
	s.changed(n > 0)
	return n
}

// SetReserved replaces the reserved-port policy (after a configuration
// change) and drops the mappings whose external port it now reserves.
func (s *Server) SetReserved(reserved func(p Proto, port uint16) bool) int {
	s.mu.Lock()
	s.cfg.Reserved = reserved
	n := s.tab.deleteWhere(func(k mapKey, e *entry) bool { return s.reserved(k.proto, e.ext) })
	s.mu.Unlock()
	s.changed(n > 0)
	return n
}

// SetExternal records a new external address (invalid: none). When it
// changes, the epoch starts again (RFC 6887 §8.5, RFC 6886 §3.6), the
// mappings keep their ports on the new address, OnChange is called, and
// the announcements of the change are returned for the caller to send
// (see Announce; nil when there is no address).
func (s *Server) SetExternal(addr netip.Addr, now time.Time) []Datagram {
	addr = addr.Unmap()
	if addr.IsValid() && !addr.Is4() {
		addr = netip.Addr{} // an IPv4 NAT has no IPv6 external address
	}
	s.mu.Lock()
	if addr == s.external {
		s.mu.Unlock()
		return nil
	}
	s.external = addr
	s.epochStart = now
	s.mu.Unlock()
	s.changed(true)
	return s.Announce(now)
}

// Announcement destinations and schedule.
var (
	// AnnounceNATPMP is where NAT-PMP's unsolicited external address
	// responses go (RFC 6886 §3.2.1), and PCP's IPv4 ANNOUNCE (RFC 6887
	// §14.1.3).
	AnnounceNATPMP = netip.MustParseAddrPort("224.0.0.1:5350")
	// AnnouncePCP6 is PCP's IPv6 ANNOUNCE destination (RFC 6887 §14.1.3).
	AnnouncePCP6 = netip.MustParseAddrPort("[ff02::1]:5350")
)

// AnnounceRepeats is how often, after SetExternal, the caller sends
// Announce's messages again, built afresh each time (the epoch moves on):
// RFC 6886 §3.2.1 sends up to ten, the first at once, then after 250 ms,
// doubling the interval each time.
const (
	AnnounceRepeats       = 10
	AnnounceFirstInterval = 250 * time.Millisecond
)

// Datagram is a message for the caller to send.
type Datagram struct {
	To      netip.AddrPort
	Payload []byte
}

// Announce returns the announcements of the current external address at
// now: a NAT-PMP external address response and a PCP ANNOUNCE to
// 224.0.0.1:5350, and the ANNOUNCE to [ff02::1]:5350. Nil when there is
// no external address.
func (s *Server) Announce(now time.Time) []Datagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.external.IsValid() {
		return nil
	}
	epoch := s.epoch(now)
	nat := NATPMPResponse{Op: NATPMPOpExternal, Epoch: epoch, External: s.external}
	pcp := PCPResponse{Opcode: PCPOpAnnounce, Result: PCPSuccess, Epoch: epoch}
	pcpMsg := pcp.Append(nil)
	return []Datagram{
		{To: AnnounceNATPMP, Payload: nat.Append(nil)},
		{To: AnnounceNATPMP, Payload: pcpMsg},
		{To: AnnouncePCP6, Payload: pcpMsg},
	}
}

func (s *Server) epoch(now time.Time) uint32 {
	d := now.Sub(s.epochStart)
	if d < 0 {
		return 0
	}
	return uint32(min(d/time.Second, 1<<32-1))
}

func (s *Server) reserved(p Proto, port uint16) bool {
	return port < s.cfg.MinPort || (s.cfg.Reserved != nil && s.cfg.Reserved(p, port))
}

func (s *Server) free(p Proto, port uint16) bool {
	return port != 0 && !s.reserved(p, port) && !s.tab.extUsed(p, port)
}

func (s *Server) changed(yes bool) {
	if yes && s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// Handle answers one request datagram req from the LAN host at from,
// received at now, and returns the response to send back to from (nil:
// send nothing). Version 0 is answered as NAT-PMP, version 2 as PCP, any
// other with PCP's UNSUPP_VERSION (RFC 6887 §9).
func (s *Server) Handle(req []byte, from netip.AddrPort, now time.Time) []byte {
	s.mu.Lock()
	resp, changed := s.handle(req, from, now)
	s.mu.Unlock()
	s.changed(changed)
	return resp
}

func (s *Server) handle(req []byte, from netip.AddrPort, now time.Time) (resp []byte, changed bool) {
	src := from.Addr().Unmap()
	if from.Port() == 0 {
		src = netip.Addr{} // not a real source: dropped as not from the LAN
	}
	if s.admit(src, now) != nil {
		return nil, false
	}
	changed = s.tab.expire(now) > 0
	var err error
	if len(req) > 0 && req[0] == NATPMPVersion {
		resp, err = s.handleNATPMP(req, src, now, &changed)
	} else {
		resp, err = s.handlePCP(req, src, now, &changed)
	}
	switch {
	case resp == nil:
		s.counters.Dropped++
		s.logf("portmap: dropped %d bytes from %v: %v", len(req), from, err)
	case err != nil:
		s.counters.Errors++
		s.counters.Answered++
	default:
		s.counters.Answered++
	}
	return resp, changed
}

// outcome is the protocol-independent result of a mapping request.
type outcome uint8

const (
	ok outcome = iota
	notAuthorized
	networkFailure
	noResources
	userExQuota
	cannotProvide
)

// The errors of Map and Unmap (with context; test with errors.Is).
var (
	ErrNotLAN          = errors.New("the source is not in the LAN")
	ErrRateLimited     = errors.New("rate limited")
	ErrInvalid         = errors.New("invalid request")
	ErrNotAuthorized   = errors.New("not authorized")
	ErrNoExternal      = errors.New("no external address")
	ErrNoResources     = errors.New("no resources")
	ErrQuota           = errors.New("host quota exceeded")
	ErrPortUnavailable = errors.New("cannot provide the suggested external port")
	ErrNoSuchMapping   = errors.New("no such mapping")
)

var outcomeErr = [...]error{
	ok:             nil,
	notAuthorized:  ErrNotAuthorized,
	networkFailure: ErrNoExternal,
	noResources:    ErrNoResources,
	userExQuota:    ErrQuota,
	cannotProvide:  ErrPortUnavailable,
}

type mapRequest struct {
	proto         Proto
	host          netip.Addr
	intPort       uint16
	suggested     uint16
	suggestedAddr netip.Addr // PCP, unspecified = none
	lifetime      uint32
	origin        Origin
	nonce         [12]byte // PCP's
	preferFailure bool
	// exact asks for the suggested port or failure even when the host
	// already maps the internal port elsewhere: that mapping then moves
	// to the suggested port (UPnP's AddPortMapping names the external
	// port; a host may only move its own mapping).
	exact bool
	desc  string // UPnP's, sanitised
}

type mapResult struct {
	outcome  outcome
	ext      uint16
	lifetime uint32 // granted; for a nonce mismatch, the mapping's remaining
}

// request applies a mapping request to the table.
func (s *Server) request(r mapRequest, now time.Time, changed *bool) mapResult {
	pcp := r.origin == OriginPCP
	// Internal port 0 with lifetime 0 deletes all of the host's mappings
	// of the protocol (RFC 6886 §3.4; RFC 6887 §11.3 with the nonce);
	// with a lifetime it would ask for all ports, which is refused.
	if r.intPort == 0 {
		if r.lifetime != 0 {
			return mapResult{outcome: notAuthorized}
		}
		n := s.tab.deleteWhere(func(k mapKey, e *entry) bool {
			return k.host == r.host && (r.proto == 0 || k.proto == r.proto) && (!pcp || e.origin != OriginPCP || e.nonce == r.nonce)
		})
		*changed = *changed || n > 0
		return mapResult{outcome: ok}
	}
	k := mapKey{r.proto, r.host, r.intPort}
	cur := s.tab.get(k)
	if cur != nil && pcp && cur.origin == OriginPCP && cur.nonce != r.nonce {
		// RFC 6887 §11.3: another client's (or a forgotten) nonce.
		return mapResult{outcome: notAuthorized, lifetime: uint32(cur.expiry.Sub(now) / time.Second)}
	}
	if r.lifetime == 0 {
		var ext uint16
		if cur != nil {
			ext = cur.ext
			s.tab.del(k)
			*changed = true
		}
		return mapResult{outcome: ok, ext: ext}
	}
	if !s.external.IsValid() {
		return mapResult{outcome: networkFailure}
	}
	life := min(max(time.Duration(r.lifetime)*time.Second, s.cfg.MinLifetime), s.cfg.MaxLifetime)
	if cur != nil && r.exact && cur.ext != r.suggested {
		// The host moves its mapping: only to a free port, else the
		// old one stays.
		if !s.free(r.proto, r.suggested) {
			return mapResult{outcome: cannotProvide}
		}
		s.tab.del(k)
		*changed = true
		cur = nil
	}
	if cur != nil {
		if !s.reserved(r.proto, cur.ext) {
			// The same request again: renew, same external port.
			cur.expiry = now.Add(life)
			switch r.origin {
			case OriginPCP:
				cur.origin, cur.nonce = OriginPCP, r.nonce
			case OriginUPnP:
				cur.desc = r.desc
			}
			return mapResult{outcome: ok, ext: cur.ext, lifetime: uint32(life / time.Second)}
		}
		if r.exact {
			return mapResult{outcome: cannotProvide}
		}
		// The port became reserved (a new port forward): map anew.
		s.tab.del(k)
		*changed = true
	}
	if s.tab.perHost[r.host] >= s.cfg.MaxPerHost {
		return mapResult{outcome: userExQuota}
	}
	if s.tab.len() >= s.cfg.MaxMappings {
		return mapResult{outcome: noResources}
	}
	var ext uint16
	wantAddr := r.suggestedAddr.IsValid() && !r.suggestedAddr.IsUnspecified()
	if (r.preferFailure || r.exact) && ((wantAddr && r.suggestedAddr != s.external) || (r.suggested != 0 && !s.free(r.proto, r.suggested))) {
		return mapResult{outcome: cannotProvide}
	}
	if r.suggested != 0 && s.free(r.proto, r.suggested) {
		ext = r.suggested
	} else {
		// RFC 6886 §3.3 and RFC 6887 §11.3: another port; the internal
		// port first, as a host would expect.
		ext = s.tab.pickPort(r.proto, r.intPort, s.cfg.MinPort, s.free)
	}
	if ext == 0 {
		return mapResult{outcome: noResources}
	}
	e := &entry{ext: ext, expiry: now.Add(life), origin: r.origin, desc: r.desc}
	if pcp {
		e.nonce = r.nonce
	}
	s.tab.add(k, e)
	*changed = true
	return mapResult{outcome: ok, ext: ext, lifetime: uint32(life / time.Second)}
}

var natpmpResultOf = [...]NATPMPResult{
	ok:             NATPMPSuccess,
	notAuthorized:  NATPMPNotAuthorized,
	networkFailure: NATPMPNetworkFailure,
	noResources:    NATPMPOutOfResources,
	userExQuota:    NATPMPOutOfResources,
	cannotProvide:  NATPMPOutOfResources,
}

func (s *Server) handleNATPMP(b []byte, src netip.Addr, now time.Time, changed *bool) ([]byte, error) {
	req, err := ParseNATPMP(b)
	epoch := s.epoch(now)
	switch {
	case errors.Is(err, ErrNATPMPOpcode):
		r := NATPMPResponse{Op: req.Op, Result: NATPMPUnsuppOpcode, Epoch: epoch}
		return r.Append(nil), err
	case err != nil:
		return nil, err
	case req.Op == NATPMPOpExternal:
		r := NATPMPResponse{Op: req.Op, Epoch: epoch, External: s.external}
		if !s.external.IsValid() {
			r.Result = NATPMPNetworkFailure
			err = outcomeErr[networkFailure]
		}
		return r.Append(nil), err
	}
	proto := UDP
	if req.Op == NATPMPOpMapTCP {
		proto = TCP
	}
	res := s.request(mapRequest{
		proto:     proto,
		host:      src,
		intPort:   req.InternalPort,
		suggested: req.SuggestedPort,
		lifetime:  req.Lifetime,
		origin:    OriginNATPMP,
	}, now, changed)
	r := NATPMPResponse{Op: req.Op, Result: natpmpResultOf[res.outcome], Epoch: epoch, InternalPort: req.InternalPort}
	if res.outcome == ok && req.Lifetime != 0 {
		// RFC 6886 §3.4: a deletion answers external port and lifetime 0.
		r.ExternalPort, r.Lifetime = res.ext, res.lifetime
	}
	return r.Append(nil), outcomeErr[res.outcome]
}

var pcpResultOf = [...]PCPResult{
	ok:             PCPSuccess,
	notAuthorized:  PCPNotAuthorized,
	networkFailure: PCPNetworkFailure,
	noResources:    PCPNoResources,
	userExQuota:    PCPUserExQuota,
	cannotProvide:  PCPCannotProvideExternal,
}

// pcpError is the error response to req: the header with the result and
// the request's body copied (RFC 6887 §8.3).
func pcpError(req *PCPRequest, res PCPResult, epoch uint32) []byte {
	return pcpErrorFor(req, res, epoch, 0)
}

// pcpErrorFor is pcpError with the error's lifetime; 0 means the
// default for the result.
func pcpErrorFor(req *PCPRequest, res PCPResult, epoch, life uint32) []byte {
	if life == 0 {
		life = errLifetimeLong
		if res.shortLived() {
			life = errLifetimeShort
		}
	}
	r := PCPResponse{Opcode: req.Opcode, Result: res, Lifetime: life, Epoch: epoch, Body: req.Body}
	return r.Append(nil)
}

func (s *Server) handlePCP(b []byte, src netip.Addr, now time.Time, changed *bool) ([]byte, error) {
	req, err := ParsePCP(b)
	epoch := s.epoch(now)
	var perr *PCPError
	if errors.As(err, &perr) {
		return pcpError(&req, perr.Result, epoch), err
	}
	if err != nil {
		return nil, err
	}
	if req.Client != src {
		// RFC 6887 §8.3: the client address field must be the source
		// (no NAT between client and server, no mapping for others).
		return pcpError(&req, PCPAddressMismatch, epoch), fmt.Errorf("pcp: client address %v from %v", req.Client, src)
	}
	if req.Opcode == PCPOpAnnounce {
		r := PCPResponse{Opcode: PCPOpAnnounce, Result: PCPSuccess, Epoch: epoch}
		return r.Append(nil), nil
	}
	m := req.Map
	if m.Protocol != uint8(TCP) && m.Protocol != uint8(UDP) && !(m.Protocol == 0 && req.Lifetime == 0) {
		return pcpError(&req, PCPUnsuppProtocol, epoch), fmt.Errorf("pcp: protocol %d", m.Protocol)
	}
	if m.Protocol == 0 {
		m.InternalPort = 0 // RFC 6887 §11.1: ignored with protocol 0
	}
	res := s.request(mapRequest{
		proto:         Proto(m.Protocol),
		host:          src,
		intPort:       m.InternalPort,
		suggested:     m.ExternalPort,
		suggestedAddr: m.ExternalAddr,
		lifetime:      req.Lifetime,
		origin:        OriginPCP,
		nonce:         m.Nonce,
		preferFailure: req.PreferFailure(),
	}, now, changed)
	if res.outcome != ok {
		// For a nonce mismatch res.lifetime is the mapping's remaining
		// lifetime, which the error lasts (RFC 6887 §11.3).
		return pcpErrorFor(&req, pcpResultOf[res.outcome], epoch, res.lifetime), outcomeErr[res.outcome]
	}
	reply := PCPMap{Nonce: m.Nonce, Protocol: m.Protocol, InternalPort: m.InternalPort, ExternalPort: res.ext, ExternalAddr: s.external}
	if req.Lifetime == 0 {
		// A deletion: RFC 6887 §15 answers lifetime 0; the port is the
		// deleted mapping's, else the suggestion.
		if reply.ExternalPort == 0 {
			reply.ExternalPort = m.ExternalPort
		}
		reply.ExternalAddr = m.ExternalAddr
	}
	r := PCPResponse{Opcode: PCPOpMap, Result: PCPSuccess, Lifetime: res.lifetime, Epoch: epoch, Map: &reply}
	return r.Append(nil), nil
}
