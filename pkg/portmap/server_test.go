package portmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	lan      = netip.MustParsePrefix("192.168.1.0/24")
	extAddr  = netip.MustParseAddr("203.0.113.2")
	hostA    = netip.MustParseAddrPort("192.168.1.10:40000")
	hostB    = netip.MustParseAddrPort("192.168.1.11:40000")
	outsider = netip.MustParseAddrPort("198.51.100.7:40000")
)

// reservedPorts stands for routerd's policy: SSH on the WAN, a port
// forward of TCP 8443 and one of UDP 51820-51821.
func reservedPorts(p Proto, port uint16) bool {
	switch {
	case p == TCP && (port == 22 || port == 8443):
		return true
	case p == UDP && (port == 51820 || port == 51821):
		return true
	}
	return false
}

type rig struct {
	t       *testing.T
	s       *Server
	now     time.Time
	changes int
}

func newRig(t *testing.T, mod ...func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, now: t0}
	cfg := Config{LAN: lan, Reserved: reservedPorts, OnChange: func() { r.changes++ }, Seed: 1, Rate: 1e6, Burst: 1e6}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	s.SetExternal(extAddr, t0)
	r.changes = 0
	return r
}

func (r *rig) send(b []byte, from netip.AddrPort) []byte {
	return r.s.Handle(b, from, r.now)
}

func natpmpMap(op uint8, internal, suggested uint16, life uint32) []byte {
	b := []byte{0, op, 0, 0}
	b = binary.BigEndian.AppendUint16(b, internal)
	b = binary.BigEndian.AppendUint16(b, suggested)
	return binary.BigEndian.AppendUint32(b, life)
}

type pcpReq struct {
	client    netip.Addr // default: the sender
	nonce     [12]byte
	proto     uint8
	internal  uint16
	suggested uint16
	suggAddr  netip.Addr
	life      uint32
	opts      []byte
}

func (q pcpReq) bytes(from netip.AddrPort) []byte {
	c := q.client
	if !c.IsValid() {
		c = from.Addr()
	}
	b := []byte{2, PCPOpMap, 0, 0}
	b = binary.BigEndian.AppendUint32(b, q.life)
	b = append(b, mapped16(c)...)
	b = append(b, q.nonce[:]...)
	b = append(b, q.proto, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, q.internal)
	b = binary.BigEndian.AppendUint16(b, q.suggested)
	b = append(b, mapped16(q.suggAddr)...)
	return append(b, q.opts...)
}

func mapped16(a netip.Addr) []byte {
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	s := a.As16()
	return s[:]
}

func (r *rig) pcp(q pcpReq, from netip.AddrPort) PCPResponse {
	r.t.Helper()
	out := r.send(q.bytes(from), from)
	if out == nil {
		r.t.Fatalf("PCP %+v from %v: no answer", q, from)
	}
	resp, err := ParsePCPResponse(out)
	if err != nil {
		r.t.Fatalf("PCP answer % x: %v", out, err)
	}
	return resp
}

func (r *rig) natpmp(op uint8, internal, suggested uint16, life uint32, from netip.AddrPort) NATPMPResponse {
	r.t.Helper()
	out := r.send(natpmpMap(op, internal, suggested, life), from)
	if out == nil {
		r.t.Fatalf("NAT-PMP op %d from %v: no answer", op, from)
	}
	resp, err := ParseNATPMPResponse(out)
	if err != nil {
		r.t.Fatalf("NAT-PMP answer % x: %v", out, err)
	}
	return resp
}

func tcpReq(internal, suggested uint16) pcpReq {
	return pcpReq{nonce: testNonce, proto: 6, internal: internal, suggested: suggested, life: 3600}
}

// fill maps n TCP ports of from, starting at internal port base.
func (r *rig) fill(from netip.AddrPort, base uint16, n int) {
	r.t.Helper()
	for i := range n {
		if res := r.pcp(tcpReq(base+uint16(i), 0), from); res.Result != PCPSuccess {
			r.t.Fatalf("filling mapping %d of %v: %v", i, from, res.Result)
		}
	}
}

