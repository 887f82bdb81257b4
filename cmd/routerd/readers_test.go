package main

import "testing"

func TestDefaultReaders(t *testing.T) {
	for _, c := range []struct{ cpus, want int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {6, 3}, {8, 4}, {64, 4}} {
		if got := defaultReaders(c.cpus); got != c.want {
			t.Errorf("defaultReaders(%d) = %d, want %d", c.cpus, got, c.want)
		}
	}
}
