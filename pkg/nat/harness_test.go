package nat

import (
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat/internal/nattest"
	"github.com/passgate/passgate/pkg/packet"
)

// The packet builders and the gopacket oracle are shared with the
// passthrough's tests.
type (
	pk      = nattest.Pkt
	decoded = nattest.Decoded
)

var (
	ip4            = nattest.IP4
	serialize      = nattest.Serialize
	ipLayer        = nattest.IPLayer
	udpPkt         = nattest.UDP
	tcpPkt         = nattest.TCP
	icmpPkt        = nattest.ICMP
	icmpErrPkt     = nattest.ICMPError
	oracle         = nattest.Oracle
	embeddedOracle = nattest.EmbeddedOracle
)

// Addresses used throughout the tests (documentation ranges).
const (
	hostA  = "192.168.1.10"
	hostB  = "192.168.1.11"
	hostC  = "192.168.1.12"
	router = "192.168.1.1"
	extIP  = "203.0.113.2"
	srv    = "198.51.100.10"
	srv2   = "198.51.100.11"
)

type rig struct {
	t   testing.TB
	e   *Engine
	now time.Duration
}

func newRig(t testing.TB, mod func(*Config)) *rig {
	t.Helper()
	c := DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
	c.Seed = 42
	c.MaxSessions = 4096
	if mod != nil {
		mod(&c)
	}
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.SetExternal(netip.MustParseAddr(extIP))
	r := &rig{t: t, e: e, now: 1000 * time.Second}
	e.Tick(r.now)
	return r
}

// advance moves the virtual clock and returns what Tick emitted to the WAN.
func (r *rig) advance(d time.Duration) [][]byte {
	r.now += d
	return r.e.Tick(r.now)
}

func (r *rig) send(dir Dir, b []byte) Result {
	r.t.Helper()
	return r.e.Translate(b, dir)
}

// mustForward translates b and requires the given verdict, returning the
// oracle's view of the result.
func (r *rig) must(dir Dir, b []byte, want Verdict) decoded {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != want {
		r.t.Fatalf("verdict %v (reason %v), want %v", res.Verdict, res.Reason, want)
	}
	return oracle(r.t, res.Packet)
}

func (r *rig) mustDrop(dir Dir, b []byte, reason Reason) {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != Drop || res.Reason != reason {
		r.t.Fatalf("verdict %v reason %v, want drop %v", res.Verdict, res.Reason, reason)
	}
}

func (r *rig) sessions() []SessionInfo {
	var out []SessionInfo
	r.e.Sessions(func(s SessionInfo) bool { out = append(out, s); return true })
	return out
}

var _ = packet.ProtoTCP
