package main

import (
	"context"
	"errors"

	"github.com/passgate/passgate/pkg/shell"
)

// The troubleshooter's trace beyond the WAN gateway (pkg/traceroute).
// Its socket is routerd's own, on self0: the probes leave through the
// engine like a LAN host's (NAPT-ed, TTL untouched, as the router's own
// packets are) and the ICMP errors come back translated to self0.

var _ shell.TraceRouter = shellRouter{}

// WANTrace traces the first hops towards the trace target; the outcome
// is kept for a while (traceroute.DefaultMaxAge) and dropped when the WAN
// address changes.
func (s shellRouter) WANTrace(ctx context.Context) (shell.WANTrace, error) {
	s.r.mu.Lock()
	wan, tr := s.r.wanAddr, s.r.tracer
	s.r.mu.Unlock()
	if tr == nil {
		return shell.WANTrace{}, errors.New("this router does not trace")
	}
	if !wan.IsValid() || !wan.Addr().Is4() {
		return shell.WANTrace{}, errors.New("no IPv4 address on the WAN to trace from")
	}
	res, err := tr.Trace(ctx)
	if err != nil {
		return shell.WANTrace{}, err
	}
	out := shell.WANTrace{Target: res.Target, At: res.At}
	for _, h := range res.Hops {
		out.Hops = append(out.Hops, shell.TraceHop{Hop: h.TTL, Addr: h.Addr, Reached: h.Reached})
	}
	return out, nil
}
