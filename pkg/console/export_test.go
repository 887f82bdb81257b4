package console

import (
	"context"
	"time"
)

// SetSleep replaces the wait after a wrong password; it returns a function
// that restores it.
func SetSleep(f func(ctx context.Context, d time.Duration)) (restore func()) {
	old := sleep
	sleep = f
	return func() { sleep = old }
}

// ReadPassword is readPassword, for the fuzz test.
var ReadPassword = readPassword

// MaxPassword is the longest password read.
const MaxPassword = maxPassword
