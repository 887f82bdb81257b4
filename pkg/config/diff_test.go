package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	old := Default()
	new := old.Clone()
	for _, cmd := range []string{
		"interfaces lan address 10.0.0.1/24",
		"dhcp-server lan range 10.0.0.100 10.0.0.199",
		"nat hairpin disable",
	} {
		if err := new.Set(strings.Fields(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	if err := new.Delete([]string{"dhcp-server", "lan", "dns"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"- set interfaces lan address 192.168.1.1/24",
		"+ set interfaces lan address 10.0.0.1/24",
		"- set dhcp-server lan range 192.168.1.100 192.168.1.199",
		"- set dhcp-server lan dns 192.168.1.1",
		"+ set dhcp-server lan range 10.0.0.100 10.0.0.199",
		"+ set nat hairpin disable",
	}
	if got := Diff(old, new); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := Diff(old, old.Clone()); got != nil {
		t.Errorf("Diff of equal configs = %q", got)
	}
	if got := Diff(nil, mustParse(t, "set nat dmz 192.168.1.20")); !reflect.DeepEqual(got, []string{"+ set nat dmz 192.168.1.20"}) {
		t.Errorf("Diff from nil = %q", got)
	}
	// Applying the diff to old (delete "-" lines, set "+" lines) gives new.
	c := old.Clone()
	for _, l := range Diff(old, new) {
		if strings.HasPrefix(l, "+ set ") {
			if err := c.Set(strings.Fields(strings.TrimPrefix(l, "+ set "))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.Interfaces.LAN.Address != new.Interfaces.LAN.Address || c.NAT.Hairpin != new.NAT.Hairpin {
		t.Errorf("applying + lines did not reach new")
	}
}
