#!/bin/sh
# tests/parts.sh - one checkpoint split over the jobs of a scheduler
# (--part K/N, --finalize; issue #16): GNU parallel, a simulated Slurm
# array and a Kubernetes indexed Job give, after --finalize, the bytes of a
# single run; an unfinished output is refused by inspect and verify; a
# missing, damaged or foreign slice makes --finalize fail naming it; jobs
# are idempotent and safe to race.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the test tools directory}
J="$T/jget"
C=$CT_BIN
# the schedulers' variables are set by hand below, never inherited
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX SLURM_ARRAY_TASK_COUNT \
	SLURM_ARRAY_TASK_STEP JOB_COMPLETION_INDEX

# ---- the fixture: 5 shards, q/k/v and gate/up of each layer spread over them
specs="model.embed_tokens.weight:BF16:512x256 model.norm.weight:BF16:256 lm_head.weight:BF16:512x256"
for l in 0 1; do
	p=model.layers.$l
	specs="$specs $p.input_layernorm.weight:BF16:256 $p.post_attention_layernorm.weight:BF16:256"
	specs="$specs $p.self_attn.q_proj.weight:BF16:256x256 $p.self_attn.k_proj.weight:BF16:128x256"
	specs="$specs $p.self_attn.v_proj.weight:BF16:128x256 $p.self_attn.o_proj.weight:BF16:256x256"
	specs="$specs $p.mlp.gate_proj.weight:BF16:512x256 $p.mlp.up_proj.weight:BF16:512x256"
	specs="$specs $p.mlp.down_proj.weight:BF16:256x512"
done
# shellcheck disable=SC2086
"$T/mkst" "$TMP/all.st" $specs || exit 2
"$T/st_split" "$TMP/all.st" 5 "$TMP/in" >/dev/null || exit 2
IN=$TMP/in

shard_of() { grep "\"$1\"" "$IN/model.safetensors.index.json" | sed 's/.*: "\(.*\)".*/\1/'; }
spread=yes
for l in 0 1; do
	p=model.layers.$l
	q=$(shard_of $p.self_attn.q_proj.weight); k=$(shard_of $p.self_attn.k_proj.weight)
	v=$(shard_of $p.self_attn.v_proj.weight)
	g=$(shard_of $p.mlp.gate_proj.weight); u=$(shard_of $p.mlp.up_proj.weight)
	{ [ "$q" = "$k" ] && [ "$k" = "$v" ]; } && spread=no
	[ "$g" = "$u" ] && spread=no
done
[ "$spread" = yes ] && pass "fixture: q/k/v and gate/up of every layer lie in different shards" ||
	fail "fixture: q/k/v and gate/up of every layer lie in different shards"

