package upnpigd

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func msearch(st, mx string) []byte {
	s := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: " + st + "\r\n"
	if mx != "" {
		s += "MX: " + mx + "\r\n"
	}
	return []byte(s + "\r\n")
}

func TestSSDPAnswers(t *testing.T) {
	r := newRig(t)
	from := netip.MustParseAddrPort("192.168.1.10:53000")
	root := "uuid:5ec01d00-0102-0304-0506-0708090a0b00"
	wan := "uuid:5ec01d00-0102-0304-0506-0708090a0b01"
	conn := "uuid:5ec01d00-0102-0304-0506-0708090a0b02"
	tests := []struct {
		st   string
		n    int
		usn  string // of the first answer
		errs bool
	}{
		{st: "ssdp:all", n: 9, usn: root + "::upnp:rootdevice"},
		{st: "upnp:rootdevice", n: 1, usn: root + "::upnp:rootdevice"},
		{st: root, n: 1, usn: root},
		{st: conn, n: 1, usn: conn},
		{st: "urn:schemas-upnp-org:device:InternetGatewayDevice:1", n: 1, usn: root + "::urn:schemas-upnp-org:device:InternetGatewayDevice:1"},
		{st: "urn:schemas-upnp-org:device:InternetGatewayDevice:2", n: 1, usn: root + "::urn:schemas-upnp-org:device:InternetGatewayDevice:2"},
		{st: "urn:schemas-upnp-org:device:InternetGatewayDevice:3", n: 0},
		{st: "urn:schemas-upnp-org:device:WANDevice:1", n: 1, usn: wan + "::urn:schemas-upnp-org:device:WANDevice:1"},
		{st: "urn:schemas-upnp-org:device:WANConnectionDevice:2", n: 1, usn: conn + "::urn:schemas-upnp-org:device:WANConnectionDevice:2"},
		{st: "urn:schemas-upnp-org:service:WANIPConnection:1", n: 1, usn: conn + "::urn:schemas-upnp-org:service:WANIPConnection:1"},
		{st: "urn:schemas-upnp-org:service:WANIPConnection:2", n: 1, usn: conn + "::urn:schemas-upnp-org:service:WANIPConnection:2"},
		{st: "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1", n: 1, usn: wan + "::urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"},
		{st: "urn:schemas-upnp-org:service:WANPPPConnection:1", n: 0},
		{st: "urn:dial-multiscreen-org:service:dial:1", n: 0},
	}
	for _, tt := range tests {
		a, err := r.d.AnswerSSDP(msearch(tt.st, "3"), from)
		if err != nil || len(a.Datagrams) != tt.n {
			t.Errorf("ST %s: %d answers, %v; want %d", tt.st, len(a.Datagrams), err, tt.n)
			continue
		}
		if tt.n == 0 {
			continue
		}
		if a.To != from || a.Delay < 0 || a.Delay >= 3*time.Second {
			t.Errorf("ST %s: to %v after %v", tt.st, a.To, a.Delay)
		}
		got := string(a.Datagrams[0])
		for _, want := range []string{"HTTP/1.1 200 OK\r\n", "\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n", "\r\nUSN: " + tt.usn + "\r\n", "\r\nEXT:\r\n", "CACHE-CONTROL: max-age=1800\r\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("ST %s: answer lacks %q:\n%s", tt.st, want, got)
			}
		}
		if tt.st != "ssdp:all" && !strings.Contains(got, "\r\nST: "+tt.st+"\r\n") {
			t.Errorf("ST %s: answer's ST:\n%s", tt.st, got)
		}
	}
	// MX: capped at 5 s; none (a unicast search): at once.
	for range 50 {
		if a, _ := r.d.AnswerSSDP(msearch("ssdp:all", "120"), from); a.Delay >= MaxMX*time.Second {
			t.Fatalf("MX 120: delay %v", a.Delay)
		}
	}
	if a, _ := r.d.AnswerSSDP(msearch("ssdp:all", ""), from); a.Delay != 0 || len(a.Datagrams) != 9 {
		t.Errorf("no MX: %d answers after %v", len(a.Datagrams), a.Delay)
	}
	// Refused: outsiders, malformed and oversized requests.
	for name, c := range map[string]struct {
		b    []byte
		from netip.AddrPort
	}{
		"outsider":     {msearch("ssdp:all", "1"), netip.MustParseAddrPort("198.51.100.7:1900")},
		"port 0":       {msearch("ssdp:all", "1"), netip.MustParseAddrPort("192.168.1.10:0")},
		"IPv6":         {msearch("ssdp:all", "1"), netip.MustParseAddrPort("[fe80::1]:1900")},
		"no MAN":       {[]byte("M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMX: 1\r\n\r\n"), from},
		"no ST":        {[]byte("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n"), from},
		"bad MX":       {msearch("ssdp:all", "-1"), from},
		"request line": {[]byte("GET / HTTP/1.1\r\n\r\n"), from},
		"header line":  {[]byte("M-SEARCH * HTTP/1.1\r\nbroken\r\n\r\n"), from},
		"duplicate ST": {[]byte("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: a\r\nST: ssdp:all\r\n\r\n"), from},
		"many headers": {[]byte("M-SEARCH * HTTP/1.1\r\n" + strings.Repeat("X-A: 1\r\n", MaxSSDPHeaders) + "MAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n"), from},
		"oversized":    {append(msearch("ssdp:all", "1"), bytes.Repeat([]byte("x"), MaxSSDP)...), from},
		"empty":        {nil, from},
	} {
		if a, err := r.d.AnswerSSDP(c.b, c.from); err == nil || len(a.Datagrams) != 0 {
			t.Errorf("%s: %d answers, error %v", name, len(a.Datagrams), err)
		}
	}
	// A NOTIFY (another device's) is not answered, and not an error.
	if a, err := r.d.AnswerSSDP([]byte("NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n"), from); err != nil || len(a.Datagrams) != 0 {
		t.Errorf("NOTIFY: %d answers, %v", len(a.Datagrams), err)
	}
}

