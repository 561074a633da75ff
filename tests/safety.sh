#!/bin/sh
# tests/safety.sh - nothing a user owns is ever destroyed (CLI.md "Safety"):
# an OUTPUT that holds an input, a directory of other files, a device or a
# FIFO, an output that appears while a job runs, inputs that are not
# regular files, signals, modes, errors found before the work, descriptors.
# Each test checks that the harm did not happen, not only the exit status.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }
leftovers() { ls -A "$1" | grep -c 'ctensors-tmp' ; }
ulimit -c 0   # SIGQUIT, SIGXCPU dump core by default

# snap PATH: every entry under PATH with its type and the checksum of its
# bytes, to compare before and after
snap() {
	find "$1" -printf '%y %p -> %l\n' | sort
	find "$1" -type f -exec cksum {} + | sort
}

# unchanged NAME PATH SNAPSHOT: PATH is as it was
unchanged() {
	[ "$(snap "$2")" = "$3" ] && pass "$1" || fail "$1" "$(snap "$2" | diff - /dev/null | head -5 | tr '\n' ' ')"
}

# ckpt_ok NAME PATH: PATH is a complete checkpoint that verifies
ckpt_ok() {
	"$CT_BIN" verify -q "$2" >"$TMP/v.out" 2>&1 && pass "$1" || fail "$1" "$(head -c 300 "$TMP/v.out")"
}

mk "$TMP/a.st" "l.weight:BF16:16x128" "l.bias:BF16:16"

# ---- inputs that are not regular files are refused, never waited on ----
# timeout(1) around ctensors: a run that waits on a FIFO fails with 124
REAL_BIN=$CT_BIN
printf '#!/bin/sh\nexec timeout 10 "%s" "$@"\n' "$REAL_BIN" >"$TMP/ct-timeout"
chmod +x "$TMP/ct-timeout"
CT_BIN=$TMP/ct-timeout
mkfifo "$TMP/fifo.st"
expect "a FIFO as INPUT" 3 "fifo.st: not a regular file (a FIFO)" inspect "$TMP/fifo.st"
expect "a FIFO as INPUT of quantize" 3 "fifo.st: not a regular file (a FIFO)" quantize -s W4A16 "$TMP/fifo.st" "$TMP/x.st"
cp -r "$FIX" "$TMP/fcfg"
rm "$TMP/fcfg/config.json"
mkfifo "$TMP/fcfg/config.json"
expect "a FIFO config.json: inspect" 3 "config.json: not a regular file (a FIFO)" inspect "$TMP/fcfg"
expect "a FIFO config.json: quantize" 3 "config.json: not a regular file (a FIFO)" quantize -s W4A16 "$TMP/fcfg" "$TMP/fcfg-q"
cp -r "$FIX" "$TMP/fidx"
rm "$TMP/fidx/model.safetensors.index.json"
mkfifo "$TMP/fidx/model.safetensors.index.json"
expect "a FIFO index file" 3 "model.safetensors.index.json: not a regular file (a FIFO)" inspect "$TMP/fidx"
cp -r "$FIX" "$TMP/fshard"
rm "$TMP/fshard/model-00002-of-00002.safetensors"
mkfifo "$TMP/fshard/model-00002-of-00002.safetensors"
expect "a FIFO shard" 3 "model-00002-of-00002.safetensors: not a regular file (a FIFO)" quantize -s W4A16 "$TMP/fshard" "$TMP/fshard-q"
expect "a FIFO as -c CONFIG" 3 "fifo.st: not a regular file (a FIFO)" quantize -c "$TMP/fifo.st" "$TMP/a.st" "$TMP/x.st"
expect "a FIFO as -c CONFIG of decompress" 3 "fifo.st: not a regular file (a FIFO)" decompress -c "$TMP/fifo.st" "$TMP/a.st" "$TMP/x.st"
expect "a character device as -c CONFIG" 3 "/dev/zero: not a regular file (a character device)" quantize -c /dev/zero "$TMP/a.st" "$TMP/x.st"
expect "a character device as INPUT" 3 "/dev/null: not a regular file (a character device)" inspect /dev/null
ls "$TMP" | grep -q -e '^x.st' -e fcfg-q -e fshard-q && fail "refused inputs leave nothing behind" || pass "refused inputs leave nothing behind"
CT_BIN=$REAL_BIN

finish
