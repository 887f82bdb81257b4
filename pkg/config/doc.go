// Package config is passgate's configuration: the typed Config, the
// configuration language (one "set" command per line), validation with
// clear messages, and power-loss-safe storage with revisions.
//
// # Language
//
// One schema tree (schema.go) describes every command; the parser (Set,
// Delete, Parse), the shell helpers (Expand, Complete) and the printer
// (Commands) are all driven by it, so they cannot drift apart. Keywords and
// literal values may be abbreviated to any unique prefix ("set n hai d"),
// in the shell and in files alike; the printer always writes full words.
//
//	set system hostname NAME
//	set system admin password-hash "CRYPT-HASH"
//	set interfaces lan device IFNAME | address A.B.C.D/N | mtu N
//	set interfaces wan device IFNAME | mode dhcp|static | address A.B.C.D/N
//	                   | gateway A.B.C.D | mtu N | dns A.B.C.D (repeatable)
//	set dhcp-server lan range A.B.C.D A.B.C.D | lease-time DURATION
//	                   | dns A.B.C.D (repeatable) | static NAME [mac MAC] [ip A.B.C.D]
//	set nat filtering endpoint-independent|address-dependent|address-port-dependent
//	set nat timeout udp|tcp-established|tcp-transitory|icmp|gre|esp SECONDS
//	set nat hairpin enable|disable
//	set nat mss-clamp auto|disable|536..9000
//	set nat port-forward NAME [protocol tcp|udp|tcp-udp] [port P[-Q]] [to A.B.C.D [port P[-Q]]]
//	set nat dmz A.B.C.D
//	set nat max-sessions N | max-sessions-per-host N     (0 = automatic)
//	set passthrough pptp|l2tp|ipsec enable|disable
//	set passthrough ipsec esp-mode spi-learning|single-client
//	set passthrough ipsec ike-share-port enable|disable
//	set service ssh listen lan|wan|all | port N | authorized-key NAME "KEY"
//	set service port-mapping enable|disable
//	set dns forwarder enable|disable | upstream A.B.C.D|X:X::X (repeatable)
//	        | tls-upstream NAME [address A] [server-name HOST] [port N]
//	        | domain DOMAIN | host NAME [address A.B.C.D] [ipv6 X:X::X]
//	        | rebind-protection enable|disable | rebind-allow DOMAIN (repeatable)
//
// Durations are seconds ("3600") or numbers with units d, h, m, s ("12h",
// "1h30m"). Entries of a named list (static, port-forward, authorized-key)
// merge: each set command changes only the clauses it names, so
// "set nat port-forward web port 8081" keeps the entry's other clauses.
// In a port-forward, a "port" right after "to A.B.C.D" is the internal
// port; anywhere else it is the external one. "delete PATH" returns a
// value, an entry, an entry's clause or a whole subtree to its default.
//
// Commands prints only what differs from New(); Default() is the factory
// configuration (a working home router). Parse(c.String()) equals c, and
// printing again gives the same bytes.
//
// # Use from the shell
//
// The shell tokenizes a line with Tokenize (quotes, comments, columns),
// then passes the words after the verb to Complete/CompleteWith ("?" and
// Tab), Expand/ExpandDelete (show the full command), Config.Set and
// Config.Delete (on the candidate configuration; they change nothing on
// error and return an *Error whose Index names the word to put a caret
// under). "compare" is Diff, "commit" is Validate then Store.Save, and
// "rollback N" is Store.Revision(N).
//
// # Storage
//
// Store keeps passgate.conf (with a sha256 trailer so truncation is
// detected), passgate.conf.bak and revisions/NNNN.conf in one directory;
// see Store.Save for the crash-safe sequence and Store.Load for the
// fallback rules. Files are read as a PC leaves them (CR LF or CR line
// ends, a UTF-8 byte-order mark) and a hand edit that kept the checksum
// lines is taken when it reads and validates (load.go); a file holds at
// most MaxFileSize bytes and a line MaxLine. A commit confirmed keeps its
// rollback in passgate.pending until it is confirmed
// (Store.SaveConfirmed, Store.SetPending), and Store.Settle rolls it back
// at start unless the restart was planned (confirm.go). The FS interface
// lets tests crash a save after any step.
package config
