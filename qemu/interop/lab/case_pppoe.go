package lab

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The ISP's PPPoE login (test-only), its resolver and a name it answers.
const (
	pppoeUser   = "isp-user@lab"
	pppoePass   = "isp-pass"
	ispResolver = "198.51.100.53"
	ispName     = "www.isp.lab"
	ispNameAddr = "203.0.113.80"
	// serverHTTP is the web server beyond the ISP (socat, in wan).
	serverHTTP = "203.0.113.1:8080"
)

// pppoeConf is routerd's WAN in mode pppoe with password pass.
func pppoeConf(pass string) string {
	return fmt.Sprintf("set interfaces wan mode pppoe\nset interfaces wan pppoe username %q\nset interfaces wan pppoe password %q\n"+
		"set interfaces wan pppoe echo-interval 2\nset interfaces wan pppoe echo-failures 3\n", pppoeUser, pass)
}

// concentrator is the ISP's PPPoE access concentrator: rp-pppoe's
// pppoe-server spawning a pppd per session.
type concentrator struct {
	l      *Lab
	server *proc
}

// start runs pppoe-server with pppd asking for auth ("pap" or "chap"),
// addresses from 198.51.100.2 for the router, the ISP's two resolvers,
// LCP echoes every 2 s.
func (c *concentrator) start(auth string) error {
	// The ISP's login, in both secrets files (PPTP's case, run inside
	// this one, writes its own chap-secrets).
	for _, f := range []string{"/etc/ppp/pap-secrets", "/etc/ppp/chap-secrets"} {
		if err := os.WriteFile(f, []byte(fmt.Sprintf("%q * %q *\n", pppoeUser, pppoePass)), 0o600); err != nil {
			return err
		}
	}
	opts := c.l.file("pppoe-server-options-" + auth)
	if err := os.WriteFile(opts, []byte("require-"+auth+"\nlcp-echo-interval 2\nlcp-echo-failure 3\n"+
		"ms-dns "+ispResolver+"\nms-dns 198.51.100.54\nnodefaultroute\nnoccp\nlogfile "+c.l.file("wan-pppd.log")+"\n"), 0o644); err != nil {
		return err
	}
	p, err := c.l.bg("wan", "wan-pppoe-server.log", "pppoe-server", "-F", "-I", "eth0", "-C", "lab-isp", "-S", "internet",
		"-L", "198.51.100.1", "-R", "198.51.100.2", "-N", "16", "-O", opts)
	if err != nil {
		return fmt.Errorf("pppoe-server: %w", err)
	}
	c.server = p
	return nil
}

