package passthrough

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

// espUp brings up host's tunnel to srv while no other SA toward srv is
// learning: an outbound packet, the server's reply (learnt), a round trip
// (the binding is confirmed), then a second passes.
func (r *rig) espUp(host, srv string, out, in uint32) {
	r.t.Helper()
	r.espOut(host, srv, out, 1)
	r.espIn(srv, in, 1, host)
	r.espOut(host, srv, out, 2)
	r.espIn(srv, in, 2, host)
	r.advance(time.Second)
}

// espWatch sends ESP and checks that no inbound SPI of a client's SA ever
// reaches another host.
type espWatch struct {
	r         *rig
	owner     map[uint32]string // server SPI → the client whose SA it is
	got       map[string]int    // client → its own inbound packets delivered
	reached   map[string]bool   // client → one of its packets reached the server
	forwarded int
}

func (w *espWatch) out(host string, spi uint32) bool {
	res := w.r.e.Translate(esp(w.r.t, host, server, spi, 1), nat.Outbound)
	if res.Verdict == nat.Forward {
		w.reached[host] = true
	}
	return res.Verdict == nat.Forward
}

func (w *espWatch) in(spi uint32) {
	t := w.r.t
	t.Helper()
	res := w.r.e.Translate(esp(t, server, extIP, spi, 1), nat.Inbound)
	if res.Verdict != nat.Forward {
		return
	}
	w.forwarded++
	dst := nattest.Oracle(t, res.Packet).Dst()
	if o, ok := w.owner[spi]; ok {
		if dst != o {
			t.Fatalf("server SPI %#x of %s's SA delivered to %s", spi, o, dst)
		}
		w.got[o]++
	}
}

func TestAttack_ESPForgedInboundBinding(t *testing.T) {
	const a1, a2, b1, b2 = 0x1001, 0x1002, 0xb0001, 0xb0002
	for _, forged := range []int{1, 3, 10} { // forged SPIs, sent before the real reply
		t.Run(fmt.Sprintf("%d forged", forged), func(t *testing.T) {
			r := newRig(t, nil)
			w := &espWatch{r: r, owner: map[uint32]string{b1: lan1, b2: lan2}, got: map[string]int{}, reached: map[string]bool{}}
			// Clients 1 and 2 start their tunnels to one server.
			w.out(lan1, a1)
			w.out(lan2, a2)
			// The attacker, spoofing the server's address, gets in first.
			for i := 0; i < forged; i++ {
				w.in(0xdead0000 + uint32(i))
			}
			// Both clients keep sending; the server answers each client
			// whose packets reached it — for 40 seconds, attacker
			// re-forging now and then.
			for sec := 0; sec < 40; sec++ {
				for k := 0; k < 3; k++ {
					w.out(lan2, a2)
					if w.reached[lan1] {
						w.in(b1)
					}
					w.out(lan1, a1)
					if w.reached[lan2] {
						w.in(b2)
					}
					if sec%7 == 3 && k == 1 {
						w.in(0xdeadbeef)
					}
				}
				r.advance(time.Second)
			}
			// At worst one tunnel was delayed: both work now.
			before := w.got[lan1] + w.got[lan2]
			w.in(b1)
			w.in(b2)
			if w.got[lan1]+w.got[lan2] != before+2 {
				t.Fatalf("tunnels not healed: lan1 got %d, lan2 got %d", w.got[lan1], w.got[lan2])
			}
			t.Logf("lan1 got %d, lan2 got %d of their packets; limits %+v", w.got[lan1], w.got[lan2], r.p.ESPLimits())
		})
	}
}

