package upnpigd

import (
	"net/http"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/portmap"
)

// FuzzSOAP posts arbitrary bodies as any action to the control URL from
// hostA and checks the invariants: an answer is 200 or a UPnP fault (or
// 413 for an oversized body), and every mapping is hostA's own (or
// hostB's, made before), on an unreserved port >= 1024, within the caps.
func FuzzSOAP(f *testing.F) {
	v1 := "urn:schemas-upnp-org:service:WANIPConnection:1"
	f.Add("AddPortMapping", envelope(v1, "AddPortMapping", addArgsFor(hostA, 8080, 8080, "TCP")))
	f.Add("AddPortMapping", envelope(v1, "AddPortMapping", addArgsFor(hostB, 8080, 8080, "TCP")))
	f.Add("DeletePortMapping", envelope(v1, "DeletePortMapping", [][2]string{{"NewRemoteHost", ""}, {"NewExternalPort", "9000"}, {"NewProtocol", "TCP"}}))
	f.Add("GetGenericPortMappingEntry", envelope(v1, "GetGenericPortMappingEntry", [][2]string{{"NewPortMappingIndex", "0"}}))
	f.Add("AddAnyPortMapping", envelope("urn:schemas-upnp-org:service:WANIPConnection:2", "AddAnyPortMapping", addArgsFor(hostA, 22, 22, "UDP")))
	f.Add("GetExternalIPAddress", `<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)
	f.Fuzz(func(t *testing.T, action, body string) {
		r := newRig(t, func(c *portmap.Config) { c.MaxPerHost = 4; c.MaxMappings = 6 })
		if _, err := r.pm.Map(portmap.MapRequest{Proto: portmap.TCP, Host: hostB, InternalPort: 9000, ExternalPort: 9000, Exact: true, Origin: portmap.OriginUPnP}, r.now); err != nil {
			t.Fatal(err)
		}
		ns := v1
		if strings.HasPrefix(action, "AddAny") {
			ns = "urn:schemas-upnp-org:service:WANIPConnection:2"
		}
		code, resp := r.post(PathIPConnCtl, `"`+ns+"#"+action+`"`, body, hostA)
		switch code {
		case http.StatusOK:
		case http.StatusRequestEntityTooLarge:
			if len(body) <= MaxBody {
				t.Fatalf("413 for %d bytes", len(body))
			}
		default:
			upnpError(t, code, resp)
		}
		if err := xmlWellFormed(resp); code != http.StatusRequestEntityTooLarge && err != nil {
			t.Fatalf("answer not well-formed: %v\n%s", err, resp)
		}
		ms := r.pm.Mappings()
		if len(ms) > 6 {
			t.Fatalf("%d mappings", len(ms))
		}
		for _, m := range ms {
			p := m.External.Port()
			if p < 1024 || reserved(m.Proto, p) || (m.Internal.Addr() != hostA && !(m.Internal.Addr() == hostB && p == 9000)) {
				t.Fatalf("mapping %v", m)
			}
		}
	})
}
