package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	d6 "github.com/insomniacslk/dhcp/dhcpv6"
)

// Tests named after RFC 7084 §4.2 requirements (WAN-side configuration,
// prefix delegation) as they apply to the DHCPv6 client.

// WPD-1: the router requests prefix delegation (IA_PD) as a requesting
// router, through the whole Solicit/Advertise/Request/Reply exchange.
func TestRFC7084_WPD1_RequestsPrefixDelegation(t *testing.T) {
	srv := newISP(t, "isp", 1)
	s := newSim(t, testConfig(t), srv).start()
	l := s.bound()

	var types []d6.MessageType
	for _, x := range s.log {
		types = append(types, x.msg.MessageType)
		if _, ok := iaPD(x.msg); !ok {
			t.Errorf("%v without an IA_PD", x)
		}
		if x.to != AllServers {
			t.Errorf("%v not sent to %v", x, AllServers)
		}
	}
	if want := []d6.MessageType{d6.MessageTypeSolicit, d6.MessageTypeRequest}; !slices.Equal(types, want) {
		t.Errorf("client sent %v, want %v", types, want)
	}
	if l.Prefix != ispPrefix || l.PreferredLifetime != time.Hour || l.ValidLifetime != 2*time.Hour {
		t.Errorf("lease %v, want %v preferred 1h valid 2h", l, ispPrefix)
	}
	if l.T1 != 1800*time.Second || l.T2 != 2880*time.Second {
		t.Errorf("T1 %v T2 %v, want the server's 30m and 48m", l.T1, l.T2)
	}
	if !bytes.Equal(l.ServerID, srv.duid) || l.Server != srv.addr {
		t.Errorf("server %x at %v, want %x at %v", l.ServerID, l.Server, srv.duid, srv.addr)
	}
	if l.Address.IsValid() {
		t.Errorf("address %v without RequestAddress", l.Address)
	}
	if got := s.eventTypes(); !slices.Equal(got, []string{"dhcpv6.PrefixAcquired"}) {
		t.Errorf("events %v, want one PrefixAcquired", got)
	}
	if pa := s.events[0].(PrefixAcquired); pa.Prefix != ispPrefix || !slices.Equal(pa.DNS, ispDNS) {
		t.Errorf("event %+v", pa)
	}
	// The request asked for what was advertised.
	req := s.sends(d6.MessageTypeRequest)[0].msg
	if p, _ := iaPD(req); p != ispPrefix {
		t.Errorf("Request asks for %v, want the advertised %v", p, ispPrefix)
	}
	if sid := req.GetOneOption(d6.OptionServerID); sid == nil || !bytes.Equal(sid.ToBytes(), srv.duid) {
		t.Errorf("Request's Server Identifier %v, want %x", sid, srv.duid)
	}
}

// WPD-2: the prefix length hint is sent, /56 unless configured, and only a
// sensible one may be configured.
func TestRFC7084_WPD2_PrefixLengthHint(t *testing.T) {
	for _, tc := range []struct {
		cfg, want int
	}{{0, 56}, {48, 48}, {60, 60}, {64, 64}} {
		srv := newISP(t, "isp", 1)
		cfg := testConfig(t)
		cfg.PrefixLength = tc.cfg
		s := newSim(t, cfg, srv).start()
		s.advance(2 * time.Second)
		sol := s.sends(d6.MessageTypeSolicit)
		if len(sol) == 0 {
			t.Fatalf("hint %d: no Solicit", tc.cfg)
		}
		p, _ := iaPD(sol[0].msg)
		if want := netip.PrefixFrom(netip.IPv6Unspecified(), tc.want); p != want {
			t.Errorf("config %d: Solicit hints %v, want %v", tc.cfg, p, want)
		}
	}
	for _, bad := range []int{1, 32, 47, 65, 128, -1} {
		cfg := testConfig(t)
		cfg.Transport = NewMemLink()
		cfg.PrefixLength = bad
		if _, err := NewClient(cfg); err == nil || !strings.Contains(err.Error(), "/48../64") {
			t.Errorf("hint %d: NewClient error %v, want one naming /48../64", bad, err)
		}
	}
}

// WPD-3: the router takes whatever size the server delegates (the hint is
// only a hint), within /32../64.
func TestRFC7084_WPD3_AcceptsDelegatedSizeOtherThanHint(t *testing.T) {
	for _, tc := range []struct {
		give string
		ok   bool
	}{
		{"2001:db8::/32", true},
		{"2001:db8:1::/48", true},
		{"2001:db8:1:1000::/52", true},
		{"2001:db8:1:1f0::/60", true},
		{"2001:db8:1:1fc::/62", true},
		{"2001:db8:1:1ff::/64", true},
		{"2001:db8:1:1ff:8000::/65", false},
		{"2001:db0::/31", false},
	} {
		srv := newISP(t, "isp", 1)
		srv.prefix = netip.MustParsePrefix(tc.give)
		s := newSim(t, testConfig(t), srv).start()
		s.advance(10 * time.Second)
		if got := s.m.lease != nil; got != tc.ok {
			t.Errorf("delegated %v: lease held %v, want %v", tc.give, got, tc.ok)
			continue
		}
		if tc.ok && s.m.lease.Prefix.String() != tc.give {
			t.Errorf("delegated %v: holds %v", tc.give, s.m.lease.Prefix)
		}
		if !tc.ok && s.counters().BadItems == 0 {
			t.Errorf("delegated %v: refused without counting it", tc.give)
		}
	}
}

