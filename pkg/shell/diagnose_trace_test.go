package shell_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// TestShowVPNDiagnoseTrace: "show vpn diagnose" asks the router for its
// trace and names a router beyond the gateway in the ISPs' shared space;
// a failed trace says nothing; without an IPv4 WAN address it does not
// ask.
func TestShowVPNDiagnoseTrace(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := newRouter(t, clock)
	sh := shell.New(r, shell.Options{Clock: clock})
	run := func() string {
		t.Helper()
		var b strings.Builder
		if err := sh.Run(context.Background(), "show vpn diagnose", &b); err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(b.String()), " ")
	}
	r.Trace.Hops[1].Addr = netip.MustParseAddr("100.64.9.2")
	out := run()
	for _, w := range []string{"carrier-grade NAT beyond the gateway", "hop 2 (hop 1 is the gateway) answered from 100.64.9.2",
		"hop 1 203.0.113.1, hop 2 100.64.9.2, hop 3 no answer", "Ask the ISP for a public IPv4 address"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	r.TraceErr = errors.New("no socket")
	if out := run(); !strings.Contains(out, "No VPN problem seen") || strings.Contains(out, "traceroute") {
		t.Errorf("a failed trace:\n%s", out)
	}
	n := r.Traces
	for i := range r.Ifaces {
		if r.Ifaces[i].Role == "wan" {
			r.Ifaces[i].Addresses = nil
		}
	}
	run()
	if r.Traces != n {
		t.Errorf("traced without a WAN address")
	}
}
