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
mk "$TMP/big.st" "a.weight:F32:4096x4096" "b.weight:F32:4096x4096"
"$T/st_split" "$TMP/big.st" 2 "$TMP/bigdir" >/dev/null || exit 2

# start_stopped DIR ARGS...: runs ctensors ARGS in the background and stops
# it (SIGSTOP) once its temporary output exists in DIR: it has passed every
# check and has not committed. JOB is its pid; STOPPED is 1 when it was
# caught in time (0: it finished first, JOB is already waited for).
start_stopped() {
	dir=$1; shift
	"$CT_BIN" "$@" >"$TMP/job.out" 2>"$TMP/job.err" &
	JOB=$!
	i=0
	while [ $i -lt 2000 ] && [ "$(leftovers "$dir")" = 0 ] && kill -0 $JOB 2>/dev/null; do
		sleep 0.005; i=$((i + 1))
	done
	kill -STOP $JOB 2>/dev/null
	if [ "$(leftovers "$dir")" = 0 ]; then
		kill -CONT $JOB 2>/dev/null
		wait $JOB
		STOPPED=0
	else
		STOPPED=1
	fi
}

# ---- 1. an output may not be, hold or lie inside an input -------------------
mkdir -p "$TMP/p/g"
cp -r "$FIX" "$TMP/p/g/model"
before=$(snap "$TMP/p")
expect "-f onto the parent of the input model" 2 "output contains the input" \
	quantize -f -s W4A16 "$TMP/p/g/model" "$TMP/p/g"
expect "-f onto the grandparent of the input model" 2 "output contains the input" \
	quantize -f -s W4A16 "$TMP/p/g/model" "$TMP/p"
ln -s "$TMP/p/g" "$TMP/glink"
expect "-f onto a symbolic link to the parent" 2 "output contains the input" \
	quantize -f -s W4A16 "$TMP/p/g/model" "$TMP/glink"
ln -s "$TMP/p/g/model" "$TMP/mlink"
expect "-f onto the parent of an input named through a link" 2 "output contains the input" \
	quantize -f -s W4A16 "$TMP/mlink" "$TMP/p/g"
expect "-f onto the parent of an index file input" 2 "output contains the input" \
	quantize -f -s W4A16 "$TMP/p/g/model/model.safetensors.index.json" "$TMP/p/g"
expect "-f onto the model directory of a shard given as input" 2 "output contains the input file" \
	quantize -f -s W4A16 "$TMP/p/g/model/model-00001-of-00002.safetensors" "$TMP/p/g/model"
expect "an output not yet existing, deep inside the input" 2 "output is inside the input directory" \
	quantize -s W4A16 "$TMP/p/g/model" "$TMP/p/g/model/a/b/out"
unchanged "the input model and the directories around it are untouched" "$TMP/p" "$before"
[ ! -e "$TMP/glink" ] || [ -L "$TMP/glink" ] && pass "the link is still a link" || fail "the link is still a link"

# -c FILE is an input too: an earlier output's config.json, replaced with
# the output that holds it
"$CT_BIN" quantize -q -s W8A16 "$FIX" "$TMP/q1" || exit 2
before=$(snap "$TMP/q1")
expect "-f onto the directory holding the -c config" 2 "output contains the config" \
	quantize -f -c "$TMP/q1/config.json" "$FIX" "$TMP/q1"
expect "OUTPUT equal to the -c config" 2 "output is the config" \
	quantize -f -c "$TMP/q1/config.json" "$TMP/a.st" "$TMP/q1/config.json"
unchanged "the config and its directory are untouched" "$TMP/q1" "$before"

# ---- 2. -f replaces only a file or a model directory of the kind written ----
mkdir -p "$TMP/mixed/subdir"
echo mine >"$TMP/mixed/notes.txt"
echo mine >"$TMP/mixed/subdir/f"
cp "$FIX/config.json" "$FIX/model-00001-of-00002.safetensors" "$TMP/mixed/"
before=$(snap "$TMP/mixed")
expect "-f onto a directory holding other files" 2 \
	"mixed/: is a directory holding notes.txt and subdir/, which are not model files (refusing to replace it" \
	quantize -f -s W4A16 "$FIX" "$TMP/mixed"
