package dhcpd

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// step is one move in a message flow: optionally advance the clock, send a
// client's message, and check the reply type and yiaddr.
type step struct {
	advance time.Duration
	who     string
	send    func(*client) *dhcpv4.DHCPv4
	want    dhcpv4.MessageType // MessageTypeNone: no reply expected
	wantIP  string             // yiaddr; "" leaves it unchecked
	check   func(t *testing.T, h *harness, cl map[string]*client)
}

const (
	none  = dhcpv4.MessageTypeNone
	offer = dhcpv4.MessageTypeOffer
	ack   = dhcpv4.MessageTypeAck
	nak   = dhcpv4.MessageTypeNak
)

func do(who string, f func(*client) *dhcpv4.DHCPv4, want dhcpv4.MessageType, wantIP string) step {
	return step{who: who, send: f, want: want, wantIP: wantIP}
}

func wait(d time.Duration) step { return step{advance: d} }

func check(f func(t *testing.T, h *harness, cl map[string]*client)) step {
	return step{check: f}
}

func discover(c *client) *dhcpv4.DHCPv4  { return c.discover() }
func selecting(c *client) *dhcpv4.DHCPv4 { return c.selecting() }
func renew(c *client) *dhcpv4.DHCPv4     { return c.renew() }
func rebind(c *client) *dhcpv4.DHCPv4    { return c.rebind() }
func decline(c *client) *dhcpv4.DHCPv4   { return c.decline() }
func release(c *client) *dhcpv4.DHCPv4   { return c.release() }

func discoverReq(a string) func(*client) *dhcpv4.DHCPv4 {
	return func(c *client) *dhcpv4.DHCPv4 { return c.discover(withRequested(ip(a))) }
}

func initReboot(a string) func(*client) *dhcpv4.DHCPv4 {
	return func(c *client) *dhcpv4.DHCPv4 { return c.initReboot(ip(a)) }
}

func inform(a string) func(*client) *dhcpv4.DHCPv4 {
	return func(c *client) *dhcpv4.DHCPv4 { return c.inform(ip(a)) }
}

// dora is DISCOVER/OFFER, REQUEST/ACK for the address wantIP.
func dora(who, wantIP string) []step {
	return []step{do(who, discover, offer, wantIP), do(who, selecting, ack, wantIP)}
}

