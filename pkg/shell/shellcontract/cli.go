package shellcontract

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// The contract of shell.CLIRouter: the commit history, routes and the ARP
// cache.

func testCommitHistory(t *testing.T, h Harness) {
	ctx := context.Background()
	r := h.Router()
	if list, err := r.CommitHistory(); err != nil || len(list) != 0 {
		t.Fatalf("CommitHistory of a router nobody committed on: %+v, %v; want none", list, err)
	}
	when := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	first := r.Config().Clone()
	first.NAT.Hairpin = false
	second := first.Clone()
	second.System.Hostname = "second"
	entries := []config.HistoryEntry{
		{Time: when, Who: "console /dev/ttyAMA0", How: "commit", Comment: "no hairpin"},
		{Time: when.Add(time.Minute), Who: "ssh admin (key laptop) from 192.168.1.20:51234", How: "commit confirmed 5",
			Comment: "rename\x1b[2J\nnow"},
	}
	for i, c := range []*config.Config{first, second} {
		if _, err := r.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := r.RecordCommit(entries[i], c); err != nil {
			t.Fatalf("RecordCommit: %v", err)
		}
	}
	check := func(when string) {
		t.Helper()
		list, err := h.Router().CommitHistory()
		if err != nil {
			t.Fatalf("CommitHistory %s: %v", when, err)
		}
		if len(list) != 2 {
			t.Fatalf("CommitHistory %s: %d entries, want 2: %+v", when, len(list), list)
		}
		for i, want := range []struct {
			e   config.HistoryEntry
			rev int
			c   *config.Config
		}{{entries[1], 0, second}, {entries[0], 1, first}} {
			got := list[i]
			comment := strings.Map(func(r rune) rune {
				if r < ' ' {
					return ' '
				}
				return r
			}, want.e.Comment)
			if !got.Time.Equal(want.e.Time) || got.Who != want.e.Who || got.How != want.e.How || got.Comment != comment ||
				got.Revision != want.rev || got.SHA256 != config.Sum(want.c) {
				t.Errorf("CommitHistory %s, entry %d: %+v; want %+v with revision %d, the checksum of its configuration and control characters made spaces",
					when, i, got, want.e, want.rev)
			}
			if rc, err := h.Router().Rollback(got.Revision); err != nil || !same(rc, want.c) {
				t.Errorf("CommitHistory %s, entry %d: its revision %d is not its configuration (%v)", when, i, got.Revision, err)
			}
		}
	}
	check("after two commits")
	h.Restart(t)
	check("after a restart")

	// Bounded: only the newest config.HistoryKeep entries stay.
	for i := range config.HistoryKeep + 5 {
		if err := h.Router().RecordCommit(config.HistoryEntry{Time: when, Who: fmt.Sprint("w", i)}, second); err != nil {
			t.Fatal(err)
		}
	}
	list, err := h.Router().CommitHistory()
	if err != nil || len(list) != config.HistoryKeep || list[0].Who != fmt.Sprint("w", config.HistoryKeep+4) {
		t.Errorf("after %d more records: %d entries (newest by %q), %v; want the newest %d", config.HistoryKeep+5, len(list), list[0].Who, err, config.HistoryKeep)
	}
}

var defaultRoute = netip.MustParsePrefix("0.0.0.0/0")

func checkRoutes(t *testing.T, h Harness, want []shell.Route) {
	t.Helper()
	got, err := h.Router().Routes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := func(r shell.Route) string { return fmt.Sprint(r.Destination, r.Gateway, r.Interface, r.Source) }
	gk, wk := make([]string, len(got)), make([]string, len(want))
	for i, r := range got {
		gk[i] = key(r)
	}
	for i, r := range want {
		wk[i] = key(r)
	}
	slices.Sort(gk)
	slices.Sort(wk)
	if !slices.Equal(gk, wk) {
		t.Errorf("Routes:\n  %s\nwant:\n  %s", strings.Join(gk, "\n  "), strings.Join(wk, "\n  "))
	}
}

func testRoutes(t *testing.T, h Harness) {
	lan := shell.Route{Destination: LANPrefix.Masked(), Interface: "lan", Source: "connected"}
	checkRoutes(t, h, []shell.Route{lan,
		{Destination: WANPrefix.Masked(), Interface: "wan", Source: "connected"},
		{Destination: defaultRoute, Gateway: Gateway, Interface: "wan", Source: "static"},
	})
	// A new static WAN address and gateway take effect at commit.
	next := h.Router().Config().Clone()
	next.Interfaces.WAN.Address = netip.MustParsePrefix("198.51.100.9/25")
	next.Interfaces.WAN.Gateway = netip.MustParseAddr("198.51.100.126")
	if _, err := h.Router().Commit(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	checkRoutes(t, h, []shell.Route{lan,
		{Destination: netip.MustParsePrefix("198.51.100.0/25"), Interface: "wan", Source: "connected"},
		{Destination: defaultRoute, Gateway: netip.MustParseAddr("198.51.100.126"), Interface: "wan", Source: "static"},
	})
}

func testNeighbors(t *testing.T, h Harness) {
	added := []shell.Neighbor{
		{Interface: "lan", IP: addr("192.168.1.77"), MAC: net.HardwareAddr{0x02, 0, 0, 0, 0x77, 1}},
		{Interface: "lan", IP: addr("192.168.1.78"), MAC: net.HardwareAddr{0x02, 0, 0, 0, 0x78, 1}},
		{Interface: "wan", IP: addr("203.0.113.77"), MAC: net.HardwareAddr{0x02, 0, 0, 0, 0x77, 2}},
	}
	for _, n := range added {
		h.AddNeighbor(t, n.Interface, n.IP, n.MAC)
	}
	got, err := h.Router().Neighbors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range got {
		k := n.Interface + " " + n.IP.String()
		if seen[k] {
			t.Errorf("Neighbors lists %s twice: %+v", k, got)
		}
		seen[k] = true
		if n.Interface != "lan" && n.Interface != "wan" {
			t.Errorf("neighbour %v on interface %q, want lan or wan", n.IP, n.Interface)
		}
	}
	for _, w := range added {
		if !slices.ContainsFunc(got, func(n shell.Neighbor) bool {
			return n.Interface == w.Interface && n.IP == w.IP && n.MAC.String() == w.MAC.String()
		}) {
			t.Errorf("Neighbors %+v does not hold %s %v at %v", got, w.Interface, w.IP, w.MAC)
		}
	}
}
