package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/internal/bootconfig"
	"github.com/passgate/passgate/internal/logring"
	"github.com/passgate/passgate/internal/meminfo"
	"github.com/passgate/passgate/pkg/afpacket"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/dhcpd"
	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/netconf"
	"github.com/passgate/passgate/pkg/srcguard"
	"github.com/passgate/passgate/pkg/traceroute"
	"github.com/passgate/passgate/pkg/wan"
	"github.com/passgate/passgate/pkg/wanport"
	"github.com/passgate/passgate/pkg/webui"
)

// router is the running router: configuration, data plane, services.
type router struct {
	cfgPath     string
	stateDir    string
	tpacket     int
	qdiscBypass bool
	readers     int  // links (and reader goroutines) per port
	keepGRO     bool // leave the ports' GRO as the driver has it
	board       string
	console     string // serial device for the shell, "" for none
	socket      string // control socket for `routerd shell -c`
	started     time.Time
	store       *config.Store // nil unless the configuration file is named passgate.conf
	log         *logring.Ring // recent lines for `show log`
	logf        func(format string, args ...any)
	lanMAC      net.HardwareAddr
	wanMAC      net.HardwareAddr
	sshKey      atomic.Pointer[string] // the SSH host key for show system (sshd.Server.HostKeyInfo)
	clock       *startupClock          // start-up phases, logged when ready

	mu   sync.Mutex // serialises reconfiguration
	cfg  *config.Config
	eng  *nat.Engine
	pt   *passthrough.Passthrough
	dp   *dataplane.Dataplane
	dhcp *dhcpd.Server
	v6   *ipv6Control    // nil: IPv6 off (interfaces lan ipv6 disable)
	dns  *dnsService     // nil: the DNS forwarder is off
	pm   *portMapService // nil: port mapping is off
	fw   *firewallService
	// The admin page (web.go): its server and certificate once set up,
	// and its listeners while "service web" is enabled.
	webSrv  *webui.Server
	webCert string
	webCtx  context.Context
	web     *webService
	// webProblem is why the page is not served although enabled ("").
	webProblem string
	// tracer traces beyond the WAN gateway for the troubleshooter
	// (trace.go); nil in tests without one. Set once at start.
	tracer *traceroute.Tracer
	// slots are the boot slots (slots.go), set once at start.
	slots *slotService
	// dnsCtx is run's context: the forwarder started by a commit stops
	// with it.
	dnsCtx context.Context

	running *config.Config // what routerd started with: its start-only settings are in effect (config.Running)
	wanAddr netip.Prefix
	wanGW   netip.Addr // the WAN's default gateway (show route)
	wanDNS  []netip.Addr
	// wanLinkMTU is the WAN link's MTU as negotiated (PPPoE: the smaller
	// of ours and the concentrator's MRU); 0: the configuration's.
	wanLinkMTU int
	lan6       []netip.Prefix // the LAN's IPv6 prefixes (ipv6Control), DNS clients
	wan6DNS    []netip.Addr   // the WAN's IPv6 DNS servers (ipv6Control)
	wanIssue   string         // the WAN address overlaps the LAN (wan.LANConflict), or ""
	wanFrames  wanFrames
	// wanPort frames the WAN line (VLAN tag, PPPoE); nil for plain
	// Ethernet. pppoeFrames is where it hands the PPPoE client's frames.
	wanPort     *wanport.Port
	pppoeFrames pppoeFrames
	pppoe       atomic.Pointer[wan.PPPoE] // the PPPoE client in mode pppoe

	reboot func() error // restarts the machine; nil: reboot(2) (tests set it)

	// Where the configuration comes from (configfile.go). runFile:
	// cfgPath is a fallback copy in RAM, run as it is, while commits go
	// to store, the boot partition.
	runFile    bool
	noSave     string // why commits cannot be saved ("" when they can)
	configNote string // where the configuration comes from, if not passgate.conf as saved; under mu
}

