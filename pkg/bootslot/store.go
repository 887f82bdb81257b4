package bootslot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/passgate/passgate/pkg/atomicfile"
)

// StateFile is the state file's name on the boot partition.
const StateFile = "passgate-slots.json"

// maxStateFile bounds what Load reads.
const maxStateFile = 64 << 10

// FileStore keeps the state in a JSON file (on the boot partition),
// replaced atomically on every save (pkg/atomicfile). Fields it does not
// know are ignored, so an older image reads a newer one's file.
type FileStore struct{ Path string }

// Load implements Store.
func (f FileStore) Load() (State, bool, error) {
	fh, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxStateFile+1))
	if err != nil {
		return State{}, false, err
	}
	if len(b) > maxStateFile {
		return State{}, false, fmt.Errorf("%s is larger than %d bytes", f.Path, maxStateFile)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, false, fmt.Errorf("%s: %v", f.Path, err)
	}
	return st, true, nil
}

// Save implements Store.
func (f FileStore) Save(st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(f.Path, append(b, '\n'), 0o644)
}