// Single-client mode: a WAN packet never creates a record.
func TestAttack_ESPSingleClientWANRecords(t *testing.T) {
	r := newRig(t, func(_ *nat.Config, c *Config) { c.ESPMode = SingleClient })
	r.espOut(lan1, server, 1, 1)
	for i := uint32(0); i < 5000; i++ {
		r.espIn(server, 0x10000+i, 1, lan1) // still its one host's
		r.mustDrop(nat.Inbound, esp(t, server2, extIP, 0x10000+i, 1), nat.ReasonNoMapping)
	}
	if n := len(r.p.Sessions()); n != 1 {
		t.Fatalf("%d ESP records after 10,000 unknown inbound SPIs, want lan1's 1", n)
	}
	if n := len(r.p.esp.in); n > espMaxIn {
		t.Fatalf("%d inbound SPIs recorded", n)
	}
}

func lanHost(i int) string { return fmt.Sprintf("192.168.1.%d", 20+i) }
func wanHost(i int) string { return fmt.Sprintf("100.%d.%d.%d", 64+i>>16&63, i>>8&255, i&255) }

// One LAN host opens SAs to thousands of servers; then many hosts do.
func TestAttack_ESPUnboundFlood(t *testing.T) {
	r := newRig(t, nil)
	for i := 0; i < 5000; i++ {
		r.e.Translate(esp(t, lan1, wanHost(i), uint32(i+1), 1), nat.Outbound)
	}
	if n := len(r.p.esp.out); n != espMaxPerHost {
		t.Fatalf("one host holds %d ESP SAs, want the cap %d", n, espMaxPerHost)
	}
	for h := 0; h < 200; h++ {
		for i := 0; i < 64; i++ {
			r.e.Translate(esp(t, lanHost(h), wanHost(h*64+i), uint32(i+1), 1), nat.Outbound)
		}
	}
	if n := len(r.p.esp.out); n != espMaxTotal {
		t.Fatalf("%d ESP SAs, want the cap %d", n, espMaxTotal)
	}
	lim := r.p.ESPLimits()
	if lim.ESPHostLimit == 0 || lim.ESPTableFull == 0 {
		t.Fatalf("limits not counted: %+v", lim)
	}
	// A host with its own tunnel to a server is not hurt: bound SAs live.
	r2 := newRig(t, nil)
	r2.espUp(lan2, server, 7, 8)
	for i := 0; i < espMaxTotal+100; i++ {
		r2.e.Translate(esp(t, lanHost(i%150), wanHost(i), 1, 1), nat.Outbound)
	}
	r2.espOut(lan2, server, 7, 3)
	r2.espIn(server, 8, 3, lan2)
	// Expiry is bounded per Tick and clears them all.
	start := time.Now()
	r.advance(ESPUnboundTimeout + 2*time.Second)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Tick took %v", d)
	}
	if n := len(r.p.esp.out); n != 0 {
		t.Fatalf("%d unbound SAs left after the unbound wait", n)
	}
	if len(r.p.esp.hosts) != 0 || len(r.p.esp.servers) != 0 || r.p.esp.unbound.n != 0 {
		t.Fatal("indexes not emptied")
	}
}

func TestAttack_IKESharedPortFlood(t *testing.T) {
	r := newRig(t, func(_ *nat.Config, c *Config) { c.IKESharePort = true })
	ikeOut := func(host string, spi uint64) nat.Result {
		return r.e.Translate(nattest.UDP(t, pk{Src: host, Dst: server, SP: 500, DP: 500, Payload: ike(spi, 34, false, 20)}), nat.Outbound)
	}
	for i := 0; i < 5000; i++ {
		ikeOut(lan1, uint64(i+1))
	}
	if n := len(r.p.ike.sas); n != ikeMaxPerHost {
		t.Fatalf("one host holds %d shared IKE SAs, want the cap %d", n, ikeMaxPerHost)
	}
	for h := 0; h < 200; h++ {
		for i := 0; i < 64; i++ {
			ikeOut(lanHost(h), uint64(h)<<32|uint64(i+1))
		}
	}
	if n := len(r.p.ike.sas); n != ikeMaxTotal {
		t.Fatalf("%d shared IKE SAs, want the cap %d", n, ikeMaxTotal)
	}
	if lim := r.p.ESPLimits(); lim.IKEHostLimit == 0 || lim.IKETableFull == 0 {
		t.Fatalf("limits not counted: %+v", lim)
	}
	// Unanswered ones go after the unbound wait; Clear keeps the indexes right.
	r.advance(ESPUnboundTimeout + 2*time.Second)
	if n := len(r.p.ike.sas); n != 0 || len(r.p.ike.hosts) != 0 {
		t.Fatalf("%d shared IKE SAs left", n)
	}
	ikeOut(lan2, 77)
	r.p.Clear(func(string, netip.Addr) bool { return true })
	if len(r.p.ike.hosts) != 0 || r.p.ike.unanswered.n != 0 {
		t.Fatal("Clear left index entries")
	}
	if res := ikeOut(lan2, 77); res.Verdict != nat.Forward {
		t.Fatalf("after Clear: %v", res.Reason)
	}
}

