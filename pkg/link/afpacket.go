//go:build linux

package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// AFPacketConfig tunes [OpenAFPacket]. The zero value is the default for a
// small board: a 2 MiB TPACKET_V3 receive ring (16 blocks of 128 KiB),
// 1 ms block retire timeout, 10 ms poll timeout, 1 MiB send buffer.
type AFPacketConfig struct {
	// BlockSize is the size of one ring block (a multiple of the page size
	// and of FrameSize); 0 means 128 KiB. A received frame must fit in one
	// block, so this also bounds the largest frame (a GRO super-packet
	// larger than that arrives truncated, see Frame.Len).
	BlockSize int
	// NumBlocks is how many blocks the ring has; 0 means 16.
	NumBlocks int
	// FrameSize is the kernel's frame granularity (TPACKET_V2: the slot per
	// frame); 0 means 2048.
	FrameSize int
	// BlockTimeout is how long the kernel waits before handing a partly
	// filled block to userspace (tp_retire_blk_tov, millisecond
	// granularity, at least 1 ms): the receive latency at light load.
	// 0 means 1 ms.
	BlockTimeout time.Duration
	// PollTimeout is how long ReadBatch waits for a frame; 0 means
	// DefaultPollTimeout, negative means until a frame arrives or Close.
	PollTimeout time.Duration
	// TPacketVersion is 2 or 3 (TPACKET_V2 or V3); 0 means 3. routerd asks
	// for 2 unless told otherwise (--tpacket): docs/architecture.md says why.
	//
	// V3 packs frames into blocks and wakes the reader once per block:
	// the highest throughput (about 1.7x V2 through a veth pair), but at
	// light load a frame waits for its block to be retired, up to
	// BlockTimeout (measured: +0.5 ms per hop on average on Linux 6.18;
	// kernels whose retire timer counts jiffies, such as 6.1, round 1 ms
	// up to one tick, 4 ms at HZ=250). V2 hands over every frame at once
	// (a 6 us round trip instead of 1 ms) at lower throughput.
	TPacketVersion int
	// SendBuffer is the socket send buffer in bytes (SO_SNDBUFFORCE); it
	// bounds how many transmitted frames may be in flight in the kernel
	// before WriteBatch starts dropping. 0 means 1 MiB.
	SendBuffer int

	// txWrite selects one write(2) per frame (gopacket's WritePacketData)
	// instead of one sendmmsg(2) per batch; for the benchmark only.
	txWrite bool
	// bpfOutgoingFilter forces the classic-BPF fallback for ignoring
	// outgoing frames even where PACKET_IGNORE_OUTGOING works; for tests.
	bpfOutgoingFilter bool
}

