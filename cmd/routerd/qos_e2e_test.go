package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEndToEndQoS: the upload shaped at 10 Mbit/s in routerd, with real
// iperf3 and ping in namespaces. A TCP upload from lan1 is held to the
// rate; meanwhile lan2's ping to the internet gains less than 10 ms (the
// queue is short and the ping is its own flow), and a 3 Mbit/s NAT-T
// (UDP 4500) stream keeps its rate (the priority tier). The download
// shaped at 20 Mbit/s holds iperf3 -R to it. The hosts negotiate ECN
// (net.ipv4.tcp_ecn=1), so CoDel marks the upload's packets instead of
// dropping them. show qos counts both tiers and the marks.
func TestEndToEndQoS(t *testing.T) {
	l := newLab(t, labConfig+"set qos upload 10mbit\nset qos download 20mbit\n")
	sock := filepath.Join(l.dir, "shell.sock")
	l.routerArgs = []string{"--socket", sock}
	l.startRouter()
	for i, ns := range []string{"lan1", "lan2"} {
		l.mustIn(ns, "ip", "addr", "add", "192.168.1."+strconv.Itoa(50+i)+"/24", "dev", "eth0")
		l.mustIn(ns, "ip", "route", "add", "default", "via", "192.168.1.1")
	}
	for _, ns := range []string{"lan1", "wan"} {
		l.mustIn(ns, "sysctl", "-qw", "net.ipv4.tcp_ecn=1")
	}
	l.start("wan", "iperf3", "-s", "-B", "198.51.100.10", "-p", "5201")
	l.start("wan", "iperf3", "-s", "-B", "198.51.100.10", "-p", "4500")
	time.Sleep(500 * time.Millisecond)

	idle := pingAvg(t, l, "lan2", 10)
	type result struct {
		End struct {
			SumSent struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			Sum struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				LostPercent   float64 `json:"lost_percent"`
			} `json:"sum"`
		} `json:"end"`
	}
	iperf := func(args ...string) result {
		out, err := l.in("lan1", append([]string{"iperf3", "-J", "-c", "198.51.100.10", "--connect-timeout", "3000"}, args...)...)
		var r result
		if err != nil || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("iperf3 %v: %v\n%s", args, err, out)
		}
		return r
	}
	var wg sync.WaitGroup
	var bulk, vpn result
	var loaded time.Duration
	wg.Add(3)
	go func() { defer wg.Done(); bulk = iperf("-p", "5201", "-t", "8") }()
	go func() {
		defer wg.Done()
		time.Sleep(2 * time.Second)
		vpn = iperf("-p", "4500", "-u", "-b", "3M", "-t", "4", "--cport", "4500")
	}()
	go func() { defer wg.Done(); time.Sleep(2 * time.Second); loaded = pingAvg(t, l, "lan2", 20) }()
	wg.Wait()

	up := bulk.End.SumReceived.BitsPerSecond / 1e6
	t.Logf("upload: TCP %.2f Mbit/s through the 10 Mbit/s shaper; NAT-T UDP %.2f Mbit/s, %.1f%% lost; ping idle %v, under load %v",
		up, vpn.End.Sum.BitsPerSecond/1e6, vpn.End.Sum.LostPercent, idle, loaded)
	if up > 10.5 || up < 5 {
		t.Errorf("the TCP upload got %.2f Mbit/s through a 10 Mbit/s shaper", up)
	}
	if loaded-idle > 10*time.Millisecond {
		t.Errorf("ping under a saturating upload: %v, idle %v: more than 10 ms added", loaded, idle)
	}
	if r := vpn.End.Sum.BitsPerSecond / 1e6; r < 2.8 || vpn.End.Sum.LostPercent > 2 {
		t.Errorf("the NAT-T stream got %.2f Mbit/s of 3 with %.1f%% lost under the upload", r, vpn.End.Sum.LostPercent)
	}

	down := iperf("-p", "5201", "-t", "4", "-R").End.SumReceived.BitsPerSecond / 1e6
	t.Logf("download: TCP %.2f Mbit/s through the 20 Mbit/s shaper", down)
	if down > 21 || down < 10 {
		t.Errorf("the TCP download got %.2f Mbit/s through a 20 Mbit/s shaper", down)
	}
	out, err := exec.Command(l.bin, "shell", "-socket", sock, "-c", "show qos").CombinedOutput()
	if err != nil || !regexp.MustCompile(`Upload \(wan\): shaped at 10mbit`).Match(out) || !regexp.MustCompile(`priority\s+[1-9]\d*`).Match(out) {
		t.Errorf("show qos: %v\n%s", err, out)
	}
	// The upload's normal tier: Tier Packets Bytes Queued "CoDel drops"
	// "ECN marks" "Limit drops".
	_, upload, _ := strings.Cut(string(out), "Upload (wan)")
	upload, _, _ = strings.Cut(upload, "Download")
	m := regexp.MustCompile(`(?m)^\s+normal\s+\d+\s+\S+\s+\d+\s+(\d+)\s+(\d+)\s+\d+$`).FindStringSubmatch(upload)
	if m == nil || m[2] == "0" {
		t.Errorf("show qos: no ECN marks on the upload of an ECN-capable TCP flow held to the rate:\n%s", out)
	} else {
		t.Logf("upload's normal tier: %s CoDel drops, %s ECN marks", m[1], m[2])
	}
}

