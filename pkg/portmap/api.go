package portmap

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// MapRequest is a mapping asked for through the programmatic API (Map),
// as UPnP IGD asks: the same table, caps, reserved ports, lifetimes and
// rate limit as NAT-PMP and PCP.
type MapRequest struct {
	Proto Proto
	// Host is the requesting host's address, which is also the internal
	// address: a host maps only to itself. The caller takes it from the
	// transport (the HTTP client's source), never from the request body.
	Host         netip.Addr
	InternalPort uint16 // 1-65535
	// ExternalPort is the suggested external port (0: any). With Exact
	// it is the only acceptable one: if it is reserved or another
	// mapping's, Map fails with ErrPortUnavailable, and if the host
	// already maps InternalPort to another port, that mapping moves to
	// ExternalPort (when free; else it stays as it was).
	ExternalPort uint16
	Exact        bool
	// Lifetime is clamped to [MinLifetime, MaxLifetime]. 0 means "as
	// long as possible" (UPnP IGDv1's "permanent" lease): MaxLifetime.
	// The mapping is not permanent: asking again renews it, as for
	// NAT-PMP and PCP.
	Lifetime time.Duration
	Origin   Origin // who asks: OriginUPnP (or any other Origin)
	// Description is stored sanitised (SanitiseDescription).
	Description string
}

// MapResult is what Map granted.
type MapResult struct {
	Mapping  Mapping
	Lifetime time.Duration // granted, from now
}

// Map creates or renews the mapping r asks for at now. Errors wrap
// ErrNotLAN, ErrRateLimited (the source's budget is the one NAT-PMP and
// PCP draw from), ErrInvalid, ErrNoExternal, ErrQuota (MaxPerHost),
// ErrNoResources (MaxMappings, or no free port) or ErrPortUnavailable.
// OnChange is called when the set of mappings changed.
func (s *Server) Map(r MapRequest, now time.Time) (MapResult, error) {
	s.mu.Lock()
	res, changed, err := s.mapLocked(r, now)
	s.mu.Unlock()
	s.changed(changed)
	return res, err
}

func (s *Server) mapLocked(r MapRequest, now time.Time) (res MapResult, changed bool, err error) {
	host := r.Host.Unmap()
	if err := s.admit(host, now); err != nil {
		return MapResult{}, false, fmt.Errorf("portmap: map %v %v:%d: %w", r.Proto, host, r.InternalPort, err)
	}
	changed = s.tab.expire(now) > 0
	switch {
	case r.Proto != TCP && r.Proto != UDP:
		err = fmt.Errorf("protocol %v: %w", r.Proto, ErrInvalid)
	case r.InternalPort == 0:
		err = fmt.Errorf("internal port 0: %w", ErrInvalid)
	case r.Exact && r.ExternalPort == 0:
		err = fmt.Errorf("exact external port 0: %w", ErrInvalid)
	case r.Lifetime < 0:
		err = fmt.Errorf("lifetime %v: %w", r.Lifetime, ErrInvalid)
	case r.Origin == 0:
		err = fmt.Errorf("no origin: %w", ErrInvalid)
	}
	if err != nil {
		s.counters.Errors++
		return MapResult{}, changed, fmt.Errorf("portmap: map %v %v:%d: %w", r.Proto, host, r.InternalPort, err)
	}
	life := r.Lifetime
	if life == 0 || life > s.cfg.MaxLifetime {
		life = s.cfg.MaxLifetime
	}
	secs := uint32((life + time.Second - 1) / time.Second) // >= 1: 0 would delete
	out := s.request(mapRequest{
		proto:     r.Proto,
		host:      host,
		intPort:   r.InternalPort,
		suggested: r.ExternalPort,
		lifetime:  secs,
		origin:    r.Origin,
		exact:     r.Exact,
		desc:      SanitiseDescription(r.Description),
	}, now, &changed)
	if out.outcome != ok {
		s.counters.Errors++
		return MapResult{}, changed, fmt.Errorf("portmap: map %v %v:%d to port %d: %w", r.Proto, host, r.InternalPort, r.ExternalPort, outcomeErr[out.outcome])
	}
	s.counters.Answered++
	e := s.tab.get(mapKey{r.Proto, host, r.InternalPort})
	return MapResult{
		Mapping: Mapping{
			Proto:       r.Proto,
			External:    netip.AddrPortFrom(s.external, e.ext),
			Internal:    netip.AddrPortFrom(host, r.InternalPort),
			Expiry:      e.expiry,
			Origin:      e.origin,
			Description: e.desc,
		},
		Lifetime: time.Duration(out.lifetime) * time.Second,
	}, changed, nil
}

// admit counts a request from host and checks it is from the LAN and
// within the rate limit.
func (s *Server) admit(host netip.Addr, now time.Time) error {
	s.counters.Requests++
	if !host.Is4() || !s.cfg.LAN.Contains(host) {
		s.counters.Dropped++
		return ErrNotLAN
	}
	if !s.lim.allow(host, now) {
		if s.counters.RateLimited++; s.counters.RateLimited%DefaultBurst == 1 {
			s.logf("portmap: rate limiting %v (%d dropped so far)", host, s.counters.RateLimited)
		}
		return ErrRateLimited
	}
	return nil
}

// Unmap deletes host's mapping of external port ext (protocol p) at now.
// Errors wrap ErrNotLAN, ErrRateLimited, ErrNoSuchMapping, or
// ErrNotAuthorized when the mapping is another host's.
func (s *Server) Unmap(p Proto, host netip.Addr, ext uint16, now time.Time) error {
	host = host.Unmap()
	s.mu.Lock()
	changed, err := s.unmapLocked(p, host, ext, now)
	s.mu.Unlock()
	s.changed(changed)
	if err != nil {
		return fmt.Errorf("portmap: unmap %v port %d for %v: %w", p, ext, host, err)
	}
	return nil
}

func (s *Server) unmapLocked(p Proto, host netip.Addr, ext uint16, now time.Time) (changed bool, err error) {
	if err := s.admit(host, now); err != nil {
		return false, err
	}
	changed = s.tab.expire(now) > 0
	k, found := s.tab.byExt[extKey{p, ext}]
	switch {
	case !found:
		err = ErrNoSuchMapping
	case k.host != host:
		err = ErrNotAuthorized
	default:
		s.tab.del(k)
		s.counters.Answered++
		return true, nil
	}
	s.counters.Errors++
	return changed, err
}

// MappingsOf returns host's mappings alive at now, by protocol and
// external port: what a UPnP control point on host may see.
func (s *Server) MappingsOf(host netip.Addr, now time.Time) []Mapping {
	host = host.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Mapping
	if s.tab.perHost[host] == 0 {
		return nil
	}
	for _, m := range s.tab.list(s.external) {
		if m.Internal.Addr() == host && m.Expiry.After(now) {
			out = append(out, m)
		}
	}
	return out
}

// SanitiseDescription makes a host's description of a mapping safe to
// store and print: printable ASCII only (other characters become '?',
// surrounding space is trimmed), at most MaxDescription bytes.
func SanitiseDescription(d string) string {
	var b strings.Builder
	for _, c := range d {
		if b.Len() >= MaxDescription {
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return strings.TrimSpace(b.String())
}
