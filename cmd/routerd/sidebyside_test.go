package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// BenchmarkSideBySide (make bench) routes the same traffic through the
// kernel's nftables masquerade and through routerd, in the same namespace
// topology (lan1 — veth — rtr — veth — wan, MTU 1500), in three wirings:
//
//	(a) offloads off: TX checksum offload off on every veth and GRO, GSO
//	    and TSO off on the router's ports, so every frame is one MTU-size
//	    packet with a complete checksum;
//	(b) offloads at the veth defaults (TX checksum offload, TSO/GSO on),
//	    as in virtual machines and containers: partial checksums and
//	    super-packets;
//	(c) as (a), but with GRO on the router's two ports, as the boards'
//	    NIC drivers (and virtio-net) have it: the hosts send MTU-size
//	    frames, which the router's ports merge per flow on arrival, for
//	    the kernel and routerd alike (routerd with --keep-gro).
//
// For each wiring it prints one table, the kernel, routerd and (IPv4)
// routerd with flow offload on (set system flow-offload enable) measured in
// the same run: TCP throughput (iperf3, 1 and 4 streams), 64-byte UDP
// packets per second delivered, new TCP connections per second, CPU per
// forwarded UDP packet (routerd: user+system time of its worker; the
// kernel: softirq time of all CPUs from /proc/stat, which also holds the
// receiving host's stack, as routerd's transmit does on a veth), and the
// ping RTT while a TCP stream saturates the path. It runs once whatever
// b.N is, each mode PASSGATE_BENCH_ROUNDS times (default 3) in turns,
// and prints each figure's median, and every round's figures after the
// tables. PASSGATE_BENCH_WIRINGS (e.g. "b" or "a c") measures only those
// wirings. PASSGATE_ROUTERD_ARGS adds routerd
// flags; "{wiring}" in them becomes a, b or c (e.g. --cpuprofile
// /tmp/routerd-{wiring}.prof, which each later round and the offload
// column write over: set PASSGATE_BENCH_ROUNDS=1 to profile).
func BenchmarkSideBySide(b *testing.B) { sideBySide(b, false) }

// BenchmarkSideBySide6 is BenchmarkSideBySide over IPv6: the kernel
// forwarding with an nftables stateful firewall (ct state
// established,related; LAN to WAN new; WAN to LAN new dropped), against
// routerd's fw6, the same figures in the same topology (the LAN /64
// 2600:100:0:100::/64 routed to the router, the server 2600:9::10 beyond
// the ISP).
func BenchmarkSideBySide6(b *testing.B) { sideBySide(b, true) }

