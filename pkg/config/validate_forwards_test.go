package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/nat"
)

func setLines(t *testing.T, c *Config, lines string) {
	t.Helper()
	for _, l := range strings.Split(lines, "\n") {
		if l == "" {
			continue
		}
		toks, _ := Tokenize(l)
		var w []string
		for _, tok := range toks[1:] {
			w = append(w, tok.Text)
		}
		if err := c.Set(w); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
}

// The forwards of issue 11 defect 3 (TCP+UDP forwards of 1-65535 beside
// max-sessions 50000) froze the engine; they cannot leave the LAN any port
// of its own, so commit refuses them with what is allowed. Two forwards to
// one internal endpoint are allowed (both external ports work).
func TestValidateForwardedPortsFit(t *testing.T) {
	if minDynamicPorts != nat.MinDynamicPorts || maxForwardedPorts != nat.MaxForwardedPorts {
		t.Fatalf("pkg/config's limits %d/%d differ from the engine's %d/%d",
			minDynamicPorts, maxForwardedPorts, nat.MinDynamicPorts, nat.MaxForwardedPorts)
	}
	msg := func(n int, proto string) string {
		return "nat port-forward: the forwards take " + strconv.Itoa(n) + " of the 64512 " + proto +
			" ports 1024-65535, but at most 56320 may be forwarded: 8192 must stay free for the LAN's own connections; forward fewer ports, or send all unsolicited traffic to one host with set nat dmz"
	}
	tests := []struct {
		name  string
		lines string
		errs  []string
	}{
		{"issue 11: every port, tcp and udp", "set nat max-sessions 50000\nset nat port-forward all protocol tcp-udp port 1-65535 to 192.168.1.10",
			[]string{msg(64512, "tcp"), msg(64512, "udp")}},
		{"largest allowed", "set nat port-forward big protocol tcp-udp port 1-57343 to 192.168.1.10", nil},
		{"one port too many, udp", "set nat port-forward a protocol udp port 1024-40000 to 192.168.1.10\nset nat port-forward b protocol udp port 40001-57344 to 192.168.1.11",
			[]string{msg(56321, "udp")}},
		{"ssh on the wan counts", "set service ssh listen wan\nset service ssh port 2222\nset nat port-forward big protocol tcp port 1-2221 to 192.168.1.10\nset nat port-forward big2 protocol tcp port 2223-57344 to 192.168.1.10",
			[]string{msg(56321, "tcp")}},
		{"two forwards to one service", "set nat port-forward a protocol tcp port 8080 to 192.168.1.10 port 80\nset nat port-forward b protocol tcp port 8081 to 192.168.1.10 port 80", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			setLines(t, c, tt.lines)
			errs, _ := c.Validate()
			if got := issueStrings(errs); !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors:\ngot  %q\nwant %q", got, tt.errs)
			}
		})
	}
}
