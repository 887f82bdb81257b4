//go:build passgate_failworker

package main

import (
	"fmt"
	"os"
)

// A test build only (firmware.Options.RouterdTags "passgate_failworker"):
// routerd's worker ends at once, as a version whose router never starts
// would, so that the boot tests can see a trial boot given up and the
// committed version come back (qemu's TestBootQEMUArm64Update).
func init() {
	if os.Getenv(workerEnv) == "1" {
		fmt.Fprintln(os.Stderr, "routerd: this test build's worker ends at once (built with the passgate_failworker tag)")
		os.Exit(1)
	}
}
