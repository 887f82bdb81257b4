//go:build linux

package ndp6

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/netnstest"
	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/link"
)

// runNode drives n on link l until the test ends, as routerd's port loop
// will: frames in to Handle, timers on every wake, frames out.
func runNode(t *testing.T, l link.Link, n *Node) (do func(func(now time.Duration) [][]byte)) {
	var mu sync.Mutex
	var pend [][]byte
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		frames := make([]link.Frame, 64)
		var out [][]byte
		for {
			c, err := l.ReadBatch(frames)
			if err != nil {
				return
			}
			mu.Lock()
			now := time.Since(start)
			out = append(out[:0], pend...)
			pend = pend[:0]
			for _, f := range frames[:c] {
				if len(f.Data) > EthHeaderLen && IsMLDQuery(f.Data[EthHeaderLen:]) {
					out = n.HandleMLD(out, f.Data, now)
				} else {
					out = n.Handle(out, f.Data, now)
				}
			}
			out, _ = n.Tick(out, nil, now)
			mu.Unlock()
			if len(out) > 0 {
				l.WriteBatch(link.Plain(out...))
			}
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return func(fn func(now time.Duration) [][]byte) {
		mu.Lock()
		defer mu.Unlock()
		pend = append(pend, fn(time.Since(start))...)
	}
}

// TestE2E_DADAgainstLinuxHost runs Duplicate Address Detection both ways
// against a Linux host on a veth link: the router's probe for an address
// the host holds gets the kernel's advertisement and the address becomes
// Duplicate (naming the host's MAC); a free address is assigned; and when
// the host then tries to take the router's address, ndp6's defence makes
// the kernel's own DAD fail ("dadfailed"). A real ndisc6 finds the router's
// address at the router's MAC.
func TestE2E_DADAgainstLinuxHost(t *testing.T) {
	p := netnstest.NewPair(t, "nd", map[string]string{"accept_dad": "1", "accept_ra": "0"}, sysdeps.Ndisc6)
	taken := netip.MustParseAddr("2001:db8:1:2::a")
	mine := netip.MustParseAddr("2001:db8:1:2::1")
	netnstest.IP(t, "-n", p.HostNS, "addr", "add", taken.String()+"/64", "dev", p.HostIf, "nodad")
	l := p.OpenRouterLink(t)
	n, err := New(Config{MAC: [6]byte(l.MAC()), Router: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	do := runNode(t, l, n)
	hostMAC := p.HostMAC(t)
	do(func(now time.Duration) [][]byte {
		for _, a := range []netip.Addr{netip.MustParseAddr("fe80::1"), taken, mine} {
			if err := n.AddAddress(a, now); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	state := func(a netip.Addr) (s Address) {
		do(func(time.Duration) [][]byte {
			for _, x := range n.Addresses(nil) {
				if x.Addr == a {
					s = x
				}
			}
			return nil
		})
		return s
	}
	ok, why := netnstest.Wait(5*time.Second, func() (bool, string) {
		d, m := state(taken), state(mine)
		return d.State == Duplicate && m.State == Assigned, fmt.Sprintf("%+v %+v", d, m)
	})
	if !ok {
		t.Fatalf("DAD against the host: %s", why)
	}
	if d := state(taken); d.ConflictMAC != hostMAC {
		t.Errorf("conflict names %x, want the host's %x", d.ConflictMAC, hostMAC)
	}

	// The host now tries to take the router's address.
	netnstest.IP(t, "-n", p.HostNS, "addr", "add", mine.String()+"/64", "dev", p.HostIf)
	ok, why = netnstest.Wait(5*time.Second, func() (bool, string) {
		out, _ := p.Host("ip", "-6", "addr", "show", "dev", p.HostIf)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, mine.String()+"/64") && strings.Contains(line, "dadfailed") {
				return true, out
			}
		}
		return false, out
	})
	if !ok {
		t.Fatalf("the kernel's DAD did not fail on the router's address:\n%s", why)
	}
	if s := state(mine); s.State != Assigned {
		t.Errorf("the router gave up its address: %+v", s)
	}
	netnstest.IP(t, "-n", p.HostNS, "addr", "del", mine.String()+"/64", "dev", p.HostIf)

	m := l.MAC()
	macStr := fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
	out, err := p.Host("ndisc6", "-n", "-1", "-r", "3", "-w", "1000", mine.String(), p.HostIf)
	if err != nil || !strings.Contains(strings.ToLower(out), "target link-layer address: "+macStr) {
		t.Errorf("ndisc6 %v: %v\n%s", mine, err, out)
	}
	var c Counters
	do(func(time.Duration) [][]byte { c = n.Counters(); return nil })
	if c.DADConflicts != 1 || c.AdvertsSent == 0 {
		t.Errorf("counters %+v", c)
	}
}

// TestE2E_MLDSnoopingBridge puts the node behind a Linux bridge that
// snoops MLD and is the link's querier, as an ISP's access switch may be:
// the bridge learns the node's solicited-node group from its reports, so
// it forwards neighbour solicitations for the node's addresses. (Answers
// to queries are tested with gopacket-built queries in mld_test.go: the
// bridge's querier did not send one within 20 s here.)
func TestE2E_MLDSnoopingBridge(t *testing.T) {
	p := netnstest.NewPair(t, "mld", map[string]string{"accept_ra": "0"})
	netnstest.IP(t, "-n", p.HostNS, "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1")
	netnstest.IP(t, "-n", p.HostNS, "link", "set", p.HostIf, "master", "br0")
	netnstest.IP(t, "-n", p.HostNS, "link", "set", "br0", "up")
	l := p.OpenRouterLink(t)
	n, err := New(Config{MAC: [6]byte(l.MAC()), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	do := runNode(t, l, n)
	mine := netip.MustParseAddr("2600:1:2:3::1234")
	do(func(now time.Duration) [][]byte {
		for _, a := range []netip.Addr{netip.MustParseAddr("fe80::1234"), mine} {
			if err := n.AddAddress(a, now); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	ok, why := netnstest.Wait(10*time.Second, func() (bool, string) {
		out, _ := p.Host("bridge", "mdb", "show", "dev", "br0")
		return strings.Contains(out, "port "+p.HostIf+" grp ff02::1:ff00:1234"), out
	})
	if !ok {
		t.Fatalf("the snooping bridge did not learn the solicited-node group ff02::1:ff00:1234:\n%s", why)
	}
}
