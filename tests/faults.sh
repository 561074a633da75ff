#!/bin/sh
# tests/faults.sh - a job that cannot finish leaves nothing behind: full
# disk, file-size limit, read-only destination, signals mid-write, an input
# truncated while being read.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model

leftovers() { ls -A "$1" | grep -c 'ctensors-tmp' ; }

"$T/mkst" "$TMP/small.st" "x.weight:BF16:256x512" || exit 2

# ---- the file-size limit: SIGXFSZ must not kill the process ----------------
mkdir "$TMP/fsz"
( ulimit -f 64; exec "$CT_BIN" quantize -s W8A8 "$TMP/small.st" "$TMP/fsz/out.st" ) >"$TMP/out" 2>"$TMP/err"
st=$?
[ "$st" = 4 ] && grep -q 'file too large' "$TMP/err" && pass "file-size limit: exit 4 with a message" ||
	fail "file-size limit: exit 4 with a message" "status $st: $(cat "$TMP/err")"
[ -z "$(ls -A "$TMP/fsz")" ] && pass "file-size limit: nothing left behind" || fail "file-size limit: nothing left behind" "$(ls -A "$TMP/fsz")"

# ---- a full disk and a read-only destination (need mount: root) ------------
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null && [ -d "$FIX" ]; then
	mkdir "$TMP/full" "$TMP/ro"
	unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" quantize -s W8A8 "$3" "$1/out"; echo "status $?" >&2; ls -A "$1" >&2' \
		sh "$TMP/full" "$CT_BIN" "$FIX" >"$TMP/out" 2>"$TMP/err"
	st=$?
	[ "$st" = 4 ] && grep -q 'no space left on device' "$TMP/err" && pass "disk full: exit 4 with a message" ||
		fail "disk full: exit 4 with a message" "status $st: $(cat "$TMP/err")"
	unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs "$1" && "$2" quantize -q -s W8A8 "$3" "$1/out"; ls -A "$1"' \
		sh "$TMP/full" "$CT_BIN" "$FIX" >"$TMP/out" 2>/dev/null
	[ ! -s "$TMP/out" ] && pass "disk full: nothing left on the full disk" || fail "disk full: nothing left on the full disk" "$(cat "$TMP/out")"
	unshare -m sh -c 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" quantize -s W8A8 "$3" "$1/out.st"' \
		sh "$TMP/ro" "$CT_BIN" "$TMP/small.st" >"$TMP/out" 2>"$TMP/err"
	st=$?
	[ "$st" = 2 ] && grep -q 'Read-only file system' "$TMP/err" && pass "read-only destination: exit 2 (found before any work)" ||
		fail "read-only destination: exit 2 (found before any work)" "status $st: $(cat "$TMP/err")"
else
	skip "disk full and read-only destination" "needs root and mount namespaces"
fi

# ---- signals mid-write --------------------------------------------------------
"$T/mkst" "$TMP/big.st" "a.weight:F32:4096x4096" "b.weight:F32:4096x4096" || exit 2

# start_job DEST: quantize big.st in the background (-j1) and wait until its
# temporary file exists, i.e. until it is writing
start_job() {
	"$CT_BIN" quantize -j 1 -s W4A16 "$TMP/big.st" "$1" 2>"$TMP/err" &
	JOB=$!
	i=0
	while [ $i -lt 500 ] && [ "$(leftovers "$(dirname "$1")")" = 0 ]; do
		sleep 0.01; i=$((i + 1))
	done
}

for sig in INT TERM HUP; do
	mkdir "$TMP/sig$sig"
	start_job "$TMP/sig$sig/out.st"
	kill -$sig $JOB
	wait $JOB
	st=$?
	[ "$st" -gt 128 ] && [ -z "$(ls -A "$TMP/sig$sig")" ] &&
		pass "SIG$sig mid-write: non-zero exit ($st), temporary file removed, no output" ||
		fail "SIG$sig mid-write: non-zero exit, temporary file removed, no output" "status $st: $(ls -A "$TMP/sig$sig")"
