package main

import (
	"context"
	"errors"
	"net/netip"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// The shell's commit history, routes and ARP cache (shell.CLIRouter).

var errNoStore = errors.New("no commit history: the configuration is not a passgate.conf store")

func (s shellRouter) CommitHistory() ([]config.HistoryEntry, error) {
	if s.r.store == nil {
		return nil, errNoStore
	}
	return s.r.store.History()
}

func (s shellRouter) RecordCommit(e config.HistoryEntry, c *config.Config) error {
	if s.r.store == nil {
		return errNoStore
	}
	return s.r.store.RecordCommit(e, c)
}

// Routes are the router's own: the LAN subnet, and once the WAN has an
// address its subnet and the default route via its gateway (from the
// DHCP lease or the static configuration).
func (s shellRouter) Routes(ctx context.Context) ([]shell.Route, error) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shell.Route
	if lan := r.running.Interfaces.LAN.Address; lan.IsValid() {
		out = append(out, shell.Route{Destination: lan.Masked(), Interface: "lan", Source: "connected"})
	}
	if r.wanAddr.IsValid() {
		out = append(out, shell.Route{Destination: r.wanAddr.Masked(), Interface: "wan", Source: "connected"})
		if r.wanGW.IsValid() {
			src := "dhcp"
			if r.running.Interfaces.WAN.Mode == config.WANStatic {
				src = "static"
			}
			out = append(out, shell.Route{Destination: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: r.wanGW,
				Interface: "wan", Source: src})
		}
	}
	return out, nil
}

// Neighbors is the data plane's ARP cache of both ports.
func (s shellRouter) Neighbors(ctx context.Context) ([]shell.Neighbor, error) {
	var out []shell.Neighbor
	for _, side := range []string{"lan", "wan"} {
		for ip, mac := range s.r.dp.ARPEntries(side) {
			out = append(out, shell.Neighbor{Interface: side, IP: ip, MAC: mac})
		}
	}
	return out, nil
}
