package dnsfwd

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// localTTL is the TTL of the router's own answers: short, since leases
// come and go.
const localTTL = 60

// leaseRefresh is how long a copy of the DHCP leases' names is used.
const leaseRefresh = 5 * time.Second

// localNames answers the names the router is authoritative for: hosts
// under the local domain (static and from DHCP leases), single-label
// names, localhost (RFC 6761 §6.3), .local (RFC 6762 §3: multicast DNS,
// never unicast), and reverse lookups of private and LAN addresses (RFC
// 6303: they are never sent to the internet).
type localNames struct {
	leases func() []Host
	now    func() time.Time

	mu       sync.Mutex
	domain   string // canonical, with the final dot
	clients  []netip.Prefix
	static   map[string][]netip.Addr // fqdn → addresses
	dynamic  map[string][]netip.Addr
	reverse  map[netip.Addr]string // address → fqdn
	loadedAt time.Time
}

func newLocalNames(leases func() []Host, now func() time.Time) *localNames {
	return &localNames{leases: leases, now: now}
}

func (l *localNames) configure(domain string, hosts []Host, clients []netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.domain, l.clients = domain, clients
	l.static = map[string][]netip.Addr{}
	for _, h := range hosts {
		n := l.fqdn(h.Name)
		for _, a := range h.Addrs {
			l.static[n] = append(l.static[n], a.Unmap())
		}
	}
	l.loadedAt = time.Time{} // rebuild the reverse map
}

// fqdn puts a host name under the local domain.
func (l *localNames) fqdn(name string) string {
	n := dns.CanonicalName(name)
	if dns.IsSubDomain(l.domain, n) {
		return n
	}
	return dns.CanonicalName(strings.TrimSuffix(n, ".") + "." + l.domain)
}

// refreshLocked reloads the lease names when the copy is old.
func (l *localNames) refreshLocked() {
	now := l.now()
	if !l.loadedAt.IsZero() && now.Sub(l.loadedAt) < leaseRefresh && now.After(l.loadedAt) {
		return
	}
	l.loadedAt = now
	l.dynamic = map[string][]netip.Addr{}
	if l.leases != nil {
		for _, h := range l.leases() {
			label := Label(h.Name)
			if label == "" {
				continue
			}
			n := l.fqdn(label)
			if _, ok := l.static[n]; ok {
				continue // a static name wins
			}
			for _, a := range h.Addrs {
				l.dynamic[n] = append(l.dynamic[n], a.Unmap())
			}
		}
	}
	l.reverse = map[netip.Addr]string{}
	for _, m := range []map[string][]netip.Addr{l.dynamic, l.static} {
		for n, as := range m {
			for _, a := range as {
				l.reverse[a] = n
			}
		}
	}
}

// Label turns a DHCP client's host name into a DNS label: its first
// dot-separated part, lower case, letters, digits and '-' only ('_' and
// spaces become '-'), at most 63 bytes; "" when nothing usable is left.
func Label(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	var b []byte
	for i := 0; i < len(name) && len(b) < 63; i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c == '-' || c == '_' || c == ' ':
			b = append(b, '-')
		}
	}
	return strings.Trim(string(b), "-")
}

// under says whether name is zone or below it; both are lower case and
// fully qualified. It does not allocate: the cached path calls it for
// every query.
func under(name, zone string) bool {
	return name == zone || (len(name) > len(zone) && name[len(name)-len(zone)-1] == '.' && name[len(name)-len(zone):] == zone)
}

// validHostName says whether a configured host name is dot-separated
// labels of letters, digits and '-' (not at either end).
func validHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || Label(l) != strings.ToLower(l) {
			return false
		}
	}
	return true
}

