package fw6

import "time"

// Tick tells the engine the time (a monotonic duration from any fixed
// origin) and does the time-driven work: expiring sessions (a bounded,
// amortised slice of the table per call; a full pass every sweepPeriod)
// and the errors for held unsolicited SYNs (RFC 6092 REC-34), which it
// returns to be sent out of the WAN port, valid until the next call. The
// ICMPv6 error rate limit refills with this clock, so the data plane calls
// Tick at least once per batch.
func (e *Engine) Tick(now time.Duration) [][]byte {
	if now < e.nowD {
		now = e.nowD
	}
	elapsed := now - e.nowD
	e.nowD = now
	e.now = uint32(now / time.Second)
	e.sweepSessions(elapsed)
	e.toWAN = e.toWAN[:0]
	e.pending.expire(e)
	return e.toWAN
}

// sweepPeriod is how long one full expiry pass over the table takes.
const sweepPeriod = 2 * time.Second

func (e *Engine) sweepSessions(elapsed time.Duration) {
	hwm := uint64(e.t.hwm)
	if hwm == 0 {
		return
	}
	work := hwm*uint64(elapsed) + e.sweepCarry
	n := work / uint64(sweepPeriod)
	e.sweepCarry = work % uint64(sweepPeriod)
	if n > hwm {
		n = hwm
	}
	for ; n > 0; n-- {
		if e.sweep >= e.t.hwm {
			e.sweep = 0
		}
		i := e.sweep
		e.sweep++
		if s := e.t.s(i); s.proto != 0 && e.expired(s) {
			e.remove(i)
			e.cnt.SessionsExpired++
		}
	}
}
