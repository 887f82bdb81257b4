package passthrough

import (
	"fmt"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/nat"
)

// A full table costs no more per packet, per reset or per tick than an
// empty one: 10,000 calls to one server from 157 hosts on 625 control
// connections (as many as the limits allow per host and per connection).

type costCall struct {
	c               *ctrl
	id, pac, alias  uint16
	host            string
	greIn, greOutID []byte
}

// manyCalls sets up n calls through the engine, with distinct Call IDs
// (each one its own alias) and server Call IDs.
func manyCalls(t testing.TB, r *rig, n int) []costCall {
	var calls []costCall
	var c *ctrl
	for i := 0; i < n; i++ {
		if i%pptpMaxCallsPerCtrl == 0 {
			h := i / pptpMaxCallsPerHost
			c = openCtrl(r, fmt.Sprintf("192.168.1.%d", 2+h), uint16(40000+i%pptpMaxCallsPerHost/pptpMaxCallsPerCtrl))
		}
		id := uint16(i + 1)
		a := c.call(id, id)
		calls = append(calls, costCall{c: c, id: id, pac: id, alias: a, host: c.host,
			greIn:    gre(t.(*testing.T), server, extIP, a, u32(1), nil, make([]byte, 64)),
			greOutID: gre(t.(*testing.T), c.host, server, id, u32(1), nil, make([]byte, 64))})
	}
	return calls
}

func manyCallsRig(t *testing.T) *rig {
	return newRig(t, func(nc *nat.Config, _ *Config) { nc.MaxSessions = 4096 })
}

func TestPPTPCostWithTenThousandCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 calls")
	}
	r := manyCallsRig(t)
	calls := manyCalls(t, r, 10000)
	if n := len(r.p.pptp.byAlias); n != 10000 {
		t.Fatalf("%d calls set up", n)
	}
	// Per packet: GRE to 1,000 different calls in turn, no allocation.
	buf := make([]byte, 256)
	const rounds = 20
	start := time.Now()
	for k := 0; k < rounds; k++ {
		for i := 0; i < 10000; i += 10 {
			p := buf[:len(calls[i].greIn)]
			copy(p, calls[i].greIn)
			if res := r.e.Translate(p, nat.Inbound); res.Verdict != nat.Forward {
				t.Fatalf("GRE for call %d: %v", i, res.Reason)
			}
		}
	}
	if per := time.Since(start) / (rounds * 1000); per > 5*time.Microsecond {
		t.Errorf("inbound GRE with 10,000 calls: %v per packet", per)
	}
	if n := testing.AllocsPerRun(100, func() {
		p := buf[:len(calls[5000].greIn)]
		copy(p, calls[5000].greIn)
		r.e.Translate(p, nat.Inbound)
	}); n != 0 {
		t.Errorf("%.1f allocs per GRE packet", n)
	}
	// Per tick: nothing expires, nothing is looked at.
	now := r.p.eng.Now()
	start = time.Now()
	for k := 0; k < 1000; k++ {
		r.p.pptp.expire(r.p, now)
	}
	if per := time.Since(start) / 1000; per > 10*time.Microsecond {
		t.Errorf("expiry with 10,000 live calls: %v per tick", per)
	}
	// A reset closes one connection's calls and no others, cheaply.
	var total time.Duration
	for i := 0; i < 10000; i += 10 * pptpMaxCallsPerCtrl {
		c := calls[i].c
		pkt := tcpSeg(t, pk{Src: server, Dst: extIP, SP: 1723, DP: c.extPort, Flags: "RA", Seq: c.seqIn}, c.seqOut)
		start := time.Now()
		r.e.Translate(pkt, nat.Inbound)
		total += time.Since(start)
	}
	t.Logf("%v per reset", total/63)
	if per := total / 63; per > 200*time.Microsecond {
		t.Errorf("a reset closing 16 calls took %v", per)
	}
	if n, want := len(r.p.pptp.byAlias), 10000-63*pptpMaxCallsPerCtrl; n != want {
		t.Fatalf("%d calls left after 63 resets, want %d", n, want)
	}
	// Everything idle for longer than the GRE timeout goes in one tick.
	r.advance(r.p.cfg.GRETimeout + time.Second)
	if n := len(r.p.pptp.byAlias) + len(r.p.pptp.byPAC) + len(r.p.pptp.perHost); n != 0 || r.p.pptp.expiry.head != nil || r.p.pptp.expiry.n != 0 {
		t.Fatalf("%d entries left after the GRE timeout", n)
	}
}

// BenchmarkPPTPTenThousandCalls: per-packet GRE translation, expiry and
// closing a control connection's calls with 10,000 calls in the table.
func BenchmarkPPTPTenThousandCalls(b *testing.B) {
	r := manyCallsRig(&testing.T{})
	calls := manyCalls(&testing.T{}, r, 10000)
	buf := make([]byte, 256)
	for _, dir := range []nat.Dir{nat.Inbound, nat.Outbound} {
		name := "gre/in"
		if dir == nat.Outbound {
			name = "gre/out"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tpl := calls[i%len(calls)].greIn
				if dir == nat.Outbound {
					tpl = calls[i%len(calls)].greOutID
				}
				i += 7 // a different call every packet
				p := buf[:len(tpl)]
				copy(p, tpl)
				if r.e.Translate(p, dir).Verdict != nat.Forward {
					b.Fatal("not forwarded")
				}
			}
		})
	}
	b.Run("expire", func(b *testing.B) {
		now := r.p.eng.Now()
		b.ReportAllocs()
		for b.Loop() {
			r.p.pptp.expire(r.p, now)
		}
	})
	b.Run("close-connection", func(b *testing.B) {
		// Close one connection's 16 calls and set them up again.
		ps, p := &r.p.pptp, r.p
		c := ps.ctrls[ctrlKey{host: a4(mustAddr(calls[0].host)), hport: 40000, server: a4(mustAddr(server)), sport: 1723}]
		now := r.p.eng.Now()
		for b.Loop() {
			ps.closeCalls(p, c)
			for k := range pptpMaxCallsPerCtrl {
				call, _ := ps.newCall(p, c, calls[k].id, now)
				ps.setPAC(call, calls[k].pac)
			}
		}
	})
}