func TestSSDPNotify(t *testing.T) {
	r := newRig(t)
	alive, bye := r.d.Notify(true), r.d.Notify(false)
	if len(alive) != 9 || len(bye) != 9 {
		t.Fatalf("%d alive, %d byebye", len(alive), len(bye))
	}
	for i := range alive {
		for _, want := range []string{"NOTIFY * HTTP/1.1\r\n", "HOST: 239.255.255.250:1900\r\n", "NTS: ssdp:alive\r\n", "LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n"} {
			if !strings.Contains(string(alive[i]), want) {
				t.Errorf("alive %d lacks %q", i, want)
			}
		}
		if !strings.Contains(string(bye[i]), "NTS: ssdp:byebye\r\n") || strings.Contains(string(bye[i]), "LOCATION") {
			t.Errorf("byebye %d:\n%s", i, bye[i])
		}
		// Each NOTIFY parses as a request this package would read.
		if _, err := parseSSDP(alive[i]); err != nil {
			t.Errorf("alive %d: %v", i, err)
		}
	}
	if !strings.Contains(string(alive[0]), "NT: upnp:rootdevice\r\nNTS") {
		t.Errorf("first alive:\n%s", alive[0])
	}
}

// FuzzSSDP: AnswerSSDP never panics, answers only LAN sources, at most
// nine datagrams after at most MaxMX seconds, each naming our LOCATION.
func FuzzSSDP(f *testing.F) {
	f.Add(msearch("ssdp:all", "2"), true)
	f.Add(msearch("urn:schemas-upnp-org:service:WANIPConnection:1", "120"), true)
	f.Add([]byte("NOTIFY * HTTP/1.1\r\nNT: x\r\n\r\n"), false)
	f.Add([]byte("M-SEARCH * HTTP/1.1\nMAN:\"ssdp:discover\"\nST:upnp:rootdevice\nMX:1\n\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, inLAN bool) {
		rr := newRig(t)
		from := netip.MustParseAddrPort("192.168.1.10:1900")
		if !inLAN {
			from = netip.MustParseAddrPort("10.1.1.1:1900")
		}
		a, err := rr.d.AnswerSSDP(b, from)
		if err != nil && len(a.Datagrams) != 0 {
			t.Fatalf("answers with an error: %v", err)
		}
		if !inLAN && len(a.Datagrams) != 0 {
			t.Fatal("answered an outsider")
		}
		if len(a.Datagrams) > 9 || a.Delay < 0 || a.Delay >= MaxMX*time.Second {
			t.Fatalf("%d answers after %v", len(a.Datagrams), a.Delay)
		}
		for _, d := range a.Datagrams {
			if !bytes.Contains(d, []byte("\r\nLOCATION: "+rr.d.Location()+"\r\n")) || len(d) > 1024 || bytes.Count(d, []byte("\r\n\r\n")) != 1 {
				t.Fatalf("answer:\n%s", d)
			}
		}
	})
}
