package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func words(cands []Candidate) []string {
	var out []string
	for _, c := range cands {
		out = append(out, c.Word)
	}
	return out
}

func TestComplete(t *testing.T) {
	tests := []struct {
		in   string // words, "|" marks the empty word being typed
		want []string
	}{
		{"|", []string{"system", "interfaces", "dhcp-server", "nat", "firewall", "qos", "passthrough", "dns", "service"}},
		{"s|", []string{"system", "service"}},
		{"nat t|", []string{"timeout"}},
		{"nat timeout |", []string{"udp", "tcp-established", "tcp-transitory", "icmp", "gre", "esp"}},
		{"nat timeout udp |", []string{"<SECONDS>"}},
		{"nat timeout udp 300 |", []string{"<Enter>"}},
		{"nat hairpin |", []string{"enable", "disable"}},
		{"nat hairpin d|", []string{"disable"}},
		{"nat mss-clamp |", []string{"auto", "disable", "<536-9000>"}},
		{"nat mss-clamp 14|", []string{"<536-9000>"}},
		{"passthrough ipsec |", []string{"esp-mode", "ike-share-port", "enable", "disable"}},
		{"passthrough ipsec e|", []string{"esp-mode", "enable"}},
		{"nat port-forward |", []string{"<NAME>"}},
		{"nat port-forward web |", []string{"protocol", "port", "to"}},
		{"nat port-forward web port 80 |", []string{"protocol", "to", "<Enter>"}},
		// Right after "to A.B.C.D", "port" is the internal port.
		{"nat port-forward web to 192.168.1.10 |", []string{"port", "protocol", "<Enter>"}},
		{"nat port-forward web protocol tcp port 80 to 192.168.1.10 port 80 |", []string{"<Enter>"}},
		{"dhcp-server lan range 192.168.1.100 |", []string{"<A.B.C.D>"}},
		{"service ssh authorized-key k |", []string{`<"KEY">`}},
		// Abbreviations before the cursor are resolved.
		{"n po w t 1.2.3.4 p|", []string{"port", "protocol"}},
		// An invalid earlier word gives nothing.
		{"nope |", nil},
		{"nat max|", []string{"max-sessions", "max-sessions-per-host"}},
	}
	for _, tt := range tests {
		s := strings.TrimSuffix(tt.in, "|")
		w := strings.Fields(s)
		if s == "" || strings.HasSuffix(s, " ") {
			w = append(w, "")
		}
		got := words(Complete(w))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Complete(%q) = %q, want %q", w, got, tt.want)
		}
	}
}

func TestCompleteHelpAndKinds(t *testing.T) {
	got := Complete([]string{"nat", "filtering", ""})
	want := []Candidate{
		{"endpoint-independent", "any remote host may send to a mapping (most open)", Value},
		{"address-dependent", "only hosts the LAN side has sent to (default)", Value},
		{"address-port-dependent", "only the exact host and port sent to (strictest)", Value},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	for _, c := range Complete([]string{""}) {
		if c.Kind != Keyword || c.Help == "" {
			t.Errorf("top-level candidate %+v should be a keyword with help", c)
		}
	}
	// Every keyword of the schema has one-line help.
	var check func(n *node)
	check = func(n *node) {
		for _, ch := range append(append([]*node{}, n.children...), n.then...) {
			if ch.help == "" || strings.Contains(ch.help, "\n") {
				t.Errorf("keyword %q needs one line of help", ch.word)
			}
			check(ch)
		}
	}
	check(schema)
}

func TestCompleteWithConfig(t *testing.T) {
	c := mustParse(t, "set nat port-forward web port 80\nset nat port-forward ssh port 22\nset dhcp-server lan dns 192.168.1.1")
	got := words(CompleteWith(c, ModeDelete, []string{"nat", "port-forward", ""}))
	if want := []string{"ssh", "web", "<Enter>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delete names: got %q want %q", got, want)
	}
	got = words(CompleteWith(c, ModeDelete, []string{"nat", "port-forward", "w"}))
	if want := []string{"web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delete names with prefix: got %q want %q", got, want)
	}
	got = words(CompleteWith(c, ModeSet, []string{"nat", "port-forward", ""}))
	if want := []string{"ssh", "web", "<NAME>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("set names: got %q want %q", got, want)
	}
	got = words(CompleteWith(c, ModeDelete, []string{"dhcp-server", "lan", "dns", ""}))
	if want := []string{"192.168.1.1", "<A.B.C.D>", "<Enter>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delete dns: got %q want %q", got, want)
	}
	got = words(CompleteWith(c, ModeDelete, []string{"nat", "port-forward", "web", "to", ""}))
	if want := []string{"port", "<Enter>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("delete clause: got %q want %q", got, want)
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"n hai e", "nat hairpin enable"},
		{"sys host x", "system hostname x"},
		{"n po web pro tcp-u po 80 t 192.168.1.1 po 8080", "nat port-forward web protocol tcp-udp port 80 to 192.168.1.1 port 8080"},
		{"n po web pro tcp", "nat port-forward web protocol tcp"}, // exact match wins over tcp-udp
		{"p ipsec esp si", "passthrough ipsec esp-mode single-client"},
		{"n mss a", "nat mss-clamp auto"},
		{"n mss 1400", "nat mss-clamp 1400"},
		{"int lan", "interfaces lan"}, // incomplete is fine for Expand
		{"n t udp notchecked", "nat timeout udp notchecked"},
	}
	for _, tt := range tests {
		got, err := Expand(strings.Fields(tt.in))
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	errs := []struct {
		in    string
		index int
		msg   string
	}{
		{"n m", 1, `"m" is ambiguous; it could be mss-clamp, max-sessions or max-sessions-per-host`},
		{"nat bogus", 1, `"bogus" is not valid here; use one of: filtering, timeout, hairpin, mss-clamp, port-forward, dmz, max-sessions, max-sessions-per-host`},
		{"nat hairpin maybe", 2, `"maybe" is not valid here; use one of: enable, disable`},
		{"nat hairpin enable extra", 3, `unexpected "extra"; the command is complete after "enable"`},
	}
	for _, tt := range errs {
		_, err := Expand(strings.Fields(tt.in))
		var e *Error
		if !errors.As(err, &e) || e.Index != tt.index || e.Msg != tt.msg {
			t.Errorf("Expand(%q): got %#v, want index %d msg %q", tt.in, err, tt.index, tt.msg)
		}
	}
	got, err := ExpandDelete(strings.Fields("n po web t po"))
	if err != nil || strings.Join(got, " ") != "nat port-forward web to port" {
		t.Errorf("ExpandDelete: %q, %v", got, err)
	}
}

