package upnpigd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/portmap"
)

// Bounds of a SOAP request.
const (
	MaxBody     = 16 << 10
	MaxArgs     = 16
	MaxArgBytes = 256
	maxDepth    = 8
)

// UPnP error codes (UPnP Device Architecture and WANIPConnection:2).
const (
	ErrInvalidAction          = 401
	ErrInvalidArgs            = 402
	ErrActionFailed           = 501
	ErrArgumentValueInvalid   = 600
	ErrNotAuthorized          = 606
	ErrSpecifiedArrayIndex    = 713
	ErrNoSuchEntryInArray     = 714
	ErrWildCardNotPermittedEP = 716
	ErrConflictInMapping      = 718
	ErrRemoteHostWildcardOnly = 726
	ErrNoPortMapsAvailable    = 728
)

var errorNames = map[int]string{
	ErrInvalidAction:          "Invalid Action",
	ErrInvalidArgs:            "Invalid Args",
	ErrActionFailed:           "Action Failed",
	ErrArgumentValueInvalid:   "Argument Value Invalid",
	ErrNotAuthorized:          "Action not authorized",
	ErrSpecifiedArrayIndex:    "SpecifiedArrayIndexInvalid",
	ErrNoSuchEntryInArray:     "NoSuchEntryInArray",
	ErrWildCardNotPermittedEP: "WildCardNotPermittedInExtPort",
	ErrConflictInMapping:      "ConflictInMappingEntry",
	ErrRemoteHostWildcardOnly: "RemoteHostOnlySupportsWildcard",
	ErrNoPortMapsAvailable:    "NoPortMapsAvailable",
}

// Fault is a UPnP error answered as a SOAP fault.
type Fault struct {
	Code int
	Err  error // why, for the log; not sent
}

func (f *Fault) Error() string {
	return fmt.Sprintf("upnp error %d %s: %v", f.Code, errorNames[f.Code], f.Err)
}

func fault(code int, format string, args ...any) *Fault {
	return &Fault{Code: code, Err: fmt.Errorf(format, args...)}
}

// stateVar is a state variable of a service description.
type stateVar struct {
	name, typ string
	allowed   []string
	events    bool
}

// action is one action of a service: its arguments (each with its
// related state variable) and its handler.
type action struct {
	name string
	in   [][2]string
	out  [][2]string
	do   func(d *Device, c *call) ([]string, *Fault)
}

type service struct {
	typ     string
	actions []action
	vars    []stateVar
}

// call is one parsed SOAP request.
type call struct {
	host    netip.Addr // the HTTP client's address
	now     time.Time
	service string // the type as the client named it (version 1 or 2)
	action  string
	args    map[string]string
}

var ipConnVars = []stateVar{
	{name: "ConnectionType", typ: "string"},
	{name: "PossibleConnectionTypes", typ: "string", allowed: []string{"Unconfigured", "IP_Routed", "IP_Bridged"}, events: true},
	{name: "ConnectionStatus", typ: "string", allowed: []string{"Unconfigured", "Connecting", "Connected", "PendingDisconnect", "Disconnecting", "Disconnected"}, events: true},
	{name: "Uptime", typ: "ui4"},
	{name: "LastConnectionError", typ: "string", allowed: []string{"ERROR_NONE"}},
	{name: "RSIPAvailable", typ: "boolean"},
	{name: "NATEnabled", typ: "boolean"},
	{name: "ExternalIPAddress", typ: "string", events: true},
	{name: "PortMappingNumberOfEntries", typ: "ui2", events: true},
	{name: "PortMappingEnabled", typ: "boolean"},
	{name: "PortMappingLeaseDuration", typ: "ui4"},
	{name: "RemoteHost", typ: "string"},
	{name: "ExternalPort", typ: "ui2"},
	{name: "InternalPort", typ: "ui2"},
	{name: "PortMappingProtocol", typ: "string", allowed: []string{"TCP", "UDP"}},
	{name: "InternalClient", typ: "string"},
	{name: "PortMappingDescription", typ: "string"},
	{name: "A_ARG_TYPE_PortMappingIndex", typ: "ui2"},
}

var mappingKeyArgs = [][2]string{
	{"NewRemoteHost", "RemoteHost"},
	{"NewExternalPort", "ExternalPort"},
	{"NewProtocol", "PortMappingProtocol"},
}

