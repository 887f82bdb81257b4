package kbuild

import (
	"testing"
	"time"
)

// Two builds in one cache take turns: the second lock is granted only
// after the first is released.
func TestLockTakesTurns(t *testing.T) {
	path := t.TempDir() + "/build.lock"
	unlock, err := lock(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		u, err := lock(path)
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("a second build took the lock while the first held it")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not granted after its release")
	}
}
