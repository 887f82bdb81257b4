package shell

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// "show nat mappings": the port forwards the NAT holds, configured and
// opened by LAN hosts (NAT-PMP, PCP).

// MappingRouter is the part of Router behind "show nat mappings". A
// Router that does not implement it has no port mapping, and the command
// says so.
type MappingRouter interface {
	NATMappings(ctx context.Context) ([]NATMapping, error)
}

// NATMapping is one line of "show nat mappings".
type NATMapping struct {
	Origin   string // "configured", "nat-pmp", "pcp"
	Name     string // the forward's name, for configured ones
	Protocol string // tcp, udp
	External string // port or range on the WAN address
	Internal netip.AddrPort
	Expires  time.Duration // 0: permanent (configured)
}

func cmdShowNATMappings(s *session, _ *call) error {
	r, ok := s.sh.r.(MappingRouter)
	if !ok {
		return fmt.Errorf("this router has no port mapping")
	}
	ms, err := r.NATMappings(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		s.wrapped("", "No port forwards: none configured (set nat port-forward ...) and none opened by LAN hosts (set service port-mapping enable lets them).")
		return nil
	}
	t := newTable(s.cols()-1, "Origin", "Name", "Proto", "External", "Internal", "Expires")
	for _, m := range ms {
		exp, name := "never", m.Name
		if m.Expires > 0 {
			exp = dur(m.Expires)
		}
		if name == "" {
			name = "-"
		}
		t.row(m.Origin, name, m.Protocol, m.External, m.Internal.String(), exp)
	}
	s.printf("%s", t)
	return nil
}
