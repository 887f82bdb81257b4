package main

import (
	"errors"
	"fmt"

	"github.com/passgate/passgate/pkg/afpacket"
	"github.com/passgate/passgate/pkg/dataplane"
	"github.com/passgate/passgate/pkg/tcfast"
)

// offloadFilterPriority is the tc filter's priority on the ports' clsact
// ingress: the one a worker replaces, or removes, of its predecessor's.
const offloadFilterPriority = 1

// offloadMaxFlows bounds the kernel's flow table: one entry per session
// direction, preallocated by the kernel (about 128 bytes each: 8 MiB).
// Only sessions that carried 16 packets a way are offloaded, so a
// household's long flows fit; the rest stay with routerd.
const offloadMaxFlows = 1 << 16

// startFlowOffload sets up flow offload (pkg/tcfast) on the ports when
// on: the kernel's modules, the flow table, the tc program on both ports
// and the socket filter on every link of both. It returns nil, with the
// ports left as routerd alone forwards them, when off or when the kernel
// cannot (the reason is logged): offload is a speed-up, never a reason not
// to route. Whatever a crashed worker left on the ports is replaced or
// removed either way. The returned FastPath is closed by the caller when
// the worker ends.
func (r *router) startFlowOffload(on, framed bool, lan, wan []*afpacket.Link) (*tcfast.FastPath, *dataplane.OffloadConfig) {
	lanIdx, wanIdx := lan[0].Ifindex(), wan[0].Ifindex()
	removeStale := func() {
		for _, i := range []int{lanIdx, wanIdx} {
			if err := tcfast.Remove(i, offloadFilterPriority); err != nil {
				r.logf("flow offload: %v", err)
			}
		}
	}
	if !on {
		removeStale()
		return nil, nil
	}
	if framed {
		removeStale()
		r.logf("flow offload is off: the WAN's VLAN or PPPoE framing stays with routerd")
		return nil, nil
	}
	fp, err := r.openFlowOffload(lan, wan)
	if err != nil {
		removeStale()
		r.logf("flow offload is off: %v", err)
		return nil, nil
	}
	return fp, &dataplane.OffloadConfig{Kernel: fp, LANIfindex: lanIdx, WANIfindex: wanIdx}
}

func (r *router) openFlowOffload(lan, wan []*afpacket.Link) (*tcfast.FastPath, error) {
	if err := loadOffloadModules(r.logf); err != nil {
		return nil, err
	}
	fp, err := tcfast.New(tcfast.Config{MaxFlows: offloadMaxFlows, FilterPriority: offloadFilterPriority})
	if err != nil {
		return nil, err
	}
	// The socket filters first: a frame the tc program redirects must
	// never also reach routerd's rings.
	for _, l := range append(append([]*afpacket.Link(nil), lan...), wan...) {
		if err := l.AttachFilter(fp.AttachSocket); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", l.Name(), err), fp.Close())
		}
	}
	for _, l := range []*afpacket.Link{lan[0], wan[0]} {
		if err := fp.Attach(l.Ifindex()); err != nil {
			return nil, errors.Join(err, fp.Close())
		}
	}
	return fp, nil
}
