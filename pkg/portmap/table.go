package portmap

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Proto is an IP protocol number; mappings are of TCP or UDP.
type Proto uint8

const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Origin is the protocol that made a mapping.
type Origin uint8

const (
	OriginNATPMP Origin = iota + 1
	OriginPCP
	OriginUPnP
)

func (o Origin) String() string {
	switch o {
	case OriginNATPMP:
		return "nat-pmp"
	case OriginPCP:
		return "pcp"
	case OriginUPnP:
		return "upnp"
	}
	return fmt.Sprintf("origin(%d)", uint8(o))
}

// MaxDescription is the longest Mapping.Description in bytes.
const MaxDescription = 64

// Mapping is one port mapping: WAN traffic for External (the router's
// external address and the mapped port) goes to Internal until Expiry.
type Mapping struct {
	Proto    Proto
	External netip.AddrPort // the address is invalid while there is no external address
	Internal netip.AddrPort
	Expiry   time.Time
	// Origin is the protocol that made the mapping; a PCP renewal of
	// another protocol's mapping makes it PCP's (bound to its nonce).
	Origin Origin
	// Description is the host's name for it (UPnP's
	// NewPortMappingDescription), sanitised: printable ASCII, at most
	// MaxDescription bytes. Empty for NAT-PMP and PCP.
	Description string
}

type mapKey struct {
	proto Proto
	host  netip.Addr
	port  uint16
}

type extKey struct {
	proto Proto
	port  uint16
}

type entry struct {
	ext    uint16
	expiry time.Time
	origin Origin
	nonce  [12]byte // PCP's, when origin is OriginPCP
	desc   string
}

// table holds the mappings. It is not safe for concurrent use; Server
// locks around it.
type table struct {
	byKey   map[mapKey]*entry
	byExt   map[extKey]mapKey
	perHost map[netip.Addr]int
	rng     *rand.Rand
}

func newTable(seed uint64) *table {
	return &table{
		byKey:   map[mapKey]*entry{},
		byExt:   map[extKey]mapKey{},
		perHost: map[netip.Addr]int{},
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

func (t *table) len() int { return len(t.byKey) }

func (t *table) get(k mapKey) *entry { return t.byKey[k] }

func (t *table) extUsed(p Proto, port uint16) bool {
	_, ok := t.byExt[extKey{p, port}]
	return ok
}

func (t *table) add(k mapKey, e *entry) {
	t.byKey[k] = e
	t.byExt[extKey{k.proto, e.ext}] = k
	t.perHost[k.host]++
}

func (t *table) del(k mapKey) {
	e, ok := t.byKey[k]
	if !ok {
		return
	}
	delete(t.byKey, k)
	delete(t.byExt, extKey{k.proto, e.ext})
	if t.perHost[k.host]--; t.perHost[k.host] <= 0 {
		delete(t.perHost, k.host)
	}
}

// deleteWhere deletes the mappings keep says to drop and reports how many.
func (t *table) deleteWhere(drop func(mapKey, *entry) bool) int {
	n := 0
	for k, e := range t.byKey {
		if drop(k, e) {
			t.del(k)
			n++
		}
	}
	return n
}

// expire drops mappings whose expiry is not after now.
func (t *table) expire(now time.Time) int {
	return t.deleteWhere(func(_ mapKey, e *entry) bool { return !e.expiry.After(now) })
}

// nextExpiry is the earliest expiry, or the zero time with no mappings.
func (t *table) nextExpiry() time.Time {
	var next time.Time
	for _, e := range t.byKey {
		if next.IsZero() || e.expiry.Before(next) {
			next = e.expiry
		}
	}
	return next
}

// pickPort chooses a free external port in [lo, 65535] for p, preferring
// first, by free: random probes, then a bounded sweep from a random start.
// It returns 0 when none is free.
func (t *table) pickPort(p Proto, first uint16, lo uint16, free func(Proto, uint16) bool) uint16 {
	if first >= lo && free(p, first) {
		return first
	}
	span := 65536 - int(lo)
	for range 32 {
		port := uint16(int(lo) + t.rng.IntN(span))
		if free(p, port) {
			return port
		}
	}
	start := t.rng.IntN(span)
	for i := range span {
		port := uint16(int(lo) + (start+i)%span)
		if free(p, port) {
			return port
		}
	}
	return 0
}

// list returns the mappings sorted by protocol and external port.
func (t *table) list(ext netip.Addr) []Mapping {
	out := make([]Mapping, 0, len(t.byKey))
	for k, e := range t.byKey {
		out = append(out, Mapping{
			Proto:       k.proto,
			External:    netip.AddrPortFrom(ext, e.ext),
			Internal:    netip.AddrPortFrom(k.host, k.port),
			Expiry:      e.expiry,
			Origin:      e.origin,
			Description: e.desc,
		})
	}
	slices.SortFunc(out, func(a, b Mapping) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.External.Port(), b.External.Port()))
	})
	return out
}
