package lab

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// The ISP's PPPoE login (test-only).
const (
	pppoeUser = "isp-user@lab"
	pppoePass = "isp-pass"
)

// pppoeConf is routerd's WAN in mode pppoe with password pass.
func pppoeConf(pass string) string {
	return fmt.Sprintf("set interfaces wan mode pppoe\nset interfaces wan pppoe username %q\nset interfaces wan pppoe password %q\n"+
		"set interfaces wan pppoe echo-interval 2\nset interfaces wan pppoe echo-failures 3\n", pppoeUser, pass)
}

// casePPPoE makes the ISP a PPPoE access concentrator: rp-pppoe's
// pppoe-server with pppd (PAP, addresses from 198.51.100.2 for the
// router, DNS servers) on the router's WAN line, beside the VPN servers. routerd with
// a wrong password says so and keeps waiting; with the right one it gets
// its address over PPPoE, a LAN host reaches the server through it, a
// 1500-byte DF packet gets Fragmentation Needed with 1492, and raw ESP
// from two clients passes inside the session; a concentrator gone
// silent is noticed by the LCP echoes and a new session carries on.
func casePPPoE(l *Lab) Outcome {
	r, ok := l.nat.(*routerd)
	if !ok {
		return Outcome{NA, "routerd's WAN setting"}
	}
	const secrets = "/etc/ppp/pap-secrets"
	if err := os.WriteFile(secrets, []byte(fmt.Sprintf("%q * %q *\n", pppoeUser, pppoePass)), 0o600); err != nil {
		return fail(err.Error())
	}
	defer os.Remove(secrets)
	opts := l.file("pppoe-server-options")
	os.WriteFile(opts, []byte("require-pap\nlcp-echo-interval 2\nlcp-echo-failure 3\nms-dns 198.51.100.53\nms-dns 198.51.100.54\n"+
		"nodefaultroute\nnoccp\nlogfile "+l.file("wan-pppd.log")+"\n"), 0o644)
	if _, err := l.bg("wan", "wan-pppoe-server.log", "pppoe-server", "-F", "-I", "eth0", "-C", "lab-isp", "-S", "internet",
		"-L", "198.51.100.1", "-R", "198.51.100.2", "-N", "16", "-O", opts); err != nil {
		return fail("pppoe-server: " + err.Error())
	}
	defer func() {
		if err := r.restartWith(l, ""); err != nil {
			say("pppoe: routerd back to its static WAN: %v", err)
		}
	}()
	var detail []string
	show := func() string {
		out, _ := r.shell("show interfaces")
		appendFile(l.file("show-interfaces.txt"), out+"\n")
		return out
	}

	// A wrong password: refused, said in words, no address.
	if err := r.restartWith(l, pppoeConf("wrong-pass")); err != nil {
		return fail("routerd in mode pppoe: " + err.Error())
	}
	if !waitFor(30*time.Second, func() bool { return strings.Contains(show(), "authentication failed") }) {
		return fail("wrong password: show interfaces never said authentication failed:\n" + headLines(show(), 30))
	}
	detail = append(detail, "wrong password: refused, said")

	// The right one.
	if err := r.restartWith(l, pppoeConf(pppoePass)); err != nil {
		return fail("routerd in mode pppoe: " + err.Error())
	}
	// pppoe-server hands out the next address of its pool per session
	// (the wrong-password sessions took some).
	addr := regexp.MustCompile(`198\.51\.100\.\d+/32`)
	if !waitFor(40*time.Second, func() bool { return addr.MatchString(show()) }) {
		return fail(strings.Join(detail, "; ") + "; no address over PPPoE:\n" + headLines(show(), 30))
	}
	out := show()
	if !strings.Contains(out, "pppoe up") || !strings.Contains(out, "auth pap") {
		detail = append(detail, "show interfaces lacks the session")
	}
	n := pingCount("lan1", "", "203.0.113.1")
	detail = append(detail, fmt.Sprintf("address %s over PPPoE; ping %d/4", addr.FindString(out), n))
	big, _ := ns("lan1", "ping", "-n", "-c", "1", "-W", "3", "-M", "do", "-s", "1472", "203.0.113.1")
	fits, _ := ns("lan1", "ping", "-n", "-c", "1", "-W", "3", "-M", "do", "-s", "1464", "203.0.113.1")
	mtuOK := strings.Contains(big, "mtu=1492") || strings.Contains(big, "mtu = 1492")
	fitsOK := strings.Contains(fits, "1 received")
	detail = append(detail, fmt.Sprintf("1500 DF: frag needed 1492 %v, 1492 passes %v", mtuOK, fitsOK))
	esp := caseRawESP(l)
	detail = append(detail, "raw ESP: "+string(esp.Verdict)+" "+esp.Detail)
	if n == 0 || !mtuOK || !fitsOK || esp.Verdict != Pass {
		return fail(strings.Join(detail, "; "))
	}

	// The concentrator goes silent (its pppd frozen): three missed echoes
	// (2 s apart) end the session; routerd logs in again, and a new
	// session carries the LAN's traffic.
	ns("wan", "pkill", "-STOP", "-x", "pppd")
	t0 := time.Now()
	if !waitFor(30*time.Second, func() bool { return strings.Contains(show(), "no LCP echo reply") }) {
		ns("wan", "pkill", "-CONT", "-x", "pppd")
		return fail(strings.Join(detail, "; ") + "; a silent concentrator was not noticed:\n" + headLines(show(), 30))
	}
	detail = append(detail, fmt.Sprintf("silent concentrator noticed in %ds", int(time.Since(t0).Seconds())))
	ns("wan", "pkill", "-CONT", "-x", "pppd")
	if !waitFor(60*time.Second, func() bool { return strings.Contains(show(), "2 session(s) since start") }) {
		return fail(strings.Join(detail, "; ") + "; no new session:\n" + headLines(show(), 30))
	}
	n = pingCount("lan1", "", "203.0.113.1")
	detail = append(detail, fmt.Sprintf("new session, ping %d/4", n))
	if n == 0 {
		return fail(strings.Join(detail, "; "))
	}
	return pass(strings.Join(detail, "; "))
}
