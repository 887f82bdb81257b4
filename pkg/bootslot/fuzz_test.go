package bootslot

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen reads any state file (the boot partition is FAT: anyone with
// the SD card can edit it) and opens the machine on it: no panic, and
// afterwards the booted slot is committed or on its trial, and ready.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"committed":"a","slots":[{"contents":"ready","version":"1"},{"contents":"ready","version":"2"}],"trial":"b","trial_started":true}`), true, false)
	f.Add([]byte(`{"committed":"b","slots":[{"contents":"writing"},{"contents":"ready","version":"2"}],"trial":"none"}`), false, true)
	f.Add([]byte(`{`), false, false)
	f.Fuzz(func(t *testing.T, data []byte, bootB, trial bool) {
		path := filepath.Join(t.TempDir(), StateFile)
		os.WriteFile(path, data, 0o644)
		boot := Boot{Slot: A, Trial: trial, Version: "9"}
		if bootB {
			boot.Slot = B
		}
		m, _, err := Open(FileStore{Path: path}, wLoader{newWorld(t, true)}, boot, nil)
		if err != nil {
			t.Fatal(err)
		}
		st := m.Status()
		if st.Committed != boot.Slot && !(st.Trial == boot.Slot && trial) {
			t.Fatalf("booted %+v, state commits %v with trial %v", boot, st.Committed, st.Trial)
		}
		if st.Of(boot.Slot).Contents != Ready {
			t.Fatalf("the running slot is recorded %s", st.Of(boot.Slot).Contents)
		}
	})
}
