package shell

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// Defaults of the operational commands.
const (
	defaultPingCount    = 4
	defaultCaptureCount = 100
	defaultConfirmMin   = 10
	maxConfirmMin       = 65535
)

func intArg(ph, help string, lo, hi int, optional bool) *argSpec {
	return &argSpec{ph: ph, help: help, optional: optional, check: func(w string) error {
		n, err := strconv.Atoi(w)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a number from %d to %d", w, lo, hi)
		}
		return nil
	}}
}

var hostArg = &argSpec{ph: "<HOST>", help: "IPv4 or IPv6 address, or host name", check: func(w string) error {
	if len(w) > 253 {
		return fmt.Errorf("a host name has at most 253 characters")
	}
	if strings.HasPrefix(w, "-") {
		return fmt.Errorf("%q is not a host: a host name cannot start with \"-\"", w)
	}
	if strings.Contains(w, ":") {
		a, err := netip.ParseAddr(w)
		switch {
		case err != nil:
			return fmt.Errorf("%q is not an IPv6 address (write e.g. 2600:9::10)", w)
		case a.Zone() != "":
			return fmt.Errorf("%q names a zone: give a global or unique local address, without %%%s", w, a.Zone())
		}
		return nil
	}
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%q is not an IP address or host name", w)
		}
	}
	return nil
}}

var addrArg = &argSpec{ph: "<A.B.C.D>", help: "IPv4 address", check: func(w string) error {
	if a, err := netip.ParseAddr(w); err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address (write e.g. 192.168.1.10)", w)
	}
	return nil
}}

func values(vs ...string) func(*session) []config.Candidate {
	var cs []config.Candidate
	for i := 0; i+1 < len(vs); i += 2 {
		cs = append(cs, config.Candidate{Word: vs[i], Help: vs[i+1], Kind: config.Value})
	}
	return func(*session) []config.Candidate { return cs }
}

var protoArg = &argSpec{ph: "<PROTOCOL>", help: "transport protocol", choices: values(
	"tcp", "TCP sessions", "udp", "UDP sessions", "icmp", "ICMP queries (ping)",
	"gre", "GRE (PPTP calls)", "esp", "ESP (IPsec)")}

var portArg = &argSpec{ph: "<PORT>", help: "port to capture on", choices: values(
	"lan", "the LAN port (home network)", "wan", "the WAN port (internet uplink)")}

var revisionArg = &argSpec{ph: "<N>", help: "revision", optional: true, choices: func(s *session) []config.Candidate {
	var cs []config.Candidate
	for _, ri := range s.sh.r.Revisions() {
		help := "the committed configuration"
		if ri.N > 0 {
			help = fmt.Sprintf("%d commit(s) back", ri.N)
		}
		if !ri.Saved.IsZero() {
			help += ", saved " + ri.Saved.Local().Format("2006-01-02 15:04:05")
		}
		if ri.Err != nil {
			help += " (damaged: cannot be loaded)"
		}
		cs = append(cs, config.Candidate{Word: strconv.Itoa(ri.N), Help: help, Kind: config.Value})
	}
	return cs
}}

func sessionOpts() []*optSpec {
	return []*optSpec{
		{word: "protocol", help: "only sessions of this protocol", arg: protoArg},
		{word: "host", help: "only sessions with this address (LAN host, external or remote)", arg: addrArg},
	}
}

