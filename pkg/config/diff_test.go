package config

import (
	"fmt"
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

// TestDiffLarge: thousands of port forwards are compared in linear memory
// (by key), with the same lines as a small diff would give.
func TestDiffLarge(t *testing.T) {
	old := Default()
	for i := range 3000 {
		if err := old.Set(strings.Fields(fmt.Sprintf("nat port-forward f%04d protocol tcp port %d to 192.168.1.10", i, 10000+i))); err != nil {
			t.Fatal(err)
		}
	}
	new := old.Clone()
	for _, cmd := range []string{"nat port-forward f0007 port 9999", "nat hairpin disable", "system hostname big"} {
		if err := new.Set(strings.Fields(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	if err := new.Delete([]string{"nat", "port-forward", "f2999"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"- set nat port-forward f0007 protocol tcp port 10007 to 192.168.1.10",
		"- set nat port-forward f2999 protocol tcp port 12999 to 192.168.1.10",
		"+ set system hostname big",
		"+ set nat hairpin disable",
		"+ set nat port-forward f0007 protocol tcp port 9999 to 192.168.1.10",
	}
	if got := Diff(old, new); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	td, err := TreeDiff(old, new, nil)
	if err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(td, "\n"); !strings.Contains(text, "[edit nat port-forward f0007]\n-   port 10007;\n+   port 9999;") ||
		!strings.Contains(text, "-   port-forward f2999 {") {
		t.Errorf("TreeDiff of a large configuration:\n%s", text)
	}
	if a := testing.AllocsPerRun(1, func() { Diff(old, new) }); a > 100000 {
		t.Errorf("%v allocations", a)
	}
}

func BenchmarkDiffLarge(b *testing.B) {
	old := Default()
	for i := range 3000 {
		old.Set(strings.Fields(fmt.Sprintf("nat port-forward f%04d protocol tcp port %d to 192.168.1.10", i, 10000+i)))
	}
	new := old.Clone()
	new.Set(strings.Fields("nat hairpin disable"))
	b.ReportAllocs()
	for b.Loop() {
		Diff(old, new)
	}
}
