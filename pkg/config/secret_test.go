package config

import (
	"strings"
	"testing"
)

func TestSecretsMaskedWhenShown(t *testing.T) {
	c, err := Parse(`set interfaces wan mode pppoe
set interfaces wan pppoe username "user@isp.example"
set interfaces wan pppoe password "hunter2 x"`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.String(), `set interfaces wan pppoe password "hunter2 x"`) {
		t.Errorf("the file lost the password:\n%s", c)
	}
	shown, err := c.CommandsUnder(nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := c.Tree(nil)
	for what, lines := range map[string][]string{"commands": shown, "tree": tree} {
		all := strings.Join(lines, "\n")
		if strings.Contains(all, "hunter2") || !strings.Contains(all, `password "********"`) {
			t.Errorf("%s shows the password:\n%s", what, all)
		}
	}
	if c.Interfaces.WAN.PPPoE.Password != "hunter2 x" {
		t.Errorf("Masked changed the configuration itself")
	}

	n := c.Clone()
	n.Interfaces.WAN.PPPoE.Password = "other"
	d := strings.Join(Diff(c, n), "\n")
	if strings.Contains(d, "hunter2") || strings.Contains(d, "other") || !strings.Contains(d, "(changed)") {
		t.Errorf("diff of a changed password:\n%s", d)
	}
	td, err := TreeDiff(c, n, nil)
	if err != nil || strings.Contains(strings.Join(td, "\n"), "other") || len(td) == 0 {
		t.Errorf("tree diff of a changed password: %v\n%s", err, strings.Join(td, "\n"))
	}
	if d := Diff(c, c.Clone()); len(d) != 0 {
		t.Errorf("unchanged: %q", d)
	}
	// A shown configuration pasted back does not set the mask.
	if _, err := Parse(strings.Join(shown, "\n")); err == nil || !strings.Contains(err.Error(), "masks the secret") {
		t.Errorf("pasting the masked form back: %v", err)
	}
}

func TestPPPoEValidation(t *testing.T) {
	c, err := Parse("set interfaces lan device eth0\nset interfaces lan address 192.168.1.1/24\nset interfaces wan device eth1\nset interfaces wan mode pppoe")
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := c.Validate()
	var got []string
	for _, e := range errs {
		got = append(got, e.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"pppoe username: mode pppoe needs the ISP's login", "pppoe password: mode pppoe needs the ISP's password"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	w := c.Interfaces.WAN
	if w.PPPMTU() != 1492 {
		t.Errorf("PPP MTU %d, want 1492", w.PPPMTU())
	}
	w.PPPoE.Jumbo = true
	if w.PPPMTU() != 1500 {
		t.Errorf("jumbo PPP MTU %d, want 1500", w.PPPMTU())
	}
}

func TestRestartNoteHidesThePassword(t *testing.T) {
	old := New()
	c := New()
	c.Interfaces.WAN.PPPoE.Password = "hunter2"
	notes := strings.Join(RestartNotes(old, old, c), "\n")
	if strings.Contains(notes, "hunter2") || !strings.Contains(notes, "changing interfaces wan pppoe takes effect after a restart") {
		t.Errorf("notes: %s", notes)
	}
}