// commands builds the two command trees.
func commands() (operational, configure []*command) {
	showConfig := &command{word: "configuration", help: "the committed configuration", tail: tailCommitted, run: cmdShowConfiguration,
		sub: []*command{{word: "commands", help: "as set commands (replayable; the saved file's format)", tail: tailCommitted, run: cmdShowConfigurationCommands}}}
	operational = []*command{
		{word: "capture", help: "record frames of a port into a pcap file", long: true, run: cmdCapture,
			args: []*argSpec{portArg},
			opts: []*optSpec{
				{word: "count", help: fmt.Sprintf("frames to record (default %d)", defaultCaptureCount), arg: intArg("<N>", "number of frames", 1, 1000000, false)},
				{word: "filter", help: "capture only matching frames; the rest of the line is the filter", rest: true,
					arg: &argSpec{ph: "<FILTER>", help: "e.g. host 192.168.1.10, host 2600:9::10, proto udp, proto icmp6, port 53"}},
			}},
		{word: "clear", help: "clear router state", sub: []*command{
			clearDNSCommand(),
			{word: "nat", help: "NAT state", sub: []*command{
				{word: "sessions", help: "remove NAT sessions (connections must start again)", run: cmdClearNAT, opts: sessionOpts()},
			}},
		}},
		{word: "configure", help: "enter configuration mode", run: cmdConfigure},
		{word: "exit", help: "leave the shell", run: cmdExit},
		{word: "factory-reset", help: "erase the configuration and restart with the factory settings", asks: true, run: cmdFactoryReset},
		{word: "help", help: "how to use this shell", run: cmdHelp},
		{word: "ping", help: "send ICMP echo requests", long: true, run: cmdPing, args: []*argSpec{hostArg}, opts: pingOpts()},
		{word: "quit", help: "leave the shell", run: cmdExit},
		{word: "reboot", help: "restart the router", asks: true, run: cmdReboot},
		{word: "show", help: "show router state", sub: []*command{
			showARPCommand(),
			showConfig,
			{word: "counters", help: "data plane and NAT counters", run: cmdShowCounters},
			{word: "dhcp", help: "DHCP server", sub: []*command{
				{word: "leases", help: "addresses given to LAN hosts", run: cmdShowLeases},
			}},
			showDNSCommand(),
			showFirewallCommand(),
			{word: "interfaces", help: "ports: link, addresses, traffic", run: cmdShowInterfaces},
			showIPv6Command(),
			showLANCommand(),
			showQoSCommand(),
			{word: "log", help: "recent log messages", run: cmdShowLog,
				opts: []*optSpec{{word: "count", help: "only the last N lines", arg: intArg("<N>", "number of lines", 1, 100000, false)}}},
			{word: "nat", help: "NAT state", sub: []*command{
				{word: "mappings", help: "port forwards: configured, and opened by LAN hosts (NAT-PMP, PCP)", run: cmdShowNATMappings},
				{word: "sessions", help: "NAT sessions (connections through the router)", run: cmdShowNAT, opts: sessionOpts()},
			}},
			{word: "passthrough", help: "VPN passthrough: switches, counters, sessions", run: cmdShowPassthrough},
			showRouteCommand(),
			{word: "system", help: "hostname, version, board, uptime, memory", run: cmdShowSystem,
				sub: []*command{showCommitHistoryCommand()}},
			{word: "vpn", help: "VPN troubleshooting", sub: []*command{
				{word: "diagnose", help: "what the router sees going wrong with the LAN's VPNs, and what to do", run: cmdShowVPNDiagnose},
			}},
		}},
		systemCommand(),
		{word: "traceroute", help: "show the path to a host", long: true, run: cmdTraceroute, args: []*argSpec{hostArg}},
	}
	configure = []*command{
		{word: "commit", help: "check and apply the candidate; it is saved as well", run: cmdCommit, opts: commentOpts(), sub: []*command{
			{word: "check", help: "only check the candidate; apply nothing", run: cmdCommitCheck},
			{word: "confirmed", help: "apply, and roll back unless confirmed in time", run: cmdCommitConfirmed, opts: commentOpts(),
				args: []*argSpec{intArg("<MINUTES>", fmt.Sprintf("minutes until the automatic rollback (default %d)", defaultConfirmMin), 1, maxConfirmMin, true)}},
		}},
		{word: "compare", help: "show the changes between the committed configuration and the candidate", run: cmdCompare,
			sub: []*command{compareRollbackCommand()}},
		{word: "confirm", help: "keep a configuration applied with commit confirmed", run: cmdConfirm},
		{word: "delete", help: "return a value or entry to its default", tail: tailDelete, run: cmdDelete},
		{word: "discard", help: "drop all uncommitted changes", run: cmdDiscard},
		{word: "exit", help: "leave configuration mode", run: cmdExitConfigure,
			sub: []*command{{word: "discard", help: "leave and drop uncommitted changes", run: cmdExitDiscard}}},
		{word: "help", help: "how to use this shell", run: cmdHelp},
		{word: "quit", help: "leave configuration mode", run: cmdExitConfigure,
			sub: []*command{{word: "discard", help: "leave and drop uncommitted changes", run: cmdExitDiscard}}},
		{word: "rollback", help: "load a previous configuration into the candidate", run: cmdRollback, args: []*argSpec{revisionArg}},
		{word: "run", help: "run an operational command", tail: tailOperational, run: cmdRun},
		{word: "set", help: "set a value in the candidate configuration", tail: tailSet, run: cmdSet},
		{word: "show", help: "show the candidate configuration (or a part of it)", tail: tailCandidate, run: cmdShowCandidate},
		loadCommand(),
	}
	configure = append(configure, levelCommands()...)
	slices.SortFunc(configure, func(a, b *command) int { return strings.Compare(a.word, b.word) })
	markPipes(operational, configure)
	return operational, configure
}

