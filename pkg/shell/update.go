package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// UpdateRouter is the part of a Router that installs firmware updates
// into its boot slots (issue #17). A Router without it has none: "system
// update" says so.
type UpdateRouter interface {
	// InstallUpdate reads an update file (.pgu) from r, checks it whole
	// and writes it into the boot slot that is not running, then arms that
	// slot's one trial boot; w gets a line per step. Nothing is written
	// when the file is refused.
	InstallUpdate(ctx context.Context, r io.Reader, w io.Writer) error
	// RollbackSlot goes back to the other boot slot: abandoning a trial
	// that runs, or making the other (ready) slot the committed one; it
	// takes effect at the next reboot.
	RollbackSlot(ctx context.Context, w io.Writer) error
}

// RunInput is Run with the command's standard input: what
// "ssh admin@router 'system update' < passgate-rpi4-1.2.0.pgu" sends.
func (sh *Shell) RunInput(ctx context.Context, line string, in io.Reader, w io.Writer) error {
	s := sh.newSession(ctx, nil, w, TermInfo{}, false)
	defer s.close()
	s.stdin = in
	err := s.execLine(line)
	s.leave()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return s.out.err
}

func systemCommand() *command {
	return &command{word: "system", help: "firmware updates", sub: []*command{
		{word: "update", help: "install a firmware update sent on standard input (ssh admin@ROUTER 'system update' < FILE.pgu)", long: true, run: cmdSystemUpdate},
		{word: "rollback", help: "go back to the firmware in the other boot slot at the next reboot", run: cmdSystemRollback},
	}}
}

func (s *session) updateRouter() (UpdateRouter, error) {
	u, ok := s.sh.r.(UpdateRouter)
	if !ok {
		return nil, errors.New("this router has no boot slots to update")
	}
	return u, nil
}

func cmdSystemUpdate(s *session, _ *call) error {
	u, err := s.updateRouter()
	if err != nil {
		return err
	}
	if s.stdin == nil {
		return errors.New(`send the update file on standard input, from a computer: ssh admin@ROUTER 'system update' < passgate-BOARD-VERSION.pgu (make update builds it)`)
	}
	s.sh.logf("firmware update requested by %s", s.who())
	return u.InstallUpdate(s.cmdCtx, s.stdin, s.out)
}

func cmdSystemRollback(s *session, _ *call) error {
	u, err := s.updateRouter()
	if err != nil {
		return err
	}
	s.sh.logf("firmware rollback requested by %s", s.who())
	return u.RollbackSlot(s.cmdCtx, s.out)
}