expect "... and without -f, the same reason" 2 "which are not model files" quantize -s W4A16 "$FIX" "$TMP/mixed"
unchanged "every file and subdirectory of it survives" "$TMP/mixed" "$before"

rm -rf "$TMP/mixed/subdir"
ln -s "$TMP/a.st" "$TMP/mixed/extra.safetensors"
before=$(snap "$TMP/mixed")
expect "-f onto a directory holding a symbolic link" 2 "extra.safetensors (a symbolic link)" \
	quantize -f -s W4A16 "$FIX" "$TMP/mixed"
unchanged "... the link and its target survive" "$TMP/mixed" "$before"
cmp -s "$TMP/a.st" "$TMP/mixed/extra.safetensors" && pass "... the link's target is intact" || fail "... the link's target is intact"

mkdir "$TMP/empty"
expect "-f onto an empty directory" 2 "is an empty directory without *.safetensors" quantize -f -s W4A16 "$FIX" "$TMP/empty"
mkdir "$TMP/noweights"
cp "$FIX/config.json" "$FIX/tokenizer.json" "$TMP/noweights/"
expect "-f onto a directory without weights" 2 "without *.safetensors or an index, not a model directory" \
	quantize -f -s W4A16 "$FIX" "$TMP/noweights"
[ -d "$TMP/empty" ] && [ -f "$TMP/noweights/tokenizer.json" ] && pass "... both survive" || fail "... both survive"

echo mine >"$TMP/q1/notes.txt"
before=$(snap "$TMP/q1")
expect "-f onto an earlier output someone added notes to" 2 "holding notes.txt, which is not a model file" \
	quantize -f -s W4A16 "$FIX" "$TMP/q1"
unchanged "... it is untouched" "$TMP/q1" "$before"
rm "$TMP/q1/notes.txt"
expect "-f onto an earlier output (a model directory)" 0 "" quantize -q -f -s W4A16 "$FIX" "$TMP/q1"
grep -q '"num_bits": 4' "$TMP/q1/config.json" && ckpt_ok "... is replaced by the new one" "$TMP/q1"

# what the input directory holds besides the model is copied, and accepted
# when the same job runs again
cp -r "$FIX" "$TMP/withnotes"
echo notes >"$TMP/withnotes/notes.txt"
expect "a model with a notes file" 0 "" quantize -q -s W4A16 "$TMP/withnotes" "$TMP/wn"
expect "... -f again onto its output, which holds the copied notes" 0 "" quantize -q -f -s W4A16 "$TMP/withnotes" "$TMP/wn"
cmp -s "$TMP/withnotes/notes.txt" "$TMP/wn/notes.txt" && pass "... the notes are copied" || fail "... the notes are copied"

mkdir "$TMP/dirout"
cp "$FIX/model-00001-of-00002.safetensors" "$TMP/dirout/"
before=$(snap "$TMP/dirout")
expect "a file input onto an existing directory, -f" 2 "is a directory, but the output of a file is a file" \
	quantize -f -s W4A16 "$TMP/a.st" "$TMP/dirout"
expect "a file input onto an existing directory" 2 "is a directory, but the output of a file is a file" \
	quantize -s W4A16 "$TMP/a.st" "$TMP/dirout"
unchanged "... the directory is untouched" "$TMP/dirout" "$before"
echo mine >"$TMP/plain.st"
expect "a directory input onto an existing file, -f" 2 "is a file, but the output of a model directory is a directory" \
	quantize -f -s W4A16 "$FIX" "$TMP/plain.st"
[ "$(cat "$TMP/plain.st")" = mine ] && pass "... the file is untouched" || fail "... the file is untouched"
echo target >"$TMP/target.st"
ln -s "$TMP/target.st" "$TMP/sym.st"
expect "-f onto a symbolic link" 2 "is a symbolic link (refusing to replace it" quantize -f -s W4A16 "$TMP/a.st" "$TMP/sym.st"
[ -L "$TMP/sym.st" ] && [ "$(cat "$TMP/target.st")" = target ] && pass "... the link and its target are untouched" ||
	fail "... the link and its target are untouched"