// runWorker is the worker process: it runs the router until SIGTERM and
// returns the exit status for the supervisor.
func runWorker() int {
	fmt.Printf("routerd: worker started (pid %d)\n", os.Getpid())
	fs := flag.NewFlagSet("routerd", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (set lines); default: passgate.conf on the board's boot partition, which routerd mounts on /boot")
	stateDir := fs.String("state", "", "directory for DHCP leases (default: beside the configuration)")
	tpacket := fs.Int("tpacket", 2, "AF_PACKET ring version; 2 (TPACKET_V2) is the one routerd has")
	qdiscBypass := fs.Bool("qdisc-bypass", true, "send frames straight to the port's driver queue, skipping its queueing discipline (faster); set false when a tc shaper is configured on a port")
	readers := fs.Int("readers", 0, fmt.Sprintf("frame readers per port, each forwarding on its own core (a fanout group shares the port's frames by flow); 0 means one per two CPUs (both ports together: one per CPU), at least 1 and at most %d", maxReaders))
	keepGRO := fs.Bool("keep-gro", true, "leave GRO on the ports as their drivers have it: a flow's merged segments are translated once, and cut again only where the egress needs it (a shaper, a smaller MTU); false turns it off")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the worker to this file until it stops")
	boardFlag := fs.String("board", "", "board name (default: the firmware's /etc/passgate-board)")
	consoleDev := fs.String("console", "", "serial device to run the shell on, e.g. /dev/ttyAMA0")
	socket := fs.String("socket", defaultSocket, "control socket for 'routerd shell -c'")
	traceTarget := fs.String("trace-target", traceroute.DefaultTarget.String(), "public IPv4 address the troubleshooter traces towards (only the first hops matter)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *readers < 0 || *readers > afpacket.MaxGroup {
		fmt.Fprintf(os.Stderr, "routerd: --readers %d: give 0 (one per two CPUs) or 1 to %d\n", *readers, afpacket.MaxGroup)
		return 2
	}
	if *readers == 0 {
		*readers = defaultReaders(runtime.NumCPU())
	}
	target, err := netip.ParseAddr(*traceTarget)
	if err != nil || !target.Is4() {
		fmt.Fprintf(os.Stderr, "routerd: --trace-target %q: give an IPv4 address\n", *traceTarget)
		return 2
	}
	r := &router{cfgPath: *cfgPath, stateDir: *stateDir, tpacket: *tpacket, qdiscBypass: *qdiscBypass, readers: *readers, keepGRO: *keepGRO, board: *boardFlag, console: *consoleDev,
		socket: *socket, started: time.Now(), log: logring.New(500),
		tracer: traceroute.New(traceroute.Options{Params: traceroute.Params{Target: target}})}
	r.clock = newStartupClock(r.started)
	r.logf = func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		r.log.Add(line)
		fmt.Fprintf(os.Stderr, "routerd: %s\n", line)
	}
	if name := bootconfig.BoardName(); name != "" {
		// In the firmware: the board names the serial console for the shell.
		if r.board == "" {
			r.board = name
		}
		if b, err := board.Get(name); err == nil && r.console == "" && b.Console != "" {
			r.console = "/dev/" + b.Console
		}
	}
	if r.cfgPath == "" {
		// On a board (internal/bootconfig): mount the boot partition, or
		// fall back to the factory configuration in RAM.
		ch, err := bootconfig.Prepare(r.board, r.logf)
		if err != nil {
			r.logf("%v", err)
			return 2
		}
		r.useBootChoice(ch)
	}
	r.clock.mark("boot partition")
	if r.stateDir == "" {
		r.stateDir = filepath.Dir(r.cfgPath)
	}
	if r.store == nil && r.noSave == "" && filepath.Base(r.cfgPath) == "passgate.conf" {
		r.store = config.NewStore(filepath.Dir(r.cfgPath))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			r.logf("cpuprofile: %v", err)
			return 2
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := r.run(ctx); err != nil {
		r.logf("%v", err)
		return 1
	}
	return 0
}

// loadConfig reads and validates the configuration: through the store
// (falling back to the backup copy if the file is damaged, and saying so)
// when the file is named passgate.conf, else the file as it is.
func (r *router) loadConfig() (*config.Config, error) {
	var c *config.Config
	var err error
	if r.store != nil {
		// Settle once per start, on the card's store even when the
		// configuration runs from RAM after a fallback (configfile.go).
		run := r.settlePending() // confirm.go: a commit confirmed left pending
		if !r.runFile {
			var l config.Loaded
			l, err = r.store.LoadInfo()
			c = l.Config
			if l.Notice != "" {
				r.logf("%s", l.Notice)
				r.setConfigNote(l.Notice)
			}
		} else {
			c, err = config.ReadFile(r.cfgPath)
		}
		if run != nil {
			c, err = run, nil
		}
	} else {
		c, err = config.ReadFile(r.cfgPath)
	}
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", r.cfgPath, err)
	}
	errs, warns := c.Validate()
	for _, w := range warns {
		r.logf("configuration warning: %v", w)
	}
	if len(errs) > 0 {
		var b strings.Builder
		for _, e := range errs {
			fmt.Fprintf(&b, "\n  %v", e)
		}
		return nil, fmt.Errorf("configuration %s is invalid:%s", r.cfgPath, b.String())
	}
	return c, nil
}

