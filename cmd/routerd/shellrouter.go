package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/passgate/passgate/internal/capfilter"
	"github.com/passgate/passgate/internal/diag"
	"github.com/passgate/passgate/internal/meminfo"
	"github.com/passgate/passgate/internal/pcapfile"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/netconf"
	"github.com/passgate/passgate/pkg/packet"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/updatefile"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

// updateKeys says which update files the image at keysFile accepts.
func updateKeys(keysFile string) string {
	keys, err := readUpdateKeys(keysFile)
	if err != nil {
		return "none accepted: " + err.Error()
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = updatefile.KeyID(k)
	}
	return "signed with key " + strings.Join(ids, " or ")
}

// shellRouter is the shell's view of the running router.
type shellRouter struct{ r *router }

var _ shell.Router = shellRouter{}

func (s shellRouter) Config() *config.Config {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.r.cfg.Clone()
}

// Commit applies c live and saves it, as one transaction (confirm.go):
// nothing is applied or saved when it does not validate, and the live
// change is undone when the save fails.
func (s shellRouter) Commit(ctx context.Context, c *config.Config) ([]string, error) {
	if err := s.cutsOffPeer(ctx, c); err != nil {
		return nil, err
	}
	if err := s.cutsOffSelf(ctx, c); err != nil {
		return nil, err
	}
	return s.commit(c, func() error { return s.r.store.Save(c) })
}

func (s shellRouter) Revisions() []config.RevisionInfo {
	if s.r.store == nil {
		return nil
	}
	return s.r.store.Revisions()
}

func (s shellRouter) Rollback(n int) (*config.Config, error) {
	if s.r.store == nil {
		return nil, errors.New("no saved revisions: the configuration is not a passgate.conf store")
	}
	return s.r.store.Revision(n)
}

func (s shellRouter) Interfaces(ctx context.Context) ([]shell.Interface, error) {
	r := s.r
	r.mu.Lock()
	cfg, wan, issue := r.cfg, r.wanAddr, r.wanIssue
	r.mu.Unlock()
	ports := r.dp.Ports()
	var out []shell.Interface
	for i, role := range []string{"lan", "wan"} {
		if i >= len(ports) {
			break
		}
		ifc := shell.Interface{Name: role, Role: role, Up: true, MTU: cfg.Interfaces.LAN.MTU, Device: cfg.Interfaces.LAN.Device,
			// With flow offload, the kernel's share is traffic of the
			// interface as well.
			RxPackets: ports[i].RxPackets + ports[i].Kernel.RxPackets, RxBytes: ports[i].RxBytes + ports[i].Kernel.RxBytes, RxDrops: ports[i].RxDropped,
			TxPackets: ports[i].TxPackets + ports[i].Kernel.TxPackets, TxBytes: ports[i].TxBytes + ports[i].Kernel.TxBytes, TxDrops: ports[i].TxDropped}
		if role == "lan" {
			ifc.Addresses = []netip.Prefix{cfg.Interfaces.LAN.Address}
			ifc.MAC = r.lanMAC
		} else {
			ifc.MTU, ifc.Device, ifc.MAC = cfg.Interfaces.WAN.MTU, cfg.Interfaces.WAN.Device, r.wanMAC
			if wan.IsValid() {
				ifc.Addresses = []netip.Prefix{wan}
			}
			ifc.Problem = issue
			ifc.Line = r.wanLine()
		}
		if r.v6 != nil {
			lan6, wan6 := r.v6.addresses()
			if role == "lan" {
				ifc.Addresses = append(ifc.Addresses, lan6...)
			} else {
				ifc.Addresses = append(ifc.Addresses, wan6...)
				if st := r.v6.snapshot(); len(st.Delegated) > 0 || st.Note != "" {
					var notes []string
					if ifc.Problem != "" {
						notes = append(notes, ifc.Problem)
					}
					if st.Note != "" {
						notes = append(notes, st.Note)
					}
					ifc.Problem = strings.Join(notes, "; ")
					ifc.Delegated = st.Delegated
				}
			}
		}
		if nif, err := net.InterfaceByName(ifc.Device); err == nil {
			ifc.Up = nif.Flags&net.FlagUp != 0
		}
		out = append(out, ifc)
	}
	return out, nil
}

func (s shellRouter) DHCPLeases(ctx context.Context) ([]shell.Lease, error) {
	if s.r.dhcp == nil {
		return nil, nil
	}
	var out []shell.Lease
	for _, l := range s.r.dhcp.Leases() {
		e := shell.Lease{IP: l.IP, MAC: l.MAC, Hostname: l.Hostname, Expires: l.Expiry, Static: l.Static}
		out = append(out, e)
	}
	return out, nil
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoGRE:
		return "gre"
	case packet.ProtoESP:
		return "esp"
	}
	return fmt.Sprint(p)
}

