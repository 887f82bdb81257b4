package config

// checkConsole warns when the console is to ask for a password that does
// not exist: it stays open (a router must never lock its owner out).
func (c *Config) checkConsole(v *validator) {
	if c.System.Console.Login && c.System.Admin.PasswordHash == "" {
		v.warn("system console login", "enabled, but system admin has no password-hash, so the console stays open; "+
			`set one, e.g. set system admin password-hash "$6$..." (from mkpasswd -m sha-512)`)
	}
}
