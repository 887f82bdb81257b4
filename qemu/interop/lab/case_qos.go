package lab

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The qos case: latency under load behind a slow "modem" with a deep
// buffer, without shaping and with it — routerd's QoS (FQ-CoDel tiers,
// VPN first) beside the kernel's CAKE and HTB + fq_codel on the same
// topology, the same load and the same rates.
//
// The modem is on the ISP's side of the WAN link, so that the router's
// own qdiscs stay free for the kernel's shapers: a tbf on wan's eth0 for
// the download, and for the upload a tbf on an ifb that wan's eth0
// ingress is redirected to. Its buffer holds modemLatency of traffic, as
// a cable or DSL modem's does.
const (
	modemUp, modemDown = 5_000, 10_000 // kbit/s
	modemLatency       = "400ms"
	// The shapers run at 90 % of the line, as SQM guides advise.
	shapeUp, shapeDown = modemUp * 9 / 10, modemDown * 9 / 10
	// vpnRate is the NAT-T stream's rate, from the same host as the bulk
	// upload: above its per-flow fair share of the shaped upload (three
	// flows), below the priority tier's.
	vpnRate = 2_000 // kbit/s
	// loadTime is each phase's load; the ping starts loadWarm into it.
	loadTime = 14 * time.Second
	loadWarm = 4 * time.Second
	// addedMax is the most latency under load routerd's QoS may add, and
	// vpnLossMax the most the VPN stream may lose (as in
	// TestEndToEndQoS; under TCG a little is lost even unshaped).
	addedMax   = 10 * time.Millisecond
	vpnLossMax = 2
	// lineUseMin is the least share of the shaped rate routerd must
	// carry. Under TCG a user-space shaper's late wake-ups lose bucket
	// time: eight runs used 84-91 % of the upload (TCP and the VPN
	// stream) and 86-92 % of the download, a ninth (in CI) 78 % and 80 %
	// and failed the earlier 80 %. On real CPUs
	// TestEndToEndQoSBufferbloat asks for 78 % of the rate.
	lineUseMin = 0.7
	// lateMax is how late the VM may wake a sleeper (p90 of
	// sleepLateness during the ping) for the case's latencies to be
	// routerd's and not the host's: a failed QoS phase measured with the
	// VM's wake-ups later than that is measured again, up to qosTries
	// in all. On a busy host (a busy loop beside the VM) the kernel's
	// CAKE failed the case's limits as routerd did.
	lateMax  = 3 * time.Millisecond
	qosTries = 3
	// lateLineMax is the share of a phase's line time routerd's shaper
	// may lose to its sender waking late (show qos) before the phase is
	// taken as starved too and, when it failed, measured again: in quiet
	// runs its sender, sleeping in the kernel at nice -10, lost 2-10 %;
	// on a Go timer it lost 24-28 % (2026-12-05).
	lateLineMax = 0.15
)

// shaper is one way of shaping the line: its name in the detail and how
// it is turned on (nil: none).
type shaper struct {
	name  string
	on    func(l *Lab) error
	stats func() (shaperStats, error) // routerd's own counters (nil: none)
}

// shaperStats are routerd's shaper counters the case reports (show qos):
// the line time each direction lost because its sender woke late, and
// what the upload's priority tier (the VPN stream's) dropped.
type shaperStats struct {
	lateUp, lateDown time.Duration
	prioDropsUp      uint64 // CoDel and limit drops
}

func (a shaperStats) minus(b shaperStats) shaperStats {
	return shaperStats{a.lateUp - b.lateUp, a.lateDown - b.lateDown, a.prioDropsUp - b.prioDropsUp}
}

var (
	qosHeader  = regexp.MustCompile(`^(Upload|Download) \(`)
	qosLate    = regexp.MustCompile(`^  line time lost to late sends: (\S+)$`)
	qosPrioRow = regexp.MustCompile(`^  priority +\d+ +\S+ +\d+ +(\d+) +\d+ +(\d+)$`)
)