// matches reports whether f selects the session: its protocol, and a host
// that is its internal, external or remote address (shell.SessionFilter).
func matches(f shell.SessionFilter, si nat.SessionInfo) bool {
	if f.Protocol != "" && f.Protocol != protoName(si.Protocol) {
		return false
	}
	h := f.Host
	return !h.IsValid() || si.Internal.Addr() == h || si.External.Addr() == h || si.Remote.Addr() == h
}

func (s shellRouter) NATSessions(ctx context.Context, f shell.SessionFilter) ([]shell.NATSession, error) {
	var out []shell.NATSession
	s.r.dp.Do(func(e *nat.Engine) {
		e.Sessions(func(si nat.SessionInfo) bool {
			if matches(f, si) {
				out = append(out, shell.NATSession{Protocol: protoName(si.Protocol), Internal: si.Internal, External: si.External,
					Remote: si.Remote, State: si.State, Age: si.Age, Idle: si.Idle, Expires: si.Expires,
					PacketsOut: si.PacketsOut, PacketsIn: si.PacketsIn, BytesOut: si.BytesOut, BytesIn: si.BytesIn})
			}
			return len(out) < 10000
		})
	})
	return out, nil
}

func (s shellRouter) Passthrough(ctx context.Context) (shell.Passthrough, error) {
	var out shell.Passthrough
	s.r.dp.Do(func(e *nat.Engine) {
		pt := s.r.pt
		c, cnt := pt.Config(), pt.Counters()
		for _, m := range e.MTUEvents() {
			tm := shell.TunnelMTU{TooBig: m.Kind == nat.TooBig, Server: packet.AddrFrom4(m.Server), Proto: protoName(m.Proto),
				Port: m.Port, Size: m.Size, MTU: m.MTU, Count: m.Count, Last: s.r.started.Add(m.Last)}
			if m.Host != 0 {
				tm.Host = packet.AddrFrom4(m.Host)
			}
			out.MTU = append(out.MTU, tm)
		}
		proto := func(name string, on bool, mode string, p passthrough.ProtoCounters) shell.PassthroughProtocol {
			return shell.PassthroughProtocol{Name: name, Enabled: on, Mode: mode, PacketsOut: p.PacketsOut, PacketsIn: p.PacketsIn,
				BytesOut: p.BytesOut, BytesIn: p.BytesIn, Blocked: p.Blocked, Unmatched: p.Unmatched, Created: p.Created, Expired: p.Expired}
		}
		out.Protocols = []shell.PassthroughProtocol{
			proto("pptp", c.PPTP, "", cnt.PPTP),
			proto("l2tp", c.L2TP, "", cnt.L2TP),
			proto("ipsec", c.IPsec, c.ESPMode.String(), cnt.IPsec),
		}
		for _, ps := range pt.Sessions() {
			out.Sessions = append(out.Sessions, shell.PassthroughSession{Protocol: ps.Protocol, Host: ps.Host, Server: ps.Server,
				External: ps.External, IDs: ps.IDs, Age: ps.Age, Idle: ps.Idle, PacketsOut: ps.PacketsOut, PacketsIn: ps.PacketsIn,
				BytesOut: ps.BytesOut, BytesIn: ps.BytesIn})
		}
		out.Extra = []shell.Counter{
			{Name: "pptp-call-id-rewrites", Value: cnt.PPTPRewrites},
			{Name: "pptp-segments-reordered", Value: cnt.PPTPReordered},
			{Name: "pptp-streams-unparsable", Value: cnt.PPTPDesync},
			{Name: "pptp-aliases-exhausted", Value: cnt.PPTPAliasExhausted},
			{Name: "esp-spis-learnt", Value: cnt.ESPLearned},
			{Name: "esp-single-client-refused", Value: cnt.ESPConflicts},
		}
		// What the limits against abuse refused (docs/architecture.md).
		pl, el := pt.PPTPLimitCounters(), pt.ESPLimits()
		out.Extra = append(out.Extra,
			shell.Counter{Name: "pptp-calls-refused-per-connection", Value: pl.RefusedPerConnection},
			shell.Counter{Name: "pptp-calls-refused-per-host", Value: pl.RefusedPerHost},
			shell.Counter{Name: "pptp-calls-refused-table-full", Value: pl.RefusedTotal},
			shell.Counter{Name: "pptp-forged-rst-ignored", Value: pl.IgnoredRST},
			shell.Counter{Name: "pptp-forged-syn-ignored", Value: pl.IgnoredSYN},
			shell.Counter{Name: "pptp-unsynced-data-dropped", Value: pl.Unsynced},
			shell.Counter{Name: "esp-waiting-for-another-sa", Value: el.ESPSerialised},
			shell.Counter{Name: "esp-sa-refused-per-host", Value: el.ESPHostLimit},
			shell.Counter{Name: "esp-sa-refused-table-full", Value: el.ESPTableFull},
			shell.Counter{Name: "esp-sa-relearned", Value: el.ESPRelearned},
			shell.Counter{Name: "esp-inbound-spi-replaced", Value: el.ESPInReplaced},
			shell.Counter{Name: "ike-shared-refused-per-host", Value: el.IKEHostLimit},
			shell.Counter{Name: "ike-shared-refused-table-full", Value: el.IKETableFull},
		)
	})
	// The switches govern IPv6 too (pkg/fw6): its refusals count as
	// blocked here as well.
	s.r.dp.Do6(func(v *dataplane.IPv6Config, _ time.Duration, _ *dataplane.Out6) {
		b := v.Engine.Counters().Blocked
		out.Protocols[0].Blocked += b.PPTP
		out.Protocols[1].Blocked += b.L2TP
		out.Protocols[2].Blocked += b.IPsec
	})
	return out, nil
}

