package wan

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// LeaseFileName is the file, in DHCPConfig.StateDir, where the client
// remembers its lease across restarts.
const LeaseFileName = "wan-dhcp-lease.json"

// maxLeaseFile bounds what is read back: the file is a few hundred bytes.
const maxLeaseFile = 64 << 10

// memory is the remembered lease, as stored.
type memory struct {
	Version  int          `json:"version"`
	ClientID string       `json:"client_id"` // hex; a different client ignores the file
	Address  netip.Prefix `json:"address"`
	Server   netip.Addr   `json:"server"`
	Obtained time.Time    `json:"obtained"` // wall clock
	Expiry   time.Time    `json:"expiry"`   // wall clock
	Released bool         `json:"released,omitempty"`
}

const memoryVersion = 1

type store struct {
	dir string
}

func (s store) path() string { return filepath.Join(s.dir, LeaseFileName) }

// load returns the remembered lease for clientID, or nil with the reason
// when there is none (missing, damaged or someone else's file).
func (s store) load(clientID []byte) (*memory, error) {
	if s.dir == "" {
		return nil, nil
	}
	data, err := atomicfile.ReadMax(s.path(), maxLeaseFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m memory
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path(), err)
	}
	if m.Version != memoryVersion {
		return nil, fmt.Errorf("%s: unknown version %d", s.path(), m.Version)
	}
	if m.ClientID != hex.EncodeToString(clientID) {
		return nil, fmt.Errorf("%s: lease of another client (id %s)", s.path(), m.ClientID)
	}
	if checkPrefix(m.Address) != nil {
		return nil, fmt.Errorf("%s: bad address %v", s.path(), m.Address)
	}
	return &m, nil
}

// save writes m atomically: temporary file, fsync, rename over the old
// file, fsync of the directory. A crash leaves either the old or the new
// file, never a mix.
func (s store) save(m *memory) error {
	if s.dir == "" {
		return nil
	}
	m.Version = memoryVersion
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return atomicfile.Write(s.path(), data, 0o600)
}

// clear forgets the lease (after a NAK or DECLINE: the address is not ours).
func (s store) clear() error {
	if s.dir == "" {
		return nil
	}
	return atomicfile.Remove(s.path())
}
