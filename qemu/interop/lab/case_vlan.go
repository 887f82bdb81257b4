package lab

import (
	"fmt"
	"strings"
)

// caseWANVLAN moves the ISP's side onto VLAN 7 (a kernel 802.1Q
// sub-interface of its port, the usual DSL/fibre arrangement): routerd
// without the tag is not answered; restarted with `set interfaces wan
// vlan 7` it reaches the server, and raw ESP from two clients passes
// inside the tagged line. The lab's own topology is restored after.
func caseWANVLAN(l *Lab) Outcome {
	r, ok := l.nat.(*routerd)
	if !ok {
		return Outcome{NA, "routerd's WAN setting"}
	}
	const server = "203.0.113.1/24"
	if err := must(
		[]string{"ip", "-n", "wan", "addr", "del", server, "dev", "eth0"},
		[]string{"ip", "-n", "wan", "link", "add", "link", "eth0", "name", "eth0.7", "type", "vlan", "id", "7"},
		[]string{"ip", "-n", "wan", "addr", "add", server, "dev", "eth0.7"},
		[]string{"ip", "-n", "wan", "link", "set", "eth0.7", "up"},
		[]string{"ip", "-n", "wan", "route", "replace", "default", "via", "203.0.113.2", "dev", "eth0.7"},
	); err != nil {
		return fail("VLAN sub-interface: " + err.Error())
	}
	defer func() {
		cmd("ip", "-n", "wan", "link", "del", "eth0.7")
		cmd("ip", "-n", "wan", "addr", "add", server, "dev", "eth0")
		cmd("ip", "-n", "wan", "route", "replace", "default", "via", "203.0.113.2")
		if err := r.restartWith(l, ""); err != nil {
			say("wan-vlan: routerd back without the VLAN: %v", err)
		}
	}()
	untagged := pingCount("lan1", "", "203.0.113.1")
	if err := r.restartWith(l, "set interfaces wan vlan 7\nset interfaces wan vlan priority 3\n"); err != nil {
		return fail("routerd with vlan 7: " + err.Error())
	}
	tagged := pingCount("lan1", "", "203.0.113.1")
	show, _ := r.shell("show interfaces")
	appendFile(l.file("show-interfaces.txt"), show)
	var detail []string
	detail = append(detail, fmt.Sprintf("untagged ping %d/4, vlan 7 ping %d/4", untagged, tagged))
	esp := caseRawESP(l)
	detail = append(detail, "raw ESP in VLAN 7: "+string(esp.Verdict)+" "+esp.Detail)
	if untagged > 0 || tagged == 0 || esp.Verdict != Pass {
		return fail(strings.Join(detail, "; "))
	}
	return pass(strings.Join(detail, "; "))
}
