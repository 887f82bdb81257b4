//go:build linux

package afpacket

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// MaxGroup is the most links [OpenGroup] opens on one interface.
const MaxGroup = 16

// OpenGroup opens n links on interface ifname that share the frames it
// receives: their sockets form one PACKET_FANOUT group that hashes each
// frame's flow (its addresses, and its ports where it has them), so every
// frame of a flow arrives, in order, on the same link. Each link has its own
// rings and sends on its own, so n goroutines can each read one link and
// forward at once. n = 1 is [Open]; n is at most [MaxGroup].
//
// Frames leaving the interface are ignored as on a single link. The socket
// option PACKET_IGNORE_OUTGOING does not reach a group's members, so each
// member has the classic BPF filter instead, and the group asks for
// PACKET_FANOUT_FLAG_IGNORE_OUTGOING as well, which spares the kernel the
// copy where it knows the flag (older kernels accept it without effect).
//
// A socket receives from the moment it is bound, and joins the group only
// after, so a frame that arrives while the group forms may reach both the
// group and the joining member: a duplicate or two at start-up, before
// anything reads, which the protocols above tolerate as they tolerate one
// on the wire.
func OpenGroup(ifname string, cfg *Config, n int) ([]*Link, error) {
	if n < 1 || n > MaxGroup {
		return nil, fmt.Errorf("afpacket: %s: %d links in a group; allowed: 1 to %d", ifname, n, MaxGroup)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if n == 1 {
		l, err := Open(ifname, &c)
		if err != nil {
			return nil, err
		}
		return []*Link{l}, nil
	}
	c.bpfOutgoingFilter = true
	links := make([]*Link, 0, n)
	fail := func(err error) ([]*Link, error) {
		for _, l := range links {
			l.Close()
		}
		return nil, err
	}
	var id uint16
	flags := unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	for i := range n {
		l, err := Open(ifname, &c)
		if err != nil {
			return fail(err)
		}
		links = append(links, l)
		if i == 0 {
			if id, flags, err = createFanout(l.fd, flags); err != nil {
				return fail(fmt.Errorf("afpacket: %s: create the fanout group: %w", ifname, err))
			}
			continue
		}
		if err := joinFanout(l.fd, id, flags); err != nil {
			return fail(fmt.Errorf("afpacket: %s: join fanout group %d as link %d of %d: %w", ifname, id, i+1, n, err))
		}
	}
	return links, nil
}

// createFanout makes socket fd the first member of a new hash fanout group
// with an id the kernel picks (unique in the network namespace) and returns
// the id and the flags the other members must join with: flags, or none if
// the kernel refused them.
func createFanout(fd, flags int) (id uint16, joinFlags int, err error) {
	err = joinFanout(fd, 0, flags|unix.PACKET_FANOUT_FLAG_UNIQUEID)
	if err != nil && flags != 0 && errors.Is(err, unix.EINVAL) {
		flags = 0
		err = joinFanout(fd, 0, unix.PACKET_FANOUT_FLAG_UNIQUEID)
	}
	if err != nil {
		return 0, 0, err
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		return 0, 0, fmt.Errorf("read the group's id: %w", err)
	}
	return uint16(v), flags, nil
}

// joinFanout sets PACKET_FANOUT on fd: group id, hashing by flow, with
// flags (PACKET_FANOUT_FLAG_*). The socket must be bound.
func joinFanout(fd int, id uint16, flags int) error {
	return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|(unix.PACKET_FANOUT_HASH|flags)<<16)
}