// pingAvg pings the internet server n times, 5 per second, and returns
// the average round trip.
func pingAvg(t *testing.T, l *lab, ns string, n int) time.Duration {
	t.Helper()
	out, err := l.in(ns, "ping", "-q", "-c", strconv.Itoa(n), "-i", "0.2", "198.51.100.10")
	m := regexp.MustCompile(`= [\d.]+/([\d.]+)/`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("ping from %s: %v\n%s", ns, err, out)
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond))
}

// TestEndToEndQoSBufferbloat: a modem with a deep buffer (tbf at 10 Mbit/s
// up and 20 Mbit/s down, 400 ms of queue, as consumer modems have) between
// the router and the ISP. Without QoS a saturating upload or download
// fills the modem's buffer and a ping beside it waits; with routerd
// shaping a little below the line, the queue is routerd's, under
// FQ-CoDel, and the ping gains at most 10 ms. Both are logged for
// docs/performance.md. (Linux's cake and fq_codel, the reference, are not
// in this machine's kernel; the comparison runs where they are.)
func TestEndToEndQoSBufferbloat(t *testing.T) {
	l := newLab(t, labConfig)
	sock := filepath.Join(l.dir, "shell.sock")
	// routerd's frames go through the WAN port's qdisc: the modem's
	// upload buffer is a tbf there.
	l.routerArgs = []string{"--socket", sock, "--qdisc-bypass=false"}
	l.mustIn("rtr", "tc", "qdisc", "replace", "dev", "eth1", "root", "tbf", "rate", "10mbit", "burst", "20k", "latency", "400ms")
	l.mustIn("wan", "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "20mbit", "burst", "40k", "latency", "400ms")
	l.startRouter()
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.50/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.start("wan", "iperf3", "-s", "-B", "198.51.100.10", "-p", "5201")
	time.Sleep(500 * time.Millisecond)
	idle := pingAvg(t, l, "lan1", 10)
	loaded := func(reverse bool) (time.Duration, float64) {
		args := []string{"iperf3", "-J", "-c", "198.51.100.10", "-p", "5201", "-t", "7", "--connect-timeout", "3000"}
		if reverse {
			args = append(args, "-R")
		}
		var out string
		var err error
		done := make(chan struct{})
		go func() { out, err = l.in("lan1", args...); close(done) }()
		time.Sleep(2 * time.Second)
		rtt := pingAvg(t, l, "lan1", 20)
		<-done
		var r struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err != nil || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("iperf3 %v: %v\n%s", args, err, out)
		}
		return rtt, r.End.SumReceived.BitsPerSecond / 1e6
	}
	upBloat, upRate := loaded(false)
	downBloat, downRate := loaded(true)
	out, err := exec.Command(l.bin, "shell", "-socket", sock, "-c", "configure; set qos upload 9mbit; set qos download 18mbit; commit").CombinedOutput()
	if err != nil {
		t.Fatalf("turning QoS on: %v\n%s", err, out)
	}
	upQoS, upRateQoS := loaded(false)
	downQoS, downRateQoS := loaded(true)
	t.Logf("idle ping %v; upload: no QoS %.1f Mbit/s, ping %v; QoS %.1f Mbit/s, ping %v", idle, upRate, upBloat, upRateQoS, upQoS)
	t.Logf("download: no QoS %.1f Mbit/s, ping %v; QoS %.1f Mbit/s, ping %v", downRate, downBloat, downRateQoS, downQoS)
	if upQoS-idle > 10*time.Millisecond || downQoS-idle > 10*time.Millisecond {
		t.Errorf("with QoS the ping under load gained %v (upload) and %v (download) over idle %v: more than 10 ms", upQoS-idle, downQoS-idle, idle)
	}
	if upRateQoS < 7 || downRateQoS < 14 {
		t.Errorf("with QoS the line is underused: %.1f Mbit/s up of 9, %.1f down of 18", upRateQoS, downRateQoS)
	}
}
