package shell

import (
	"context"
	"net"
	"net/netip"

	"github.com/passgate/passgate/pkg/config"
)

// CLIRouter is the part of Router behind "show system commit", "commit
// comment", "show route" and "show arp". pkg/shell/shellcontract states
// it as tests too.
type CLIRouter interface {
	// CommitHistory returns the recorded commits, newest first
	// (config.Store.History): when, who, how, the comment, and the
	// revision (Rollback's n) that still holds each one's configuration.
	CommitHistory() ([]config.HistoryEntry, error)
	// RecordCommit adds the commit of c to the history
	// (config.Store.RecordCommit). The shell calls it after each Commit
	// that changed the configuration, including the automatic rollback
	// of a commit confirmed; it keeps the last config.HistoryKeep.
	RecordCommit(e config.HistoryEntry, c *config.Config) error
	// Routes lists the router's IPv4 routes: the LAN subnet and, once the
	// WAN has an address, the WAN subnet (connected) and the default
	// route via the WAN gateway.
	Routes(ctx context.Context) ([]Route, error)
	// Neighbors lists the ARP caches of both ports: the neighbours whose
	// MAC address the router knows now.
	Neighbors(ctx context.Context) ([]Neighbor, error)
}

// Route is one line of "show route".
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr // invalid for a connected subnet
	Interface   string     // "lan" or "wan"
	Source      string     // "connected", "static" (configuration) or "dhcp" (WAN lease)
}

// Neighbor is one line of "show arp".
type Neighbor struct {
	Interface string // "lan" or "wan"
	IP        netip.Addr
	MAC       net.HardwareAddr
}

// PingOptions are ping's -c and -s.
type PingOptions struct {
	Count int // echo requests (default 4)
	Size  int // data bytes of each (default 56)
}