func TestSetErrorIndexAndAtomicity(t *testing.T) {
	c := Default()
	before := c.Clone()
	tests := []struct {
		cmd   string
		index int
		msg   string
	}{
		{"nat port-forward web protocol tcp port 80 to 192.168.1.300", 8, `"192.168.1.300" is not an IPv4 address; use four numbers 0-255 like 192.168.1.10`},
		{"nat timeout", 2, `incomplete command after "timeout"; give one of: udp, tcp-established, tcp-transitory, icmp, gre, esp`},
		{"interfaces lan mtu 1400 1500", 4, `unexpected "1500"; the command is complete after "1400"`},
	}
	for _, tt := range tests {
		err := c.Set(strings.Fields(tt.cmd))
		var e *Error
		if !errors.As(err, &e) || e.Index != tt.index || e.Msg != tt.msg || e.Line != 0 {
			t.Errorf("Set(%q): got %#v, want index %d msg %q", tt.cmd, err, tt.index, tt.msg)
		}
		if want := "word " + string(rune('1'+tt.index)) + ": " + tt.msg; err.Error() != want {
			t.Errorf("Set(%q).Error() = %q, want %q", tt.cmd, err, want)
		}
		if !c.Equal(before) {
			t.Fatalf("Set(%q) changed the config on error", tt.cmd)
		}
	}
	// An error found while applying (too many dns servers) also changes nothing.
	for _, d := range []string{"1.1.1.1", "1.0.0.1", "9.9.9.9"} {
		if err := c.Set([]string{"dhcp-server", "lan", "dns", d}); err != nil {
			t.Fatal(err)
		}
	}
	before = c.Clone()
	if err := c.Set([]string{"dhcp-server", "lan", "dns", "8.8.8.8"}); err == nil {
		t.Fatal("fifth dns server accepted")
	}
	if !c.Equal(before) {
		t.Fatal("failed Set changed the config")
	}
	// Set is idempotent.
	if err := c.Set([]string{"dhcp-server", "lan", "dns", "1.1.1.1"}); err != nil || !c.Equal(before) {
		t.Fatalf("repeating a dns server: %v", err)
	}
}

