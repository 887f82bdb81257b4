// Package lab is the interop lab as it runs inside the VM: the cases (each
// defined once, here, with what the host test needs to know of it), the
// namespace topology, the two NATs, the VPN daemons and their
// configuration templates, and the results handed back to the host.
//
// The host test (package interop) imports it for Cases and the result
// types; the in-VM program qemu/interop/labagent calls Main.
package lab

// Verdict is a case's outcome.
type Verdict string

// The verdicts.
const (
	Pass Verdict = "PASS"
	Fail Verdict = "FAIL"
	// NA is the verdict of a routerd-only case under the kernel NAT.
	NA Verdict = "N/A"
)

// Outcome is what one run of a case found.
type Outcome struct {
	Verdict Verdict
	Detail  string
}

func pass(detail string) Outcome { return Outcome{Pass, detail} }
func fail(detail string) Outcome { return Outcome{Fail, detail} }

// Case is one scenario of the lab.
type Case struct {
	Name string
	What string
	// RouterdOnly cases test routerd's switches or WAN settings; the
	// kernel has none and gets N/A (with NADetail) without running them.
	RouterdOnly bool
	NADetail    string // default "routerd's switch"
	// KernelExpected is the outcome expected of the kernel NAT: Pass, Fail
	// or "" when either is acceptable (informational).
	KernelExpected Verdict
	// Run runs the case on a topology that is up, with an empty case
	// directory; the processes it starts are ended after it returns.
	Run func(*Lab) Outcome
}

// Cases lists the lab's scenarios in the order they run.
var Cases = []Case{
	{Name: "raw-esp", What: "IKEv2 + raw ESP (libreswan, encapsulation=no), two clients to one server", KernelExpected: Fail, Run: caseRawESP},
	{Name: "ikev2-natt-rekey", What: "IKEv2 NAT-T, ESP in UDP 4500 (strongSwan), CHILD_SA and IKE_SA rekey", Run: caseIKEv2Rekey},
	{Name: "pptp", What: "PPTP (pptp-linux + pppd ↔ pptpd, MS-CHAPv2, MPPE-128); one hangs up, the other stays up", Run: casePPTP},
	{Name: "l2tp-ipsec", What: "L2TP/IPsec: xl2tpd over strongSwan IKEv1 main mode, transport mode, NAT-T", Run: caseL2TPIPsec},
	{Name: "ikev1-natt", What: "IKEv1 main mode with NAT-T float 500 → 4500 (libreswan)", Run: caseIKEv1NATT},
	{Name: "openvpn", What: "OpenVPN 2.6 UDP, TLS with --peer-fingerprint, both clients from port 1194", Run: caseOpenVPN},
	{Name: "wireguard", What: "WireGuard (kernel), both clients from port 51820", Run: caseWireGuard},
	{Name: "l2tp", What: "plain L2TP (xl2tpd + pppd, no IPsec), both clients from port 1701", Run: caseL2TP},
	{Name: "switch-pptp", What: "pptp switch off: no call, blocked counted; on again: connects", RouterdOnly: true, Run: caseSwitchPPTP},
	{Name: "switch-l2tp", What: "l2tp switch off: no tunnel, blocked counted; on again: connects", RouterdOnly: true, Run: caseSwitchL2TP},
	{Name: "switch-ipsec", What: "ipsec switch off: IKE fails, blocked counted; on again: connects", RouterdOnly: true, Run: caseSwitchIPsec},
	{Name: "ikev2-v6", What: "IKEv2 (strongSwan) over IPv6 only, raw ESP through the firewall, two clients to one server", Run: caseIKEv2v6},
	{Name: "raw-esp-v6", What: "IKEv2 + raw ESP (libreswan, encapsulation=no) over IPv6 only, two clients", Run: caseRawESPv6},
	{Name: "wireguard-v6", What: "WireGuard (kernel) to the server's IPv6 address, both clients from port 51820", Run: caseWireGuardV6},
	{Name: "wan-vlan", What: "the ISP on VLAN 7 only (802.1Q sub-interface): untagged routerd unanswered; with vlan 7, ping and raw ESP ×2 pass", RouterdOnly: true, NADetail: "routerd's WAN setting", Run: caseWANVLAN},
	{Name: "pppoe", What: "the ISP as a PPPoE concentrator (rp-pppoe pppoe-server + pppd): wrong password refused with 30 s backoff; PAP, address and DNS over PPPoE, curl + MSS 1452, iperf3, MTU 1492, raw ESP ×2, PPTP, IKEv2 NAT-T inside; silent concentrator; restart with CHAP", RouterdOnly: true, NADetail: "routerd's WAN setting", Run: casePPPoE},
	{Name: "qos", What: "a slow modem with a deep buffer (5/10 Mbit/s, 400 ms): ping under two TCP flows each way and a 2 Mbit/s NAT-T stream, without shaping and shaped at 90 % — routerd's qos beside the kernel's CAKE and HTB + fq_codel", Run: caseQoS},
	{Name: "switch-ipsec-v6", What: "ipsec switch off over IPv6: IKE fails, blocked counted; on again: connects", RouterdOnly: true, Run: caseSwitchIPsecV6},
}

// CaseNames returns the names of cs.
func CaseNames(cs []Case) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

// Select returns the cases named, in the order named.
func Select(names []string) ([]Case, error) {
	var cs []Case
	for _, n := range names {
		c, ok := Find(n)
		if !ok {
			return nil, &UnknownCaseError{Name: n}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Find returns the case called name.
func Find(name string) (Case, bool) {
	for _, c := range Cases {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// UnknownCaseError names a case the lab does not have.
type UnknownCaseError struct{ Name string }

func (e *UnknownCaseError) Error() string {
	return "no case " + e.Name
}
