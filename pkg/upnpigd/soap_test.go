package upnpigd

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/portmap"
)

// TestSOAPActions drives every action and every fault. Each case runs on
// a fresh device where hostB maps TCP 9000 and hostA maps UDP 7000.
func TestSOAPActions(t *testing.T) {
	add := addArgsFor(hostA, 8080, 8080, "TCP")
	key := func(port, proto string) [][2]string {
		return [][2]string{{"NewRemoteHost", ""}, {"NewExternalPort", port}, {"NewProtocol", proto}}
	}
	billion := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` +
		strings.Replace(envelope("urn:schemas-upnp-org:service:WANIPConnection:1", "GetExternalIPAddress", nil), `<?xml version="1.0"?>`, "", 1)
	xxe := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
		strings.Replace(envelope("urn:schemas-upnp-org:service:WANIPConnection:1", "AddPortMapping", with(add, "NewPortMappingDescription", "&xxe;")), `<?xml version="1.0"?>`, "", 1)
	undeclared := envelope("urn:schemas-upnp-org:service:WANIPConnection:1", "AddPortMapping", with(add, "NewPortMappingDescription", "&xxe;"))
	v1 := "urn:schemas-upnp-org:service:WANIPConnection:1"
	tests := []struct {
		name    string
		version int    // WANIPConnection version; 0: raw
		action  string // with version
		args    [][2]string
		path    string // raw
		sa      string // raw SOAPACTION
		body    string // raw
		from    netip.Addr
		mod     func(*portmap.Config)
		status  int // HTTP status when not 200 or 500
		err     int // UPnP error
		want    map[string]string
		check   func(t *testing.T, r *rig)
	}{
		{name: "GetExternalIPAddress", version: 1, action: "GetExternalIPAddress", want: map[string]string{"NewExternalIPAddress": "203.0.113.2"}},
		{name: "GetStatusInfo", version: 2, action: "GetStatusInfo", want: map[string]string{"NewConnectionStatus": "Connected", "NewLastConnectionError": "ERROR_NONE", "NewUptime": "0"}},
		{name: "GetConnectionTypeInfo", version: 1, action: "GetConnectionTypeInfo", want: map[string]string{"NewConnectionType": "IP_Routed", "NewPossibleConnectionTypes": "IP_Routed"}},
		{name: "GetNATRSIPStatus", version: 1, action: "GetNATRSIPStatus", want: map[string]string{"NewRSIPAvailable": "0", "NewNATEnabled": "1"}},
		{name: "GetCommonLinkProperties", path: PathCIFCtl, sa: `"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1#GetCommonLinkProperties"`,
			body: envelope("urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1", "GetCommonLinkProperties", nil),
			want: map[string]string{"NewWANAccessType": "Ethernet", "NewPhysicalLinkStatus": "Up"}},
		{name: "AddPortMapping v1", version: 1, action: "AddPortMapping", args: add, check: func(t *testing.T, r *rig) {
			ms := r.pm.MappingsOf(hostA, r.now)
			if len(ms) != 2 || ms[0].External.Port() != 8080 || ms[0].Origin != portmap.OriginUPnP || ms[0].Description != "test" || !ms[0].Expiry.Equal(r.now.Add(2*time.Hour)) {
				t.Errorf("mappings %v", ms)
			}
		}},
		{name: "AddPortMapping v2 lease clamped", version: 2, action: "AddPortMapping", args: with(add, "NewLeaseDuration", "604800"), check: func(t *testing.T, r *rig) {
			if ms := r.pm.MappingsOf(hostA, r.now); len(ms) != 2 || !ms[0].Expiry.Equal(r.now.Add(2*time.Hour)) {
				t.Errorf("mappings %v", ms)
			}
		}},
		{name: "AddPortMapping renews", version: 1, action: "AddPortMapping", args: addArgsFor(hostA, 7000, 7000, "UDP")},
		{name: "AddPortMapping description sanitised", version: 1, action: "AddPortMapping", args: with(add, "NewPortMappingDescription", "a&lt;b&#9;é"+strings.Repeat("x", 100)), check: func(t *testing.T, r *rig) {
			if d := r.pm.MappingsOf(hostA, r.now)[0].Description; d != "a<b??"+strings.Repeat("x", 59) {
				t.Errorf("description %q", d)
			}
		}},
		{name: "AddPortMapping for another host", version: 1, action: "AddPortMapping", args: addArgsFor(hostB, 8080, 8080, "TCP"), err: 606},
		{name: "AddPortMapping for an outside host", version: 1, action: "AddPortMapping", args: addArgsFor(netip.MustParseAddr("8.8.8.8"), 8080, 8080, "TCP"), err: 606},
		{name: "AddPortMapping reserved port", version: 1, action: "AddPortMapping", args: addArgsFor(hostA, 8443, 8443, "TCP"), err: 718},
		{name: "AddPortMapping port below 1024", version: 1, action: "AddPortMapping", args: addArgsFor(hostA, 80, 80, "TCP"), err: 718},
		{name: "AddPortMapping another host's port", version: 1, action: "AddPortMapping", args: addArgsFor(hostA, 9000, 9000, "TCP"), err: 718},
		{name: "AddPortMapping wildcard port", version: 1, action: "AddPortMapping", args: with(add, "NewExternalPort", "0"), err: 716},
		{name: "AddPortMapping remote host", version: 1, action: "AddPortMapping", args: with(add, "NewRemoteHost", "198.51.100.1"), err: 726},
		{name: "AddPortMapping protocol", version: 1, action: "AddPortMapping", args: with(add, "NewProtocol", "ICMP"), err: 402},
		{name: "AddPortMapping port out of range", version: 1, action: "AddPortMapping", args: with(add, "NewExternalPort", "65536"), err: 402},
		{name: "AddPortMapping internal port 0", version: 1, action: "AddPortMapping", args: with(add, "NewInternalPort", "0"), err: 402},
		{name: "AddPortMapping lease not a number", version: 1, action: "AddPortMapping", args: with(add, "NewLeaseDuration", "-1"), err: 402},
		{name: "AddPortMapping disabled", version: 1, action: "AddPortMapping", args: with(add, "NewEnabled", "0"), err: 402},
		{name: "AddPortMapping missing argument", version: 1, action: "AddPortMapping", args: without(add, "NewInternalClient"), err: 402},
		{name: "AddPortMapping host quota", version: 1, action: "AddPortMapping", args: add, mod: func(c *portmap.Config) { c.MaxPerHost = 1 }, err: 728},
		{name: "AddPortMapping total cap", version: 1, action: "AddPortMapping", args: add, mod: func(c *portmap.Config) { c.MaxMappings = 2 }, err: 728},
		{name: "AddPortMapping rate limited", version: 1, action: "AddPortMapping", args: add, mod: func(c *portmap.Config) { c.Rate, c.Burst = 0.001, 1 }, err: 501},
		{name: "AddAnyPortMapping", version: 2, action: "AddAnyPortMapping", args: add, want: map[string]string{"NewReservedPort": "8080"}},
		{name: "AddAnyPortMapping reserved moves", version: 2, action: "AddAnyPortMapping", args: addArgsFor(hostA, 8443, 8443, "TCP"), check: func(t *testing.T, r *rig) {
			ms := r.pm.MappingsOf(hostA, r.now)
			if len(ms) != 2 || ms[0].External.Port() == 8443 || ms[0].External.Port() < 1024 {
				t.Errorf("mappings %v", ms)
			}
		}},
		{name: "AddAnyPortMapping wildcard", version: 2, action: "AddAnyPortMapping", args: with(add, "NewExternalPort", "0"), want: map[string]string{"NewReservedPort": "8080"}},
		{name: "AddAnyPortMapping for another host", version: 2, action: "AddAnyPortMapping", args: addArgsFor(hostB, 8080, 8080, "TCP"), err: 606},
		{name: "AddAnyPortMapping is not v1", version: 1, action: "AddAnyPortMapping", args: add, err: 401},
		{name: "DeletePortMapping", version: 1, action: "DeletePortMapping", args: key("7000", "UDP"), check: func(t *testing.T, r *rig) {
			if ms := r.pm.Mappings(); len(ms) != 1 {
				t.Errorf("mappings %v", ms)
			}
		}},
		{name: "DeletePortMapping another host's", version: 1, action: "DeletePortMapping", args: key("9000", "TCP"), err: 606},
		{name: "DeletePortMapping none", version: 1, action: "DeletePortMapping", args: key("7000", "TCP"), err: 714},
		{name: "DeletePortMapping remote host", version: 1, action: "DeletePortMapping", args: with(key("7000", "UDP"), "NewRemoteHost", "1.2.3.4"), err: 714},
		{name: "GetGenericPortMappingEntry", version: 1, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "0"}},
			want: map[string]string{"NewRemoteHost": "", "NewExternalPort": "7000", "NewProtocol": "UDP", "NewInternalPort": "7000", "NewInternalClient": "192.168.1.10", "NewEnabled": "1", "NewPortMappingDescription": "mine", "NewLeaseDuration": "7200"}},
		{name: "GetGenericPortMappingEntry past the end", version: 1, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "1"}}, err: 713},
		{name: "GetGenericPortMappingEntry other hosts' hidden", version: 1, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "0"}}, from: netip.MustParseAddr("192.168.1.12"), err: 713},
		{name: "GetGenericPortMappingEntry bad index", version: 1, action: "GetGenericPortMappingEntry", args: [][2]string{{"NewPortMappingIndex", "x"}}, err: 402},
		{name: "GetSpecificPortMappingEntry", version: 1, action: "GetSpecificPortMappingEntry", args: key("7000", "UDP"),
			want: map[string]string{"NewInternalPort": "7000", "NewInternalClient": "192.168.1.10", "NewEnabled": "1", "NewPortMappingDescription": "mine", "NewLeaseDuration": "7200"}},
		{name: "GetSpecificPortMappingEntry another host's", version: 1, action: "GetSpecificPortMappingEntry", args: key("9000", "TCP"), err: 714},
		{name: "GetSpecificPortMappingEntry none", version: 1, action: "GetSpecificPortMappingEntry", args: key("7001", "UDP"), err: 714},
		{name: "unknown action", version: 1, action: "ForceTermination", err: 401},
		{name: "SOAPACTION mismatch", path: PathIPConnCtl, sa: `"` + v1 + `#DeletePortMapping"`, body: envelope(v1, "GetExternalIPAddress", nil), err: 401},
		{name: "wrong service", path: PathCIFCtl, sa: `"` + v1 + `#GetExternalIPAddress"`, body: envelope(v1, "GetExternalIPAddress", nil), err: 401},
		{name: "newer version", version: 3, action: "GetExternalIPAddress", err: 401},
		{name: "malformed XML", path: PathIPConnCtl, sa: `"` + v1 + `#GetExternalIPAddress"`, body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="` + v1 + `">`, err: 402},
		{name: "not SOAP", path: PathIPConnCtl, sa: `"` + v1 + `#GetExternalIPAddress"`, body: `<x/>`, err: 402},
		{name: "empty body", path: PathIPConnCtl, sa: `"` + v1 + `#GetExternalIPAddress"`, body: ``, err: 402},
		{name: "entity expansion", path: PathIPConnCtl, sa: `"` + v1 + `#GetExternalIPAddress"`, body: billion, err: 402},
		{name: "external entity", path: PathIPConnCtl, sa: `"` + v1 + `#AddPortMapping"`, body: xxe, err: 402},
		{name: "undeclared entity", path: PathIPConnCtl, sa: `"` + v1 + `#AddPortMapping"`, body: undeclared, err: 402},
		{name: "too many arguments", version: 1, action: "AddPortMapping", args: with(with(with(with(with(with(with(with(with(add, "Xa", ""), "Xb", ""), "Xc", ""), "Xd", ""), "Xe", ""), "Xf", ""), "Xg", ""), "Xh", ""), "Xi", ""), err: 402},
		{name: "argument too long", version: 1, action: "AddPortMapping", args: with(add, "NewPortMappingDescription", strings.Repeat("x", 300)), err: 402},
		{name: "oversized body", version: 1, action: "AddPortMapping", args: with(add, "Pad", strings.Repeat("x", MaxBody)), status: http.StatusRequestEntityTooLarge},
		{name: "from outside the LAN", version: 1, action: "GetExternalIPAddress", from: netip.MustParseAddr("198.51.100.7"), status: http.StatusForbidden},
		{name: "AddPortMapping from outside the LAN", version: 1, action: "AddPortMapping", args: addArgsFor(netip.MustParseAddr("198.51.100.7"), 8080, 8080, "TCP"), from: netip.MustParseAddr("198.51.100.7"), status: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods := []func(*portmap.Config){}
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			r := newRig(t, mods...)
			for _, m := range []portmap.MapRequest{
				{Proto: portmap.TCP, Host: hostB, InternalPort: 9000, ExternalPort: 9000, Exact: true, Origin: portmap.OriginUPnP},
				{Proto: portmap.UDP, Host: hostA, InternalPort: 7000, ExternalPort: 7000, Exact: true, Origin: portmap.OriginUPnP, Description: "mine"},
			} {
				if _, err := r.pm.Map(m, r.now); err != nil {
					t.Fatal(err)
				}
			}
			before := r.pm.Mappings()
			from := tt.from
			if !from.IsValid() {
				from = hostA
			}
			var code int
			var body string
			if tt.version != 0 {
				code, body = r.soap(tt.version, tt.action, tt.args, from)
			} else {
				code, body = r.post(tt.path, tt.sa, tt.body, from)
			}
			if tt.status != 0 {
				if code != tt.status {
					t.Fatalf("HTTP %d, want %d: %s", code, tt.status, body)
				}
			} else if got := upnpError(t, code, body); got != tt.err {
				t.Fatalf("UPnP error %d, want %d: %s", got, tt.err, body)
			}
			if tt.err != 0 || tt.status != 0 {
				if after := r.pm.Mappings(); len(after) != len(before) || after[0] != before[0] || after[1] != before[1] {
					t.Errorf("a refused call changed the mappings: %v -> %v", before, after)
				}
				return
			}
			if tt.want != nil {
				got := outArgs(t, body)
				for k, v := range tt.want {
					if got[k] != v {
						t.Errorf("%s = %q, want %q (%s)", k, got[k], v, body)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// Without an external address the status is Disconnected and mappings
// fail with 501.
func TestSOAPNoExternal(t *testing.T) {
	r := newRig(t)
	r.pm.SetExternal(netip.Addr{}, r.now)
	code, body := r.soap(1, "GetStatusInfo", nil, hostA)
	if got := outArgs(t, body); code != 200 || got["NewConnectionStatus"] != "Disconnected" {
		t.Errorf("GetStatusInfo: %d %v", code, got)
	}
	code, body = r.soap(1, "GetExternalIPAddress", nil, hostA)
	if got := outArgs(t, body); code != 200 || got["NewExternalIPAddress"] != "" {
		t.Errorf("GetExternalIPAddress: %d %v", code, got)
	}
	code, body = r.soap(1, "AddPortMapping", addArgsFor(hostA, 8080, 8080, "TCP"), hostA)
	if got := upnpError(t, code, body); got != 501 {
		t.Errorf("AddPortMapping: %d", got)
	}
}

func TestDescriptions(t *testing.T) {
	r := newRig(t)
	get := func(path string, from netip.Addr) (int, string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = netip.AddrPortFrom(from, 40000).String()
		w := httptest.NewRecorder()
		r.d.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	for path, want := range map[string][]string{
		PathRootDesc:   {TypeIGD, TypeWAN, TypeWANConn, TypeIPConn, TypeCIF, "<controlURL>" + PathIPConnCtl + "</controlURL>", "<UDN>uuid:5ec01d00-0102-0304-0506-0708090a0b00</UDN>", "<UDN>uuid:5ec01d00-0102-0304-0506-0708090a0b02</UDN>"},
		PathIPConnSCPD: {"<name>AddPortMapping</name>", "<name>AddAnyPortMapping</name>", "<name>GetSpecificPortMappingEntry</name>", "<relatedStateVariable>PortMappingLeaseDuration</relatedStateVariable>"},
		PathCIFSCPD:    {"<name>GetCommonLinkProperties</name>"},
	} {
		code, body := get(path, hostA)
		if code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		if err := xmlWellFormed(body); err != nil {
			t.Errorf("GET %s: %v", path, err)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %s", path, w)
			}
		}
	}
	if code, _ := get(PathRootDesc, netip.MustParseAddr("10.0.0.1")); code != http.StatusForbidden {
		t.Errorf("GET from outside the LAN: %d", code)
	}
	if code, _ := get("/nothing", hostA); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", code)
	}
	if code, _ := get(PathIPConnCtl, hostA); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on the control URL: %d", code)
	}
	if code, _ := get(PathIPConnEvt, hostA); code != http.StatusNotImplemented {
		t.Errorf("eventing: %d", code)
	}
}
