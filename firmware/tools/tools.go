//go:build tools

// Package tools pins the versions of the programs the firmware build runs:
// mkuimage (built for the host) and the u-root commands it compiles into the
// initramfs for the target. It lives in its own module so that u-root's
// dependency graph does not leak into the router's go.mod; the firmware
// package runs `go build` and mkuimage with this directory as the working
// directory, so both resolve their sources (from the Go module cache) through
// this go.mod and go.sum.
package tools

import (
	_ "github.com/u-root/mkuimage/cmd/mkuimage"
	_ "github.com/u-root/u-root/cmds/core/cat"
	_ "github.com/u-root/u-root/cmds/core/dmesg"
	_ "github.com/u-root/u-root/cmds/core/gosh"
	_ "github.com/u-root/u-root/cmds/core/init"
	_ "github.com/u-root/u-root/cmds/core/ip"
	_ "github.com/u-root/u-root/cmds/core/ls"
	_ "github.com/u-root/u-root/cmds/core/mount"
	_ "github.com/u-root/u-root/cmds/core/ps"
)
