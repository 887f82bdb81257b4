package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func exampleConfig(t testing.TB) *Config {
	t.Helper()
	data, err := os.ReadFile("testdata/example.conf")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTreeGolden: the braces form of the example, and of parts of it.
func TestTreeGolden(t *testing.T) {
	c := exampleConfig(t)
	var b strings.Builder
	for _, path := range []string{"", "nat", "nat port-forward", "nat port-forward voip", "nat hair", "passthrough ipsec", "interfaces wan dns 9.9.9.9", "system admin", "interfaces lan ipv6", "interfaces wan ipv6", "firewall ipv6 allow ssh"} {
		lines, err := c.Tree(strings.Fields(path))
		if err != nil {
			t.Fatalf("Tree(%q): %v", path, err)
		}
		b.WriteString("=== " + path + "\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	golden(t, "tree.golden", b.String())
}

// TestTreeRoundTrip: the braces form reads back (ApplyText on New) to the
// same configuration, for the factory and the example configuration.
func TestTreeRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"default": Default(), "example": exampleConfig(t), "new": New()} {
		lines, err := c.Tree(nil)
		if err != nil {
			t.Fatal(err)
		}
		n := New()
		if _, err := n.ApplyText(strings.Join(lines, "\n")); err != nil {
			t.Fatalf("%s: the tree does not read back: %v\n%s", name, err, strings.Join(lines, "\n"))
		}
		if !n.Equal(c) {
			t.Errorf("%s: round trip differs:\n%s", name, strings.Join(Diff(c, n), "\n"))
		}
	}
}

func TestTreeBadPath(t *testing.T) {
	var ce *Error
	if _, err := Default().Tree([]string{"nat", "frob"}); !errors.As(err, &ce) || ce.Index != 1 {
		t.Errorf("Tree(nat frob): %v, want an *Error at word 1", err)
	}
}

func TestTreeDiff(t *testing.T) {
	base := exampleConfig(t)
	for _, c := range []struct {
		name  string
		edits []string // set/delete lines applied to base
		path  string
		want  string
	}{
		{"no change", nil, "", ""},
		{"changed value", []string{"set nat hairpin enable"}, "",
			"[edit nat]\n-   hairpin disable;\n"},
		{"new value", []string{"set nat timeout udp 30"}, "",
			"[edit nat timeout]\n-   udp 600;\n+   udp 30;\n"},
		{"new entry shown whole", []string{"set nat port-forward ssh protocol tcp port 2222 to 192.168.1.10 port 22"}, "",
			"[edit nat]\n+   port-forward ssh {\n+       protocol tcp;\n+       port 2222;\n+       to 192.168.1.10 port 22;\n+   }\n"},
		{"clause inside an entry", []string{"set nat port-forward web to 192.168.1.11 port 80"}, "",
			"[edit nat port-forward web]\n-   to 192.168.1.10 port 80;\n+   to 192.168.1.11 port 80;\n"},
		{"deleted block", []string{"delete dhcp-server"}, "",
			"[edit]\n-   dhcp-server {\n-       lan {\n-           range 192.168.1.100 192.168.1.199;\n-           lease-time 1d;\n-           dns 192.168.1.1;\n-           static laptop {\n-               mac aa:bb:cc:dd:ee:ff;\n-               ip 192.168.1.50;\n-           }\n-           static printer {\n-               mac 00:11:22:33:44:55;\n-               ip 192.168.1.51;\n-           }\n-       }\n-   }\n"},
		{"two places, headers repeat", []string{"set system hostname gw", "set nat dmz 192.168.1.21"}, "",
			"[edit system]\n-   hostname gw.home.example;\n+   hostname gw;\n[edit nat]\n-   dmz 192.168.1.20;\n+   dmz 192.168.1.21;\n"},
		{"path limits", []string{"set system hostname gw", "set nat dmz 192.168.1.21"}, "nat",
			"[edit nat]\n-   dmz 192.168.1.20;\n+   dmz 192.168.1.21;\n"},
		{"path outside the changes", []string{"set system hostname gw"}, "nat", ""},
		{"ipv6 leaf beside its alternatives", []string{"set interfaces lan ipv6 disable", "delete interfaces lan ipv6 domain"}, "",
			"[edit interfaces lan]\n+   ipv6 disable;\n-   ipv6 domain home.arpa;\n"},
		{"new allow rule", []string{"set firewall ipv6 allow web protocol tcp-udp port 443 to fd12:3456:789a:10::80"}, "firewall",
			"[edit firewall ipv6]\n+   allow web {\n+       protocol tcp-udp;\n+       port 443;\n+       to fd12:3456:789a:10::80;\n+   }\n"},
		{"entry only on one side, by path", []string{"delete nat port-forward web"}, "nat port-forward web",
			"[edit nat]\n-   port-forward web {\n-       protocol tcp;\n-       port 8080;\n-       to 192.168.1.10 port 80;\n-   }\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := base.Clone()
			if _, err := n.ApplyText(strings.Join(c.edits, "\n")); err != nil {
				t.Fatal(err)
			}
			got, err := TreeDiff(base, n, strings.Fields(c.path))
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(got, "\n")
			if text != "" {
				text += "\n"
			}
			if text != c.want {
				t.Errorf("TreeDiff:\n%s\nwant:\n%s", text, c.want)
			}
		})
	}
}

