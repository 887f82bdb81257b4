package lab

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every case is complete and named once; Select keeps the order asked
// and refuses unknown names.
func TestCases(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases {
		if c.Name == "" || c.What == "" || c.Run == nil {
			t.Errorf("case %+v is incomplete", c)
		}
		if seen[c.Name] {
			t.Errorf("case %s twice", c.Name)
		}
		seen[c.Name] = true
		if c.RouterdOnly && c.KernelExpected != "" {
			t.Errorf("%s: routerd-only with a kernel expectation", c.Name)
		}
	}
	cs, err := Select([]string{"wireguard", "raw-esp"})
	if err != nil || len(cs) != 2 || cs[0].Name != "wireguard" || cs[1].Name != "raw-esp" {
		t.Errorf("Select = %v, %v", CaseNames(cs), err)
	}
	if _, err := Select([]string{"raw-esp", "gre"}); err == nil || !strings.Contains(err.Error(), "gre") {
		t.Errorf("Select of an unknown case: %v", err)
	}
}

// renderString renders template name with data.
func renderString(t *testing.T, name string, data any) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := render(p, name, data); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	return string(b)
}

// The templates give each peer its own settings and share the rest.
func TestTemplates(t *testing.T) {
	srv, cl := ikev2Conns(rekey{IKE: "40s", Child: "25s"}, v4)
	l2srv, l2cl := l2tpConns()
	lsrv, lcl := lswConfigs("no", "yes", v4)
	tests := []struct {
		name     string
		data     any
		want     []string
		dontWant []string
	}{
		{"swanctl.conf", cl(lanClients[1]), []string{"local_addrs = 192.168.1.11", "remote_addrs = 203.0.113.1", "id = server.lab",
			"\n        rekey_time = 40s", "rekey_time = 25s", "life_time = 0", "local_ts = 10.99.2.10/32"}, []string{"mode = transport"}},
		{"swanctl.conf", srv, []string{"srv {", "remote_ts = 10.99.0.0/16", "remote {\n            auth = psk\n        }"}, []string{"remote_addrs", "rekey_time"}},
		{"swanctl.conf", l2cl(lanClients[1]), []string{"version = 1", "mode = transport", "local_ts = dynamic[udp/1702]", "esp_proposals = aes128-sha256\n"}, nil},
		{"swanctl.conf", l2srv, []string{"remote_ts = dynamic[udp]\n"}, []string{"remote_addrs"}},
		{"ipsec.conf", lsrv, []string{"ikev1-policy=accept", "conn c1\n", "conn c2\n", "rightid=@c2.lab", "encapsulation=yes", "ikev2=no"}, []string{"retransmit-timeout"}},
		{"ipsec.conf", lcl[0], []string{"conn c\n", "left=192.168.1.10", "rightsubnet=172.16.0.0/24", "retransmit-timeout=30s"}, []string{"conn c1"}},
		{"ppp.options", pppOptions{Role: "pptpd", Log: "/x.log"}, []string{"name pptpd\n", "require-mppe-128", "lcp-echo-interval 0\nlogfile /x.log\n"}, []string{"noccp"}},
		{"ppp.options", pppOptions{Role: "lac", User: "u", Log: "/y.log"}, []string{"name u\nnoauth\n", "noipdefault"}, []string{"require-chap"}},
		{"xl2tpd.conf", xl2tpdConf{LNS: true, Port: 1701, PPPOptions: "/o"}, []string{"listen-addr = 203.0.113.1", "[lns default]", "pppoptfile = /o"}, []string{"[lac t]"}},
		{"xl2tpd.conf", xl2tpdConf{Port: 1702, User: "u", PPPOptions: "/o"}, []string{"port = 1702", "[lac t]", "name = u", "redial = yes"}, []string{"listen-addr"}},
		{"openvpn.conf", openvpnConf{Server: true, Cert: "/s.crt", Key: "/s.key", Peers: []string{"AA", "BB"}}, []string{"server 10.8.0.0", "<peer-fingerprint>\nAA\nBB\n</peer-fingerprint>", "keepalive"}, []string{"lport"}},
		{"openvpn.conf", openvpnConf{Cert: "/c.crt", Key: "/c.key", Peers: []string{"CC"}}, []string{"client\n", "lport 1194", "peer-fingerprint CC\n", "explicit-exit-notify 1"}, []string{"keepalive"}},
		{"strongswan.conf", map[string]string{"Vici": "/v", "Log": "/l"}, []string{"socket = unix:///v", "path = /l"}, nil},
		{"passgate.conf", nil, []string{"set passthrough ipsec esp-mode spi-learning"}, nil},
		{"kernel-nat.nft", nil, []string{"masquerade", `ct helper set "pptp"`}, nil},
		{"pptpd.conf", map[string]string{"Options": "/o"}, []string{"option /o\n", "remoteip 192.168.50.10-30"}, nil},
	}
	for _, tt := range tests {
		out := renderString(t, tt.name, tt.data)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", tt.name, w, out)
			}
		}
		for _, w := range tt.dontWant {
			if strings.Contains(out, w) {
				t.Errorf("%s has %q:\n%s", tt.name, w, out)
			}
		}
	}
	if err := render(filepath.Join(t.TempDir(), "x"), "pptpd.conf", map[string]string{}); err == nil {
		t.Error("a template renders with a missing key")
	}
}