# same_dir NAME A B: the same file names, each byte for byte, and no staging left
same_dir() {
	why=""
	[ -e "$3/.ctensors-parts" ] && why="$3/.ctensors-parts is left"
	[ "$(ls "$2")" = "$(ls "$3")" ] || why="$why files differ: $(ls "$2" | tr '\n' ' ') vs $(ls "$3" | tr '\n' ' ')"
	for f in "$2"/*; do
		cmp -s "$f" "$3/$(basename "$f")" || why="$why $(basename "$f") differs"
	done
	[ -z "$why" ] && pass "$1" || fail "$1" "$why"
}

# ---- GNU parallel, N = 1, 3, 4, for W4A16 and NVFP4A16 ----------------------
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
	PARALLEL="parallel -j 4"
else
	skip "GNU parallel" "not installed (apt-get install parallel): the jobs run under xargs -P 4"
	PARALLEL="xargs -P 4 -I{}"
fi
for scheme in W4A16 NVFP4A16; do
	"$C" quantize -s "$scheme" -q "$IN" "$TMP/ref-$scheme" || exit 2
	for n in 1 3 4; do
		out=$TMP/out-$scheme-$n
		# every slice but 2 (for N = 1, every slice)
		skip_k=2; [ "$n" = 1 ] && skip_k=0
		seq 1 "$n" | grep -vx "$skip_k" |
			$PARALLEL "$C" quantize -s "$scheme" -q -j 1 --part "{}/$n" "$IN" "$out" \
				>"$TMP/par.out" 2>"$TMP/par.err"
		[ $? = 0 ] && pass "$scheme N=$n: parallel jobs succeed" ||
			fail "$scheme N=$n: parallel jobs succeed" "$(head -c 300 "$TMP/par.err")"
		[ ! -e "$out/model.safetensors.index.json" ] && [ ! -e "$out/config.json" ] &&
			pass "$scheme N=$n: no index nor config.json before --finalize" ||
			fail "$scheme N=$n: no index nor config.json before --finalize"
		if [ "$n" = 1 ]; then
			expect "$scheme N=1: verify refuses the unfinished output" 3 \
				"all 1 slices are written but not finalized" verify "$out"
		else
			expect "$scheme N=$n: verify refuses it, saying how many slices are missing" 3 \
				"1 of $n slices missing" verify "$out"
			expect "$scheme N=$n: inspect refuses it too" 3 "1 of $n slices missing" inspect "$out"
			expect "$scheme N=$n: --finalize names the missing slice" 3 \
				"slice 2/$n is missing" quantize -s "$scheme" --finalize "$IN" "$out"
			expect "$scheme N=$n: rerunning the missing slice" 0 "" \
				quantize -s "$scheme" -q --part "2/$n" "$IN" "$out"
		fi
		expect "$scheme N=$n: --finalize" 0 "finalized: $n slices" \
			quantize -s "$scheme" --finalize "$IN" "$out"
		same_dir "$scheme N=$n: the output equals a single run byte for byte" \
			"$TMP/ref-$scheme" "$out"
		expect "$scheme N=$n: verify passes after --finalize" 0 "" verify -q "$out"
	done
done

# ---- schedulers' variables --------------------------------------------------
slurm() { # MIN MAX ID: one task of a simulated array
	SLURM_ARRAY_TASK_MIN=$1 SLURM_ARRAY_TASK_MAX=$2 SLURM_ARRAY_TASK_ID=$3 \
		SLURM_ARRAY_TASK_COUNT=$(($2 - $1 + 1)) SLURM_ARRAY_TASK_STEP=1 \
		"$C" quantize -s NVFP4A16 -q --part slurm "$IN" "$4"
}
ok=yes
for id in 0 1 2 3; do slurm 0 3 $id "$TMP/slurm0" || ok=no; done
[ $ok = yes ] && "$C" quantize -s NVFP4A16 -q --finalize "$IN" "$TMP/slurm0" || ok=no
[ $ok = yes ] && pass "Slurm array 0-3: every task and the finalize job succeed" ||
	fail "Slurm array 0-3: every task and the finalize job succeed"
same_dir "Slurm array 0-3 gives the single run's bytes" "$TMP/ref-NVFP4A16" "$TMP/slurm0"
ok=yes
for id in 4 2 3 1; do slurm 1 4 $id "$TMP/slurm1" || ok=no; done
[ $ok = yes ] && "$C" quantize -s NVFP4A16 -q --finalize "$IN" "$TMP/slurm1" || ok=no
[ $ok = yes ] && pass "Slurm array 1-4 (1-based): every task succeeds" ||
	fail "Slurm array 1-4 (1-based): every task succeeds"
same_dir "Slurm array 1-4 gives the single run's bytes" "$TMP/ref-NVFP4A16" "$TMP/slurm1"
SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=4 SLURM_ARRAY_TASK_ID=2 \
	"$C" quantize -s NVFP4A16 --dry-run --part slurm "$IN" "$TMP/x" >"$TMP/out" 2>&1
grep -q '^slice 2/4:' "$TMP/out" && pass "Slurm: K = ID - MIN + 1, N = MAX - MIN + 1" ||
	fail "Slurm: K = ID - MIN + 1, N = MAX - MIN + 1" "$(head -c 200 "$TMP/out")"
SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=6 SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_ID=4 \
	SLURM_ARRAY_TASK_COUNT=4 "$C" quantize -s NVFP4A16 --dry-run --part slurm "$IN" "$TMP/x" \
	>"$TMP/out" 2>&1
grep -q '^slice 3/4:' "$TMP/out" && pass "Slurm: an array with a step (0-6:2)" ||
	fail "Slurm: an array with a step (0-6:2)" "$(head -c 200 "$TMP/out")"
export SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=7 SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3
expect "Slurm: an array that is no range is refused" 2 "not one range" \
	quantize -s NVFP4A16 --part slurm "$IN" "$TMP/x"
SLURM_ARRAY_TASK_MAX=3 SLURM_ARRAY_TASK_STEP=0 SLURM_ARRAY_TASK_COUNT=3 \
	expect "Slurm: a step of 0 says a step must be at least 1" 2 \
	"--part slurm: SLURM_ARRAY_TASK_STEP is '0': a step must be at least 1 (sbatch --array=MIN-MAX:STEP)" \
	quantize -s NVFP4A16 --part slurm "$IN" "$TMP/x"
SLURM_ARRAY_TASK_MAX=3 SLURM_ARRAY_TASK_STEP=x SLURM_ARRAY_TASK_COUNT=3 \
	expect "Slurm: a step that is no integer" 2 "SLURM_ARRAY_TASK_STEP is 'x', not a non-negative integer" \
	quantize -s NVFP4A16 --part slurm "$IN" "$TMP/x"
unset SLURM_ARRAY_TASK_ID
expect "Slurm: outside an array is a usage error" 2 \
	"SLURM_ARRAY_TASK_ID is not set" quantize -s NVFP4A16 --part slurm "$IN" "$TMP/x"
unset SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_MAX SLURM_ARRAY_TASK_COUNT
ok=yes
for i in 0 1 2; do
	JOB_COMPLETION_INDEX=$i "$C" quantize -s W4A16 -q --part k8s --parts 3 "$IN" "$TMP/k8s" || ok=no
done
[ $ok = yes ] && "$C" quantize -s W4A16 -q --finalize --parts 3 "$IN" "$TMP/k8s" || ok=no
[ $ok = yes ] && pass "Kubernetes indexed Job: 3 pods and the finalize succeed" ||
	fail "Kubernetes indexed Job: 3 pods and the finalize succeed"
same_dir "Kubernetes indexed Job gives the single run's bytes" "$TMP/ref-W4A16" "$TMP/k8s"
export JOB_COMPLETION_INDEX=0
expect "k8s without --parts is a usage error" 2 "--parts N" \
	quantize -s W4A16 --part k8s "$IN" "$TMP/x"
JOB_COMPLETION_INDEX=3
expect "k8s: an index beyond --parts" 2 "not below --parts 3" \
	quantize -s W4A16 --part k8s --parts 3 "$IN" "$TMP/x"
unset JOB_COMPLETION_INDEX

# ---- idempotent, safe to race ----------------------------------------------
out=$TMP/idem
"$C" quantize -s NVFP4A16 -q --part 1/3 "$IN" "$out" &&
	"$C" quantize -s NVFP4A16 -q --part 2/3 "$IN" "$out" || exit 2
cp -p "$out"/*.safetensors "$TMP/" 2>/dev/null
ls -l --time-style=+%s.%N "$out" >"$TMP/before"
expect "rerunning a finished slice is a no-op" 0 "slice 1/3 is already written; nothing to do" \
	quantize -s NVFP4A16 --part 1/3 "$IN" "$out"
ls -l --time-style=+%s.%N "$out" >"$TMP/after"
cmp -s "$TMP/before" "$TMP/after" && pass "... which leaves every file as it was" ||
	fail "... which leaves every file as it was"
# two jobs of slice 3 at once: both succeed, no temporary file stays
"$C" quantize -s NVFP4A16 -q -j 1 --part 3/3 "$IN" "$out" & p1=$!
"$C" quantize -s NVFP4A16 -q -j 1 --part 3/3 "$IN" "$out" & p2=$!
wait $p1; s1=$?; wait $p2; s2=$?
[ $s1 = 0 ] && [ $s2 = 0 ] && pass "two jobs of the same slice racing both succeed" ||
	fail "two jobs of the same slice racing both succeed" "status $s1 and $s2"
left=$(ls -A "$out/.ctensors-parts" | grep -v '^part-[0-9]*-of-3.json$')
[ -z "$left" ] && pass "... and leave no temporary file" || fail "... and leave no temporary file" "$left"
# a killed job's work directory is removed by --finalize
mkdir "$out/.ctensors-parts/slice-2.ctensors-tmp-99999999-abcdef" &&
	: >"$out/.ctensors-parts/slice-2.ctensors-tmp-99999999-abcdef/model-00002-of-00005.safetensors"
expect "--finalize after the race" 0 "" quantize -s NVFP4A16 -q --finalize "$IN" "$out"
same_dir "... gives the single run's bytes, and removes a killed job's leftovers" \
	"$TMP/ref-NVFP4A16" "$out"
expect "--finalize of a finished output has nothing to finalize" 2 "nothing to finalize" \
	quantize -s NVFP4A16 --finalize "$IN" "$out"
expect "a job does not replace a finished output" 2 "not an unfinished output" \
	quantize -s NVFP4A16 --part 1/3 "$IN" "$out"

# a signal mid-write removes the job's work directory, and leaves the slice
# to a rerun; the staging directory stays for the other jobs
"$T/mkst" "$TMP/big.st" "a.weight:F32:4096x4096" "b.weight:F32:4096x4096" || exit 2
"$T/st_split" "$TMP/big.st" 2 "$TMP/bigin" >/dev/null || exit 2
"$C" quantize -j 1 -s W4A16 --part 1/2 "$TMP/bigin" "$TMP/sig" 2>"$TMP/err" & job=$!
i=0
while [ $i -lt 500 ] && ! ls "$TMP/sig/.ctensors-parts" 2>/dev/null | grep -q 'ctensors-tmp'; do
	sleep 0.01; i=$((i + 1))
done
kill -TERM $job
wait $job
st=$?
[ "$st" -gt 128 ] && [ -z "$(ls -A "$TMP/sig/.ctensors-parts")" ] && [ "$(ls "$TMP/sig")" = "" ] &&
	pass "SIGTERM mid-write: the job's files are removed, no record" ||
	fail "SIGTERM mid-write: the job's files are removed, no record" \
		"status $st: $(ls -A "$TMP/sig" "$TMP/sig/.ctensors-parts" | tr '\n' ' ')"
"$C" quantize -q -s W4A16 --part 1/2 "$TMP/bigin" "$TMP/sig" &&
	"$C" quantize -q -s W4A16 --part 2/2 "$TMP/bigin" "$TMP/sig" &&
	"$C" quantize -q -s W4A16 --finalize "$TMP/bigin" "$TMP/sig" &&
	"$C" quantize -q -s W4A16 "$TMP/bigin" "$TMP/sig-ref" || exit 2
same_dir "... and rerun, the output is a single run's" "$TMP/sig-ref" "$TMP/sig"
rm -rf "$TMP/big.st" "$TMP/bigin" "$TMP/sig" "$TMP/sig-ref"

# ---- damaged and foreign slices --------------------------------------------
out=$TMP/dmg
for k in 1 2 3; do "$C" quantize -s W4A16 -q --part $k/3 "$IN" "$out" || exit 2; done
victim=$(sed -n 's/.*"name": "\(.*\)".*/\1/p' "$out/.ctensors-parts/part-2-of-3.json" | head -n 1)
truncate -s -1 "$out/$victim"
expect "--finalize refuses a truncated shard, naming its slice" 3 "slice 2/3 is damaged" \
	quantize -s W4A16 --finalize "$IN" "$out"
expect "rerunning the damaged slice rewrites it" 0 "slice 2/3 written" \
	quantize -s W4A16 --part 2/3 "$IN" "$out"
expect "... and --finalize then completes" 0 "" quantize -s W4A16 -q --finalize "$IN" "$out"
same_dir "... with the single run's bytes" "$TMP/ref-W4A16" "$out"

out=$TMP/other
"$C" quantize -s W4A16 -q --part 1/2 "$IN" "$out" || exit 2
expect "a job with another scheme is refused" 2 \
	"$out: slice 1/2 there was written with other options than this job (another scheme, config, dtype, ignore list or ctensors version); run every job" \
	quantize -s W8A16 --part 2/2 "$IN" "$out"
expect "a job with another N is refused" 2 \
	"$out: slice 1/2 there is one of 2 slices, but this job splits the output into 3; run every job" \
	quantize -s W4A16 --part 2/3 "$IN" "$out"
"$C" quantize -s W4A16 -q --part 1/100000 "$IN" "$TMP/many-n" || exit 2
expect "a job of 4 beside a slice of 100000: the message says both Ns" 2 \
	"$TMP/many-n: slice 1/100000 there is one of 100000 slices, but this job splits the output into 4; run" \
	quantize -s W4A16 --part 2/4 "$IN" "$TMP/many-n"
"$C" quantize -s W4A16 -q --part 2/2 "$IN" "$out" || exit 2
expect "--finalize with another scheme is refused" 2 \
	"$out: slice 1/2 was written with other options than this --finalize (another scheme, config, dtype, ignore list or ctensors version); give --finalize" \
	quantize -s W8A16 --finalize "$IN" "$out"
expect "--finalize with another --no-fuse-global-scale is refused" 2 "other options" \
	quantize -s W4A16 --no-fuse-global-scale --finalize "$IN" "$out"
mkdir "$TMP/four" && for k in 1 2 3 4; do
	"$C" quantize -s W4A16 -q --part $k/4 "$IN" "$TMP/four" || exit 2
done
cp "$TMP/four/.ctensors-parts/part-3-of-4.json" "$out/.ctensors-parts/"
expect "--finalize refuses slices of two different N" 2 "slices of 2 and of 4" \
	quantize -s W4A16 --finalize "$IN" "$out"
rm "$out/.ctensors-parts/part-3-of-4.json"
expect "--finalize --parts N checks N" 2 "part-1-of-2.json is a slice of 2 jobs, not of --parts 3" \
	quantize -s W4A16 --finalize --parts 3 "$IN" "$out"
printf '{"ctensors_parts": 1, "command": "quantize", "fingerprint": "zz", "part": 1}' \
	>"$out/.ctensors-parts/part-1-of-2.json"
expect "--finalize refuses a malformed record, naming it" 3 "part-1-of-2.json: not a slice record" \
	quantize -s W4A16 --finalize "$IN" "$out"
expect "verify counts a malformed record as a missing slice" 3 "1 of 2 slices missing" verify "$out"
printf '{"ctensors_parts":1,"command":"quantize","fingerprint":"0123456789abcdef","part":1,"parts":2,"shards":[{"name":"../x.safetensors","bytes":9,"header_xxh3":"0123456789abcdef"}]}' \
	>"$out/.ctensors-parts/part-1-of-2.json"
expect "--finalize refuses a record naming a file outside OUTPUT" 3 "expected the base name" \
	quantize -s W4A16 --finalize "$IN" "$out"
expect "the rerun of its job repairs it" 0 "" quantize -s W4A16 -q --part 1/2 "$IN" "$out"
expect "... and --finalize completes" 0 "" quantize -s W4A16 -q --finalize "$IN" "$out"
same_dir "... with the single run's bytes" "$TMP/ref-W4A16" "$out"

# ---- --finalize removes only what split jobs wrote in .ctensors-parts/ ----
# (output.c: records part-K-of-N.json as ct_part_record_name names them, their
# temporaries, and work directories slice-K/finalize.ctensors-tmp-PID-XXXXXX;
# anything else is a user's: refused before any work, never removed)
out=$TMP/user
for k in 1 2; do "$C" quantize -s W4A16 -q --part $k/2 "$IN" "$out" || exit 2; done
S=$out/.ctensors-parts
printf 'mine\n' >"$S/notes.txt"
mkdir "$S/keep" && printf 'mine\n' >"$S/keep/a.txt"
cp "$S/part-1-of-2.json" "$S/part-1-of-2.json.bak"
ln -s /etc/hostname "$S/link"
mkdir "$S/slice-1.ctensors-tmp-99999999-abcdef" && printf 'mine\n' >"$S/slice-1.ctensors-tmp-99999999-abcdef/todo.txt"
ls -A "$out" >"$TMP/user-before"
expect "--finalize with a user's files in .ctensors-parts/ is refused" 2 \
	"$S/: holds keep/, link, notes.txt, part-1-of-2.json.bak and 1 more, which split jobs did not write there (refusing to finalize: --finalize removes this directory; move them out of it first)" \
	quantize -s W4A16 --finalize "$IN" "$out"
[ "$(cat "$S/notes.txt" "$S/keep/a.txt" "$S/slice-1.ctensors-tmp-99999999-abcdef/todo.txt")" = "mine
mine
mine" ] && [ -L "$S/link" ] && [ -f "$S/part-1-of-2.json.bak" ] && [ -f "$S/part-2-of-2.json" ] &&
	ls -A "$out" | cmp -s - "$TMP/user-before" &&
	pass "... before any work: every file kept, no index written" ||
	fail "... before any work: every file kept, no index written" "$(ls -A "$out" "$S" | tr '\n' ' ')"
rm -r "$S/keep" "$S/link" "$S/part-1-of-2.json.bak" "$S/slice-1.ctensors-tmp-99999999-abcdef/todo.txt"
expect "one file left: named alone" 2 "$S/: holds notes.txt, which split jobs did not write there" \
	quantize -s W4A16 --finalize "$IN" "$out"
mv "$S/notes.txt" "$TMP/notes.txt"
touch "$S/part-2-of-2.json.ctensors-tmp-99999999-abcdef" 2>/dev/null
expect "... moved out, --finalize completes" 0 "" quantize -s W4A16 -q --finalize "$IN" "$out"
same_dir "... with the single run's bytes, a killed job's work directory and temporary removed" \
	"$TMP/ref-W4A16" "$out"

# ---- dry run, --json ---------------------------------------------------------
expect "--dry-run --part" 0 "" quantize -s NVFP4A16 --dry-run --part 2/3 "$IN" "$TMP/dry"
grep -q '^slice 2/3: 2 of 5 shards' "$TMP/out" && grep -q '^partners read from other shards for shared NVFP4 global scales' "$TMP/out" &&
	pass "--dry-run --part prints the slice's shards and the partners read" ||
	fail "--dry-run --part prints the slice's shards and the partners read" "$(head -c 300 "$TMP/out")"
grep -q 'k_proj.weight (model-' "$TMP/out" && pass "... naming each partner and its shard" ||
	fail "... naming each partner and its shard"
[ ! -e "$TMP/dry" ] && pass "--dry-run --part writes nothing" || fail "--dry-run --part writes nothing"
expect "W4A16 reads no partner" 0 "" quantize -s W4A16 --dry-run --part 1/3 "$IN" "$TMP/dry"
grep -q '^partners read from other shards: none' "$TMP/out" && pass "... and says so" ||
	fail "... and says so"
"$C" quantize -s NVFP4A16 --json --dry-run --part 2/3 "$IN" "$TMP/dry" >"$TMP/j.json" 2>/dev/null
[ "$("$J" .part.part .part.parts '.part.shards#' <"$TMP/j.json" | tr '\n' ' ')" = "2 3 2 " ] &&
	pass "--json --part: the slice in the report" || fail "--json --part: the slice in the report" "$(head -c 300 "$TMP/j.json")"
# one read of each input byte in total: the slices' reads add up to the input
total=0
for k in 1 2 3 4; do
	"$C" quantize -s W4A16 --json --dry-run --part $k/4 "$IN" "$TMP/dry" >"$TMP/j.json" 2>/dev/null
	total=$((total + $("$J" .part.bytes_read <"$TMP/j.json")))
done
[ "$total" = "$(cat "$IN"/*.safetensors | wc -c)" ] && pass "the slices read each input byte once in total" ||
	fail "the slices read each input byte once in total" "$total"

# ---- other commands, other inputs ------------------------------------------
for k in 3 1 2; do "$C" decompress -q --part $k/3 "$TMP/ref-W4A16" "$TMP/dec" || exit 2; done
"$C" quantize -s W4A16 -q --part 1/3 "$IN" "$TMP/q3" || exit 2
cp "$TMP/q3/.ctensors-parts/part-1-of-3.json" "$TMP/dec/.ctensors-parts/"
expect "decompress --finalize refuses a slice of another command" 2 \
	"slice 1/3 was written by 'ctensors quantize', and this --finalize is 'ctensors decompress'; give" \
	decompress --finalize "$TMP/ref-W4A16" "$TMP/dec"
expect "... and so does a decompress job" 2 "was written by 'ctensors quantize'" \
	decompress --part 2/3 "$TMP/ref-W4A16" "$TMP/dec"
rm "$TMP/dec/.ctensors-parts/part-1-of-3.json"
"$C" decompress -q --part 1/3 "$TMP/ref-W4A16" "$TMP/dec" || exit 2
expect "decompress --finalize" 0 "" decompress -q --finalize "$TMP/ref-W4A16" "$TMP/dec"
"$C" decompress -q "$TMP/ref-W4A16" "$TMP/dec-ref" || exit 2
same_dir "decompress split over 3 jobs equals a single run" "$TMP/dec-ref" "$TMP/dec"
"$T/prune" "$TMP/all.st" "$TMP/pruned.st" 2:4 proj && "$T/st_split" "$TMP/pruned.st" 5 "$TMP/pin" >/dev/null &&
	"$C" compress -q -F sparse-24-bitmask "$TMP/pin" "$TMP/sp-ref" || exit 2
for k in 3 1 2; do "$C" compress -q -F sparse-24-bitmask --part $k/3 "$TMP/pin" "$TMP/sp" || exit 2; done
expect "compress --finalize" 0 "" compress -q -F sparse-24-bitmask --finalize "$TMP/pin" "$TMP/sp"
same_dir "compress (2:4 sparse) split over 3 jobs equals a single run" "$TMP/sp-ref" "$TMP/sp"
CONV=${CT_CONVERT:-../shared/convert}/fp8_block_nondiv_sharded/input
if [ -d "$CONV" ]; then
	"$C" convert -q "$CONV" "$TMP/cv-ref" || exit 2
	for k in 2 1; do "$C" convert -q --part $k/2 "$CONV" "$TMP/cv" || exit 2; done
	expect "convert --finalize" 0 "" convert -q --finalize "$CONV" "$TMP/cv"
	same_dir "convert split over 2 jobs equals a single run" "$TMP/cv-ref" "$TMP/cv"
else
	skip "convert split over 2 jobs" "$CONV is absent"
fi
mkdir "$TMP/one" && cp "$TMP/all.st" "$TMP/one/model.safetensors" && cp "$IN/config.json" "$TMP/one/" || exit 2
"$C" quantize -s W4A16 -q "$TMP/one" "$TMP/one-ref" || exit 2
for k in 1 2 3; do "$C" quantize -s W4A16 -q --part $k/3 "$TMP/one" "$TMP/one-out" || exit 2; done
[ "$(grep -c '"name"' "$TMP/one-out/.ctensors-parts/part-2-of-3.json")" = 0 ] &&
	pass "one shard over 3 jobs: slices 2 and 3 are empty records" ||
	fail "one shard over 3 jobs: slices 2 and 3 are empty records"
expect "... and --finalize completes" 0 "" quantize -s W4A16 -q --finalize "$TMP/one" "$TMP/one-out"
same_dir "... with the single run's bytes" "$TMP/one-ref" "$TMP/one-out"

# ---- usage -------------------------------------------------------------------
expect "--part 0/3" 2 "K must be from 1 to N" quantize -s W4A16 --part 0/3 "$IN" "$TMP/u"
expect "--part 4/3" 2 "K must be from 1 to N" quantize -s W4A16 --part 4/3 "$IN" "$TMP/u"
expect "--part abc" 2 "is not K/N, slurm or k8s" quantize -s W4A16 --part abc "$IN" "$TMP/u"
expect "--part 1/x" 2 "is not K/N" quantize -s W4A16 --part 1/x "$IN" "$TMP/u"
expect "--part with --finalize" 2 "give one" quantize -s W4A16 --part 1/3 --finalize "$IN" "$TMP/u"
expect "--parts alone" 2 "--parts: only with" quantize -s W4A16 --parts 3 "$IN" "$TMP/u"
expect "--part with --force" 2 "never replace" quantize -s W4A16 -f --part 1/3 "$IN" "$TMP/u"
expect "--finalize --dry-run" 2 "no --dry-run" quantize -s W4A16 --finalize --dry-run "$IN" "$TMP/u"
expect "--part of a bare file" 2 "the output of a file is one file" \
	quantize -s W4A16 --part 1/2 "$TMP/all.st" "$TMP/u"
expect "--finalize of a missing output" 2 "does not exist: no slice is written" \
	quantize -s W4A16 --finalize "$IN" "$TMP/u"
mkdir "$TMP/full" && : >"$TMP/full/notes.txt"
expect "a job refuses a directory of someone else's files" 2 "not an unfinished output" \
	quantize -s W4A16 --part 1/3 "$IN" "$TMP/full"
expect "a job with an unfit input fails before writing" 3 "" \
	quantize -s W4A16 --group-size 96 --part 1/3 "$IN" "$TMP/u"
[ ! -e "$TMP/u" ] && pass "no refused job left an output" || fail "no refused job left an output"
# --finalize is held to verify's verdict before its commit, as every writer
# is: an output verify would fail is not completed, and the slices stay
mkdir -p "$TMP/kvd"
"$T/mkst" "$TMP/kvd/model.safetensors" "m.self_attn.q_proj.weight:BF16:32x128" "m.self_attn.k_scale:F32:1:1" || exit 2
echo '{"model_type": "llama"}' >"$TMP/kvd/config.json"
expect "a slice of an output verify would fail" 0 "" quantize -q -s W4A16 --part 1/1 "$TMP/kvd" "$TMP/kvd.o"
expect "--finalize refuses it" 3 "m.self_attn.k_scale: a KV-cache scale, but the config has no kv_cache_scheme (the output would fail 'ctensors verify'" \
	quantize -q -s W4A16 --finalize "$TMP/kvd" "$TMP/kvd.o"
[ ! -e "$TMP/kvd.o/config.json" ] && [ -f "$TMP/kvd.o/.ctensors-parts/part-1-of-1.json" ] &&
	[ -z "$(ls -A "$TMP/kvd.o/.ctensors-parts" | grep -v '^part-1-of-1.json$')" ] &&
	pass "... leaving no config.json, its slice record, and no link behind" ||
	fail "... leaving no config.json, its slice record, and no link behind" "$(ls -AR "$TMP/kvd.o")"
finish