func (c *AFPacketConfig) setDefaults() {
	if c.BlockSize == 0 {
		c.BlockSize = 128 << 10
	}
	if c.NumBlocks == 0 {
		c.NumBlocks = 16
	}
	if c.FrameSize == 0 {
		c.FrameSize = 2048
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = time.Millisecond
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.TPacketVersion == 0 {
		c.TPacketVersion = 3
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 1 << 20
	}
}

// AFPacket is a [Link] on a real interface through an AF_PACKET socket.
//
// Receive uses gopacket's pure-Go TPACKET_V3 ring (mmap'd, the kernel
// batches frames into blocks). ReadBatch drains every frame the ring holds,
// up to len(frames), without blocking on the tail of a batch, and copies each
// one into a per-link arena: gopacket hands a ring block back to the kernel
// inside the read call that moves past it, so earlier frames of the batch
// could be overwritten if they were lent straight from the ring.
//
// Transmit is one sendmmsg(2) per batch on the same socket, non-blocking:
// when the socket send buffer is full the rest of the batch is dropped and
// counted, as a NIC drops when its transmit ring is full.
//
// The socket ignores frames leaving the interface (PACKET_IGNORE_OUTGOING, or
// an equivalent BPF filter on kernels before 4.20), so the router never
// reads back what it, or the kernel, transmits on the port. The interface is
// put in promiscuous mode through a packet-socket membership, which the
// kernel undoes when the socket closes.
type AFPacket struct {
	name        string
	ifindex     int
	mac         net.HardwareAddr
	mtu         int
	pollTimeout time.Duration
	snap        int // arena bytes reserved per frame
	version     int
	txWrite     bool

	tp  *afpacket.TPacket
	fd  int // tp's socket
	efd int // eventfd written by Close to wake a blocked ReadBatch

	rxMu  sync.Mutex // serialises ReadBatch; guards arena
	arena []byte

	txMu sync.Mutex // serialises WriteBatch; guards msgs, iovs
	msgs []unix.Mmsghdr
	iovs []unix.Iovec

	closed    atomic.Bool
	closeOnce sync.Once

	rxPackets, rxBytes            atomic.Uint64
	txPackets, txBytes, txDropped atomic.Uint64
	statsMu                       sync.Mutex // guards kernelDrops and the fd for getsockopt
	kernelDrops                   uint64
}

var _ Link = (*AFPacket)(nil)

// OpenAFPacket opens interface ifname for frame I/O. cfg may be nil for the
// defaults. The interface must exist; it should be up (frames are neither
// received nor sent while it is down, but the link stays usable and resumes
// when the interface comes up). The calling goroutine's OS thread must be in
// the interface's network namespace.
func OpenAFPacket(ifname string, cfg *AFPacketConfig) (*AFPacket, error) {
	var c AFPacketConfig
	if cfg != nil {
		c = *cfg
	}
	c.setDefaults()
	fail := func(what string, err error) (*AFPacket, error) {
		return nil, fmt.Errorf("link: afpacket: %s: %s: %w", ifname, what, err)
	}
	var version afpacket.OptTPacketVersion
	switch c.TPacketVersion {
	case 3:
		version = afpacket.TPacketVersion3
	case 2:
		version = afpacket.TPacketVersion2
	default:
		return fail("config", fmt.Errorf("unsupported TPACKET version %d (want 2 or 3)", c.TPacketVersion))
	}
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return fail("look up interface", err)
	}
	if len(iface.HardwareAddr) != 6 {
		return fail("look up interface", fmt.Errorf("not an Ethernet interface (hardware address %q)", iface.HardwareAddr))
	}
	// TPACKET_V2 stores each frame in one FrameSize slot after a header of
	// up to 128 bytes; a smaller slot would truncate full-size frames.
	if c.TPacketVersion == 2 && c.FrameSize < maxFrameLen(iface.MTU)+128 {
		return fail("config", fmt.Errorf("TPACKET_V2 frame size %d too small for MTU %d (need %d)", c.FrameSize, iface.MTU, maxFrameLen(iface.MTU)+128))
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(ifname),
		version,
		afpacket.OptBlockSize(c.BlockSize),
		afpacket.OptNumBlocks(c.NumBlocks),
		afpacket.OptFrameSize(c.FrameSize),
		afpacket.OptBlockTimeout(c.BlockTimeout),
		// Never block inside gopacket: ReadBatch waits itself, on the
		// socket and on the Close eventfd, so a batch never waits for its
		// tail and Close wakes the reader at once.
		afpacket.OptPollTimeout(0),
		// Put back VLAN tags the NIC stripped: a router must not turn
		// tagged frames into untagged ones.
		afpacket.OptAddVLANHeader(true),
	)
	if err != nil {
		return fail("open TPACKET ring", err)
	}
	l := &AFPacket{
		name:        ifname,
		ifindex:     iface.Index,
		mac:         append(net.HardwareAddr(nil), iface.HardwareAddr...),
		mtu:         iface.MTU,
		pollTimeout: c.PollTimeout,
		snap:        maxFrameLen(iface.MTU),
		version:     c.TPacketVersion,
		txWrite:     c.txWrite,
		tp:          tp,
		efd:         -1,
	}
	if err := l.setup(&c); err != nil {
		tp.Close()
		if l.efd >= 0 {
			unix.Close(l.efd)
		}
		return fail("set up socket", err)
	}
	return l, nil
}

func (l *AFPacket) setup(c *AFPacketConfig) error {
	fd, err := tpacketFD(l.tp)
	if err != nil {
		return err
	}
	l.fd = fd
	if err := ignoreOutgoing(l.tp, fd, c.bpfOutgoingFilter); err != nil {
		return err
	}
	if err := l.tp.SetPromiscuous(true); err != nil {
		return fmt.Errorf("promiscuous mode: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, c.SendBuffer); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, c.SendBuffer); err != nil {
			return fmt.Errorf("send buffer %d: %w", c.SendBuffer, err)
		}
	}
	l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	return nil
}

