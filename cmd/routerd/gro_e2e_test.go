package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEndToEndGRO runs routerd (GRO kept by default) on ports with GRO on, as the boards' NIC
// drivers have it, while the hosts send MTU-size frames with complete
// checksums: routerd keeps GRO, reads each flow's merged super-packets
// (more than 3,000 bytes a frame on the receiving port), and the data
// arrives intact both ways.
func TestEndToEndGRO(t *testing.T) {
	l := newLab(t, offloadConfig)
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	for _, ifc := range []string{"eth0", "eth1"} {
		l.mustIn("rtr", "ethtool", "-K", ifc, "gro", "on")
	}
	l.startRouter()
	for _, ifc := range []string{"eth0", "eth1"} {
		if feats := l.mustIn("rtr", "ethtool", "-k", ifc); !contains(feats, "generic-receive-offload: on") {
			t.Fatalf("routerd turned GRO off on %s:\n%s", ifc, feats)
		}
	}
	if out := l.cli(sock, "show counters"); !strings.Contains(out, "Port set-up: Port Readers GRO lan (eth0) 1 on wan (eth1) 1 on") {
		t.Errorf("show counters does not give GRO on for each port:\n%s", out)
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.mustIn("lan1", "ping", "-c", "1", "-W", "2", "198.51.100.10")

	data, web, src := blob(t, l)
	rx := func(port string) ifStats {
		// "lan (eth0) rx <packets> <bytes> <dropped> tx ..."
		out := l.cli(sock, "show counters")
		m := regexp.MustCompile(regexp.QuoteMeta(port) + ` rx (\d+) (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no receive counters for %s in:\n%s", port, out)
		}
		p, _ := strconv.ParseUint(m[1], 10, 64)
		b, _ := strconv.ParseUint(m[2], 10, 64)
		return ifStats{Bytes: b, Packets: p}
	}
	merged := func(host, port string, hostBefore, rxBefore ifStats) {
		t.Helper()
		sent := txStats(t, l, host)
		if per := (sent.Bytes - hostBefore.Bytes) / max(1, sent.Packets-hostBefore.Packets); per > 1514 {
			t.Fatalf("%s sent %d bytes per frame: not MTU-size frames, the test proves nothing", host, per)
		}
		got := rx(port)
		if per := (got.Bytes - rxBefore.Bytes) / max(1, got.Packets-rxBefore.Packets); per < 3000 {
			t.Fatalf("routerd read %d bytes per frame on %s: GRO did not merge", per, port)
		}
	}

	t.Run("upload", func(t *testing.T) {
		host, port := txStats(t, l, "lan1"), rx("lan (eth0)")
		uploadBlob(t, l, src, data)
		merged("lan1", "lan (eth0)", host, port)
	})
	t.Run("download", func(t *testing.T) {
		host, port := txStats(t, l, "wan"), rx("wan (eth1)")
		downloadBlob(t, l, web, data)
		merged("wan", "wan (eth1)", host, port)
	})
}