// TestPCPResultCodes drives every result code this server sends, and
// checks that an error leaves the table as it was.
func TestPCPResultCodes(t *testing.T) {
	opt := func(code byte, data ...byte) []byte {
		o := append([]byte{code, 0, 0, byte(len(data))}, data...)
		for len(o)%4 != 0 {
			o = append(o, 0)
		}
		return o
	}
	tests := []struct {
		name  string
		mod   func(*Config)
		setup func(r *rig)
		raw   []byte // sent as is, else req
		req   pcpReq
		want  PCPResult
		life  uint32 // the response's lifetime, if not 0
	}{
		{name: "SUCCESS", req: tcpReq(8080, 8080), want: PCPSuccess, life: 3600},
		{name: "UNSUPP_VERSION (1)", raw: func() []byte { b := tcpReq(8080, 0).bytes(hostA); b[0] = 1; return b }(), want: PCPUnsuppVersion, life: errLifetimeLong},
		{name: "UNSUPP_VERSION (3)", raw: func() []byte { b := tcpReq(8080, 0).bytes(hostA); b[0] = 3; return b }(), want: PCPUnsuppVersion},
		{name: "NOT_AUTHORIZED: another nonce", setup: func(r *rig) { r.pcp(tcpReq(8080, 0), hostA) },
			req: pcpReq{nonce: [12]byte{9}, proto: 6, internal: 8080, life: 3600}, want: PCPNotAuthorized, life: 3600},
		{name: "NOT_AUTHORIZED: all ports", req: tcpReq(0, 0), want: PCPNotAuthorized, life: errLifetimeLong},
		{name: "MALFORMED_REQUEST", raw: tcpReq(8080, 0).bytes(hostA)[:40], want: PCPMalformedRequest},
		{name: "UNSUPP_OPCODE: PEER", raw: func() []byte {
			b := tcpReq(8080, 0).bytes(hostA)
			b[1] = PCPOpPeer
			return append(b, make([]byte, 20)...)
		}(), want: PCPUnsuppOpcode},
		{name: "UNSUPP_OPTION: THIRD_PARTY", req: func() pcpReq {
			q := tcpReq(8080, 0)
			q.opts = opt(PCPOptThirdParty, mapped16(hostB.Addr())...)
			return q
		}(), want: PCPUnsuppOption},
		{name: "MALFORMED_OPTION", req: func() pcpReq { q := tcpReq(8080, 0); q.opts = []byte{200, 0, 0, 40}; return q }(), want: PCPMalformedOption},
		{name: "NETWORK_FAILURE", setup: func(r *rig) { r.s.SetExternal(netip.Addr{}, r.now) }, req: tcpReq(8080, 0), want: PCPNetworkFailure, life: errLifetimeShort},
		{name: "NO_RESOURCES", mod: func(c *Config) { c.MaxMappings = 4 }, setup: func(r *rig) { r.fill(hostB, 1000+1024, 4) },
			req: tcpReq(8080, 0), want: PCPNoResources, life: errLifetimeShort},
		{name: "UNSUPP_PROTOCOL (ICMP)", req: pcpReq{nonce: testNonce, proto: 1, internal: 8080, life: 60}, want: PCPUnsuppProtocol},
		{name: "UNSUPP_PROTOCOL (all protocols)", req: pcpReq{nonce: testNonce, proto: 0, life: 60}, want: PCPUnsuppProtocol},
		{name: "USER_EX_QUOTA", setup: func(r *rig) { r.fill(hostA, 2000, DefaultMaxPerHost) }, req: tcpReq(8080, 0), want: PCPUserExQuota, life: errLifetimeShort},
		{name: "CANNOT_PROVIDE_EXTERNAL: reserved", req: func() pcpReq { q := tcpReq(8443, 8443); q.opts = opt(PCPOptPreferFailure); return q }(), want: PCPCannotProvideExternal},
		{name: "CANNOT_PROVIDE_EXTERNAL: taken", setup: func(r *rig) { r.pcp(tcpReq(9000, 9000), hostB) },
			req: func() pcpReq { q := tcpReq(9001, 9000); q.opts = opt(PCPOptPreferFailure); return q }(), want: PCPCannotProvideExternal},
		{name: "CANNOT_PROVIDE_EXTERNAL: another address", req: func() pcpReq {
			q := tcpReq(9001, 9001)
			q.suggAddr = netip.MustParseAddr("198.51.100.1")
			q.opts = opt(PCPOptPreferFailure)
			return q
		}(), want: PCPCannotProvideExternal},
		{name: "ADDRESS_MISMATCH", req: func() pcpReq { q := tcpReq(8080, 0); q.client = hostB.Addr(); return q }(), want: PCPAddressMismatch, life: errLifetimeLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			r := newRig(t, mods...)
			if tt.setup != nil {
				tt.setup(r)
			}
			before := r.s.Mappings()
			r.changes = 0
			b := tt.raw
			if b == nil {
				b = tt.req.bytes(hostA)
			}
			out := r.send(b, hostA)
			resp, err := ParsePCPResponse(out)
			if err != nil {
				t.Fatalf("answer % x: %v", out, err)
			}
			if resp.Result != tt.want {
				t.Fatalf("result %v, want %v", resp.Result, tt.want)
			}
			if tt.life != 0 && resp.Lifetime != tt.life {
				t.Errorf("lifetime %d, want %d", resp.Lifetime, tt.life)
			}
			if tt.want == PCPSuccess {
				return
			}
			if got := r.s.Mappings(); !slices.Equal(got, before) || r.changes != 0 {
				t.Errorf("an error changed the table (%d changes): %v -> %v", r.changes, before, got)
			}
			// RFC 6887 §8.3: an error copies the request after the header.
			if n := min(len(b), PCPMaxSize) &^ 3; len(b) >= PCPHeaderSize && !bytes.Equal(out[PCPHeaderSize:], b[PCPHeaderSize:n]) {
				t.Errorf("error response does not copy the request's body")
			}
		})
	}
}