expect "-f onto an earlier file output" 0 "" quantize -q -f -s W4A16 "$TMP/a.st" "$TMP/plain.st"
ckpt_ok "... is replaced by the new file" "$TMP/plain.st"

# ---- 3. devices, FIFOs, sockets: never replaced as outputs, never waited on as inputs
# timeout(1) around ctensors: a run that waits on a FIFO fails with 124
REAL_BIN=$CT_BIN
printf '#!/bin/sh\nexec timeout 10 "%s" "$@"\n' "$REAL_BIN" >"$TMP/ct-timeout"
chmod +x "$TMP/ct-timeout"
CT_BIN=$TMP/ct-timeout
mkfifo "$TMP/fifo.st"
expect "a FIFO as OUTPUT" 2 "fifo.st: is a FIFO (refusing to replace it" quantize -s W4A16 "$TMP/a.st" "$TMP/fifo.st"
expect "a FIFO as OUTPUT, -f" 2 "fifo.st: is a FIFO (refusing to replace it" quantize -f -s W4A16 "$TMP/a.st" "$TMP/fifo.st"
[ -p "$TMP/fifo.st" ] && pass "... it is still a FIFO" || fail "... it is still a FIFO"
if [ "$(id -u)" = 0 ] && mknod "$TMP/null" c 1 3 2>/dev/null; then
	expect "a character device as OUTPUT, -f" 2 "null: is a character device (refusing to replace it" \
		quantize -f -s W4A16 "$TMP/a.st" "$TMP/null"
	[ -c "$TMP/null" ] && pass "... it is still a character device" || fail "... it is still a character device"
else
	skip "a character device as OUTPUT" "mknod needs root"
fi
if command -v python3 >/dev/null 2>&1 &&
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/sock" 2>/dev/null; then
	expect "a socket as OUTPUT, -f" 2 "sock: is a socket (refusing to replace it" quantize -f -s W4A16 "$TMP/a.st" "$TMP/sock"
	[ -S "$TMP/sock" ] && pass "... it is still a socket" || fail "... it is still a socket"
else
	skip "a socket as OUTPUT" "python3 cannot make one"
fi

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

# ---- 4. commit without replacing: an output that appears meanwhile is kept ----
# race NAME SETUP ARGS...: stops a job before its commit, runs
# SETUP (which makes the destination appear), lets the job go on
race() {
	name=$1 setup=$2; shift 2
	attempt=0
	while [ $attempt -lt 5 ]; do
		attempt=$((attempt + 1))
		rm -rf "$TMP/race"; mkdir "$TMP/race"
		start_stopped "$TMP/race" "$@"
		[ "$STOPPED" = 1 ] && break
	done
	if [ "$STOPPED" != 1 ]; then
		fail "$name" "the job always finished before it could be stopped"
		return
	fi
	eval "$setup"
	before=$(snap "$TMP/race/out")
	kill -CONT $JOB
	wait $JOB
	st=$?
	[ "$st" = 2 ] && grep -q "nothing replaced" "$TMP/job.err" && pass "$name: exit 2, nothing replaced" ||
		fail "$name: exit 2, nothing replaced" "status $st: $(cat "$TMP/job.err")"
	unchanged "$name: what appeared is intact" "$TMP/race/out" "$before"
	[ "$(leftovers "$TMP/race")" = 0 ] && pass "$name: the temporary output is removed" ||
		fail "$name: the temporary output is removed" "$(ls -A "$TMP/race")"
}
race "a file that appears while writing" 'echo mine >"$TMP/race/out"' \
	quantize -j 1 -s NVFP4A16 "$TMP/big.st" "$TMP/race/out"
race "-f, and a file that appears while writing" 'echo mine >"$TMP/race/out"' \
	quantize -f -j 1 -s NVFP4A16 "$TMP/big.st" "$TMP/race/out"
