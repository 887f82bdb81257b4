package passthrough

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// Addresses as in the reference captures (shared/testdata/captures).
const (
	lan1    = "192.168.1.10"
	lan2    = "192.168.1.11"
	lan3    = "192.168.1.12"
	server  = "203.0.113.1"
	extIP   = "203.0.113.2"
	server2 = "198.51.100.7"
)

var lans = []string{lan1, lan2, lan3}

type pk = nattest.Pkt

type rig struct {
	t   *testing.T
	e   *nat.Engine
	p   *Passthrough
	now time.Duration
}

func newRig(t *testing.T, mod func(*nat.Config, *Config)) *rig {
	t.Helper()
	nc := nat.DefaultConfig(netip.MustParsePrefix("192.168.1.1/24"))
	nc.Seed = 1
	nc.MaxSessions = 1024
	pc := DefaultConfig()
	if mod != nil {
		mod(&nc, &pc)
	}
	e, err := nat.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e.SetExternal(netip.MustParseAddr(extIP))
	p, err := New(e, pc)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, e: e, p: p, now: time.Hour}
	e.Tick(r.now)
	return r
}

func (r *rig) advance(d time.Duration) {
	r.now += d
	r.e.Tick(r.now)
}

// must translates b and requires verdict want; it returns the oracle's view.
func (r *rig) must(dir nat.Dir, b []byte, want nat.Verdict) nattest.Decoded {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != want {
		r.t.Fatalf("verdict %v (%v), want %v", res.Verdict, res.Reason, want)
	}
	return nattest.Oracle(r.t, res.Packet)
}

func (r *rig) mustDrop(dir nat.Dir, b []byte, why nat.Reason) {
	r.t.Helper()
	res := r.e.Translate(b, dir)
	if res.Verdict != nat.Drop || res.Reason != why {
		r.t.Fatalf("verdict %v (%v), want drop (%v)", res.Verdict, res.Reason, why)
	}
}

// ip builds a raw IPv4 packet of another protocol with gopacket.
func ipPkt(t *testing.T, src, dst string, proto layers.IPProtocol, payload []byte) []byte {
	return nattest.Serialize(t, nattest.IPLayer(pk{Src: src, Dst: dst}, proto), gopacket.Payload(payload))
}

// gre builds an enhanced GRE packet (RFC 2637 §4.1) with gopacket.
func gre(t *testing.T, src, dst string, callID uint16, seq, ack *uint32, payload []byte) []byte {
	g := &layers.GRE{KeyPresent: true, Version: 1, Protocol: layers.EthernetTypePPP,
		Key: uint32(len(payload))<<16 | uint32(callID)}
	if seq != nil {
		g.SeqPresent, g.Seq = true, *seq
	}
	if ack != nil {
		g.AckPresent, g.Ack = true, *ack
	}
	return nattest.Serialize(t, nattest.IPLayer(pk{Src: src, Dst: dst}, layers.IPProtocolGRE), g, gopacket.Payload(payload))
}

// greOf decodes a translated GRE packet with gopacket.
func greOf(t *testing.T, d nattest.Decoded) *layers.GRE {
	t.Helper()
	g, _ := d.Pkt.Layer(layers.LayerTypeGRE).(*layers.GRE)
	if g == nil {
		t.Fatalf("no GRE layer")
	}
	return g
}

func u32(v uint32) *uint32 { return &v }

func be16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
func mustAddr(s string) netip.Addr  { return netip.MustParseAddr(s) }
