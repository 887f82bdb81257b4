package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/sysdeps"
)

// TestEndToEndFirewall: the firewall's rules as a household uses them,
// with real clients in namespaces. A rule drops the TV's (lan2) traffic
// to the internet while lan1's goes on; turned into a reject, curl fails
// at once with "Connection refused" (a TCP reset) instead of waiting; a
// rule dropping lan1's echo requests to the WAN (icmp-type) stops its
// ping there while its curl and its ping to the router go on; a time window around the router's clock
// closes lan1's running ping (decided again at the commit) and opens
// again when it is moved; a rule to the router itself keeps lan2 from its
// DNS, with an answer (reject), and its TCP port 22 with a reset; show firewall counts, a logged rule logs;
// and a commit over SSH from lan1 that would cut lan1's own SSH is
// refused.
func TestEndToEndFirewall(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Dig); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, "")
	key := l.sshKey("admin")
	l.config = labConfig + "set service ssh authorized-key lab \"" + key + "\"\n" +
		"set firewall rule tv-off from 02:00:00:00:01:02 to wan action drop log enable\n"
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	l.start("wan", "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", l.webroot("internet"))
	cli := func(cmd string) string { return l.cli(sock, cmd) }
	curl := func(ns string) (bool, time.Duration) {
		start := time.Now()
		out, err := l.in(ns, "curl", "-sS", "--max-time", "3", "http://198.51.100.10:8000/index.html")
		return err == nil && contains(out, "hello from internet"), time.Since(start)
	}
	for i, ns := range []string{"lan1", "lan2"} {
		l.mustIn(ns, "ip", "addr", "add", fmt.Sprintf("192.168.1.%d/24", 50+i), "dev", "eth0")
		l.mustIn(ns, "ip", "route", "add", "default", "via", "192.168.1.1")
	}
	time.Sleep(300 * time.Millisecond)

	// Drop: lan2 times out, lan1 goes through.
	if ok, _ := curl("lan1"); !ok {
		t.Fatal("lan1 cannot reach the internet")
	}
	if ok, took := curl("lan2"); ok || took < 2*time.Second {
		t.Fatalf("lan2 (dropped): reached %v after %v; want nothing until curl gives up", ok, took)
	}
	out := cli("show firewall")
	if !regexp.MustCompile(`tv-off drop on [1-9]`).MatchString(out) {
		t.Errorf("show firewall does not count the dropped connection:\n%s", out)
	}
	if out := cli("show log"); !regexp.MustCompile(`firewall: rule tv-off drop tcp 192\.168\.1\.51:\d+ → 198\.51\.100\.10:8000 device 02:00:00:00:01:02`).MatchString(out) {
		t.Errorf("the logged rule did not log:\n%s", out)
	}

	// Reject: lan2 is told at once, with a TCP reset.
	cli("configure; set firewall rule tv-off action reject; commit")
	start := time.Now()
	out, err := l.in("lan2", "curl", "-v", "-sS", "--max-time", "3", "http://198.51.100.10:8000/index.html")
	if took := time.Since(start); err == nil || took > time.Second || !contains(out, "Connection refused") {
		t.Fatalf("lan2 (rejected): %v after %v; want a refusal at once, Connection refused:\n%s", err, took, out)
	}

	// icmp-type: lan1's echo requests to the WAN are dropped; its web
	// traffic, and its ping to the router, are not.
	cli("configure; set firewall rule no-ping from 02:00:00:00:01:01 to wan protocol icmp icmp-type echo-request action drop; commit")
	if out, err := l.in("lan1", "ping", "-c", "2", "-W", "1", "198.51.100.10"); err == nil {
		t.Errorf("lan1's ping to the WAN passes an icmp-type echo-request drop rule:\n%s", out)
	}
	if ok, _ := curl("lan1"); !ok {
		t.Error("lan1's curl is stopped by a rule for echo requests")
	}
	if out, err := l.in("lan1", "ping", "-c", "1", "-W", "2", "192.168.1.1"); err != nil {
		t.Errorf("lan1's ping to the router is stopped by a rule to the WAN: %v\n%s", err, out)
	}
	cli("configure; delete firewall rule no-ping; commit")

	// A time window around now (the router runs in UTC): lan1's running
	// ping is closed by the commit, and nothing new starts.
	ping := l.start("lan1", "ping", "-q", "-i", "0.2", "198.51.100.10")
	defer ping.Process.Kill()
	time.Sleep(time.Second)
	now := time.Now().UTC()
	window := func(from, to time.Duration) string {
		return now.Add(from).Format("15:04") + "-" + now.Add(to).Format("15:04")
	}
	out = cli("configure; set firewall rule night from 02:00:00:00:01:01 to wan time " + window(-time.Minute, 3*time.Minute) + " action drop; commit")
	if !regexp.MustCompile(`firewall: [1-9]\d* running connection\(s\) the rules no longer allow were closed`).MatchString(out) {
		t.Errorf("the commit did not close lan1's running ping:\n%s", out)
	}
	if ok, _ := curl("lan1"); ok {
		t.Error("lan1 reached the internet inside its rule's time window")
	}
	cli("configure; set firewall rule night time " + window(10*time.Minute, 20*time.Minute) + "; commit")
	if ok, _ := curl("lan1"); !ok {
		t.Error("lan1 cannot reach the internet outside its rule's time window")
	}
	if !regexp.MustCompile(`night drop off \(outside its time\)`).MatchString(cli("show firewall")) {
		t.Errorf("show firewall does not say the rule is outside its time")
	}

	// To the router itself: lan2's DNS refused, lan1's answered.
	cli("configure; set dns host nas address 192.168.1.5; set firewall rule tv-no-dns from 02:00:00:00:01:02 to self protocol udp port 53 action reject; commit")
	dig := func(ns string) (string, error) {
		return l.in(ns, "dig", "+time=2", "+tries=1", "@192.168.1.1", "nas.lan", "A", "+short")
	}
	if out, err := dig("lan1"); err != nil || !contains(out, "192.168.1.5") {
		t.Errorf("lan1's DNS: %v\n%s", err, out)
	}
	if out, err := dig("lan2"); err == nil && contains(out, "192.168.1.5") {
		t.Errorf("lan2 got a DNS answer from the router:\n%s", out)
	}
	if !regexp.MustCompile(`firewall-to-router\s+[1-9]`).MatchString(cli("show counters")) {
		t.Errorf("show counters does not count the packets to the router the rule refused")
	}
	// A TCP port of the router rejected: a reset at once.
	cli("configure; set firewall rule tv-no-ssh from 02:00:00:00:01:02 to self protocol tcp port 22 action reject; commit")
	start = time.Now()
	out, err = l.in("lan2", "curl", "-v", "-sS", "--max-time", "3", "telnet://192.168.1.1:22")
	if took := time.Since(start); err == nil || took > time.Second || !contains(out, "Connection refused") {
		t.Errorf("lan2 to the router's rejected port 22: %v after %v; want Connection refused at once:\n%s", err, took, out)
	}

	// The owner, on lan1 over SSH, tries to cut lan1's own SSH.
	out, err = l.in("lan1", "ssh", "-i", filepath.Join(l.dir, "admin"), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "admin@192.168.1.1",
		"configure; set firewall rule no-ssh from 192.168.1.50 to self protocol tcp port 22 action drop; commit")
	if flat := strings.Join(strings.Fields(out), " "); err == nil ||
		!contains(flat, "this commit's firewall rules would stop 192.168.1.50 reaching the router's TCP port 22, which this session uses") {
		t.Fatalf("a rule cutting the owner's own SSH, committed over it: %v\n%s", err, out)
	}
}