func TestNATPMPResultCodes(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		setup func(r *rig)
		req   []byte
		want  NATPMPResult
	}{
		{name: "success: external address", req: []byte{0, 0}, want: NATPMPSuccess},
		{name: "success: map", req: natpmpMap(NATPMPOpMapUDP, 5000, 5000, 3600), want: NATPMPSuccess},
		{name: "not authorized: all ports", req: natpmpMap(NATPMPOpMapUDP, 0, 0, 3600), want: NATPMPNotAuthorized},
		{name: "network failure: external address", setup: func(r *rig) { r.s.SetExternal(netip.Addr{}, r.now) }, req: []byte{0, 0}, want: NATPMPNetworkFailure},
		{name: "network failure: map", setup: func(r *rig) { r.s.SetExternal(netip.Addr{}, r.now) }, req: natpmpMap(NATPMPOpMapTCP, 80, 80, 3600), want: NATPMPNetworkFailure},
		{name: "out of resources: host quota", setup: func(r *rig) { r.fill(hostA, 2000, DefaultMaxPerHost) }, req: natpmpMap(NATPMPOpMapTCP, 80, 80, 3600), want: NATPMPOutOfResources},
		{name: "out of resources: total", mod: func(c *Config) { c.MaxMappings = 3 }, setup: func(r *rig) { r.fill(hostB, 2000, 3) }, req: natpmpMap(NATPMPOpMapTCP, 80, 80, 3600), want: NATPMPOutOfResources},
		{name: "unsupported opcode", req: []byte{0, 3, 0, 0}, want: NATPMPUnsuppOpcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*Config)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			r := newRig(t, mods...)
			if tt.setup != nil {
				tt.setup(r)
			}
			before := r.s.Mappings()
			r.changes = 0
			out := r.send(tt.req, hostA)
			resp, err := ParseNATPMPResponse(out)
			if err != nil {
				t.Fatalf("answer % x: %v", out, err)
			}
			if resp.Result != tt.want || resp.Op != tt.req[1] {
				t.Fatalf("result %v op %d, want %v op %d", resp.Result, resp.Op, tt.want, tt.req[1])
			}
			if tt.want == NATPMPSuccess {
				return
			}
			if got := r.s.Mappings(); !slices.Equal(got, before) || r.changes != 0 {
				t.Errorf("an error changed the table: %v -> %v", before, got)
			}
		})
	}
}