func sideBySide(b *testing.B, v6 bool) {
	if os.Geteuid() != 0 {
		b.Fatal("the side-by-side benchmark needs root (network namespaces)")
	}
	rounds := 3
	if v := os.Getenv("PASSGATE_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			b.Fatalf("PASSGATE_BENCH_ROUNDS=%q: want a count of rounds from 1 to 20", v)
		}
		rounds = n
	}
	wirings, err := benchWirings(os.Getenv("PASSGATE_BENCH_WIRINGS"))
	if err != nil {
		b.Fatal(err)
	}
	var out, each strings.Builder
	fmt.Fprintf(&out, "\neach figure: the median of %d rounds, the modes taking turns (PASSGATE_BENCH_ROUNDS)\n", rounds)
	fmt.Fprintf(&each, "\nevery round (TCP 1 and 4 streams Mbit/s, UDP pps, connections/s, CPU ns per UDP packet, loaded RTT ms):\n")
	for _, w := range []struct {
		name          string
		offloads, gro bool
		title         string
	}{
		{"a", false, false, "(a) offloads off (MTU-size frames, complete checksums)"},
		{"b", true, false, "(b) offloads at the veth defaults (TX checksum offload, TSO/GSO)"},
		{"c", false, true, "(c) GRO on the router's ports (MTU-size frames merged on arrival, as NIC drivers do)"},
	} {
		if !wirings[w.name] {
			continue
		}
		// The modes take turns, rounds times, and each figure is the
		// median of its rounds: on a shared or virtual host one
		// measurement of a row moves by a quarter from minute to minute.
		var ks, rs, offs []sideFigures
		for round := range rounds {
			measure := func(mode string) sideFigures {
				f := measureSide(b, mode, w.name, w.offloads, w.gro, v6)
				fmt.Fprintf(&each, "(%s) round %d %-15s %s\n", w.name, round+1, mode, f)
				return f
			}
			ks = append(ks, measure("kernel"))
			rs = append(rs, measure("routerd"))
			if !v6 {
				offs = append(offs, measure("routerd-offload"))
			}
		}
		kernel, routerd, off := medianFigures(ks), medianFigures(rs), medianFigures(offs)
		ratio := func(r, k float64) string {
			if k == 0 || r == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", r/k)
		}
		fam, kernelName := "IPv4", "kernel nftables"
		if v6 {
			fam, kernelName = "IPv6", "kernel nftables (ip6 stateful)"
		}
		fmt.Fprintf(&out, "\n%s %s\n\n| figure | %s | routerd | routerd/kernel | routerd, flow offload | offload/kernel |\n|---|---:|---:|---:|---:|---:|\n", fam, w.title, kernelName)
		row := func(name, unit string, k, r, o float64, format string) {
			cell := func(v float64) string {
				if v == 0 {
					return "-"
				}
				return fmt.Sprintf(format, v) + unit
			}
			fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s |\n", name, cell(k), cell(r), ratio(r, k), cell(o), ratio(o, k))
		}
		row("TCP throughput (iperf3, 1 stream)", " Mbit/s", kernel.tcpMbps, routerd.tcpMbps, off.tcpMbps, "%.0f")
		row("TCP throughput (iperf3, 4 streams)", " Mbit/s", kernel.tcp4Mbps, routerd.tcp4Mbps, off.tcp4Mbps, "%.0f")
		row("UDP 64-byte packets delivered", " pps", kernel.udpPPS, routerd.udpPPS, off.udpPPS, "%.0f")
		row("new TCP connections", " /s", kernel.connPS, routerd.connPS, off.connPS, "%.0f")
		row("CPU per forwarded UDP packet", " ns", kernel.cpuNsPerPkt, routerd.cpuNsPerPkt, off.cpuNsPerPkt, "%.0f")
		row("ping RTT while TCP saturates", " ms", kernel.loadedRTTms, routerd.loadedRTTms, off.loadedRTTms, "%.3f")
		fmt.Fprintf(&out, "\nrouterd: %d KiB resident; CPU: the kernel's softirq time, routerd's process time", routerd.rssKB)
		if !v6 {
			fmt.Fprintf(&out, " (with flow offload, the process's plus the softirq time: the kernel forwards)")
		}
		fmt.Fprintf(&out, "\n")
		b.ReportMetric(routerd.tcpMbps/kernel.tcpMbps, "tcp-ratio-"+w.name)
		b.ReportMetric(routerd.tcp4Mbps/kernel.tcp4Mbps, "tcp4-ratio-"+w.name)
		b.ReportMetric(routerd.udpPPS/kernel.udpPPS, "udp-ratio-"+w.name)
		b.ReportMetric(routerd.connPS/kernel.connPS, "conn-ratio-"+w.name)
		if !v6 {
			b.ReportMetric(off.tcpMbps/kernel.tcpMbps, "tcp-offload-ratio-"+w.name)
			b.ReportMetric(off.tcp4Mbps/kernel.tcp4Mbps, "tcp4-offload-ratio-"+w.name)
			b.ReportMetric(off.udpPPS/kernel.udpPPS, "udp-offload-ratio-"+w.name)
			b.ReportMetric(off.connPS/kernel.connPS, "conn-offload-ratio-"+w.name)
		}
	}
	fmt.Print(out.String() + each.String())
}

// benchWirings reads PASSGATE_BENCH_WIRINGS: the wirings to measure (all
// when empty).
func benchWirings(v string) (map[string]bool, error) {
	all := map[string]bool{"a": true, "b": true, "c": true}
	if strings.TrimSpace(v) == "" {
		return all, nil
	}
	got := map[string]bool{}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !all[w] {
			return nil, fmt.Errorf("PASSGATE_BENCH_WIRINGS=%q: %q is not a wiring; use a, b or c (e.g. \"b\" or \"a c\")", v, w)
		}
		got[w] = true
	}
	return got, nil
}

func (f sideFigures) String() string {
	return fmt.Sprintf("%6.0f %6.0f %8.0f %6.0f %6.0f %7.3f", f.tcpMbps, f.tcp4Mbps, f.udpPPS, f.connPS, f.cpuNsPerPkt, f.loadedRTTms)
}