done

# --json: a job a signal stops still prints its one document, saying which
for sig in INT TERM HUP; do
	mkdir "$TMP/json$sig"
	"$CT_BIN" quantize --json -j 1 -s W4A16 "$TMP/big.st" "$TMP/json$sig/out.st" >"$TMP/json.out" 2>"$TMP/err" &
	JOB=$!
	i=0
	while [ $i -lt 500 ] && [ "$(leftovers "$TMP/json$sig")" = 0 ]; do
		sleep 0.01; i=$((i + 1))
	done
	kill -$sig $JOB
	wait $JOB
	st=$?
	docs=$(grep -c '^{' "$TMP/json.out")
	[ "$st" -gt 128 ] && [ "$docs" = 1 ] && grep -q "\"message\": \"stopped by SIG$sig: nothing was written\"" "$TMP/json.out" &&
		grep -q "\"status\": $st" "$TMP/json.out" && grep -q '"ok": false' "$TMP/json.out" &&
		[ -z "$(ls -A "$TMP/json$sig")" ] &&
		pass "--json, SIG$sig mid-write: one document naming the signal, status $st" ||
		fail "--json, SIG$sig mid-write: one document naming the signal" "status $st, $docs documents: $(head -c 300 "$TMP/json.out")"
done

mkdir "$TMP/kill"
start_job "$TMP/kill/out.st"
kill -KILL $JOB
wait $JOB
[ ! -e "$TMP/kill/out.st" ] && pass "SIGKILL mid-write: the destination never exists half-written" ||
	fail "SIGKILL mid-write: the destination never exists half-written"

if [ -d "$FIX" ]; then
	mkdir "$TMP/killdir"
	"$CT_BIN" quantize -j 1 -s W4A16 "$FIX" "$TMP/killdir/out" &
	JOB=$!
	kill -KILL $JOB
	wait $JOB
	[ ! -e "$TMP/killdir/out" ] || [ -f "$TMP/killdir/out/config.json" ] &&
		pass "SIGKILL on a directory job: the destination is absent or complete" ||
		fail "SIGKILL on a directory job: the destination is absent or complete"
fi

# ---- an input truncated after planning: SIGBUS becomes an error ------------------
mkdir "$TMP/bus"
cp "$TMP/big.st" "$TMP/bus/in.st"
"$CT_BIN" quantize -j 1 -s W4A16 "$TMP/bus/in.st" "$TMP/bus/out.st" 2>"$TMP/err" &
JOB=$!
i=0
while [ $i -lt 500 ] && [ "$(leftovers "$TMP/bus")" = 0 ]; do sleep 0.01; i=$((i + 1)); done
truncate -s 4096 "$TMP/bus/in.st"
wait $JOB
st=$?
if [ "$st" = 0 ]; then
	skip "input truncated mid-read" "the job finished before the truncation"
else
	[ "$st" = 4 ] && grep -q 'truncated or changed while being read' "$TMP/err" &&
		pass "input truncated mid-read: exit 4 with a message" ||
		fail "input truncated mid-read: exit 4 with a message" "status $st: $(cat "$TMP/err")"
	[ "$(ls -A "$TMP/bus")" = in.st ] && pass "input truncated mid-read: nothing left behind" ||
		fail "input truncated mid-read: nothing left behind" "$(ls -A "$TMP/bus")"
fi

# ---- output inside the input directory -----------------------------------------
if [ -d "$FIX" ]; then
	cp -r "$FIX" "$TMP/model"
	expect "output inside the input directory" 2 "output is inside the input directory" quantize -s W4A16 "$TMP/model" "$TMP/model/q"
	expect "output equal to the input directory" 2 "output is the input directory" quantize -f -s W4A16 "$TMP/model" "$TMP/model"
fi
finish
