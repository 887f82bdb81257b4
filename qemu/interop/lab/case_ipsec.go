package lab

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

func caseRawESP(l *Lab) Outcome    { return l.libreswanCase("yes", "no", false, v4) }
func caseIKEv1NATT(l *Lab) Outcome { return l.libreswanCase("no", "yes", true, v4) }
func caseRawESPv6(l *Lab) Outcome  { return l.libreswanCase("yes", "no", false, v6) }

// libreswanCase: both clients connect at once with libreswan (IKEv2 or
// IKEv1, encapsulation yes|no) over family f and ping through the
// tunnel; natt says whether ESP must have travelled in UDP or raw.
func (l *Lab) libreswanCase(ikev2, encap string, natt bool, f family) Outcome {
	server, clients := lswConfigs(ikev2, encap, f)
	if err := l.lswStart("wan", server); err != nil {
		return fail("pluto(server) did not start")
	}
	for i, c := range f.clients {
		if err := l.lswStart(c.ns, clients[i]); err != nil {
			return fail("pluto(client) did not start")
		}
	}
	var fs []func() error
	for _, c := range f.clients {
		fs = append(fs, func() error {
			out, err := l.whack(c.ns, "--name", "c", "--initiate")
			appendFile(l.file(c.ns+"-initiate.log"), out)
			return err
		})
	}
	allOK(fs...)
	time.Sleep(time.Second) // the responder installs its SAs after the last message
	up := 0
	for _, c := range f.clients {
		if strings.Contains(xfrmState(c.ns), "proto esp") {
			up++
		}
	}
	ping, ok := pingAll(f.pingers, f.serverTunnel)
	if !ok {
		return fail(fmt.Sprintf("tunnels up %d/2; ping %s%s", up, ping, l.nat.note()))
	}
	encapsulated := strings.Contains(xfrmState("lan1"), "encap type espinudp")
	switch {
	case natt && !encapsulated:
		return fail("ESP was not UDP-encapsulated; ping " + ping)
	case !natt && encapsulated:
		return fail("ESP was UDP-encapsulated (" + saSummary(xfrmState("lan1")) + "); ping " + ping)
	}
	how := "raw"
	if natt {
		how = "natt"
	}
	return pass(fmt.Sprintf("ping %s; esp %s", ping, how))
}

var (
	childUp    = regexp.MustCompile(`CHILD_SA c\{\d+\} established`)
	ikeRekeyed = regexp.MustCompile(`rekeying IKE_SA|IKE_SA t\[\d+\] rekeyed|reauthenticating`)
	ikeDone    = regexp.MustCompile(`IKE_SA t\[\d+\] rekeyed|rekeyed IKE_SA|IKE_SA rekeyed`)
)

// caseIKEv2Rekey: strongSwan IKEv2 with NAT-T, a CHILD_SA rekey at 25 s
// and an IKE_SA rekey at 40 s, with pings before and after.
func caseIKEv2Rekey(l *Lab) Outcome {
	server, client := ikev2Conns(rekey{IKE: "40s", Child: "25s"}, v4)
	if err := l.swanStartAll(server, client, lanClients); err != nil {
		return fail("charon did not start")
	}
	if !l.swanUpBoth("c") {
		return fail("initiate failed: " + l.lastLine("lan1-initiate.log") + " / " + l.lastLine("lan2-initiate.log"))
	}
	before, ok := pingAll(ipsecClients, serverTunnel)
	if !ok {
		return fail("ping " + before)
	}
	if !strings.Contains(xfrmState("lan1"), "encap type espinudp sport 4500") {
		return fail("ESP not in UDP 4500")
	}
	s1, s2 := spis("lan1"), spis("lan2")
	// Both SAs rekey; keep traffic flowing.
	for end := time.Now().Add(120 * time.Second); time.Now().Before(end); time.Sleep(3 * time.Second) {
		if fileCount(l.file("lan1-charon.log"), childUp) >= 2 && fileCount(l.file("lan2-charon.log"), childUp) >= 2 &&
			fileHas(l.file("lan1-charon.log"), ikeRekeyed) {
			break
		}
	}
	time.Sleep(3 * time.Second)
	n1, n2 := spis("lan1"), spis("lan2")
	if s1 == n1 || s2 == n2 {
		return fail(fmt.Sprintf("no CHILD_SA rekey seen in 120 s (SPIs lan1 '%s' lan2 '%s')", n1, n2))
	}
	after, ok := pingAll(ipsecClients, serverTunnel)
	if !ok {
		return fail(fmt.Sprintf("before rekey %s; after rekey ping %s", before, after))
	}
	ike := "IKE_SA rekey not seen"
	if fileHas(l.file("lan1-charon.log"), ikeDone) || fileHas(l.file("wan-charon.log"), ikeDone) {
		ike = "IKE_SA rekeyed"
	}
	return pass(fmt.Sprintf("ping %s; CHILD_SA rekeyed (new SPIs), %s; ping after rekey %s", before, ike, after))
}

// caseIKEv2NATT: strongSwan IKEv2 from both clients at once, with NAT-T
// (ESP in UDP 4500), no rekeying: the shorter form of ikev2-natt-rekey,
// run inside other cases (the pppoe case).
func caseIKEv2NATT(l *Lab) Outcome {
	server, client := ikev2Conns(rekey{IKE: "0", Child: "0"}, v4)
	if err := l.swanStartAll(server, client, lanClients); err != nil {
		return fail("charon did not start")
	}
	if !l.swanUpBoth("c") {
		return fail("initiate failed: " + l.lastLine("lan1-initiate.log") + " / " + l.lastLine("lan2-initiate.log"))
	}
	ping, ok := pingAll(ipsecClients, serverTunnel)
	if !ok {
		return fail("ping " + ping + l.nat.note())
	}
	if !strings.Contains(xfrmState("lan1"), "encap type espinudp sport 4500") {
		return fail("ESP not in UDP 4500 (" + saSummary(xfrmState("lan1")) + "); ping " + ping)
	}
	return pass("IKEv2, ESP in UDP 4500; ping " + ping)
}

// caseIKEv2v6: strongSwan IKEv2 over IPv6 only, both clients at once; no
// NAT, so ESP travels raw through the router's firewall.
func caseIKEv2v6(l *Lab) Outcome {
	server, client := ikev2Conns(rekey{IKE: "0", Child: "0"}, v6)
	if err := l.swanStartAll(server, client, v6.clients); err != nil {
		return fail("charon did not start")
	}
	if !l.swanUpBothIn(v6.clients, "c") {
		return fail("initiate failed: " + l.lastLine("lan1-initiate.log") + " / " + l.lastLine("lan2-initiate.log"))
	}
	ping, ok := pingAll(v6.pingers, v6.serverTunnel)
	if !ok {
		return fail("ping " + ping + l.nat.note())
	}
	if st := xfrmState("lan1"); strings.Contains(st, "encap type espinudp") || !strings.Contains(st, "src "+v6.clients[0].addr) {
		return fail("lan1's SA is not raw ESP from its IPv6 address (" + saSummary(st) + "); ping " + ping)
	}
	return pass("IKEv2 and ESP over IPv6; ping " + ping + "; esp raw")
}