var addArgs = append(append([][2]string{}, mappingKeyArgs...),
	[2]string{"NewInternalPort", "InternalPort"},
	[2]string{"NewInternalClient", "InternalClient"},
	[2]string{"NewEnabled", "PortMappingEnabled"},
	[2]string{"NewPortMappingDescription", "PortMappingDescription"},
	[2]string{"NewLeaseDuration", "PortMappingLeaseDuration"},
)

var ipConnService = service{
	typ:  TypeIPConn,
	vars: ipConnVars,
	actions: []action{
		{name: "GetConnectionTypeInfo", out: [][2]string{{"NewConnectionType", "ConnectionType"}, {"NewPossibleConnectionTypes", "PossibleConnectionTypes"}}, do: (*Device).getConnectionTypeInfo},
		{name: "GetStatusInfo", out: [][2]string{{"NewConnectionStatus", "ConnectionStatus"}, {"NewLastConnectionError", "LastConnectionError"}, {"NewUptime", "Uptime"}}, do: (*Device).getStatusInfo},
		{name: "GetNATRSIPStatus", out: [][2]string{{"NewRSIPAvailable", "RSIPAvailable"}, {"NewNATEnabled", "NATEnabled"}}, do: (*Device).getNATRSIPStatus},
		{name: "GetExternalIPAddress", out: [][2]string{{"NewExternalIPAddress", "ExternalIPAddress"}}, do: (*Device).getExternalIPAddress},
		{name: "GetGenericPortMappingEntry", in: [][2]string{{"NewPortMappingIndex", "A_ARG_TYPE_PortMappingIndex"}}, out: addArgs, do: (*Device).getGenericPortMappingEntry},
		{name: "GetSpecificPortMappingEntry", in: mappingKeyArgs, out: addArgs[3:], do: (*Device).getSpecificPortMappingEntry},
		{name: "AddPortMapping", in: addArgs, do: (*Device).addPortMapping},
		{name: "AddAnyPortMapping", in: addArgs, out: [][2]string{{"NewReservedPort", "ExternalPort"}}, do: (*Device).addAnyPortMapping},
		{name: "DeletePortMapping", in: mappingKeyArgs, do: (*Device).deletePortMapping},
	},
}

var cifService = service{
	typ: TypeCIF,
	vars: []stateVar{
		{name: "WANAccessType", typ: "string", allowed: []string{"DSL", "POTS", "Cable", "Ethernet"}},
		{name: "Layer1UpstreamMaxBitRate", typ: "ui4"},
		{name: "Layer1DownstreamMaxBitRate", typ: "ui4"},
		{name: "PhysicalLinkStatus", typ: "string", allowed: []string{"Up", "Down"}, events: true},
	},
	actions: []action{
		{name: "GetCommonLinkProperties", out: [][2]string{
			{"NewWANAccessType", "WANAccessType"},
			{"NewLayer1UpstreamMaxBitRate", "Layer1UpstreamMaxBitRate"},
			{"NewLayer1DownstreamMaxBitRate", "Layer1DownstreamMaxBitRate"},
			{"NewPhysicalLinkStatus", "PhysicalLinkStatus"},
		}, do: (*Device).getCommonLinkProperties},
	},
}

