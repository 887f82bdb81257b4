package shellcontract_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shellcontract"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// TestFakeContract holds the shell's fake to the contract, so tests that
// trust the fake test the shell against what routerd does.
func TestFakeContract(t *testing.T) {
	shellcontract.Run(t, newFake)
}

// fake drives shelltest.Router: sessions and leases are records put in
// its tables, as routerd's engine and DHCP server would make them.
type fake struct {
	r     *shelltest.Router
	clock *shelltest.Clock
	fs    *shelltest.SwitchFS
}

func newFake(t *testing.T, cfg *config.Config) shellcontract.Harness {
	clock := shelltest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	dir := t.TempDir()
	fsys := shelltest.NewSwitchFS(config.DirFS(dir))
	r, err := shelltest.NewRouter(config.NewStoreFS(fsys, dir), cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	r.NAT, r.Leases, r.ARP = nil, nil, nil // a router that has seen no traffic and no client
	return &fake{r: r, clock: clock, fs: fsys}
}

func (f *fake) SetReadOnly(ro bool) { f.fs.SetReadOnly(ro) }

func (f *fake) Router() shell.Router      { return f.r }
func (f *fake) External() netip.Addr      { return shellcontract.WANPrefix.Addr() }
func (f *fake) HostKey(testing.TB) []byte { return slices.Clone(f.r.HostKey) }
func (f *fake) Restarts() int             { return f.r.Reboots }

func (f *fake) AddSession(t testing.TB, proto string, internal, remote netip.AddrPort) {
	f.r.NAT = append(f.r.NAT, shell.NATSession{Protocol: proto, Internal: internal,
		External: netip.AddrPortFrom(f.External(), internal.Port()), Remote: remote, Expires: time.Minute})
}

func (f *fake) AddLease(t testing.TB, mac net.HardwareAddr, hostname string) netip.Addr {
	pool := f.r.Config().DHCPServer.LAN
	for a := pool.RangeStart; a.Compare(pool.RangeEnd) <= 0; a = a.Next() {
		if !slices.ContainsFunc(f.r.Leases, func(l shell.Lease) bool { return l.IP == a }) {
			f.r.Leases = append(f.r.Leases, shell.Lease{IP: a, MAC: mac, Hostname: hostname, Expires: f.clock.Now().Add(pool.LeaseTime)})
			return a
		}
	}
	t.Fatal("pool exhausted")
	return netip.Addr{}
}

func (f *fake) AddNeighbor(t testing.TB, port string, ip netip.Addr, mac net.HardwareAddr) {
	f.r.ARP = append(f.r.ARP, shell.Neighbor{Interface: port, IP: ip, MAC: mac})
}

func (f *fake) Restart(t testing.TB) {
	if err := f.r.Restart(); err != nil {
		t.Fatal(err)
	}
}
