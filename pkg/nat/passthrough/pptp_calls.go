package passthrough

import (
	"slices"

	"github.com/passgate/passgate/pkg/nat"
)

// The PPTP call table. Calls are created by control messages from LAN
// hosts, so the table has limits, and a request that would exceed one is
// held back rather than sent with a Call ID that is not ours to give.
//
//   - pptpMaxCallsPerCtrl: real clients (Windows, pptp-linux, macOS, the
//     Linux and FreeBSD NAT helpers' own model) place one call per control
//     connection. RFC 2637 allows more; 16 leaves room for a multi-call PNS
//     while keeping one connection to 1/16 of an alias range (an alias keeps
//     the client's high byte, so each server has 256 aliases per high byte)
//     and its call lookups and teardown to 16 entries.
//   - pptpMaxCallsPerHost: 64, i.e. four full connections (several VPN
//     clients or VMs on one machine). One host can then hold at most a
//     quarter of an alias range, so no single host can exhaust the range
//     another host's Call ID falls in.
//   - pptpMaxCalls: 16384 calls in all (64 per host for 256 hosts), a few
//     MB at most, bounding memory and the cost of `clear` and listings.
const (
	pptpMaxCallsPerCtrl = 16
	pptpMaxCallsPerHost = 64
	pptpMaxCalls        = 16384
)

// PPTPLimitCounters count what the PPTP ALG refused or ignored so that
// neither a LAN host nor a forged WAN packet can disturb others' calls.
type PPTPLimitCounters struct {
	RefusedPerConnection uint64 // call requests held back: the control connection has pptpMaxCallsPerCtrl calls
	RefusedPerHost       uint64 // ... the LAN host has pptpMaxCallsPerHost calls
	RefusedTotal         uint64 // ... the table holds pptpMaxCalls calls
	IgnoredRST           uint64 // resets outside the tracked window: passed on, calls kept
	IgnoredSYN           uint64 // SYNs on a live control connection: passed on, state kept
	Unsynced             uint64 // client data on a control connection whose SYN was not seen: dropped
}

// PPTPLimitCounters returns the PPTP limit counters (the per-protocol
// counters are in Counters).
func (p *Passthrough) PPTPLimitCounters() PPTPLimitCounters { return p.pptp.lim }

type pptpCall struct {
	ctrl              *pptpCtrl
	host, server      uint32
	orig, alias, pac  uint16
	pacKnown          bool
	created, lastSeen uint32
	links             lruLinks[pptpCall] // the expiry list, oldest lastSeen first
	traffic
}

// byOrig finds the connection's call with client Call ID id (at most
// pptpMaxCallsPerCtrl to look at).
func (c *pptpCtrl) byOrig(id uint16) *pptpCall {
	for _, call := range c.calls {
		if call.orig == id {
			return call
		}
	}
	return nil
}

// byPAC finds the connection's call with server Call ID id.
func (c *pptpCtrl) byPAC(id uint16) *pptpCall {
	for _, call := range c.calls {
		if call.pacKnown && call.pac == id {
			return call
		}
	}
	return nil
}

// byAlias finds the connection's call with alias id.
func (ps *pptpState) byAliasOf(c *pptpCtrl, id uint16) *pptpCall {
	if call := ps.byAlias[aliasKey{c.key.server, id}]; call != nil && call.ctrl == c {
		return call
	}
	return nil
}

// freeAlias returns an ID no call to server uses as its alias: id itself
// if it is free, else another one with the same high byte; never 0. It
// probes at most 256 IDs.
func (ps *pptpState) freeAlias(server uint32, id uint16) (uint16, bool) {
	if _, taken := ps.byAlias[aliasKey{server, id}]; !taken && id != 0 {
		return id, true
	}
	ps.rnd = ps.rnd*1664525 + 1013904223
	start := ps.rnd >> 24
	for k := uint32(0); k < 256; k++ {
		alias := id&0xff00 | uint16((start+k)&0xff)
		if _, taken := ps.byAlias[aliasKey{server, alias}]; !taken && alias != 0 {
			return alias, true
		}
	}
	return 0, false
}

