package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// roundTrip checks Parse(Print(c)) == c and that printing again is
// byte-for-byte identical.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	text := c.String()
	back, err := Parse(text)
	if err != nil {
		t.Fatalf("printed configuration does not parse: %v\n%s", err, text)
	}
	if !back.Equal(c) {
		t.Fatalf("round trip changed the configuration:\n%s\ngot %+v\nwant %+v", text, back, c)
	}
	if again := back.String(); again != text {
		t.Fatalf("second print differs:\n%s\nvs\n%s", again, text)
	}
}

func TestDefaultGolden(t *testing.T) {
	golden(t, "default.golden", Default().String())
	roundTrip(t, Default())
}

func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile("testdata/example.conf")
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, string(data))
	golden(t, "example.golden", c.String())
	roundTrip(t, c)
	if errs, warns := c.Validate(); len(errs) != 0 || len(warns) != 0 {
		t.Errorf("example.conf should validate cleanly; errors %v, warnings %v", errs, warns)
	}
}

func TestNewPrintsNothing(t *testing.T) {
	if got := New().Commands(); len(got) != 0 {
		t.Fatalf("New().Commands() = %q, want nothing", got)
	}
	if got := New().String(); got != Header+"\n" {
		t.Fatalf("New().String() = %q", got)
	}
	roundTrip(t, New())
}