// stop ends the server and its sessions' pppd (each sends the router an
// LCP Terminate-Request), as when the ISP restarts its concentrator.
func (c *concentrator) stop() {
	c.server.stop(3 * time.Second)
	for _, pid := range c.sessionPPPDs() {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	waitFor(10*time.Second, func() bool { return len(c.sessionPPPDs()) == 0 })
}

// sessionPPPDs are the pppd processes of the concentrator's sessions.
func (c *concentrator) sessionPPPDs() []int {
	out, _ := cmd("ip", "netns", "pids", "wan")
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && strings.HasPrefix(cmdline(pid), "pppd ") && c.owns(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// owns: pid is the server, one of its sessions or their pppoe helpers
// (pppd may leave its parent).
func (c *concentrator) owns(pid int) bool {
	return strings.Contains(cmdline(pid), "pppoe")
}

// casePPPoE makes the ISP a PPPoE access concentrator (rp-pppoe's
// pppoe-server with pppd) on the router's WAN line, beside the VPN
// servers and a web server beyond it. routerd with a wrong password says
// so and tries again no sooner than 30 s later; with the right one it
// gets its address and the ISP's DNS over PPPoE, a LAN host resolves a
// name through it, fetches a file (the SYN's MSS clamped to 1452) and
// runs iperf3 to the server; a 1500-byte DF packet gets Fragmentation
// Needed with 1492; raw ESP from two clients, PPTP and IKEv2 NAT-T pass
// inside the session; a concentrator gone silent is noticed by the LCP
// echoes, and one restarted (now asking for CHAP) is logged in to again,
// the LAN's next connection working.
func casePPPoE(l *Lab) Outcome {
	r, ok := l.nat.(*routerd)
	if !ok {
		return Outcome{NA, "routerd's WAN setting"}
	}
	defer os.Remove("/etc/ppp/pap-secrets")
	defer os.Remove("/etc/ppp/chap-secrets")
	ac := &concentrator{l: l}
	if err := ac.start("pap"); err != nil {
		return fail(err.Error())
	}
	defer func() {
		if err := r.restartWith(l, ""); err != nil {
			say("pppoe: routerd back to its static WAN: %v", err)
		}
	}()
	var detail []string
	failed := func(why string) Outcome { return fail(strings.Join(append(detail, why), "; ")) }
	show := func(what string) string {
		out, _ := r.shell("show " + what)
		appendFile(l.file("show-"+strings.ReplaceAll(what, " ", "-")+".txt"), out+"\n")
		return out
	}
	// oneLine is the show output with the shell's line wrapping undone.
	oneLine := func(what string) string {
		return strings.Join(strings.Fields(show(what)), " ")
	}
	sessions := func(n int) bool {
		return strings.Contains(oneLine("interfaces"), fmt.Sprintf("%d session(s) since start", n))
	}

	// A wrong password: refused, said in words, no address, and no second
	// attempt for 30 s (an ISP may lock an account that hammers it).
	if err := r.restartWith(l, pppoeConf("wrong-pass")); err != nil {
		return fail("routerd in mode pppoe: " + err.Error())
	}
	refusals := func() int {
		return fileCount(l.file("wan-pppd.log"), regexp.MustCompile(`PAP peer authentication failed`))
	}
	if !waitFor(30*time.Second, func() bool { return strings.Contains(oneLine("interfaces"), "authentication failed") }) {
		return fail("wrong password: show interfaces never said authentication failed:\n" + headLines(show("interfaces"), 30))
	}
	first := refusals()
	time.Sleep(25 * time.Second)
	early := refusals()
	waitFor(20*time.Second, func() bool { return refusals() > early })
	detail = append(detail, fmt.Sprintf("wrong password: refused and said; concentrator refusals %d, %d after 25 s, %d after 45 s",
		first, early, refusals()))
	if first < 1 || early != first || refusals() != first+1 {
		return failed("not one retry 30 s after the refusal")
	}

	// The right one.
	if err := r.restartWith(l, pppoeConf(pppoePass)); err != nil {
		return failed("routerd in mode pppoe: " + err.Error())
	}
	// pppoe-server hands out the next address of its pool per session
	// (the wrong-password sessions took some).
	addr := regexp.MustCompile(`198\.51\.100\.\d+/32`)
	if !waitFor(40*time.Second, func() bool { return addr.MatchString(oneLine("interfaces")) }) {
		return failed("no address over PPPoE:\n" + headLines(show("interfaces"), 30))
	}
	out := oneLine("interfaces")
	if !strings.Contains(out, "pppoe up") || !strings.Contains(out, "auth pap") || !strings.Contains(out, "pppoe mtu 1492") {
		return failed("show interfaces lacks the session:\n" + headLines(out, 30))
	}
	n := pingCount("lan1", "", "203.0.113.1")
	detail = append(detail, fmt.Sprintf("PAP; address %s over PPPoE; ping %d/4", addr.FindString(out), n))
	if n == 0 {
		return failed("no ping")
	}

	// The ISP's resolvers came in IPCP; the router's forwarder asks them
	// over the session.
	resolver, err := l.ispResolver()
	if err != nil {
		return failed(err.Error())
	}
	defer resolver()
	if dns := oneLine("dns"); !strings.Contains(dns, ispResolver) || !strings.Contains(dns, "198.51.100.54") {
		return failed("show dns lacks the resolvers from IPCP:\n" + headLines(dns, 20))
	}
	look, _ := ns("lan1", "busybox", "nslookup", ispName, "192.168.1.1")
	appendFile(l.file("nslookup.txt"), look)
	if !strings.Contains(look, ispNameAddr) {
		return failed("DNS from IPCP listed, but " + ispName + " did not resolve through the router: " + headLines(look, 8))
	}
	detail = append(detail, "DNS from IPCP: "+ispName+" resolved via "+ispResolver)

	// MTU: Fragmentation Needed with 1492, the MSS of a SYN clamped to
	// 1452 (seen by the server's side), a file and iperf3 through.
	big, _ := ns("lan1", "ping", "-n", "-c", "1", "-W", "3", "-M", "do", "-s", "1472", "203.0.113.1")
	fits, _ := ns("lan1", "ping", "-n", "-c", "1", "-W", "3", "-M", "do", "-s", "1464", "203.0.113.1")
	mtuOK := strings.Contains(big, "mtu=1492") || strings.Contains(big, "mtu = 1492")
	fitsOK := strings.Contains(fits, "1 received")
	detail = append(detail, fmt.Sprintf("1500 DF: frag needed 1492 %v, 1492 passes %v", mtuOK, fitsOK))
	if !mtuOK || !fitsOK {
		return failed("path MTU")
	}
	web, err := l.webServer()
	if err != nil {
		return failed(err.Error())
	}
	got, err := l.fetchOverPPPoE(web)
	detail = append(detail, got)
	if err != nil {
		return failed(err.Error())
	}
	ip3, err := l.iperf3()
	detail = append(detail, ip3)
	if err != nil {
		return failed(err.Error())
	}

	// The VPN cases inside the session, each ended before the next; the
	// concentrator and the servers beyond it stay.
	keep := func(pid int) bool {
		for _, a := range ancestry(pid) {
			if a == ac.server.cmd.Process.Pid || a == web.pid || ac.owns(a) || strings.Contains(cmdline(a), "dnsmasq") ||
				strings.Contains(cmdline(a), "iperf3") {
				return true
			}
		}
		return false
	}
	for _, sub := range []struct {
		name string
		run  func(*Lab) Outcome
	}{{"raw ESP", caseRawESP}, {"PPTP", casePPTP}, {"IKEv2 NAT-T", caseIKEv2NATT}} {
		mark := len(l.procs)
		o := sub.run(l)
		l.endSubCase(mark, keep)
		detail = append(detail, sub.name+": "+string(o.Verdict)+" "+o.Detail)
		if o.Verdict != Pass {
			return failed("a VPN inside the session failed")
		}
	}
	if !sessions(1) {
		return failed("the session did not survive the VPN cases:\n" + headLines(show("interfaces"), 30))
	}

	// The concentrator goes silent (its pppd frozen): three missed echoes
	// (2 s apart) end the session; routerd logs in again, and a new
	// session carries the LAN's traffic.
	pppds := ac.sessionPPPDs()
	for _, pid := range pppds {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	t0 := time.Now()
	noticed := waitFor(30*time.Second, func() bool { return strings.Contains(oneLine("interfaces"), "no LCP echo reply") })
	for _, pid := range pppds {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	if !noticed {
		return failed("a silent concentrator was not noticed:\n" + headLines(show("interfaces"), 30))
	}
	detail = append(detail, fmt.Sprintf("silent concentrator noticed in %ds", int(time.Since(t0).Seconds())))
	if !waitFor(60*time.Second, func() bool { return sessions(2) }) {
		return failed("no new session:\n" + headLines(show("interfaces"), 30))
	}
	n = pingCount("lan1", "", "203.0.113.1")
	detail = append(detail, fmt.Sprintf("new session, ping %d/4", n))
	if n == 0 {
		return failed("no ping")
	}

	// The ISP restarts its concentrator, which now asks for CHAP: routerd
	// logs in again and the LAN's next connection works.
	ac.stop()
	t0 = time.Now()
	if err := ac.start("chap"); err != nil {
		return failed(err.Error())
	}
	if !waitFor(90*time.Second, func() bool { return sessions(3) }) {
		return failed("no session after the concentrator restarted:\n" + headLines(show("interfaces"), 30))
	}
	out = oneLine("interfaces")
	if !strings.Contains(out, "auth chap") {
		return failed("the new session is not CHAP:\n" + headLines(out, 30))
	}
	again, err := l.fetchOverPPPoE(web)
	detail = append(detail, fmt.Sprintf("concentrator restarted with CHAP: logged in again in %ds, %s", int(time.Since(t0).Seconds()), again))
	if err != nil {
		return failed(err.Error())
	}
	return pass(strings.Join(detail, "; "))
}

// ispResolver runs dnsmasq as the ISP's resolver on ispResolver in wan,
// knowing ispName; the returned func removes its address.
func (l *Lab) ispResolver() (func(), error) {
	if _, err := ns("wan", "ip", "addr", "add", ispResolver+"/32", "dev", "lo"); err != nil {
		return nil, err
	}
	undo := func() { ns("wan", "ip", "addr", "del", ispResolver+"/32", "dev", "lo") }
	if _, err := l.bg("wan", "wan-dnsmasq.log", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
		"--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address="+ispResolver, "--port=53",
		"--address=/"+ispName+"/"+ispNameAddr, "--log-queries", "--log-facility=-"); err != nil {
		undo()
		return nil, fmt.Errorf("dnsmasq: %w", err)
	}
	time.Sleep(time.Second)
	return undo, nil
}

// web is the web server beyond the ISP: the body it serves.
type web struct {
	body []byte
	pid  int
}

// webServer serves one 1 MiB file over HTTP/1.0 on serverHTTP (socat, a
// process per connection).
func (l *Lab) webServer() (*web, error) {
	body := make([]byte, 1<<20)
	rand.Read(body)
	resp := append([]byte(fmt.Sprintf("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))), body...)
	path := l.file("http-response")
	if err := os.WriteFile(path, resp, 0o644); err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(serverHTTP, ":")
	p, err := l.bg("wan", "wan-http.log", "socat", "TCP-LISTEN:"+port+",bind="+host+",reuseaddr,fork", "SYSTEM:cat "+path)
	if err != nil {
		return nil, fmt.Errorf("socat: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	return &web{body: body, pid: p.cmd.Process.Pid}, nil
}

var synMSS = regexp.MustCompile(`mss (\d+)`)

// fetchOverPPPoE fetches the web server's file with curl from lan1 and
// reads, in a capture on the ISP's side, the MSS of the SYN that came
// through the router.
func (l *Lab) fetchOverPPPoE(w *web) (string, error) {
	cap := l.file("wan-syn.txt")
	os.Remove(cap)
	_, port, _ := strings.Cut(serverHTTP, ":")
	dump, err := l.bg("wan", "wan-syn.txt", "tcpdump", "-Z", "root", "-i", "any", "-n", "-l", "-v", "-c", "1",
		"tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and dst port "+port)
	if err != nil {
		return "", fmt.Errorf("tcpdump: %w", err)
	}
	waitFor(10*time.Second, func() bool { b, _ := os.ReadFile(cap); return bytes.Contains(b, []byte("listening on")) })
	out := l.file("curl.out")
	os.Remove(out)
	res, err := ns("lan1", "curl", "-sS", "--max-time", "120", "-o", out, "-w", "%{http_code} %{size_download} %{speed_download}",
		"http://"+serverHTTP+"/file")
	if err != nil {
		dump.stop(time.Second)
		return "curl: " + strings.TrimSpace(res), err
	}
	waitFor(5*time.Second, func() bool { return synMSS.Match(must2(os.ReadFile(cap))) })
	dump.stop(time.Second)
	got, _ := os.ReadFile(out)
	f := strings.Fields(res)
	speed := 0.0
	if len(f) == 3 {
		speed, _ = strconv.ParseFloat(f[2], 64)
	}
	mss := "none"
	if m := synMSS.FindSubmatch(must2(os.ReadFile(cap))); m != nil {
		mss = string(m[1])
	}
	detail := fmt.Sprintf("curl 1 MiB: HTTP %s, %d bytes at %.1f Mbit/s, SYN MSS at the server %s", f[0], len(got), speed*8/1e6, mss)
	switch {
	case !bytes.Equal(got, w.body):
		return detail, fmt.Errorf("the file fetched differs from the one served")
	case mss != "1452":
		return detail, fmt.Errorf("the SYN's MSS is %s at the server, not 1452", mss)
	}
	return detail, nil
}

var iperfRate = regexp.MustCompile(`([\d.]+) Mbits/sec.*receiver`)

// iperf3 runs 3 s of iperf3 from lan1 to the server beyond the ISP.
func (l *Lab) iperf3() (string, error) {
	if _, err := l.bg("wan", "wan-iperf3.log", "iperf3", "-s", "-B", "203.0.113.1"); err != nil {
		return "", fmt.Errorf("iperf3 -s: %w", err)
	}
	time.Sleep(time.Second)
	out, err := ns("lan1", "iperf3", "-c", "203.0.113.1", "-t", "3", "-f", "m")
	appendFile(l.file("lan1-iperf3.log"), out)
	m := iperfRate.FindStringSubmatch(out)
	if err != nil || m == nil {
		return "iperf3 failed: " + headLines(out, 5), fmt.Errorf("iperf3 through PPPoE failed")
	}
	return "iperf3 " + m[1] + " Mbit/s", nil
}

func must2(b []byte, _ error) []byte { return b }