func TestMapRenewDeleteAndSeam(t *testing.T) {
	r := newRig(t)
	res := r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostA)
	if res.Result != NATPMPSuccess || res.ExternalPort != 8080 || res.Lifetime != 3600 || res.InternalPort != 8080 {
		t.Fatalf("map: %+v", res)
	}
	want := []Mapping{{Proto: TCP, External: netip.AddrPortFrom(extAddr, 8080), Internal: netip.AddrPortFrom(hostA.Addr(), 8080), Expiry: t0.Add(time.Hour), Origin: OriginNATPMP}}
	if got := r.s.Mappings(); !slices.Equal(got, want) || r.changes != 1 {
		t.Fatalf("Mappings %v (changes %d), want %v", got, r.changes, want)
	}
	// The same request again renews: same port, later expiry, no change
	// of the set.
	r.now = t0.Add(30 * time.Minute)
	if res := r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostA); res.ExternalPort != 8080 || r.changes != 1 {
		t.Fatalf("renew: %+v, %d changes", res, r.changes)
	}
	if got := r.s.Mappings()[0].Expiry; !got.Equal(r.now.Add(time.Hour)) {
		t.Fatalf("renewed expiry %v", got)
	}
	// Renewal wins over a different suggestion (the mapping exists).
	if res := r.natpmp(NATPMPOpMapTCP, 8080, 9999, 3600, hostA); res.ExternalPort != 8080 {
		t.Fatalf("renew with another suggestion moved to %d", res.ExternalPort)
	}
	// Another host asking for the same external port gets another one.
	resB := r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostB)
	if resB.ExternalPort == 8080 || resB.ExternalPort < 1024 || reservedPorts(TCP, resB.ExternalPort) {
		t.Fatalf("host B got external port %d", resB.ExternalPort)
	}
	// UDP is its own space.
	if res := r.natpmp(NATPMPOpMapUDP, 8080, 8080, 3600, hostB); res.ExternalPort != 8080 {
		t.Fatalf("UDP 8080 for B: %+v", res)
	}
	// Deleting answers port 0 and lifetime 0 (RFC 6886 §3.4).
	r.changes = 0
	if res := r.natpmp(NATPMPOpMapTCP, 8080, 0, 0, hostA); res.Result != NATPMPSuccess || res.ExternalPort != 0 || res.Lifetime != 0 {
		t.Fatalf("delete: %+v", res)
	}
	if r.changes != 1 || len(r.s.Mappings()) != 2 {
		t.Fatalf("after delete: %v, %d changes", r.s.Mappings(), r.changes)
	}
	// Deleting what does not exist succeeds and changes nothing.
	if res := r.natpmp(NATPMPOpMapTCP, 8080, 0, 0, hostA); res.Result != NATPMPSuccess || r.changes != 1 {
		t.Fatalf("second delete: %+v, %d changes", res, r.changes)
	}
	// Internal port 0, lifetime 0: all of the host's mappings of the protocol.
	if res := r.natpmp(NATPMPOpMapUDP, 0, 0, 0, hostB); res.Result != NATPMPSuccess {
		t.Fatalf("delete all: %+v", res)
	}
	if got := r.s.Mappings(); len(got) != 1 || got[0].Proto != TCP || got[0].Internal.Addr() != hostB.Addr() {
		t.Fatalf("after delete all UDP of B: %v", got)
	}
}