// answer answers q from the local names when the router is authoritative
// for it; ok is false when the query is for the upstreams.
func (l *localNames) answer(req *dns.Msg, q dns.Question) (*dns.Msg, bool) {
	name := strings.ToLower(dns.Fqdn(q.Name)) // no copy when already so
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case under(name, "localhost."):
		return l.addrs(req, q, name, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}), true
	case under(name, "local."):
		return l.negative(req, dns.RcodeNameError), true
	case under(name, l.domain):
		if name == l.domain {
			return l.negative(req, dns.RcodeSuccess), true
		}
		l.refreshLocked()
		return l.lookup(req, q, name), true
	case dns.CountLabel(name) == 1:
		// A single label never goes to the internet: it is a LAN name.
		l.refreshLocked()
		return l.lookup(req, q, l.fqdn(name)), true
	case under(name, "in-addr.arpa.") || under(name, "ip6.arpa."):
		return l.reverseLookup(req, q, name)
	}
	return nil, false
}

func (l *localNames) lookup(req *dns.Msg, q dns.Question, fqdn string) *dns.Msg {
	as, ok := l.static[fqdn]
	if !ok {
		as, ok = l.dynamic[fqdn]
	}
	if !ok {
		return l.negative(req, dns.RcodeNameError)
	}
	return l.addrs(req, q, q.Name, as)
}

// addrs answers q with those of as that match its type (NODATA if none).
func (l *localNames) addrs(req *dns.Msg, q dns.Question, owner string, as []netip.Addr) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: localTTL}
	for _, a := range as {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			h := hdr
			h.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: h, A: net.IP(a.AsSlice())})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			h := hdr
			h.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: h, AAAA: net.IP(a.AsSlice())})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{l.soa()}
	}
	return m
}

// negative is NXDOMAIN or NODATA with the local domain's SOA (RFC 2308).
func (l *localNames) negative(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative = true
	m.Ns = []dns.RR{l.soa()}
	return m
}

func (l *localNames) soa() dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: l.domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: localTTL},
		Ns: "localhost.", Mbox: "hostmaster." + l.domain, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400,
		Minttl: localTTL}
}

// reverseLookup answers PTR queries for the local hosts, and NXDOMAIN for
// other private and LAN addresses; public ones go upstream.
func (l *localNames) reverseLookup(req *dns.Msg, q dns.Question, name string) (*dns.Msg, bool) {
	a, ok := reverseAddr(name)
	if !ok {
		// A partial reverse name (a zone cut): private zones stay here.
		if privateReverseZone(name) {
			return l.negative(req, dns.RcodeNameError), true
		}
		return nil, false
	}
	l.refreshLocked()
	if host, ok := l.reverse[a]; ok {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY {
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: localTTL}, Ptr: host}}
		} else {
			m.Ns = []dns.RR{l.soa()}
		}
		return m, true
	}
	if privateAddr(a) || allowed(l.clients, a) {
		return l.negative(req, dns.RcodeNameError), true
	}
	return nil, false
}

// reverseAddr parses a full in-addr.arpa or ip6.arpa name.
func reverseAddr(name string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(strings.ToLower(name))
	n := len(labels)
	switch {
	case n == 6 && labels[4] == "in-addr" && labels[5] == "arpa":
		var b [4]byte
		for i := 0; i < 4; i++ {
			v, ok := decByte(labels[3-i])
			if !ok {
				return netip.Addr{}, false
			}
			b[i] = v
		}
		return netip.AddrFrom4(b), true
	case n == 34 && labels[32] == "ip6" && labels[33] == "arpa":
		var b [16]byte
		for i := 0; i < 32; i++ {
			l := labels[31-i]
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			v, ok := hexNibble(l[0])
			if !ok {
				return netip.Addr{}, false
			}
			if i%2 == 0 {
				b[i/2] = v << 4
			} else {
				b[i/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func decByte(s string) (byte, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return byte(v), v <= 255
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// privateReverseZone says whether a partial reverse name lies inside the
// reverse zones of private address space (RFC 6303 §4).
func privateReverseZone(name string) bool {
	for _, z := range []string{"10.in-addr.arpa.", "168.192.in-addr.arpa.", "127.in-addr.arpa.", "254.169.in-addr.arpa.",
		"d.f.ip6.arpa.", "c.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa."} {
		if dns.IsSubDomain(z, name) {
			return true
		}
	}
	for i := 16; i < 32; i++ {
		if dns.IsSubDomain(dns.Fqdn(itoa(i)+".172.in-addr.arpa"), name) {
			return true
		}
	}
	return false
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
