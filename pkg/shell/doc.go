// Package shell is passgate's command-line interface, independent of the
// transport: the serial console (pkg/console) and SSH (pkg/sshd) hand it an
// io.ReadWriter, routerd hands it a Router.
//
// Operational mode (prompt "hostname> ") shows state and runs actions:
//
//	show interfaces | dhcp leases | nat sessions [protocol P] [host A]
//	     | passthrough | counters | configuration [commands] [PATH]
//	     | log [count N] | system
//	ping HOST [count N]   traceroute HOST
//	capture PORT [count N] [filter ...]
//	clear nat sessions [protocol P] [host A]
//	reboot   factory-reset   configure   exit | quit   help
//
// Configure mode (prompt "hostname# ") edits a private candidate copy of
// the committed configuration (Junos/VyOS style):
//
//	set ... | delete ...        change the candidate (checked at once)
//	show [PATH]                 the candidate as set commands
//	compare                     config.Diff, committed → candidate
//	commit [check | confirmed [MINUTES]]   confirm
//	rollback [N]                load revision N into the candidate
//	discard                     drop the candidate's changes
//	exit [discard] | quit       leave configure mode
//	run COMMAND                 an operational command
//
// "?" anywhere lists what may come next with one line of help, Tab
// completes, Tab Tab lists, unique prefixes are accepted everywhere, and
// errors put a caret under the offending word. Several commands may share
// a line, separated by ";".
//
// Commits of all sessions of one Shell are serialised. A session whose
// candidate started from an older committed configuration has its own
// set/delete/rollback commands replayed on the newer one before it
// commits; if they no longer apply, the commit is refused. A "commit
// confirmed" belongs to the Shell, not to the session: it is rolled back
// even when the session that made it has gone. Its rollback is persisted
// by the Router (CommitConfirmed), so a start that was not a "reboot"
// from the shell rolls it back too; after such a reboot the Shell resumes
// its timer with the time it had left (confirm.go).
package shell
