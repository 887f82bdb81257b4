package main

import (
	"fmt"
	"path/filepath"

	"github.com/passgate/passgate/pkg/atomicfile"
	"github.com/passgate/passgate/pkg/dhcpd"
	"github.com/passgate/passgate/pkg/sshd"
	"github.com/passgate/passgate/pkg/wan"
)

// leaseFileName is the LAN DHCP server's lease file in the state directory.
const leaseFileName = "leases.json"

// forgetState erases what the router remembers beside its configuration,
// for a factory reset: the LAN DHCP leases (in the running server too, so
// `show dhcp leases` is empty at once and no later ACK writes the old
// ones back), the WAN DHCP client's lease and the SSH host key (the next
// start makes a new one).
func (r *router) forgetState() error {
	leases := filepath.Join(r.stateDir, leaseFileName)
	if r.dhcp != nil {
		if err := r.dhcp.Forget(); err != nil {
			return fmt.Errorf("forgetting the DHCP leases: %w", err)
		}
	} else if err := dhcpd.RemoveLeaseFile(leases); err != nil {
		return err
	}
	if err := atomicfile.Remove(filepath.Join(r.stateDir, wan.LeaseFileName)); err != nil {
		return fmt.Errorf("forgetting the WAN lease: %w", err)
	}
	if err := sshd.RemoveHostKey(r.stateDir); err != nil {
		return fmt.Errorf("forgetting the SSH host key: %w", err)
	}
	return nil
}
