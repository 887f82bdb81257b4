package nat

import (
	"math/rand/v2"
	"testing"

	"github.com/passgate/passgate/pkg/packet"
)

// freePort (a word at a time) agrees with a port-by-port scan, at every
// density of used ports, on ranges that start and end inside words, and
// never gives out UDP port 68.
func TestFreePortMatchesLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, density := range []float64{0, 0.5, 0.99, 0.9999, 1} {
		var tb table
		for _, proto := range []uint8{packet.ProtoTCP, packet.ProtoUDP} {
			pi := protoIndex(proto)
			for p := 0; p < 65536; p++ {
				if rng.Float64() < density {
					tb.extPorts[pi][p] = 1
					tb.portBits[pi][p>>6] |= 1 << (p & 63)
				}
			}
			for range 2000 {
				from := rng.Uint32N(65536)
				to := from + rng.Uint32N(65536-from)
				got, ok := tb.freePort(proto, from, to)
				want, wok := uint16(0), false
				for p := from; p <= to; p++ {
					if tb.extPorts[pi][p] == 0 && !(proto == packet.ProtoUDP && p == 68) {
						want, wok = uint16(p), true
						break
					}
				}
				if got != want || ok != wok {
					t.Fatalf("density %v proto %d [%d,%d]: %d %v, want %d %v", density, proto, from, to, got, ok, want, wok)
				}
			}
		}
	}
}

// With all but one port of 1024-65535 taken, a new flow finds the last
// one (a word scan, not 64,512 probes).
func BenchmarkAllocPortNearlyFull(b *testing.B) {
	e := benchEngine(b, 1024)
	pi := protoIndex(packet.ProtoTCP)
	for p := 1024; p < 65536; p++ {
		if p != 40000 {
			e.t.extPorts[pi][p] = 1
			e.t.portBits[pi][p>>6] |= 1 << (p & 63)
		}
	}
	for b.Loop() {
		if p, ok := e.allocPort(packet.ProtoTCP, 50000); !ok || p != 40000 {
			b.Fatalf("allocPort: %d %v", p, ok)
		}
	}
}
