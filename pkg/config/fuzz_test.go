package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: arbitrary text never panics; text that parses prints to a
// canonical form that parses back to an equal config and prints
// identically. Along the way the other entry points that take user input
// (Tokenize, Expand, Complete, Delete, Validate, Diff) must not panic.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/example.conf"); err == nil {
		f.Add(string(data))
	}
	f.Add(Default().String())
	for _, s := range leafSamples {
		f.Add(s)
	}
	f.Add("set nat port-forward v to 192.168.1.12 port 5061 protocol udp port 5060 # c")
	f.Add("set n po w t 1.2.3.4 po 80-90\r\nset p i e s\n")
	f.Add(`set service ssh authorized-key "a b" "x\"y\\z"`)
	f.Add("set dhcp-server lan lease-time 1d2h3m4s\nset nat mss-clamp a")
	f.Add("\ufeffset system hostname mac\rset nat hairpin disable\r\n")
	f.Add("set system hostname " + strings.Repeat("h", 64))
	f.Add("# " + strings.Repeat("x", MaxLine) + "\nset nat dmz 192.168.1.2")
	f.Add("set i l i u d\nset i l i s 0xA\nset i w i m st\nset i w i g fe80::1%wan\nset i w i pre 2600:1:2:100::/56")
	f.Add("set firewall ipv6 allow a to fd00::1 port 1-2 protocol udp\nset f i a a po 3\nset f i inbound-p d")
	f.Add("set interfaces lan ipv6 ula FD12:3456:789A::/48\nset interfaces lan ipv6 dns ::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, text string) {
		for _, line := range strings.Split(text, "\n") {
			toks, err := Tokenize(line)
			if err != nil {
				continue
			}
			var w []string
			for _, tok := range toks {
				w = append(w, tok.Text)
			}
			// Quoting the words gives a line that tokenizes to the same words.
			back, err := Tokenize(JoinWords(w))
			if err == nil {
				var w2 []string
				for _, tok := range back {
					w2 = append(w2, tok.Text)
				}
				if !reflect.DeepEqual(w, w2) {
					t.Fatalf("JoinWords(%q) re-tokenizes to %q", w, w2)
				}
			}
			Expand(w)
			ExpandDelete(w)
			Complete(w)
			CompleteWith(Default(), ModeDelete, w)
			d := Default()
			before := d.Clone()
			if d.Delete(w) != nil && !d.Equal(before) {
				t.Fatalf("failed Delete(%q) changed the config", w)
			}
		}
		c, err := Parse(text)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse error is %T, want *Error", err)
			}
			return
		}
		printed := c.String()
		c2, err := Parse(printed)
		if err != nil {
			t.Fatalf("printed config does not parse: %v\ninput:\n%q\nprinted:\n%s", err, text, printed)
		}
		if !c2.Equal(c) {
			t.Fatalf("round trip changed the config\ninput:\n%q\nprinted:\n%s", text, printed)
		}
		if again := c2.String(); again != printed {
			t.Fatalf("print is not stable:\n%s\nvs\n%s", printed, again)
		}
		c.Validate()
		Diff(Default(), c)
		// Stored form decodes back too.
		if back, _, err := decode(encode(c, time.Unix(0, 0))); err != nil || !back.Equal(c) {
			t.Fatalf("encode/decode: %v", err)
		}
	})
}
