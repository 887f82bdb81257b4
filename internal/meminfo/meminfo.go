// Package meminfo reads the kernel's memory figures from /proc/meminfo.
package meminfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Path is where the kernel publishes its memory figures.
const Path = "/proc/meminfo"

// Info is the machine's memory in bytes; a figure the kernel did not give
// is 0.
type Info struct {
	Total     uint64 // MemTotal: usable RAM
	Available uint64 // MemAvailable: what new allocations can get without swapping
}

// Read reads and parses /proc/meminfo.
func Read() (Info, error) {
	f, err := os.Open(Path)
	if err != nil {
		return Info{}, fmt.Errorf("meminfo: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Parse parses text in the format of /proc/meminfo ("MemTotal:  1024 kB"
// lines). Lines it does not need are skipped; a MemTotal or MemAvailable
// line whose value is not a number of kB is an error.
func Parse(r io.Reader) (Info, error) {
	var m Info
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		var dst *uint64
		switch key {
		case "MemTotal":
			dst = &m.Total
		case "MemAvailable":
			dst = &m.Available
		}
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return Info{}, fmt.Errorf("meminfo: %s: want a number of kB, got %q", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb > 1<<54 {
			return Info{}, fmt.Errorf("meminfo: %s: %q is not a number of kB", key, f[0])
		}
		*dst = kb << 10
	}
	if err := sc.Err(); err != nil {
		return Info{}, fmt.Errorf("meminfo: %w", err)
	}
	return m, nil
}