// scpd renders a service description.
func (s *service) scpd() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<scpd xmlns="urn:schemas-upnp-org:service-1-0"><specVersion><major>1</major><minor>1</minor></specVersion><actionList>`)
	for _, a := range s.actions {
		b.WriteString("<action><name>" + a.name + "</name>")
		if len(a.in)+len(a.out) > 0 {
			b.WriteString("<argumentList>")
			for _, dir := range []struct {
				d    string
				args [][2]string
			}{{"in", a.in}, {"out", a.out}} {
				for _, arg := range dir.args {
					b.WriteString("<argument><name>" + arg[0] + "</name><direction>" + dir.d + "</direction><relatedStateVariable>" + arg[1] + "</relatedStateVariable></argument>")
				}
			}
			b.WriteString("</argumentList>")
		}
		b.WriteString("</action>")
	}
	b.WriteString("</actionList><serviceStateTable>")
	for _, v := range s.vars {
		ev := "no"
		if v.events {
			ev = "yes"
		}
		b.WriteString(`<stateVariable sendEvents="` + ev + `"><name>` + v.name + "</name><dataType>" + v.typ + "</dataType>")
		if len(v.allowed) > 0 {
			b.WriteString("<allowedValueList>")
			for _, a := range v.allowed {
				b.WriteString("<allowedValue>" + a + "</allowedValue>")
			}
			b.WriteString("</allowedValueList>")
		}
		b.WriteString("</stateVariable>")
	}
	b.WriteString("</serviceStateTable></scpd>\n")
	return []byte(b.String())
}

const soapEnvNS = "http://schemas.xmlsoap.org/soap/envelope/"

// parseSOAP reads a SOAP envelope of at most MaxBody bytes: the action
// element's name and namespace, and its arguments. It refuses DOCTYPEs
// (entity declarations), more than MaxArgs arguments, arguments longer
// than MaxArgBytes and nesting deeper than the envelope needs.
func parseSOAP(body []byte) (ns, name string, args map[string]string, order []string, err error) {
	if len(body) > MaxBody {
		return "", "", nil, nil, fmt.Errorf("soap: body of %d bytes, at most %d", len(body), MaxBody)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	// Path: Envelope(1) > Body(2) > action(3) > argument(4).
	depth := 0
	var arg string
	var val strings.Builder
	args = map[string]string{}
	done := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", nil, nil, fmt.Errorf("soap: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return "", "", nil, nil, errors.New("soap: a DOCTYPE or other directive is refused")
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return "", "", nil, nil, errors.New("soap: nested too deep")
			}
			switch depth {
			case 1:
				if t.Name.Space != soapEnvNS || t.Name.Local != "Envelope" {
					return "", "", nil, nil, fmt.Errorf("soap: root element {%s}%s, want a SOAP Envelope", t.Name.Space, t.Name.Local)
				}
			case 2:
				if t.Name.Space != soapEnvNS || t.Name.Local != "Body" {
					continue // a Header: ignored
				}
			case 3:
				if done {
					return "", "", nil, nil, errors.New("soap: more than one action in the body")
				}
				ns, name = t.Name.Space, t.Name.Local
			case 4:
				if name == "" {
					continue
				}
				if len(order) >= MaxArgs {
					return "", "", nil, nil, fmt.Errorf("soap: more than %d arguments", MaxArgs)
				}
				arg = t.Name.Local
				val.Reset()
			}
		case xml.EndElement:
			if depth == 4 && arg != "" {
				if _, dup := args[arg]; dup {
					return "", "", nil, nil, fmt.Errorf("soap: argument %s twice", arg)
				}
				args[arg] = val.String()
				order = append(order, arg)
				arg = ""
			}
			if depth == 3 && name != "" {
				done = true
			}
			depth--
		case xml.CharData:
			if depth == 4 && arg != "" {
				if val.Len()+len(t) > MaxArgBytes {
					return "", "", nil, nil, fmt.Errorf("soap: argument %s longer than %d bytes", arg, MaxArgBytes)
				}
				val.Write(t)
			}
		}
	}
	if name == "" || !done {
		return "", "", nil, nil, errors.New("soap: no action in the body")
	}
	return ns, name, args, order, nil
}

// soapResponse renders the response of an action.
func soapResponse(serviceType, action string, names, values []string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<s:Envelope xmlns:s="` + soapEnvNS + `" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	b.WriteString("<u:" + action + "Response xmlns:u=\"" + serviceType + "\">")
	for i, n := range names {
		b.WriteString("<" + n + ">")
		writeEscaped(&b, values[i])
		b.WriteString("</" + n + ">")
	}
	b.WriteString("</u:" + action + "Response></s:Body></s:Envelope>\n")
	return []byte(b.String())
}

// soapFault renders a UPnP error.
func soapFault(code int) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="%s" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>
`, soapEnvNS, code, errorNames[code])
}

func writeEscaped(b *strings.Builder, s string) {
	xml.EscapeText(b, []byte(s))
}

