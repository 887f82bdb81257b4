package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Limits on what the configuration language reads. Every reader is
// bounded: a configuration file, and every command line of the shell
// (serial console, SSH, routerd shell -c, scripts).
const (
	// MaxFileSize is the most bytes a configuration file may hold. A
	// home router's configuration is a few kilobytes.
	MaxFileSize = 1 << 20
	// MaxLine is the most bytes one line may hold, in a configuration
	// file and on the shell's command line. The longest real line, an
	// 8192-bit RSA key, is about 1.5 KiB.
	MaxLine = 4096
)

// ErrTooLarge marks a configuration file larger than MaxFileSize.
var ErrTooLarge = errors.New("too large")

// ErrNotUTF8 marks a configuration file saved in another encoding than
// UTF-8 (UTF-16, as Windows editors offer).
var ErrNotUTF8 = errors.New("not UTF-8")

// ErrInvalid marks a configuration file that reads but fails Validate.
var ErrInvalid = errors.New("invalid")

// fileError is an unusable file: msg says what is wrong and what to do;
// kind is ErrDamaged, ErrTooLarge, ErrNotUTF8 or ErrInvalid.
type fileError struct {
	kind error
	msg  string
	err  error // the underlying *Error or Issue, if any
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}

func damaged(format string, a ...any) error {
	return &fileError{kind: ErrDamaged, msg: "damaged: " + fmt.Sprintf(format, a...)}
}

var tooLarge = &fileError{kind: ErrTooLarge,
	msg: fmt.Sprintf("too large: the file is larger than %d bytes (1 MiB), the most a configuration file may hold", MaxFileSize)}

// fileInfo is what decode learned about a file besides its configuration.
type fileInfo struct {
	saved time.Time // from the "# saved" line; zero if none
	// handEdit: the file carries the checksum lines, the checksum does not
	// match, yet the text parses: it was edited by hand after it was saved.
	handEdit bool
	// version is the configuration version the file names (version.go);
	// ignored are the lines of a newer version this one skipped.
	version int
	ignored []Ignored
}

// normalise undoes what editing on a PC does to a text file: a UTF-8
// byte-order mark is dropped and CR LF or lone CR line ends become LF.
// A file in UTF-16 (with or without byte-order mark) is refused with a
// message saying to save it as UTF-8.
func normalise(data []byte) ([]byte, error) {
	if enc := utf16Kind(data); enc != "" {
		return nil, &fileError{kind: ErrNotUTF8,
			msg: "saved as " + enc + ", which the router cannot read: save it as UTF-8 (in Notepad: File, Save As, Encoding UTF-8)"}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(data, '\r') >= 0 {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		data = bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
	}
	return data, nil
}

// utf16Kind names the UTF-16 flavour of data ("" if it does not look
// like UTF-16): a byte-order mark, or text whose every other byte is NUL
// (ASCII in UTF-16 without a mark).
func utf16Kind(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return "UTF-16 (little-endian, byte-order mark FF FE)"
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return "UTF-16 (big-endian, byte-order mark FE FF)"
	}
	head := data[:min(len(data), 512)&^1]
	pairs := len(head) / 2
	if pairs < 2 {
		return ""
	}
	zeroOdd, zeroEven := 0, 0 // pairs with exactly one NUL, by its place
	for i := 0; i < len(head); i += 2 {
		switch {
		case head[i] != 0 && head[i+1] == 0:
			zeroOdd++
		case head[i] == 0 && head[i+1] != 0:
			zeroEven++
		}
	}
	switch {
	case 4*zeroOdd >= 3*pairs:
		return "UTF-16 (little-endian, every other byte is NUL)"
	case 4*zeroEven >= 3*pairs:
		return "UTF-16 (big-endian, every other byte is NUL)"
	}
	return ""
}

// splitTrailer separates the "# sha256 <hex>" line that ends a stored
// file from the body before it. Blank lines after it, and a missing final
// newline, are tolerated (editors add and remove them).
func splitTrailer(data []byte) (body []byte, sum string, ok bool) {
	end := len(bytes.TrimRight(data, " \t\n"))
	if end == 0 {
		return data, "", false
	}
	start := bytes.LastIndexByte(data[:end], '\n') + 1
	hexsum, found := strings.CutPrefix(string(data[start:end]), trailerPrefix)
	if !found || len(hexsum) != 64 || strings.ToLower(hexsum) != hexsum {
		return data, "", false
	}
	if _, err := hex.DecodeString(hexsum); err != nil {
		return data, "", false
	}
	return data[:start], hexsum, true
}