func leaseIs(addr string, state LeaseState, who string) step {
	return check(func(t *testing.T, h *harness, cl map[string]*client) {
		t.Helper()
		l, ok := h.lease(ip(addr))
		if state == "" {
			if ok {
				t.Fatalf("lease %s exists (%+v), want none", addr, l)
			}
			return
		}
		if !ok {
			t.Fatalf("no lease for %s, want %s; leases: %+v", addr, state, h.s.Leases())
		}
		if l.State != state {
			t.Fatalf("lease %s state %s, want %s", addr, l.State, state)
		}
		if who != "" && !bytes.Equal(l.MAC, cl[who].mac) {
			t.Fatalf("lease %s MAC %v, want %s's %v", addr, l.MAC, who, cl[who].mac)
		}
	})
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestFlows(t *testing.T) {
	smallPool := func(c *Config) { c.RangeEnd = ip("192.168.1.101") }
	staticInPool := func(c *Config) { c.Static[0].IP = ip("192.168.1.100") }
	tests := []struct {
		name  string
		cfg   func(*Config)
		steps []step
	}{
		{name: "DORA", steps: concat(
			[]step{do("a", discover, offer, "192.168.1.100"), leaseIs("192.168.1.100", StateOffered, "a")},
			[]step{do("a", selecting, ack, "192.168.1.100"), leaseIs("192.168.1.100", StateBound, "a")},
			[]step{check(func(t *testing.T, h *harness, cl map[string]*client) {
				l, _ := h.lease(ip("192.168.1.100"))
				if want := h.clock.Now().Add(12 * time.Hour); !l.Expiry.Equal(want) {
					t.Errorf("expiry %v, want %v", l.Expiry, want)
				}
				if l.Hostname != "host-a" || l.Static {
					t.Errorf("lease %+v: want hostname host-a, dynamic", l)
				}
			})},
		)},
		{name: "renew extends the lease", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{wait(6 * time.Hour), check(func(_ *testing.T, _ *harness, cl map[string]*client) { cl["a"].hostname = "" })},
			[]step{do("a", renew, ack, "192.168.1.100")},
			[]step{check(func(t *testing.T, h *harness, cl map[string]*client) {
				l, _ := h.lease(ip("192.168.1.100"))
				if want := h.clock.Now().Add(12 * time.Hour); !l.Expiry.Equal(want) {
					t.Errorf("expiry %v, want %v", l.Expiry, want)
				}
				if got := cl["a"].ack.ClientIPAddr.String(); got != "192.168.1.100" {
					t.Errorf("ACK ciaddr %s, want the client's", got)
				}
			})},
			[]step{check(func(t *testing.T, h *harness, _ map[string]*client) {
				if l, _ := h.lease(ip("192.168.1.100")); l.Hostname != "host-a" {
					t.Errorf("hostname %q lost by a renewal without option 12", l.Hostname)
				}
			})},
			// Well past the first lease's end, it is still bound.
			[]step{wait(11 * time.Hour), leaseIs("192.168.1.100", StateBound, "a")},
		)},
		{name: "rebind", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{wait(11 * time.Hour), do("a", rebind, ack, "192.168.1.100")},
		)},
		{name: "renew of an address now someone else's is NAKed", steps: concat(
			dora("a", "192.168.1.100"),
			// a's lease runs out while it is away; b takes the address.
			[]step{wait(13 * time.Hour), do("b", initReboot("192.168.1.100"), ack, "192.168.1.100")},
			[]step{do("a", renew, nak, ""), leaseIs("192.168.1.100", StateBound, "b")},
		)},
		{name: "renew after expiry with the address still free is ACKed", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{wait(13 * time.Hour), leaseIs("192.168.1.100", "", ""), do("a", renew, ack, "192.168.1.100")},
		)},
		{name: "init-reboot of own address is ACKed", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{wait(time.Hour), do("a", initReboot("192.168.1.100"), ack, "192.168.1.100")},
		)},
		{name: "init-reboot without a record, address free: ACK (authoritative)", steps: []step{
			do("a", initReboot("192.168.1.105"), ack, "192.168.1.105"),
			leaseIs("192.168.1.105", StateBound, "a"),
		}},
		{name: "init-reboot from another subnet is NAKed", steps: []step{
			do("a", initReboot("10.0.0.5"), nak, ""),
			leaseIs("10.0.0.5", "", ""),
		}},
		{name: "init-reboot of another client's address is NAKed", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{do("b", initReboot("192.168.1.100"), nak, ""), leaseIs("192.168.1.100", StateBound, "a")},
		)},
		{name: "init-reboot of an address other than the bound one is NAKed", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{do("a", initReboot("192.168.1.105"), nak, ""), leaseIs("192.168.1.105", "", "")},
		)},
		{name: "init-reboot outside the pool is NAKed", steps: []step{
			do("a", initReboot("192.168.1.20"), nak, ""),
			do("a", initReboot("192.168.1.1"), nak, ""),
		}},
		{name: "request for another server forgets our offer", steps: []step{
			do("a", discover, offer, "192.168.1.100"),
			do("a", func(c *client) *dhcpv4.DHCPv4 { return c.selectingOther() }, none, ""),
			leaseIs("192.168.1.100", "", ""),
			check(func(t *testing.T, h *harness, _ map[string]*client) {
				if c := h.s.Counters(); c.OtherServer != 1 || c.Dropped != 0 {
					t.Errorf("counters %+v: want OtherServer 1, Dropped 0", c)
				}
			}),
			do("b", discover, offer, "192.168.1.100"),
		}},
		{name: "decline quarantines the address", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{
				do("a", decline, none, ""),
				leaseIs("192.168.1.100", StateDeclined, ""),
				do("a", discover, offer, "192.168.1.101"),
				do("b", discoverReq("192.168.1.100"), offer, "192.168.1.102"),
				do("b", initReboot("192.168.1.100"), nak, ""),
				wait(time.Hour),
				leaseIs("192.168.1.100", "", ""),
				do("c", discoverReq("192.168.1.100"), offer, "192.168.1.100"),
			},
		)},
		{name: "decline by a client that does not hold the address is ignored", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{
				do("b", func(c *client) *dhcpv4.DHCPv4 {
					return c.msg(dhcpv4.MessageTypeDecline, withRequested(ip("192.168.1.100")), withServerID(serverIP))
				}, none, ""),
				leaseIs("192.168.1.100", StateBound, "a"),
			},
		)},
		{name: "release frees the address, the client gets it back", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{
				do("a", release, none, ""),
				leaseIs("192.168.1.100", "", ""),
				// Never-used addresses go to new clients first ...
				do("b", discover, offer, "192.168.1.101"),
				// ... so a gets its old one back.
				do("a", discover, offer, "192.168.1.100"),
			},
		)},
		{name: "release by another client is ignored", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{
				do("b", func(c *client) *dhcpv4.DHCPv4 {
					return c.msg(dhcpv4.MessageTypeRelease, withCiaddr(ip("192.168.1.100")), withServerID(serverIP))
				}, none, ""),
				leaseIs("192.168.1.100", StateBound, "a"),
			},
		)},
		{name: "inform gets options and no lease", steps: []step{
			do("a", inform("192.168.1.77"), ack, "0.0.0.0"),
			check(func(t *testing.T, h *harness, cl map[string]*client) {
				if len(h.s.Leases()) != 0 {
					t.Errorf("INFORM created a lease: %+v", h.s.Leases())
				}
			}),
		}},
		{name: "inform from another subnet is dropped", steps: []step{
			do("a", inform("10.1.1.1"), none, ""),
		}},
		{name: "static lease", steps: concat(
			dora("static", "192.168.1.50"),
			[]step{
				check(func(t *testing.T, h *harness, _ map[string]*client) {
					if l, _ := h.lease(ip("192.168.1.50")); !l.Static {
						t.Errorf("lease %+v not marked static", l)
					}
				}),
				// Nobody else gets .50, however they ask.
				do("a", discoverReq("192.168.1.50"), offer, "192.168.1.100"),
				do("a", initReboot("192.168.1.50"), nak, ""),
				// The static client cannot take a pool address.
				do("static", initReboot("192.168.1.101"), nak, ""),
			},
		)},
		{name: "static address inside the pool is never handed out", cfg: staticInPool, steps: []step{
			do("a", discover, offer, "192.168.1.101"),
			do("b", discoverReq("192.168.1.100"), offer, "192.168.1.102"),
			do("static", discover, offer, "192.168.1.100"),
		}},
		{name: "requested address honoured if free", steps: []step{
			do("a", discoverReq("192.168.1.105"), offer, "192.168.1.105"),
			do("b", discoverReq("192.168.1.105"), offer, "192.168.1.100"),
			do("c", discoverReq("192.168.1.200"), offer, "192.168.1.101"),
		}},
		{name: "client gets its previous address after expiry", steps: concat(
			dora("a", "192.168.1.100"),
			[]step{
				wait(13 * time.Hour),
				do("b", discover, offer, "192.168.1.101"),
				do("a", discover, offer, "192.168.1.100"),
			},
		)},
		{name: "two clients at once get different addresses", steps: []step{
			do("a", discover, offer, "192.168.1.100"),
			do("b", discover, offer, "192.168.1.101"),
			do("b", selecting, ack, "192.168.1.101"),
			do("a", selecting, ack, "192.168.1.100"),
			// A repeated DISCOVER gets the same offer.
			do("c", discover, offer, "192.168.1.102"),
			do("c", discover, offer, "192.168.1.102"),
			// An offer not taken up is freed after the hold.
			wait(DefaultOfferHold + time.Second),
			leaseIs("192.168.1.102", "", ""),
			do("d", discover, offer, "192.168.1.102"),
		}},
		{name: "pool exhaustion, then an address frees up", cfg: smallPool, steps: concat(
			dora("a", "192.168.1.100"),
			[]step{wait(time.Hour)},
			dora("b", "192.168.1.101"),
			[]step{
				do("c", discover, none, ""),
				check(func(t *testing.T, h *harness, _ map[string]*client) {
					if c := h.s.Counters(); c.PoolExhausted != 1 {
						t.Errorf("PoolExhausted %d, want 1", c.PoolExhausted)
					}
				}),
				// a's lease ends first; c gets that address.
				wait(11*time.Hour + time.Second),
				do("c", discover, offer, "192.168.1.100"),
				do("c", selecting, ack, "192.168.1.100"),
			},
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			h := newHarness(t, cfg, "")
			cl := map[string]*client{
				"a":      newClient("02:00:00:00:00:0a"),
				"b":      newClient("02:00:00:00:00:0b"),
				"c":      newClient("02:00:00:00:00:0c"),
				"d":      newClient("02:00:00:00:00:0d"),
				"static": {mac: staticMAC},
			}
			cl["a"].hostname = "host-a"
			for i, st := range tc.steps {
				h.clock.Advance(st.advance)
				if st.send != nil {
					c := cl[st.who]
					m := st.send(c)
					reply := h.send(c, m)
					if got := typeOf(reply); got != st.want {
						t.Fatalf("step %d: %s sent %v, got %v, want %v", i, st.who, m.MessageType(), got, st.want)
					}
					if st.wantIP != "" {
						if got := yiaddr(reply); got != ip(st.wantIP) {
							t.Fatalf("step %d: %s sent %v, got %v yiaddr %v, want %s", i, st.who, m.MessageType(), typeOf(reply), got, st.wantIP)
						}
					}
					if reply != nil && reply.MessageType() != nak {
						checkOptions(t, m, reply)
					}
				}
				if st.check != nil {
					st.check(t, h, cl)
				}
			}
		})
	}
}

