package pppoe

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	hostMAC = [6]byte{0x02, 0, 0, 0, 2, 1}
	acMAC   = [6]byte{0x02, 0xac, 0, 0, 0, 1}
	ac2MAC  = [6]byte{0x02, 0xac, 0, 0, 0, 2}
	epoch   = time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
)

// TestSessionHeaderAgainstGopacket: gopacket decodes the session frames we
// build, and we parse the ones gopacket builds.
func TestSessionHeaderAgainstGopacket(t *testing.T) {
	info := []byte{0x45, 0, 0, 20, 1, 2, 3, 4}
	b := AppendEthernet(nil, acMAC, hostMAC, EtherTypeSession)
	b = AppendSessionHeader(b, 0x1234, 0x0021, len(info))
	b = append(b, info...)
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	pe, ok := p.Layer(layers.LayerTypePPPoE).(*layers.PPPoE)
	if !ok || pe.Version != 1 || pe.Type != 1 || pe.Code != layers.PPPoECodeSession || pe.SessionId != 0x1234 || int(pe.Length) != len(info)+2 {
		t.Fatalf("gopacket reads %v", p)
	}
	if ppp, ok := p.Layer(layers.LayerTypePPP).(*layers.PPP); !ok || ppp.PPPType != layers.PPPTypeIPv4 {
		t.Fatalf("PPP layer %v", p)
	}

	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7},
		&layers.PPP{PPPType: 0xc021}, gopacket.Payload([]byte{9, 1, 0, 4}))
	if err != nil {
		t.Fatal(err)
	}
	padded := append(buf.Bytes(), 0, 0, 0, 0, 0)
	id, proto, got, err := ParseSession(padded)
	if err != nil || id != 7 || proto != 0xc021 || !bytes.Equal(got, []byte{9, 1, 0, 4}) {
		t.Fatalf("ParseSession = %d %#x % x %v", id, proto, got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"\x11\x00\x00", "shorter than"},
		{"\x21\x00\x00\x01\x00\x02\x00\x21", "version/type 0x21"},
		{"\x11\x00\x00\x01\x00\x09\x00\x21", "length 9 beyond the 2 bytes"},
		{"\x11\x00\x00\x01\x00\x01\x00", "no PPP protocol"},
		{"\x11\x09\x00\x01\x00\x02\x00\x21", "PADI in the session stage"},
	} {
		_, _, _, err := ParseSession([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSession(% x) = %v, want %q", tc.in, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"\x11\x00\x00\x00\x00\x00", "session is not a discovery code"},
		{"\x11\x09\x00\x00\x00\x06\x01\x01\x00\x08\x00\x00", "beyond the packet"},
		{"\x11\x09\x00\x00\x00\x02\x01\x01", "2 stray bytes"},
	} {
		_, err := ParseDiscovery([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDiscovery(% x) = %v, want %q", tc.in, err, tc.want)
		}
	}
	many := Discovery{Code: PADO}
	for range maxTags + 1 {
		many.Tags = append(many.Tags, Tag{Type: TagVendorSpecific})
	}
	b, _ := AppendDiscovery(nil, many)
	if _, err := ParseDiscovery(b); err == nil || !strings.Contains(err.Error(), "more than 64 tags") {
		t.Errorf("65 tags: %v", err)
	}
	// End-Of-List ends the tags; padding after Length is ignored.
	d, err := ParseDiscovery([]byte("\x11\x07\x00\x00\x00\x0c\x01\x02\x00\x02ac\x00\x00\x00\x00\x01\x01\x00\x00PAD"))
	if err != nil || len(d.Tags) != 1 || string(d.Tags[0].Value) != "ac" {
		t.Errorf("End-Of-List: %+v %v", d, err)
	}
}

// concentrator plays an access concentrator in tests.
type concentrator struct {
	t       *testing.T
	mac     [6]byte
	name    string
	service []string
	cookie  []byte
	id      uint16
	errTag  uint16 // answer PADR with this error tag
	echoMax bool   // echo PPP-Max-Payload in PADS
}

func parseFrame(t *testing.T, f []byte) (dst, src [6]byte, d Discovery) {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if pe, ok := p.Layer(layers.LayerTypePPPoE).(*layers.PPPoE); !ok || pe.Version != 1 {
		t.Fatalf("gopacket does not read a PPPoE frame: %v", p)
	}
	d, err := ParseDiscovery(f[14:])
	if err != nil {
		t.Fatal(err)
	}
	return [6]byte(f[:6]), [6]byte(f[6:12]), d
}

func (a *concentrator) frame(dst [6]byte, d Discovery) []byte {
	b := AppendEthernet(nil, dst, a.mac, EtherTypeDiscovery)
	b, err := AppendDiscovery(b, d)
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

// answer returns the concentrator's reply to the client's frame f.
func (a *concentrator) answer(f []byte) []byte {
	dst, src, d := parseFrame(a.t, f)
	uniq, _ := d.Tag(TagHostUniq)
	switch d.Code {
	case PADI:
		if dst != broadcast {
			a.t.Fatalf("PADI to %x", dst)
		}
		tags := []Tag{{TagACName, []byte(a.name)}, {TagHostUniq, uniq}}
		for _, s := range a.service {
			tags = append(tags, Tag{TagServiceName, []byte(s)})
		}
		if a.cookie != nil {
			tags = append(tags, Tag{TagACCookie, a.cookie})
		}
		return a.frame(src, Discovery{Code: PADO, Tags: tags})
	case PADR:
		if dst != a.mac {
			return nil
		}
		if c, _ := d.Tag(TagACCookie); !bytes.Equal(c, a.cookie) {
			a.t.Fatalf("PADR cookie % x, want % x", c, a.cookie)
		}
		tags := []Tag{{TagHostUniq, uniq}}
		if v, ok := d.Tag(TagServiceName); ok {
			tags = append(tags, Tag{TagServiceName, v})
		}
		if a.errTag != 0 {
			return a.frame(src, Discovery{Code: PADS, Tags: append(tags, Tag{a.errTag, []byte("out of sessions")})})
		}
		if v, ok := d.Tag(TagPPPMaxPayload); ok && a.echoMax {
			tags = append(tags, Tag{TagPPPMaxPayload, v})
		}
		return a.frame(src, Discovery{Code: PADS, SessionID: a.id, Tags: tags})
	}
	return nil
}

func newClient(t *testing.T, c Config) *Client {
	t.Helper()
	c.MAC = hostMAC
	c.Rand = bytes.NewReader(bytes.Repeat([]byte{0x5a}, 1024))
	cl, err := NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func one(t *testing.T, fs [][]byte) []byte {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("%d frames, want 1", len(fs))
	}
	return fs[0]
}

func TestDiscoveryHappyPath(t *testing.T) {
	cl := newClient(t, Config{MaxPayload: 1500})
	ac := &concentrator{t: t, mac: acMAC, name: "BRAS-1", service: []string{"internet"}, cookie: []byte("c00kie"), id: 0x2a, echoMax: true}
	padi := one(t, cl.Start(epoch))
	_, _, d := parseFrame(t, padi)
	if v, _ := d.Tag(TagPPPMaxPayload); binary.BigEndian.Uint16(v) != 1500 {
		t.Errorf("PADI without PPP-Max-Payload 1500: %+v", d)
	}
	padr := one(t, cl.HandleFrame(ac.answer(padi), epoch))
	if cl.Status().State != Requesting {
		t.Fatalf("state %v", cl.Status().State)
	}
	if out := cl.HandleFrame(ac.answer(padr), epoch); len(out) != 0 {
		t.Fatalf("frames after PADS: %d", len(out))
	}
	ev := cl.Events()
	up, ok := ev[0].(SessionUp)
	if len(ev) != 1 || !ok || up.ID != 0x2a || up.AC != acMAC || up.ACName != "BRAS-1" || up.MaxPayload != 1500 {
		t.Fatalf("events %+v", ev)
	}
	if st := cl.Status(); st.State != Session || st.SessionID != 0x2a || !cl.Deadline().IsZero() {
		t.Fatalf("status %+v", st)
	}
	// Terminate sends a PADT with the reason.
	padt := one(t, cl.Terminate(epoch, "bye"))
	dst, _, d := parseFrame(t, padt)
	if dst != acMAC || d.Code != PADT || d.SessionID != 0x2a || string(first(d, TagGenericError)) != "bye" {
		t.Fatalf("PADT %+v to %x", d, dst)
	}
}

func first(d Discovery, t uint16) []byte { v, _ := d.Tag(t); return v }

func TestDiscoveryChoosesByNameAndService(t *testing.T) {
	cl := newClient(t, Config{ACName: "BRAS-2", ServiceName: "internet"})
	a1 := &concentrator{t: t, mac: acMAC, name: "BRAS-1", service: []string{"internet"}, id: 1}
	a2 := &concentrator{t: t, mac: ac2MAC, name: "BRAS-2", service: []string{"iptv", "internet"}, id: 2}
	padi := one(t, cl.Start(epoch))
	if out := cl.HandleFrame(a1.answer(padi), epoch); len(out) != 0 {
		t.Fatal("took the wrong concentrator")
	}
	padr := one(t, cl.HandleFrame(a2.answer(padi), epoch))
	dst, _, d := parseFrame(t, padr)
	if dst != ac2MAC || string(first(d, TagServiceName)) != "internet" {
		t.Fatalf("PADR %+v to %x", d, dst)
	}
	cl.HandleFrame(a2.answer(padr), epoch)
	if up := cl.Events()[0].(SessionUp); up.ID != 2 {
		t.Fatalf("%+v", up)
	}

	// A concentrator without the service is refused, and said so.
	cl = newClient(t, Config{ServiceName: "business"})
	padi = one(t, cl.Start(epoch))
	cl.HandleFrame(a1.answer(padi), epoch)
	out := cl.Tick(epoch.Add(time.Second))
	if len(out) != 1 || !strings.Contains(cl.Status().LastError, `concentrator "BRAS-1" offered no service "business"`) {
		t.Fatalf("%q", cl.Status().LastError)
	}
}

func TestDiscoveryIgnoresOthers(t *testing.T) {
	cl := newClient(t, Config{})
	ac := &concentrator{t: t, mac: acMAC, name: "BRAS-1", id: 5}
	padi := one(t, cl.Start(epoch))
	pado := ac.answer(padi)
	// Another host's offer (Host-Uniq), one to another MAC, garbage.
	other := bytes.Clone(pado)
	i := bytes.Index(other, []byte{0x01, 0x03, 0x00, 0x08})
	other[i+4] ^= 0xff
	toOther := bytes.Clone(pado)
	toOther[5] ^= 1
	for _, f := range [][]byte{other, toOther, pado[:16], {1, 2, 3}} {
		if out := cl.HandleFrame(f, epoch); len(out) != 0 {
			t.Fatalf("answered % x", f)
		}
	}
	if c := cl.Counters(); c.NotForUs != 2 || c.Malformed != 2 {
		t.Errorf("counters %+v", c)
	}
	padr := one(t, cl.HandleFrame(pado, epoch))
	cl.HandleFrame(ac.answer(padr), epoch)
	cl.Events()
	// A PADT from a stranger or for another session changes nothing.
	strange := ac.frame(hostMAC, Discovery{Code: PADT, SessionID: 6})
	cl.HandleFrame(strange, epoch)
	stranger := &concentrator{t: t, mac: ac2MAC}
	cl.HandleFrame(stranger.frame(hostMAC, Discovery{Code: PADT, SessionID: 5}), epoch)
	if cl.Status().State != Session || len(cl.Events()) != 0 || cl.Counters().StrangePADT != 2 {
		t.Fatalf("state %v counters %+v", cl.Status().State, cl.Counters())
	}
	// The concentrator's PADT ends it, with the reason, and a backoff.
	cl.HandleFrame(ac.frame(hostMAC, Discovery{Code: PADT, SessionID: 5, Tags: []Tag{{TagGenericError, []byte("admin reset")}}}), epoch)
	ev := cl.Events()
	if len(ev) != 1 || ev[0].(SessionDown).Reason != "Generic-Error: admin reset" || cl.Status().State != Waiting {
		t.Fatalf("events %+v state %v", ev, cl.Status().State)
	}
	if d := cl.Deadline(); !d.Equal(epoch.Add(time.Second)) {
		t.Fatalf("retry at %v", d)
	}
	if _, _, d := parseFrame(t, one(t, cl.Tick(epoch.Add(time.Second)))); d.Code != PADI {
		t.Fatalf("after the backoff: %v", d.Code)
	}
}

func TestDiscoveryTimers(t *testing.T) {
	cl := newClient(t, Config{})
	cl.Start(epoch)
	now := epoch
	var waits []time.Duration
	for range 8 {
		d := cl.Deadline()
		waits = append(waits, d.Sub(now))
		if out := cl.Tick(d.Add(-time.Millisecond)); len(out) != 0 {
			t.Fatal("resent early")
		}
		now = d
		one(t, cl.Tick(now))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 32, 32}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("PADI waits %v, want %v s", waits, want)
		}
	}
	if !strings.Contains(cl.Status().LastError, "no PPPoE concentrator answered (8 PADI sent)") {
		t.Errorf("%q", cl.Status().LastError)
	}

	// PADR: three tries, then PADI again.
	ac := &concentrator{t: t, mac: acMAC, name: "BRAS-1", id: 1}
	cl = newClient(t, Config{})
	padr := one(t, cl.HandleFrame(ac.answer(one(t, cl.Start(epoch))), epoch))
	_ = padr
	now = epoch
	for i := 0; i < 2; i++ {
		now = cl.Deadline()
		if _, _, d := parseFrame(t, one(t, cl.Tick(now))); d.Code != PADR {
			t.Fatalf("try %d: %v", i+2, d.Code)
		}
	}
	now = cl.Deadline()
	if _, _, d := parseFrame(t, one(t, cl.Tick(now))); d.Code != PADI || !strings.Contains(cl.Status().LastError, "did not answer 3 session requests") {
		t.Fatalf("after 3 PADRs: %v %q", d.Code, cl.Status().LastError)
	}

	// A PADS with an error tag: failure in words, backoff doubling.
	ac.errTag = TagACSystemError
	cl = newClient(t, Config{})
	now = epoch
	for _, want := range []time.Duration{1, 2, 4} {
		padr := one(t, cl.HandleFrame(ac.answer(one(t, cl.Start(now))), now))
		cl.HandleFrame(ac.answer(padr), now)
		if d := cl.Deadline().Sub(now); d != want*time.Second || !strings.Contains(cl.Status().LastError, "AC-System-Error: out of sessions") {
			t.Fatalf("backoff %v want %v s; %q", d, want, cl.Status().LastError)
		}
		now = cl.Deadline()
	}
}

func TestNewClientChecks(t *testing.T) {
	for _, c := range []Config{{MaxPayload: 1501}, {MaxPayload: 100}, {ACName: strings.Repeat("a", 256)}} {
		if _, err := NewClient(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkSessionHeader(b *testing.B) {
	buf := make([]byte, 0, 64)
	frame := AppendSessionHeader(nil, 0x1234, 0x0021, 40)
	frame = append(frame, make([]byte, 40)...)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSessionHeader(buf[:0], 0x1234, 0x0021, 40)
		if _, _, _, err := ParseSession(frame); err != nil {
			b.Fatal(err)
		}
	}
}