// control answers one SOAP request for svc: the response body, or the
// fault. soapAction is the SOAPACTION header.
func (d *Device) control(svc *service, soapAction string, body []byte, host netip.Addr) ([]byte, *Fault) {
	ns, name, args, _, err := parseSOAP(body)
	if err != nil {
		return nil, &Fault{Code: ErrInvalidArgs, Err: err}
	}
	if !matchType(ns, svc.typ) {
		return nil, fault(ErrInvalidAction, "service type %q is not this URL's %s", ns, svc.typ)
	}
	// SOAPACTION: "urn:...:service:WANIPConnection:1#AddPortMapping",
	// quoted; it must agree with the body.
	sa := strings.Trim(strings.TrimSpace(soapAction), `"`)
	if sa != ns+"#"+name {
		return nil, fault(ErrInvalidAction, "SOAPACTION %q does not match the body's %s#%s", soapAction, ns, name)
	}
	var act *action
	for i := range svc.actions {
		if svc.actions[i].name == name {
			act = &svc.actions[i]
		}
	}
	if act == nil {
		return nil, fault(ErrInvalidAction, "no action %q", name)
	}
	if _, v1, _ := versioned(ns); act.name == "AddAnyPortMapping" && v1 < 2 {
		return nil, fault(ErrInvalidAction, "%s is not an action of %s", name, ns)
	}
	for _, a := range act.in {
		if _, ok := args[a[0]]; !ok {
			return nil, fault(ErrInvalidArgs, "%s: no argument %s", name, a[0])
		}
	}
	c := &call{host: host, now: d.cfg.Clock(), service: ns, action: name, args: args}
	vals, f := act.do(d, c)
	if f != nil {
		return nil, f
	}
	names := make([]string, len(act.out))
	for i, a := range act.out {
		names[i] = a[0]
	}
	return soapResponse(ns, name, names, vals), nil
}

func (d *Device) getConnectionTypeInfo(*call) ([]string, *Fault) {
	return []string{"IP_Routed", "IP_Routed"}, nil
}

func (d *Device) getStatusInfo(c *call) ([]string, *Fault) {
	status := "Disconnected"
	if d.cfg.Mapper.External().IsValid() {
		status = "Connected"
	}
	up := max(c.now.Sub(d.start), 0) / time.Second
	return []string{status, "ERROR_NONE", strconv.FormatUint(uint64(min(up, 1<<32-1)), 10)}, nil
}

func (d *Device) getNATRSIPStatus(*call) ([]string, *Fault) {
	return []string{"0", "1"}, nil
}

func (d *Device) getExternalIPAddress(*call) ([]string, *Fault) {
	ext := ""
	if a := d.cfg.Mapper.External(); a.IsValid() {
		ext = a.String()
	}
	return []string{ext}, nil
}

func (d *Device) getCommonLinkProperties(*call) ([]string, *Fault) {
	link := "Down"
	if d.cfg.Mapper.External().IsValid() {
		link = "Up"
	}
	return []string{"Ethernet", strconv.FormatUint(uint64(d.cfg.LinkUp), 10), strconv.FormatUint(uint64(d.cfg.LinkDown), 10), link}, nil
}

// uintArg parses a ui2/ui4 argument.
func (c *call) uintArg(name string, bits int) (uint64, *Fault) {
	s := strings.TrimSpace(c.args[name])
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fault(ErrInvalidArgs, "%s %s: %v", c.action, name, err)
	}
	return v, nil
}

func (c *call) protoArg() (portmap.Proto, *Fault) {
	switch strings.TrimSpace(c.args["NewProtocol"]) {
	case "TCP":
		return portmap.TCP, nil
	case "UDP":
		return portmap.UDP, nil
	}
	return 0, fault(ErrInvalidArgs, "%s: protocol %q", c.action, c.args["NewProtocol"])
}

// key parses NewRemoteHost, NewExternalPort and NewProtocol. A remote
// host other than the wildcard (empty) is answered by code rh.
func (c *call) key(rh int) (portmap.Proto, uint16, *Fault) {
	p, f := c.protoArg()
	if f != nil {
		return 0, 0, f
	}
	port, f := c.uintArg("NewExternalPort", 16)
	if f != nil {
		return 0, 0, f
	}
	if rhost := strings.TrimSpace(c.args["NewRemoteHost"]); rhost != "" && rhost != "*" {
		return 0, 0, fault(rh, "%s: remote host %q", c.action, rhost)
	}
	return p, uint16(port), nil
}

func (d *Device) addPortMapping(c *call) ([]string, *Fault) {
	_, f := d.add(c, true)
	return nil, f
}

func (d *Device) addAnyPortMapping(c *call) ([]string, *Fault) {
	m, f := d.add(c, false)
	if f != nil {
		return nil, f
	}
	return []string{strconv.Itoa(int(m.External.Port()))}, nil
}