func (s shellRouter) Counters(ctx context.Context) (shell.Counters, error) {
	var out shell.Counters
	s.r.dp.Do(func(e *nat.Engine) {
		c := e.Counters()
		for v := nat.Drop; v <= nat.Held; v++ {
			out.Verdicts = append(out.Verdicts, shell.Counter{Name: v.String(), Value: c.Verdicts[v]})
		}
		for r := nat.Reason(1); r < nat.NumReasons; r++ {
			if c.Drops[r] != 0 {
				out.Drops = append(out.Drops, shell.Counter{Name: r.String(), Value: c.Drops[r]})
			}
		}
		out.Sessions = []shell.Counter{{Name: "current", Value: uint64(c.Sessions)}, {Name: "limit", Value: uint64(e.Config().MaxSessions)},
			{Name: "mappings", Value: uint64(c.Mappings)},
			{Name: "created", Value: c.SessionsCreated}, {Name: "expired", Value: c.SessionsExpired},
			{Name: "evicted", Value: c.SessionsEvicted}, {Name: "icmp-errors-sent", Value: c.ICMPErrorsSent},
			{Name: "fragments-held", Value: c.FragmentsHeld}}
	})
	dc := s.r.dp.Counters()
	if s.r.dp.FlowOffloadOn() {
		// Packets the kernel forwarded for offloaded sessions are not in
		// the ports' counters: routerd's rings never saw them.
		out.Sessions = append(out.Sessions, shell.Counter{Name: "offloaded-now", Value: uint64(s.r.dp.OffloadedFlows())},
			shell.Counter{Name: "offloaded", Value: dc.OffloadInstalled}, shell.Counter{Name: "offload-ended", Value: dc.OffloadRemoved},
			shell.Counter{Name: "offload-packets", Value: dc.OffloadPackets}, shell.Counter{Name: "offload-bytes", Value: dc.OffloadBytes},
			shell.Counter{Name: "offload-failed", Value: dc.OffloadFailed})
	}
	for _, x := range []struct {
		n string
		v uint64
	}{{"not-for-us", dc.NotForUs}, {"non-ipv4", dc.NonIPv4}, {"truncated", dc.Truncated}, {"arp-unresolved", dc.ARPUnresolved},
		{"arp-queue-full", dc.ARPQueueFull}, {"no-wan-route", dc.NoWANRoute}, {"offload-invalid", dc.OffloadInvalid},
		{"lan-source-spoofed", dc.LANSpoofed}, {"lan-device-address-limit", dc.LANAddrLimit}, {"lan-mac-filtered", dc.LANMACFiltered}, {"firewall-to-router", dc.SelfFiltered}} {
		if x.v != 0 {
			out.Drops = append(out.Drops, shell.Counter{Name: x.n, Value: x.v})
		}
	}
	out.IPv6 = s.ipv6Counters(dc)
	for _, p := range s.r.dp.Ports() {
		pc := shell.PortCounters{Name: p.Name, RxPackets: p.RxPackets, RxBytes: p.RxBytes, RxDrops: p.RxDropped,
			TxPackets: p.TxPackets, TxBytes: p.TxBytes, TxDrops: p.TxDropped, Readers: p.Readers}
		if on, err := netconf.GRO(p.Device); err == nil {
			pc.GRO = map[bool]string{true: "on", false: "off"}[on]
		}
		if s.r.dp.FlowOffloadOn() {
			k := p.Kernel
			pc.Kernel = &shell.Traffic{RxPackets: k.RxPackets, RxBytes: k.RxBytes, TxPackets: k.TxPackets, TxBytes: k.TxBytes}
		}
		out.Ports = append(out.Ports, pc)
	}
	return out, nil
}

