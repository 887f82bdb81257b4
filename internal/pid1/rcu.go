package pid1

import (
	"errors"
	"io/fs"
	"os"
)

// rcuExpeditedFile is the kernel's switch for expedited RCU grace periods
// (kernel/ksysfs.c).
const rcuExpeditedFile = "/sys/kernel/rcu_expedited"

// ExpediteRCU turns expedited RCU grace periods on or off.
//
// The kernel expedites them during its own boot, until it starts init.
// routerd keeps them expedited until it is ready (Prepare turns them on,
// the worker off when it says ready): its start-up waits for several
// grace periods, each a few scheduler ticks long at the boards' HZ=250
// when not expedited. Setting up an AF_PACKET ring, for one, waits for a
// grace period (synchronize_net) even on a socket that is not yet bound:
// two rings a link, 17-24 ms each under QEMU's emulation, against 1.5-10
// ms expedited (docs/performance.md). Afterwards they go back to normal,
// because an expedited grace period interrupts every CPU.
//
// A kernel without the switch (Tiny RCU) is not an error.
func ExpediteRCU(on bool) error { return expediteRCU(rcuExpeditedFile, on) }

func expediteRCU(path string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
