package tcfast

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Config configures a FastPath.
type Config struct {
	// MaxFlows is the flow map's size in entries; one entry per flow
	// direction (a connection both ways is two). Required.
	MaxFlows int
	// FilterPriority is the tc filter's priority on each port's clsact
	// ingress (lower runs first); 0 means 1.
	FilterPriority uint16
}

// FastPath is the kernel half of the fast path: the flow map, the tc
// program attached to the ports, and the socket filter for routerd's
// packet sockets. Its methods are safe for concurrent use.
type FastPath struct {
	cfg   Config
	flows *ebpf.Map
	tc    *ebpf.Program
	sock  *ebpf.Program

	mu     sync.RWMutex
	ports  map[uint32]*port // attached ports by ifindex
	closed bool
}

// Programs' names as the kernel lists them (bpftool prog, tc filter show).
const (
	tcProgName   = "passgate_tcfast"
	sockProgName = "passgate_tcfsk"
	flowMapName  = "passgate_flows"
)

// programLicense is the licence string the kernel is given. The programs
// call no GPL-only helper, so the kernel asks nothing more of it.
const programLicense = "passgate"

// New creates the flow map and loads both programs. It attaches nothing:
// see Attach and AttachSocket. It needs CAP_BPF and CAP_NET_ADMIN (root);
// on a kernel without what the programs need, the error names what is
// missing.
func New(cfg Config) (*FastPath, error) {
	if cfg.MaxFlows <= 0 || cfg.MaxFlows > 1<<30 {
		return nil, fmt.Errorf("tcfast: MaxFlows %d out of range 1..2^30", cfg.MaxFlows)
	}
	if cfg.FilterPriority == 0 {
		cfg.FilterPriority = 1
	}
	flows, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       flowMapName,
		Type:       ebpf.Hash,
		KeySize:    KeySize,
		ValueSize:  ValueSize,
		MaxEntries: uint32(cfg.MaxFlows),
	})
	if err != nil {
		return nil, fmt.Errorf("tcfast: create the flow map (BPF_MAP_TYPE_HASH, %d entries): %w%s",
			cfg.MaxFlows, err, missingMap(err))
	}
	f := &FastPath{cfg: cfg, flows: flows, ports: make(map[uint32]*port)}
	if f.tc, err = load(ebpf.SchedCLS, tcProgName, tcProgram, flows); err != nil {
		flows.Close()
		return nil, err
	}
	if f.sock, err = load(ebpf.SocketFilter, sockProgName, socketFilterProgram, flows); err != nil {
		f.tc.Close()
		flows.Close()
		return nil, err
	}
	return f, nil
}

// programSpec assembles one program's instructions for the map.
func programSpec(typ ebpf.ProgramType, name string, gen func(int) (asm.Instructions, error), flows *ebpf.Map) (*ebpf.ProgramSpec, error) {
	insns, err := gen(flows.FD())
	if err != nil {
		return nil, err
	}
	return &ebpf.ProgramSpec{Name: name, Type: typ, Instructions: insns, License: programLicense}, nil
}

func load(typ ebpf.ProgramType, name string, gen func(int) (asm.Instructions, error), flows *ebpf.Map) (*ebpf.Program, error) {
	spec, err := programSpec(typ, name, gen, flows)
	if err != nil {
		return nil, err
	}
	p, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, fmt.Errorf("tcfast: load the %s program %s (%d instructions): %w%s",
			typ, name, len(spec.Instructions), err, missingProgram(err, typ, spec.Instructions))
	}
	return p, nil
}

// missingMap says why the flow map could not be made when the error or a
// probe tells: no permission, no bpf() system call, no hash maps.
// Otherwise "".
func missingMap(err error) string {
	if hint := missingBPF(err); hint != "" {
		return hint
	}
	if perr := features.HaveMapType(ebpf.Hash); errors.Is(perr, ebpf.ErrNotSupported) {
		return "; the kernel lacks BPF hash maps: " + perr.Error()
	}
	return ""
}

// missingBPF names what a failed bpf() call lacked, if it is permission or
// the system call itself.
func missingBPF(err error) string {
	switch {
	case errors.Is(err, unix.EPERM):
		return "; not permitted: loading BPF programs and maps needs root (CAP_BPF, CAP_NET_ADMIN)"
	case errors.Is(err, unix.ENOSYS):
		return "; the kernel has no bpf() system call (CONFIG_BPF_SYSCALL)"
	}
	return ""
}

// missingProgram says what the kernel lacks when a program would not
// load, if the error or a probe tells: permission, the bpf() system call,
// the program type, or a helper the program calls. Otherwise "" (the
// verifier's log is in the error).
func missingProgram(err error, typ ebpf.ProgramType, insns asm.Instructions) string {
	if hint := missingBPF(err); hint != "" {
		return hint
	}
	if perr := features.HaveProgramType(typ); errors.Is(perr, ebpf.ErrNotSupported) {
		what := "SCHED_CLS programs (CONFIG_NET_CLS_BPF)"
		if typ == ebpf.SocketFilter {
			what = "SOCKET_FILTER programs"
		}
		return "; the kernel lacks " + what + ": " + perr.Error()
	}
	var missing []string
	seen := map[asm.BuiltinFunc]bool{}
	for _, ins := range insns {
		if !ins.IsBuiltinCall() {
			continue
		}
		fn := asm.BuiltinFunc(ins.Constant)
		if seen[fn] {
			continue
		}
		seen[fn] = true
		if perr := features.HaveProgramHelper(typ, fn); errors.Is(perr, ebpf.ErrNotSupported) {
			missing = append(missing, fn.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("; the kernel lacks the helpers %s for %s programs", strings.Join(missing, ", "), typ)
	}
	return ""
}

// SocketFilterFD returns the socket filter program's file descriptor, for
// SO_ATTACH_BPF (see AttachSocket). It stays valid until Close.
func (f *FastPath) SocketFilterFD() int { return f.sock.FD() }

// Close empties the flow map, takes the tc program off every port it was
// attached to (deleting clsact qdiscs that Attach created), and releases
// the map and programs. Socket filters attached to routerd's sockets stay
// there, holding the now empty map: they drop outgoing frames and accept
// all others, the behaviour of the classic filter they replaced.
func (f *FastPath) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	if err := f.clearFlows(func(Key) bool { return true }); err != nil {
		errs = append(errs, err)
	}
	for _, p := range f.ports {
		if err := p.detach(); err != nil {
			errs = append(errs, err)
		}
	}
	f.ports = nil
	errs = append(errs, f.tc.Close(), f.sock.Close(), f.flows.Close())
	return errors.Join(errs...)
}