// WPD-6: asking for an address and a prefix, the router takes a prefix
// offered without an address.
func TestRFC7084_WPD6_PrefixWithoutAddressIsTaken(t *testing.T) {
	srv := newISP(t, "isp", 1)
	srv.address = netip.Addr{} // NoAddrsAvail in the IA_NA
	cfg := testConfig(t)
	cfg.RequestAddress = true
	s := newSim(t, cfg, srv).start()
	l := s.bound()
	if l.Prefix != ispPrefix || l.Address.IsValid() {
		t.Errorf("lease %v, want %v and no address", l, ispPrefix)
	}
}

// WAA-6 (an IA_NA requested) together with W-4: with an address asked
// for, IA_NA and IA_PD travel in the same messages (one DHCPv6 session),
// and both are held.
func TestRFC7084_WAA6_AddressAndPrefixInOneSession(t *testing.T) {
	srv := newISP(t, "isp", 1)
	cfg := testConfig(t)
	cfg.RequestAddress = true
	s := newSim(t, cfg, srv).start()
	l := s.bound()
	s.until(func() bool { return len(s.sends(d6.MessageTypeRenew)) > 0 }, 2*time.Hour)
	for _, x := range s.log {
		_, pd := iaPD(x.msg)
		if !pd || x.msg.Options.OneIANA() == nil {
			t.Errorf("%v lacks IA_PD or IA_NA", x)
		}
	}
	if l.Address != ispAddr || l.AddressValid != 2*time.Hour {
		t.Errorf("lease %v, want address %v valid 2h", l, ispAddr)
	}
	renew := s.sends(d6.MessageTypeRenew)[0].msg
	if a := renew.Options.OneIANA().Options.OneAddress(); a == nil || !a.IPv6Addr.Equal(net.IP(ispAddr.AsSlice())) {
		t.Errorf("Renew's IA_NA %v, want %v", renew.Options.OneIANA(), ispAddr)
	}
}

// W-5: the DUID persists: the same across restarts and when the WAN
// adapter (its MAC) changes, and it is made from the WAN MAC the first
// time: DUID-LL by default, DUID-LLT if asked.
func TestRFC7084_W5_PersistentDUID(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.StateDir = dir
	s := newSim(t, cfg, newISP(t, "isp", 1)).start()
	s.bound()
	want := append([]byte{0, 3, 0, 1}, clientMAC...)
	if !bytes.Equal(s.c.duid, want) {
		t.Fatalf("DUID %x, want DUID-LL %x", s.c.duid, want)
	}
	if cid := s.log[0].msg.GetOneOption(d6.OptionClientID); !bytes.Equal(cid.ToBytes(), want) {
		t.Errorf("Client Identifier %x, want %x", cid.ToBytes(), want)
	}
	file, err := os.ReadFile(filepath.Join(dir, DUIDFileName))
	if err != nil || strings.TrimSpace(string(file)) != hex.EncodeToString(want) {
		t.Fatalf("DUID file %q (%v), want %x", file, err, want)
	}

	// A new adapter: the stored DUID stays, so the ISP sees the same
	// client.
	cfg2 := testConfig(t)
	cfg2.StateDir = dir
	cfg2.HWAddr = net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	cfg2.DUIDType = DUIDLLT
	s2 := newSim(t, cfg2, newISP(t, "isp", 1)).start()
	if !bytes.Equal(s2.c.duid, want) {
		t.Errorf("after an adapter change DUID %x, want the stored %x", s2.c.duid, want)
	}
	if st := s2.c.Status(); !bytes.Equal(st.DUID, want) {
		t.Errorf("Status().DUID %x", st.DUID)
	}

	// Without a state directory: DUID-LL of the MAC, the same every time.
	cfg3 := testConfig(t)
	cfg3.StateDir = ""
	s3 := newSim(t, cfg3).start()
	if !bytes.Equal(s3.c.duid, want) {
		t.Errorf("without storage DUID %x, want %x", s3.c.duid, want)
	}

	// DUID-LLT: type 1, hardware type 1, seconds since 2000, the MAC.
	cfg4 := testConfig(t)
	cfg4.DUIDType = DUIDLLT
	s4 := newSim(t, cfg4).start()
	d := s4.c.duid
	if len(d) != 14 || binary.BigEndian.Uint16(d) != 1 || binary.BigEndian.Uint16(d[2:]) != 1 ||
		binary.BigEndian.Uint32(d[4:]) != uint32(epoch.Sub(duidEpoch)/time.Second) || !bytes.Equal(d[8:], clientMAC) {
		t.Errorf("DUID-LLT %x", d)
	}

	// A damaged DUID file is replaced (and said so), not used.
	os.WriteFile(filepath.Join(dir, DUIDFileName), []byte("zz\n"), 0o600)
	s5 := newSim(t, cfg, newISP(t, "isp", 1)).start()
	if !bytes.Equal(s5.c.duid, want) || !strings.Contains(strings.Join(s5.logs, "\n"), "ignoring the stored DUID") {
		t.Errorf("damaged DUID file: DUID %x, logs %q", s5.c.duid, s5.logs)
	}
}