func (r *router) run(parent context.Context) error {
	// Everything started below stops with ctx; on an error return the
	// deferred cancel runs before the deferred Wait (LIFO), so a failed
	// start-up exits for the supervisor to retry instead of hanging.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	resumeGC := pauseGC()
	defer resumeGC()
	cfg, err := r.loadConfig()
	if err != nil {
		return err
	}
	r.clock.mark("configuration")
	r.cfg = cfg
	r.openSlots()
	r.running = cfg.Clone()
	pre := r.startPrestart(cfg)
	lan, wan := cfg.Interfaces.LAN, cfg.Interfaces.WAN
	if err := netconf.SetIPv4Forwarding(false); err != nil {
		return err
	}
	// The two ports are set up side by side: each waits for its own
	// device, and the kernel's work on one overlaps the other's.
	// Each port has r.readers links in a fanout group, one per reader;
	// a WAN with the ISP's framing has one, since pkg/wanport keeps the
	// framing's state per link, and no GRO, since pkg/wanport passes
	// plain frames only.
	framed := wan.VLAN.ID != 0 || wan.Mode == config.WANPPPoE
	wanReaders := r.readers
	if framed {
		wanReaders = 1
	}
	ring := &afpacket.Config{TPacketVersion: r.tpacket, UseQdisc: !r.qdiscBypass, PollTimeout: -1}
	lanPort := startFuture(func() ([]*afpacket.Link, error) {
		return r.openPort(ctx, lan.Device, lan.MTU, ring, r.readers, r.keepGRO)
	})
	wanPort := startFuture(func() ([]*afpacket.Link, error) {
		return r.openPort(ctx, wan.Device, wanPortMTU(wan), ring, wanReaders, r.keepGRO && !framed)
	})
	lanLinks, lanErr := lanPort.get()
	wanLinks, wanErr := wanPort.get()
	if lanErr != nil || wanErr != nil {
		for _, l := range append(lanLinks, wanLinks...) {
			l.Close()
		}
		if lanErr != nil {
			return lanErr
		}
		return wanErr
	}
	r.clock.mark("ports")
	fastPath, offload := r.startFlowOffload(config.Running(r.running, cfg).System.FlowOffload, framed, lanLinks, wanLinks)
	if fastPath != nil {
		// After the data plane has stopped (deferred before its Wait).
		defer func() {
			if err := fastPath.Close(); err != nil {
				r.logf("flow offload: %v", err)
			}
		}()
		r.logf("flow offload on: established IPv4 flows are forwarded by the kernel")
	}
	r.clock.mark("flow offload")
	lanLink, wanLink := lanLinks[0], wanLinks[0]
	r.lanMAC, r.wanMAC = lanLink.MAC(), wanLink.MAC()
	var wanL link.Link = wanLink
	if framed {
		// The ISP's framing (802.1Q tag, PPPoE) is added and removed
		// here; everything above sees plain Ethernet and IPv4.
		r.wanPort = wanport.New(wanLink, wanport.Config{VLAN: uint16(wan.VLAN.ID), Priority: uint8(wan.VLAN.Priority),
			PPPoE: wan.Mode == config.WANPPPoE, MTU: wan.PPPMTU(), Control: r.pppoeFrames.deliver})
		wanL = r.wanPort
	}
	nhMAC := netconf.VirtualNextHopMAC(lanLink.MAC())
	selfFile, err := netconf.SetupSelf(netconf.SelfConfig{MAC: lanLink.MAC(), MTU: lan.MTU, Address: lan.Address, NextHopMAC: nhMAC,
		IPv6: ipv6Wanted(cfg)})
	if err != nil {
		return err
	}
	r.clock.mark("self0")
	self := link.NewTAP(selfFile, netconf.DefaultSelfName, lan.MTU, lanLink.MAC(), -1)

	engines, err := pre.nat.get()
	if err != nil {
		return err
	}
	r.eng, r.pt = engines.eng, engines.pt
	r.clock.mark("nat")
	clock := func() time.Duration { return time.Since(r.started) }
	ula, _ := pre.ula.get()
	v6, v6cfg, err := r.newIPv6Control(cfg, ula, lanLink.MAC(), wanLink.MAC(), nhMAC, clock)
	if err != nil {
		return err
	}
	r.clock.mark("ipv6")
	devs := newLANDevices()
	devs.table.SetFilter(macFilterMode(config.Running(r.running, cfg).Firewall.MACFilter))
	go devs.log.Run(ctx, r.logf)
	r.dp, err = dataplane.New(dataplane.Config{LAN: lanLink, WAN: wanL, Self: self, MoreLAN: moreLinks(lanLinks), MoreWAN: moreLinks(wanLinks), LANAddr: lan.Address,
		NextHopMAC: nhMAC, Engine: r.eng, Guard: srcguard.New(srcguard.Config{}), Devices: devs.table, Logf: r.logf, WANDHCP: r.wanFrames.deliver,
		PayloadHelper: payloadHelper, IPv6: v6cfg, Clock: clock, Offload: offload})
	if err != nil {
		return err
	}
	r.clock.mark("data plane")
	r.fw = newFirewallService()
	go r.fw.log.Run(ctx, r.logf)
	r.mu.Lock()
	for _, c := range r.installFirewallLocked(cfg) {
		r.logf("%s", c)
	}
	for _, c := range r.applyQoS(cfg, nil) {
		r.logf("%s", c)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.dp.Run(ctx) }()
	defer wg.Wait()
	defer cancel()
	if v6 != nil {
		r.v6 = v6
		v6.start(ctx, r.dp, &wg)
	}

	r.clock.mark("ipv6 start")
	if err := r.startDHCPServer(ctx, &wg); err != nil {
		return err
	}
	r.clock.mark("dhcp server")
	// Device names come from the leases too: refreshed from now on.
	go r.runFirewall(ctx)
	r.mu.Lock()
	r.dnsCtx = ctx
	if err := r.syncDNSLocked(ctx, cfg); err != nil {
		// LAN hosts still get addresses and the router still routes; the
		// owner sees why names fail in the log.
		r.logf("dns forwarder not started: %v", err)
	}
	if err := r.syncPortMapLocked(ctx, cfg); err != nil {
		r.logf("port mapping not started: %v", err)
	}
	r.mu.Unlock()
	defer func() {
		if d := r.dnsService(); d != nil {
			d.cancel()
			<-d.done
		}
		r.mu.Lock()
		pm := r.pm
		r.mu.Unlock()
		if pm != nil {
			pm.cancel()
			<-pm.done
		}
	}()
	r.clock.mark("dns, port mapping")
	r.startWAN(ctx)
	r.clock.mark("wan")
	hostKey, err := pre.hostKey.get()
	if err != nil {
		r.logf("ssh: %v", err)
	}
	r.startShell(ctx, &wg, hostKey, pre)
	r.clock.mark("shell")
	fmt.Printf("passgate ready: lan %v wan %s\n", lan.Address, r.wanString())
	resumeGC()
	endExpeditedRCU(r.logf)
	r.watchTrial(ctx)
	r.logf("start-up took %v", r.clock)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if err := r.reload(); err != nil {
				r.logf("reload refused, the running configuration stays: %v", err)
			}
		}
	}
}

