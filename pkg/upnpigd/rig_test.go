package upnpigd

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/portmap"
)

var (
	t0      = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	lan     = netip.MustParsePrefix("192.168.1.0/24")
	extAddr = netip.MustParseAddr("203.0.113.2")
	hostA   = netip.MustParseAddr("192.168.1.10")
	hostB   = netip.MustParseAddr("192.168.1.11")
	routerH = netip.MustParseAddrPort("192.168.1.1:5000")
	testID  = [16]byte{0x5e, 0xc0, 0x1d, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0}
)

func reserved(p portmap.Proto, port uint16) bool {
	return p == portmap.TCP && (port == 22 || port == 8443)
}

type rig struct {
	t   *testing.T
	pm  *portmap.Server
	d   *Device
	now time.Time
}

func newRig(t *testing.T, mod ...func(*portmap.Config)) *rig {
	t.Helper()
	r := &rig{t: t, now: t0}
	cfg := portmap.Config{LAN: lan, Reserved: reserved, Seed: 1, Rate: 1e6, Burst: 1e6}
	for _, m := range mod {
		m(&cfg)
	}
	pm, err := portmap.New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	pm.SetExternal(extAddr, t0)
	d, err := New(Config{LAN: lan, HTTP: routerH, UUID: testID, Mapper: pm, Clock: func() time.Time { return r.now }, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.pm, r.d = pm, d
	return r
}

func envelope(serviceType, action string, args [][2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?>`+"\r\n"+`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%s xmlns:u="%s">`, action, serviceType)
	for _, a := range args {
		fmt.Fprintf(&b, "<%s>%s</%s>", a[0], a[1], a[0])
	}
	fmt.Fprintf(&b, "</u:%s></s:Body></s:Envelope>\r\n", action)
	return b.String()
}

// post sends body to path from src with SOAPACTION soapAction.
func (r *rig) post(path, soapAction, body string, src netip.Addr) (int, string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.RemoteAddr = netip.AddrPortFrom(src, 40000).String()
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", soapAction)
	w := httptest.NewRecorder()
	r.d.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// soap calls action of WANIPConnection:version from src.
func (r *rig) soap(version int, action string, args [][2]string, src netip.Addr) (int, string) {
	st := "urn:schemas-upnp-org:service:WANIPConnection:" + strconv.Itoa(version)
	return r.post(PathIPConnCtl, `"`+st+"#"+action+`"`, envelope(st, action, args), src)
}

var errorCodeRE = regexp.MustCompile(`<errorCode>(\d+)</errorCode>`)

// upnpError is the fault's UPnP error code (0 for a 200 answer).
func upnpError(t *testing.T, code int, body string) int {
	t.Helper()
	if code == http.StatusOK {
		return 0
	}
	m := errorCodeRE.FindStringSubmatch(body)
	if code != http.StatusInternalServerError || m == nil {
		t.Fatalf("HTTP %d without a UPnP error: %s", code, body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// outArgs parses a response's arguments.
func outArgs(t *testing.T, body string) map[string]string {
	t.Helper()
	var env struct {
		Body struct {
			Resp struct {
				XMLName xml.Name
				Args    []struct {
					XMLName xml.Name
					Value   string `xml:",chardata"`
				} `xml:",any"`
			} `xml:",any"`
		}
	}
	if err := xml.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	out := map[string]string{}
	for _, a := range env.Body.Resp.Args {
		out[a.XMLName.Local] = a.Value
	}
	return out
}

func addArgsFor(client netip.Addr, intPort, extPort int, proto string) [][2]string {
	return [][2]string{
		{"NewRemoteHost", ""},
		{"NewExternalPort", strconv.Itoa(extPort)},
		{"NewProtocol", proto},
		{"NewInternalPort", strconv.Itoa(intPort)},
		{"NewInternalClient", client.String()},
		{"NewEnabled", "1"},
		{"NewPortMappingDescription", "test"},
		{"NewLeaseDuration", "0"},
	}
}

func with(args [][2]string, name, value string) [][2]string {
	out := append([][2]string{}, args...)
	for i := range out {
		if out[i][0] == name {
			out[i][1] = value
			return out
		}
	}
	return append(out, [2]string{name, value})
}

func without(args [][2]string, name string) [][2]string {
	var out [][2]string
	for _, a := range args {
		if a[0] != name {
			out = append(out, a)
		}
	}
	return out
}

func xmlWellFormed(s string) error {
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
