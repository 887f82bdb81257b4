package dhcpv6

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// Files in Config.StateDir.
const (
	// DUIDFileName holds the client's DUID in hex, one line. It is made
	// once and then never changes (RFC 7084 W-6, RFC 8415 §11): not when
	// the lease is forgotten, not when the WAN adapter is replaced. It
	// may be edited by hand (an ISP that ties service to a DUID).
	DUIDFileName = "wan-dhcpv6-duid"
	// LeaseFileName remembers the lease across restarts.
	LeaseFileName = "wan-dhcpv6-lease.json"
)

// maxStateFile bounds what is read back: both files are small.
const maxStateFile = 64 << 10

// DUIDType is the kind of DUID the client makes on its first start
// (RFC 8415 §11).
type DUIDType int

const (
	// DUIDLL (type 3): hardware type 1 and the WAN MAC. The default: the
	// same DUID comes back even if the state directory is lost, as long
	// as the port is the same.
	DUIDLL DUIDType = iota
	// DUIDLLT (type 1): hardware type 1, the time of creation and the WAN
	// MAC, as RFC 8415 §11.2 recommends for devices with storage.
	DUIDLLT
)

// duidEpoch is the DUID-LLT time origin (RFC 8415 §11.2).
var duidEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// makeDUID returns a new DUID of type t for mac.
func makeDUID(t DUIDType, mac net.HardwareAddr, now time.Time) []byte {
	if t == DUIDLLT {
		b := make([]byte, 8, 8+len(mac))
		binary.BigEndian.PutUint16(b[0:], 1)
		binary.BigEndian.PutUint16(b[2:], 1)
		binary.BigEndian.PutUint32(b[4:], uint32(now.Sub(duidEpoch)/time.Second))
		return append(b, mac...)
	}
	b := make([]byte, 4, 4+len(mac))
	binary.BigEndian.PutUint16(b[0:], 3)
	binary.BigEndian.PutUint16(b[2:], 1)
	return append(b, mac...)
}

// checkDUID reports whether d can be a DUID: a known or unknown type code
// other than 0, and 1 to 128 bytes after it (RFC 8415 §11.1).
func checkDUID(d []byte) error {
	if len(d) < 3 || len(d) > 130 {
		return fmt.Errorf("DUID of %d bytes, want 3..130", len(d))
	}
	if binary.BigEndian.Uint16(d) == 0 {
		return errors.New("DUID type 0")
	}
	return nil
}

type store struct {
	dir string
}

func (s store) path(name string) string { return filepath.Join(s.dir, name) }

func (s store) read(name string) ([]byte, error) {
	return atomicfile.ReadMax(s.path(name), maxStateFile)
}

// loadDUID returns the stored DUID, nil if there is none.
func (s store) loadDUID() ([]byte, error) {
	if s.dir == "" {
		return nil, nil
	}
	data, err := s.read(DUIDFileName)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(data)), ":", ""))
	if err != nil {
		return nil, fmt.Errorf("%s: not hex: %w", s.path(DUIDFileName), err)
	}
	if err := checkDUID(d); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path(DUIDFileName), err)
	}
	return d, nil
}

func (s store) saveDUID(d []byte) error {
	if s.dir == "" {
		return nil
	}
	return atomicfile.Write(s.path(DUIDFileName), []byte(hex.EncodeToString(d)+"\n"), 0o600)
}

// memory is the remembered lease, as stored. Times are the client clock's
// (the wall clock on the router).
type memory struct {
	Version          int          `json:"version"`
	DUID             string       `json:"duid"` // hex; another DUID ignores the file
	Prefix           netip.Prefix `json:"prefix"`
	Preferred        time.Time    `json:"preferred_until"`
	Valid            time.Time    `json:"valid_until"`
	Address          netip.Addr   `json:"address,omitzero"`
	AddressPreferred time.Time    `json:"address_preferred_until,omitzero"`
	AddressValid     time.Time    `json:"address_valid_until,omitzero"`
	ServerID         string       `json:"server_id"` // hex
	Server           netip.Addr   `json:"server"`
	Obtained         time.Time    `json:"obtained"`
	Released         bool         `json:"released,omitempty"`
}

const memoryVersion = 1

// toMemory records l for the client with DUID duid.
func toMemory(l *Lease, duid []byte, released bool) *memory {
	m := &memory{
		DUID:      hex.EncodeToString(duid),
		Prefix:    l.Prefix,
		Preferred: l.PreferredUntil(),
		Valid:     l.Expiry(),
		ServerID:  hex.EncodeToString(l.ServerID),
		Server:    l.Server,
		Obtained:  l.Obtained,
		Released:  released,
	}
	if l.Address.IsValid() {
		m.Address = l.Address
		m.AddressPreferred = l.Obtained.Add(l.AddressPreferred)
		m.AddressValid = l.Obtained.Add(l.AddressValid)
	}
	return m
}

// lease returns the remembered lease (without T1, T2, DNS and domains,
// which the next Reply brings).
func (m *memory) lease() (*Lease, error) {
	sid, err := hex.DecodeString(m.ServerID)
	if err != nil || checkDUID(sid) != nil {
		return nil, fmt.Errorf("bad server id %q", m.ServerID)
	}
	if err := usablePrefix(m.Prefix); err != nil {
		return nil, err
	}
	if m.Obtained.IsZero() || m.Valid.Before(m.Obtained) || m.Preferred.After(m.Valid) || m.Valid.Sub(m.Obtained) > MaxLifetime {
		return nil, errors.New("inconsistent lifetimes")
	}
	l := &Lease{
		Prefix:            m.Prefix,
		PreferredLifetime: max(m.Preferred.Sub(m.Obtained), 0),
		ValidLifetime:     m.Valid.Sub(m.Obtained),
		ServerID:          sid,
		Server:            m.Server,
		Obtained:          m.Obtained,
	}
	if m.Address.IsValid() && globalOrULA(m.Address) && !m.AddressValid.Before(m.AddressPreferred) {
		l.Address = m.Address
		l.AddressPreferred = max(m.AddressPreferred.Sub(m.Obtained), 0)
		l.AddressValid = max(m.AddressValid.Sub(m.Obtained), 0)
	}
	return l, nil
}

// loadLease returns the remembered lease of the client with DUID duid, or
// nil with the reason when there is none (missing, damaged or another
// client's file).
func (s store) loadLease(duid []byte) (*memory, *Lease, error) {
	if s.dir == "" {
		return nil, nil, nil
	}
	data, err := s.read(LeaseFileName)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var m memory
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.path(LeaseFileName), err)
	}
	if m.Version != memoryVersion {
		return nil, nil, fmt.Errorf("%s: unknown version %d", s.path(LeaseFileName), m.Version)
	}
	if d, err := hex.DecodeString(m.DUID); err != nil || !bytes.Equal(d, duid) {
		return nil, nil, fmt.Errorf("%s: lease of another DUID (%s)", s.path(LeaseFileName), m.DUID)
	}
	l, err := m.lease()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.path(LeaseFileName), err)
	}
	return &m, l, nil
}

// saveLease writes m atomically (atomicfile: temporary file, fsync,
// rename, directory fsync), so a power cut leaves the old or the new file.
func (s store) saveLease(m *memory) error {
	if s.dir == "" {
		return nil
	}
	m.Version = memoryVersion
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(LeaseFileName), append(data, '\n'), 0o600)
}

// clearLease forgets the lease (it was withdrawn or expired).
func (s store) clearLease() error {
	if s.dir == "" {
		return nil
	}
	return atomicfile.Remove(s.path(LeaseFileName))
}