// BenchmarkESPUnboundFlood: 10,000 new SAs are attempted from 200 hosts
// to 10,000 servers (4,096 held, the cap) or to one server (1 held: the
// others wait for the learning lock), then the cost of a packet of an
// established tunnel, of a refused new SA, of an unknown inbound SPI, and
// of a Tick that expires the lot.
func BenchmarkESPUnboundFlood(b *testing.B) {
	t := &testing.T{}
	oneServer := false
	setup := func() *rig {
		r := newRig(t, nil)
		r.espUp(lan1, server, 1, 2)
		for i := 0; i < 10000; i++ {
			dst := wanHost(i)
			if oneServer {
				dst = server2
			}
			r.e.Translate(esp(t, lanHost(i%200), dst, uint32(i+1), 1), nat.Outbound)
		}
		return r
	}
	r := setup()
	for _, c := range []struct {
		name string
		dir  nat.Dir
		pkt  []byte
	}{
		{"established/out", nat.Outbound, esp(t, lan1, server, 1, 9)},
		{"established/in", nat.Inbound, esp(t, server, extIP, 2, 9)},
		{"refused-new-sa", nat.Outbound, esp(t, lanHost(3), wanHost(20000), 5, 1)},
		{"unknown-in", nat.Inbound, esp(t, wanHost(5), extIP, 5, 1)},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, len(c.pkt))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, c.pkt)
				r.e.Translate(buf, c.dir)
			}
		})
	}
	// A Tick that expires them all: measured on fresh tables, so reported
	// as ns/tick (the setup is not timed).
	expiring := func(b *testing.B, one bool) {
		oneServer = one
		defer func() { oneServer = false }()
		var total time.Duration
		const rounds = 5
		for range rounds {
			r := setup()
			r.now += ESPUnboundTimeout + 2*time.Second
			start := time.Now()
			r.e.Tick(r.now)
			total += time.Since(start)
		}
		for b.Loop() {
		}
		b.ReportMetric(float64(total.Nanoseconds())/rounds, "ns/tick")
	}
	b.Run("tick-expiring-4096", func(b *testing.B) { expiring(b, false) })
	b.Run("tick-expiring-one-server", func(b *testing.B) { expiring(b, true) })
	b.Run("tick-idle-4096", func(b *testing.B) {
		r := setup()
		for b.Loop() {
			r.e.Tick(r.now) // nothing due: the cost of looking
		}
		if len(r.p.esp.out) == 0 {
			b.Fatal("expired")
		}
	})
}

