package main

import "context"

// startWANDHCP runs the WAN DHCP client. It is wired when pkg/wan lands;
// until then a dhcp-mode WAN stays "waiting".
func (r *router) startWANDHCP(ctx context.Context) {
	r.logf("wan: dhcp client not available yet; use 'set interfaces wan mode static'")
}