func TestParseBlocked(t *testing.T) {
	show := `Protocol  Switch    Mode
pptp      disabled  -
  out 0/0 B  in 0/0 B  blocked 5  unmatched 0  created 0  expired 0
l2tp      enabled   -
  out 2/100 B  in 0/0 B  blocked 6  unmatched 0  created 1  expired 0
ipsec     enabled   spi-learning
  out 0/0 B  in 0/0 B  blocked 0  unmatched 0  created 0  expired 0
`
	for _, tt := range []struct {
		proto string
		n     int
		ok    bool
	}{{"pptp", 5, true}, {"l2tp", 6, true}, {"ipsec", 0, true}, {"gre", 0, false}} {
		n, ok := parseBlocked(show, tt.proto)
		if n != tt.n || ok != tt.ok {
			t.Errorf("parseBlocked(%s) = %d, %v; want %d, %v", tt.proto, n, ok, tt.n, tt.ok)
		}
	}
}

func TestConntrackCounters(t *testing.T) {
	s := "cpu=0 found=0 invalid=3 insert=0 insert_failed=2 drop=2 early_drop=0 error=0\n" +
		"cpu=1 found=1 invalid=0 insert=0 insert_failed=3 drop=4 early_drop=1 error=0\n"
	if f, d := conntrackCounters(s); f != 5 || d != 6 {
		t.Errorf("conntrackCounters = %d, %d; want 5, 6", f, d)
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines("a\nb\nc\n", 2); got != "b\nc\n" {
		t.Errorf("tailLines = %q", got)
	}
	if got := headLines("a\nb\nc\n", 2); got != "a\nb\n" {
		t.Errorf("headLines = %q", got)
	}
}

// The logs kept are the regular files; FIFOs (xl2tpd's control) are left.
func TestCopyFiles(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.log"), []byte("a"), 0o600)
	os.WriteFile(filepath.Join(src, "sub", "b.conf"), []byte("b"), 0o600)
	if err := syscall.Mkfifo(filepath.Join(src, "ctl"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := copyFiles(src, dst); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a.log": "a", "sub/b.conf": "b"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "ctl")); err == nil {
		t.Error("the FIFO was copied")
	}
}

// saSummary names each SA by its ends and marks the UDP-encapsulated ones.
func TestSASummary(t *testing.T) {
	state := `src 2600:1:0:1::10 dst 2600:2::1
	proto esp spi 0xc1a2b3c4 reqid 1 mode tunnel
	replay-window 0 flag af-unspec
src 10.0.2.1 dst 192.0.2.1
	proto esp spi 0x0000abcd reqid 2 mode tunnel
	encap type espinudp sport 4500 dport 4500 addr 0.0.0.0
`
	want := "2600:1:0:1::10>2600:2::1 10.0.2.1>192.0.2.1+udp"
	if got := saSummary(state); got != want {
		t.Errorf("saSummary = %q, want %q", got, want)
	}
	if got := saSummary(""); got != "no SA" {
		t.Errorf("saSummary of nothing = %q", got)
	}
}

// The qos case's limits, and what sends a phase back for another try:
// only a failing phase measured while the VM's wake-ups were late.
func TestJudgeQoS(t *testing.T) {
	idle := 3 * time.Millisecond
	good := qosPhase{rttMed: 8 * time.Millisecond, up: 2.0, vpn: 2.0, down: 8.0, late90: time.Millisecond}
	for _, c := range []struct {
		name  string
		p     func(qosPhase) qosPhase
		fails string // what the verdict names; "" passes
	}{
		{"within the limits", func(p qosPhase) qosPhase { return p }, ""},
		{"ping", func(p qosPhase) qosPhase { p.rttMed = 14 * time.Millisecond; return p }, "ping gained 11.0 ms"},
		{"vpn", func(p qosPhase) qosPhase { p.vpnLoss = 2.5; return p }, "VPN stream lost more than 2%"},
		{"upload", func(p qosPhase) qosPhase { p.up, p.vpn = 0.9, 2.0; return p }, "underused"},
		{"download", func(p qosPhase) qosPhase { p.down = 6.0; return p }, "underused"},
	} {
		p := c.p(good)
		got := judgeQoS(idle, p)
		if (c.fails == "") != (got == "") || !strings.Contains(got, c.fails) {
			t.Errorf("%s: verdict %q, want one naming %q", c.name, got, c.fails)
		}
		if remeasure(idle, p) {
			t.Errorf("%s: measured again though the VM woke sleepers in time", c.name)
		}
		busy := p
		busy.late90 = 6 * time.Millisecond // a busy host, seen by the lab's sleeper
		if again := remeasure(idle, busy); again != (c.fails != "") {
			t.Errorf("%s on a busy host: measured again %v, want %v (only a failure is)", c.name, again, c.fails != "")
		}
		busy = p
		busy.own = &shaperStats{lateUp: loadTime / 5} // seen by routerd's sender
		if again := remeasure(idle, busy); again != (c.fails != "") {
			t.Errorf("%s with routerd's sender late: measured again %v, want %v (only a failure is)", c.name, again, c.fails != "")
		}
		busy.own = &shaperStats{lateUp: loadTime / 10, lateDown: loadTime / 10}
		if remeasure(idle, busy) {
			t.Errorf("%s: measured again with routerd's sender late for 10 %% of the phase", c.name)
		}
	}
}

// The case reads routerd's own shaper counters from show qos as the
// shell prints them.
func TestParseShowQoS(t *testing.T) {
	out := `Upload (wan): shaped at 4500kbit, 0B queued, longest wait 4.2ms
  line time lost to late sends: 1.234s
  Tier      Packets  Bytes   Queued  CoDel drops  ECN marks  Limit drops
  priority  1200     480.0K  0       7            0          5
  normal    98000    140.0M  30      41           17         0
Download (lan): shaped at 9mbit, 45.0KB queued, longest wait 4.2ms
  line time lost to late sends: 12ms
  Tier      Packets  Bytes   Queued  CoDel drops  ECN marks  Limit drops
  priority  1200     480.0K  0       100          0          100
  normal    98000    140.0M  30      41           17         0
Priority tier: VPN tunnels (IPsec, PPTP, L2TP, OpenVPN, WireGuard), DNS, bare ACKs.
`
	st, err := parseShowQoS(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (shaperStats{1234 * time.Millisecond, 12 * time.Millisecond, 12}); st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	if _, err := parseShowQoS("QoS is off: set qos upload and download a little below the line's.\n"); err == nil {
		t.Error("no shaped directions read without an error")
	}
}