func TestPCPMapSemantics(t *testing.T) {
	r := newRig(t)
	res := r.pcp(tcpReq(8080, 8080), hostA)
	if res.Result != PCPSuccess || res.Map.ExternalPort != 8080 || res.Map.ExternalAddr != extAddr || res.Map.Nonce != testNonce || res.Map.InternalPort != 8080 || res.Lifetime != 3600 || res.Epoch != 0 {
		t.Fatalf("MAP: %+v %+v", res, res.Map)
	}
	// Suggested port taken: another free one, never a reserved one.
	res = r.pcp(tcpReq(8443, 8443), hostB)
	if res.Result != PCPSuccess || res.Map.ExternalPort == 8443 || res.Map.ExternalPort < 1024 {
		t.Fatalf("MAP of reserved 8443: %v port %d", res.Result, res.Map.ExternalPort)
	}
	// No suggestion: the internal port when free.
	if res = r.pcp(tcpReq(3000, 0), hostB); res.Map.ExternalPort != 3000 {
		t.Fatalf("no suggestion: port %d, want the internal 3000", res.Map.ExternalPort)
	}
	// A low internal port is never mapped to a low external port.
	if res = r.pcp(tcpReq(80, 80), hostB); res.Result != PCPSuccess || res.Map.ExternalPort < 1024 {
		t.Fatalf("MAP of 80: %v port %d", res.Result, res.Map.ExternalPort)
	}
	// Epoch runs with the clock.
	r.now = t0.Add(100 * time.Second)
	if res = r.pcp(tcpReq(8080, 0), hostA); res.Epoch != 100 || res.Map.ExternalPort != 8080 {
		t.Fatalf("renew: epoch %d port %d", res.Epoch, res.Map.ExternalPort)
	}
	// A mapping made by NAT-PMP may be taken over by PCP (same host).
	r.natpmp(NATPMPOpMapUDP, 7000, 7000, 600, hostA)
	if res = r.pcp(pcpReq{nonce: testNonce, proto: 17, internal: 7000, life: 600}, hostA); res.Result != PCPSuccess || res.Map.ExternalPort != 7000 {
		t.Fatalf("PCP renewal of a NAT-PMP mapping: %v %d", res.Result, res.Map.ExternalPort)
	}
	// Delete with the right nonce: lifetime 0, the port that was mapped.
	n := len(r.s.Mappings())
	q := tcpReq(8080, 0)
	q.life = 0
	if res = r.pcp(q, hostA); res.Result != PCPSuccess || res.Lifetime != 0 || res.Map.ExternalPort != 8080 || len(r.s.Mappings()) != n-1 {
		t.Fatalf("delete: %v life %d port %d, %d mappings", res.Result, res.Lifetime, res.Map.ExternalPort, len(r.s.Mappings()))
	}
	// Delete all (protocol 0) of B with its nonce.
	if res = r.pcp(pcpReq{nonce: testNonce}, hostB); res.Result != PCPSuccess {
		t.Fatalf("delete all: %v", res.Result)
	}
	for _, m := range r.s.Mappings() {
		if m.Internal.Addr() == hostB.Addr() {
			t.Fatalf("B still has %v", m)
		}
	}
	// ANNOUNCE is answered with the epoch.
	ann := append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, mapped16(hostA.Addr())...)
	out, err := ParsePCPResponse(r.send(ann, hostA))
	if err != nil || out.Opcode != PCPOpAnnounce || out.Result != PCPSuccess || out.Epoch != 100 {
		t.Fatalf("ANNOUNCE: %+v %v", out, err)
	}
}

func TestLifetimeBounds(t *testing.T) {
	r := newRig(t)
	for _, tt := range []struct{ asked, granted uint32 }{
		{1, 120}, {119, 120}, {3600, 3600}, {7200, 7200}, {7201, 7200}, {1 << 31, 7200}, {0xffffffff, 7200},
	} {
		q := tcpReq(5000, 0)
		q.life = tt.asked
		res := r.pcp(q, hostA)
		if res.Lifetime != tt.granted {
			t.Errorf("PCP asked %d s, granted %d, want %d", tt.asked, res.Lifetime, tt.granted)
		}
		if got := r.s.Mappings()[0].Expiry; !got.Equal(r.now.Add(time.Duration(tt.granted) * time.Second)) {
			t.Errorf("asked %d s: expiry %v", tt.asked, got)
		}
		if res := r.natpmp(NATPMPOpMapUDP, 5000, 0, tt.asked, hostA); res.Lifetime != tt.granted {
			t.Errorf("NAT-PMP asked %d s, granted %d, want %d", tt.asked, res.Lifetime, tt.granted)
		}
	}
}

func TestExpireAndDropHost(t *testing.T) {
	r := newRig(t)
	r.natpmp(NATPMPOpMapTCP, 1111, 0, 600, hostA)
	r.natpmp(NATPMPOpMapTCP, 2222, 0, 1200, hostA)
	r.natpmp(NATPMPOpMapTCP, 3333, 0, 1200, hostB)
	if got := r.s.NextExpiry(); !got.Equal(t0.Add(600 * time.Second)) {
		t.Fatalf("NextExpiry %v", got)
	}
	r.changes = 0
	if n := r.s.Expire(t0.Add(599 * time.Second)); n != 0 || r.changes != 0 {
		t.Fatalf("early Expire dropped %d", n)
	}
	if n := r.s.Expire(t0.Add(600 * time.Second)); n != 1 || r.changes != 1 {
		t.Fatalf("Expire at 600 s dropped %d (%d changes)", n, r.changes)
	}
	if n := r.s.DropHost(hostA.Addr()); n != 1 || r.changes != 2 {
		t.Fatalf("DropHost dropped %d", n)
	}
	if n := r.s.DropHost(hostA.Addr()); n != 0 || r.changes != 2 {
		t.Fatalf("second DropHost dropped %d", n)
	}
	if got := r.s.Mappings(); len(got) != 1 || got[0].Internal.Port() != 3333 {
		t.Fatalf("left %v", got)
	}
	// Handle also expires what it meets: B's mapping is gone after 1200 s
	// even without Expire, and its quota with it.
	r.now = t0.Add(1200 * time.Second)
	r.send([]byte{0, 0}, hostA)
	if got := r.s.Mappings(); len(got) != 0 {
		t.Fatalf("after 1200 s: %v", got)
	}
}