// tpacketFD returns the socket behind a gopacket TPacket. gopacket does not
// export it, and ReadBatch needs it to wait for frames together with the
// Close eventfd, to set PACKET_IGNORE_OUTGOING and to transmit with
// sendmmsg. The field is read (never written) through reflection and checked
// to be an AF_PACKET socket, so a gopacket release that renames it fails
// OpenAFPacket loudly (and the tests) instead of misbehaving.
func tpacketFD(tp *afpacket.TPacket) (int, error) {
	v := reflect.ValueOf(tp).Elem().FieldByName("fd")
	if !v.IsValid() || v.Kind() != reflect.Int {
		return -1, errors.New("gopacket afpacket.TPacket has no int field fd: unsupported gopacket version")
	}
	fd := int(v.Int())
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || domain != unix.AF_PACKET {
		return -1, fmt.Errorf("gopacket afpacket.TPacket field fd=%d is not an AF_PACKET socket (domain %d, %v): unsupported gopacket version", fd, domain, err)
	}
	return fd, nil
}

// packetOutgoing is the kernel's PACKET_OUTGOING packet type.
const packetOutgoing = 4

// ignoreOutgoing makes the socket skip frames transmitted on the interface
// (by this socket, other sockets or the kernel). PACKET_IGNORE_OUTGOING
// (Linux 4.20) drops them before they reach the socket; older kernels get a
// classic BPF filter on the packet type that does the same.
func ignoreOutgoing(tp *afpacket.TPacket, fd int, forceBPF bool) error {
	if !forceBPF {
		err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOPROTOOPT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
		}
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000}, // accept, whole frame
		bpf.RetConstant{Val: 0},       // drop
	})
	if err != nil {
		return fmt.Errorf("assemble outgoing filter: %w", err)
	}
	if err := tp.SetBPF(prog); err != nil {
		return fmt.Errorf("attach outgoing filter: %w", err)
	}
	return nil
}

// Name implements Link.
func (l *AFPacket) Name() string { return l.name }

// MAC implements Link: the interface's address when it was opened.
func (l *AFPacket) MAC() net.HardwareAddr { return l.mac }

// MTU implements Link: the interface's MTU when it was opened (set the MTU
// with netconf before opening the link).
func (l *AFPacket) MTU() int { return l.mtu }

// Stats implements Link. RxDropped is the kernel's count of frames lost
// because the receive ring was full.
func (l *AFPacket) Stats() Stats {
	l.statsMu.Lock()
	if !l.closed.Load() {
		l.refreshKernelDrops()
	}
	drops := l.kernelDrops
	l.statsMu.Unlock()
	return Stats{
		RxPackets: l.rxPackets.Load(),
		RxBytes:   l.rxBytes.Load(),
		RxDropped: drops,
		TxPackets: l.txPackets.Load(),
		TxBytes:   l.txBytes.Load(),
		TxDropped: l.txDropped.Load(),
	}
}

// refreshKernelDrops reads the socket's cumulative drop count; statsMu held.
func (l *AFPacket) refreshKernelDrops() {
	v2, v3, err := l.tp.SocketStats()
	if err != nil {
		return
	}
	if l.version == 3 {
		l.kernelDrops = uint64(v3.Drops())
	} else {
		l.kernelDrops = uint64(v2.Drops())
	}
}

// ReadBatch implements Link. Frames are copies in a per-link arena, valid
// until the next ReadBatch or Close. An error other than ErrClosed is a port
// condition (for example ENETDOWN when the interface goes down) that has
// been consumed: the next call waits for frames again.
func (l *AFPacket) ReadBatch(frames []Frame) (int, error) {
	l.rxMu.Lock()
	defer l.rxMu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	if need := len(frames) * l.snap; len(l.arena) < need {
		l.arena = make([]byte, need)
	}
	var deadline time.Time
	for {
		n, err := l.drain(frames)
		if n > 0 || err != nil {
			return n, err
		}
		ms := -1
		if l.pollTimeout > 0 {
			wait := l.pollTimeout
			if deadline.IsZero() {
				deadline = time.Now().Add(wait)
			} else if wait = time.Until(deadline); wait <= 0 {
				return 0, nil
			}
			ms = int((wait + time.Millisecond - 1) / time.Millisecond)
		}
		if err := l.wait(ms); err != nil {
			return 0, err
		}
	}
}

// drain copies up to len(frames) frames that are already in the ring.
func (l *AFPacket) drain(frames []Frame) (int, error) {
	n, off, bytes := 0, 0, 0
	var err error
	for n < len(frames) {
		data, ci, rerr := l.tp.ZeroCopyReadPacketData()
		if rerr != nil {
			if rerr == afpacket.ErrTimeout {
				break
			}
			if n == 0 {
				err = l.readError(rerr)
			}
			break
		}
		k := copy(l.arena[off:off+l.snap], data)
		wire := ci.Length
		if wire < k {
			wire = k
		}
		frames[n] = Frame{Data: l.arena[off : off+k : off+k], Len: wire}
		off += k
		bytes += wire
		n++
	}
	if n > 0 {
		l.rxPackets.Add(uint64(n))
		l.rxBytes.Add(uint64(bytes))
	}
	return n, err
}

