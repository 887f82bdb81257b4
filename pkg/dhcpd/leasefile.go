package dhcpd

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// The lease file is JSON, small and readable on a PC:
//
//	{
//	  "version": 1,
//	  "leases": [
//	    {"ip": "192.168.1.100", "mac": "aa:bb:cc:dd:ee:01", "hostname": "laptop",
//	     "expiry": "2026-01-02T15:04:05Z", "state": "bound"}
//	  ]
//	}
//
// Only bound and declined addresses are written; offers are not worth a
// disk write. "client_id" (hex) appears for clients that send option 61.
const leaseFileVersion = 1

// maxLeaseFileSize bounds what load reads: MaxPoolSize leases at ~200 bytes
// each, with room to spare.
const maxLeaseFileSize = 32 << 20

type fileLease struct {
	IP       netip.Addr `json:"ip"`
	MAC      string     `json:"mac,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
	Hostname string     `json:"hostname,omitempty"`
	Expiry   time.Time  `json:"expiry"`
	State    LeaseState `json:"state"`
}

type fileData struct {
	Version int         `json:"version"`
	Leases  []fileLease `json:"leases"`
}

// leaseFile writes path atomically: the data goes to path+".tmp", which is
// fsynced, renamed over path, and the directory fsynced, so after a power
// cut at any point the file holds either the old or the new leases.
type leaseFile struct {
	path string
	// beforeRename, if set, runs after the temporary file is synced and
	// before the rename; an error aborts the write there. Tests use it to
	// simulate a crash at the worst moment.
	beforeRename func() error
}

func (f *leaseFile) write(data []byte) error {
	if err := atomicfile.WriteHook(f.path, data, 0o644, f.beforeRename); err != nil {
		return fmt.Errorf("dhcpd: lease file %s: %w", f.path, err)
	}
	return nil
}

// persistLocked writes the bound and declined addresses. Failures are
// counted and logged, never returned: see Handle.
func (s *Server) persistLocked() {
	if s.file == nil {
		return
	}
	d := fileData{Version: leaseFileVersion, Leases: []fileLease{}}
	for _, b := range s.byIP {
		if b.state == StateOffered {
			continue
		}
		fl := fileLease{IP: b.ip, Hostname: b.hostname, Expiry: b.expiry.UTC().Round(0), State: b.state}
		if b.mac != nil {
			fl.MAC = b.mac.String()
		}
		if b.clientID != nil {
			fl.ClientID = hex.EncodeToString(b.clientID)
		}
		d.Leases = append(d.Leases, fl)
	}
	slices.SortFunc(d.Leases, func(a, b fileLease) int { return a.IP.Compare(b.IP) })
	data, err := json.MarshalIndent(d, "", "  ")
	if err == nil {
		err = s.file.write(append(data, '\n'))
	}
	if err != nil {
		s.counters.PersistErrors++
		s.logf("%v", err)
	}
}

// load reads the lease file at start. Expired leases are pruned (their
// clients are remembered, so they get the same address back), leases no
// longer valid under the configuration are dropped, and a damaged file is
// reported, moved aside to path+".bad" and ignored.
func (s *Server) load() {
	p := s.file.path
	d, err := readLeaseFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		err = fmt.Errorf("dhcpd: lease file %s is damaged, starting with no leases: %w", p, err)
		if rerr := os.Rename(p, p+".bad"); rerr == nil {
			err = fmt.Errorf("%w (kept as %s.bad)", err, p)
		}
		s.logf("%v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	dropped := 0
	for i, fl := range d.Leases {
		b, err := fromFile(fl)
		if err != nil {
			s.logf("dhcpd: lease file %s: entry %d ignored: %v", p, i, err)
			dropped++
			continue
		}
		ok := false
		if b.state == StateDeclined {
			ok = inRange(b.ip, s.cfg.RangeStart, s.cfg.RangeEnd) && s.staticIP[b.ip] == ""
		} else {
			ok = s.validFor(b.ip, b.mac)
		}
		if !ok || s.byIP[b.ip] != nil || (b.key != "" && s.byClient[b.key] != nil) {
			dropped++ // not valid under this configuration, or a duplicate
			continue
		}
		if !now.Before(b.expiry) {
			if b.state == StateBound {
				s.remember(b, b.expiry)
			}
			continue
		}
		s.addLocked(b)
	}
	if dropped > 0 {
		s.logf("dhcpd: lease file %s: %d lease(s) dropped as invalid for the current configuration", p, dropped)
	}
}

// RemoveLeaseFile deletes the lease file at path and the damaged copy
// New may have kept beside it (path+".bad"), durably; missing files are
// fine. It is for a factory reset when no Server runs; a running Server
// uses Forget.
func RemoveLeaseFile(path string) error {
	for _, p := range []string{path, path + ".bad"} {
		if err := atomicfile.Remove(p); err != nil {
			return fmt.Errorf("dhcpd: removing lease file %s: %w", p, err)
		}
	}
	return nil
}

func readLeaseFile(p string) (*fileData, error) {
	fh, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("dhcpd: lease file %s: %w", p, err)
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxLeaseFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxLeaseFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxLeaseFileSize)
	}
	var d fileData
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	if d.Version != leaseFileVersion {
		return nil, fmt.Errorf("version %d, want %d", d.Version, leaseFileVersion)
	}
	return &d, nil
}

func fromFile(fl fileLease) (*binding, error) {
	b := &binding{ip: fl.IP.Unmap(), hostname: sanitizeHostname([]byte(fl.Hostname)), expiry: fl.Expiry, state: fl.State}
	if !b.ip.Is4() {
		return nil, fmt.Errorf("address %v is not IPv4", fl.IP)
	}
	switch fl.State {
	case StateDeclined:
		return b, nil
	case StateBound:
	default:
		return nil, fmt.Errorf("unknown state %q", fl.State)
	}
	mac, err := net.ParseMAC(fl.MAC)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("bad MAC %q", fl.MAC)
	}
	b.mac = mac
	if fl.ClientID != "" {
		id, err := hex.DecodeString(fl.ClientID)
		if err != nil || len(id) < 2 || len(id) > maxClientIDLen {
			return nil, fmt.Errorf("bad client id %q", fl.ClientID)
		}
		b.clientID = id
	}
	b.key = clientKey(b.mac, b.clientID)
	return b, nil
}