func TestSetExternalAnnouncesAndRenumbers(t *testing.T) {
	r := newRig(t)
	r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostA)
	r.now = t0.Add(500 * time.Second)
	if got := r.s.SetExternal(extAddr, r.now); got != nil || r.changes != 1 {
		t.Fatalf("the same address again announced %v", got)
	}
	newExt := netip.MustParseAddr("198.51.100.99")
	ds := r.s.SetExternal(newExt, r.now)
	if r.changes != 2 {
		t.Fatalf("changes %d, want 2", r.changes)
	}
	if got := r.s.Mappings(); len(got) != 1 || got[0].External != netip.AddrPortFrom(newExt, 8080) {
		t.Fatalf("mappings after renumbering %v", got)
	}
	wantNAT := []byte{0, 128, 0, 0, 0, 0, 0, 0, 198, 51, 100, 99}
	wantPCP := append([]byte{2, 0x80, 0, 0}, make([]byte, 20)...)
	want := []Datagram{
		{To: netip.MustParseAddrPort("224.0.0.1:5350"), Payload: wantNAT},
		{To: netip.MustParseAddrPort("224.0.0.1:5350"), Payload: wantPCP},
		{To: netip.MustParseAddrPort("[ff02::1]:5350"), Payload: wantPCP},
	}
	if len(ds) != len(want) {
		t.Fatalf("announcements %v", ds)
	}
	for i := range want {
		if ds[i].To != want[i].To || !bytes.Equal(ds[i].Payload, want[i].Payload) {
			t.Errorf("announcement %d: %v % x, want %v % x", i, ds[i].To, ds[i].Payload, want[i].To, want[i].Payload)
		}
	}
	// The epoch starts again and runs on.
	r.now = r.now.Add(3 * time.Second)
	if res := r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostA); res.Epoch != 3 || res.ExternalPort != 8080 {
		t.Fatalf("after renumbering: %+v", res)
	}
	if ds := r.s.Announce(r.now); binary.BigEndian.Uint32(ds[1].Payload[8:]) != 3 {
		t.Fatalf("repeated ANNOUNCE epoch % x", ds[1].Payload[8:12])
	}
	// No address: no announcement, network failures.
	if ds := r.s.SetExternal(netip.Addr{}, r.now); ds != nil {
		t.Fatalf("announced no address: %v", ds)
	}
}

func TestSetReservedDropsNewlyReserved(t *testing.T) {
	r := newRig(t)
	r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostA)
	r.natpmp(NATPMPOpMapTCP, 9090, 9090, 3600, hostA)
	n := r.s.SetReserved(func(p Proto, port uint16) bool { return reservedPorts(p, port) || (p == TCP && port == 9090) })
	if n != 1 || r.changes != 3 {
		t.Fatalf("SetReserved dropped %d (%d changes)", n, r.changes)
	}
	if res := r.natpmp(NATPMPOpMapTCP, 9090, 9090, 3600, hostA); res.ExternalPort == 9090 {
		t.Fatal("mapped a newly reserved port")
	}
}

// Attacker cases: what a LAN host must not be able to do.

