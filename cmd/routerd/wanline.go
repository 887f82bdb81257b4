package main

import "fmt"

// wanLine is what show interfaces says of the WAN line's framing.
func (r *router) wanLine() []string {
	if r.wanPort == nil {
		return nil
	}
	run := r.running.Interfaces.WAN
	c := r.wanPort.Counters()
	var out []string
	if run.VLAN.ID != 0 {
		out = append(out, fmt.Sprintf("vlan %d, priority %d; %d frames untagged or of another VLAN ignored",
			run.VLAN.ID, run.VLAN.Priority, c.RxWrongVLAN))
	}
	return out
}
