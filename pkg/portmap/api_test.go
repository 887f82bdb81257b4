package portmap

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func upnpReq(intPort, extPort uint16, exact bool) MapRequest {
	return MapRequest{Proto: TCP, Host: hostA.Addr(), InternalPort: intPort, ExternalPort: extPort, Exact: exact, Lifetime: time.Hour, Origin: OriginUPnP, Description: "test"}
}

// TestMapAPI drives Map's outcomes: each case on a fresh server where
// hostB already maps TCP 9000 and UDP 9001 is free.
func TestMapAPI(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		req     func(MapRequest) MapRequest
		wantErr error
		ext     uint16 // 0: any port >= 1024 that is not reserved
		life    time.Duration
	}{
		{name: "exact", req: func(r MapRequest) MapRequest { return r }, ext: 8080, life: time.Hour},
		{name: "lease 0 is MaxLifetime", req: func(r MapRequest) MapRequest { r.Lifetime = 0; return r }, ext: 8080, life: 2 * time.Hour},
		{name: "long lease clamped", req: func(r MapRequest) MapRequest { r.Lifetime = 604800 * time.Second; return r }, ext: 8080, life: 2 * time.Hour},
		{name: "short lease raised", req: func(r MapRequest) MapRequest { r.Lifetime = time.Second; return r }, ext: 8080, life: 120 * time.Second},
		{name: "sub-second rounds up", req: func(r MapRequest) MapRequest { r.Lifetime = 200*time.Second + time.Millisecond; return r }, ext: 8080, life: 201 * time.Second},
		{name: "exact reserved", req: func(r MapRequest) MapRequest { r.ExternalPort = 8443; return r }, wantErr: ErrPortUnavailable},
		{name: "exact below MinPort", req: func(r MapRequest) MapRequest { r.ExternalPort = 80; return r }, wantErr: ErrPortUnavailable},
		{name: "exact taken by another host", req: func(r MapRequest) MapRequest { r.ExternalPort = 9000; return r }, wantErr: ErrPortUnavailable},
		{name: "any: reserved suggestion moves", req: func(r MapRequest) MapRequest { r.ExternalPort, r.Exact = 8443, false; return r }, life: time.Hour},
		{name: "any: taken suggestion moves", req: func(r MapRequest) MapRequest { r.ExternalPort, r.Exact = 9000, false; return r }, life: time.Hour},
		{name: "any: no suggestion", req: func(r MapRequest) MapRequest { r.ExternalPort, r.Exact = 0, false; return r }, life: time.Hour},
		{name: "exact port 0", req: func(r MapRequest) MapRequest { r.ExternalPort = 0; return r }, wantErr: ErrInvalid},
		{name: "internal port 0", req: func(r MapRequest) MapRequest { r.InternalPort = 0; return r }, wantErr: ErrInvalid},
		{name: "protocol", req: func(r MapRequest) MapRequest { r.Proto = 1; return r }, wantErr: ErrInvalid},
		{name: "negative lease", req: func(r MapRequest) MapRequest { r.Lifetime = -time.Second; return r }, wantErr: ErrInvalid},
		{name: "no origin", req: func(r MapRequest) MapRequest { r.Origin = 0; return r }, wantErr: ErrInvalid},
		{name: "outsider", req: func(r MapRequest) MapRequest { r.Host = outsider.Addr(); return r }, wantErr: ErrNotLAN},
		{name: "IPv6 host", req: func(r MapRequest) MapRequest { r.Host = netip.MustParseAddr("fd00::1"); return r }, wantErr: ErrNotLAN},
		{name: "host quota", mod: func(c *Config) { c.MaxPerHost = 1 }, req: func(r MapRequest) MapRequest { r.Host = hostB.Addr(); return r }, wantErr: ErrQuota},
		{name: "total cap", mod: func(c *Config) { c.MaxMappings = 1 }, req: func(r MapRequest) MapRequest { return r }, wantErr: ErrNoResources},
		{name: "rate limit", mod: func(c *Config) { c.Rate, c.Burst = 1, 1 }, req: func(r MapRequest) MapRequest { r.Host = hostB.Addr(); return r }, wantErr: ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mods := []func(*Config){}
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			r := newRig(t, mods...)
			if _, err := r.s.Map(MapRequest{Proto: TCP, Host: hostB.Addr(), InternalPort: 9000, ExternalPort: 9000, Exact: true, Origin: OriginUPnP}, r.now); err != nil {
				t.Fatalf("hostB's mapping: %v", err)
			}
			r.changes = 0
			before := r.s.Mappings()
			res, err := r.s.Map(tt.req(upnpReq(8080, 8080, true)), r.now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Map: %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "portmap: map") {
					t.Errorf("error %q lacks context", err)
				}
				if got := r.s.Mappings(); len(got) != len(before) || r.changes != 0 {
					t.Errorf("a refused Map changed the table: %v -> %v", before, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			m := res.Mapping
			p := m.External.Port()
			if (tt.ext != 0 && p != tt.ext) || p < 1024 || reservedPorts(TCP, p) || p == 9000 {
				t.Errorf("external port %d, want %d", p, tt.ext)
			}
			if res.Lifetime != tt.life || !m.Expiry.Equal(r.now.Add(tt.life)) {
				t.Errorf("lifetime %v expiry %v, want %v", res.Lifetime, m.Expiry, tt.life)
			}
			if m.Origin != OriginUPnP || m.Description != "test" || m.Internal != netip.AddrPortFrom(hostA.Addr(), 8080) || m.External.Addr() != extAddr {
				t.Errorf("mapping %+v", m)
			}
			if r.changes != 1 || len(r.s.Mappings()) != 2 {
				t.Errorf("changes %d, mappings %v", r.changes, r.s.Mappings())
			}
		})
	}
}

