package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestEndToEndFlowOffload runs routerd with flow offload on, in both
// wirings (the veths' offloads off, and at their defaults: partial
// checksums and TSO super-packets). Files go both ways intact, most of
// their packets are forwarded by the kernel (pkg/tcfast), the connections'
// ends take them out of the kernel again, and a stopped router leaves no
// filter behind on its ports.
func TestEndToEndFlowOffload(t *testing.T) {
	for _, offloads := range []bool{false, true} {
		t.Run(map[bool]string{false: "offloads off", true: "offloads on"}[offloads], func(t *testing.T) {
			l := newLabWith(t, offloadConfig+"set system flow-offload enable\n", offloads)
			sock := filepath.Join(l.dir, "shell.sock")
			l.routerArgs = []string{"--socket", sock}
			l.startRouter()
			for _, dev := range []string{"eth0", "eth1"} {
				if out := l.mustIn("rtr", "tc", "filter", "show", "dev", dev, "ingress"); !contains(out, "passgate_tcfast") {
					t.Fatalf("no flow offload program on %s's ingress:\n%s\nrouterd:\n%s", dev, out, l.rtrOut.text())
				}
			}
			l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
			l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
			l.mustIn("lan1", "ping", "-c", "1", "-W", "2", "198.51.100.10") // ARP on both sides

			data, web, src := blob(t, l)
			uploadBlob(t, l, src, data)
			downloadBlob(t, l, web, data)

			counter := func(name string) uint64 {
				m := regexp.MustCompile(` ` + name + ` (\d+)`).FindStringSubmatch(l.cli(sock, "show counters"))
				if m == nil {
					t.Fatalf("show counters has no %s:\n%s", name, l.cli(sock, "show counters"))
				}
				n, _ := strconv.ParseUint(m[1], 10, 64)
				return n
			}
			// 2 × 16 MiB is about 23,000 full-size segments; the kernel
			// took most of them (routerd the handshakes and the first 16
			// packets each way of each connection).
			deadline := time.Now().Add(3 * time.Second)
			for counter("offload-packets") < 15000 {
				if time.Now().After(deadline) {
					t.Fatalf("the kernel forwarded %d packets of the transfers:\n%s", counter("offload-packets"), l.cli(sock, "show counters"))
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Each packet the kernel forwarded went in one port and out
			// of the other: both ports' kernel rows add up to it.
			out := l.cli(sock, "show counters")
			total := regexp.MustCompile(` offload-packets (\d+)`).FindStringSubmatch(out)
			for _, port := range []string{"lan", "wan"} {
				m := regexp.MustCompile(port + ` \(eth\d\)\s+rx\s+\d+\s+\d+\s+\d+\s+tx\s+\d+\s+\d+\s+\d+\s+rx, kernel\s+(\d+)\s+\d+\s+-\s+tx, kernel\s+(\d+)`).FindStringSubmatch(out)
				if m == nil || total == nil {
					t.Fatalf("show counters has no kernel rows for %s:\n%s", port, out)
				}
				rx, _ := strconv.ParseUint(m[1], 10, 64)
				tx, _ := strconv.ParseUint(m[2], 10, 64)
				if n, _ := strconv.ParseUint(total[1], 10, 64); rx+tx != n {
					t.Errorf("%s: the kernel's rx %d + tx %d, want offload-packets %d", port, rx, tx, n)
				}
			}
			if n := counter("offloaded"); n < 4 {
				t.Fatalf("%d session directions offloaded, want both ways of both transfers", n)
			}
			// The FINs ended both connections: nothing stays in the kernel.
			for counter("offloaded-now") != 0 {
				if time.Now().After(deadline.Add(2 * time.Second)) {
					t.Fatalf("%d session directions stay in the kernel after the connections closed", counter("offloaded-now"))
				}
				time.Sleep(100 * time.Millisecond)
			}
			// The worker ends after the supervisor (SIGTERM): wait for it.
			l.stopRouter()
			for _, dev := range []string{"eth0", "eth1"} {
				for end := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					out := l.mustIn("rtr", "tc", "filter", "show", "dev", dev, "ingress")
					if !contains(out, "passgate_tcfast") {
						break
					}
					if time.Now().After(end) {
						t.Fatalf("the stopped router left its program on %s:\n%s", dev, out)
					}
				}
			}
		})
	}
}
