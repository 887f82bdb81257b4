package shell

import (
	"context"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/passgate/passgate/pkg/config"
)

// Router is what the shell needs from the router. routerd implements it;
// the shell depends on nothing else, so it can be tested against a fake.
// pkg/shell/shellcontract states the behaviour documented here as tests
// that both the fake (shelltest.Router) and routerd pass.
//
// Every method may be called from several sessions at once. The shell
// serialises its own calls to Commit (one commit at a time per Shell), but
// an implementation shared by several Shells must serialise them itself.
type Router interface {
	// Config returns the committed configuration. The shell never
	// modifies it (it edits a Clone).
	Config() *config.Config
	// Commit applies c live and persists it (config.Store.Save), which
	// confirms a pending commit confirmed. c has passed config.Validate
	// without errors. Nothing may be applied when an error is returned:
	// when the save fails, the live change is undone and the error is a
	// *SaveError. changes are one-line descriptions of the side effects
	// for the user, e.g. "pptp passthrough disabled: 2 calls closed", and
	// of the settings that take effect only after a restart
	// (config.RestartNotes); they may be empty.
	Commit(ctx context.Context, c *config.Config) (changes []string, err error)
	// CommitConfirmed is Commit for "commit confirmed": c is applied and
	// persisted together with p, its rollback
	// (config.Store.SaveConfirmed), so that a start rolls it back unless
	// it was confirmed first (Commit, SetPending(nil), a factory reset)
	// or the restart was planned (SetPending with p.Restart).
	CommitConfirmed(ctx context.Context, c *config.Config, p config.Pending) (changes []string, err error)
	// Pending returns the persisted commit confirmed that waits for its
	// confirmation (config.Store.Pending), or nil. When the shell starts
	// it is the one a planned restart kept, with the time it had left.
	Pending() *config.Pending
	// SetPending rewrites the persisted pending commit confirmed (more
	// time, a planned restart), or removes it when p is nil (confirmed).
	SetPending(p *config.Pending) error
	// NeedsRestart reports whether the committed configuration holds
	// settings that take effect only when the router starts and differ
	// from what it runs (config.NeedsRestart).
	NeedsRestart() bool
	// Revisions lists the configurations Rollback can return
	// (config.Store.Revisions): 0 is the committed one, 1 the one before
	// the last commit, and so on.
	Revisions() []config.RevisionInfo
	// Rollback returns revision n (config.Store.Revision). It does not
	// apply it: the shell loads it into the candidate and the user
	// commits.
	Rollback(n int) (*config.Config, error)

	// Read-only views.
	Interfaces(ctx context.Context) ([]Interface, error)
	DHCPLeases(ctx context.Context) ([]Lease, error)
	// NATSessions lists the NAT sessions that match f.
	NATSessions(ctx context.Context, f SessionFilter) ([]NATSession, error)
	Passthrough(ctx context.Context) (Passthrough, error)
	Counters(ctx context.Context) (Counters, error)
	// Log returns the router's recent log lines, oldest first.
	Log(ctx context.Context) ([]LogLine, error)
	System(ctx context.Context) (SystemInfo, error)

	// Actions.

	// Ping sends o.Count echo requests of o.Size data bytes to host and
	// writes one line per reply or timeout, then a summary, to w. It
	// returns when ctx ends (Ctrl-C) and must not use w after returning.
	Ping(ctx context.Context, host string, o PingOptions, w io.Writer) error
	// Traceroute writes one line per hop to w, as Ping.
	Traceroute(ctx context.Context, host string, w io.Writer) error
	// Capture records up to count frames seen on port ("lan" or "wan")
	// that match filter (free text, "" = everything; the router defines
	// the syntax) into a pcap file, stopping early when ctx ends, and
	// returns the file's path.
	Capture(ctx context.Context, port string, count int, filter string) (path string, err error)
	// ClearNATSessions removes the NAT sessions that match f and returns
	// how many it removed.
	ClearNATSessions(ctx context.Context, f SessionFilter) (int, error)
	// Reboot restarts the router. It may return before the restart.
	Reboot() error
	// FactoryReset replaces the configuration by config.Default(),
	// keeping the interfaces' device names (they are the board's), and
	// saves it; forgets the DHCP leases and the SSH host key (the next
	// start makes a new one); then restarts. DHCPLeases is empty as soon
	// as it returns.
	FactoryReset() error

	// The commit history, routes and ARP cache (router_cli.go).
	CLIRouter
}

// SessionFilter selects NAT sessions. The zero value selects all.
type SessionFilter struct {
	Protocol string     // "tcp", "udp", "icmp", "gre", "esp"; "" = any
	Host     netip.Addr // matches the internal, external or remote address; invalid = any
}

// Interface is one line of "show interfaces".
type Interface struct {
	Name      string // "lan", "wan"
	Role      string // "lan" or "wan"
	Device    string // kernel name, e.g. "eth0"
	MAC       net.HardwareAddr
	MTU       int
	Addresses []netip.Prefix
	Up        bool   // link up
	Problem   string // what is wrong with it, in words for the owner ("" if nothing)
	// Delegated are the IPv6 prefixes delegated to the router on this
	// port (DHCPv6 prefix delegation or static), for the WAN.
	Delegated []netip.Prefix
	// Line says how the port is framed and connected, one note per
	// entry: the ISP's VLAN, the PPPoE session (WAN).
	Line []string

	RxPackets, RxBytes, RxDrops uint64
	TxPackets, TxBytes, TxDrops uint64
}