// checkOptions checks the options every OFFER and ACK must carry.
func checkOptions(t *testing.T, req, reply *dhcpv4.DHCPv4) {
	t.Helper()
	if got := reply.SubnetMask().String(); got != "ffffff00" {
		t.Errorf("subnet mask %s", got)
	}
	if got := reply.Router(); len(got) != 1 || !got[0].Equal(toNetIP(serverIP)) {
		t.Errorf("router %v", got)
	}
	if got := reply.DNS(); len(got) != 2 || got[0].String() != "192.168.1.1" || got[1].String() != "9.9.9.9" {
		t.Errorf("dns %v", got)
	}
	if got := reply.BroadcastAddress(); got.String() != "192.168.1.255" {
		t.Errorf("broadcast address %v", got)
	}
	if got := reply.DomainName(); got != "lan" {
		t.Errorf("domain %q", got)
	}
	hasLease := reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime)
	if req.MessageType() == dhcpv4.MessageTypeInform {
		if hasLease || reply.Options.Has(dhcpv4.OptionRenewTimeValue) || reply.Options.Has(dhcpv4.OptionRebindingTimeValue) {
			t.Errorf("INFORM reply carries lease times")
		}
		if !reply.YourIPAddr.IsUnspecified() {
			t.Errorf("INFORM reply yiaddr %v", reply.YourIPAddr)
		}
		return
	}
	if got := reply.IPAddressLeaseTime(0); got != 12*time.Hour {
		t.Errorf("lease time %v", got)
	}
	if got := reply.IPAddressRenewalTime(0); got != 6*time.Hour {
		t.Errorf("T1 %v", got)
	}
	if got := reply.IPAddressRebindingTime(0); got != 10*time.Hour+30*time.Minute {
		t.Errorf("T2 %v", got)
	}
}