func TestApplyText(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string // Commands of New() after it
		count      int
	}{
		{"set lines", "set nat hairpin disable\n# comment\n\nset system hostname gw\n",
			[]string{"set system hostname gw", "set nat hairpin disable"}, 2},
		{"braces", "nat {\n    hairpin disable;   # off\n    port-forward web {\n        protocol tcp;\n        port 80;\n        to 192.168.1.10;\n    }\n}\n",
			[]string{"set nat hairpin disable", "set nat port-forward web protocol tcp port 80 to 192.168.1.10"}, 4},
		{"quoted value before ;", "service { ssh { authorized-key k \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINO4J61IEWzU3fsaXBK9tx7gNnJL76zT3g3U3ab+V1jH a;b{}\"; } }",
			[]string{`set service ssh authorized-key k "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINO4J61IEWzU3fsaXBK9tx7gNnJL76zT3g3U3ab+V1jH a;b{}"`}, 1},
		{"prefixes, CRLF, statements on one line", "set nat hair dis;  set nat dmz 192.168.1.9\r\nnat {\r\ntimeout { udp 600; } }\r\n",
			[]string{"set nat timeout udp 600", "set nat hairpin disable", "set nat dmz 192.168.1.9"}, 3},
		{"delete", "set nat hairpin disable\ndelete nat hairpin\nset nat dmz 192.168.1.9\n", []string{"set nat dmz 192.168.1.9"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := New()
			count, err := n.ApplyText(c.text)
			if c.want == nil {
				if err == nil {
					t.Errorf("no error; commands %q", n.Commands())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Commands(); strings.Join(got, "\n") != strings.Join(c.want, "\n") || count != c.count {
				t.Errorf("got %q (%d statements), want %q (%d)", got, count, c.want, c.count)
			}
		})
	}
}

// TestApplyTextErrors: each error names the line and the column of the
// offending word, and nothing is applied.
func TestApplyTextErrors(t *testing.T) {
	for _, c := range []struct {
		name, text string
		line, col  int
		msg        string
	}{
		{"bad value", "set nat hairpin disable\nset nat timeout udp 5x\n", 2, 21, "not a duration"},
		{"bad keyword in a block", "nat {\n    hairpin disable;\n    frob 1;\n}\n", 3, 5, `"frob" is not valid here`},
		{"bad block head", "natt {\n    hairpin disable;\n}\n", 1, 1, `"natt" is not valid here`},
		{"unclosed", "nat {\n  port-forward w {\n    protocol tcp;\n", 2, 3, "not closed"},
		{"stray brace", "}\n", 1, 1, "closes no block"},
		{"no terminator", "nat {\n    hairpin disable\n}\n", 2, 20, `end the statement with ";"`},
		{"statement before }", "nat { hairpin disable }\n", 1, 22, `end the statement before "}" with ";"`},
		{"set inside a block", "nat { set hairpin disable; }\n", 1, 7, `"set" is not valid here`},
		{"unterminated quote", "system {\n  hostname \"x;\n}\n", 2, 0, "unterminated"},
		{"verb inside a block", "nat {\n  set hairpin disable;\n}\n", 2, 3, `"set" is not valid here`},
		{"incomplete", "set nat timeout\n", 1, 17, "incomplete command"},
		{"control character", "set system hostname a\x01b\n", 1, 22, "control character"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := Default()
			_, err := n.ApplyText(c.text)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if ce.Line != c.line || (c.col != 0 && ce.Column != c.col) || !strings.Contains(ce.Msg, c.msg) {
				t.Errorf("error %v (line %d column %d), want line %d column %d with %q", err, ce.Line, ce.Column, c.line, c.col, c.msg)
			}
			if !n.Equal(Default()) {
				t.Errorf("a failed ApplyText changed the configuration:\n%s", strings.Join(Diff(Default(), n), "\n"))
			}
		})
	}
}

// FuzzApplyText: pasted text (untrusted) never panics; text that applies
// gives a configuration whose braces form reads back to it.
func FuzzApplyText(f *testing.F) {
	lines, _ := exampleConfig(f).Tree(nil)
	f.Add(strings.Join(lines, "\n"))
	f.Add("set nat hairpin disable\ndelete nat\nnat { dmz 1.2.3.4; }")
	f.Add("a {\n b \"c;{}\\\"\" {\n}\n}}\n# x { ; }")
	f.Fuzz(func(t *testing.T, text string) {
		c := New()
		if _, err := c.ApplyText(text); err != nil {
			if !c.Equal(New()) {
				t.Fatal("a failed ApplyText changed the configuration")
			}
			return
		}
		tree, err := c.Tree(nil)
		if err != nil {
			t.Fatal(err)
		}
		back := New()
		if _, err := back.ApplyText(strings.Join(tree, "\n")); err != nil {
			t.Fatalf("the tree of an applied text does not apply: %v\n%s", err, strings.Join(tree, "\n"))
		}
		if !back.Equal(c) {
			t.Fatalf("tree round trip differs: %q", Diff(c, back))
		}
		TreeDiff(New(), c, nil)
	})
}
