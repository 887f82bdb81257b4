package shell_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
)

// slotRouter is the fake router with boot slots.
type slotRouter struct {
	*shelltest.Router
	got        []byte
	fetched    []string
	rolledBack bool
}

func (r *slotRouter) InstallUpdate(ctx context.Context, in io.Reader, w io.Writer) error {
	b, err := io.ReadAll(in)
	r.got = b
	if string(b) == "tampered" {
		return errors.New("update file damaged or tampered with")
	}
	fmt.Fprintf(w, "Update written to slot b (%d bytes).\n", len(b))
	return err
}

func (r *slotRouter) FetchUpdate(ctx context.Context, url string) (io.ReadCloser, error) {
	r.fetched = append(r.fetched, url)
	if strings.HasSuffix(url, "/missing.pgu") {
		return nil, errors.New(`fetching ` + url + `: the server answered "404 Not Found"`)
	}
	return io.NopCloser(strings.NewReader("PGU from " + url)), nil
}

func (r *slotRouter) RollbackSlot(ctx context.Context, w io.Writer) error {
	r.rolledBack = true
	fmt.Fprintln(w, "Rolled back.")
	return nil
}

func TestSystemUpdateReadsStandardInput(t *testing.T) {
	clock := shelltest.NewClock(epoch)
	r := &slotRouter{Router: newRouter(t, clock)}
	sh := shell.New(r, shell.Options{Clock: clock})
	var out strings.Builder
	if err := sh.RunInput(context.Background(), "system update", strings.NewReader("PGU bytes"), &out); err != nil || string(r.got) != "PGU bytes" || !strings.Contains(out.String(), "slot b (9 bytes)") {
		t.Fatalf("system update: %v, got %q\n%s", err, r.got, &out)
	}
	out.Reset()
	if err := sh.RunInput(context.Background(), "system update", strings.NewReader("tampered"), &out); !errors.Is(err, shell.ErrFailed) || !strings.Contains(out.String(), "error: update file damaged") {
		t.Fatalf("refused update: %v\n%s", err, &out)
	}
	out.Reset()
	if err := sh.Run(context.Background(), "system update", &out); err == nil || !strings.Contains(strings.Join(strings.Fields(out.String()), " "), "(system update https://SERVER/passgate-BOARD-VERSION.pgu), or send the file on standard input, from a computer: ssh admin@ROUTER 'system update' < passgate-BOARD-VERSION.pgu") {
		t.Fatalf("system update without input: %v\n%s", err, &out)
	}
	// From a URL, fetched by the router.
	out.Reset()
	if err := sh.Run(context.Background(), "system update http://192.0.2.7/u.pgu", &out); err != nil || string(r.got) != "PGU from http://192.0.2.7/u.pgu" ||
		!strings.Contains(out.String(), "Fetching http://192.0.2.7/u.pgu...") {
		t.Fatalf("system update URL: %v, got %q\n%s", err, r.got, &out)
	}
	for _, c := range []struct{ line, err string }{
		{"system update http://192.0.2.7/missing.pgu", `the server answered "404 Not Found"`},
		{"system update ftp://192.0.2.7/u.pgu", "give the update file's http:// or https:// address"},
		{"system update /tmp/u.pgu", "give the update file's http:// or https:// address"},
	} {
		out.Reset()
		r.got = nil
		if err := sh.Run(context.Background(), c.line, &out); err == nil || !strings.Contains(strings.Join(strings.Fields(out.String()), " "), c.err) || r.got != nil {
			t.Errorf("%s: %v\n%s", c.line, err, &out)
		}
	}
	if len(r.fetched) != 2 {
		t.Errorf("fetched %q: a URL refused by the shell was fetched", r.fetched)
	}
	out.Reset()
	if err := sh.Run(context.Background(), "system rollback", &out); err != nil || !r.rolledBack {
		t.Fatalf("system rollback: %v\n%s", err, &out)
	}
	// A router without slots says so.
	plain := shell.New(newRouter(t, clock), shell.Options{Clock: clock})
	out.Reset()
	if err := plain.RunInput(context.Background(), "system update", strings.NewReader("x"), &out); err == nil || !strings.Contains(out.String(), "no boot slots") {
		t.Fatalf("system update on a router without slots: %v\n%s", err, &out)
	}
}
