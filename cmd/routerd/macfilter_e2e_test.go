package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEndToEndMACFilter: the MAC filter as a household uses it. The deny
// list holds lan2 (a TV): udhcpc gets no lease on it, and with an address
// set by hand it reaches neither the internet nor the router, while lan1
// (ISC dhclient) does; the router logs the new devices and show lan
// devices lists both, lan2 blocked with its frames counted. An owner on
// lan1 who tries to commit an allow list without lan1 over SSH is refused
// (it would end the session); turning the filter off lets lan2 back at
// once.
func TestEndToEndMACFilter(t *testing.T) {
	l := newLab(t, "")
	key := l.sshKey("admin")
	l.config = labConfig + "set service ssh authorized-key lab \"" + key + "\"\n" +
		"set firewall mac-filter mode deny\nset firewall mac-filter device tv mac 02:00:00:00:01:02\n"
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	l.start("wan", "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", l.webroot("internet"))
	cli := func(cmd string) string { return l.cli(sock, cmd) }
	curl := func(ns string) bool {
		out, err := l.in(ns, "curl", "-sS", "--max-time", "3", "http://198.51.100.10:8000/index.html")
		return err == nil && contains(out, "hello from internet")
	}

	// lan1 is allowed: a lease, and the internet.
	dhclient := l.script("dhclient.sh", dhclientScript)
	pidFile := filepath.Join(l.dir, "dhclient.pid")
	l.mustIn("lan1", "dhclient", "-1", "-pf", pidFile, "-lf", filepath.Join(l.dir, "dhclient.leases"), "-sf", dhclient, "eth0")
	l.adoptPIDFile(pidFile)
	if a, _ := os.ReadFile(dhclient + ".addr"); strings.TrimSpace(string(a)) != "192.168.1.50" {
		t.Fatalf("lan1 (allowed) got %q, want its static lease 192.168.1.50", a)
	}
	if !curl("lan1") {
		t.Fatal("lan1 (allowed) cannot reach the internet")
	}

	// lan2 is denied: no lease, and nothing with an address set by hand.
	udhcpc := l.script("udhcpc.sh", udhcpcScript)
	if out, err := l.in("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", udhcpc); err == nil {
		t.Fatalf("lan2 (denied) got a lease:\n%s", out)
	}
	if _, err := os.Stat(udhcpc + ".addr"); err == nil {
		t.Fatal("lan2 (denied) configured an address from a lease")
	}
	l.mustIn("lan2", "ip", "addr", "add", "192.168.1.20/24", "dev", "eth0")
	l.mustIn("lan2", "ip", "route", "add", "default", "via", "192.168.1.1")
	if curl("lan2") {
		t.Fatal("lan2 (denied) reached the internet")
	}
	if out, err := l.in("lan2", "ping", "-c", "1", "-W", "1", "192.168.1.1"); err == nil {
		t.Fatalf("lan2 (denied) got an answer from the router:\n%s", out)
	}
	out := cli("show lan devices")
	if !contains(out, "MAC filter: deny list, 1 device(s) blocked.") ||
		!regexp.MustCompile(`02:00:00:00:01:01\*\s+allowed\s+lan1\s+192\.168\.1\.50`).MatchString(out) ||
		!regexp.MustCompile(`02:00:00:00:01:02\*\s+blocked\s+tv\s+`).MatchString(out) ||
		!regexp.MustCompile(`\d+ frames from it dropped by the MAC filter`).MatchString(out) {
		t.Errorf("show lan devices:\n%s", out)
	}
	if out := strings.Join(strings.Fields(cli("show log")), " "); !contains(out, "lan: new device 02:00:00:00:01:02 (a private address): blocked by the MAC filter") ||
		!contains(out, "lan: new device 02:00:00:00:01:01 (a private address)") {
		t.Errorf("the new devices are not logged:\n%s", out)
	}
	if out := cli("show counters"); !regexp.MustCompile(`lan-mac-filtered\s+[1-9]`).MatchString(out) {
		t.Errorf("show counters does not count the dropped frames:\n%s", out)
	}

	// The owner, on lan1 over SSH, tries an allow list without lan1.
	ssh := func(cmd string) (string, error) {
		return l.in("lan1", "ssh", "-i", filepath.Join(l.dir, "admin"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "admin@192.168.1.1", cmd)
	}
	out, err := ssh("configure; delete firewall mac-filter device tv; set firewall mac-filter device phone mac 02:00:00:00:01:99; set firewall mac-filter mode allow; commit")
	if flat := strings.Join(strings.Fields(out), " "); err == nil ||
		!contains(flat, "this commit would make the MAC filter block the device you are connected from (192.168.1.50, MAC 02:00:00:00:01:01)") {
		t.Fatalf("an allow list without the owner's own device, committed over SSH from it: %v\n%s", err, out)
	}
	if !curl("lan1") {
		t.Fatal("lan1 lost the internet after a refused commit")
	}

	// The filter turned off (the refused edits are still the candidate:
	// rollback 0 starts again from what runs): lan2 is back at once.
	out = cli("configure; rollback 0; delete firewall mac-filter; commit")
	if !contains(out, "Commit complete") {
		t.Fatalf("taking lan2 off the list:\n%s", out)
	}
	if !curl("lan2") {
		t.Fatal("lan2 cannot reach the internet once allowed")
	}
	if out, err := l.in("lan2", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-s", udhcpc); err != nil {
		t.Fatalf("lan2 gets no lease once allowed: %v\n%s", err, out)
	}

	// A device with a maker's address (a Raspberry Pi's block) and no
	// name: listed and logged with its maker.
	l.mustIn("lan2", "ip", "link", "set", "eth0", "address", "b8:27:eb:00:01:02")
	l.in("lan2", "ping", "-c", "1", "-W", "1", "192.168.1.1")
	if out := cli("show lan devices"); !regexp.MustCompile(`b8:27:eb:00:01:02\s+allowed\s+Raspberry Pi\s`).MatchString(out) {
		t.Errorf("show lan devices does not name the maker of b8:27:eb:00:01:02:\n%s", out)
	}
	if out := strings.Join(strings.Fields(cli("show log")), " "); !contains(out, "lan: new device b8:27:eb:00:01:02 (Raspberry Pi)") {
		t.Errorf("the new device is not logged with its maker:\n%s", out)
	}
}