race "a directory that appears while writing" 'mkdir "$TMP/race/out"; echo mine >"$TMP/race/out/notes.txt"' \
	quantize -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/race/out"
race "-f, and a model directory that appears while writing" 'cp -r "$FIX" "$TMP/race/out"' \
	quantize -f -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/race/out"

# -f onto an existing file that someone else replaces meanwhile
rm -rf "$TMP/race"; mkdir "$TMP/race"
echo old >"$TMP/race/out"
start_stopped "$TMP/race" quantize -f -j 1 -s NVFP4A16 "$TMP/big.st" "$TMP/race/out"
if [ "$STOPPED" = 1 ]; then
	echo new >"$TMP/race/new" && mv "$TMP/race/new" "$TMP/race/out"
	kill -CONT $JOB; wait $JOB; st=$?
	[ "$st" = 2 ] && grep -q "was replaced by another file while writing; nothing replaced" "$TMP/job.err" &&
		[ "$(cat "$TMP/race/out")" = new ] && pass "-f onto a file replaced meanwhile: exit 2, the new one kept" ||
		fail "-f onto a file replaced meanwhile: exit 2, the new one kept" "status $st: $(cat "$TMP/job.err")"
else
	skip "-f onto a file replaced meanwhile" "the job finished before it could be stopped"
fi

# -f onto an earlier output that someone adds a file to meanwhile
rm -rf "$TMP/race"; mkdir "$TMP/race"
"$CT_BIN" quantize -q -s W4A16 "$TMP/bigdir" "$TMP/race/out" || exit 2
start_stopped "$TMP/race" quantize -f -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/race/out"
if [ "$STOPPED" = 1 ]; then
	echo mine >"$TMP/race/out/notes.txt"
	before=$(snap "$TMP/race/out")
	kill -CONT $JOB; wait $JOB; st=$?
	[ "$st" = 2 ] && grep -q "holding notes.txt, which is not a model file" "$TMP/job.err" &&
		pass "-f onto a directory that gains a file meanwhile: exit 2" ||
		fail "-f onto a directory that gains a file meanwhile: exit 2" "status $st: $(cat "$TMP/job.err")"
	unchanged "... the directory and the new file are untouched" "$TMP/race/out" "$before"
	[ "$(leftovers "$TMP/race")" = 0 ] && pass "... nothing else is left" || fail "... nothing else is left" "$(ls -A "$TMP/race")"
else
	skip "-f onto a directory that gains a file meanwhile" "the job finished before it could be stopped"
fi

# two runs racing for one OUTPUT: exactly one wins, the other leaves it be
rm -rf "$TMP/race"; mkdir "$TMP/race"
start_stopped "$TMP/race" quantize -q -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/race/out"
A=$JOB
"$CT_BIN" quantize -q -j 1 -s W4A16 "$TMP/bigdir" "$TMP/race/out" 2>"$TMP/b.err" &
B=$!
[ "$STOPPED" = 1 ] && sleep 0.2
kill -CONT $A 2>/dev/null
wait $A; sa=$?
wait $B; sb=$?
{ [ "$sa" = 0 ] && [ "$sb" = 2 ]; } || { [ "$sa" = 2 ] && [ "$sb" = 0 ]; } &&
	pass "two runs for one OUTPUT: one succeeds, the other exits 2" ||
	fail "two runs for one OUTPUT: one succeeds, the other exits 2" "statuses $sa and $sb: $(cat "$TMP/job.err" "$TMP/b.err")"
ckpt_ok "... the winner's output is intact" "$TMP/race/out"
[ "$(leftovers "$TMP/race")" = 0 ] && pass "... nothing else is left" || fail "... nothing else is left" "$(ls -A "$TMP/race")"

