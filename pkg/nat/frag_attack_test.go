package nat

import (
	"fmt"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// fragmented returns the fragments of a UDP datagram, size payload bytes
// per fragment (a multiple of 8).
func fragmented(t testing.TB, p pk, payload, size int) [][]byte {
	p.Payload = make([]byte, payload)
	for i := range p.Payload {
		p.Payload[i] = byte(i)
	}
	return nattest.Fragments(udpPkt(t, p), size)
}

// TestAttack_FragmentPoolExhaustionFromWAN: 4,096 trains kept 30 s each
// let one WAN host fill the fragment pool with tiny first fragments to a
// port forward (they never complete); every other host's fragmented
// datagrams were then dropped. The pool is fair now: one source holds a
// bounded share, and a full pool gives way to new trains.
func TestAttack_FragmentPoolExhaustionFromWAN(t *testing.T) {
	attackers := []struct {
		name  string
		addrs int // distinct source addresses the attacker uses
	}{{"one source", 1}, {"many sources", 5000}}
	for _, at := range attackers {
		t.Run(at.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				c.MaxSessions = 1 << 16
				c.PortForwards = []PortForward{{Name: "game", Proto: 17, ExtStart: 5000, ExtEnd: 5000, Host: mustAddr(hostA), IntStart: 5000}}
			})
			attack := func(n, from int) {
				for i := 0; i < n; i++ {
					src := fmt.Sprintf("100.64.%d.%d", (i%at.addrs)/250, (i%at.addrs)%250+1)
					first := fragmented(t, pk{Src: src, Dst: extIP, SP: 666, DP: 5000, ID: uint16(from + i)}, 64, 8)[0]
					if res := r.send(Inbound, first); res.Verdict != Forward {
						t.Fatalf("attacker's first fragment %d: %v %v", i, res.Verdict, res.Reason)
					}
				}
			}
			attack(5000, 0)
			// A legitimate remote's fragmented datagrams, some with the
			// attacker still sending between their fragments.
			for d := 0; d < 20; d++ {
				frs := fragmented(t, pk{Src: srv, Dst: extIP, SP: 4000, DP: 5000, ID: uint16(100 + d)}, 1192, 400)
				for j, f := range frs {
					res := r.send(Inbound, f)
					if res.Verdict != Forward {
						t.Fatalf("datagram %d fragment %d: %v %v", d, j, res.Verdict, res.Reason)
					}
					if dd := oracle(t, res.Packet); dd.Dst() != hostA {
						t.Fatalf("datagram %d fragment %d went to %s", d, j, dd.Dst())
					}
					if j == 0 && d%2 == 1 {
						attack(500, 10000+d*500)
					}
				}
			}
			// LAN to WAN too: a LAN host's fragments pass while the pool is
			// full of the attacker's trains.
			for d := 0; d < 20; d++ {
				for j, f := range fragmented(t, pk{Src: hostB, Dst: srv, SP: 6000, DP: 53, ID: uint16(d)}, 1192, 400) {
					if res := r.send(Outbound, f); res.Verdict != Forward {
						t.Fatalf("LAN datagram %d fragment %d: %v %v", d, j, res.Verdict, res.Reason)
					}
				}
			}
			if n := r.e.frags.n; n > maxFragTrains {
				t.Fatalf("%d trains, cap %d", n, maxFragTrains)
			}
		})
	}

	// Held (out-of-order) fragments: an attacker's later fragments that
	// never get a first fragment do not keep a legitimate host's
	// out-of-order fragment out of the pool.
	r := newRig(t, nil)
	for i := 0; i < 4*maxHeldFrags; i++ {
		frs := fragmented(t, pk{Src: fmt.Sprintf("192.168.1.%d", 100+i%50), Dst: srv, SP: 7000, DP: 9, ID: uint16(i)}, 64, 8)
		r.send(Outbound, frs[1])
	}
	frs := fragmented(t, pk{Src: hostA, Dst: srv, SP: 5000, DP: 9, ID: 4242}, 1192, 400)
	if res := r.send(Outbound, frs[2]); res.Verdict != Held {
		t.Fatalf("out-of-order fragment: %v %v, want held", res.Verdict, res.Reason)
	}
	res := r.send(Outbound, frs[0])
	if res.Verdict != Forward || len(r.e.More()) != 1 {
		t.Fatalf("first fragment: %v %v, %d released, want forward with 1", res.Verdict, res.Reason, len(r.e.More()))
	}
	if res := r.send(Outbound, frs[1]); res.Verdict != Forward {
		t.Fatalf("middle fragment: %v %v", res.Verdict, res.Reason)
	}
}

// TestFragmentTrainsFreedWhenComplete: a LAN host sending 1,000
// fragmented datagrams per second for 10 s (e.g. a VPN over UDP with a
// large MTU) gets every fragment through; the old pool filled after ~4 s
// and held each train 30 s. Trains are freed when their datagram is
// complete, whatever the fragments' order.
func TestFragmentTrainsFreedWhenComplete(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {2, 0, 1}, {1, 2, 0}}
	r := newRig(t, nil)
	for d := 0; d < 10000; d++ {
		frs := fragmented(t, pk{Src: hostA, Dst: srv, SP: 51820, DP: 51820, ID: uint16(d)}, 1192, 400)
		order := orders[d%len(orders)]
		forwarded := 0
		for _, j := range order {
			res := r.send(Outbound, frs[j])
			switch res.Verdict {
			case Forward:
				forwarded += 1 + len(r.e.More())
			case Held:
			default:
				t.Fatalf("datagram %d fragment %d: %v %v", d, j, res.Verdict, res.Reason)
			}
		}
		if forwarded != 3 {
			t.Fatalf("datagram %d (order %v): %d fragments forwarded, want 3", d, order, forwarded)
		}
		if n := r.e.frags.n; n != 0 {
			t.Fatalf("datagram %d (order %v): %d trains left after it completed", d, order, n)
		}
		r.advance(time.Millisecond)
	}
}