// TestCommandsOrder: schema order, entries sorted by name whatever the
// order they were created in, one line per entry with clauses in schema
// order, multi values in the order given.
func TestCommandsOrder(t *testing.T) {
	c := New()
	for _, l := range []string{
		"service ssh port 2200",
		"nat port-forward zeta to 192.168.1.9 protocol udp port 9000",
		"nat port-forward alpha port 80 protocol tcp",
		"dhcp-server lan dns 192.168.1.3",
		"dhcp-server lan dns 192.168.1.2",
		"system hostname r1",
		"passthrough ipsec ike-share-port enable",
		"passthrough ipsec disable",
	} {
		if err := c.Set(strings.Fields(l)); err != nil {
			t.Fatalf("Set %s: %v", l, err)
		}
	}
	want := []string{
		"set system hostname r1",
		"set dhcp-server lan dns 192.168.1.3",
		"set dhcp-server lan dns 192.168.1.2",
		"set nat port-forward alpha protocol tcp port 80",
		"set nat port-forward zeta protocol udp port 9000 to 192.168.1.9",
		"set passthrough ipsec disable",
		"set passthrough ipsec ike-share-port enable",
		"set service ssh port 2200",
	}
	if got := c.Commands(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	roundTrip(t, c)
}

// leafSamples holds one canonical command for every settable path of the
// schema. TestEveryLeafPrints fails when a leaf is added to the schema
// without a sample here.
var leafSamples = map[string]string{
	"system hostname":                    "set system hostname r1",
	"system time-zone":                   "set system time-zone Europe/Berlin",
	"system admin password-hash":         `set system admin password-hash "` + hash6 + `"`,
	"system console login":               "set system console login enable",
	"system flow-offload":                "set system flow-offload enable",
	"system update commit-after":         "set system update commit-after 5m",
	"interfaces lan device":              "set interfaces lan device eth9",
	"interfaces lan address":             "set interfaces lan address 10.1.2.3/16",
	"interfaces lan mtu":                 "set interfaces lan mtu 9000",
	"interfaces wan device":              "set interfaces wan device wan0",
	"interfaces wan mode":                "set interfaces wan mode static",
	"interfaces wan address":             "set interfaces wan address 198.51.100.2/29",
	"interfaces wan gateway":             "set interfaces wan gateway 198.51.100.1",
	"interfaces wan mtu":                 "set interfaces wan mtu 1492",
	"interfaces wan vlan":                "set interfaces wan vlan 7",
	"interfaces wan vlan priority":       "set interfaces wan vlan priority 5",
	"interfaces wan pppoe username":      `set interfaces wan pppoe username "user@isp.example"`,
	"interfaces wan pppoe password":      `set interfaces wan pppoe password "s3cret pass"`,
	"interfaces wan pppoe service-name":  `set interfaces wan pppoe service-name "internet"`,
	"interfaces wan pppoe ac-name":       `set interfaces wan pppoe ac-name "BRAS-1"`,
	"interfaces wan pppoe jumbo":         "set interfaces wan pppoe jumbo enable",
	"interfaces wan pppoe echo-interval": "set interfaces wan pppoe echo-interval 20",
	"interfaces wan pppoe echo-failures": "set interfaces wan pppoe echo-failures 5",
	"interfaces wan dns":                 "set interfaces wan dns 9.9.9.9",
	"interfaces lan ipv6":                "set interfaces lan ipv6 disable",
	"interfaces lan ipv6 ula":            "set interfaces lan ipv6 ula fd12:3456:789a::/48",
	"interfaces lan ipv6 subnet-id":      "set interfaces lan ipv6 subnet-id 65535",
	"interfaces lan ipv6 dns":            "set interfaces lan ipv6 dns fe80::53",
	"interfaces lan ipv6 domain":         "set interfaces lan ipv6 domain home.arpa",
	"interfaces wan ipv6 mode":           "set interfaces wan ipv6 mode slaac",
	"interfaces wan ipv6 prefix-length":  "set interfaces wan ipv6 prefix-length 48",
	"interfaces wan ipv6 address":        "set interfaces wan ipv6 address 2600:1:2:3::2/64",
	"interfaces wan ipv6 gateway":        "set interfaces wan ipv6 gateway fe80::1",
	"interfaces wan ipv6 prefix":         "set interfaces wan ipv6 prefix 2600:1:2:100::/56",
	"interfaces wan ipv6 dns":            "set interfaces wan ipv6 dns 2620:fe::fe",
	"firewall ipv6 allow * protocol":     "set firewall ipv6 allow a1 protocol udp",
	"firewall ipv6 allow * port":         "set firewall ipv6 allow a1 port 6000-6010",
	"firewall ipv6 allow * to":           "set firewall ipv6 allow a1 to fd12:3456:789a:1::10",
	"firewall ipv6 inbound-ping":         "set firewall ipv6 inbound-ping disable",
	"firewall ipv6 inbound-ipsec":        "set firewall ipv6 inbound-ipsec disable",
	"firewall ipv6 transparent":          "set firewall ipv6 transparent enable",
	"firewall rule * order":              "set firewall rule block-tv order 10",
	"firewall rule * from":               "set firewall rule block-tv from 02:11:22:33:44:55",
	"firewall rule * to":                 "set firewall rule block-tv to wan",
	"firewall rule * protocol":           "set firewall rule block-tv protocol tcp-udp",
	"firewall rule * port":               "set firewall rule block-tv port 6000-6010",
	"firewall rule * icmp-type":          "set firewall rule no-ping icmp-type echo-request",
	"firewall rule * time":               "set firewall rule block-tv time 21:00-07:00",
	"firewall rule * days":               "set firewall rule block-tv days mon,tue,wed,thu,fri",
	"firewall rule * action":             "set firewall rule block-tv action drop",
	"firewall rule * log":                "set firewall rule block-tv log enable",
	"qos upload":                         "set qos upload 40mbit",
	"qos download":                       "set qos download 1500kbit",
	"qos priority * protocol":            "set qos priority stun protocol udp",
	"qos priority * port":                "set qos priority stun port 3478-3479",
	"firewall mac-filter mode":           "set firewall mac-filter mode deny",
	"firewall mac-filter device * mac":   "set firewall mac-filter device tv mac 02:11:22:33:44:55",
	"dhcp-server lan range":              "set dhcp-server lan range 10.1.0.10 10.1.0.20",
	"dhcp-server lan lease-time":         "set dhcp-server lan lease-time 1d1h1m1s",
	"dhcp-server lan dns":                "set dhcp-server lan dns 10.1.2.3",
	"dhcp-server lan static * mac":       "set dhcp-server lan static h1 mac 02:00:00:00:00:01",
	"dhcp-server lan static * ip":        "set dhcp-server lan static h1 ip 10.1.0.5",
	"nat filtering":                      "set nat filtering address-port-dependent",
	"nat timeout udp":                    "set nat timeout udp 100",
	"nat timeout tcp-established":        "set nat timeout tcp-established 86400",
	"nat timeout tcp-transitory":         "set nat timeout tcp-transitory 1",
	"nat timeout icmp":                   "set nat timeout icmp 604800",
	"nat timeout gre":                    "set nat timeout gre 3600",
	"nat timeout esp":                    "set nat timeout esp 30",
	"nat hairpin":                        "set nat hairpin disable",
	"nat mss-clamp":                      "set nat mss-clamp disable",
	"nat port-forward * protocol":        "set nat port-forward f1 protocol tcp-udp",
	"nat port-forward * port":            "set nat port-forward f1 port 1-65535",
	"nat port-forward * to":              "set nat port-forward f1 to 10.1.0.7",
	"nat port-forward * to port":         "set nat port-forward f1 to 10.1.0.7 port 22",
	"nat dmz":                            "set nat dmz 10.1.0.8",
	"nat max-sessions":                   "set nat max-sessions 16777216",
	"nat max-sessions-per-host":          "set nat max-sessions-per-host 1",
	"passthrough pptp":                   "set passthrough pptp disable",
	"passthrough l2tp":                   "set passthrough l2tp disable",
	"passthrough ipsec":                  "set passthrough ipsec disable",
	"passthrough ipsec esp-mode":         "set passthrough ipsec esp-mode single-client",
	"passthrough ipsec ike-share-port":   "set passthrough ipsec ike-share-port enable",
	"dns forwarder":                      "set dns forwarder disable",
	"dns upstream":                       "set dns upstream 2620:fe::fe",
	"dns domain":                         "set dns domain home.arpa",
	"dns tls-upstream * address":         "set dns tls-upstream quad9 address 9.9.9.9",
	"dns tls-upstream * server-name":     "set dns tls-upstream quad9 server-name dns.quad9.net",
	"dns tls-upstream * port":            "set dns tls-upstream quad9 port 8853",
	"dns host * address":                 "set dns host nas address 192.168.1.5",
	"dns host * ipv6":                    "set dns host nas ipv6 fd00::5",
	"dns rebind-protection":              "set dns rebind-protection disable",
	"dns rebind-allow":                   "set dns rebind-allow corp.example.com",
	"service ssh listen":                 "set service ssh listen wan",
	"service port-mapping":               "set service port-mapping enable",
	"service web":                        "set service web disable",
	"service ssh port":                   "set service ssh port 1",
	"service ssh authorized-key *":       `set service ssh authorized-key k.1 "` + keyPhone + `"`,
}

func leafPaths(n *node, prefix string, out *[]string) {
	p := strings.TrimSpace(prefix + " " + n.word)
	switch n.kind {
	case kContainer:
		for _, ch := range n.children {
			leafPaths(ch, p, out)
		}
	case kLeaf:
		*out = append(*out, p)
		for _, ch := range n.children {
			leafPaths(ch, p, out)
		}
		for _, ch := range n.then {
			leafPaths(ch, p, out)
		}
	case kMulti:
		*out = append(*out, p)
	case kTag:
		if n.leaf != nil {
			*out = append(*out, p+" *")
		}
		for _, ch := range n.children {
			leafPaths(ch, p+" *", out)
		}
	}
}

// TestEveryLeafPrints sets each leaf alone on New() and checks that the
// printer emits exactly that canonical line, that it parses back, and that
// deleting the path returns to New().
func TestEveryLeafPrints(t *testing.T) {
	var paths []string
	leafPaths(schema, "", &paths)
	for _, p := range paths {
		line, ok := leafSamples[p]
		if !ok {
			t.Errorf("schema leaf %q has no sample in leafSamples", p)
			continue
		}
		c := mustParse(t, line)
		if got := c.Commands(); len(got) != 1 || got[0] != line {
			t.Errorf("%s: printed %q, want exactly %q", p, got, line)
		}
		roundTrip(t, c)
		words := strings.Fields(strings.TrimPrefix(line, "set "))
		del := words[:len(strings.Fields(p))]
		if strings.HasSuffix(p, "to port") {
			del = []string{"nat", "port-forward", "f1", "to"}
		}
		for i, w := range strings.Fields(p) {
			if w == "*" {
				del[i] = words[i]
			}
		}
		if err := c.Delete(del); err != nil {
			t.Errorf("%s: delete %q: %v", p, del, err)
		} else if !c.Equal(New()) {
			t.Errorf("%s: delete %q left %q", p, del, c.Commands())
		}
	}
}

func TestCommandsUnder(t *testing.T) {
	c := mustParse(t, `set nat dmz 192.168.1.20
set nat port-forward web protocol tcp port 80 to 192.168.1.10
set nat port-forward webs protocol tcp port 443 to 192.168.1.10
set dhcp-server lan dns 192.168.1.1
set dhcp-server lan dns 192.168.1.2
`)
	tests := []struct {
		path []string
		want []string
	}{
		{nil, c.Commands()},
		{[]string{"nat", "port-forward", "web"}, []string{"set nat port-forward web protocol tcp port 80 to 192.168.1.10"}},
		{[]string{"n", "port"}, []string{"set nat port-forward web protocol tcp port 80 to 192.168.1.10", "set nat port-forward webs protocol tcp port 443 to 192.168.1.10"}},
		{[]string{"dhcp", "lan", "dns", "192.168.1.2"}, []string{"set dhcp-server lan dns 192.168.1.2"}},
		{[]string{"system"}, nil},
	}
	for _, tt := range tests {
		got, err := c.CommandsUnder(tt.path)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CommandsUnder(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	if _, err := c.CommandsUnder([]string{"nope"}); err == nil {
		t.Error("CommandsUnder(nope) should fail")
	}
}

// TestHandBuiltEntriesPrintSorted: entries appended out of order by code
// still print sorted, and parse back sorted.
func TestHandBuiltEntriesPrintSorted(t *testing.T) {
	c := New()
	c.NAT.PortForwards = []PortForward{
		{Name: "z", Protocol: ProtoTCP, Port: PortRange{2, 2}},
		{Name: "a", Protocol: ProtoUDP, Port: PortRange{1, 1}},
	}
	want := []string{"set nat port-forward a protocol udp port 1", "set nat port-forward z protocol tcp port 2"}
	if got := c.Commands(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	back := mustParse(t, c.String())
	if back.NAT.PortForwards[0].Name != "a" {
		t.Fatalf("parsed entries not sorted: %+v", back.NAT.PortForwards)
	}
}

// TestCloneSharesNoSlice: a clone (the shell's candidate) shares no list
// with the original (the running configuration), for every list of the
// schema: editing the candidate must not change what runs.
func TestCloneSharesNoSlice(t *testing.T) {
	var lines []string
	for _, line := range leafSamples {
		lines = append(lines, line)
	}
	c := mustParse(t, strings.Join(lines, "\n"))
	n := c.Clone()
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		switch a.Kind() {
		case reflect.Struct:
			for i := 0; i < a.NumField(); i++ {
				walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		case reflect.Slice:
			if a.Len() > 0 && a.Pointer() == b.Pointer() {
				t.Errorf("Clone shares %s", path)
			}
		}
	}
	walk("Config", reflect.ValueOf(c).Elem(), reflect.ValueOf(n).Elem())
}
