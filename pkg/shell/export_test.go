package shell

// SetTestIdle makes interactive sessions of sh call f whenever they wait
// for input with nothing buffered: consumed is how many input bytes the
// session has read so far, notes how many notifications wait.
func SetTestIdle(sh *Shell, f func(consumed int64, notes int)) { sh.testIdle = f }