// parseShowQoS reads shaperStats from routerd's show qos.
func parseShowQoS(out string) (shaperStats, error) {
	var st shaperStats
	dir, seen := "", 0
	for _, line := range strings.Split(out, "\n") {
		if m := qosHeader.FindStringSubmatch(line); m != nil {
			dir = m[1]
			continue
		}
		if m := qosLate.FindStringSubmatch(line); m != nil {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				return st, fmt.Errorf("show qos: %q: %v", line, err)
			}
			switch dir {
			case "Upload":
				st.lateUp = d
			case "Download":
				st.lateDown = d
			}
			seen++
			continue
		}
		if m := qosPrioRow.FindStringSubmatch(line); m != nil && dir == "Upload" {
			codel, _ := strconv.ParseUint(m[1], 10, 64)
			limit, _ := strconv.ParseUint(m[2], 10, 64)
			st.prioDropsUp = codel + limit
		}
	}
	if seen != 2 {
		return st, fmt.Errorf("show qos: %d of 2 shaped directions:\n%s", seen, out)
	}
	return st, nil
}

// qosPhase is what one phase measured.
type qosPhase struct {
	shaper         string
	rttMed, rttP90 time.Duration
	up, down       float64       // Mbit/s of the bulk TCP flows
	vpn, vpnLoss   float64       // the NAT-T stream's Mbit/s received and loss %
	late50, late90 time.Duration // how late the VM woke a 1 ms sleeper meanwhile (sleepLateness)
	own            *shaperStats  // routerd's counters over the phase (nil: not routerd)
	err            error
}

