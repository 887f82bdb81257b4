package upnpigd

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/passgate/passgate/pkg/portmap"
)

// Mapper is the mapping table the device works on; *portmap.Server is
// one.
type Mapper interface {
	Map(r portmap.MapRequest, now time.Time) (portmap.MapResult, error)
	Unmap(p portmap.Proto, host netip.Addr, ext uint16, now time.Time) error
	MappingsOf(host netip.Addr, now time.Time) []portmap.Mapping
	External() netip.Addr
}

var _ Mapper = (*portmap.Server)(nil)

// Defaults of Config's zero fields.
const (
	DefaultMaxAge   = 1800 * time.Second // SSDP CACHE-CONTROL max-age
	DefaultMaxConns = 16
	DefaultName     = "passgate"
)

// Config is the device's configuration.
type Config struct {
	// LAN is the IPv4 LAN prefix; no other source is answered.
	LAN netip.Prefix
	// HTTP is where the caller serves the device's HTTP (the router's
	// LAN address and a port): the LOCATION of the SSDP answers.
	HTTP netip.AddrPort
	// UUID is the root device's; the embedded devices' are derived from
	// it. routerd derives it from something stable (the LAN MAC), so
	// control points recognise the router across reboots.
	UUID [16]byte
	// Mapper is the mapping table (a *portmap.Server).
	Mapper Mapper
	// Clock gives the time (nil: time.Now).
	Clock func() time.Time
	// Name is the friendly name (default "passgate").
	Name string
	// MaxAge is the SSDP advertisements' lifetime (default 30 min);
	// NOTIFY ssdp:alive is repeated every MaxAge/3.
	MaxAge time.Duration
	// MaxConns caps concurrent HTTP connections in Serve (default 16).
	MaxConns int
	// LinkUp and LinkDown are the WAN's bit rates, reported by
	// GetCommonLinkProperties (0: unknown).
	LinkUp, LinkDown uint32
	// BootID is SSDP's BOOTID.UPNP.ORG: routerd increases it on each
	// start (default 1).
	BootID uint32
	// Seed seeds the random M-SEARCH answer delays.
	Seed uint64
	// Logf, if set, logs refused requests.
	Logf func(format string, args ...any)
}

// Device is the UPnP IGD. It is safe for concurrent use.
type Device struct {
	cfg     Config
	uuids   [3]string // root, WANDevice, WANConnectionDevice: "uuid:..."
	start   time.Time
	rootXML []byte

	mu  sync.Mutex
	rng *rand.Rand
}

// New returns the device described by cfg.
func New(cfg Config) (*Device, error) {
	if !cfg.LAN.IsValid() || !cfg.LAN.Addr().Is4() {
		return nil, fmt.Errorf("upnpigd: LAN prefix %v is not an IPv4 prefix", cfg.LAN)
	}
	cfg.LAN = cfg.LAN.Masked()
	if !cfg.HTTP.IsValid() || !cfg.LAN.Contains(cfg.HTTP.Addr()) || cfg.HTTP.Port() == 0 {
		return nil, fmt.Errorf("upnpigd: HTTP address %v is not a port on the LAN %v", cfg.HTTP, cfg.LAN)
	}
	if cfg.UUID == ([16]byte{}) {
		return nil, fmt.Errorf("upnpigd: no UUID")
	}
	if cfg.Mapper == nil {
		return nil, fmt.Errorf("upnpigd: no Mapper")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	cfg.Name = portmap.SanitiseDescription(cfg.Name)
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxAge < time.Minute || cfg.MaxAge > 24*time.Hour {
		return nil, fmt.Errorf("upnpigd: SSDP max-age %v: want 1 min to 24 h", cfg.MaxAge)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("upnpigd: MaxConns %d: want positive", cfg.MaxConns)
	}
	if cfg.BootID == 0 {
		cfg.BootID = 1
	}
	d := &Device{cfg: cfg, start: cfg.Clock(), rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))}
	for i := range d.uuids {
		u := cfg.UUID
		u[15] += byte(i)
		d.uuids[i] = "uuid:" + formatUUID(u)
	}
	d.rootXML = d.rootDescription()
	return d, nil
}

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// UDN returns the root device's unique device name ("uuid:...").
func (d *Device) UDN() string { return d.uuids[0] }

