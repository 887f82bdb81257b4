// Package shellcontract states what shell.Router's documentation promises
// as one table-driven test suite, so every implementation is held to the
// same behaviour: the fake in pkg/shell/shelltest (which the shell's own
// tests trust) and routerd's. Each backend supplies a Harness that makes
// things happen the shell cannot — LAN traffic, DHCP clients, the restart
// Reboot asks for — and calls Run.
package shellcontract

import (
	"net"
	"net/netip"
	"testing"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// Harness is one backend under test.
type Harness interface {
	// Router is the router as it runs now; Restart may replace it.
	Router() shell.Router
	// External is the address the router translates LAN hosts to.
	External() netip.Addr
	// AddSession has the LAN host internal send a first packet of proto
	// ("tcp": a SYN, "udp": a datagram, "icmp": an echo request whose
	// identifier is internal's port) to remote, which opens one NAT
	// session. It returns once the session exists.
	AddSession(t testing.TB, proto string, internal, remote netip.AddrPort)
	// AddLease has a LAN client with mac and hostname take an address
	// from the DHCP pool and returns it.
	AddLease(t testing.TB, mac net.HardwareAddr, hostname string) netip.Addr
	// AddNeighbor has a host with ip and mac on port ("lan" or "wan")
	// announce itself to the router (an ARP request for the router's
	// address), so the router's ARP cache holds it. It returns once it
	// does.
	AddNeighbor(t testing.TB, port string, ip netip.Addr, mac net.HardwareAddr)
	// HostKey is the SSH host key the router would present now, in any
	// stable encoding, or nil when it has none yet.
	HostKey(t testing.TB) []byte
	// Restarts counts the restarts that Reboot and FactoryReset asked for.
	Restarts() int
	// Restart restarts the router: it comes back from what it persisted
	// (configuration, leases, host key), with an empty session table. A
	// pending commit confirmed is settled as at any start
	// (config.Store.Settle).
	Restart(t testing.TB)
	// SetReadOnly makes the file system of the configuration refuse
	// writes (EROFS), as a card mounted read-only does, or accept them
	// again.
	SetReadOnly(ro bool)
}

// NewHarness starts a backend whose committed (and saved) configuration
// is cfg. The harness must clean up after itself through t.Cleanup.
type NewHarness func(t *testing.T, cfg *config.Config) Harness

// The addresses Config uses.
var (
	LANPrefix = netip.MustParsePrefix("192.168.1.1/24")
	WANPrefix = netip.MustParsePrefix("203.0.113.2/24")
	Gateway   = netip.MustParseAddr("203.0.113.1")
	PoolStart = netip.MustParseAddr("192.168.1.100")
	PoolEnd   = netip.MustParseAddr("192.168.1.199")
)

// Config is the configuration every backend starts from: the factory
// settings with a static WAN address (so sessions have an external
// address without a DHCP server on the WAN), a hostname and device names
// of its own (so a factory reset is seen to change the one and keep the
// others).
func Config() *config.Config {
	c := config.Default()
	c.System.Hostname = "contract"
	c.Interfaces.LAN.Device = "lan0"
	c.Interfaces.WAN.Device = "wan0"
	c.Interfaces.WAN.Mode = config.WANStatic
	c.Interfaces.WAN.Address = WANPrefix
	c.Interfaces.WAN.Gateway = Gateway
	return c
}

// Factory is what FactoryReset must leave committed when cfg was running:
// config.Default() with cfg's interface devices, which belong to the
// board rather than to the user.
func Factory(cfg *config.Config) *config.Config {
	d := config.Default()
	d.Interfaces.LAN.Device = cfg.Interfaces.LAN.Device
	d.Interfaces.WAN.Device = cfg.Interfaces.WAN.Device
	return d
}