// ---- operational mode ----

func cmdExit(s *session, _ *call) error {
	s.exit = true
	return nil
}

func cmdHelp(s *session, _ *call) error {
	var cs []config.Candidate
	for _, c := range s.top() {
		cs = append(cs, config.Candidate{Word: c.word, Help: c.help})
	}
	s.printf("Commands:\n%s\n", helpList(cs, s.cols()-1))
	s.wrapped("", `Type "?" anywhere to see what may come next. Tab completes a word, `+
		`Tab Tab lists the choices. Words may be shortened to any unique prefix `+
		`("sh int" is "show interfaces"). Up and Down recall earlier lines, `+
		`Ctrl-C cancels the line or a running command, Ctrl-D on an empty line `+
		`leaves. Several commands may be given on one line, separated by ";". `+
		`The output of show commands may be filtered: "show log | match dhcp", `+
		`"| except RE", "| count", "| no-more" (no --More-- on SSH).`)
	if s.configuring {
		s.printf("\n")
		s.wrapped("", `Changes go into a candidate configuration: "compare" shows them, `+
			`"commit" checks and applies them (and saves them), "commit confirmed 5" `+
			`rolls back after 5 minutes unless you "confirm", "rollback N" loads an `+
			`earlier configuration, "discard" drops your changes. "edit nat" goes `+
			`down a level ("up", "top" back), "show | compare" shows the changes as `+
			`blocks, "load merge terminal" takes a pasted configuration, `+
			`"commit comment \"...\"" notes why in "show system commit".`)
	}
	return nil
}

func cmdConfigure(s *session, _ *call) error {
	cur := s.sh.r.Config()
	s.configuring, s.levels = true, nil
	s.cand, s.base = cur.Clone(), cur.Clone()
	s.edits, s.conflict = nil, false
	s.printf("Entering configuration mode.\n")
	if p := s.sh.pendingInfo(); p != "" {
		s.wrapped("", p)
	}
	return nil
}

func cmdReboot(s *session, _ *call) error {
	if w := s.sh.rebootWarning(); w != "" {
		s.warnf("%s", w)
	}
	if s.interactive && !s.ask("Reboot the router?") {
		s.printf("Reboot cancelled.\n")
		return nil
	}
	s.sh.logf("reboot requested by %s", s.who())
	undo := s.planRestart()
	s.printf("Rebooting.\n")
	err := s.sh.r.Reboot()
	if err != nil {
		undo()
	}
	return err
}

func cmdFactoryReset(s *session, _ *call) error {
	if !s.interactive {
		return errors.New("factory-reset asks for confirmation: run it in an interactive session (serial console or ssh without a command)")
	}
	s.wrapped("", "This erases the configuration, the DHCP leases and the SSH host key, "+
		"and restarts the router with the factory settings (LAN 192.168.1.1/24, "+
		"no password, no SSH key).")
	if !s.ask("Erase everything and reboot?") {
		s.printf("Factory reset cancelled.\n")
		return nil
	}
	s.sh.logf("factory reset requested by %s", s.who())
	s.printf("Resetting to factory settings and rebooting.\n")
	if err := s.sh.r.FactoryReset(); err != nil {
		return err
	}
	s.sh.mu.Lock()
	s.sh.dropLocked() // the factory configuration confirmed it
	s.sh.mu.Unlock()
	return nil
}

func (s *session) who() string {
	if u := userOf(s.ctx); u != "" {
		return u
	}
	if s.term.Name != "" {
		return s.term.Name
	}
	if s.interactive {
		return "a shell session"
	}
	return "a command"
}

func cmdPing(s *session, c *call) error {
	return s.sh.r.Ping(s.cmdCtx, c.args[0], pingOptions(c), s.out)
}

func cmdTraceroute(s *session, c *call) error {
	return s.sh.r.Traceroute(s.cmdCtx, c.args[0], s.out)
}

