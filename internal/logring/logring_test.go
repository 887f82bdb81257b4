package logring

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func texts(ls []Line) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Text)
	}
	return strings.Join(s, ",")
}

func TestRingKeepsTheLastLinesInOrder(t *testing.T) {
	cases := []struct {
		size, adds int
		want       string
	}{
		{3, 0, ""},
		{3, 2, "0,1"},
		{3, 3, "0,1,2"},
		{3, 4, "1,2,3"}, // first wrap
		{3, 7, "4,5,6"}, // twice round
		{3, 9, "6,7,8"}, // wrapped exactly to the start
		{1, 5, "4"},     // one line
		{0, 2, "1"},     // a size below one keeps one
	}
	for _, c := range cases {
		r := New(c.size)
		for i := range c.adds {
			r.Add(fmt.Sprint(i))
		}
		if got := texts(r.Lines()); got != c.want {
			t.Errorf("size %d after %d adds: %q, want %q", c.size, c.adds, got, c.want)
		}
	}
	r := New(500)
	for i := range 1201 {
		r.Add(fmt.Sprint(i))
	}
	if ls := r.Lines(); len(ls) != 500 || ls[0].Text != "701" || ls[499].Text != "1200" {
		t.Errorf("size 500 after 1201 adds: %d lines from %q to %q; want 701 to 1200", len(ls), ls[0].Text, ls[len(ls)-1].Text)
	}
}

func TestLinesIsACopyAndStamped(t *testing.T) {
	r := New(2)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r.now = func() time.Time { return now }
	r.Add("a")
	ls := r.Lines()
	ls[0].Text = "changed"
	if got := r.Lines(); got[0].Text != "a" || !got[0].Time.Equal(now) {
		t.Errorf("Lines = %+v: want the ring's own line, stamped %v", got, now)
	}
}

func TestConcurrentAdds(t *testing.T) {
	r := New(64)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				r.Add(fmt.Sprint(g, i))
				r.Lines()
			}
		}()
	}
	wg.Wait()
	if n := len(r.Lines()); n != 64 {
		t.Errorf("%d lines, want 64", n)
	}
}