func TestAttack_MappingForAnotherHost(t *testing.T) {
	r := newRig(t)
	// The client address field names B: ADDRESS_MISMATCH.
	q := tcpReq(22, 2222)
	q.client = hostB.Addr()
	if res := r.pcp(q, hostA); res.Result != PCPAddressMismatch {
		t.Fatalf("spoofed client address: %v", res.Result)
	}
	// An IPv4-mapped form of the right address is the right address; a
	// different encoding of another is not.
	q.client = netip.MustParseAddr("::ffff:192.168.1.11")
	if res := r.pcp(q, hostA); res.Result != PCPAddressMismatch {
		t.Fatalf("mapped spoofed client address: %v", res.Result)
	}
	// A source outside the LAN (the router's WAN side, a spoofed
	// external source) gets no answer at all.
	if out := r.send(tcpReq(22, 2222).bytes(outsider), outsider); out != nil {
		t.Fatalf("answered a source outside the LAN: % x", out)
	}
	if out := r.send(natpmpMap(NATPMPOpMapTCP, 22, 2222, 60), outsider); out != nil {
		t.Fatalf("answered NAT-PMP from outside the LAN")
	}
	if out := r.send([]byte{0, 0}, netip.MustParseAddrPort("[fe80::1]:5350")); out != nil {
		t.Fatal("answered an IPv6 source")
	}
	// B's mapping cannot be deleted or stolen by A: A's request is about
	// A's internal address only.
	r.natpmp(NATPMPOpMapTCP, 8080, 8080, 3600, hostB)
	r.natpmp(NATPMPOpMapTCP, 8080, 0, 0, hostA)
	if res := r.natpmp(NATPMPOpMapTCP, 8081, 8080, 3600, hostA); res.ExternalPort == 8080 {
		t.Fatal("A took B's external port")
	}
	if got := r.s.Mappings(); len(got) != 2 || got[0].Internal != netip.AddrPortFrom(hostB.Addr(), 8080) {
		t.Fatalf("mappings %v", got)
	}
	if len(r.s.Mappings()) != 2 {
		t.Fatal("nothing should have been added from outside")
	}
	for _, m := range r.s.Mappings() {
		if m.Internal.Addr() != hostA.Addr() && m.Internal.Addr() != hostB.Addr() {
			t.Fatalf("mapping for a third party: %v", m)
		}
	}
}

func TestAttack_ReservedPorts(t *testing.T) {
	r := newRig(t)
	for _, tt := range []struct {
		proto Proto
		port  uint16
	}{{TCP, 22}, {TCP, 8443}, {UDP, 51820}, {UDP, 51821}, {TCP, 1}, {UDP, 53}, {TCP, 1023}} {
		op := uint8(NATPMPOpMapTCP)
		if tt.proto == UDP {
			op = NATPMPOpMapUDP
		}
		res := r.natpmp(op, tt.port, tt.port, 3600, hostA)
		if res.Result != NATPMPSuccess || res.ExternalPort == tt.port || res.ExternalPort < 1024 || reservedPorts(tt.proto, res.ExternalPort) {
			t.Errorf("NAT-PMP %v %d: %v external %d", tt.proto, tt.port, res.Result, res.ExternalPort)
		}
		q := pcpReq{nonce: testNonce, proto: uint8(tt.proto), internal: tt.port + 1, suggested: tt.port, life: 60}
		if pr := r.pcp(q, hostB); pr.Result != PCPSuccess || pr.Map.ExternalPort == tt.port || pr.Map.ExternalPort < 1024 {
			t.Errorf("PCP %v %d: %v external %d", tt.proto, tt.port, pr.Result, pr.Map.ExternalPort)
		}
	}
	// With every port reserved there is nothing to give.
	r = newRig(t, func(c *Config) { c.Reserved = func(Proto, uint16) bool { return true } })
	if res := r.pcp(tcpReq(8080, 8080), hostA); res.Result != PCPNoResources {
		t.Fatalf("everything reserved: %v", res.Result)
	}
}

func TestAttack_QuotaExhaustion(t *testing.T) {
	r := newRig(t)
	r.fill(hostA, 2000, DefaultMaxPerHost)
	if res := r.pcp(tcpReq(4000, 0), hostA); res.Result != PCPUserExQuota {
		t.Fatalf("host over quota: %v", res.Result)
	}
	if res := r.natpmp(NATPMPOpMapUDP, 4000, 0, 60, hostA); res.Result != NATPMPOutOfResources {
		t.Fatalf("NAT-PMP host over quota: %v", res.Result)
	}
	// Renewing within the quota still works.
	if res := r.pcp(tcpReq(2000, 0), hostA); res.Result != PCPSuccess {
		t.Fatalf("renewal at quota: %v", res.Result)
	}
	// Other hosts fill the table to its cap; then NO_RESOURCES for all.
	for i := 0; len(r.s.Mappings()) < DefaultMaxMappings; i++ {
		h := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(20 + i/DefaultMaxPerHost)}), 5351)
		if res := r.pcp(tcpReq(uint16(10000+i), 0), h); res.Result != PCPSuccess {
			t.Fatalf("mapping %d: %v", i, res.Result)
		}
	}
	if res := r.pcp(tcpReq(4000, 0), hostB); res.Result != PCPNoResources {
		t.Fatalf("table full: %v", res.Result)
	}
	if got := len(r.s.Mappings()); got != DefaultMaxMappings {
		t.Fatalf("%d mappings, cap %d", got, DefaultMaxMappings)
	}
	// A host's lease ending frees its share.
	r.s.DropHost(hostA.Addr())
	if res := r.pcp(tcpReq(4000, 0), hostB); res.Result != PCPSuccess {
		t.Fatalf("after DropHost: %v", res.Result)
	}
}

