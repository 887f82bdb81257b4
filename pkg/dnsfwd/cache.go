package dnsfwd

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// cache holds answers in wire form within a byte budget, least recently
// used first out. An entry is fresh for its TTL and may be served stale
// for a while after (RFC 8767).
type cache struct {
	mu      sync.Mutex
	budget  int
	stale   time.Duration // how long after expiry an answer is kept
	used    int
	entries map[string]*list.Element
	lru     list.List // front: most recently used
}

type entry struct {
	key      string
	wire     []byte
	stored   time.Time
	ttl      uint32      // seconds the answer is fresh
	variants [4]*variant // finished answers by kind of query (fastpath.go)
}

// entryOverhead approximates the bookkeeping of one entry (map slot, list
// element, entry struct).
const entryOverhead = 160

func (e *entry) size() int {
	n := len(e.wire) + len(e.key) + entryOverhead
	for _, v := range e.variants {
		if v != nil {
			n += len(v.wire) + 4*len(v.ttlOffs)
		}
	}
	return n
}

func newCache(budget int, stale time.Duration) *cache {
	return &cache{budget: budget, stale: stale, entries: map[string]*list.Element{}}
}

// cacheKey identifies an answer: the name (case-folded), type, class and
// the DNSSEC bits that change what an upstream returns.
func cacheKey(q dns.Question, req *dns.Msg) string {
	// name, then type, class and flags in binary: one allocation.
	var b [256 + 5]byte
	k := b[:0]
	for i := 0; i < len(q.Name); i++ {
		c := q.Name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		k = append(k, c)
	}
	var flags byte
	if o := req.IsEdns0(); o != nil && o.Do() {
		flags |= 1
	}
	if req.CheckingDisabled {
		flags |= 2
	}
	k = append(k, 0, byte(q.Qtype>>8), byte(q.Qtype), byte(q.Qclass>>8), byte(q.Qclass), flags)
	return string(k)
}

// cacheTTL is how long m may be cached, 0 for not at all: the smallest TTL
// of its records for an answer; the SOA's for a negative answer (RFC 2308
// §5: without an SOA it is not cached).
func cacheTTL(m *dns.Msg) uint32 {
	if m.Truncated {
		return 0
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
		if len(m.Answer) > 0 {
			t := uint32(maxTTL)
			for _, rrs := range [][]dns.RR{m.Answer, m.Ns} {
				for _, rr := range rrs {
					t = min(t, rr.Header().Ttl)
				}
			}
			return t
		}
		return negativeTTL(m)
	case dns.RcodeNameError:
		return negativeTTL(m)
	}
	return 0
}

func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl, maxNegTTL)
		}
	}
	return 0
}

// put stores m under key if it may be cached.
func (c *cache) put(key string, m *dns.Msg, now time.Time) {
	ttl := cacheTTL(m)
	if ttl == 0 {
		return
	}
	wire, err := m.Pack()
	if err != nil {
		return
	}
	e := &entry{key: key, wire: wire, stored: now, ttl: ttl}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.size() > c.budget/8 {
		return // one answer never takes more than an eighth of the cache
	}
	if el, ok := c.entries[key]; ok {
		c.removeLocked(el)
	}
	c.entries[key] = c.lru.PushFront(e)
	c.used += e.size()
	c.evictLocked()
}

func (c *cache) evictLocked() {
	for c.used > c.budget {
		c.removeLocked(c.lru.Back())
	}
}

func (c *cache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.entries, e.key)
	c.used -= e.size()
}

// get returns the answer for key with its TTLs counted down and whether it
// is fresh. With allowStale, an expired answer is returned, with TTL
// staleTTL, within the stale window after its expiry; one beyond that is
// removed.
func (c *cache) get(key string, now time.Time, allowStale bool) (*dns.Msg, bool) {
	c.mu.Lock()
	el, ok := c.entries[key]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	e := el.Value.(*entry)
	age := max(now.Sub(e.stored), 0)
	expiry := time.Duration(e.ttl) * time.Second
	fresh := age < expiry
	if !fresh && (c.stale <= 0 || age >= expiry+c.stale) {
		c.removeLocked(el)
		c.mu.Unlock()
		return nil, false
	}
	if !fresh && !allowStale {
		c.mu.Unlock()
		return nil, false
	}
	c.lru.MoveToFront(el)
	wire := e.wire
	c.mu.Unlock()
	m := new(dns.Msg)
	if m.Unpack(wire) != nil {
		return nil, false
	}
	elapsed := uint32(age / time.Second)
	for _, rrs := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			switch {
			case !fresh:
				h.Ttl = staleTTL
			case h.Ttl > elapsed:
				h.Ttl -= elapsed
			default:
				h.Ttl = 0
			}
		}
	}
	return m, fresh
}

// fast returns the variant of kind i of key's answer while it is fresh.
func (c *cache) fast(key string, i int, now time.Time) *variant {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if v := e.variants[i]; v != nil && now.Sub(e.stored) < time.Duration(e.ttl)*time.Second {
		c.lru.MoveToFront(el)
		return v
	}
	return nil
}

// keepVariant stores v as the variant of kind i of key's answer, if the
// answer is still the one it was built from (stored at or before built).
func (c *cache) keepVariant(key string, i int, v *variant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	if e.variants[i] != nil || e.stored.After(v.built) {
		return
	}
	e.variants[i] = v
	c.used += len(v.wire) + 4*len(v.ttlOffs)
	c.evictLocked()
}

// configure changes the budget and stale window, evicting as needed.
func (c *cache) configure(budget int, stale time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget, c.stale = budget, stale
	c.evictLocked()
}

// flush empties the cache and says how many answers it held.
func (c *cache) flush() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	c.entries = map[string]*list.Element{}
	c.lru.Init()
	c.used = 0
	return n
}

// CacheEntry is one cached answer, for show dns cache.
type CacheEntry struct {
	Name, Type string
	Rcode      string
	Answers    int
	TTLLeft    time.Duration // negative: expired, kept for serve-stale
}

// stats is the number of entries and bytes used.
func (c *cache) stats() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.used
}

// list returns up to n entries, most recently used first.
func (c *cache) list(now time.Time, n int) []CacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []CacheEntry
	for el := c.lru.Front(); el != nil && len(out) < n; el = el.Next() {
		e := el.Value.(*entry)
		var m dns.Msg
		if m.Unpack(e.wire) != nil || len(m.Question) != 1 {
			continue
		}
		q := m.Question[0]
		out = append(out, CacheEntry{Name: q.Name, Type: dns.TypeToString[q.Qtype], Rcode: dns.RcodeToString[m.Rcode],
			Answers: len(m.Answer), TTLLeft: time.Duration(e.ttl)*time.Second - now.Sub(e.stored)})
	}
	return out
}
