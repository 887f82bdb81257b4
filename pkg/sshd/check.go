package sshd

// CheckPassword reports whether password matches a hash from "system admin
// password-hash", exactly as SSH's password login checks it; the serial
// console's login (system console login) uses it too, so both accept the
// same passwords.
func CheckPassword(hash, password string) bool { return checkPassword(hash, password) }
