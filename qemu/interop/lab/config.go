package lab

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"text/template"
)

// The VPN peers' and the NATs' configuration files, one template per kind
// of file (templates/NAME.tmpl renders NAME).
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("lab").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// The lab's shared secrets (test-only).
const (
	psk      = "interop-lab-psk-0123456789"
	pppUser  = "labuser"
	pppPass  = "labpass"
	pppLocal = "/etc/ppp/chap-secrets"
)

// render writes template name (templates/name.tmpl) with data to path.
func render(path, name string, data any) error {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name+".tmpl", data); err != nil {
		return fmt.Errorf("template %s: %w", name, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// pppSecrets writes the CHAP secret the PPP clients and servers share;
// the lab removes it after every case.
func pppSecrets() error {
	if err := os.MkdirAll("/etc/ppp", 0o755); err != nil {
		return err
	}
	return os.WriteFile(pppLocal, []byte(pppUser+" * "+pppPass+" *\n"), 0o600)
}
