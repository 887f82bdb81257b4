package meminfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		text string
		want Info
		err  string // part of the error, "" for none
	}{
		{"kernel output", "MemTotal:        4022732 kB\nMemFree:          123456 kB\nMemAvailable:    3021044 kB\nBuffers:           29496 kB\nHugePages_Total:       0\n",
			Info{Total: 4022732 << 10, Available: 3021044 << 10}, ""},
		{"order does not matter", "MemAvailable: 2 kB\nMemTotal: 8 kB", Info{Total: 8 << 10, Available: 2 << 10}, ""},
		{"old kernel without MemAvailable", "MemTotal: 1024 kB\nMemFree: 512 kB\n", Info{Total: 1 << 20}, ""},
		{"prefix of another key is not it", "MemTotalX: 5 kB\nMemTotal: 7 kB\n", Info{Total: 7 << 10}, ""},
		{"empty", "", Info{}, ""},
		{"not a number", "MemTotal: lots kB\n", Info{}, "not a number"},
		{"no unit", "MemTotal: 1024\n", Info{}, "number of kB"},
		{"overflow", "MemTotal: 99999999999999999999 kB\n", Info{}, "not a number"},
	}
	for _, c := range cases {
		got, err := Parse(strings.NewReader(c.text))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
		case got != c.want:
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestReadThisMachine(t *testing.T) {
	m, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.Total < 16<<20 || m.Available > m.Total {
		t.Errorf("Read = %+v: want a plausible total and available <= total", m)
	}
}