func (r *router) wanString() string {
	if !r.wanAddr.IsValid() {
		return "waiting"
	}
	return r.wanAddr.String()
}

func (r *router) startDHCPServer(ctx context.Context, wg *sync.WaitGroup) error {
	dc, ok := dhcpdConfig(r.cfg, r.wanDNS)
	if !ok {
		return nil
	}
	srv, err := dhcpd.New(dc, dhcpd.Options{LeaseFile: filepath.Join(r.stateDir, leaseFileName), Logf: r.logf, OnLease: r.dp.Lease})
	if err != nil {
		return err
	}
	conn, err := dhcpd.Listen(netconf.DefaultSelfName)
	if err != nil {
		return err
	}
	r.dhcp = srv
	wg.Add(1)
	go func() {
		defer wg.Done()
		go func() { <-ctx.Done(); conn.Close() }()
		err := srv.Serve(ctx, conn, dhcpd.ServeOptions{Neighbor: func(ip netip.Addr, hw net.HardwareAddr) error {
			return netconf.AddPermanentNeighbor(netconf.DefaultSelfName, ip, hw)
		}})
		if err != nil && ctx.Err() == nil {
			r.logf("dhcp server stopped: %v", err)
		}
	}()
	return nil
}

// startWAN brings the WAN address up: static now; DHCP through the WAN
// client.
func (r *router) startWAN(ctx context.Context) {
	w := r.cfg.Interfaces.WAN
	switch w.Mode {
	case config.WANStatic:
		r.setWAN(w.Address, w.Gateway, w.DNS)
	case config.WANPPPoE:
		r.startWANPPPoE(ctx)
	default:
		r.startWANDHCP(ctx)
	}
}