func TestSetMergesEntryClauses(t *testing.T) {
	c := New()
	for _, cmd := range []string{
		"nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80",
		"nat port-forward web to 192.168.1.11", // keeps the internal port
		"nat port-forward web port 8081",
	} {
		if err := c.Set(strings.Fields(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	want := []PortForward{{"web", ProtoTCP, PortRange{8081, 8081}, addr("192.168.1.11"), PortRange{80, 80}}}
	if !reflect.DeepEqual(c.NAT.PortForwards, want) {
		t.Fatalf("got %+v", c.NAT.PortForwards)
	}
}

func TestDelete(t *testing.T) {
	base := `set system hostname r1
set interfaces lan mtu 1400
set interfaces wan dns 9.9.9.9
set interfaces wan dns 1.1.1.1
set dhcp-server lan static a mac 02:00:00:00:00:01 ip 192.168.1.5
set nat timeout udp 100
set nat timeout icmp 100
set nat hairpin disable
set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80
set nat port-forward ssh protocol tcp port 2222
set passthrough ipsec disable
set passthrough ipsec esp-mode single-client
set service ssh authorized-key k "` + keyLaptop + `"
`
	tests := []struct {
		cmd  string
		gone []string // lines that disappear
		add  []string // lines that appear
	}{
		{"system hostname", []string{"set system hostname r1"}, nil},
		{"sys", []string{"set system hostname r1"}, nil},
		{"interfaces", []string{"set interfaces lan mtu 1400", "set interfaces wan dns 9.9.9.9", "set interfaces wan dns 1.1.1.1"}, nil},
		{"interfaces wan dns 9.9.9.9", []string{"set interfaces wan dns 9.9.9.9"}, nil},
		{"interfaces wan dns", []string{"set interfaces wan dns 9.9.9.9", "set interfaces wan dns 1.1.1.1"}, nil},
		{"nat timeout", []string{"set nat timeout udp 100", "set nat timeout icmp 100"}, nil},
		{"nat timeout icmp", []string{"set nat timeout icmp 100"}, nil},
		{"nat port-forward", []string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80", "set nat port-forward ssh protocol tcp port 2222"}, nil},
		{"nat port-forward web", []string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80"}, nil},
		{"nat port-forward web to port", []string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80"},
			[]string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10"}},
		{"nat port-forward web to", []string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80"},
			[]string{"set nat port-forward web protocol tcp port 8080"}},
		{"nat port-forward web protocol", []string{"set nat port-forward web protocol tcp port 8080 to 192.168.1.10 port 80"},
			[]string{"set nat port-forward web port 8080 to 192.168.1.10 port 80"}},
		{"dhcp-server lan static a ip", []string{"set dhcp-server lan static a mac 02:00:00:00:00:01 ip 192.168.1.5"},
			[]string{"set dhcp-server lan static a mac 02:00:00:00:00:01"}},
		{"passthrough ipsec", []string{"set passthrough ipsec disable", "set passthrough ipsec esp-mode single-client"}, nil},
		{"passthrough ipsec esp-mode", []string{"set passthrough ipsec esp-mode single-client"}, nil},
		{"service ssh authorized-key k", []string{`set service ssh authorized-key k "` + keyLaptop + `"`}, nil},
		{"nat dmz", nil, nil}, // already default: no error, no change
	}
	for _, tt := range tests {
		c := mustParse(t, base)
		before := c.Commands()
		if err := c.Delete(strings.Fields(tt.cmd)); err != nil {
			t.Errorf("Delete(%q): %v", tt.cmd, err)
			continue
		}
		var want []string
		for _, l := range before {
			if !contains2(tt.gone, l) {
				want = append(want, l)
			}
		}
		for _, l := range tt.add {
			want = insertSorted(c, want, l)
		}
		if got := c.Commands(); !reflect.DeepEqual(got, want) {
			t.Errorf("Delete(%q):\ngot  %q\nwant %q", tt.cmd, got, want)
		}
	}
	// Deleting the last clause of an entry removes the entry.
	c := mustParse(t, "set nat port-forward x port 80")
	if err := c.Delete([]string{"nat", "port-forward", "x", "port"}); err != nil || c.NAT.PortForwards != nil {
		t.Errorf("last clause: %v, %+v", err, c.NAT.PortForwards)
	}
}

func contains2(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// insertSorted puts line where Commands would print it, using a fresh
// parse of the wanted lines as the reference.
func insertSorted(_ *Config, lines []string, line string) []string {
	ref, err := Parse(strings.Join(append(append([]string{}, lines...), line), "\n"))
	if err != nil {
		panic(err)
	}
	return ref.Commands()
}

func TestDeleteErrors(t *testing.T) {
	c := mustParse(t, "set nat port-forward web port 80\nset interfaces wan dns 9.9.9.9")
	before := c.Clone()
	tests := []struct {
		cmd   string
		index int
		msg   string
	}{
		{"", 0, "incomplete command; give one of: system, interfaces, dhcp-server, nat, firewall, qos, passthrough, dns, service"},
		{"nat port-forward nope", 2, `there is no port-forward named "nope"; existing: web`},
		{"service ssh authorized-key k", 3, `there is no authorized-key named "k"; existing: none`},
		{"interfaces wan dns 1.1.1.1", 3, "1.1.1.1 is not configured; configured: 9.9.9.9"},
		{"interfaces wan dns x", 3, `"x" is not an IPv4 address; use four numbers 0-255 like 192.168.1.10`},
		{"interfaces wan mtu 1500", 3, `unexpected "1500"; the command is complete after "mtu"`},
		{"passthrough ipsec enable", 2, `"enable" is not valid here; use one of: esp-mode, ike-share-port, or end the command`},
		{"nat port-forward web port 80", 4, `unexpected "80"; the command is complete after "port"`},
	}
	for _, tt := range tests {
		err := c.Delete(strings.Fields(tt.cmd))
		var e *Error
		if !errors.As(err, &e) || e.Index != tt.index || e.Msg != tt.msg {
			t.Errorf("Delete(%q): got %#v, want index %d msg %q", tt.cmd, err, tt.index, tt.msg)
		}
		if !c.Equal(before) {
			t.Fatalf("Delete(%q) changed the config on error", tt.cmd)
		}
	}
}