// W-2 (the part that is the client's): messages go from the WAN port's
// EUI-64 link-local address. (DAD before the first one is routerd's, next
// round.)
func TestRFC7084_W2_SendsFromEUI64LinkLocal(t *testing.T) {
	var frames [][]byte
	fc := NewFrameConn(clientMAC, func(f []byte) error { frames = append(frames, bytes.Clone(f)); return nil }, nil)
	cfg := testConfig(t)
	cfg.Transport = fc
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ensureDUID()
	m := newMachine(c, func(Event) {})
	m.enterSoliciting(epoch)
	if len(frames) != 1 {
		t.Fatalf("%d frames", len(frames))
	}
	want := netip.MustParseAddr("fe80::5eff:fe00:1") // 02:00:5e → 00:00:5e (U/L bit flipped), ff:fe inserted
	if got := netip.AddrFrom16([16]byte(frames[0][22:38])); got != want || fc.LocalAddr() != want {
		t.Errorf("source %v (LocalAddr %v), want %v", got, fc.LocalAddr(), want)
	}
}

// WAA-4: DNS servers (OPTION_DNS_SERVERS) and the domain search list
// (OPTION_DOMAIN_LIST) are asked for and reported with the prefix; only
// usable ones, at most MaxDNS and MaxDomains.
func TestRFC7084_WAA4_DNSServersAndDomainList(t *testing.T) {
	srv := newISP(t, "isp", 1)
	many := []netip.Addr{netip.MustParseAddr("fe80::53"), netip.MustParseAddr("ff02::fb"), netip.MustParseAddr("::1")}
	for i := range 12 {
		many = append(many, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	srv.dns = many
	srv.domains = []string{"isp.example", "bad domain", "semi;colon.example", "b.example", "c.example", "d.example", "e.example", "f.example", "g.example", "h.example", "i.example"}
	s := newSim(t, testConfig(t), srv).start()
	l := s.bound()
	if len(l.DNS) != MaxDNS || l.DNS[0] != many[3] {
		t.Errorf("DNS %v, want the first %d global ones", l.DNS, MaxDNS)
	}
	for _, a := range l.DNS {
		if !globalOrULA(a) {
			t.Errorf("DNS %v kept", a)
		}
	}
	wantDomains := []string{"isp.example", "b.example", "c.example", "d.example", "e.example", "f.example", "g.example", "h.example"}
	if !slices.Equal(l.Domains, wantDomains) {
		t.Errorf("domains %q, want %q", l.Domains, wantDomains)
	}
	oro := s.log[0].msg.Options.RequestedOptions()
	for _, o := range []d6.OptionCode{d6.OptionDNSRecursiveNameServer, d6.OptionDomainSearchList} {
		if !slices.Contains(oro, o) {
			t.Errorf("Solicit's ORO %v lacks %v", oro, o)
		}
	}
}

// WAA-8: SOL_MAX_RT is asked for and obeyed, within RFC 8415's bounds.
func TestRFC7084_WAA8_SolMaxRT(t *testing.T) {
	for _, tc := range []struct {
		value uint32
		want  time.Duration
	}{{120, 120 * time.Second}, {59, SolMaxRT}, {86401, SolMaxRT}, {86400, 86400 * time.Second}} {
		srv := newISP(t, "isp", 1)
		srv.noPrefix = true // Advertises without a prefix: ignored, but SOL_MAX_RT counts
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, tc.value)
		srv.extra = []d6.Option{&d6.OptionGeneric{OptionCode: d6.OptionSolMaxRT, OptionData: v}}
		s := newSim(t, testConfig(t), srv).start()
		s.advance(3 * time.Hour)
		if s.m.solMaxRT != tc.want {
			t.Errorf("SOL_MAX_RT %d: client uses %v, want %v", tc.value, s.m.solMaxRT, tc.want)
		}
		sol := s.sends(d6.MessageTypeSolicit)
		last := sol[len(sol)-1].at.Sub(sol[len(sol)-2].at)
		if lo, hi := tc.want*9/10, tc.want*11/10; tc.want < 3*time.Hour && (last < lo || last > hi) {
			t.Errorf("SOL_MAX_RT %d: Solicits %v apart at the ceiling, want %v±10%%", tc.value, last, tc.want)
		}
		if !slices.Contains(sol[0].msg.Options.RequestedOptions(), d6.OptionSolMaxRT) {
			t.Errorf("ORO lacks SOL_MAX_RT")
		}
	}
}
