package tcfast

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// AttachSocket attaches the socket filter to routerd's packet socket fd
// (AF_PACKET, SOCK_RAW, ETH_P_ALL, bound to a port; with PACKET_FANOUT,
// every member of the group). The filter drops the frames the tc program
// redirects, which a packet socket would otherwise see too: the kernel
// hands each received frame to the ETH_P_ALL taps before tc ingress runs.
//
// One program serves every port: it keys the flow map on
// __sk_buff.ingress_ifindex, which the kernel sets before the taps run.
//
// SO_ATTACH_BPF replaces the socket's filter, so it also replaces the
// classic filter routerd installs where PACKET_IGNORE_OUTGOING does not
// apply (fanout members); this filter drops outgoing frames
// (PACKET_OUTGOING) itself to keep that behaviour. A socket whose filter
// was locked (SO_LOCK_FILTER) refuses it. Close does not detach it: after
// Close the filter matches no flow and drops outgoing frames only.
func (f *FastPath) AttachSocket(fd int) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return fmt.Errorf("tcfast: attach the socket filter to socket %d: %w", fd, ErrClosed)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, f.sock.FD()); err != nil {
		return fmt.Errorf("tcfast: attach the socket filter to socket %d (SO_ATTACH_BPF): %w", fd, err)
	}
	return nil
}
