package tcfast

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// port is a port the tc program is attached to.
type port struct {
	ifindex int
	filter  *netlink.BpfFilter
	qdisc   *netlink.GenericQdisc // the clsact qdisc, if Attach created it
}

// Attach attaches the tc program to port ifindex's ingress: a clsact qdisc
// is created if the port has none (vishvananda/netlink; not TCX, which
// Linux 6.1 lacks), and a direct-action BPF filter is added at
// Config.FilterPriority, replacing one left at that priority by an earlier
// run. Attaching an attached port does nothing. Netlink sockets are
// opened in the calling thread's network namespace.
func (f *FastPath) Attach(ifindex int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("tcfast: attach port %d: %w", ifindex, ErrClosed)
	}
	if ifindex <= 0 {
		return fmt.Errorf("tcfast: attach port %d: invalid ifindex", ifindex)
	}
	if f.ports[uint32(ifindex)] != nil {
		return nil
	}
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("tcfast: attach port %d: %w", ifindex, err)
	}
	name := link.Attrs().Name
	p := &port{ifindex: ifindex}
	if p.qdisc, err = ensureClsact(link); err != nil {
		return fmt.Errorf("tcfast: attach port %d (%s): %w", ifindex, name, err)
	}
	p.filter = &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    netlink.MakeHandle(0, 1),
			Protocol:  unix.ETH_P_ALL,
			Priority:  f.cfg.FilterPriority,
		},
		Fd:           f.tc.FD(),
		Name:         tcProgName,
		DirectAction: true,
	}
	if err := netlink.FilterReplace(p.filter); err != nil {
		err = fmt.Errorf("tcfast: attach port %d (%s): add the BPF filter on clsact ingress: %w%s",
			ifindex, name, err, kindHint(err, "the bpf classifier (CONFIG_NET_CLS_BPF)"))
		if p.qdisc != nil {
			if derr := netlink.QdiscDel(p.qdisc); derr != nil {
				err = errors.Join(err, fmt.Errorf("tcfast: remove the clsact qdisc again: %w", derr))
			}
		}
		return err
	}
	f.ports[uint32(ifindex)] = p
	return nil
}

// ensureClsact returns the clsact qdisc it added to link, or nil if link
// has one.
func ensureClsact(link netlink.Link) (*netlink.GenericQdisc, error) {
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return nil, fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		switch {
		case q.Type() == "clsact":
			return nil, nil
		case q.Attrs().Parent == netlink.HANDLE_INGRESS:
			return nil, fmt.Errorf("the port has an %s qdisc where clsact is needed", q.Type())
		}
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil {
		return nil, fmt.Errorf("add a clsact qdisc: %w%s", err, kindHint(err, "the clsact qdisc (CONFIG_NET_SCH_INGRESS)"))
	}
	return q, nil
}

// kindHint names what the kernel lacks when it refuses a qdisc or filter
// kind it does not know (ENOENT, or EOPNOTSUPP).
func kindHint(err error, what string) string {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return "; the kernel lacks " + what
	}
	return ""
}

// Detach removes the flows arriving on port ifindex (so that the socket
// filter does not hide their frames any more), then the tc filter, and
// the clsact qdisc if Attach created it.
func (f *FastPath) Detach(ifindex int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("tcfast: detach port %d: %w", ifindex, ErrClosed)
	}
	p := f.ports[uint32(ifindex)]
	if p == nil {
		return fmt.Errorf("tcfast: detach port %d: not attached", ifindex)
	}
	if err := f.clearFlows(func(k Key) bool { return k.Ifindex == uint32(ifindex) }); err != nil {
		return fmt.Errorf("tcfast: detach port %d: %w", ifindex, err)
	}
	delete(f.ports, uint32(ifindex))
	return p.detach()
}

// detach deletes the filter, and the qdisc if it was ours. A port that
// has gone took both with it.
func (p *port) detach() error {
	gone := func(err error) bool {
		return errors.Is(err, unix.ENODEV) || errors.As(err, new(netlink.LinkNotFoundError))
	}
	if err := netlink.FilterDel(p.filter); err != nil && !gone(err) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("tcfast: detach port %d: delete the BPF filter: %w", p.ifindex, err)
	}
	if p.qdisc != nil {
		if err := netlink.QdiscDel(p.qdisc); err != nil && !gone(err) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("tcfast: detach port %d: delete the clsact qdisc: %w", p.ifindex, err)
		}
	}
	return nil
}

// Remove deletes the tc BPF filter this package attaches (named
// passgate_tcfast, handle 1) at priority (Config.FilterPriority; 0 means
// 1, as in Attach) on port ifindex's clsact ingress, if there is one: a
// routerd worker that starts with flow offload off removes with it what a
// crashed predecessor left.
// No such filter, no clsact qdisc or no such port is not an error. The
// clsact qdisc stays. Netlink sockets are opened in the calling thread's
// network namespace.
func Remove(ifindex int, priority uint16) error {
	if priority == 0 {
		priority = 1
	}
	if ifindex <= 0 {
		return nil // no such port
	}
	link, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("tcfast: remove the filter of port %d: %w", ifindex, err)
	}
	fs, err := netlink.FilterList(link, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		// No clsact (or ingress) qdisc: no filter of ours either; or the
		// port went away.
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("tcfast: remove the filter of port %d: list the ingress filters: %w", ifindex, err)
	}
	for _, flt := range fs {
		bf, ok := flt.(*netlink.BpfFilter)
		a := flt.Attrs()
		if !ok || a.Priority != priority || a.Handle != netlink.MakeHandle(0, 1) || !strings.HasPrefix(bf.Name, tcProgName) {
			continue
		}
		if err := netlink.FilterDel(bf); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("tcfast: remove the filter of port %d: %w", ifindex, err)
		}
	}
	return nil
}