// Location is the URL of the root description.
func (d *Device) Location() string {
	return "http://" + d.cfg.HTTP.String() + PathRootDesc
}

func (d *Device) logf(format string, args ...any) {
	if d.cfg.Logf != nil {
		d.cfg.Logf(format, args...)
	}
}

// URL paths the device serves.
const (
	PathRootDesc   = "/rootDesc.xml"
	PathIPConnSCPD = "/WANIPCn.xml"
	PathCIFSCPD    = "/WANCfg.xml"
	PathIPConnCtl  = "/ctl/IPConn"
	PathCIFCtl     = "/ctl/CmnIfCfg"
	PathIPConnEvt  = "/evt/IPConn"
	PathCIFEvt     = "/evt/CmnIfCfg"
)

// Types and versions.
const (
	urnDevice  = "urn:schemas-upnp-org:device:"
	urnService = "urn:schemas-upnp-org:service:"

	TypeIGD     = urnDevice + "InternetGatewayDevice:2"
	TypeWAN     = urnDevice + "WANDevice:2"
	TypeWANConn = urnDevice + "WANConnectionDevice:2"
	TypeIPConn  = urnService + "WANIPConnection:2"
	TypeCIF     = urnService + "WANCommonInterfaceConfig:1"
)

// versioned splits "urn:...:Name:N" into its base and version.
func versioned(t string) (base string, version int, ok bool) {
	i := strings.LastIndexByte(t, ':')
	if i < 0 || i == len(t)-1 || len(t)-i > 3 {
		return "", 0, false
	}
	v := 0
	for _, c := range t[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		v = v*10 + int(c-'0')
	}
	return t[:i+1], v, v >= 1
}

// matchType reports whether want names ours, at our version or lower
// (a device answers for the versions it is compatible with).
func matchType(want, ours string) bool {
	wb, wv, ok1 := versioned(want)
	ob, ov, ok2 := versioned(ours)
	return ok1 && ok2 && wb == ob && wv <= ov
}

func (d *Device) rootDescription() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1">`)
	b.WriteString(`<specVersion><major>1</major><minor>1</minor></specVersion>`)
	device := func(typ, udn string) {
		b.WriteString("<device><deviceType>" + typ + "</deviceType><friendlyName>")
		writeEscaped(&b, d.cfg.Name)
		b.WriteString("</friendlyName><manufacturer>passgate</manufacturer><modelName>passgate router</modelName>")
		b.WriteString("<UDN>" + udn + "</UDN>")
	}
	service := func(typ, id, scpd, ctl, evt string) {
		b.WriteString("<service><serviceType>" + typ + "</serviceType><serviceId>" + id + "</serviceId>")
		b.WriteString("<SCPDURL>" + scpd + "</SCPDURL><controlURL>" + ctl + "</controlURL><eventSubURL>" + evt + "</eventSubURL></service>")
	}
	device(TypeIGD, d.uuids[0])
	b.WriteString("<deviceList>")
	device(TypeWAN, d.uuids[1])
	b.WriteString("<serviceList>")
	service(TypeCIF, "urn:upnp-org:serviceId:WANCommonIFC1", PathCIFSCPD, PathCIFCtl, PathCIFEvt)
	b.WriteString("</serviceList><deviceList>")
	device(TypeWANConn, d.uuids[2])
	b.WriteString("<serviceList>")
	service(TypeIPConn, "urn:upnp-org:serviceId:WANIPConn1", PathIPConnSCPD, PathIPConnCtl, PathIPConnEvt)
	b.WriteString("</serviceList></device></deviceList></device></deviceList>")
	b.WriteString("</device></root>\n")
	return []byte(b.String())
}