func cmdCapture(s *session, c *call) error {
	n := defaultCaptureCount
	if v, ok := c.opt("count"); ok {
		n, _ = strconv.Atoi(v)
	}
	filter, _ := c.opt("filter")
	what := fmt.Sprintf("Capturing up to %d frames on %s", n, c.args[0])
	if filter != "" {
		what += " matching " + filter
	}
	if s.interactive {
		what += " (Ctrl-C stops)"
	}
	s.wrapped("", what+".")
	path, err := s.sh.r.Capture(s.cmdCtx, c.args[0], n, filter)
	if path != "" {
		s.printf("Wrote %s\n", path)
	}
	if err != nil && errors.Is(err, context.Canceled) && path != "" {
		return nil
	}
	return err
}

// filterOf reads the protocol and host clauses; what names the selected
// sessions ("udp NAT sessions with host 192.168.1.10").
func filterOf(c *call) (f SessionFilter, what string) {
	what = "NAT sessions"
	if v, ok := c.opt("protocol"); ok {
		f.Protocol = v
		what = v + " " + what
	}
	if v, ok := c.opt("host"); ok {
		f.Host, _ = netip.ParseAddr(v)
		what += " with host " + v
	}
	return f, what
}

func cmdClearNAT(s *session, c *call) error {
	f, what := filterOf(c)
	n, err := s.sh.r.ClearNATSessions(s.cmdCtx, f)
	if err != nil {
		return err
	}
	s.printf("Cleared %d %s.\n", n, what)
	s.sh.logf("%s cleared %d %s", s.who(), n, what)
	return nil
}

func cmdShowInterfaces(s *session, _ *call) error {
	ifs, err := s.sh.r.Interfaces(s.cmdCtx)
	if err != nil {
		return err
	}
	t := newTable(s.cols()-1, "Interface", "Device", "Link", "MTU", "MAC", "Address")
	for _, i := range ifs {
		link := "down"
		if i.Up {
			link = "up"
		}
		name := i.Name
		if i.Role != "" && i.Role != i.Name {
			name += " (" + i.Role + ")"
		}
		addr := "-"
		if len(i.Addresses) > 0 {
			addr = i.Addresses[0].String()
		}
		mac := "-"
		if len(i.MAC) > 0 {
			mac = i.MAC.String()
		}
		t.row(name, i.Device, link, strconv.Itoa(i.MTU), mac, addr)
		for _, a := range i.Addresses[min(1, len(i.Addresses)):] {
			t.note("also %s", a)
		}
		for _, p := range i.Delegated {
			t.note("delegated prefix %s", p)
		}
		for _, l := range i.Line {
			t.note("%s", l)
		}
		t.note("rx %d packets (%sB), %d dropped", i.RxPackets, size(i.RxBytes), i.RxDrops)
		t.note("tx %d packets (%sB), %d dropped", i.TxPackets, size(i.TxBytes), i.TxDrops)
		if i.Problem != "" {
			t.note("PROBLEM: %s", i.Problem)
		}
	}
	s.printf("%s", t)
	return nil
}

func cmdShowLeases(s *session, _ *call) error {
	ls, err := s.sh.r.DHCPLeases(s.cmdCtx)
	if err != nil {
		return err
	}
	if len(ls) == 0 {
		s.printf("No DHCP leases.\n")
		return nil
	}
	now := s.sh.clock.Now()
	t := newTable(s.cols()-1, "IP address", "MAC address", "Hostname", "Expires")
	for _, l := range ls {
		exp := "never"
		switch {
		case l.Static && l.Expires.IsZero():
			exp = "static"
		case l.Expires.IsZero():
		case !l.Expires.After(now):
			exp = "expired"
		default:
			exp = "in " + dur(l.Expires.Sub(now))
			if l.Static {
				exp += " (static)"
			}
		}
		host := l.Hostname
		if host == "" {
			host = "-"
		}
		if r := []rune(host); len(r) > 24 {
			host = string(r[:23]) + "~"
		}
		t.row(l.IP.String(), l.MAC.String(), host, exp)
	}
	s.printf("%s", t)
	return nil
}

func addrPort(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "-"
	}
	return ap.String()
}