// newCall allocates an alias for the client's call ID orig: orig itself if
// no other call to this server uses it, else another ID with the same high
// byte. With no alias free, or a limit reached, it creates nothing and
// says why.
func (ps *pptpState) newCall(p *Passthrough, c *pptpCtrl, orig uint16, now uint32) (*pptpCall, nat.Reason) {
	switch {
	case len(c.calls) >= pptpMaxCallsPerCtrl:
		ps.lim.RefusedPerConnection++
		return nil, nat.ReasonHostLimit
	case ps.perHost[c.key.host] >= pptpMaxCallsPerHost:
		ps.lim.RefusedPerHost++
		return nil, nat.ReasonHostLimit
	case len(ps.byAlias) >= pptpMaxCalls:
		ps.lim.RefusedTotal++
		return nil, nat.ReasonTableFull
	}
	server := c.key.server
	alias, ok := ps.freeAlias(server, orig)
	if !ok {
		p.cnt.PPTPAliasExhausted++
		return nil, nat.ReasonPortsExhausted
	}
	call := &pptpCall{ctrl: c, host: c.key.host, server: server, orig: orig, alias: alias, created: now, lastSeen: now}
	ps.byAlias[aliasKey{server, alias}] = call
	c.calls = append(c.calls, call)
	ps.perHost[call.host]++
	ps.expiry.pushBack(call)
	p.cnt.PPTP.Created++
	return call, nat.ReasonNone
}

func (ps *pptpState) setPAC(call *pptpCall, pac uint16) {
	if call.pacKnown {
		if ps.byPAC[pacKey{call.host, call.server, call.pac}] == call {
			delete(ps.byPAC, pacKey{call.host, call.server, call.pac})
		}
		unref(ps.pacOwners, aliasKey{call.server, call.pac}, call)
	}
	call.pac, call.pacKnown = pac, true
	ps.byPAC[pacKey{call.host, call.server, pac}] = call
	ref(ps.pacOwners, aliasKey{call.server, pac}, call)
}

// errorOwner: the host of the one call to server with server Call ID pac.
func (ps *pptpState) errorOwner(server uint32, pac uint16) (uint32, bool) {
	if r := ps.pacOwners[aliasKey{server, pac}]; r.n == 1 && r.only != nil {
		return r.only.host, true
	}
	return 0, false
}

// removeCall forgets a call: O(calls of its control connection).
func (ps *pptpState) removeCall(p *Passthrough, call *pptpCall) {
	if ps.lastOut == call {
		ps.lastOut = nil
	}
	if ps.lastIn == call {
		ps.lastIn = nil
	}
	ps.expiry.unlink(call) // first: expire's loop must always make progress
	if ps.byAlias[aliasKey{call.server, call.alias}] != call {
		return // already removed
	}
	delete(ps.byAlias, aliasKey{call.server, call.alias})
	if call.pacKnown {
		if ps.byPAC[pacKey{call.host, call.server, call.pac}] == call {
			delete(ps.byPAC, pacKey{call.host, call.server, call.pac})
		}
		unref(ps.pacOwners, aliasKey{call.server, call.pac}, call)
	}
	if n := ps.perHost[call.host] - 1; n > 0 {
		ps.perHost[call.host] = n
	} else {
		delete(ps.perHost, call.host)
	}
	c := call.ctrl
	for i := len(c.calls) - 1; i >= 0; i-- {
		if c.calls[i] == call {
			c.calls = slices.Delete(c.calls, i, i+1)
			break
		}
	}
	for _, s := range []*stream{&c.out, &c.in} {
		if s.call == call {
			s.call = nil
		}
	}
}

// closeCalls removes the calls of one control connection.
func (ps *pptpState) closeCalls(p *Passthrough, c *pptpCtrl) int {
	n := len(c.calls)
	for len(c.calls) > 0 {
		ps.removeCall(p, c.calls[len(c.calls)-1])
	}
	return n
}

// forget removes a control connection whose calls are closed.
func (ps *pptpState) forget(k ctrlKey) {
	delete(ps.ctrls, k)
	if n := ps.perServer[k.server] - 1; n > 0 {
		ps.perServer[k.server] = n
	} else {
		delete(ps.perServer, k.server)
	}
}

func (ps *pptpState) flushAll(p *Passthrough) int {
	n := 0
	for k, c := range ps.ctrls {
		n += ps.closeCalls(p, c)
		ps.forget(k)
	}
	return n
}

// The expiry list holds every call, least recently seen first: a call
// moves to the end when its lastSeen changes, at most once a second, so
// expiry looks only at the calls that expire (and one more).

// seen records GRE traffic of a call at time now (callers check that
// lastSeen changes, so the hot path is one comparison).
func (ps *pptpState) seen(call *pptpCall, now uint32) {
	call.lastSeen = now
	ps.expiry.touch(call)
}

func (ps *pptpState) expire(p *Passthrough, now uint32) {
	tmo := seconds(p.cfg.GRETimeout)
	for call := ps.expiry.head; call != nil && now-call.lastSeen > tmo; call = ps.expiry.head {
		ps.removeCall(p, call)
		p.cnt.PPTP.Expired++
	}
}