func (s shellRouter) Log(ctx context.Context) ([]shell.LogLine, error) {
	var out []shell.LogLine
	for _, l := range s.r.log.Lines() {
		out = append(out, shell.LogLine{Time: l.Time, Text: l.Text})
	}
	return out, nil
}

func (s shellRouter) System(ctx context.Context) (shell.SystemInfo, error) {
	s.r.mu.Lock()
	host, note := s.r.cfg.System.Hostname, s.r.configNote
	s.r.mu.Unlock()
	mem, _ := meminfo.Read() // unknown figures show as 0
	si := shell.SystemInfo{Hostname: host, Version: version + " (" + runtime.Version() + ")", Board: s.r.board,
		Uptime: time.Since(s.r.started).Truncate(time.Second), MemTotal: mem.Total, MemAvailable: mem.Available,
		Config: note}
	if k := s.r.sshKey.Load(); k != nil {
		si.SSHHostKey = *k
	}
	si.Updates = updateKeys(updatefile.KeysFile)
	si.WebCert = s.r.webInfo()
	si.Slots = s.r.slots.slotLines()
	si.Load = loadAverage()
	return si, nil
}

func (s shellRouter) Ping(ctx context.Context, host string, o shell.PingOptions, w io.Writer) error {
	return diag.Ping(ctx, host, o.Count, o.Size, w)
}

func (s shellRouter) Traceroute(ctx context.Context, host string, w io.Writer) error {
	return diag.Traceroute(ctx, host, w)
}

// Capture writes a pcap file of frames on a port (lan or wan) and returns
// its path. filter is empty or terms of internal/capfilter ("host A",
// "port N", "proto tcp|udp|icmp|icmp6|gre|esp|ip|ip6|arp") joined by "and".
func (s shellRouter) Capture(ctx context.Context, port string, count int, filter string) (string, error) {
	match, err := capfilter.Parse(filter)
	if err != nil {
		return "", err
	}
	if count <= 0 {
		count = 100
	}
	dir := filepath.Join(s.r.stateDir, "captures")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.pcap", port, time.Now().Format("20060102-150405")))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	pw, err := pcapfile.NewWriter(f, 65535, pcapfile.LinkTypeEthernet)
	if err != nil {
		return "", fmt.Errorf("capture: %w", err)
	}
	var werr error
	done, stop, err := s.r.dp.Capture(port, count, match, func(ts time.Time, frame []byte) {
		if werr == nil {
			werr = pw.WritePacket(ts, frame)
		}
	})
	if err != nil {
		return "", err
	}
	defer stop()
	select {
	case <-done:
	case <-ctx.Done():
	}
	stop()
	if werr != nil {
		return "", fmt.Errorf("capture: writing %s: %w", path, werr)
	}
	return path, f.Sync()
}

func (s shellRouter) ClearNATSessions(ctx context.Context, f shell.SessionFilter) (int, error) {
	var n int
	s.r.dp.Do(func(e *nat.Engine) {
		n = e.Flush(func(si nat.SessionInfo) bool { return matches(f, si) })
		// The passthrough's own state: PPTP calls, ESP SAs, shared IKE
		// (passthrough.Clear names only their LAN host).
		n += s.r.pt.Clear(func(proto string, host netip.Addr) bool {
			return (f.Protocol == "" || f.Protocol == proto) && (!f.Host.IsValid() || f.Host == host)
		})
	})
	return n, nil
}

func (s shellRouter) Reboot() error {
	s.r.logf("rebooting on request from the shell")
	if s.r.reboot != nil {
		return s.r.reboot()
	}
	return rebootTo(s.r.slots.rebootArg())
}

func (s shellRouter) FactoryReset() error {
	if s.r.store == nil {
		return errors.New("no configuration store to reset")
	}
	// The devices are the board's, not the user's: keep them.
	d := config.Default()
	s.r.mu.Lock()
	d.Interfaces.LAN.Device = s.r.cfg.Interfaces.LAN.Device
	d.Interfaces.WAN.Device = s.r.cfg.Interfaces.WAN.Device
	s.r.mu.Unlock()
	if err := s.r.store.Save(d); err != nil {
		return err
	}
	if err := s.r.forgetState(); err != nil {
		return fmt.Errorf("factory reset: the default configuration is saved, but %w", err)
	}
	s.r.logf("factory reset: default configuration saved; rebooting")
	return s.Reboot()
}