func TestClientIdentifier(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	// Two clients behind one MAC (e.g. two OSes on one NIC, or a
	// virtualised host) are told apart by option 61.
	c1 := newClient("02:00:00:00:00:0a")
	c1.clientID = []byte{0xff, 1, 2, 3}
	c2 := newClient("02:00:00:00:00:0a")
	c2.clientID = []byte{0xff, 4, 5, 6}
	a1, a2 := h.dora(c1), h.dora(c2)
	if a1 == a2 {
		t.Fatalf("both client ids got %v", a1)
	}
	if !bytes.Equal(c1.ack.Options.Get(dhcpv4.OptionClientIdentifier), c1.clientID) {
		t.Errorf("ACK does not echo the client identifier (RFC 6842)")
	}
	l, _ := h.lease(a1)
	if !bytes.Equal(l.ClientID, c1.clientID) {
		t.Errorf("lease client id %x, want %x", l.ClientID, c1.clientID)
	}
}

func TestCounters(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	a, b := newClient("02:00:00:00:00:0a"), newClient("02:00:00:00:00:0b")
	h.dora(a)
	h.send(a, a.renew())
	h.send(b, b.initReboot(ip("10.0.0.1")))
	h.send(b, b.inform(ip("192.168.1.66")))
	h.send(a, a.release())
	h.dora(b)
	h.send(b, b.decline())
	h.s.HandlePacket([]byte("junk"))
	want := Counters{
		Discovers: 2, Offers: 2, Requests: 4, Acks: 4, Naks: 1,
		Declines: 1, Releases: 1, Informs: 1, Dropped: 1,
	}
	if got := h.s.Counters(); got != want {
		t.Errorf("counters\n got %+v\nwant %+v", got, want)
	}
}

