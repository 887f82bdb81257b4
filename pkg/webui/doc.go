// Package webui is the router's admin web page, served on the LAN only:
// status, VPN passthrough switches and sessions, port forwards and DMZ,
// DHCP leases, NAT settings, system settings and the configuration file.
//
// It has no configuration model of its own. A form adds set and delete
// edits (shell.Edit) to the session's candidate — refused at once, with
// the configuration's own message next to the field, when the
// configuration would refuse them — and the Changes page shows the
// candidate as config.Diff before Apply commits it with shell.Shell.Apply:
// the same checks, the same serialisation with the shell's sessions, the
// same commit history and commit confirmed.
//
// The pages are server-rendered (html/template escapes everything a LAN
// host sent) and work without JavaScript; every asset is embedded. The
// security choices — TLS with a certificate made once (cert.go),
// sessions in __Host- cookies (session.go), CSRF tokens and origin checks,
// the Host check against DNS rebinding, the Content-Security-Policy, the
// login limiter shared with SSH (login.go) — are described in
// docs/architecture.md, "The web page".
package webui
