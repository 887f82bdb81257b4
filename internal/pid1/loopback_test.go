package pid1

import (
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// A new network namespace's lo is down, as the kernel leaves it for
// init; loopbackUp brings it up (seen through the net package's netlink
// listing, not the ioctl that set it), and a second call changes nothing.
func TestLoopbackUpInANewNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (a network namespace of its own); run `make test` as root")
	}
	type result struct {
		before, after, again net.Flags
		err                  error
	}
	done := make(chan result)
	go func() {
		// The thread stays locked and ends with the goroutine, so the
		// namespace never leaks into another goroutine.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		if r.err = unix.Unshare(unix.CLONE_NEWNET); r.err != nil {
			return
		}
		flags := func() net.Flags {
			lo, err := net.InterfaceByName("lo")
			if err != nil {
				r.err = err
				return 0
			}
			return lo.Flags
		}
		r.before = flags()
		if r.err = loopbackUp(); r.err != nil {
			return
		}
		r.after = flags()
		if r.err = loopbackUp(); r.err != nil {
			return
		}
		r.again = flags()
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.before&net.FlagUp != 0 {
		t.Fatalf("lo in a new namespace is already up (%v); the test proves nothing", r.before)
	}
	if r.after&net.FlagUp == 0 || r.after&net.FlagLoopback == 0 {
		t.Fatalf("after loopbackUp lo has flags %v, want up and loopback", r.after)
	}
	if r.again != r.after {
		t.Fatalf("a second loopbackUp changed lo's flags from %v to %v", r.after, r.again)
	}
}