// The invariant fuzzer's find: forged SPIs fill the learner around the
// server's real reply, the learner's lock runs out without a round trip,
// and later the server's reply to the first client (repeated as that
// client sends again) must not bind to the next learner.
func TestAttack_ESPForgedFillThenNextLearner(t *testing.T) {
	const a1, a3, b1, b3 = 0x1001, 0x1003, 0xb0001, 0xb0003
	for _, forged := range []int{1, 4, 8} {
		t.Run(fmt.Sprintf("%d forged", forged), func(t *testing.T) {
			r := newRig(t, nil)
			w := &espWatch{r: r, owner: map[uint32]string{b1: lan1, b3: lan3}, got: map[string]int{}, reached: map[string]bool{}}
			w.out(lan3, a3)
			for i := 0; i < forged; i++ {
				w.in(0xdead0000 + uint32(i))
			}
			w.in(b3) // the server's real reply, after the forgeries
			for i := 0; i < forged; i++ {
				w.in(0xbeef0000 + uint32(i)) // and more of them
			}
			r.advance(13 * time.Second)
			r.advance(28 * time.Second)
			// Both clients send; the server answers each one it heard.
			for sec := 0; sec < 40; sec++ {
				w.reached = map[string]bool{}
				w.out(lan1, a1)
				w.out(lan3, a3)
				if w.reached[lan3] {
					w.in(b3)
				}
				if w.reached[lan1] {
					w.in(b1)
				}
				r.advance(time.Second)
			}
			before := w.got[lan1] + w.got[lan3]
			w.in(b1)
			w.in(b3)
			if w.got[lan1]+w.got[lan3] != before+2 {
				t.Fatalf("tunnels not healed: lan1 got %d, lan3 got %d", w.got[lan1], w.got[lan3])
			}
			t.Logf("lan1 got %d, lan3 got %d; limits %+v", w.got[lan1], w.got[lan3], r.p.ESPLimits())
		})
	}
}

// A confirmed SA whose host keeps sending while nothing comes back (its
// binding was forged, or the server moved to an SPI we do not know) sends
// only holding the server's lock while another SA learns, so the server's
// answer on that unknown SPI cannot bind to the learner; once the learner
// is confirmed it learns again and its real SPI binds to it.
func TestAttack_ESPSilentSAWaitsForTheLock(t *testing.T) {
	const a1, a2, b1, b2, forged = 0x1001, 0x1002, 0xb0001, 0xb0002, 0xdead
	r := newRig(t, nil)
	w := &espWatch{r: r, owner: map[uint32]string{b1: lan1, b2: lan2}, got: map[string]int{}, reached: map[string]bool{}}
	// lan1's SA is confirmed on a forged SPI: a forged "round trip"
	// while the server is slow, then a quiet second.
	w.out(lan1, a1)
	w.in(forged)
	w.out(lan1, a1)
	w.in(forged)
	r.advance(time.Second)
	// lan1 keeps sending; nothing comes back on its SPIs (the server's
	// answers on b1 are not sent yet). Midway lan2 starts a tunnel and
	// takes the server's lock; its server is slow to answer too.
	for i := 0; i < 10; i++ {
		w.out(lan1, a1)
		r.advance(time.Second / 2)
	}
	if !w.out(lan2, a2) {
		t.Fatal("lan2's first packet was refused")
	}
	sent := 0
	for i := 0; i < 14; i++ {
		if w.out(lan1, a1) {
			sent++
		}
		r.advance(time.Second / 2)
	}
	// Once silent for espRelearn, lan1 is held back while lan2 learns.
	if w.out(lan1, a1) || sent == 14 {
		t.Fatalf("a silent SA kept sending while another SA toward its server was learning (%d of 14 sent)", sent)
	}
	w.out(lan2, a2)
	w.in(b2)
	w.out(lan2, a2)
	w.in(b2)
	r.advance(time.Second) // lan2 confirmed
	// lan1 learns again: the server's answer on b1 is lan1's.
	if !w.out(lan1, a1) {
		t.Fatal("lan1 still held back after lan2 was confirmed")
	}
	w.in(b1)
	w.out(lan1, a1)
	w.in(b1)
	if w.got[lan1] != 2 || w.got[lan2] != 2 {
		t.Fatalf("lan1 got %d, lan2 got %d of their packets; want 2 each", w.got[lan1], w.got[lan2])
	}
	if lim := r.p.ESPLimits(); lim.ESPRelearned == 0 || lim.ESPSerialised == 0 {
		t.Fatalf("limits %+v", lim)
	}
}
