package sysdeps

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestRequireNamesProgramPackageAndMakeDeps(t *testing.T) {
	err := Require(Tool{"passgate-no-such-program", "passgate-no-such-package"})
	if err == nil {
		t.Fatal("Require of a missing program returned nil")
	}
	for _, want := range []string{"passgate-no-such-program", "passgate-no-such-package", "make deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := Require(Tool{"sh", "dash"}); err != nil {
		t.Errorf("Require(sh) = %v", err)
	}
}

// makefilePackages reads DEBIAN_PACKAGES from the Makefile: the list that
// `make deps` installs.
func makefilePackages(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nDEBIAN_PACKAGES\s*:=\s*((?:[^\n]*\\\n)*[^\n]*)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the Makefile has no DEBIAN_PACKAGES := ... list")
	}
	pkgs := map[string]bool{}
	for _, f := range strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " ")) {
		pkgs[f] = true
	}
	return pkgs
}

// Every program the code checks for is installed by `make deps`, and the
// README lists the same packages.
func TestMakeDepsInstallsTheCatalogue(t *testing.T) {
	pkgs := makefilePackages(t)
	inCatalogue := map[string]bool{}
	for _, tool := range Catalogue() {
		inCatalogue[tool.Package] = true
		if !pkgs[tool.Package] {
			t.Errorf("%s needs Debian package %s, which the Makefile's DEBIAN_PACKAGES lacks", tool.Bin, tool.Package)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for p := range pkgs {
		if !strings.Contains(string(readme), p) {
			t.Errorf("README.md does not list Debian package %s, which make deps installs", p)
		}
	}
}
