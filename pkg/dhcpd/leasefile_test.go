package dhcpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func leasePath(t *testing.T) string { return filepath.Join(t.TempDir(), "dhcp-leases.json") }

func readFile(t *testing.T, p string) fileData {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var d fileData
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("lease file does not parse: %v\n%s", err, raw)
	}
	return d
}

func TestRestartKeepsLeases(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a, b := newClient("02:00:00:00:00:0a"), newClient("02:00:00:00:00:0b")
	a.hostname = "laptop"
	b.clientID = []byte{1, 2, 3, 4, 5, 6, 7}
	st := &client{mac: staticMAC}
	ipA, ipB := h.dora(a), h.dora(b)
	h.dora(st)
	before := h.s.Leases()

	// A restart: a new server on the same file, an hour later.
	h.clock.Advance(time.Hour)
	s2 := h.newServer(testConfig(), p)
	after := s2.Leases()
	if len(after) != len(before) {
		t.Fatalf("after restart %d leases, want %d: %+v", len(after), len(before), after)
	}
	for i := range before {
		x, y := before[i], after[i]
		if x.IP != y.IP || !bytes.Equal(x.MAC, y.MAC) || !bytes.Equal(x.ClientID, y.ClientID) ||
			x.Hostname != y.Hostname || !x.Expiry.Equal(y.Expiry) || x.State != y.State || x.Static != y.Static {
			t.Errorf("lease %d changed across restart:\n before %+v\n after  %+v", i, x, y)
		}
	}
	// The clients keep their addresses however they come back.
	if r := h.sendTo(s2, a, a.renew()); typeOf(r) != ack || yiaddr(r) != ipA {
		t.Errorf("a renew after restart: %v %v, want ACK %v", typeOf(r), yiaddr(r), ipA)
	}
	if r := h.sendTo(s2, b, b.discover()); typeOf(r) != offer || yiaddr(r) != ipB {
		t.Errorf("b discover after restart: %v %v, want OFFER %v", typeOf(r), yiaddr(r), ipB)
	}
	// And nobody else can take them.
	c := newClient("02:00:00:00:00:0c")
	if r := h.sendTo(s2, c, c.initReboot(ipA)); typeOf(r) != nak {
		t.Errorf("c init-reboot of a's address after restart: %v, want NAK", typeOf(r))
	}
	if r := h.sendTo(s2, c, c.discover(withRequested(ipB))); yiaddr(r) == ipA || yiaddr(r) == ipB {
		t.Errorf("c was offered a restored address %v", yiaddr(r))
	}
}

func TestAckIsOnDiskBeforeReply(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a := newClient("02:00:00:00:00:0a")
	h.send(a, a.discover())
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an OFFER wrote the lease file (err %v)", err)
	}
	h.send(a, a.selecting())
	d := readFile(t, p)
	if len(d.Leases) != 1 || d.Leases[0].IP != ip("192.168.1.100") || d.Leases[0].MAC != "02:00:00:00:00:0a" || d.Leases[0].State != StateBound {
		t.Fatalf("lease file after ACK: %+v", d)
	}
	if want := h.clock.Now().Add(12 * time.Hour); !d.Leases[0].Expiry.Equal(want) {
		t.Errorf("expiry on disk %v, want %v", d.Leases[0].Expiry, want)
	}
	h.send(a, a.release())
	if d := readFile(t, p); len(d.Leases) != 0 {
		t.Errorf("lease file after RELEASE: %+v", d)
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind (err %v)", err)
	}
}

func TestExpiredLeasesPrunedOnLoad(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a, b := newClient("02:00:00:00:00:0a"), newClient("02:00:00:00:00:0b")
	ipA := h.dora(a)
	h.clock.Advance(6 * time.Hour)
	ipB := h.dora(b)
	h.clock.Advance(7 * time.Hour) // a's lease is over, b's is not

	s2 := h.newServer(testConfig(), p)
	ls := s2.Leases()
	if len(ls) != 1 || ls[0].IP != ipB {
		t.Fatalf("after restart: %+v, want only b's lease %v", ls, ipB)
	}
	// a is remembered: a new client does not get its old address, a does.
	c := newClient("02:00:00:00:00:0c")
	if r := h.sendTo(s2, c, c.discover()); yiaddr(r) == ipA {
		t.Errorf("new client offered a's old address %v", ipA)
	}
	if r := h.sendTo(s2, a, a.discover()); yiaddr(r) != ipA {
		t.Errorf("a offered %v, want its old %v", yiaddr(r), ipA)
	}
	// The next write leaves the expired lease out.
	h.sendTo(s2, c, c.selecting())
	for _, l := range readFile(t, p).Leases {
		if l.IP == ipA {
			t.Errorf("expired lease %v still in the file", ipA)
		}
	}
}

