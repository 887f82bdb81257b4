package nat

import "github.com/passgate/passgate/pkg/packet"

// Port forwards are static mappings: permanent, endpoint-independent
// filtering, and the same external port for the host's own outbound traffic
// from that port (so the mapping stays endpoint-independent). Installing a
// forward takes its external port (and internal endpoint) away from any
// dynamic mapping holding it; those sessions are flushed.
//
// Several forwards may reach the same internal endpoint (two external
// ports to one service, as most routers allow). The one with the lowest
// external port is the primary: the host's own new connections from that
// endpoint leave on it. The others are aliases: a connection opened
// through an alias stays on it, so the host's replies leave on the port the
// remote used. Which forward is primary depends only on the configuration
// (RFC 4787 REQ-11: deterministic).

type fwdKey struct {
	proto   uint8
	ext     uint16
	ip      uint32
	intPort uint16
	alias   bool
}

type endpoint struct {
	proto uint8
	ip    uint32
	port  uint16
}

func (e *Engine) wantedForwards() map[fwdKey]bool {
	primary := make(map[endpoint]uint16) // lowest external port per internal endpoint
	each := func(f func(ep endpoint, ext uint16)) {
		for _, fw := range e.cfg.PortForwards {
			ip := packet.AddrTo4(fw.Host)
			for p := uint32(fw.ExtStart); p <= uint32(fw.ExtEnd); p++ {
				f(endpoint{fw.Proto, ip, fw.IntStart + uint16(p-uint32(fw.ExtStart))}, uint16(p))
			}
		}
	}
	each(func(ep endpoint, ext uint16) {
		if p, ok := primary[ep]; !ok || ext < p {
			primary[ep] = ext
		}
	})
	want := make(map[fwdKey]bool)
	each(func(ep endpoint, ext uint16) {
		want[fwdKey{ep.proto, ext, ep.ip, ep.port, primary[ep] != ext}] = true
	})
	return want
}

// installForwards makes the static mappings match the configuration and
// returns how many sessions it flushed.
func (e *Engine) installForwards() int {
	want := e.wantedForwards()
	flushed := 0
	for i := range e.t.maps {
		m := &e.t.maps[i]
		if m.proto == 0 || !m.static {
			continue
		}
		k := fwdKey{m.proto, m.extPort, m.intIP, m.intPort, m.alias}
		if want[k] {
			delete(want, k) // already installed
			continue
		}
		flushed += e.flushMapping(uint32(i))
	}
	primaries := 0
	for k := range want {
		if !k.alias {
			primaries++
		}
	}
	for i := range e.t.maps {
		if m := &e.t.maps[i]; m.proto != 0 && m.static && !m.alias {
			primaries++
		}
	}
	e.t.mapCapacity(primaries)
	// Dynamic mappings in the way go first; then every forward is added.
	// Static mappings never collide here: validate refused overlapping
	// external ports, and an endpoint has one primary.
	for k := range want {
		if mi := e.t.mappingByExt(k.proto, k.ext); mi != none {
			flushed += e.flushMapping(mi)
		}
		if !k.alias {
			if mi := e.t.lookupMapping(k.proto, k.ip, k.intPort); mi != none {
				flushed += e.flushMapping(mi)
			}
		}
	}
	for k := range want {
		e.t.addMappingAlias(k.proto, k.ip, k.intPort, k.ext, true, k.alias)
	}
	return flushed
}

// forwardBusy reports whether the internal endpoint of a port forward
// already has a session with remote rip:rport (through another forward to
// the same endpoint): the host could not tell two such connections apart,
// so the second is refused. An expired one is removed instead.
func (e *Engine) forwardBusy(proto uint8, ip uint32, port uint16, rip uint32, rport uint16) bool {
	i := e.t.lookupOut(proto, ip, port, rip, rport)
	if i == none {
		return false
	}
	if e.expired(e.t.s(i)) {
		e.remove(i)
		e.cnt.SessionsExpired++
		return false
	}
	return true
}

// flushMapping removes mapping mi and all its sessions.
func (e *Engine) flushMapping(mi uint32) int {
	n := 0
	if e.t.maps[mi].refs > 0 {
		for i := uint32(0); i < e.t.hwm; i++ {
			if s := e.t.s(i); s.proto != 0 && s.mapping == mi && s.proto == e.t.maps[mi].proto {
				e.remove(i)
				n++
				if e.t.maps[mi].proto == 0 { // released with its last session
					return n
				}
			}
		}
	}
	if e.t.maps[mi].proto != 0 {
		e.t.removeMapping(mi)
	}
	return n
}

// Reconfigure applies a new configuration at once. Changing timeouts,
// filtering, hairpinning, MSS clamping, the DMZ or port forwards keeps
// unrelated sessions; changing the LAN prefix or the table size flushes
// every session. It returns how many sessions were flushed.
func (e *Engine) Reconfigure(c Config) (int, error) {
	if err := c.validate(); err != nil {
		return 0, err
	}
	flushed := 0
	if c.LAN != e.cfg.LAN || c.MaxSessions != e.cfg.MaxSessions {
		flushed = e.Flush(nil)
		for i := range e.t.maps {
			if e.t.maps[i].proto != 0 {
				e.t.removeMapping(uint32(i))
			}
		}
		if c.MaxSessions != e.cfg.MaxSessions {
			e.t = newTable(c.MaxSessions, c.Seed^0x9e3779b97f4a7c15) // sized for the forwards by installForwards
			e.sweep = 0
		}
	}
	e.cfg = c
	flushed += e.applyAll()
	return flushed, nil
}

func (e *Engine) applyAll() int {
	e.apply(e.cfg)
	return e.lastForwardFlush
}
