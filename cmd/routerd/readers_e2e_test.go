package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndToEndSeveralReaders runs routerd with three readers per port (a
// fanout group of three ring sockets on each): the groups are there, many
// TCP streams both ways each carry data, and every one of many short
// connections (each a flow of its own, spread over the readers) completes.
func TestEndToEndSeveralReaders(t *testing.T) {
	l := newLab(t, offloadConfig)
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--readers", "3", "--socket", sock}
	l.startRouter()
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.mustIn("lan1", "ping", "-c", "1", "-W", "2", "198.51.100.10")

	for _, dev := range []string{"eth0", "eth1"} {
		if n := ringSockets(t, l, dev); n != 3 {
			t.Errorf("%s has %d receiving packet sockets, want the 3 of --readers 3", dev, n)
		}
	}
	// show counters says so, and that GRO is off (a veth's default,
	// which routerd keeps).
	if out := l.cli(sock, "show counters"); !strings.Contains(out, "Port set-up: Port Readers GRO lan (eth0) 3 off wan (eth1) 3 off") {
		t.Errorf("show counters does not give 3 readers and GRO off for each port:\n%s", out)
	}

	l.listenTCP("wan", 5201, "iperf3", "-s", "-B", "198.51.100.10", "-p", "5201")
	for _, dir := range []string{"upload", "download"} {
		args := []string{"iperf3", "-J", "-c", "198.51.100.10", "-p", "5201", "-t", "2", "-P", "8"}
		if dir == "download" {
			args = append(args, "-R")
		}
		var res struct {
			End struct {
				Streams []struct {
					Receiver struct {
						Bytes float64 `json:"bytes"`
					} `json:"receiver"`
				} `json:"streams"`
			} `json:"end"`
		}
		out := l.mustIn("lan1", args...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("iperf3 %s: %v\n%s", dir, err, out)
		}
		if len(res.End.Streams) != 8 {
			t.Fatalf("iperf3 %s: %d streams reported, want 8\n%s", dir, len(res.End.Streams), out)
		}
		for i, s := range res.End.Streams {
			if s.Receiver.Bytes < 1<<20 {
				t.Errorf("iperf3 %s: stream %d carried %.0f bytes", dir, i, s.Receiver.Bytes)
			}
		}
	}

	// 400 connections from 8 clients: each must connect and read the
	// server's byte.
	defer oneByteServer(t, l, "198.51.100.10:7000").Close()
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inNS(t, l.ns("lan1"), func() {
				buf := make([]byte, 1)
				for range 50 {
					c, err := net.DialTimeout("tcp", "198.51.100.10:7000", 5*time.Second)
					if err == nil {
						c.SetReadDeadline(time.Now().Add(5 * time.Second))
						_, err = c.Read(buf)
						c.Close()
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 400 connections failed; the first: %v", n, firstErr.Load())
	}
}

// ringSockets counts the packet sockets in the router's namespace that
// receive every protocol (ETH_P_ALL, the ring sockets) on interface dev.
func ringSockets(t *testing.T, l *lab, dev string) int {
	t.Helper()
	var index int
	if _, err := fmt.Sscanf(l.mustIn("rtr", "cat", "/sys/class/net/"+dev+"/ifindex"), "%d", &index); err != nil {
		t.Fatalf("%s's index: %v", dev, err)
	}
	n := 0
	// sk RefCnt Type Proto Iface R Rmem User Inode
	for _, line := range strings.Split(l.mustIn("rtr", "cat", "/proc/net/packet"), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 5 && f[3] == "0003" && f[4] == fmt.Sprint(index) {
			n++
		}
	}
	return n
}
