// Package updatefile reads and writes passgate's signed firmware update
// files (passgate-<board>-<version>.pgu).
//
// An update file is a POSIX tar stream:
//
//  1. manifest.json: the format number, the board, the version, when it
//     was made, and each file of the boot slot with its size and SHA-256;
//  2. manifest.sig: the 64-byte ed25519 signature of the domain string
//     "passgate-update-v1\n" followed by the manifest's bytes;
//  3. the slot's files, in the manifest's order, each a regular entry of
//     exactly the manifest's name and size;
//
// and nothing else. Read checks the signature against the keys the router
// trusts and the board before it hands out a single byte of a file, hashes
// each file as it streams by and fails on the first difference, a missing
// or extra entry, or a short file; every input is bounded (the manifest's
// size, the number and size of files, names). Whoever writes the files
// somewhere (the inactive boot slot) keeps them only if Read returned no
// error, so a tampered, wrongly signed, wrong-board or truncated file
// changes nothing.
package updatefile
