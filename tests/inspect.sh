#!/bin/sh
# tests/inspect.sh - `ctensors inspect` end to end: the JSON document against
# each file's own header (every golden file), the human view of the fixture
# model before and after quantization, --tensor, --stats, escaping of names
# from files, errors, and the time to inspect a 10,000-tensor index.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }

# expect_ok NAME ARGS...: exit 0 and nothing at all on stderr
expect_ok() {
	name=$1; shift
	rm -f "$TMP/why"
	if run_cli 0 "$@" && [ ! -s "$TMP/err" ]; then
		pass "$name"
	else
		fail "$name" "$(cat "$TMP/why" 2>/dev/null)stderr: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
	fi
}

# has NAME FILE FIXED-STRING: the file holds the string
has() {
	if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "'$3' not found"; fi
}

# json_valid FILE: 0 valid (one document), 1 invalid, 2 no validator here
json_valid() {
	if command -v jq >/dev/null 2>&1; then
		[ "$(jq -s length <"$1" 2>/dev/null)" = 1 ]
	elif command -v json_pp >/dev/null 2>&1; then
		json_pp <"$1" >/dev/null 2>&1
	else
		return 2
	fi
}

check_json_valid() {
	json_valid "$2"
	case $? in
	0) pass "$1" ;;
	2) skip "$1" "neither jq nor json_pp is installed" ;;
	*) fail "$1" "not one valid JSON document" ;;
	esac
}