func (d *Device) add(c *call, exact bool) (portmap.Mapping, *Fault) {
	p, ext, f := c.key(ErrRemoteHostWildcardOnly)
	if f != nil {
		return portmap.Mapping{}, f
	}
	intPort, f := c.uintArg("NewInternalPort", 16)
	if f != nil {
		return portmap.Mapping{}, f
	}
	if intPort == 0 {
		return portmap.Mapping{}, fault(ErrInvalidArgs, "%s: internal port 0", c.action)
	}
	if exact && ext == 0 {
		return portmap.Mapping{}, fault(ErrWildCardNotPermittedEP, "%s: external port 0", c.action)
	}
	lease, f := c.uintArg("NewLeaseDuration", 32)
	if f != nil {
		return portmap.Mapping{}, f
	}
	switch strings.TrimSpace(c.args["NewEnabled"]) {
	case "1", "true", "yes":
	case "0", "false", "no":
		return portmap.Mapping{}, fault(ErrInvalidArgs, "%s: disabled mappings are not supported", c.action)
	default:
		return portmap.Mapping{}, fault(ErrInvalidArgs, "%s: NewEnabled %q", c.action, c.args["NewEnabled"])
	}
	client, err := netip.ParseAddr(strings.TrimSpace(c.args["NewInternalClient"]))
	if err != nil {
		return portmap.Mapping{}, fault(ErrInvalidArgs, "%s: internal client: %v", c.action, err)
	}
	if client.Unmap() != c.host {
		// A host maps only to itself.
		return portmap.Mapping{}, fault(ErrNotAuthorized, "%s: %v asks for a mapping to %v", c.action, c.host, client)
	}
	res, err := d.cfg.Mapper.Map(portmap.MapRequest{
		Proto:        p,
		Host:         c.host,
		InternalPort: uint16(intPort),
		ExternalPort: ext,
		Exact:        exact,
		Lifetime:     time.Duration(lease) * time.Second,
		Origin:       portmap.OriginUPnP,
		Description:  c.args["NewPortMappingDescription"],
	}, c.now)
	if err != nil {
		return portmap.Mapping{}, mapFault(err)
	}
	return res.Mapping, nil
}

// mapFault is the UPnP error of a Mapper error.
func mapFault(err error) *Fault {
	code := ErrActionFailed
	switch {
	case errors.Is(err, portmap.ErrPortUnavailable):
		code = ErrConflictInMapping
	case errors.Is(err, portmap.ErrQuota), errors.Is(err, portmap.ErrNoResources):
		code = ErrNoPortMapsAvailable
	case errors.Is(err, portmap.ErrNotAuthorized), errors.Is(err, portmap.ErrNotLAN):
		code = ErrNotAuthorized
	case errors.Is(err, portmap.ErrNoSuchMapping):
		code = ErrNoSuchEntryInArray
	case errors.Is(err, portmap.ErrInvalid):
		code = ErrInvalidArgs
	}
	return &Fault{Code: code, Err: err}
}

func (d *Device) deletePortMapping(c *call) ([]string, *Fault) {
	p, ext, f := c.key(ErrNoSuchEntryInArray)
	if f != nil {
		return nil, f
	}
	if err := d.cfg.Mapper.Unmap(p, c.host, ext, c.now); err != nil {
		return nil, mapFault(err)
	}
	return nil, nil
}

// entry renders a mapping as the out-arguments of addArgs[from:].
func entry(m portmap.Mapping, now time.Time, from int) []string {
	proto := "TCP"
	if m.Proto == portmap.UDP {
		proto = "UDP"
	}
	left := max((m.Expiry.Sub(now)+time.Second-1)/time.Second, 1)
	all := []string{
		"",
		strconv.Itoa(int(m.External.Port())),
		proto,
		strconv.Itoa(int(m.Internal.Port())),
		m.Internal.Addr().String(),
		"1",
		m.Description,
		strconv.FormatInt(int64(left), 10),
	}
	return all[from:]
}

func (d *Device) getGenericPortMappingEntry(c *call) ([]string, *Fault) {
	i, f := c.uintArg("NewPortMappingIndex", 16)
	if f != nil {
		return nil, f
	}
	ms := d.cfg.Mapper.MappingsOf(c.host, c.now)
	if i >= uint64(len(ms)) {
		return nil, fault(ErrSpecifiedArrayIndex, "index %d of %d mappings", i, len(ms))
	}
	return entry(ms[i], c.now, 0), nil
}

func (d *Device) getSpecificPortMappingEntry(c *call) ([]string, *Fault) {
	p, ext, f := c.key(ErrNoSuchEntryInArray)
	if f != nil {
		return nil, f
	}
	for _, m := range d.cfg.Mapper.MappingsOf(c.host, c.now) {
		if m.Proto == p && m.External.Port() == ext {
			return entry(m, c.now, 3), nil
		}
	}
	return nil, fault(ErrNoSuchEntryInArray, "no %v mapping of port %d for %v", p, ext, c.host)
}
