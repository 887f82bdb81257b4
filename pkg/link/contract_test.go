package link_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/link/linktest"
)

var pipeSeq atomic.Int32

// TestPipeContract runs link.Link's contract suite on the in-memory pipe,
// the fake the data plane's tests run on; package afpacket runs the same
// suite on a veth pair.
func TestPipeContract(t *testing.T) {
	linktest.Run(t, func(tb testing.TB, o linktest.Options) (link.Link, link.Link) {
		n := pipeSeq.Add(1)
		a, b, err := link.NewPipe(link.PipeConfig{NameA: fmt.Sprint("a", n), NameB: fmt.Sprint("b", n),
			PollTimeout: o.PollTimeout, Offloads: o.Offloads})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	})
}