// setWAN installs a WAN address (from a lease or static configuration).
func (r *router) setWAN(addr netip.Prefix, gw netip.Addr, dns []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.wanAddr != addr
	r.wanAddr, r.wanDNS, r.wanGW = addr, dns, gw
	issue := wan.LANConflict(addr, gw, r.running.Interfaces.LAN.Address)
	if issue != "" && issue != r.wanIssue {
		// Loudly: on the console as well as in the log.
		r.logf("WARNING: %s", issue)
		fmt.Printf("passgate: WARNING: %s\n", issue)
	}
	r.wanIssue = issue
	n := r.dp.SetWAN(addr, gw)
	if changed {
		r.announceExternalLocked(addr.Addr())
		if r.tracer != nil {
			r.tracer.Forget()
		}
	}
	if r.dns != nil {
		if err := r.syncDNSLocked(r.dnsCtx, config.Running(r.running, r.cfg)); err != nil {
			r.logf("dns forwarder: %v", err)
		}
	}
	if changed {
		r.logf("wan address %s (%d sessions on the old address flushed)", r.wanString(), n)
		if r.dhcp != nil {
			if dc, ok := dhcpdConfig(r.cfg, dns); ok {
				if err := r.dhcp.Reconfigure(dc); err != nil {
					r.logf("dhcp server: %v", err)
				}
			}
		}
	}
}

// reload re-reads the configuration file and applies it; a bad file
// changes nothing. Unlike start-up it never falls back to the backup copy:
// the running configuration is the last good one, and the file is read as
// written (a hand edit that left the checksum lines in place is accepted
// if it parses and validates).
func (r *router) reload() error {
	r.mu.Lock()
	path := r.cfgPath // a commit after a fallback moves it (configfile.go)
	r.mu.Unlock()
	cfg, err := config.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	if errs, warns := cfg.Validate(); len(errs) > 0 {
		return fmt.Errorf("configuration %s is invalid: %v", path, errs[0])
	} else {
		for _, w := range warns {
			r.logf("configuration warning: %v", w)
		}
	}
	changes, err := r.apply(cfg)
	if err != nil {
		return err
	}
	for _, c := range changes {
		r.logf("%s", c)
	}
	r.logf("configuration reloaded")
	return nil
}

// apply makes cfg the running configuration and says what changed.
// Interface devices and the LAN address need a restart for now.
func (r *router) apply(cfg *config.Config) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cfg
	// The ports, their MTUs, the LAN address, the WAN mode and the SSH
	// port are plumbed at start (self0, rings, the WAN client, the SSH
	// listener): a change to them is saved and takes effect after a
	// restart; everything else applies now, with the running values (so
	// the SSH forward from the WAN stays on the port SSH listens on).
	live := config.Running(r.running, cfg)
	changes := config.RestartNotes(r.running, old, cfg)
	var applyErr error
	mem, _ := meminfo.Read()
	wasPM := r.pm != nil
	if err := r.syncPortMapLocked(r.dnsCtx, live); err != nil {
		changes = append(changes, fmt.Sprintf("port mapping: %v", err))
	} else if !wasPM && r.pm != nil {
		changes = append(changes, "port mapping (NAT-PMP, PCP) started")
	}
	wasWeb := r.web != nil
	if err := r.syncWebLocked(live); err != nil {
		changes = append(changes, fmt.Sprintf("web page: %v", err))
	} else if wasWeb != (r.web != nil) {
		changes = append(changes, "web page "+map[bool]string{true: "started", false: "stopped"}[r.web != nil])
	}
	nc := r.natConfigLocked(live)
	r.dp.Do(func(e *nat.Engine) {
		n, err := e.Reconfigure(nc)
		if err != nil {
			applyErr = err
			return
		}
		if n > 0 {
			changes = append(changes, fmt.Sprintf("nat: %d sessions flushed by the new settings", n))
		}
		msgs, err := r.pt.SetConfig(passthroughConfig(live))
		if err != nil {
			applyErr = err
			return
		}
		changes = append(changes, msgs...)
	})
	r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		if applyErr != nil {
			return
		}
		n, err := v.Engine.Reconfigure(fw6Config(live, mem.Total, v.Engine.Config().Seed))
		if err != nil {
			applyErr = fmt.Errorf("ipv6 firewall: %w", err)
			return
		}
		if n > 0 {
			changes = append(changes, fmt.Sprintf("ipv6 firewall: %d sessions flushed by the new settings", n))
		}
	})
	if applyErr != nil {
		return nil, applyErr
	}
	changes = append(changes, r.applyMACFilterLocked(live.Firewall.MACFilter)...)
	changes = append(changes, r.installFirewallLocked(live)...)
	changes = append(changes, r.applyQoS(live, old)...)
	if r.dhcp != nil {
		if dc, ok := dhcpdConfig(live, r.wanDNS); ok {
			if err := r.dhcp.Reconfigure(dc); err != nil {
				changes = append(changes, fmt.Sprintf("dhcp server: %v (kept the running pool)", err))
			}
		}
	}
	wasDNS := r.dns != nil
	if err := r.syncDNSLocked(r.dnsCtx, live); err != nil {
		changes = append(changes, fmt.Sprintf("dns forwarder: %v", err))
	} else if !wasDNS && r.dns != nil {
		changes = append(changes, "dns forwarder started")
	}
	r.cfg = cfg
	w := live.Interfaces.WAN
	if w.Mode == config.WANStatic && (w.Address != old.Interfaces.WAN.Address || w.Gateway != old.Interfaces.WAN.Gateway) {
		r.mu.Unlock()
		r.setWAN(w.Address, w.Gateway, w.DNS)
		r.mu.Lock()
		changes = append(changes, "wan address "+w.Address.String())
	}
	return changes, nil
}