// readError turns a gopacket read error into ours. A poll error means the
// socket has a pending error (ENETDOWN when the interface went down, ...):
// reading SO_ERROR reports and clears it, so the next ReadBatch waits again
// instead of spinning.
func (l *AFPacket) readError(err error) error {
	if err == afpacket.ErrPoll {
		if soerr, e := unix.GetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == nil && soerr != 0 {
			err = syscall.Errno(soerr)
		}
	}
	return fmt.Errorf("link: %s: read: %w", l.name, err)
}

// wait blocks until the socket is readable, ms milliseconds pass (-1:
// forever) or Close is called.
func (l *AFPacket) wait(ms int) error {
	fds := [2]unix.PollFd{
		{Fd: int32(l.fd), Events: unix.POLLIN},
		{Fd: int32(l.efd), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds[:], ms)
		if err == unix.EINTR {
			continue
		}
		if l.closed.Load() {
			return ErrClosed
		}
		if err != nil {
			return fmt.Errorf("link: %s: poll: %w", l.name, err)
		}
		return nil
	}
}

// WriteBatch implements Link.
func (l *AFPacket) WriteBatch(frames [][]byte) (int, error) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if l.txWrite {
		return l.writeEach(frames)
	}
	if len(l.msgs) < len(frames) {
		l.msgs = make([]unix.Mmsghdr, len(frames))
		l.iovs = make([]unix.Iovec, len(frames))
	}
	k := 0
	var dropped uint64
	for _, f := range frames {
		if !frameFits(f, l.mtu) {
			dropped++
			continue
		}
		l.iovs[k].Base = &f[0]
		l.iovs[k].SetLen(len(f))
		l.msgs[k].Hdr.Iov = &l.iovs[k]
		l.msgs[k].Hdr.SetIovlen(1)
		k++
	}
	sent, bytes := 0, 0
	var err error
	for i := 0; i < k; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(l.fd),
			uintptr(unsafe.Pointer(&l.msgs[i])), uintptr(k-i), unix.MSG_DONTWAIT, 0, 0)
		if e == 0 {
			for _, m := range l.msgs[i : i+int(r)] {
				bytes += int(m.Len)
			}
			sent += int(r)
			i += int(r)
			continue
		}
		switch e {
		case unix.EINTR:
			continue
		case unix.EMSGSIZE, unix.EINVAL:
			// This frame is unacceptable to the device; skip it.
			dropped++
			i++
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			// Transmit queue full: drop the rest, like a full NIC ring.
		default:
			err = fmt.Errorf("link: %s: sendmmsg: %w", l.name, e)
		}
		dropped += uint64(k - i)
		break
	}
	// Do not keep the caller's buffers reachable.
	for i := range l.iovs[:k] {
		l.iovs[i].Base = nil
	}
	l.txPackets.Add(uint64(sent))
	l.txBytes.Add(uint64(bytes))
	if dropped > 0 {
		l.txDropped.Add(dropped)
	}
	return sent, err
}

// writeEach transmits with one write(2) per frame through gopacket.
func (l *AFPacket) writeEach(frames [][]byte) (int, error) {
	sent, bytes := 0, 0
	var dropped uint64
	var err error
	for _, f := range frames {
		if !frameFits(f, l.mtu) {
			dropped++
			continue
		}
		if e := l.tp.WritePacketData(f); e != nil {
			dropped++
			if !errors.Is(e, unix.EMSGSIZE) && !errors.Is(e, unix.EAGAIN) && !errors.Is(e, unix.ENOBUFS) && err == nil {
				err = fmt.Errorf("link: %s: write: %w", l.name, e)
			}
			continue
		}
		sent++
		bytes += len(f)
	}
	l.txPackets.Add(uint64(sent))
	l.txBytes.Add(uint64(bytes))
	if dropped > 0 {
		l.txDropped.Add(dropped)
	}
	return sent, err
}

// Close implements Link: it wakes a blocked ReadBatch, waits for in-flight
// calls, and closes the socket (which also ends promiscuous mode).
func (l *AFPacket) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(l.efd, one[:])
		l.rxMu.Lock()
		l.txMu.Lock()
		l.statsMu.Lock()
		l.refreshKernelDrops()
		l.tp.Close()
		unix.Close(l.efd)
		l.statsMu.Unlock()
		l.txMu.Unlock()
		l.rxMu.Unlock()
	})
	return nil
}
