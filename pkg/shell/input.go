package shell

import (
	"bufio"
	"errors"
	"io"
	"strings"

	"github.com/passgate/passgate/pkg/config"
)

// Bounded input. Every command line the shell takes — typed on the serial
// console or over SSH, sent with "ssh router CMD", "routerd shell -c", or a
// line of a script — holds at most config.MaxLine bytes, like a line of
// the configuration file; a longer one is refused with one error and is
// never run, not even in part. Characters a command line may not hold
// (control, invisible, invalid UTF-8) are refused in the editor as exec
// mode refuses them: a caret where they were typed, and the message.

// errLineTooLong ends an interactive line that went over config.MaxLine.
var errLineTooLong = errors.New(config.LineTooLong)

// checkLine refuses a line over config.MaxLine bytes, saying so.
func (s *session) checkLine(line string) error {
	if len(line) <= config.MaxLine {
		return nil
	}
	s.report(errLineTooLong, nil)
	return errLineTooLong
}

// sayReject tells the user a typed character was refused, with a caret
// where it would have gone; the line is redrawn below.
func (s *session) sayReject() {
	e := s.ed
	e.out.raw("\r\n")
	s.caret(len(e.prompt) - e.off + e.pos)
	s.errorf("%s", rejectMsg(e.reject))
	e.redrawBelow()
}

// sayTooLong tells the user the line reached config.MaxLine bytes: the
// rest is dropped and the line will not be run.
func (s *session) sayTooLong() {
	e := s.ed
	e.out.raw("\r\n")
	s.caret(len(e.prompt) - e.off + e.pos)
	s.errorf("%s; the rest is dropped and the line will not be run", config.LineTooLong)
	e.redrawBelow()
}

// submitTooLong ends a line that went over config.MaxLine: it is not run.
func (s *session) submitTooLong() error {
	s.out.raw("\r\n")
	s.errorf("not run: %s", config.LineTooLong)
	return errLineTooLong
}

// scriptLines reads the lines of a script, each at most config.MaxLine
// bytes (a CR before the LF is dropped). next returns the next line, or
// errLineTooLong for a longer one (nothing of it is returned), or io.EOF.
type scriptLines struct {
	r *bufio.Reader
}

func newScriptLines(r io.Reader) *scriptLines {
	return &scriptLines{r: bufio.NewReaderSize(r, config.MaxLine+2)}
}

func (l *scriptLines) next() (string, error) {
	b, err := l.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", errLineTooLong
	case err != nil && (len(b) == 0 || !errors.Is(err, io.EOF)):
		return "", err
	}
	line := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if len(line) > config.MaxLine {
		return "", errLineTooLong
	}
	return line, nil
}
