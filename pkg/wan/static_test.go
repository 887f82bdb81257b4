package wan

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStaticRun(t *testing.T) {
	s := Static{
		Address: netip.MustParsePrefix("203.0.113.2/24"),
		Gateway: serverA,
		DNS:     ispDNS,
		MTU:     1492,
	}
	var m Mode = s
	evs := make(chan Event, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func(e Event) { evs <- e }) }()
	e := <-evs
	la, ok := e.(LeaseAcquired)
	if !ok {
		t.Fatalf("event %T", e)
	}
	if la.Addr != s.Address || la.Gateway != serverA || len(la.DNS) != 2 || la.MTU != 1492 ||
		la.LeaseTime != 0 || la.Server.IsValid() || !la.Expiry().IsZero() {
		t.Errorf("lease %+v", la.Lease)
	}
	select {
	case e := <-evs:
		t.Fatalf("second event %T", e)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("event after cancel")
	}
}

func TestStaticValidate(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	good := Static{Address: p("203.0.113.2/24"), Gateway: a("203.0.113.1")}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    Static
		want string
	}{
		{Static{}, "address"},
		{Static{Address: p("203.0.113.0/24")}, "network or broadcast"},
		{Static{Address: p("203.0.113.255/24")}, "network or broadcast"},
		{Static{Address: p("224.0.0.1/24")}, "unicast"},
		{Static{Address: p("0.0.0.0/0")}, "address"},
		{Static{Address: p("2001:db8::1/64")}, "address"},
		{Static{Address: p("203.0.113.2/24"), Gateway: a("198.51.100.1")}, "outside"},
		{Static{Address: p("203.0.113.2/24"), Gateway: a("203.0.113.2")}, "itself"},
		{Static{Address: p("203.0.113.2/24"), Gateway: a("255.255.255.255")}, "unicast"},
		{Static{Address: p("203.0.113.2/24"), DNS: []netip.Addr{a("0.0.0.0")}}, "DNS"},
		{Static{Address: p("203.0.113.2/24"), MTU: 100}, "MTU"},
	} {
		err := tc.s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
		if err := tc.s.Run(context.Background(), nil); err == nil {
			t.Errorf("%+v: Run accepted it", tc.s)
		}
	}
	// A /32 with an off-link gateway is allowed (point-to-point style).
	if err := (Static{Address: p("203.0.113.2/32"), Gateway: a("198.51.100.1")}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestStoreRoundTripAndRejects(t *testing.T) {
	dir := t.TempDir()
	s := store{dir: dir}
	id := []byte{1, 2, 3, 4, 5, 6, 7}
	m := &memory{ClientID: "01020304050607", Address: netip.MustParsePrefix("203.0.113.100/24"), Server: serverA,
		Obtained: epoch, Expiry: epoch.Add(time.Hour)}
	if err := s.save(m); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LeaseFileName+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	got, err := s.load(id)
	if err != nil || got == nil || got.Address != m.Address || got.Server != serverA || !got.Expiry.Equal(m.Expiry) {
		t.Fatalf("load %+v %v", got, err)
	}
	if got, err := s.load([]byte{9, 9}); got != nil || err == nil {
		t.Errorf("another client's file: %+v %v", got, err)
	}
	for _, content := range []string{"", "{", `{"version": 2}`, `{"version":1,"client_id":"01020304050607","address":"0.0.0.0/0"}`,
		strings.Repeat(" ", maxLeaseFile+1)} {
		os.WriteFile(s.path(), []byte(content), 0o600)
		if got, err := s.load(id); got != nil || err == nil {
			t.Errorf("%.20q: %+v %v", content, got, err)
		}
	}
	if err := s.clear(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.load(id); got != nil || err != nil {
		t.Errorf("after clear: %+v %v", got, err)
	}
	if err := s.clear(); err != nil {
		t.Errorf("clear twice: %v", err)
	}
	// No directory: nothing is remembered, nothing fails.
	var none store
	if err := none.save(m); err != nil {
		t.Error(err)
	}
	if got, err := none.load(id); got != nil || err != nil {
		t.Errorf("no dir: %+v %v", got, err)
	}
}

// A damaged lease file is ignored: the client starts with a DISCOVER.
func TestDamagedLeaseFileIgnored(t *testing.T) {
	h := newHarness(t)
	os.WriteFile(filepath.Join(h.dir, LeaseFileName), []byte("\x00garbage"), 0o600)
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	if ss := h.seg.sends(); ss[0].msg.MessageType().String() != "DISCOVER" {
		t.Errorf("first message %v", ss[0])
	}
	if mem := readMemory(t, h.dir); mem.Address.Addr() != addr100 {
		t.Errorf("file not rewritten: %+v", mem)
	}
}

// An unwritable state directory is counted and logged, never fatal.
func TestLeaseFileErrorsCounted(t *testing.T) {
	h := newHarness(t)
	h.cfg.StateDir = filepath.Join(h.dir, "missing", "dir")
	a := newDHCPD(t, h.clock, serverA, time.Hour)
	h.bound(a)
	if st := h.c.Status(); st.Counters.LeaseFileErrors != 1 || st.State != "bound" {
		t.Errorf("status %+v", st)
	}
}