# ---- 5. signals: every catchable terminating one cleans up, then kills ------
for sig in ALRM XCPU USR1 USR2 VTALRM PROF QUIT TERM INT HUP; do
	rm -rf "$TMP/sig"; mkdir "$TMP/sig"
	start_stopped "$TMP/sig" quantize -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/sig/out"
	if [ "$STOPPED" != 1 ]; then
		fail "SIG$sig mid-write" "the job finished before it could be stopped"
		continue
	fi
	kill -$sig $JOB
	kill -CONT $JOB
	wait $JOB
	st=$?
	[ "$st" -gt 128 ] && [ "$(kill -l $st)" = "$sig" ] && [ -z "$(ls -A "$TMP/sig")" ] &&
		pass "SIG$sig mid-write: killed by SIG$sig, the temporary directory removed" ||
		fail "SIG$sig mid-write: killed by SIG$sig, the temporary directory removed" "status $st: $(ls -A "$TMP/sig"/* "$TMP/sig")"
done

# a reader that goes away: SIGPIPE is ignored, the write fails (EPIPE) and
# the job stops with exit 4, cleaned up, printing nothing more
rm -rf "$TMP/pipe"; mkdir "$TMP/pipe"
( sleep 1; "$CT_BIN" quantize -v -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/pipe/out" 2>&1 >/dev/null; echo $? >"$TMP/pipe.st" ) | true
[ "$(cat "$TMP/pipe.st")" = 4 ] && [ -z "$(ls -A "$TMP/pipe")" ] &&
	pass "-v into a closed pipe: exit 4, nothing left" || fail "-v into a closed pipe: exit 4, nothing left" "status $(cat "$TMP/pipe.st"): $(ls -A "$TMP/pipe")"
rm -rf "$TMP/pipe"; mkdir "$TMP/pipe"
( "$CT_BIN" quantize -v -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/pipe/out" 2>&1; echo $? >"$TMP/pipe.st" ) | head -n 1 >/dev/null
st=$(cat "$TMP/pipe.st")
{ [ "$st" = 4 ] && [ -z "$(ls -A "$TMP/pipe")" ]; } || { [ "$st" = 0 ] && [ -f "$TMP/pipe/out/config.json" ] && [ "$(leftovers "$TMP/pipe")" = 0 ]; } &&
	pass "-v | head -1: exit 4 and nothing left, or a complete output" ||
	fail "-v | head -1: exit 4 and nothing left, or a complete output" "status $st: $(ls -A "$TMP/pipe")"
( sleep 1; "$CT_BIN" inspect "$FIX" 2>"$TMP/pipe.err"; echo $? >"$TMP/pipe.st" ) | true
[ "$(cat "$TMP/pipe.st")" = 4 ] && [ ! -s "$TMP/pipe.err" ] &&
	pass "inspect into a closed pipe: exit 4, no message" || fail "inspect into a closed pipe: exit 4, no message" "status $(cat "$TMP/pipe.st"): $(cat "$TMP/pipe.err")"
"$CT_BIN" inspect "$FIX" >/dev/full 2>"$TMP/full.err"
st=$?
[ "$st" = 4 ] && [ "$(wc -l <"$TMP/full.err")" = 1 ] && grep -q 'standard output: No space left on device' "$TMP/full.err" &&
	pass "inspect onto a full device: exit 4 with a message" || fail "inspect onto a full device: exit 4 with a message" "status $st: $(cat "$TMP/full.err")"

# SIGKILL cannot be caught: the next run into the same directory names
# what it left, with the dead pid in its name, and does not delete it
rm -rf "$TMP/stale"; mkdir "$TMP/stale"
start_stopped "$TMP/stale" quantize -j 1 -s NVFP4A16 "$TMP/bigdir" "$TMP/stale/out"
kill -KILL $JOB
kill -CONT $JOB 2>/dev/null
wait $JOB
left=$(ls -A "$TMP/stale" | grep ctensors-tmp)
case $left in
*.ctensors-tmp-$JOB-??????) pass "a killed run's temporary directory carries its pid ($left)" ;;
*) fail "a killed run's temporary directory carries its pid" "$left" ;;
esac
expect "the next run warns of the leftover" 0 "stale/$left: left by an interrupted ctensors run (process $JOB no longer runs); it can be removed" \
	quantize -s W4A16 "$TMP/a.st" "$TMP/stale/other.st"