func TestAttack_MalformedChangesNothing(t *testing.T) {
	good := tcpReq(8080, 8080).bytes(hostA)
	cases := map[string][]byte{
		"empty":             {},
		"one byte":          {2},
		"NAT-PMP truncated": natpmpMap(NATPMPOpMapTCP, 8080, 8080, 60)[:11],
		"NAT-PMP response":  {0, 130, 0, 0, 0, 0, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0, 60},
		"PCP truncated":     good[:59],
		"PCP short MAP":     good[:56],
		"PCP oversized":     append(slices.Clone(good), make([]byte, 2000)...),
		"PCP response":      func() []byte { b := slices.Clone(good); b[1] |= 0x80; return b }(),
		"version 1":         func() []byte { b := slices.Clone(good); b[0] = 1; return b }(),
		"version 255":       func() []byte { b := slices.Clone(good); b[0] = 255; return b }(),
		"all ones":          bytes.Repeat([]byte{0xff}, 60),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			out := r.send(b, hostA)
			if len(r.s.Mappings()) != 0 || r.changes != 0 {
				t.Fatalf("mapped: %v", r.s.Mappings())
			}
			if len(out) > PCPMaxSize {
				t.Fatalf("answer of %d bytes", len(out))
			}
			if out != nil && out[0] == PCPVersion {
				res, err := ParsePCPResponse(out)
				if err != nil || res.Result == PCPSuccess {
					t.Fatalf("answer %+v %v", res, err)
				}
			}
		})
	}
}

func TestAttack_RateLimit(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Rate, c.Burst = 0, 0 }) // defaults: 10/s, burst 20
	answered := func(n int, from netip.AddrPort) int {
		k := 0
		for range n {
			if r.send([]byte{0, 0}, from) != nil {
				k++
			}
		}
		return k
	}
	if got := answered(50, hostA); got != DefaultBurst {
		t.Fatalf("burst: %d answered, want %d", got, DefaultBurst)
	}
	// Another host is not held back by A.
	if got := answered(5, hostB); got != 5 {
		t.Fatalf("B: %d answered", got)
	}
	r.now = r.now.Add(time.Second)
	if got := answered(50, hostA); got != DefaultRate {
		t.Fatalf("after 1 s: %d answered, want %d", got, DefaultRate)
	}
	if c := r.s.Counters(); c.RateLimited != 30+40 {
		t.Fatalf("counters %+v", c)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{LAN: netip.MustParsePrefix("fd00::/64")},
		{LAN: lan, MinLifetime: time.Hour, MaxLifetime: time.Minute},
		{LAN: lan, MaxLifetime: 48 * time.Hour},
		{LAN: lan, MaxMappings: 1 << 20},
		{LAN: lan, Burst: -1},
	} {
		if _, err := New(c, t0); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func ExampleServer_Handle() {
	s, _ := New(Config{LAN: netip.MustParsePrefix("192.168.1.0/24")}, t0)
	s.SetExternal(netip.MustParseAddr("203.0.113.2"), t0)
	resp := s.Handle(natpmpMap(NATPMPOpMapTCP, 8080, 8080, 3600), netip.MustParseAddrPort("192.168.1.10:5350"), t0)
	r, _ := ParseNATPMPResponse(resp)
	fmt.Println(r.Result, r.ExternalPort, r.Lifetime)
	for _, m := range s.Mappings() {
		fmt.Println(m.Proto, m.External, "->", m.Internal)
	}
	// Output:
	// success 8080 3600
	// tcp 203.0.113.2:8080 -> 192.168.1.10:8080
}