func hasLine(body []byte, line string) bool {
	for _, l := range strings.Split(string(body), "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func savedTime(body []byte) time.Time {
	for _, l := range strings.SplitN(string(body), "\n", 4) {
		if v, ok := strings.CutPrefix(l, savedPrefix); ok {
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// decode checks and parses a stored or hand-written file. The file is
// normalised first (normalise), so line ends and a byte-order mark added
// by a PC editor change nothing. Then:
//
//   - a "# sha256" trailer that matches: the file is as Store saved it;
//   - a trailer that does not match: the text must still parse (it was
//     edited by hand and info.handEdit is set), else the file is damaged;
//   - no trailer but the "# sha256-checked" line: the file was truncated;
//   - neither: a hand-written file, which must hold at least one set
//     command (an empty file is what a power cut often leaves behind).
func decode(data []byte) (*Config, fileInfo, error) {
	if len(data) > MaxFileSize {
		return nil, fileInfo{}, tooLarge
	}
	data, err := normalise(data)
	if err != nil {
		return nil, fileInfo{}, err
	}
	body, sum, hasSum := splitTrailer(data)
	var info fileInfo
	switch {
	case hasSum:
		got := sha256.Sum256(body)
		info.handEdit = hex.EncodeToString(got[:]) != sum
	case hasLine(body, checkedLine):
		if len(data) > 0 && data[len(data)-1] != '\n' {
			return nil, info, damaged("the file ends in the middle of line %d and the \"# sha256\" line at the end is missing (the file was truncated)",
				bytes.Count(data, []byte("\n"))+1)
		}
		return nil, info, damaged("the \"# sha256\" line at the end is missing (the file was truncated; to edit the file by hand, keep both checksum lines or delete both)")
	}
	ver, err := fileVersion(string(body))
	if err != nil {
		return nil, info, damaged("%v", err)
	}
	info.version = ver
	var c *Config
	var n int
	if ver > FormatVersion {
		c, n, info.ignored, err = parseNewer(string(body))
	} else {
		var text string
		if text, err = migrate(string(body), ver, FormatVersion); err == nil {
			c, n, err = parse(text)
		}
	}
	switch {
	case err != nil && info.handEdit:
		return nil, info, &fileError{kind: ErrDamaged, err: err,
			msg: fmt.Sprintf("damaged: the sha256 checksum does not match and %v (the file was corrupted, or edited by hand with a mistake)", err)}
	case err != nil:
		return nil, info, &fileError{kind: ErrDamaged, err: err, msg: "damaged: " + err.Error()}
	case n == 0 && info.handEdit:
		return nil, info, damaged("the sha256 checksum does not match and the file holds no set command (the file was truncated or corrupted)")
	case n == 0 && !hasSum:
		return nil, info, damaged("the file holds no set command (empty or truncated)")
	}
	info.saved = savedTime(body)
	return c, info, nil
}

// readUsable reads one file of the store and checks that the router can
// run it: it decodes (decode) and passes Validate.
func (s *Store) readUsable(name string) (*Config, []byte, fileInfo, error) {
	data, err := s.fs.ReadFile(name)
	if err != nil {
		return nil, nil, fileInfo{}, err
	}
	c, info, err := decode(data)
	if err != nil {
		return nil, nil, info, err
	}
	if errs, _ := c.Validate(); len(errs) > 0 {
		what := "invalid"
		if info.handEdit {
			what = "a hand edit (its checksum no longer matches) that is invalid"
		}
		more := ""
		switch {
		case len(errs) == 2:
			more = " (and 1 more problem)"
		case len(errs) > 2:
			more = fmt.Sprintf(" (and %d more problems)", len(errs)-1)
		}
		return nil, nil, info, &fileError{kind: ErrInvalid, err: errs[0], msg: fmt.Sprintf("%s: %v%s", what, errs[0], more)}
	}
	return c, data, info, nil
}

// readBounded reads the file at path, at most MaxFileSize+1 bytes of it:
// a larger file is refused by decode without being read whole.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Loaded says which configuration Store.LoadInfo found, and why.
type Loaded struct {
	Config *Config
	// File is the file used: FileName, BackupName or a revision
	// ("revisions/0007.conf").
	File  string
	Saved time.Time // when File was saved; zero if unknown (written by hand)
	// HandEdit is set when passgate.conf was edited by hand after it was
	// saved (its checksum lines were kept but no longer match) and is
	// used as edited, since it reads and validates.
	HandEdit bool
	// Problem says what is wrong with passgate.conf when another file is
	// used; nil otherwise.
	Problem error
	// Notice is what the user must be told (console, log, show system):
	// a fallback, a hand edit, lines of a newer version skipped. "" when
	// passgate.conf was used as saved.
	Notice string
	// Version is the configuration version File names (FormatVersion.
	// version.go); Ignored are its lines this version skipped, when it
	// is newer.
	Version int
	Ignored []Ignored
}

// Fallback reports whether a file other than passgate.conf is used.
func (l Loaded) Fallback() bool { return l.File != FileName }

// Reason says what is wrong with passgate.conf when another file is used,
// e.g. "passgate.conf is missing"; "" otherwise.
func (l Loaded) Reason() string {
	if l.Problem == nil {
		return ""
	}
	return FileName + " " + describe(l.Problem)
}

// File is the path of the store's passgate.conf.
func (s *Store) File() string { return s.path(FileName) }

// Load returns the stored configuration. If passgate.conf is missing or
// cannot be used (bad checksum, truncated, a line that does not parse, not
// UTF-8, too large, or invalid), Load falls back to passgate.conf.bak, then
// to the newest usable revision, and says so in notice, which the caller
// must show to the user. A hand edit of passgate.conf that kept its
// checksum lines is used when it reads and validates, and notice says so
// too. notice is "" when passgate.conf was used as saved. If no
// configuration file exists at all (first boot) the error wraps
// fs.ErrNotExist; if files exist but none is usable, the error says what
// is wrong with passgate.conf.
func (s *Store) Load() (c *Config, notice string, err error) {
	l, err := s.LoadInfo()
	return l.Config, l.Notice, err
}

// LoadInfo is Load with the details of what was found.
func (s *Store) LoadInfo() (l Loaded, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.current()
	l = Loaded{Config: cur.cfg, File: cur.name, Saved: cur.saved, HandEdit: cur.handEdit, Problem: cur.mainErr,
		Version: cur.info.version, Ignored: cur.info.ignored}
	newer := ""
	if cur.cfg != nil && cur.info.version > FormatVersion {
		newer = newerNotice(cur.name, cur.info)
	}
	defer func() {
		if newer != "" && l.Config != nil {
			l.Notice = strings.TrimSpace(l.Notice + " " + newer)
		}
	}()
	switch {
	case cur.name == FileName && cur.handEdit:
		when := ""
		if !cur.saved.IsZero() {
			when = " at " + cur.saved.UTC().Format(time.RFC3339)
		}
		l.Notice = fmt.Sprintf("%s was edited by hand after it was saved%s: its checksum no longer matches, but it reads and validates, so the edited configuration is running.%s Commit to store it with a new checksum.",
			FileName, when, s.backupText())
		return l, nil
	case cur.name == FileName:
		return l, nil
	case cur.cfg != nil:
		l.Notice = fmt.Sprintf("%s %s; loaded the backup %s%s instead. Check it and commit to write a new %s.",
			FileName, describe(cur.mainErr), cur.name, savedText(cur.saved), FileName)
		return l, nil
	case !cur.anyFile:
		return l, fmt.Errorf("config: load %s: no configuration: %w", s.path(FileName), fs.ErrNotExist)
	}
	return l, fmt.Errorf("config: load %s: %s, and there is no valid backup", s.path(FileName), strings.TrimPrefix(describe(cur.mainErr), "is "))
}

// newerNotice says that name was saved by a newer passgate and which of
// its lines this one skipped.
func newerNotice(name string, info fileInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s was saved by a newer passgate (configuration version %d; this one reads version %d)", name, info.version, FormatVersion)
	if len(info.ignored) == 0 {
		b.WriteString(": every line is understood.")
		return b.String()
	}
	fmt.Fprintf(&b, ": %d line(s) this version does not understand are ignored: ", len(info.ignored))
	for i, ig := range info.ignored {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(info.ignored)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(ig.String())
	}
	b.WriteString(". The rest is running. A commit from this version saves the configuration without those lines; the newer file stays as the backup and in the revisions (rollback).")
	return b.String()
}

// backupText names the backup kept while a hand edit runs.
func (s *Store) backupText() string {
	data, err := s.fs.ReadFile(BackupName)
	if err != nil {
		return ""
	}
	if _, info, err := decode(data); err == nil {
		return fmt.Sprintf(" The backup %s%s is kept as it was.", BackupName, savedText(info.saved))
	}
	return ""
}