func TestDeclinePersisted(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a := newClient("02:00:00:00:00:0a")
	bad := h.dora(a)
	h.send(a, a.decline())
	s2 := h.newServer(testConfig(), p)
	ls := s2.Leases()
	if len(ls) != 1 || ls[0].IP != bad || ls[0].State != StateDeclined || ls[0].MAC != nil {
		t.Fatalf("after restart: %+v, want %v declined", ls, bad)
	}
	c := newClient("02:00:00:00:00:0c")
	if r := h.sendTo(s2, c, c.discover(withRequested(bad))); yiaddr(r) == bad {
		t.Errorf("declined address %v offered after restart", bad)
	}
}

func TestDamagedLeaseFile(t *testing.T) {
	valid := func(t *testing.T) []byte {
		p := leasePath(t)
		h := newHarness(t, testConfig(), p)
		h.dora(newClient("02:00:00:00:00:0a"))
		h.dora(newClient("02:00:00:00:00:0b"))
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name    string
		content func(t *testing.T) []byte
	}{
		{"garbage", func(*testing.T) []byte { return []byte("\x00\xff not json at all") }},
		{"empty", func(*testing.T) []byte { return nil }},
		{"truncated", func(t *testing.T) []byte { v := valid(t); return v[:len(v)/2] }},
		{"wrong version", func(*testing.T) []byte { return []byte(`{"version": 99, "leases": []}`) }},
		{"wrong shape", func(*testing.T) []byte { return []byte(`{"version": 1, "leases": {"a": 1}}`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := leasePath(t)
			content := tc.content(t)
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, testConfig(), p)
			if n := len(h.s.Leases()); n != 0 {
				t.Fatalf("%d leases from a damaged file", n)
			}
			if len(h.logs) == 0 || !strings.Contains(h.logs[0], "damaged") || !strings.Contains(h.logs[0], p) {
				t.Errorf("damage not reported with the file name: %q", h.logs)
			}
			if kept, err := os.ReadFile(p + ".bad"); err != nil || !bytes.Equal(kept, content) {
				t.Errorf("damaged file not kept aside as .bad (err %v)", err)
			}
			// The server works and writes a good file.
			h.dora(newClient("02:00:00:00:00:0c"))
			if d := readFile(t, p); len(d.Leases) != 1 {
				t.Errorf("lease file after recovery: %+v", d)
			}
		})
	}
}

func TestLeaseFileBadEntriesSkipped(t *testing.T) {
	p := leasePath(t)
	exp := newClock().Now().Add(time.Hour).Format(time.RFC3339)
	content := `{"version": 1, "leases": [
	  {"ip": "192.168.1.100", "mac": "02:00:00:00:00:0a", "expiry": "` + exp + `", "state": "bound"},
	  {"ip": "192.168.1.101", "mac": "not-a-mac", "expiry": "` + exp + `", "state": "bound"},
	  {"ip": "192.168.1.102", "mac": "02:00:00:00:00:0c", "expiry": "` + exp + `", "state": "weird"},
	  {"ip": "192.168.1.100", "mac": "02:00:00:00:00:0d", "expiry": "` + exp + `", "state": "bound"},
	  {"ip": "192.168.1.250", "mac": "02:00:00:00:00:0e", "expiry": "` + exp + `", "state": "bound"},
	  {"ip": "192.168.1.51", "mac": "` + staticMAC.String() + `", "expiry": "` + exp + `", "state": "bound"},
	  {"ip": "192.168.1.103", "mac": "02:00:00:00:00:0f", "hostname": "bad\nname<script>", "expiry": "` + exp + `", "state": "bound"}
	]}`
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, testConfig(), p)
	ls := h.s.Leases()
	if len(ls) != 2 || ls[0].IP != ip("192.168.1.100") || ls[0].MAC.String() != "02:00:00:00:00:0a" || ls[1].IP != ip("192.168.1.103") {
		t.Fatalf("leases: %+v, want .100 for :0a and .103", ls)
	}
	if ls[1].Hostname != "badnamescript" {
		t.Errorf("hostname not sanitised: %q", ls[1].Hostname)
	}
}