func TestMapRenewMoveUnmap(t *testing.T) {
	r := newRig(t)
	if _, err := r.s.Map(upnpReq(8080, 8080, true), r.now); err != nil {
		t.Fatal(err)
	}
	// Renewal: same port, later expiry, new description, no change.
	r.now = r.now.Add(time.Minute)
	q := upnpReq(8080, 8080, true)
	q.Description = "renamed"
	res, err := r.s.Map(q, r.now)
	if err != nil || res.Mapping.External.Port() != 8080 || res.Mapping.Description != "renamed" || !res.Mapping.Expiry.Equal(r.now.Add(time.Hour)) || r.changes != 1 {
		t.Fatalf("renewal: %+v %v (changes %d)", res, err, r.changes)
	}
	// Moving to a reserved port fails and keeps the mapping.
	if _, err := r.s.Map(upnpReq(8080, 8443, true), r.now); !errors.Is(err, ErrPortUnavailable) {
		t.Fatalf("move to a reserved port: %v", err)
	}
	// Moving to a free port moves it.
	res, err = r.s.Map(upnpReq(8080, 8081, true), r.now)
	if err != nil || res.Mapping.External.Port() != 8081 || len(r.s.Mappings()) != 1 || r.changes != 2 {
		t.Fatalf("move: %+v %v %v", res, err, r.s.Mappings())
	}
	// NAT-PMP sees and renews the same mapping: one table.
	if got := r.natpmp(NATPMPOpMapTCP, 8080, 0, 3600, hostA); got.Result != NATPMPSuccess || got.ExternalPort != 8081 {
		t.Fatalf("NAT-PMP renewal of a UPnP mapping: %+v", got)
	}
	if ms := r.s.Mappings(); len(ms) != 1 || ms[0].Origin != OriginUPnP || ms[0].Description != "test" {
		t.Fatalf("after NAT-PMP renewal: %v", ms)
	}
	// Another host may neither see nor delete it.
	if ms := r.s.MappingsOf(hostB.Addr(), r.now); len(ms) != 0 {
		t.Errorf("MappingsOf(B) = %v", ms)
	}
	if err := r.s.Unmap(TCP, hostB.Addr(), 8081, r.now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("Unmap by another host: %v", err)
	}
	if err := r.s.Unmap(UDP, hostA.Addr(), 8081, r.now); !errors.Is(err, ErrNoSuchMapping) {
		t.Errorf("Unmap of the wrong protocol: %v", err)
	}
	if err := r.s.Unmap(TCP, outsider.Addr(), 8081, r.now); !errors.Is(err, ErrNotLAN) {
		t.Errorf("Unmap by an outsider: %v", err)
	}
	if ms := r.s.MappingsOf(hostA.Addr(), r.now); len(ms) != 1 {
		t.Fatalf("MappingsOf(A) = %v", ms)
	}
	// Expired mappings are not shown.
	if ms := r.s.MappingsOf(hostA.Addr(), r.now.Add(3*time.Hour)); len(ms) != 0 {
		t.Errorf("MappingsOf after expiry = %v", ms)
	}
	if err := r.s.Unmap(TCP, hostA.Addr(), 8081, r.now); err != nil || len(r.s.Mappings()) != 0 || r.changes != 3 {
		t.Fatalf("Unmap: %v %v (changes %d)", err, r.s.Mappings(), r.changes)
	}
}

// A PCP client's nonce keeps its mapping from another PCP client, but
// not from the same host's UPnP control point (as NAT-PMP); a PCP
// renewal makes the mapping PCP's.
func TestMapOriginAcrossProtocols(t *testing.T) {
	r := newRig(t)
	if _, err := r.s.Map(upnpReq(8080, 8080, true), r.now); err != nil {
		t.Fatal(err)
	}
	if res := r.pcp(tcpReq(8080, 8080), hostA); res.Result != PCPSuccess || res.Map.ExternalPort != 8080 {
		t.Fatalf("PCP renewal: %+v", res)
	}
	if ms := r.s.Mappings(); len(ms) != 1 || ms[0].Origin != OriginPCP {
		t.Fatalf("after PCP renewal: %v", ms)
	}
	if _, err := r.s.Map(upnpReq(8080, 8080, true), r.now); err != nil {
		t.Fatalf("UPnP renewal of a PCP mapping: %v", err)
	}
}

func TestSanitiseDescription(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"  Torrent (TCP)  ":       "Torrent (TCP)",
		"a\x00b\nc\x1b[31m":       "a?b?c?[31m",
		"café":                    "caf?",
		strings.Repeat("x", 1000): strings.Repeat("x", MaxDescription),
		strings.Repeat("é", 100):  strings.Repeat("?", MaxDescription),
		"<script>&amp;</script>":  "<script>&amp;</script>", // XML escaping is the printer's job
	} {
		if got := SanitiseDescription(in); got != want {
			t.Errorf("SanitiseDescription(%q) = %q, want %q", in, got, want)
		}
	}
	for _, o := range []Origin{OriginNATPMP, OriginPCP, OriginUPnP} {
		if strings.HasPrefix(o.String(), "origin(") {
			t.Errorf("origin %d has no name", o)
		}
	}
}

func TestMapWithoutExternalAddress(t *testing.T) {
	r := newRig(t)
	r.s.SetExternal(netip.Addr{}, r.now)
	if _, err := r.s.Map(upnpReq(8080, 8080, true), r.now); !errors.Is(err, ErrNoExternal) {
		t.Fatalf("Map without an external address: %v", err)
	}
}