func (p qosPhase) String() string {
	if p.err != nil {
		return fmt.Sprintf("%s: %v", p.shaper, p.err)
	}
	s := fmt.Sprintf("%s: ping %s (p90 %s), up %.1f, down %.1f, VPN %.2f Mbit/s lost %.1f%%, VM wake-ups late %s (p90 %s)",
		p.shaper, ms(p.rttMed), ms(p.rttP90), p.up, p.down, p.vpn, p.vpnLoss, ms(p.late50), ms(p.late90))
	if st := p.own; st != nil {
		s += fmt.Sprintf(", line lost to late sends up %s down %s of %s, priority tier drops up %d",
			ms(st.lateUp), ms(st.lateDown), ms(loadTime), st.prioDropsUp)
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func caseQoS(l *Lab) Outcome {
	if err := modem(true); err != nil {
		modem(false)
		return fail("the modem: " + err.Error())
	}
	defer modem(false)
	for _, port := range []string{"5201", "5202", "4500"} {
		if _, err := l.bg("wan", "iperf3-"+port+".log", "iperf3", "-s", "-B", serverAddr, "-p", port); err != nil {
			return fail("iperf3 server: " + err.Error())
		}
	}
	time.Sleep(time.Second)
	idle, _, err := pingRTT("lan1", serverAddr, 15)
	if err != nil {
		return fail("idle ping: " + err.Error())
	}
	shapers := []shaper{{name: "no shaping"}}
	if r, ok := l.nat.(*routerd); ok {
		shapers = append(shapers, shaper{"routerd qos", func(l *Lab) error {
			out, err := r.shell(fmt.Sprintf("configure; set qos upload %dkbit; set qos download %dkbit; commit", shapeUp, shapeDown))
			appendFile(l.file("shell.log"), out)
			return err
		}, func() (shaperStats, error) {
			out, err := r.shell("show qos")
			appendFile(l.file("shell.log"), out)
			if err != nil {
				return shaperStats{}, fmt.Errorf("show qos: %v", err)
			}
			return parseShowQoS(out)
		}})
		defer func() {
			out, _ := r.shell("configure; delete qos upload; delete qos download; commit")
			appendFile(l.file("shell.log"), out)
		}()
	} else {
		shapers = append(shapers, shaper{name: "cake", on: kernelCake}, shaper{name: "htb+fq_codel", on: kernelHTB})
		defer kernelShaperOff()
	}
	_, judged := l.nat.(*routerd)
	var phases []qosPhase
	for i, s := range shapers {
		if s.on != nil {
			if err := s.on(l); err != nil {
				return fail(fmt.Sprintf("turning %s on: %v", s.name, err))
			}
		}
		p := measurePhase(l, s)
		say("qos: %s", p)
		// The judged phase is measured again when it fails while the
		// host starved the VM: then the case measured the host.
		for try := 2; judged && i == len(shapers)-1 && try <= qosTries && remeasure(idle, p); try++ {
			say("qos: %s: the host is too busy for this case's latencies; measuring again (try %d of %d)", starved(p), try, qosTries)
			phases = append(phases, p)
			p = measurePhase(l, s)
			say("qos: %s", p)
		}
		phases = append(phases, p)
		if p.err != nil {
			break
		}
	}
	var parts []string
	for _, p := range phases {
		parts = append(parts, p.String())
	}
	detail := fmt.Sprintf("modem %d/%d kbit/s, buffer %s; shaped at %d/%d; idle ping %s; ", modemUp, modemDown, modemLatency, shapeUp, shapeDown, ms(idle)) + strings.Join(parts, "; ")
	for _, p := range phases {
		if p.err != nil {
			return fail(detail)
		}
	}
	if !judged {
		return pass(detail)
	}
	q := phases[len(phases)-1]
	if why := judgeQoS(idle, q); why != "" {
		if st := starved(q); st != "" {
			why += fmt.Sprintf(" (in the last of %d tries %s: the host was too busy to measure)", qosTries, st)
		}
		return fail(detail + " — " + why)
	}
	return pass(detail)
}

// measurePhase is loadPhase with the shaper's own counters over it.
func measurePhase(l *Lab, s shaper) qosPhase {
	if s.stats == nil {
		return loadPhase(l, s.name)
	}
	before, err := s.stats()
	if err != nil {
		return qosPhase{shaper: s.name, err: err}
	}
	p := loadPhase(l, s.name)
	after, err := s.stats()
	if err != nil && p.err == nil {
		p.err = err
	}
	if err == nil {
		st := after.minus(before)
		p.own = &st
	}
	return p
}

// remeasure says whether routerd's QoS phase p must be measured again: it
// failed while the host starved the VM (starved).
func remeasure(idle time.Duration, p qosPhase) bool {
	return p.err == nil && judgeQoS(idle, p) != "" && starved(p) != ""
}

// starved says how the host starved the VM during phase p ("": it did
// not): the VM woke the lab's sleeper later than lateMax (p90), or
// routerd's shaper lost more than lateLineMax of the line to its own
// sender waking late.
func starved(p qosPhase) string {
	if p.late90 > lateMax {
		return fmt.Sprintf("the VM woke sleepers %s late (p90, over %s)", ms(p.late90), ms(lateMax))
	}
	if st := p.own; st != nil {
		if late := max(st.lateUp, st.lateDown); float64(late) > lateLineMax*float64(loadTime) {
			return fmt.Sprintf("routerd's shaper lost %s of the line's %s to its sender waking late (over %.0f %%)",
				ms(late), ms(loadTime), lateLineMax*100)
		}
	}
	return ""
}

// judgeQoS says what is wrong with routerd's QoS phase q ("": nothing).
func judgeQoS(idle time.Duration, q qosPhase) string {
	switch {
	case q.rttMed-idle > addedMax:
		return fmt.Sprintf("with QoS the ping gained %s over idle, more than %s", ms(q.rttMed-idle), ms(addedMax))
	case q.vpnLoss > vpnLossMax:
		return fmt.Sprintf("with QoS the VPN stream lost more than %d%%", vpnLossMax)
	case q.up+q.vpn < float64(shapeUp)/1000*lineUseMin || q.down < float64(shapeDown)/1000*lineUseMin:
		return "with QoS the line is underused"
	}
	return ""
}

// modem puts the slow line with its deep buffer on the ISP's side of the
// WAN link (on), or takes it away.
func modem(on bool) error {
	if !on {
		cmd("ip", "-n", "wan", "link", "del", "ifb0")
		cmd("tc", "-n", "wan", "qdisc", "del", "dev", "eth0", "root")
		cmd("tc", "-n", "wan", "qdisc", "del", "dev", "eth0", "ingress")
		return nil
	}
	tbf := func(dev string, kbit int) []string {
		burst := max(kbit*1000/8/250, 3000) // 4 ms of the line, at least two frames
		return []string{"tc", "-n", "wan", "qdisc", "replace", "dev", dev, "root", "tbf",
			"rate", strconv.Itoa(kbit) + "kbit", "burst", strconv.Itoa(burst), "latency", modemLatency}
	}
	return must(
		[]string{"ip", "-n", "wan", "link", "add", "ifb0", "type", "ifb"},
		[]string{"ip", "-n", "wan", "link", "set", "ifb0", "up"},
		[]string{"tc", "-n", "wan", "qdisc", "add", "dev", "eth0", "handle", "ffff:", "ingress"},
		[]string{"tc", "-n", "wan", "filter", "add", "dev", "eth0", "parent", "ffff:", "matchall",
			"action", "mirred", "egress", "redirect", "dev", "ifb0"},
		tbf("ifb0", modemUp),
		tbf("eth0", modemDown),
	)
}

// kernelCake shapes the kernel router's WAN egress (upload) and LAN
// egress (download) with CAKE at the shaped rates: per-host fairness
// behind the NAT (nat, triple-isolate), as OpenWrt's SQM sets it up.
func kernelCake(*Lab) error {
	return must(
		[]string{"tc", "-n", "rtr", "qdisc", "replace", "dev", "eth1", "root", "cake",
			"bandwidth", strconv.Itoa(shapeUp) + "kbit", "nat", "triple-isolate"},
		[]string{"tc", "-n", "rtr", "qdisc", "replace", "dev", "eth0", "root", "cake",
			"bandwidth", strconv.Itoa(shapeDown) + "kbit", "triple-isolate"},
	)
}

// kernelHTB is the older recipe: an HTB class at the shaped rate with
// fq_codel inside, on the same two ports.
func kernelHTB(*Lab) error {
	kernelShaperOff()
	var argvs [][]string
	for _, x := range []struct {
		dev  string
		kbit int
	}{{"eth1", shapeUp}, {"eth0", shapeDown}} {
		rate := strconv.Itoa(x.kbit) + "kbit"
		argvs = append(argvs,
			[]string{"tc", "-n", "rtr", "qdisc", "replace", "dev", x.dev, "root", "handle", "1:", "htb", "default", "10"},
			[]string{"tc", "-n", "rtr", "class", "add", "dev", x.dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate},
			[]string{"tc", "-n", "rtr", "qdisc", "add", "dev", x.dev, "parent", "1:10", "fq_codel"},
		)
	}
	return must(argvs...)
}

func kernelShaperOff() {
	for _, dev := range []string{"eth0", "eth1"} {
		cmd("tc", "-n", "rtr", "qdisc", "del", "dev", dev, "root")
	}
}

// loadPhase loads the line from lan1 — two TCP flows up, two down and the
// NAT-T stream up — and pings the server through it meanwhile.
func loadPhase(l *Lab, name string) qosPhase {
	p := qosPhase{shaper: name}
	secs := strconv.Itoa(int(loadTime / time.Second))
	runs := [][]string{
		{"iperf3", "-J", "-c", serverAddr, "-p", "5201", "-t", secs, "-P", "2", "--connect-timeout", "5000"},
		{"iperf3", "-J", "-c", serverAddr, "-p", "5202", "-t", secs, "-P", "2", "-R", "--connect-timeout", "5000"},
		{"iperf3", "-J", "-c", serverAddr, "-p", "4500", "-t", secs, "-u", "-b", strconv.Itoa(vpnRate) + "k", "-l", "1200", "--connect-timeout", "5000"},
	}
	outs := make([]string, len(runs))
	errs := make([]error, len(runs))
	var rtt, late []time.Duration
	var rttErr error
	parallel(len(runs)+1, func(i int) {
		if i == len(runs) {
			time.Sleep(loadWarm)
			stop := make(chan struct{})
			got := make(chan []time.Duration)
			go func() { got <- sleepLateness(stop) }()
			_, rtt, rttErr = pingRTT("lan1", serverAddr, int((loadTime-loadWarm-2*time.Second)/(200*time.Millisecond)))
			close(stop)
			late = <-got
			return
		}
		outs[i], errs[i] = ns("lan1", runs[i]...)
	})
	for i, o := range outs {
		appendFile(l.file("iperf3-client.log"), fmt.Sprintf("== %s: %v\n%s\n", name, runs[i], o))
	}
	if rttErr != nil {
		p.err = fmt.Errorf("ping under load: %w", rttErr)
		return p
	}
	p.rttMed, p.rttP90 = quantile(rtt, 0.5), quantile(rtt, 0.9)
	p.late50, p.late90 = quantile(late, 0.5), quantile(late, 0.9)
	var err error
	if p.up, _, err = iperfJSON(outs[0], errs[0]); err != nil {
		p.err = fmt.Errorf("upload: %w", err)
	} else if p.down, _, err = iperfJSON(outs[1], errs[1]); err != nil {
		p.err = fmt.Errorf("download: %w", err)
	} else if p.vpn, p.vpnLoss, err = iperfJSON(outs[2], errs[2]); err != nil {
		p.err = fmt.Errorf("VPN stream: %w", err)
	}
	return p
}

// sleepLateness sleeps 1 ms at a time until stop and returns how much
// later than asked each sleep ended: how late the VM's timers and
// scheduler wake a sleeper, as they wake routerd's shaper. Under TCG a
// busy host stretches them, and with them every latency the case
// measures.
func sleepLateness(stop <-chan struct{}) []time.Duration {
	var late []time.Duration
	for {
		select {
		case <-stop:
			return late
		default:
		}
		t := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, time.Since(t)-time.Millisecond)
	}
}

// iperfResult is the part of iperf3 -J's report the case reads. For UDP
// the client's end has what the server counted: the rate received
// (sum_received) and the loss (sum).
type iperfResult struct {
	Error string `json:"error"`
	End   struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			LostPercent float64 `json:"lost_percent"`
		} `json:"sum"`
	} `json:"end"`
}

// iperfJSON reads the Mbit/s received and, for UDP, the loss the server
// counted, from iperf3 -J's output.
func iperfJSON(out string, runErr error) (mbit, loss float64, err error) {
	var r iperfResult
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		return 0, 0, fmt.Errorf("iperf3: %v (%v)", runErr, jerr)
	}
	if r.Error != "" {
		return 0, 0, fmt.Errorf("iperf3: %s", r.Error)
	}
	return r.End.SumReceived.BitsPerSecond / 1e6, r.End.Sum.LostPercent, nil
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)

// pingRTT pings dst from namespace n count times, 0.2 s apart, and
// returns the median round trip and every one measured.
func pingRTT(n, dst string, count int) (time.Duration, []time.Duration, error) {
	out, _ := ns(n, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", dst)
	var rtt []time.Duration
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		f, err := strconv.ParseFloat(m[1], 64)
		if err == nil {
			rtt = append(rtt, time.Duration(f*float64(time.Millisecond)))
		}
	}
	if len(rtt) < count/2 {
		return 0, nil, fmt.Errorf("%d of %d echo replies:\n%s", len(rtt), count, out)
	}
	return quantile(rtt, 0.5), rtt, nil
}

// quantile is the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}
