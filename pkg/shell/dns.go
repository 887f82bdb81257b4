package shell

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// "show dns", "show dns cache", "clear dns cache".

// DNSRouter is the part of Router behind the DNS commands. A Router that
// does not implement it has no DNS forwarder, and the commands say so.
type DNSRouter interface {
	// DNS returns the forwarder's state; Enabled false when it is off.
	DNS(ctx context.Context) (DNSStatus, error)
	// DNSCache lists up to n cached answers, most recently used first.
	DNSCache(ctx context.Context, n int) ([]DNSCacheEntry, error)
	// ClearDNSCache empties the cache and says how many answers it held.
	ClearDNSCache(ctx context.Context) (int, error)
}

// DNSStatus is "show dns".
type DNSStatus struct {
	Enabled     bool
	Listen      []netip.Addr // the router's addresses it answers on
	Domain      string
	Upstreams   []DNSUpstream
	UpstreamsOf string // where the upstreams come from: "configured", "from the WAN"
	CacheItems  int
	CacheBytes  int
	CacheBudget int
	Counters    []Counter // queries, cache hits, … in a fixed order
}

// DNSUpstream is one upstream server's health.
type DNSUpstream struct {
	Addr      netip.AddrPort
	TLSName   string // DNS over TLS to this name; "" plain DNS
	Up        bool
	RTT       time.Duration // of its last answer
	Answered  uint64
	Failed    uint64
	LastError string
}

// DNSCacheEntry is one line of "show dns cache".
type DNSCacheEntry struct {
	Name, Type, Rcode string
	Answers           int
	TTLLeft           time.Duration // negative: expired, kept to serve stale
}

func showDNSCommand() *command {
	return &command{word: "dns", help: "DNS forwarder: upstreams, cache, counters", run: cmdShowDNS, sub: []*command{
		{word: "cache", help: "answers in the DNS cache", run: cmdShowDNSCache,
			opts: []*optSpec{{word: "count", help: "only the N most recently used", arg: intArg("<N>", "number of entries", 1, 100000, false)}}},
	}}
}

func clearDNSCommand() *command {
	return &command{word: "dns", help: "DNS forwarder", sub: []*command{
		{word: "cache", help: "empty the DNS cache (answers are asked for again)", run: cmdClearDNSCache},
	}}
}

func (s *session) dns() (DNSRouter, error) {
	r, ok := s.sh.r.(DNSRouter)
	if !ok {
		return nil, fmt.Errorf("this router has no DNS forwarder")
	}
	return r, nil
}

func cmdShowDNS(s *session, _ *call) error {
	r, err := s.dns()
	if err != nil {
		return err
	}
	st, err := r.DNS(s.cmdCtx)
	if err != nil {
		return err
	}
	if !st.Enabled {
		s.wrapped("", "The DNS forwarder is disabled (set dns forwarder enable); LAN hosts are given the upstream servers directly.")
		return nil
	}
	listen := ""
	for i, a := range st.Listen {
		if i > 0 {
			listen += ", "
		}
		listen += a.String()
	}
	s.printf("DNS forwarder on %s, local domain %s\n", listen, st.Domain)
	s.printf("Cache: %d answers, %s of %s\n\n", st.CacheItems, size(uint64(st.CacheBytes)), size(uint64(st.CacheBudget)))
	if len(st.Upstreams) == 0 {
		s.wrapped("", "No upstream servers yet: none configured (set dns upstream A.B.C.D) and none learnt on the WAN.")
	} else {
		s.printf("Upstream servers (%s):\n", st.UpstreamsOf)
		t := newTable(s.cols()-1, "Server", "State", "RTT", "Answered", "Failed", "Last error")
		for _, u := range st.Upstreams {
			state, rtt := "up", "-"
			if !u.Up {
				state = "down"
			}
			if u.RTT > 0 {
				rtt = fmt.Sprintf("%.1f ms", float64(u.RTT)/float64(time.Millisecond))
			}
			last := u.LastError
			if last == "" {
				last = "-"
			}
			server := u.Addr.String()
			if u.TLSName != "" {
				server += " tls " + u.TLSName
			}
			t.row(server, state, rtt, fmt.Sprint(u.Answered), fmt.Sprint(u.Failed), last)
		}
		s.printf("%s", t)
	}
	s.printf("\nCounters:\n%s", counterList(st.Counters, s.cols()-1))
	return nil
}

func cmdShowDNSCache(s *session, c *call) error {
	r, err := s.dns()
	if err != nil {
		return err
	}
	n := 1000
	if v, ok := c.opts["count"]; ok {
		fmt.Sscan(v, &n)
	}
	es, err := r.DNSCache(s.cmdCtx, n)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		s.printf("The DNS cache is empty.\n")
		return nil
	}
	t := newTable(s.cols()-1, "Name", "Type", "Result", "Answers", "TTL left")
	for _, e := range es {
		ttl := dur(e.TTLLeft)
		if e.TTLLeft <= 0 {
			ttl = "expired (kept to serve stale)"
		}
		t.row(e.Name, e.Type, e.Rcode, fmt.Sprint(e.Answers), ttl)
	}
	s.printf("%s", t)
	return nil
}

func cmdClearDNSCache(s *session, _ *call) error {
	r, err := s.dns()
	if err != nil {
		return err
	}
	n, err := r.ClearDNSCache(s.cmdCtx)
	if err != nil {
		return err
	}
	s.printf("Cleared %d cached DNS answers.\n", n)
	s.sh.logf("%s cleared the DNS cache (%d answers)", s.who(), n)
	return nil
}