[ -d "$TMP/stale/$left" ] && pass "... and leaves it where it is" || fail "... and leaves it where it is"
expect "-q silences the warning" 0 "" quantize -q -s W4A16 "$TMP/a.st" "$TMP/stale/third.st"
[ ! -s "$TMP/err" ] && pass "... nothing on stderr" || fail "... nothing on stderr" "$(cat "$TMP/err")"

# ---- 6. modes follow the umask ----------------------------------------------
for m in 022:644:755 077:600:700 002:664:775; do
	u=${m%%:*}; rest=${m#*:}; fm=${rest%%:*}; dm=${rest#*:}
	rm -rf "$TMP/um"; mkdir "$TMP/um"
	( umask $u; "$CT_BIN" quantize -q -s W4A16 "$TMP/a.st" "$TMP/um/out.st" &&
		"$CT_BIN" quantize -q -s W4A16 "$FIX" "$TMP/um/dir" &&
		"$CT_BIN" quantize -q -f -s W8A16 "$TMP/a.st" "$TMP/um/out.st" )
	got="$(stat -c %a "$TMP/um/out.st") $(stat -c %a "$TMP/um/dir") $(stat -c %a "$TMP/um/dir/config.json") $(stat -c %a "$TMP/um/dir/model-00001-of-00002.safetensors")"
	[ "$got" = "$fm $dm $fm $fm" ] && pass "umask $u: files $fm, directories $dm" ||
		fail "umask $u: files $fm, directories $dm" "file, dir, config, shard: $got"
done

# ---- 7. errors that can be known before the work are found before it --------
expect "an empty OUTPUT" 2 "OUTPUT is empty" quantize -s W4A16 "$TMP/a.st" ""
expect "a missing parent directory" 2 "nodir does not exist (create it first)" quantize -s W4A16 "$TMP/a.st" "$TMP/nodir/out.st"
expect "a parent that is a file" 2 "plain.st is a file, not a directory" quantize -s W4A16 "$TMP/a.st" "$TMP/plain.st/out.st"
expect "'..' as OUTPUT" 2 "give OUTPUT its own name" quantize -f -s W4A16 "$FIX" "$TMP/q1/.."
# a NaN found by NVFP4's planning pass (exit 3) comes after the output check
mk "$TMP/nvnan.st" "x.weight:BF16:4x32:nan"
expect "the output is checked before planning" 2 "does not exist" quantize -s NVFP4A16 "$TMP/nvnan.st" "$TMP/nodir/out.st"
expect "... and before compress reads the weights" 2 "does not exist" compress -F sparse-bitmask "$TMP/a.st" "$TMP/nodir/out.st"
expect "... and before decompress plans" 2 "does not exist" decompress -c "$TMP/q1/config.json" "$TMP/a.st" "$TMP/nodir/out.st"
if [ "$(id -u)" = 0 ] && unshare -r true 2>/dev/null; then
	# root in a user namespace has no power over a directory owned by an
	# unmapped user: an unwritable parent, as for anyone else
	mkdir "$TMP/notmine"; chown 12345 "$TMP/notmine"; chmod 755 "$TMP/notmine"
	unshare -r "$CT_BIN" quantize -s NVFP4A16 "$TMP/nvnan.st" "$TMP/notmine/out.st" >"$TMP/out" 2>"$TMP/err"
	st=$?
	[ "$st" = 2 ] && grep -q 'cannot create files in .*notmine: Permission denied' "$TMP/err" &&
		pass "an unwritable parent: exit 2 before planning" || fail "an unwritable parent: exit 2 before planning" "status $st: $(cat "$TMP/err")"
	mkdir "$TMP/ro"
	unshare -rm sh -c 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" quantize -s NVFP4A16 "$3" "$1/out.st"' \
		sh "$TMP/ro" "$CT_BIN" "$TMP/nvnan.st" >"$TMP/out" 2>"$TMP/err"
	st=$?
	[ "$st" = 2 ] && grep -q 'Read-only file system' "$TMP/err" &&
		pass "a read-only parent: exit 2 before planning" || fail "a read-only parent: exit 2 before planning" "status $st: $(cat "$TMP/err")"
else
	skip "unwritable and read-only parents" "need root and user namespaces"
fi

# descriptors do not grow with the shards: 99 shards under ulimit -n 64
# st_split deals modules by a hash whose value mod 99 depends on the last
# two characters of the module name: vary both
specs=
for i in 0 1 2; do
	for c in a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z 0 1 2 3 4 5 6 7 8 9; do
		specs="$specs m.l$i$c.weight:BF16:16x128"
	done
done
# shellcheck disable=SC2086
mk "$TMP/many.st" $specs
"$T/st_split" "$TMP/many.st" 99 "$TMP/many" >/dev/null || exit 2
n=$(grep -o 'model-[0-9]*-of-00099' "$TMP/many/model.safetensors.index.json" | sort -u | wc -l)
[ "$n" -gt 64 ] && pass "the input has more shards than descriptors ($n)" || fail "the input has more shards than descriptors" "$n"
( ulimit -n 64; exec "$CT_BIN" quantize -q -j 4 -s W4A16 "$TMP/many" "$TMP/many-q" ) >"$TMP/out" 2>"$TMP/err"
st=$?
[ "$st" = 0 ] && pass "ulimit -n 64, 99 shards: quantize succeeds" || fail "ulimit -n 64, 99 shards: quantize succeeds" "status $st: $(cat "$TMP/err")"
ckpt_ok "... and its output verifies" "$TMP/many-q"
( ulimit -n 64; exec "$CT_BIN" decompress -q -j 4 "$TMP/many-q" "$TMP/many-d" ) >"$TMP/out" 2>"$TMP/err" &&
	"$CT_BIN" verify -q "$TMP/many-d" >/dev/null 2>&1 &&
	pass "... and decompresses under the same limit" || fail "... and decompresses under the same limit" "$(cat "$TMP/err")"
# more files than the old registry of 4096 temporary paths held
i=0
while [ $i -lt 4200 ]; do : >"$TMP/many/extra-$i.txt"; i=$((i + 1)); done
( ulimit -n 64; exec "$CT_BIN" quantize -q -f -s W4A16 "$TMP/many" "$TMP/many-q" ) >"$TMP/out" 2>"$TMP/err"
st=$?
[ "$st" = 0 ] && [ "$(ls "$TMP/many-q" | grep -c '^extra-')" = 4200 ] &&
	pass "4200 other files under ulimit -n 64: all copied" || fail "4200 other files under ulimit -n 64: all copied" "status $st: $(cat "$TMP/err")"
rm -f "$TMP/many"/extra-*.txt
rm -rf "$TMP/lim"; mkdir "$TMP/lim"
( ulimit -n 12; exec "$CT_BIN" quantize -s W4A16 "$TMP/many" "$TMP/lim/out" ) >"$TMP/out" 2>"$TMP/err"
st=$?
[ "$st" = 4 ] && grep -q 'the open-file limit (ulimit -n) is 12; ctensors needs at least 20' "$TMP/err" && [ -z "$(ls -A "$TMP/lim")" ] &&
	pass "ulimit -n 12: refused up front, the limit named" || fail "ulimit -n 12: refused up front, the limit named" "status $st: $(cat "$TMP/err")"
# ---- -f onto a mount point: refused before any work ------------------------
# rename(2) and rmdir(2)/unlink(2) fail with EBUSY on a mount point, so it can
# be neither replaced nor removed: refused up front (exit 2) with advice that
# fits, told by st_dev against the parent, or by statx(2)'s
# STATX_ATTR_MOUNT_ROOT for a bind mount of the same file system
MNT="$TMP/mnt"
mkdir -p "$MNT/tm" "$MNT/bd" "$MNT/bdsrc" "$MNT/holds"
: >"$MNT/bf.st"
mounts=
# every mount under $TMP is undone, wherever a failing build moved it
umount_all() {
	for m in $(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null
	done
}
trap 'umount_all; rm -rf "$TMP"' EXIT
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=8m ctensors-test "$MNT/tm" 2>/dev/null; then
	mounts="$MNT/tm"
	mk "$MNT/bfsrc.st" "y.weight:BF16:16x128"
	mount --bind "$MNT/bfsrc.st" "$MNT/bf.st" 2>/dev/null && mounts="$MNT/bf.st $mounts"
	cp -r "$FIX/." "$MNT/bdsrc/" && mount --bind "$MNT/bdsrc" "$MNT/bd" 2>/dev/null && mounts="$MNT/bd $mounts"
	cp "$FIX"/*.safetensors "$MNT/holds/" && mk "$MNT/holds-b.st" "x.weight:BF16:16x128" && : >"$MNT/holds/model.safetensors" &&
		mount --bind "$MNT/holds-b.st" "$MNT/holds/model.safetensors" 2>/dev/null &&
		mounts="$MNT/holds/model.safetensors $mounts"
	cp -r "$FIX/." "$MNT/tm/"
	ls -A "$MNT/tm" >"$TMP/tm-before"
	expect "-f onto a mount point (tmpfs): refused" 2 \
		"$MNT/tm: is a mount point, which cannot be removed or replaced by a rename (refusing to replace it; write into it under a new name, as $MNT/tm/NAME, or unmount it)" \
		quantize -f -s W4A16 "$FIX" "$MNT/tm"
	[ ! -s "$TMP/out" ] && ls -A "$MNT/tm" | cmp -s - "$TMP/tm-before" && ! ls -A "$MNT" | grep -q ctensors &&
		pass "... before any work: nothing planned, nothing written, the mount untouched" ||
		fail "... before any work: nothing planned, nothing written, the mount untouched" "$(head -2 "$TMP/out"; ls -A "$MNT")"
	expect "a mount point without -f: the same advice, not --force" 2 "$MNT/tm: is a mount point" \
		quantize -s W4A16 "$FIX" "$MNT/tm"
	! grep -q -- '--force' "$TMP/err" && pass "... no --force advice" || fail "... no --force advice" "$(cat "$TMP/err")"
	expect "a file output onto a mount point" 2 "$MNT/tm: is a mount point" \
		quantize -f -s W4A16 "$TMP/a.st" "$MNT/tm"
	expect "a quantized copy to decompress" 0 "" quantize -q -s W4A16 "$FIX" "$MNT/q"
	expect "decompress -f onto a mount point" 2 "$MNT/tm: is a mount point" \
		decompress -f "$MNT/q" "$MNT/tm"
	expect "written into the mount point under a new name" 0 "" quantize -q -s W4A16 "$FIX" "$MNT/tm/new"
	ckpt_ok "... and it verifies" "$MNT/tm/new"
	case " $mounts " in
	*" $MNT/bf.st "*)
		expect "-f onto a bind-mounted file" 2 \
			"$MNT/bf.st: is a file mounted there, which cannot be removed or replaced by a rename (refusing to replace it; choose another OUTPUT, or unmount it)" \
			quantize -f -s W4A16 "$TMP/a.st" "$MNT/bf.st" ;;
	*) skip "-f onto a bind-mounted file" "mount --bind of a file is not permitted here" ;;
	esac
	case " $mounts " in
	*" $MNT/bd "*)
		expect "-f onto a bind mount of the same file system (statx)" 2 "$MNT/bd: is a mount point" \
			quantize -f -s W4A16 "$FIX" "$MNT/bd" ;;
	*) skip "-f onto a bind mount of the same file system" "mount --bind is not permitted here" ;;
	esac
	case " $mounts " in
	*" $MNT/holds/model.safetensors "*)
		expect "-f onto a model directory holding a mount point" 2 \
			"$MNT/holds/: holds model.safetensors, a mount point, which cannot be removed with it (refusing to replace it; unmount $MNT/holds/model.safetensors or choose another OUTPUT)" \
			quantize -f -s W4A16 "$FIX" "$MNT/holds" ;;
	*) skip "-f onto a directory holding a mount point" "mount --bind of a file is not permitted here" ;;
	esac
	umount_all
	mounts=
else
	skip "-f onto a mount point" "mounting a tmpfs is not permitted here (needs root)"
fi
finish
