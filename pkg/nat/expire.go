package nat

import "time"

// Tick tells the engine the time (a monotonic duration from any fixed
// origin) and does the time-driven work: expiring sessions (a bounded,
// amortised slice of the table per call; a full pass every sweepPeriod),
// fragment state, and held unsolicited SYNs. It returns ICMP errors to
// send out of the WAN side (RFC 5382 REQ-4), valid until the next call.
func (e *Engine) Tick(now time.Duration) [][]byte {
	if now < e.nowD {
		now = e.nowD
	}
	elapsed := now - e.nowD
	e.nowD = now
	e.now = uint32(now / time.Second)
	e.sweepSessions(elapsed)
	e.frags.expire(e.now)
	e.toWAN = e.toWAN[:0]
	e.pending.expire(e)
	if e.helper != nil {
		e.helper.Tick(e.now)
	}
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

func (e *Engine) expired(s *session) bool {
	return e.now-s.lastSeen > e.tmo[s.state]
}