type sideFigures struct {
	tcpMbps, tcp4Mbps, udpPPS, connPS float64
	cpuNsPerPkt                       float64
	loadedRTTms                       float64
	rssKB                             int
}

// medianFigures is each figure's median over rounds (the upper one of an
// even count); none gives zeros.
func medianFigures(rounds []sideFigures) sideFigures {
	if len(rounds) == 0 {
		return sideFigures{}
	}
	med := func(get func(sideFigures) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return sideFigures{
		tcpMbps:     med(func(f sideFigures) float64 { return f.tcpMbps }),
		tcp4Mbps:    med(func(f sideFigures) float64 { return f.tcp4Mbps }),
		udpPPS:      med(func(f sideFigures) float64 { return f.udpPPS }),
		connPS:      med(func(f sideFigures) float64 { return f.connPS }),
		cpuNsPerPkt: med(func(f sideFigures) float64 { return f.cpuNsPerPkt }),
		loadedRTTms: med(func(f sideFigures) float64 { return f.loadedRTTms }),
		rssKB:       int(med(func(f sideFigures) float64 { return float64(f.rssKB) })),
	}
}

const benchConfig = `
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode static
set interfaces wan address 203.0.113.2/24
set interfaces wan gateway 203.0.113.1
`

// benchConfig6 adds static IPv6 to benchConfig: the WAN 2600:5::2/64 via
// 2600:5::1, the routed prefix 2600:100:0:100::/56 (LAN /64 ::/64).
const benchConfig6 = `
set interfaces wan ipv6 mode static
set interfaces wan ipv6 address 2600:5::2/64
set interfaces wan ipv6 gateway 2600:5::1
set interfaces wan ipv6 prefix 2600:100:0:100::/56
`

// server is the iperf3 and connection server's address.
func benchServer(v6 bool) string {
	if v6 {
		return "2600:9::10"
	}
	return "198.51.100.10"
}

func measureSide(b *testing.B, mode, wiring string, offloads, gro, v6 bool) sideFigures {
	cfg := benchConfig
	if v6 {
		cfg += benchConfig6
	}
	if mode == "routerd-offload" {
		cfg += "set system flow-offload enable\n"
	}
	l := newLabWith(b, cfg, offloads)
	srv := benchServer(v6)
	if !offloads {
		receive := "off"
		if gro {
			receive = "on"
		}
		for _, ifc := range []string{"eth0", "eth1"} {
			l.mustIn("rtr", "ethtool", "-K", ifc, "gro", receive, "gso", "off", "tso", "off")
		}
	}
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	if v6 {
		l.mustIn("lan1", "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_ra")
		l.mustIn("lan1", "ip", "-6", "addr", "add", "2600:100:0:100::10/64", "dev", "eth0", "nodad")
		l.mustIn("lan1", "ip", "-6", "route", "add", "default", "via", "2600:100:0:100::1")
		l.mustIn("wan", "ip", "-6", "addr", "add", "2600:5::1/64", "dev", "eth0", "nodad")
		l.mustIn("wan", "ip", "-6", "addr", "add", "2600:9::10/128", "dev", "lo")
		l.mustIn("wan", "ip", "-6", "route", "add", "2600:100:0:100::/56", "via", "2600:5::2")
	}
	var worker int
	if mode == "kernel" && v6 {
		l.mustIn("rtr", "ip", "-6", "addr", "add", "2600:100:0:100::1/64", "dev", "eth0", "nodad")
		l.mustIn("rtr", "ip", "-6", "addr", "add", "2600:5::2/64", "dev", "eth1", "nodad")
		l.mustIn("rtr", "ip", "-6", "route", "add", "default", "via", "2600:5::1")
		l.mustIn("rtr", "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
		l.mustIn("rtr", "nft", "add table ip6 filter; add chain ip6 filter forward6 { type filter hook forward priority filter; policy drop; }; "+
			"add rule ip6 filter forward6 ct state established,related accept; add rule ip6 filter forward6 ct state invalid drop; "+
			"add rule ip6 filter forward6 iifname eth0 oifname eth1 accept; add rule ip6 filter forward6 meta l4proto ipv6-icmp accept")
	}
	if mode == "kernel" {
		l.mustIn("rtr", "ip", "addr", "add", "192.168.1.1/24", "dev", "eth0")
		l.mustIn("rtr", "ip", "addr", "add", "203.0.113.2/24", "dev", "eth1")
		l.mustIn("rtr", "ip", "route", "add", "default", "via", "203.0.113.1")
		l.mustIn("rtr", "sysctl", "-qw", "net.ipv4.ip_forward=1")
		l.mustIn("rtr", "nft", "add table ip nat; add chain ip nat post { type nat hook postrouting priority srcnat; }; add rule ip nat post oifname eth1 masquerade")
	} else {
		if gro {
			l.routerArgs = append(l.routerArgs, "--keep-gro")
		}
		for _, a := range strings.Fields(os.Getenv("PASSGATE_ROUTERD_ARGS")) {
			l.routerArgs = append(l.routerArgs, strings.ReplaceAll(a, "{wiring}", wiring))
		}
		l.startRouter()
		worker = workerPID(b, l.rtr.Process.Pid)
	}
	l.start("wan", "iperf3", "-s", "-B", srv, "-p", "5201")
	time.Sleep(500 * time.Millisecond)
	if v6 {
		// The router's neighbour entries and DAD: wait until it forwards.
		for i := 0; ; i++ {
			if _, err := l.in("lan1", "ping", "-c", "1", "-W", "1", srv); err == nil {
				break
			}
			if i == 20 {
				b.Fatalf("%s does not forward IPv6 to %s", mode, srv)
			}
		}
	}
	l.mustIn("lan1", "ping", "-c", "1", "-W", "2", srv) // warm ARP/ND on both sides

	var f sideFigures
	f.tcpMbps = iperfTCP(b, l, srv, 1)
	f.tcp4Mbps = iperfTCP(b, l, srv, 4)

	cpu0, soft0 := cpuTime(worker), softirqTime()
	var udp struct {
		End struct {
			Sum struct {
				Seconds     float64 `json:"seconds"`
				Packets     float64 `json:"packets"`
				LostPackets float64 `json:"lost_packets"`
			} `json:"sum"`
		} `json:"end"`
	}
	out := l.mustIn("lan1", "iperf3", "-J", "-c", srv, "-p", "5201", "-u", "-b", "0", "-l", "64", "-t", "5")
	if err := json.Unmarshal([]byte(out), &udp); err != nil {
		b.Fatalf("iperf3 UDP: %v\n%s", err, out)
	}
	delivered := udp.End.Sum.Packets - udp.End.Sum.LostPackets
	if udp.End.Sum.Seconds > 0 {
		f.udpPPS = delivered / udp.End.Sum.Seconds
	}
	if delivered > 0 {
		switch {
		case mode == "routerd-offload":
			// The kernel forwards most packets: its softirq time counts too.
			f.cpuNsPerPkt = float64(cpuTime(worker)-cpu0+softirqTime()-soft0) / delivered
		case worker != 0:
			f.cpuNsPerPkt = float64(cpuTime(worker)-cpu0) / delivered
		default:
			f.cpuNsPerPkt = float64(softirqTime()-soft0) / delivered
		}
	}
	f.connPS = connRate(b, l, srv, 3*time.Second)
	f.loadedRTTms = loadedRTT(b, l, srv)
	if worker != 0 {
		f.rssKB = rssKB(worker)
	}
	b.Logf("%s, wiring %s: %+v", mode, wiring, f)
	if worker != 0 {
		// Killing the supervisor gives the worker SIGTERM without a restart,
		// so a --cpuprofile is complete.
		l.stopRouter()
		for deadline := time.Now().Add(5 * time.Second); syscall.Kill(worker, 0) == nil && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	}
	l.teardown()
	return f
}

// iperfTCP runs iperf3 TCP from lan1 with streams parallel streams for 5 s
// and returns the throughput received in Mbit/s.
func iperfTCP(b *testing.B, l *lab, srv string, streams int) float64 {
	var tcp struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	out := l.mustIn("lan1", "iperf3", "-J", "-c", srv, "-p", "5201", "-t", "5", "-P", strconv.Itoa(streams))
	if err := json.Unmarshal([]byte(out), &tcp); err != nil {
		b.Fatalf("iperf3 TCP: %v\n%s", err, out)
	}
	return tcp.End.SumReceived.BitsPerSecond / 1e6
}

// loadedRTT pings through the router while one TCP stream saturates it and
// returns the average round trip in milliseconds.
func loadedRTT(b *testing.B, l *lab, srv string) float64 {
	load := l.start("lan1", "iperf3", "-c", srv, "-p", "5201", "-t", "6")
	defer func() { load.Process.Kill(); load.Wait() }()
	time.Sleep(time.Second)
	out := l.mustIn("lan1", "ping", "-c", "20", "-i", "0.2", "-W", "2", srv)
	// rtt min/avg/max/mdev = 0.043/0.062/0.109/0.015 ms
	i := strings.Index(out, "min/avg/max")
	if i < 0 {
		b.Fatalf("ping: %s", out)
	}
	f := strings.Split(strings.Fields(out[i:])[2], "/")
	avg, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		b.Fatalf("ping: %s", out)
	}
	return avg
}

// softirqTime is the softirq time of all CPUs from /proc/stat, in
// nanoseconds.
func softirqTime() int64 {
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(st), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq ...
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	v, _ := strconv.ParseInt(f[7], 10, 64)
	return v * int64(time.Second) / 100 // USER_HZ
}

// workerPID finds routerd's worker, the supervisor's child.
func workerPID(b *testing.B, sup int) int {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", sup))
		for _, t := range tasks { // any of the supervisor's threads may have started it
			kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", sup, t.Name()))
			if f := strings.Fields(string(kids)); len(f) > 0 {
				pid, _ := strconv.Atoi(f[0])
				return pid
			}
		}
	}
	b.Fatal("routerd worker not found")
	return 0
}