func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// wanPortMTU is the WAN port's own MTU: in mode pppoe the PPP MTU plus
// the 8 bytes of PPPoE (1500 for the usual 1492; 1508 for RFC 4638's
// 1500), else the configured MTU.
func wanPortMTU(w config.WAN) int {
	if w.Mode == config.WANPPPoE {
		return max(w.PPPMTU()+8, 1500)
	}
	return w.MTU
}

// maxReaders bounds the frame readers per port that --readers 0 gives.
const maxReaders = 4

// defaultReaders is --readers 0: one reader per port for every two CPUs,
// so the two ports' readers together have a CPU each. On a 2-core machine
// that is one per port: in the side-by-side benchmark there (2026-12-04,
// docs/performance.md), two per port forwarded less than one, since the
// readers competed for the cores with each other and with the test's own
// endpoints.
func defaultReaders(cpus int) int { return min(max(cpus/2, 1), maxReaders) }

// openPort waits for the port dev, prepares it (no kernel addresses,
// MTU, up) and opens n links on it that share its frames by flow. With
// keepGRO the port's GRO stays as its driver has it where the links take
// super-packets (netconf.LimitReceiveOffloads); otherwise it is off.
func (r *router) openPort(ctx context.Context, dev string, mtu int, ring *afpacket.Config, n int, keepGRO bool) ([]*afpacket.Link, error) {
	if err := r.waitForPort(ctx, dev); err != nil {
		return nil, err
	}
	if err := netconf.PreparePort(dev, mtu, keepGRO); err != nil {
		return nil, err
	}
	ls, err := afpacket.OpenGroup(dev, ring, n)
	if err != nil {
		return nil, err
	}
	if keepGRO && !ls[0].Offloads() {
		// A kernel without PACKET_VNET_HDR on rings: no super-packets.
		if err := netconf.LimitReceiveOffloads(dev, false); err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
	}
	return ls, nil
}

// moreLinks returns a port's links after the first, as the data plane's
// Config.MoreLAN and MoreWAN take them.
func moreLinks(ls []*afpacket.Link) []link.Link {
	var out []link.Link
	for _, l := range ls[1:] {
		out = append(out, l)
	}
	return out
}

// waitForPort waits until the interface exists: a USB NIC or a module can
// appear seconds after routerd starts. It says once what it is waiting
// for and gives up only when ctx ends.
func (r *router) waitForPort(ctx context.Context, dev string) error {
	for i := 0; ; i++ {
		if _, err := net.InterfaceByName(dev); err == nil {
			if i > 0 {
				r.logf("port %s appeared", dev)
			}
			return nil
		}
		if i == 0 {
			r.logf("waiting for port %s (configured in %s) to appear", dev, r.cfgPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %s did not appear", dev)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
