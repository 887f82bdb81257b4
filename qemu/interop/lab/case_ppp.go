package lab

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// pppOptions is the data of templates/ppp.options.tmpl.
type pppOptions struct{ Role, User, Log string }

// pptpServer starts pptpd in wan (MS-CHAPv2, MPPE-128).
func (l *Lab) pptpServer() error {
	opts := l.file("pptpd-options")
	if err := render(opts, "ppp.options", pppOptions{Role: "pptpd", Log: l.file("wan-pppd.log")}); err != nil {
		return err
	}
	conf := l.file("pptpd.conf")
	if err := render(conf, "pptpd.conf", map[string]string{"Options": opts}); err != nil {
		return err
	}
	if _, err := l.bgPrivate("wan", "wan-pptpd.log", "pptpd", "--fg", "--conf", conf); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return nil
}

// pptpClient starts pppd over pptp in namespace n.
func (l *Lab) pptpClient(n string) (*proc, error) {
	return l.bgPrivate(n, n+"-pptp.log", "pppd", "pty", "pptp "+serverAddr+" --nolaunchpppd --loglevel 1",
		"name", pppUser, "remotename", "pptpd", "require-mppe-128", "refuse-eap", "refuse-pap", "refuse-chap", "noauth",
		"nodefaultroute", "noipdefault", "nodetach", "lcp-echo-interval", "0", "logfile", l.file(n+"-pppd.log"))
}

// xl2tpdConf is the data of templates/xl2tpd.conf.tmpl.
type xl2tpdConf struct {
	LNS              bool
	Port             int
	User, PPPOptions string
}

// l2tpServer starts xl2tpd's LNS in wan (CHAP).
func (l *Lab) l2tpServer() error {
	_, err := l.xl2tpd("wan", xl2tpdConf{LNS: true, Port: 1701}, pppOptions{Role: "lns", Log: l.file("wan-pppd.log")})
	return err
}

// l2tpClient starts an xl2tpd LAC in namespace n from UDP port port; it
// dials at once and redials.
func (l *Lab) l2tpClient(n string, port int) (*proc, error) {
	return l.xl2tpd(n, xl2tpdConf{Port: port, User: pppUser}, pppOptions{Role: "lac", User: pppUser, Log: l.file(n + "-pppd.log")})
}

func (l *Lab) xl2tpd(n string, conf xl2tpdConf, opts pppOptions) (*proc, error) {
	conf.PPPOptions = l.file(n + "-" + opts.Role + ".ppp")
	if err := render(conf.PPPOptions, "ppp.options", opts); err != nil {
		return nil, err
	}
	c := l.file(n + "-xl2tpd.conf")
	if err := render(c, "xl2tpd.conf", conf); err != nil {
		return nil, err
	}
	return l.bgPrivate(n, n+"-xl2tpd.log", "xl2tpd", "-D", "-c", c, "-p", l.file(n+"-xl2tpd.pid"), "-C", l.file(n+"-l2tp-control"))
}

// bothPPP waits for ppp0 in both clients; the detail says which is down.
func bothPPP() (string, bool) {
	waitFor(60*time.Second, func() bool { return hasAddr("lan1", "ppp0") })
	waitFor(30*time.Second, func() bool { return hasAddr("lan2", "ppp0") })
	return "ppp0 lan1:" + upDown("lan1", "ppp0") + " lan2:" + upDown("lan2", "ppp0"),
		hasAddr("lan1", "ppp0") && hasAddr("lan2", "ppp0")
}

// casePPTP: two PPTP calls at once; then lan1 hangs up (LCP terminate,
// Call-Clear-Request, TCP close) and lan2 must stay up.
func casePPTP(l *Lab) Outcome {
	if err := pppSecrets(); err != nil {
		return fail(err.Error())
	}
	if err := l.pptpServer(); err != nil {
		return fail(err.Error())
	}
	c1, err := l.pptpClient("lan1")
	if err != nil {
		return fail(err.Error())
	}
	if _, err := l.pptpClient("lan2"); err != nil {
		return fail(err.Error())
	}
	if links, ok := bothPPP(); !ok {
		return fail(links)
	}
	ping, ok := pingAll(clients, "192.168.50.1")
	if !ok {
		return fail("both calls up; ping " + ping)
	}
	c1.stop(3 * time.Second)
	time.Sleep(2 * time.Second)
	if hasAddr("lan1", "ppp0") {
		return fail("lan1's call did not go down")
	}
	r := pingCount("lan2", "", "192.168.50.1")
	if r == 0 {
		return fail(fmt.Sprintf("ping %s; after lan1 hung up lan2 got 0/4", ping))
	}
	return pass(fmt.Sprintf("MPPE-128; ping %s; after lan1 hung up lan2:%d/4", ping, r))
}

// l2tpBoth starts the LNS and a LAC in each client (from ports p1, p2)
// and pings through both; prefix starts a failure's detail.
func (l *Lab) l2tpBoth(p1, p2 int, prefix string) (string, bool) {
	if err := l.l2tpServer(); err != nil {
		return err.Error(), false
	}
	time.Sleep(time.Second)
	for i, p := range []int{p1, p2} {
		if _, err := l.l2tpClient(lanClients[i].ns, p); err != nil {
			return err.Error(), false
		}
	}
	if links, ok := bothPPP(); !ok {
		return prefix + links, false
	}
	ping, ok := pingAll(clients, "192.168.60.1")
	if !ok {
		return "ppp up; ping " + ping, false
	}
	return ping, true
}

// caseL2TP: plain L2TP, both LACs from port 1701.
func caseL2TP(l *Lab) Outcome {
	if err := pppSecrets(); err != nil {
		return fail(err.Error())
	}
	ping, ok := l.l2tpBoth(1701, 1701, "")
	if !ok {
		return fail(ping)
	}
	return pass("plain L2TP, both from source port 1701; ping " + ping)
}

// caseL2TPIPsec: strongSwan IKEv1 main mode, transport mode, NAT-T, then
// xl2tpd over it (lan2's L2TP from port 1702).
func caseL2TPIPsec(l *Lab) Outcome {
	if err := pppSecrets(); err != nil {
		return fail(err.Error())
	}
	server, client := l2tpConns()
	if err := l.swanStartAll(server, client, lanClients); err != nil {
		return fail("charon did not start")
	}
	if !l.swanUpBoth("l2tp") {
		return fail("IKEv1 failed: " + l.lastLine("lan1-initiate.log") + " / " + l.lastLine("lan2-initiate.log"))
	}
	ping, ok := l.l2tpBoth(1701, 1702, "IPsec up; ")
	if !ok {
		return fail(ping)
	}
	if !strings.Contains(xfrmState("lan1"), "encap type espinudp") {
		return fail("ESP not UDP-encapsulated")
	}
	return pass("IKEv1 main mode, transport, NAT-T; ping " + ping)
}

// lastLine is the last line of the case file name.
func (l *Lab) lastLine(name string) string {
	b, _ := os.ReadFile(l.file(name))
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return ls[len(ls)-1]
}