func TestReconfigureSmallerPool(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	cl := make([]*client, 4)
	for i := range cl {
		cl[i] = newClient("02:00:00:00:01:0" + string(rune('0'+i)))
		if got, want := h.dora(cl[i]), netip.AddrFrom4([4]byte{192, 168, 1, byte(100 + i)}); got != want {
			t.Fatalf("client %d got %v, want %v", i, got, want)
		}
	}
	// A pending offer outside the new pool must go too.
	pending := newClient("02:00:00:00:01:09")
	h.send(pending, pending.discover())

	cfg := testConfig()
	cfg.RangeEnd = ip("192.168.1.101")
	cfg.DNS = []netip.Addr{ip("192.168.1.1")}
	if err := h.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range h.s.Leases() {
		got = append(got, l.IP.String())
	}
	if len(got) != 2 || got[0] != "192.168.1.100" || got[1] != "192.168.1.101" {
		t.Fatalf("leases after shrinking the pool: %v, want .100 and .101", got)
	}
	// Kept leases renew with the new options; dropped ones are NAKed and
	// then find the pool full.
	if r := h.send(cl[0], cl[0].renew()); typeOf(r) != ack || len(r.DNS()) != 1 {
		t.Errorf("renew of a kept lease: %v dns %v", typeOf(r), r.DNS())
	}
	if r := h.send(cl[3], cl[3].renew()); typeOf(r) != nak {
		t.Errorf("renew of a dropped lease: %v, want NAK", typeOf(r))
	}
	if r := h.send(cl[3], cl[3].discover()); r != nil {
		t.Errorf("DISCOVER with the smaller pool full: %v, want no reply", typeOf(r))
	}

	// An invalid configuration changes nothing.
	bad := testConfig()
	bad.RangeStart = ip("10.0.0.1")
	if err := h.s.Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted a pool outside the subnet")
	}
	if got := h.s.Config().RangeEnd; got != ip("192.168.1.101") {
		t.Errorf("config changed by a failed Reconfigure: range end %v", got)
	}
}

func TestReconfigureStaticTakesAddress(t *testing.T) {
	h := newHarness(t, testConfig(), "")
	a := newClient("02:00:00:00:00:0a")
	if got := h.dora(a); got != ip("192.168.1.100") {
		t.Fatalf("got %v", got)
	}
	// The administrator pins .100 to another machine.
	cfg := testConfig()
	cfg.Static = append(cfg.Static, StaticLease{Name: "nas", MAC: mustMAC("02:00:00:00:00:99"), IP: ip("192.168.1.100")})
	if err := h.s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.lease(ip("192.168.1.100")); ok {
		t.Fatal("dynamic lease on a newly static address survived Reconfigure")
	}
	if r := h.send(a, a.renew()); typeOf(r) != nak {
		t.Errorf("renew of the now-static address: %v, want NAK", typeOf(r))
	}
	nas := newClient("02:00:00:00:00:99")
	if got := h.dora(nas); got != ip("192.168.1.100") {
		t.Errorf("static client got %v", got)
	}
}
