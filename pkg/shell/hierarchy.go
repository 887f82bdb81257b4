package shell

import (
	"errors"
	"strconv"

	"github.com/passgate/passgate/pkg/config"
)

// Configuration mode has levels, as on Junos: "edit nat port-forward web"
// goes down, "up" (or "exit") goes one level up, "top" to the top. At a
// level the prompt is preceded by "[edit nat port-forward web]", and set,
// delete, show and edit take paths relative to it. The candidate's edits
// are recorded with full paths, so they replay anywhere.

// cliState is the session state of the Junos-style features (pipes,
// levels, commit comments, load terminal).
type cliState struct {
	levels  [][]string // the levels of "edit", outermost first
	pipe    *pipeline  // the pipes of the running command (nil outside execPiped)
	comment string     // the comment of the running commit
	// readScript, if set, returns the next line of a script (RunScript),
	// for "load merge terminal"; io.EOF at its end, errLineTooLong for a
	// line over the limit.
	readScript func() (line string, err error)
}

// levelPath is the path of the current level ([] at the top).
func (s *session) levelPath() []string {
	var p []string
	for _, l := range s.levels {
		p = append(p, l...)
	}
	return p
}

// tailBase is what a tail of kind t is relative to.
func (s *session) tailBase(t tailKind) []string {
	switch t {
	case tailSet, tailDelete, tailCandidate, tailEdit:
		if s.configuring {
			return s.levelPath()
		}
	}
	return nil
}

// abs is the full path of the words of a tail of kind t.
func (s *session) abs(t tailKind, tail []string) []string {
	return append(s.tailBase(t), tail...)
}

// relErr turns a config.Error about abs(t, c.tail) into an error about
// the word of the line.
func (s *session) relErr(t tailKind, c *call, err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return &lineError{c.tailAt + max(ce.Index-len(s.tailBase(t)), 0), ce.Msg}
	}
	return err
}

// levelBanner is the line shown above the prompt at a level ("" at the
// top, so sessions that never use levels look as before).
func (s *session) levelBanner() string {
	if !s.configuring || len(s.levels) == 0 {
		return ""
	}
	return "[edit " + config.JoinWords(s.levelPath()) + "]"
}

// beforePrompt writes what comes before an interactive prompt.
func (s *session) beforePrompt() {
	if b := s.levelBanner(); b != "" {
		s.printf("%s\n", b)
	}
}

func levelCommands() []*command {
	return []*command{
		{word: "edit", help: "go down to a level of the configuration (edit nat ...)", tail: tailEdit, run: cmdEdit},
		{word: "top", help: "go to the top level of the configuration", run: cmdTop},
		{word: "up", help: "go up one level (or N levels)", run: cmdUp,
			args: []*argSpec{intArg("<N>", "number of levels (default 1)", 1, 64, true)}},
	}
}

func cmdEdit(s *session, c *call) error {
	if len(c.tail) == 0 {
		return &lineError{len(c.toks), `incomplete command; give the level to go to ("edit ?" lists them)`}
	}
	levels, err := config.EditPath(s.abs(tailEdit, c.tail))
	if err != nil {
		return s.relErr(tailEdit, c, err)
	}
	s.levels = levels
	return nil
}

func cmdUp(s *session, c *call) error {
	n := 1
	if c.args[0] != "" {
		n, _ = strconv.Atoi(c.args[0])
	}
	if len(s.levels) == 0 {
		s.printf("Already at the top level.\n")
		return nil
	}
	s.levels = s.levels[:max(0, len(s.levels)-n)]
	return nil
}

func cmdTop(s *session, _ *call) error {
	s.levels = nil
	return nil
}

// upOnExit makes "exit" at a level go up one level, as on Junos; it
// reports whether it did.
func (s *session) upOnExit() bool {
	if len(s.levels) == 0 {
		return false
	}
	s.levels = s.levels[:len(s.levels)-1]
	return true
}

// showCandidate is configure mode's show: the candidate under the level
// and the path given.
func (s *session) showCandidate(c *call) error {
	return s.showConfiguration(s.cand, c, s.abs(tailCandidate, c.tail), len(s.tailBase(tailCandidate)), true)
}

// showConfiguration prints cfg under path as set commands or as a tree
// (the pipes "| display set|tree" choose), or with "| compare" the changes
// to it. base words of path come from the level, not the line.
func (s *session) showConfiguration(cfg *config.Config, c *call, path []string, base int, commands bool) error {
	if s.pipe != nil && s.pipe.compare {
		return s.showCompare(cfg, c, path, base)
	}
	if s.pipe != nil && s.pipe.display != "" {
		commands = s.pipe.display == "set"
	}
	var lines []string
	var err error
	if commands {
		lines, err = cfg.CommandsUnder(path)
	} else {
		lines, err = cfg.Tree(path)
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return &lineError{c.tailAt + max(ce.Index-base, 0), ce.Msg}
		}
		return err
	}
	if len(lines) == 0 {
		s.printf("Nothing here differs from the defaults.\n")
		return nil
	}
	for _, l := range lines {
		s.printf("%s\n", l)
	}
	return nil
}
