package ratelog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBurstThenRate(t *testing.T) {
	q := New(3, time.Hour)
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		q.Run(ctx, func(f string, a ...any) { mu.Lock(); got = append(got, a[0].(string)); mu.Unlock() })
		close(done)
	}()
	for i := range 200 {
		q.Add("line %d", i)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if len(got) != 3 || !strings.HasPrefix(got[0], "line 0") || !strings.HasPrefix(got[2], "line 2") {
		t.Fatalf("logged %q: want the first 3", got)
	}
	said := 0
	if _, after, ok := strings.Cut(got[0], "(and "); ok {
		fmt.Sscanf(after, "%d", &said)
	}
	if total := said + int(q.missed.Load()); total != 197 {
		t.Errorf("left out %d (said %d), want 197", total, said)
	}
	// The next line logged says how many were left out.
	q2 := New(1, time.Hour)
	q2.missed.Store(5)
	q2.Add("x")
	ctx, cancel = context.WithCancel(context.Background())
	var last string
	go q2.Run(ctx, func(f string, a ...any) { mu.Lock(); last = a[0].(string); mu.Unlock() })
	time.Sleep(50 * time.Millisecond)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasSuffix(last, "(and 5 more not logged)") {
		t.Errorf("%q", last)
	}
}

// Of formats in Run, not in Add, and adding does not allocate.
func TestOf(t *testing.T) {
	type hit struct {
		n    int
		name string
	}
	formatted := 0
	q := NewOf(2, time.Hour, func(h hit) string { formatted++; return fmt.Sprintf("hit %d %s", h.n, h.name) })
	if a := testing.AllocsPerRun(100, func() { q.Add(hit{1, "r"}) }); a != 0 {
		t.Errorf("Add allocates %v times", a)
	}
	if formatted != 0 {
		t.Fatal("Add formatted")
	}
	if n := len(q.items) + int(q.missed.Load()); n != 101 {
		t.Fatalf("queued and left out %d, want 101", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		q.Run(ctx, func(f string, a ...any) { mu.Lock(); got = append(got, a[0].(string)); mu.Unlock() })
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if len(got) != 2 || !strings.HasPrefix(got[0], "hit 1 r (and 37 more not logged)") {
		t.Errorf("logged %q", got)
	}
}
