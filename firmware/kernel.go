package firmware

import (
	"fmt"

	"github.com/passgate/passgate/firmware/kbuild"
)

// kernelRoot returns the directory of the board's kernel, laid out as
// Debian's kernel package: the extracted package for a board that boots
// Debian's kernel, or passgate's own build from the kernel source for a
// board with a configuration fragment (board.Board.KernelConfig), built
// once and cached.
func kernelRoot(o *Options) (string, error) {
	b := o.Board
	dir, err := o.Fetcher().Extract(b.Kernel)
	if err != nil {
		return "", err
	}
	if b.KernelConfig == "" {
		return dir, nil
	}
	config, err := b.KernelConfigText()
	if err != nil {
		return "", fmt.Errorf("board %s: %w", b.Name, err)
	}
	return kbuild.Build(kbuild.Spec{
		Source:   dir,
		SourceID: b.Kernel.String(),
		Config:   config,
		Release:  b.KernelRelease,
		Arch:     b.Arch,
		CacheDir: o.CacheDir,
		Log:      o.Log,
	})
}