func cmdShowNAT(s *session, c *call) error {
	f, _ := filterOf(c)
	ss, err := s.sh.r.NATSessions(s.cmdCtx, f)
	if err != nil {
		return err
	}
	if len(ss) == 0 {
		s.printf("No NAT sessions.\n")
		return nil
	}
	t := newTable(s.cols()-1, "Proto", "Internal", "External", "Remote")
	for _, n := range ss {
		t.row(n.Protocol, addrPort(n.Internal), addrPort(n.External), addrPort(n.Remote))
		state := n.State
		if state != "" {
			state += "  "
		}
		t.note("%sage %s  idle %s  expires %s  out %d/%s  in %d/%s",
			state, dur(n.Age), dur(n.Idle), dur(n.Expires),
			n.PacketsOut, size(n.BytesOut), n.PacketsIn, size(n.BytesIn))
	}
	s.printf("%s", t)
	s.printf("%d session(s); traffic is packets/bytes, out = LAN to WAN.\n", len(ss))
	return nil
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func cmdShowPassthrough(s *session, _ *call) error {
	p, err := s.sh.r.Passthrough(s.cmdCtx)
	if err != nil {
		return err
	}
	t := newTable(s.cols()-1, "Protocol", "Switch", "Mode")
	for _, pr := range p.Protocols {
		mode := pr.Mode
		if mode == "" {
			mode = "-"
		}
		t.row(pr.Name, onOff(pr.Enabled), mode)
		t.note("out %d/%s  in %d/%s  blocked %d  unmatched %d  created %d  expired %d",
			pr.PacketsOut, size(pr.BytesOut), pr.PacketsIn, size(pr.BytesIn),
			pr.Blocked, pr.Unmatched, pr.Created, pr.Expired)
	}
	s.printf("%s", t)
	if len(p.Extra) > 0 {
		s.printf("\n%s", counterList(p.Extra, s.cols()-1))
	}
	s.printf("\n")
	if len(p.Sessions) == 0 {
		s.printf("No passthrough sessions.\n")
		return nil
	}
	st := newTable(s.cols()-1, "Proto", "LAN host", "Server", "External", "IDs")
	for _, ps := range p.Sessions {
		host, server := "-", "-"
		if ps.Host.IsValid() {
			host = ps.Host.String()
		}
		if ps.Server.IsValid() {
			server = ps.Server.String()
		}
		st.row(ps.Protocol, host, server, ps.External, ps.IDs)
		st.note("age %s  idle %s  out %d/%s  in %d/%s", dur(ps.Age), dur(ps.Idle),
			ps.PacketsOut, size(ps.BytesOut), ps.PacketsIn, size(ps.BytesIn))
	}
	s.printf("%s", st)
	return nil
}

func cmdShowCounters(s *session, _ *call) error {
	c, err := s.sh.r.Counters(s.cmdCtx)
	if err != nil {
		return err
	}
	w := s.cols() - 1
	s.printf("Verdicts:\n%s", counterList(c.Verdicts, w))
	var drops []Counter
	for _, d := range c.Drops {
		if d.Value != 0 {
			drops = append(drops, d)
		}
	}
	s.printf("Drops (non-zero):\n%s", counterList(drops, w))
	if len(c.Sessions) > 0 {
		s.printf("Sessions:\n%s", counterList(c.Sessions, w))
	}
	if len(c.IPv6) > 0 {
		s.printf("IPv6:\n%s", counterList(c.IPv6, w))
	}
	if len(c.Ports) > 0 {
		t := newTable(w, "Port", "Dir", "Packets", "Bytes", "Dropped")
		for _, p := range c.Ports {
			t.row(p.Name, "rx", fmt.Sprint(p.RxPackets), fmt.Sprint(p.RxBytes), fmt.Sprint(p.RxDrops))
			t.row("", "tx", fmt.Sprint(p.TxPackets), fmt.Sprint(p.TxBytes), fmt.Sprint(p.TxDrops))
			if k := p.Kernel; k != nil {
				// Offloaded flows' packets never reach routerd's rings.
				t.row("", "rx, kernel", fmt.Sprint(k.RxPackets), fmt.Sprint(k.RxBytes), "-")
				t.row("", "tx, kernel", fmt.Sprint(k.TxPackets), fmt.Sprint(k.TxBytes), "-")
			}
		}
		s.printf("Ports:\n%s", t)
		known := false
		st := newTable(w, "Port", "Readers", "GRO")
		for _, p := range c.Ports {
			if p.Readers == 0 && p.GRO == "" {
				continue
			}
			known = true
			readers := "-"
			if p.Readers > 0 {
				readers = fmt.Sprint(p.Readers)
			}
			st.row(p.Name, readers, cmp.Or(p.GRO, "-"))
		}
		if known {
			// Readers share a port's frames by flow; with GRO on, the
			// driver merges a flow's segments and routerd translates
			// the super-packet whole.
			s.printf("Port set-up:\n%s", st)
		}
	}
	return nil
}

func cmdShowLog(s *session, c *call) error {
	ls, err := s.sh.r.Log(s.cmdCtx)
	if err != nil {
		return err
	}
	if v, ok := c.opt("count"); ok {
		n, _ := strconv.Atoi(v)
		if n < len(ls) {
			ls = ls[len(ls)-n:]
		}
	}
	if len(ls) == 0 {
		s.printf("The log is empty.\n")
	}
	for _, l := range ls {
		s.printf("%s\n", wrap(l.Time.Local().Format("Jan _2 15:04:05")+" "+l.Text, s.cols()-1, "    "))
	}
	return nil
}

func cmdShowSystem(s *session, _ *call) error {
	si, err := s.sh.r.System(s.cmdCtx)
	if err != nil {
		return err
	}
	row := func(k, v string) {
		if v != "" {
			s.printf("%s\n", wrap(fmt.Sprintf("%-10s %s", k, v), s.cols()-1, strings.Repeat(" ", 11)))
		}
	}
	row("Hostname", si.Hostname)
	row("Board", si.Board)
	row("Version", si.Version)
	row("Uptime", longDur(si.Uptime))
	if si.MemTotal > 0 {
		row("Memory", fmt.Sprintf("%s available of %s", mib(si.MemAvailable), mib(si.MemTotal)))
	}
	row("SSH key", si.SSHHostKey)
	row("Web page", si.WebCert)
	row("Updates", si.Updates)
	for i, l := range si.Slots {
		k := ""
		if i == 0 {
			k = "Slots"
		}
		row(k, l)
	}
	row("Time", s.sh.clock.Now().Local().Format("2006-01-02 15:04:05 MST"))
	row("Pending", s.sh.pendingInfo())
	row("Config", si.Config)
	return nil
}

func cmdShowConfiguration(s *session, c *call) error {
	return s.showConfig(s.sh.r.Config(), c, false)
}

func cmdShowConfigurationCommands(s *session, c *call) error {
	return s.showConfig(s.sh.r.Config(), c, true)
}

func cmdShowCandidate(s *session, c *call) error {
	return s.showCandidate(c)
}

// showConfig prints the committed configuration under the path in c's
// tail: as set commands, or as a tree (showConfiguration).
func (s *session) showConfig(cfg *config.Config, c *call, commands bool) error {
	return s.showConfiguration(cfg, c, c.tail, 0, commands)
}

// ---- configure mode ----

func cmdSet(s *session, c *call) error {
	words := s.abs(tailSet, c.tail)
	if err := s.cand.Set(words); err != nil {
		return s.relErr(tailSet, c, err)
	}
	s.edits = append(s.edits, edit{verb: "set", words: words})
	return nil
}

func cmdDelete(s *session, c *call) error {
	if len(c.tail) == 0 {
		return &lineError{len(c.toks), "incomplete command; give what to delete (\"?\" lists it)"}
	}
	words := s.abs(tailDelete, c.tail)
	if err := s.cand.Delete(words); err != nil {
		return s.relErr(tailDelete, c, err)
	}
	s.edits = append(s.edits, edit{verb: "delete", words: words})
	return nil
}

func cmdCompare(s *session, _ *call) error {
	d := config.Diff(s.base, s.cand)
	if len(d) == 0 {
		s.printf("No changes: the candidate is the committed configuration.\n")
		return nil
	}
	for _, l := range d {
		s.printf("%s\n", wrap(l, s.cols()-1, "      "))
	}
	return nil
}

func cmdDiscard(s *session, _ *call) error {
	if s.cand.Equal(s.base) && !s.conflict {
		s.printf("No changes to discard.\n")
		return nil
	}
	cur := s.sh.r.Config()
	s.cand, s.base = cur.Clone(), cur.Clone()
	s.edits, s.conflict = nil, false
	s.printf("Uncommitted changes discarded.\n")
	return nil
}

func cmdExitConfigure(s *session, _ *call) error {
	if s.upOnExit() {
		return nil
	}
	if !s.cand.Equal(s.base) {
		return errors.New(`there are uncommitted changes: "commit" applies them, "compare" shows them, "exit discard" leaves without them`)
	}
	s.configuring = false
	s.printf("Leaving configuration mode.\n")
	return nil
}

func cmdExitDiscard(s *session, _ *call) error {
	if !s.cand.Equal(s.base) {
		s.printf("Uncommitted changes discarded.\n")
	}
	s.configuring, s.levels = false, nil
	s.cand, s.base, s.edits = nil, nil, nil
	s.printf("Leaving configuration mode.\n")
	return nil
}

func cmdRun(s *session, c *call) error {
	if len(c.tail) == 0 {
		return &lineError{len(c.toks), "incomplete command; give an operational command (\"run ?\" lists them)"}
	}
	sub, lerr := s.resolve(s.sh.operational, c.toks[c.tailAt:])
	if lerr != nil {
		lerr.Index += c.tailAt
		return lerr
	}
	switch sub.cmd.word {
	case "configure", "exit", "quit":
		return &lineError{c.tailAt, fmt.Sprintf("%q cannot be used with run", sub.cmd.word)}
	}
	return s.invoke(sub)
}

func cmdRollback(s *session, c *call) error {
	n := 0
	if c.args[0] != "" {
		n, _ = strconv.Atoi(c.args[0])
	}
	cfg, err := s.sh.r.Rollback(n)
	if err != nil {
		return fmt.Errorf("cannot load revision %d: %v", n, err)
	}
	s.cand = cfg.Clone()
	s.edits = []edit{{verb: "load", cfg: cfg.Clone()}}
	if s.cand.Equal(s.base) {
		s.printf("Loaded revision %d: it is the committed configuration (no changes).\n", n)
		return nil
	}
	s.wrapped("", fmt.Sprintf(`Loaded revision %d into the candidate: "compare" shows the changes, "commit" applies them.`, n))
	return nil
}

// syncCandidate follows commits of other sessions: when the committed
// configuration is no longer the one the candidate started from, this
// session's edits are replayed on the new one.
func (s *session) syncCandidate() {
	cur := s.sh.r.Config()
	if s.base == nil || cur.Equal(s.base) {
		return
	}
	n, err := s.replay(cur)
	if err != nil {
		if !s.conflict {
			s.warnf("the configuration was committed from elsewhere, and your changes no longer apply to it: %v. Your candidate is kept as it was; \"discard\" starts again from the committed configuration", err)
			s.conflict = true
		}
		return
	}
	if len(s.edits) > 0 {
		s.wrapped("", "Note: the configuration was committed from elsewhere; your changes were applied again on top of it.")
	}
	s.cand, s.base, s.conflict = n, cur.Clone(), false
}

// replay applies the session's edits to a copy of cfg.
func (s *session) replay(cfg *config.Config) (*config.Config, error) {
	n := cfg.Clone()
	for _, e := range s.edits {
		var err error
		switch e.verb {
		case "set":
			err = n.Set(e.words)
		case "delete":
			err = n.Delete(e.words)
		case "load":
			n = e.cfg.Clone()
		case "merge":
			_, err = n.ApplyText(e.words[0])
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", e.verb, config.JoinWords(e.words), errMsg(err))
		}
	}
	return n, nil
}

func cmdCommitCheck(s *session, _ *call) error {
	errs, warns := s.cand.Validate()
	s.printIssues(errs, warns)
	if len(errs) > 0 {
		return reported{errors.New("check failed")}
	}
	s.printf("Configuration check succeeds.\n")
	// As in Junos, "commit check" also confirms a commit confirmed.
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending != nil {
		if err := sh.confirmLocked(); err != nil {
			return err
		}
		s.printf("This also confirms the pending commit confirmed.\n")
		sh.logf("commit confirmed by %s (commit check)", s.who())
	}
	return nil
}

func cmdCommit(s *session, c *call) error {
	defer s.withComment(c)()
	return s.commit(0)
}

func cmdCommitConfirmed(s *session, c *call) error {
	defer s.withComment(c)()
	m := defaultConfirmMin
	if c.args[0] != "" {
		m, _ = strconv.Atoi(c.args[0])
	}
	return s.commit(m)
}

func (s *session) printIssues(errs, warns []config.Issue) {
	for _, w := range warns {
		s.warnf("%s", w)
	}
	for _, e := range errs {
		s.errorf("%s", e)
	}
}

// commit checks the candidate and applies it; with minutes > 0 it is a
// commit confirmed. Commits of all sessions are serialised.
func (s *session) commit(minutes int) error {
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := sh.r.Config()
	if !cur.Equal(s.base) {
		n, err := s.replay(cur)
		if err != nil {
			return fmt.Errorf("the configuration was committed from elsewhere since you started, and your changes no longer apply to it (%v); nothing was committed. \"discard\" starts again from the committed configuration", err)
		}
		s.wrapped("", "Note: the configuration was committed from elsewhere; your changes were applied again on top of it.")
		s.cand, s.base, s.conflict = n, cur.Clone(), false
	}
	errs, warns := s.cand.Validate()
	s.printIssues(errs, warns)
	if len(errs) > 0 {
		s.printf("Commit failed: nothing was applied.\n")
		return reported{errors.New("commit failed")}
	}
	d := time.Duration(minutes) * time.Minute
	// The rollback of a commit confirmed is persisted with it
	// (Router.CommitConfirmed): it survives a power cut.
	rec := config.Pending{Prev: cur.Clone(), By: s.who(), Minutes: minutes, Left: d, Committed: sh.clock.Now()}
	if sh.pending != nil {
		rec.Prev = sh.pending.rec.Prev.Clone() // the rollback goes back before the first unconfirmed commit
	}
	if s.cand.Equal(cur) {
		switch {
		case minutes > 0 && sh.pending != nil:
			// Only change the time.
			rec = sh.pending.rec
			rec.Minutes, rec.Left, rec.Restart = minutes, d, false
			if err := sh.r.SetPending(&rec); err != nil {
				return fmt.Errorf("the rollback could not be rescheduled (%s); it still happens in %s unless confirmed", SaveProblem(err), dur(sh.pending.left(sh.clock.Now())))
			}
		case minutes > 0:
			return errors.New("no changes to commit; commit confirmed needs a change to roll back")
		case sh.pending != nil:
			if err := sh.confirmLocked(); err != nil {
				return err
			}
			s.printf("Commit confirmed: the configuration stays.\n")
			sh.logf("commit confirmed by %s", s.who())
			return nil
		default:
			s.printf("No changes to commit.\n")
			return nil
		}
	} else {
		var changes []string
		var err error
		if minutes == 0 {
			changes, err = sh.r.Commit(context.WithoutCancel(s.cmdCtx), s.cand.Clone())
		} else {
			changes, err = sh.r.CommitConfirmed(context.WithoutCancel(s.cmdCtx), s.cand.Clone(), rec)
			rec.New = config.Sum(s.cand)
		}
		if err != nil {
			return fmt.Errorf("commit failed: %v", err)
		}
		for _, c := range changes {
			s.wrapped("", c)
		}
		sh.logf("commit by %s: %d line(s) changed", s.who(), len(config.Diff(cur, s.cand)))
		s.recordCommit(minutes)
		s.base, s.edits = s.cand.Clone(), nil
	}
	restart := sh.r.NeedsRestart()
	if minutes == 0 {
		if sh.pending != nil {
			sh.dropLocked() // Commit removed its record
			s.printf("This commit also confirms the pending commit confirmed.\n")
		}
		if restart {
			s.wrapped("", `Commit complete; some changes take effect only after a restart ("reboot").`)
			return nil
		}
		s.printf("Commit complete.\n")
		return nil
	}
	sh.arm(rec, d)
	s.wrapped("", fmt.Sprintf(`Commit complete; it will be rolled back in %d minute(s) unless confirmed: "confirm" (or another "commit") keeps it.`, minutes))
	if restart {
		s.wrapped("", `Some changes take effect only after a restart: "reboot" now. The router comes back with them and keeps the time left to confirm; a power cut instead rolls the commit back as the router starts.`)
	}
	return nil
}

func cmdConfirm(s *session, _ *call) error {
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.pending == nil {
		s.printf("Nothing to confirm: no commit confirmed is pending.\n")
		return nil
	}
	if err := sh.confirmLocked(); err != nil {
		return err
	}
	sh.logf("commit confirmed by %s", s.who())
	s.printf("Commit confirmed: the configuration stays.\n")
	return nil
}