# json_tensors FILE: from inspect's pretty JSON (indent 2, sorted keys), one
# line per element of "tensors", in array order: NAME DTYPE [SHAPE] FILE BYTES
# and, when present, the stats as key=value words.
json_tensors() {
	awk '
	/^  "tensors": \[\]/ { next }
	/^  "tensors": \[/ { in_t = 1; next }
	in_t && /^  \]/ { in_t = 0; next }
	!in_t { next }
	/^    \{/ { name = ""; dt = ""; file = ""; bytes = ""; shape = ""; st = ""; sh = 0; ss = 0; next }
	/^    \}/ { print name " " dt " [" shape "] " file " " bytes st; next }
	sh && /^      \]/ { sh = 0; next }
	sh { v = $0; gsub(/[ ,]/, "", v); shape = shape (shape == "" ? "" : ",") v; next }
	ss && /^      \}/ { ss = 0; next }
	ss { v = $0; gsub(/[ ",]/, "", v); sub(/:/, "=", v); st = st " " v; next }
	/^      "shape": \[\]/ { next }
	/^      "shape": \[/ { sh = 1; next }
	/^      "stats": \{/ { ss = 1; next }
	/^      "stats": null/ { st = " stats=null"; next }
	/^      "(name|dtype|file)": "/ {
		k = $1; gsub(/[":]/, "", k)
		v = $0; sub(/^      "[a-z]+": "/, "", v); sub(/",?$/, "", v)
		if (k == "name") name = v; else if (k == "dtype") dt = v; else file = v
		next
	}
	/^      "bytes": / { v = $2; sub(/,$/, "", v); bytes = v; next }
	' "$1"
}

# json_total KEY FILE: a number from "totals" (not from its "by_dtype")
json_total() {
	awk -v k="$1" '
	/^  "totals": \{/ { in_t = 1; next }
	in_t && /^  \}/ { in_t = 0 }
	in_t && index($0, "    \"" k "\": ") == 1 { v = $2; sub(/,$/, "", v); print v }
	' "$2"
}

# ---- every golden file: the JSON is the file's own header ------------------
# stdump prints NAME DTYPE [SHAPE] SHARD sorted by name; with -o, NAME
# FILE-OFFSET NBYTES. Side by side, sorted by shard name then offset, they
# give the order inspect must list: shard by shard, data order within one.
golden_case() {
	f=$1 label=$2
	expect_ok "golden $label: inspect --json" inspect --json "$f"
	cp "$TMP/out" "$TMP/g.json"
	json_valid "$TMP/g.json"
	case $? in
	1) fail "golden $label: valid JSON"; return ;;
	esac
	json_tensors "$TMP/g.json" >"$TMP/g.lines"
	if ! "$T/stdump" "$f" >"$TMP/g.dump" 2>"$TMP/err" ||
	   ! "$T/stdump" -o "$f" >"$TMP/g.offsets" 2>"$TMP/err"; then
		fail "golden $label: stdump" "$(head -c 300 "$TMP/err")"
		return
	fi
	awk '{ print $1, $2, $3, $4 }' "$TMP/g.dump" | LC_ALL=C sort >"$TMP/g.want"
	awk '{ print $4 }' "$TMP/g.dump" | paste -d ' ' - "$TMP/g.offsets" |
		LC_ALL=C sort -k1,1 -k3,3n | awk '{ print $2, $4 }' >"$TMP/g.order"
	awk '{ print $1, $2, $3, $4 }' "$TMP/g.lines" | LC_ALL=C sort >"$TMP/g.got"
	awk '{ print $1, $5 }' "$TMP/g.lines" >"$TMP/g.gotorder"
	n=$(wc -l <"$TMP/g.want")
	sum=$(awk '{ s += $5 } END { print s + 0 }' "$TMP/g.lines")
	why=
	cmp -s "$TMP/g.want" "$TMP/g.got" || why="names/dtypes/shapes/files differ: $(diff "$TMP/g.want" "$TMP/g.got" | head -3 | tr '\n' ' ')"
	[ -z "$why" ] && ! cmp -s "$TMP/g.order" "$TMP/g.gotorder" &&
		why="data order or bytes differ: $(diff "$TMP/g.order" "$TMP/g.gotorder" | head -3 | tr '\n' ' ')"
	[ -z "$why" ] && [ "$(json_total tensors "$TMP/g.json")" != "$n" ] && why="totals.tensors is not $n"
	[ -z "$why" ] && [ "$(json_total bytes "$TMP/g.json")" != "$sum" ] && why="totals.bytes is not $sum"
	[ -z "$why" ] && ! grep -q '^  "schema": 1,$' "$TMP/g.json" && why="no \"schema\": 1"
	if [ -z "$why" ]; then pass "golden $label: $n tensors match the header in data order"
	else fail "golden $label" "$why"; fi
}

CT_GOLDEN=${CT_GOLDEN:-../shared/golden}
if [ -d "$CT_GOLDEN" ]; then
	json_valid /dev/null 2>/dev/null
	[ $? = 2 ] && skip "golden JSON validity" "neither jq nor json_pp is installed"
	for d in "$CT_GOLDEN"/*/; do
		c=$(basename "$d")
		for k in input expected expected_decompressed; do
			[ -f "$d$k.safetensors" ] && golden_case "$d$k.safetensors" "$c/$k"
		done
	done
	# a golden case as a sharded model directory, its config in config.json
	G=$CT_GOLDEN/pack_int4_sym_group128_bf16
	if [ -f "$G/expected.safetensors" ]; then
		"$T/st_split" "$G/expected.safetensors" 2 "$TMP/g4" "$G/config.json" || exit 2
		golden_case "$TMP/g4" "pack_int4_sym_group128_bf16 as 2 shards"
		json_tensors "$TMP/g.json" | awk '{ print $4 }' | uniq >"$TMP/g.files"
		printf 'model-00001-of-00002.safetensors\nmodel-00002-of-00002.safetensors\n' >"$TMP/g.wantfiles"
		cmp -s "$TMP/g.files" "$TMP/g.wantfiles" && pass "tensors listed shard by shard, in shard order" ||
			fail "tensors listed shard by shard, in shard order" "$(tr '\n' ' ' <"$TMP/g.files")"
		grep -q '^  "quantization_config": {$' "$TMP/g.json" && pass "quantization_config from config.json" ||
			fail "quantization_config from config.json"
		expect_ok "golden pack int4 directory: human view" inspect "$TMP/g4"
		has "roles from the config: int4 g128 packed weight" "$TMP/out" "int4 g128 packed weight"
		has "config summary" "$TMP/out" "pack-quantized: int4 symmetric group 128 → Linear; ignore: lm_head"
	fi
	G=$CT_GOLDEN/naive_quantized_int3_channel_fp16
	if [ -f "$G/expected.safetensors" ]; then
		"$T/st_split" "$G/expected.safetensors" 1 "$TMP/g3" "$G/config.json" || exit 2
		expect_ok "golden naive int3: human view" inspect "$TMP/g3"
		has "int3 stored as I8 is int3 by the config" "$TMP/out" "int3 per-channel weight"
	fi
	G=$CT_GOLDEN/sparse_24_int8_w8a8_fp16
	if [ -f "$G/expected.safetensors" ]; then
		expect_ok "golden sparse 2:4 int8: human view" inspect "$G/expected.safetensors"
		has "2:4 sparse values recognised from names" "$TMP/out" "2:4 sparse int8 per-channel values"
		has "2:4 sparse bitmask recognised from names" "$TMP/out" "2:4 sparse bitmask"
	fi
	G=$CT_GOLDEN/nvfp4_pack_quantized_bf16
	if [ -f "$G/expected.safetensors" ]; then
		expect_ok "golden nvfp4: human view" inspect "$G/expected.safetensors"
		has "nvfp4 global scale recognised" "$TMP/out" "nvfp4 global scale"
	fi
else
	skip "golden files" "CT_GOLDEN is not set or not a directory"
fi

# ---- the fixture model: folding, totals ---------------------------------------
expect_ok "inspect the fixture model" inspect "$FIX"
cp "$TMP/out" "$TMP/fix.txt"
has "layers fold into one line" "$TMP/fix.txt" "model.layers.{0..1}.self_attn.q_proj.weight"
has "a fold shows its count" "$TMP/fix.txt" "×2"
has "norms recognised" "$TMP/fix.txt" "norm"
has "embedding recognised" "$TMP/fix.txt" "embedding"
has "totals by dtype" "$TMP/fix.txt" "BF16           21"
has "bits per weight of a BF16 model" "$TMP/fix.txt" "bits per weight  16.00"
has "no quantization config" "$TMP/fix.txt" "quantization     none"
grep -q '^model\.layers\.[0-9]' "$TMP/fix.txt" && fail "no unfolded layer line" || pass "no unfolded layer line"
fix_params=$(awk '/^parameters/ { gsub(/,/, "", $2); print $2 }' "$TMP/fix.txt")
[ -n "$fix_params" ] && [ "$fix_params" -gt 0 ] && pass "parameters counted ($fix_params)" ||
	fail "parameters counted" "'$fix_params'"

expect_ok "--tensors" inspect --tensors "$FIX"
[ "$(grep -c '^model\.\|^lm_head' "$TMP/out")" = 21 ] && ! grep -q '{' "$TMP/out" &&
	pass "--tensors lists all 21 tensors one by one" || fail "--tensors lists all 21 tensors one by one"

expect_ok "--json on the fixture" inspect --json "$FIX"
cp "$TMP/out" "$TMP/fix.json"
check_json_valid "fixture JSON is valid" "$TMP/fix.json"
[ "$(json_tensors "$TMP/fix.json" | wc -l)" = 21 ] && pass "fixture JSON lists 21 tensors" ||
	fail "fixture JSON lists 21 tensors"
[ "$(json_total parameters "$TMP/fix.json")" = "$fix_params" ] &&
	pass "JSON and human view count the same parameters" || fail "JSON and human view count the same parameters"
grep -q '^  "quantization_config": null,$' "$TMP/fix.json" && pass "quantization_config null" ||
	fail "quantization_config null"
grep -q '^  "metadata": {' "$TMP/fix.json" && pass "metadata is an object" || fail "metadata is an object"

# ---- after quantize -s W4A16 -------------------------------------------------
run_cli 0 quantize -q -s W4A16 "$FIX" "$TMP/q4" || { fail "quantize the fixture"; finish; exit; }
expect_ok "inspect the W4A16 model" inspect "$TMP/q4"
cp "$TMP/out" "$TMP/q4.txt"
has "int4 g128 packed weight role" "$TMP/q4.txt" "int4 g128 packed weight"
has "scale role" "$TMP/q4.txt" "int4 scale"
has "weight shape role" "$TMP/q4.txt" "weight shape"
has "lm_head left dense by ignore" "$TMP/q4.txt" "dense (ignored)"
has "packed layers fold" "$TMP/q4.txt" "model.layers.{0..1}.mlp.down_proj.weight_packed"
has "config summarized" "$TMP/q4.txt" "pack-quantized: int4 symmetric group 128 → Linear; ignore: lm_head"
bpw=$(awk '/^bits per weight/ { print $4 }' "$TMP/q4.txt")
awk -v b="$bpw" 'BEGIN { exit !(b > 0 && b < 16) }' && pass "bits per weight below 16 ($bpw)" ||
	fail "bits per weight below 16" "'$bpw'"
q_params=$(awk '/^parameters/ { gsub(/,/, "", $2); print $2 }' "$TMP/q4.txt")
[ "$q_params" = "$fix_params" ] && pass "packed weights count as the weights they hold" ||
	fail "packed weights count as the weights they hold" "$q_params vs $fix_params"
expect_ok "--json on the W4A16 model" inspect --json "$TMP/q4"
grep -q '^  "quantization_config": {$' "$TMP/out" && pass "JSON carries the quantization_config" ||
	fail "JSON carries the quantization_config"
grep -q '"role": "int4 g128 packed weight"' "$TMP/out" && pass "JSON carries roles" ||
	fail "JSON carries roles"

# ---- --tensor ------------------------------------------------------------------
expect_ok "--tensor twice" inspect --tensor lm_head.weight --tensor model.norm.weight "$FIX"
[ "$(grep -c '^lm_head.weight \|^model.norm.weight ' "$TMP/out")" = 2 ] &&
	[ "$(grep -c '^model\.layers' "$TMP/out")" = 0 ] && pass "--tensor shows only those" ||
	fail "--tensor shows only those"
has "--tensor says how many of how many" "$TMP/out" "2 of 21 tensors"
expect_ok "--tensor with --json" inspect --json --tensor model.norm.weight "$FIX"
json_tensors "$TMP/out" >"$TMP/sel"
[ "$(wc -l <"$TMP/sel")" = 1 ] && grep -q '^model.norm.weight BF16 \[256\]' "$TMP/sel" &&
	[ "$(json_total tensors "$TMP/out")" = 1 ] && pass "--tensor restricts the JSON and its totals" ||
	fail "--tensor restricts the JSON and its totals"
expect "unknown --tensor" 3 "ctensors: $FIX: nope.weight: no such tensor" inspect --tensor nope.weight "$FIX"
expect "unknown --tensor with --json" 3 "nope: no such tensor" inspect --json --tensor lm_head.weight --tensor nope "$FIX"
[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"message": ".*nope: no such tensor' "$TMP/out" &&
	pass "a failed --json prints one document, with the error" || fail "a failed --json prints one document, with the error" "$(head -c 200 "$TMP/out")"

# ---- --stats -------------------------------------------------------------------
mk "$TMP/s.st" "x:F32:4:2" "y:F32:8:nan" "z:F16:4:zero" "w:BF16:4x2:-1.5" "i:I8:4:0.05"
expect_ok "--stats --json" inspect --stats --json "$TMP/s.st"
cp "$TMP/out" "$TMP/s.json"
check_json_valid "--stats JSON is valid" "$TMP/s.json"
json_tensors "$TMP/s.json" >"$TMP/s.lines"
grep -q '^x F32 \[4\] .* inf=0 max=2.0 mean=2.0 min=2.0 nan=0 std=0.0 two_four=null zeros=0.0$' "$TMP/s.lines" &&
	pass "stats of a constant F32 tensor" || fail "stats of a constant F32 tensor" "$(grep '^x ' "$TMP/s.lines")"
grep -q '^y F32 .* nan=1 ' "$TMP/s.lines" && pass "a NaN is counted" || fail "a NaN is counted"
grep -q '^y F32 .* mean=-*[0-9].* min=-[0-9].* std=[0-9]' "$TMP/s.lines" && pass "NaN kept out of min/max/mean" ||
	fail "NaN kept out of min/max/mean" "$(grep '^y ' "$TMP/s.lines")"
grep -q '^z F16 .* max=0.0 .* zeros=1.0$' "$TMP/s.lines" && pass "zeros as a fraction" || fail "zeros as a fraction"
grep -q '^w BF16 .* max=-1.5 mean=-1.5 min=-1.5 .* std=0.0' "$TMP/s.lines" && pass "BF16 values" ||
	fail "BF16 values" "$(grep '^w ' "$TMP/s.lines")"
grep -q '^i I8 .* max=5.0 mean=5.0 min=5.0' "$TMP/s.lines" && pass "integers taken as integers" ||
	fail "integers taken as integers" "$(grep '^i ' "$TMP/s.lines")"
expect_ok "--stats human view" inspect --stats "$TMP/s.st"
awk '$1 == "x" && $7 == 2 && $8 == 2 && $9 == 2 && $10 == 0 { f = 1 } END { exit !f }' "$TMP/out" &&
	pass "human --stats: min max mean std of x" || fail "human --stats: min max mean std of x" "$(grep '^x ' "$TMP/out")"
awk '$1 == "y" && $(NF - 1) == 1 { f = 1 } END { exit !f }' "$TMP/out" &&
	pass "human --stats: NaN count of y" || fail "human --stats: NaN count of y" "$(grep '^y ' "$TMP/out")"

# ---- names from files are escaped ------------------------------------------------
mk "$TMP/ctl.st" "$(printf 'bad\001name.weight'):F32:4" "ok.weight:F32:2x2"
expect_ok "a name with a control character" inspect "$TMP/ctl.st"
has "printed escaped" "$TMP/out" 'bad\x01name.weight'
if tr -d '\001' <"$TMP/out" | cmp -s - "$TMP/out"; then pass "no raw control byte on stdout"
else fail "no raw control byte on stdout"; fi
expect_ok "the same in JSON" inspect --json "$TMP/ctl.st"
has "escaped as JSON" "$TMP/out" '"name": "bad\u0001name.weight"'

# ---- errors: one line on stderr ---------------------------------------------------
head -c 100 "$TMP/s.st" >"$TMP/trunc.st"
expect "truncated file" 3 "$TMP/trunc.st" inspect "$TMP/trunc.st"
expect "truncated file, --json" 3 "$TMP/trunc.st" inspect --json "$TMP/trunc.st"
[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"status": 3' "$TMP/out" &&
	pass "one error document on stdout on failure" || fail "one error document on stdout on failure" "$(head -c 200 "$TMP/out")"
expect "two operands" 2 "expected one CHECKPOINT" inspect "$FIX" "$FIX"
expect "--tensor needs a value" 2 "needs a value" inspect "$FIX" --tensor

# ---- speed: an index of 99 shards and 10,000 tensors --------------------------------
awk 'BEGIN {
	for (l = 0; l < 1000; l++) {
		p = "model.layers." l
		print p ".self_attn.q_proj.weight:BF16:4x4"; print p ".self_attn.k_proj.weight:BF16:4x4"
		print p ".self_attn.v_proj.weight:BF16:4x4"; print p ".self_attn.o_proj.weight:BF16:4x4"
		print p ".self_attn.q_proj.bias:BF16:4"; print p ".mlp.gate_proj.weight:BF16:4x4"
		print p ".mlp.up_proj.weight:BF16:4x4"; print p ".mlp.down_proj.weight:BF16:4x4"
		print p ".input_layernorm.weight:BF16:4"; print p ".post_attention_layernorm.weight:BF16:4"
	}
}' >"$TMP/big.args"
# shellcheck disable=SC2046 # one argument per line, no spaces
mk "$TMP/big.st" $(cat "$TMP/big.args")
"$T/st_split" "$TMP/big.st" 99 "$TMP/big" || exit 2
# speed is make bench's to measure, never a timed test: this checks the answer
for mode in "" --json; do
	"$CT_BIN" inspect $mode "$TMP/big/model.safetensors.index.json" >"$TMP/out" 2>"$TMP/err"
	st=$?
	name="inspect ${mode:+$mode }of 99 shards / 10000 tensors"
	if [ "$st" = 0 ] && [ ! -s "$TMP/err" ] && [ -s "$TMP/out" ]; then
		pass "$name"
	else
		fail "$name" "status $st: $(head -c 200 "$TMP/err")"
	fi
done
[ "$(json_total tensors "$TMP/out")" = 10000 ] && pass "the index's 10000 tensors are all listed" ||
	fail "the index's 10000 tensors are all listed"
"$CT_BIN" inspect "$TMP/big" >"$TMP/out" 2>&1
[ "$(grep -c '^model\.layers\.{0\.\.999}\.' "$TMP/out")" = 10 ] &&
	pass "10000 tensors fold into 10 lines" || fail "10000 tensors fold into 10 lines"

# ---- sparsity: 2:4 structure and the ratio to dense -------------------------------
mk "$TMP/sp.st" "x.weight:BF16:64x128" "y.weight:BF16:64x128"
"$T/prune" "$TMP/sp.st" "$TMP/sp24.st" 2:4 || exit 2
"$CT_BIN" inspect --stats --tensor x.weight "$TMP/sp24.st" >"$TMP/out" 2>&1
grep -q 'x.weight .* 50.00%  yes' "$TMP/out" && pass "--stats says a 2:4 weight is 2:4" || fail "--stats says a 2:4 weight is 2:4" "$(cat "$TMP/out")"
"$CT_BIN" inspect --stats --tensor x.weight "$TMP/sp.st" >"$TMP/out" 2>&1
grep -q 'x.weight .*  no ' "$TMP/out" && pass "--stats says a dense weight is not 2:4" || fail "--stats says a dense weight is not 2:4"
"$CT_BIN" inspect --stats --json "$TMP/sp24.st" | grep -q '"two_four": true' && pass "--json stats carry two_four" || fail "--json stats carry two_four"
"$CT_BIN" compress -q -F sparse-24-bitmask "$TMP/sp24.st" "$TMP/sp24.c.st" || exit 2
"$CT_BIN" inspect "$TMP/sp24.c.st" >"$TMP/out" 2>&1
grep -q '^vs dense BF16    0\.5[0-9]* of 32.8 kB' "$TMP/out" && grep -q 'sparse-24-bitmask' "$TMP/out" &&
	pass "a sparse file shows its size against dense" || fail "a sparse file shows its size against dense" "$(tail -4 "$TMP/out")"

# --json: one document on stdout when inspect fails too
run_cli 3 inspect --json "$TMP/does-not-exist"
[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"status": 3' "$TMP/out" && grep -q '"tensors": \[\]' "$TMP/out" &&
	pass "inspect --json of a missing path: one document with the error" ||
	fail "inspect --json of a missing path: one document with the error" "$(head -c 200 "$TMP/out")"
run_cli 2 inspect --json --bogus "$TMP/does-not-exist"
[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"status": 2' "$TMP/out" &&
	pass "inspect --json with a usage error: one document" || fail "inspect --json with a usage error: one document" "$(head -c 200 "$TMP/out")"
printf 'not safetensors' >"$TMP/junk.safetensors"
run_cli 3 inspect --json "$TMP/junk.safetensors"
[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"ok": false' "$TMP/out" &&
	pass "inspect --json of a malformed file: one document" || fail "inspect --json of a malformed file: one document" "$(head -c 200 "$TMP/out")"
finish
