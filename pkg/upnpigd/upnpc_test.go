package upnpigd

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/portmap"
)

// TestUpnpc drives the device with miniupnpc's upnpc, a real UPnP IGD
// client, over HTTP on 127.0.0.1 (-u: the root description's URL, no
// discovery): add, list, the mapping's entry, delete, and a mapping for
// another address refused with 606.
func TestUpnpc(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Upnpc); err != nil {
		t.Fatal(err)
	}
	pm, err := portmap.New(portmap.Config{LAN: netip.MustParsePrefix("127.0.0.0/8"), Reserved: reserved}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pm.SetExternal(extAddr, time.Now())
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{LAN: netip.MustParsePrefix("127.0.0.0/8"), HTTP: netip.MustParseAddrPort(ln.Addr().String()), UUID: testID, Mapper: pm, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	upnpc := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "upnpc", append([]string{"-u", d.Location()}, args...)...).CombinedOutput()
		t.Logf("upnpc %s:\n%s", strings.Join(args, " "), out)
		if ctx.Err() != nil {
			t.Fatalf("upnpc %v: %v", args, ctx.Err())
		}
		_ = err // upnpc's exit status is not meaningful for every command
		return string(out)
	}

	out := upnpc("-e", "passgate test", "-a", "127.0.0.1", "8080", "18080", "TCP", "3600")
	if !strings.Contains(out, "external 203.0.113.2:18080 TCP is redirected to internal 127.0.0.1:8080") {
		t.Fatalf("upnpc -a did not map 18080")
	}
	ms := pm.Mappings()
	if len(ms) != 1 || ms[0].External.Port() != 18080 || ms[0].Internal != netip.MustParseAddrPort("127.0.0.1:8080") || ms[0].Origin != portmap.OriginUPnP || ms[0].Description != "passgate test" {
		t.Fatalf("mappings after upnpc -a: %v", ms)
	}
	if left := time.Until(ms[0].Expiry); left < 3500*time.Second || left > 3600*time.Second {
		t.Errorf("lease %v, want 3600 s", left)
	}
	// Lease 0 ("permanent"): the server's maximum.
	upnpc("-a", "127.0.0.1", "5000", "15000", "UDP", "0")
	if ms := pm.MappingsOf(netip.MustParseAddr("127.0.0.1"), time.Now()); len(ms) != 2 || time.Until(ms[1].Expiry) < portmap.DefaultMaxLifetime-time.Minute {
		t.Fatalf("mappings after a lease of 0: %v", ms)
	}
	out = upnpc("-l")
	for _, want := range []string{"Connected", "203.0.113.2", "TCP 18080->127.0.0.1:8080  'passgate test'", "UDP 15000->127.0.0.1:5000"} {
		if !strings.Contains(out, want) {
			t.Errorf("upnpc -l lacks %q", want)
		}
	}
	// A mapping for another address: 606.
	out = upnpc("-a", "127.0.0.2", "8081", "18081", "TCP")
	if !strings.Contains(out, "606") || len(pm.Mappings()) != 2 {
		t.Errorf("upnpc -a for another address: %v", pm.Mappings())
	}
	// A reserved port: 718.
	out = upnpc("-a", "127.0.0.1", "8443", "8443", "TCP")
	if !strings.Contains(out, "718") || len(pm.Mappings()) != 2 {
		t.Errorf("upnpc -a of a reserved port: %v", pm.Mappings())
	}
	upnpc("-d", "18080", "TCP")
	upnpc("-d", strconv.Itoa(15000), "UDP")
	if ms := pm.Mappings(); len(ms) != 0 {
		t.Fatalf("mappings after upnpc -d: %v", ms)
	}
}
