// Command labagent is the interop lab inside the VM: the VM's init
// (qemu/interop/files/init) runs it from the shared directory /lab, where
// the host test put it with routerd, the run's parameters and keys. It
// runs the cases of package lab and writes results.json, the versions and
// the logs back into /lab; then init powers the VM off.
//
// It is built for linux/amd64 with CGO_ENABLED=0 by the host test.
package main

import (
	"fmt"
	"os"

	"github.com/passgate/passgate/qemu/interop/lab"
)

func main() {
	share := "/lab"
	if len(os.Args) > 1 {
		share = os.Args[1]
	}
	if err := lab.Main(share); err != nil {
		fmt.Fprintf(os.Stderr, "labagent: %v\n", err)
		os.Exit(1)
	}
}