// TestPowerLossDuringWrite simulates a crash after the temporary file is
// written and synced but before the rename: the old file must be intact
// and load as before, whatever the temporary file holds.
func TestPowerLossDuringWrite(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a, b := newClient("02:00:00:00:00:0a"), newClient("02:00:00:00:00:0b")
	ipA := h.dora(a)
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}

	crash := errors.New("power cut")
	h.s.file.beforeRename = func() error { return crash }
	// The ACK is still sent (the LAN keeps working), and the failure is
	// counted and reported.
	if got := h.dora(b); !got.IsValid() {
		t.Fatal("no ACK while the disk fails")
	}
	if c := h.s.Counters(); c.PersistErrors != 1 {
		t.Errorf("PersistErrors %d, want 1", c.PersistErrors)
	}
	if len(h.logs) == 0 || !strings.Contains(h.logs[len(h.logs)-1], "power cut") {
		t.Errorf("write failure not logged: %q", h.logs)
	}
	if now, _ := os.ReadFile(p); !bytes.Equal(now, old) {
		t.Fatalf("lease file changed by an interrupted write:\n%s", now)
	}
	if tmp, err := os.ReadFile(p + ".tmp"); err != nil || !bytes.Contains(tmp, []byte("02:00:00:00:00:0b")) {
		t.Fatalf("temporary file should hold the new leases (err %v)", err)
	}

	// Reboot. The half-finished write is invisible.
	check := func(t *testing.T) {
		t.Helper()
		s2 := h.newServer(testConfig(), p)
		ls := s2.Leases()
		if len(ls) != 1 || ls[0].IP != ipA {
			t.Fatalf("after the crash: %+v, want only a's lease %v", ls, ipA)
		}
	}
	check(t)
	// A crash during the temporary write itself leaves a torn file there.
	if err := os.WriteFile(p+".tmp", []byte(`{"version": 1, "leases": [{"ip": "192.1`), 0o644); err != nil {
		t.Fatal(err)
	}
	check(t)

	// Once the disk works again the next write replaces both.
	h.s.file.beforeRename = nil
	h.send(b, b.renew())
	if d := readFile(t, p); len(d.Leases) != 2 {
		t.Errorf("after recovery the file has %d leases, want 2", len(d.Leases))
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file left behind (err %v)", err)
	}
}

func TestPersistFailureKeepsServing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no-such-dir", "leases.json")
	h := newHarness(t, testConfig(), p)
	a := newClient("02:00:00:00:00:0a")
	if got := h.dora(a); got != ip("192.168.1.100") {
		t.Fatalf("got %v", got)
	}
	if c := h.s.Counters(); c.PersistErrors != 1 {
		t.Errorf("PersistErrors %d, want 1", c.PersistErrors)
	}
	if len(h.logs) != 1 || !strings.Contains(h.logs[0], "dhcpd: lease file "+p) {
		t.Errorf("log %q: want the error with the file name", h.logs)
	}
}

func TestForgetDropsLeasesAndTheFile(t *testing.T) {
	p := leasePath(t)
	h := newHarness(t, testConfig(), p)
	a, b := newClient("02:00:00:00:00:0a"), newClient("02:00:00:00:00:0b")
	h.dora(a)
	ipB := h.dora(b)
	h.send(b, b.release()) // remembered as .101's last owner
	if err := os.WriteFile(p+".bad", []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Forget(); err != nil {
		t.Fatal(err)
	}
	if ls := h.s.Leases(); len(ls) != 0 {
		t.Errorf("after Forget %d leases: %+v", len(ls), ls)
	}
	for _, f := range []string{p, p + ".bad"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Forget (%v)", f, err)
		}
	}
	// A restart finds nothing, and b is no longer remembered as the
	// owner of its old address: it gets the first pool address.
	if ls := h.newServer(testConfig(), p).Leases(); len(ls) != 0 {
		t.Errorf("restart after Forget: %d leases", len(ls))
	}
	if ipB != ip("192.168.1.101") {
		t.Fatalf("b got %v before Forget, want 192.168.1.101", ipB)
	}
	if got := h.dora(b); got != ip("192.168.1.100") {
		t.Errorf("b after Forget got %v, want 192.168.1.100 (its old address is forgotten)", got)
	}
	// The server goes on persisting.
	if d := readFile(t, p); len(d.Leases) != 1 || d.Leases[0].MAC != "02:00:00:00:00:0b" {
		t.Errorf("lease file after Forget and a new lease: %+v", d.Leases)
	}
}

func TestRemoveLeaseFile(t *testing.T) {
	p := leasePath(t)
	if err := RemoveLeaseFile(p); err != nil {
		t.Errorf("missing file: %v", err)
	}
	for _, f := range []string{p, p + ".bad"} {
		if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveLeaseFile(p); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, p + ".bad"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", f, err)
		}
	}
}
