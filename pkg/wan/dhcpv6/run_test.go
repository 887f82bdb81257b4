package dhcpv6

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Run on a fake clock: a lease, its renewal, and the status on the way.
func TestRunAcquiresAndRenews(t *testing.T) {
	srv := newISP(t, "isp", 1)
	r := newRunner(t, testConfig(t), srv)
	if !r.until(func() bool { return len(r.eventList()) >= 2 }, 100) {
		t.Fatalf("events %v; sent %v", r.eventList(), r.link.sent())
	}
	ev := r.eventList()
	if _, ok := ev[0].(PrefixAcquired); !ok {
		t.Errorf("first event %T", ev[0])
	}
	if rn, ok := ev[1].(PrefixRenewed); !ok || rn.Obtained.Sub(epoch) < 1800*time.Second {
		t.Errorf("second event %+v, want a renewal at T1", ev[1])
	}
	st := r.c.Status()
	if st.State != "bound" || st.Lease == nil || st.Lease.Prefix != ispPrefix || st.Counters.Replies != 2 {
		t.Errorf("status %+v", st)
	}
	if err := r.c.Run(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}

// A transport that fails never stops the client: errors are counted, the
// client pauses between failed receives (never spins), and it gets its
// prefix once the link works again.
func TestRunSurvivesTransportErrors(t *testing.T) {
	srv := newISP(t, "isp", 1)
	r := newRunner(t, testConfig(t), srv)
	r.link.setDown(true)
	start := r.clock.Now()
	r.until(func() bool { return r.clock.Now().Sub(start) > 10*time.Minute }, 10000)
	k := r.c.Status().Counters
	if k.SendErrors == 0 || k.RecvErrors == 0 {
		t.Errorf("counters %+v: errors not counted", k)
	}
	// Receives fail at most every RecvErrorBackoff once the pauses have
	// grown: about 40 in 10 minutes, not thousands.
	if k.RecvErrors > 60 {
		t.Errorf("%d receive errors in 10 minutes", k.RecvErrors)
	}
	r.link.setDown(false)
	if !r.until(func() bool { return len(r.eventList()) > 0 }, 1000) {
		t.Fatalf("no lease after the link came back; status %+v", r.c.Status())
	}
	if st := r.c.Status(); st.State != "bound" {
		t.Errorf("state %v", st.State)
	}
}