// cpuTime is a process's user+system CPU time in nanoseconds.
func cpuTime(pid int) int64 {
	if pid == 0 {
		return 0
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + stime) * int64(time.Second) / 100 // USER_HZ
}

func rssKB(pid int) int {
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, ln := range strings.Split(string(st), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// inNS runs fn on a thread switched into namespace name.
func inNS(b testing.TB, name string, fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		b.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.GetFromName(name)
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		b.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// connRate opens TCP connections from lan1 to a server in wan for d, with a
// few concurrent clients, and returns completed connections per second
// (connect, one byte from the server, close).
func connRate(b testing.TB, l *lab, srv string, d time.Duration) float64 {
	addr := net.JoinHostPort(srv, "7000")
	defer oneByteServer(b, l, addr).Close()
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inNS(b, l.ns("lan1"), func() {
				buf := make([]byte, 1)
				for time.Now().Before(stop) {
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						continue
					}
					c.SetReadDeadline(time.Now().Add(time.Second))
					if _, err := c.Read(buf); err == nil {
						n.Add(1)
					}
					c.Close()
				}
			})
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// oneByteServer listens on addr in the lab's wan namespace and answers
// every connection with one byte, then closes it; closing the listener
// stops it.
func oneByteServer(tb testing.TB, l *lab, addr string) net.Listener {
	tb.Helper()
	var ln net.Listener
	inNS(tb, l.ns("wan"), func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			tb.Fatal(err)
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	}()
	return ln
}

// Each figure's median is taken on its own, the upper one of an even
// count.
func TestMedianFigures(t *testing.T) {
	got := medianFigures([]sideFigures{
		{tcpMbps: 30, connPS: 1, rssKB: 5},
		{tcpMbps: 10, connPS: 3, rssKB: 7},
		{tcpMbps: 20, connPS: 2, rssKB: 6},
	})
	if got.tcpMbps != 20 || got.connPS != 2 || got.rssKB != 6 {
		t.Errorf("median of three: %+v", got)
	}
	if got := medianFigures([]sideFigures{{udpPPS: 1}, {udpPPS: 4}}); got.udpPPS != 4 {
		t.Errorf("median of two: %+v, want the upper", got)
	}
	if got := medianFigures(nil); got != (sideFigures{}) {
		t.Errorf("median of none: %+v", got)
	}
}

// PASSGATE_BENCH_WIRINGS picks wirings by name and refuses others.
func TestBenchWirings(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", []string{"a", "b", "c"}},
		{"b", []string{"b"}},
		{"a c", []string{"a", "c"}},
		{"a,b", []string{"a", "b"}},
	} {
		got, err := benchWirings(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		var names []string
		for _, w := range []string{"a", "b", "c"} {
			if got[w] {
				names = append(names, w)
			}
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("%q: %v, want %v", c.in, names, c.want)
		}
	}
	if _, err := benchWirings("d"); err == nil || !strings.Contains(err.Error(), "use a, b or c") {
		t.Errorf("an unknown wiring: %v", err)
	}
}