// Lease is one line of "show dhcp leases".
type Lease struct {
	IP       netip.Addr
	MAC      net.HardwareAddr
	Hostname string
	Expires  time.Time // zero for a static lease that never expires
	Static   bool
}

// NATSession is one NAT session. For ICMP the "ports" are query IDs.
type NATSession struct {
	Protocol string // tcp, udp, icmp, gre, esp
	Internal netip.AddrPort
	External netip.AddrPort
	Remote   netip.AddrPort
	State    string // e.g. "established", "syn-sent", "" when stateless
	Age      time.Duration
	Idle     time.Duration
	Expires  time.Duration // time left before it is removed if idle

	PacketsOut, PacketsIn uint64 // out = LAN to WAN
	BytesOut, BytesIn     uint64
}

// Passthrough is "show passthrough": the switches, counters and sessions.
type Passthrough struct {
	Protocols []PassthroughProtocol // pptp, l2tp, ipsec
	Sessions  []PassthroughSession
	Extra     []Counter // further counters, e.g. "pptp-call-id-rewrites"
	// MTU is the MTU trouble of tunnels seen by the NAT (for the
	// troubleshooter).
	MTU []TunnelMTU
}

// TunnelMTU is one tunnel's MTU trouble: its packets too big for the WAN
// (the router sent Fragmentation Needed), or arriving in fragments.
type TunnelMTU struct {
	TooBig bool       // else: fragmented
	Host   netip.Addr // LAN host; invalid when the fragments came from the server
	Server netip.Addr
	Proto  string // "esp", "gre", "udp"
	Port   uint16 // the tunnel's UDP port
	Size   int    // largest packet, or first fragment
	MTU    int    // the WAN MTU (TooBig)
	Count  uint64
	Last   time.Time
}

// PassthroughProtocol is one protocol's switch and counters.
type PassthroughProtocol struct {
	Name    string // "pptp", "l2tp", "ipsec"
	Enabled bool
	Mode    string // e.g. "spi-learning" for ipsec; "" if none

	PacketsOut, PacketsIn uint64
	BytesOut, BytesIn     uint64
	Blocked               uint64 // dropped because the switch is off
	Unmatched             uint64 // dropped: no call or SA matches
	Created, Expired      uint64 // calls or SAs
}

// PassthroughSession is one passthrough session (PPTP call, ESP SA, IKE).
type PassthroughSession struct {
	Protocol  string     // pptp, gre, esp, ike, nat-t, l2tp
	Host      netip.Addr // LAN host
	Server    netip.Addr
	External  string // external port or the call's alias
	IDs       string // call IDs or SPIs
	Age, Idle time.Duration

	PacketsOut, PacketsIn uint64
	BytesOut, BytesIn     uint64
}

// Counter is one named counter.
type Counter struct {
	Name  string
	Value uint64
}

// PortCounters are one port's frame counters in the data plane.
type PortCounters struct {
	Name                        string // "lan", "wan", ...; may be followed by " (device)"
	RxPackets, RxBytes, RxDrops uint64
	TxPackets, TxBytes, TxDrops uint64
	// Readers is how many readers share the port's frames (by flow); 0:
	// not known.
	Readers int
	// GRO says whether the port's driver merges received segments into
	// super-packets that routerd translates whole: "on", "off", or ""
	// when not known.
	GRO string
	// Kernel is what the kernel forwarded through the port for flows
	// routerd offloaded to it, not in the counters above; nil: flow
	// offload is off.
	Kernel *Traffic
}

// Traffic is packets and bytes each way.
type Traffic struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
}

// Counters is "show counters".
type Counters struct {
	Verdicts []Counter // engine verdicts (forwarded, dropped, punted, ...)
	Drops    []Counter // drop reasons by name; zero counters may be left out
	Sessions []Counter // e.g. "created", "expired", "current"
	Ports    []PortCounters
	// IPv6 are the IPv6 firewall's and data plane's figures (none when
	// the router has no IPv6).
	IPv6 []Counter
}

// LogLine is one line of the router's log.
type LogLine struct {
	Time time.Time
	Text string
}

// SystemInfo is "show system".
type SystemInfo struct {
	Hostname     string
	Version      string
	Board        string
	Uptime       time.Duration
	MemTotal     uint64 // bytes
	MemAvailable uint64 // bytes
	// SSHHostKey is the SSH host key's type and fingerprint as ssh-keygen
	// -l prints it, e.g. "ssh-ed25519 SHA256:...", with a note when it
	// is lost at reboot ("" when SSH has no key).
	SSHHostKey string
	// WebCert is the web page's address and its certificate's
	// fingerprint, "https://192.168.1.1/ SHA256 AB:CD:...", or why it is
	// not served ("" when the router has no page).
	WebCert string
	// Load is the load average over 1, 5 and 15 minutes ("" if unknown).
	Load string
	// Slots describes the boot slots, one line each: what each holds,
	// which runs and is committed, a trial, how the last one ended (empty
	// when the router was not started from a slot).
	Slots []string
	// Updates says which firmware update files the router accepts: the
	// IDs of the signing keys built into its image, or why none.
	Updates string
	// Config says where the running configuration comes from when it is
	// not passgate.conf as saved (a fallback to a backup or to RAM, a
	// hand edit) and whether commits can be saved; "" when all is well.
	Config string
}
