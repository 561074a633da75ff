#!/bin/sh
# tests/gate.sh - verify as the gate a CI job relies on: a damaged
# checkpoint is a failed check (exit 1) with every problem listed, the
# config is read as loaders read it, activation order and calibrated
# parameters are checked against the config, --json always prints one
# document, and --against fails what is plainly broken.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
WILD=${CT_WILD:-../shared/wild}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }

# gate NAME STATUS STDOUT_SUBSTRING ARGS...: verify exits STATUS and its
# report on stdout holds the substring
gate() {
	name=$1; want=$2; sub=$3; shift 3
	if ! run_cli "$want" verify "$@"; then
		fail "$name" "$(cat "$TMP/why"); $(head -c 300 "$TMP/out" "$TMP/err" | tr '\n' ' ')"
	elif [ -n "$sub" ] && ! grep -qF -- "$sub" "$TMP/out"; then
		fail "$name" "report lacks '$sub': $(head -c 400 "$TMP/out" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

[ -d "$FIX" ] || { skip "gate" "$FIX is absent"; finish; exit $?; }
"$CT_BIN" quantize -q -s W4A16 "$FIX" "$TMP/w4" || exit 2
S1=model-00001-of-00002.safetensors
S2=model-00002-of-00002.safetensors

# ---- a damaged checkpoint is a failed check, each problem listed -------------
cp -r "$TMP/w4" "$TMP/d1"
printf 'x' >>"$TMP/d1/$S1"
truncate -s -100 "$TMP/d1/$S2"
gate "trailing bytes and a truncated shard: exit 1" 1 "(trailing bytes after the last tensor)" "$TMP/d1"
grep -qF "(file is truncated)" "$TMP/out" && pass "both shards are named" || fail "both shards are named" "$(cat "$TMP/out")"
run_cli 1 verify --json "$TMP/d1"
grep -q '"ok": false' "$TMP/out" && grep -q '"schema": 2' "$TMP/out" && [ "$(grep -c '"problem"' "$TMP/out")" -ge 2 ] &&
	pass "--json prints its document for a damaged checkpoint" || fail "--json prints its document for a damaged checkpoint"
cp -r "$TMP/w4" "$TMP/d2"
rm "$TMP/d2/$S2"
gate "a shard the index names is missing" 1 "$S2: cannot open" "$TMP/d2"
cp -r "$TMP/w4" "$TMP/d3"
# drop one weight_map entry, move another to the wrong shard, add one for no tensor
sed -i -e '/"model.layers.0.mlp.up_proj.weight_packed"/d' \
	-e "s|\"model.layers.0.mlp.down_proj.weight_packed\": \"$S1\"|\"model.layers.0.mlp.down_proj.weight_packed\": \"$S2\"|" \
	-e "s|\"weight_map\": {|\"weight_map\": {\n    \"ghost.weight\": \"$S1\",|" "$TMP/d3/model.safetensors.index.json"
gate "an index entry missing" 1 "model.layers.0.mlp.up_proj.weight_packed: tensor in shard $S1 is not listed in the index" "$TMP/d3"
grep -qF "down_proj.weight_packed: weight_map says $S2 but the tensor is in $S1" "$TMP/out" &&
	pass "an index entry naming the wrong shard" || fail "an index entry naming the wrong shard" "$(cat "$TMP/out")"
grep -qF "ghost.weight: listed in weight_map under $S1 but absent from every shard" "$TMP/out" &&
	pass "an index entry for no tensor" || fail "an index entry for no tensor"
cp -r "$TMP/w4" "$TMP/d4"
sed -i 's/"total_size": [0-9]*/"total_size": 12345/' "$TMP/d4/model.safetensors.index.json"
gate "a wrong total_size in a checkpoint ctensors wrote" 1 "metadata.total_size is 12345 but the shards hold" "$TMP/d4"
cp -r "$TMP/w4" "$TMP/d5"
sed -i 's/"total_size": [0-9]*/"total_size": "big"/' "$TMP/d5/model.safetensors.index.json"
gate "a total_size that is no size" 1 "metadata.total_size is not a size in bytes" "$TMP/d5"
gate "a path that is no checkpoint: exit 3" 3 "" "$TMP/nothing-here"
run_cli 3 verify --json "$TMP/nothing-here"
grep -q '"ok": false' "$TMP/out" && grep -q '"status": 3' "$TMP/out" &&
	pass "--json prints a document when the check cannot run" || fail "--json prints a document when the check cannot run"
printf 'not a safetensors file' >"$TMP/text.st"
gate "a bare file that is no safetensors: exit 3" 3 "" "$TMP/text.st"
mk "$TMP/one.st" "a.weight:BF16:16x128"
"$CT_BIN" quantize -q -s W8A16 "$TMP/one.st" "$TMP/one.q.st" || exit 2
truncate -s -10 "$TMP/one.q.st"
gate "a truncated bare safetensors file: exit 1" 1 "(file is truncated)" "$TMP/one.q.st"

# one document on stdout in every case, usage errors included
for args in "--json --bogus $TMP/w4" "--json" "--json --min-snr-db 3 $TMP/w4" "--json --gpu sm80 $TMP/w4"; do
	# shellcheck disable=SC2086
	run_cli 2 verify $args
	[ "$(grep -c '^{' "$TMP/out")" = 1 ] && grep -q '"status": 2' "$TMP/out" && grep -q '"ok": false' "$TMP/out" &&
		pass "verify $args: a usage error still prints one document" ||
		fail "verify $args: a usage error still prints one document" "$(head -c 200 "$TMP/out")"
done
expect "verify --json=yes: the value is what is wrong" 2 "option --json takes no value (give --json alone, not --json=yes)" \
	verify --json=yes "$TMP/w4"
# paths are escaped in every line verify prints: a newline or an escape
# sequence in a directory name neither splits a line nor reaches the terminal
nl='
'
odd="$TMP/odd${nl}dir$(printf '\033')[31m"
mkdir "$odd" && cp -r "$TMP/w4" "$odd/m"
run_cli 0 verify "$odd/m"
[ "$(wc -l <"$TMP/out")" = 2 ] && grep -q 'odd\\ndir\\x1b\[31m/m: OK$' "$TMP/out" && ! grep -q "$(printf '\033')" "$TMP/out" &&
	pass "verify's OK line escapes the path" || fail "verify's OK line escapes the path" "$(cat -A "$TMP/out" | head -3)"
cp -r "$TMP/w4" "$odd/bad" && printf 'x' >>"$odd/bad/$S1"
run_cli 1 verify "$odd/bad"
[ "$(wc -l <"$TMP/err")" = 1 ] && grep -q 'odd\\ndir\\x1b\[31m/bad: verification failed' "$TMP/err" &&
	! grep -q "$(printf '\033')" "$TMP/err" "$TMP/out" &&
	pass "... and so does its failure, on stdout and stderr" || fail "... and so does its failure, on stdout and stderr" "$(cat -A "$TMP/err")"

# ---- every problem, not the first -------------------------------------------
"$CT_BIN" quantize -q --plain-metadata -s W8A8 "$FIX" "$TMP/w8" || exit 2
poke() {
	off=$("$T/stdump" -o "$1" | awk -v t="$2" '$1 == t {print $2}')
	printf "$3" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}
poke "$TMP/w8/$S1" model.layers.0.self_attn.q_proj.weight_scale '\300\177'
poke "$TMP/w8/$S2" model.layers.1.mlp.up_proj.weight_scale '\300\177'
gate "two broken modules" 1 "model.layers.0.self_attn.q_proj.weight  weight_scale: scale 0 is nan" "$TMP/w8"
grep -qF "model.layers.1.mlp.up_proj.weight  weight_scale: scale 0 is nan" "$TMP/out" &&
	pass "both are listed" || fail "both are listed" "$(cat "$TMP/out")"
grep -q "12 modules decoded" "$TMP/out" && grep -q "tensors stored" "$TMP/out" &&
	pass "the summary counts stored tensors and decoded modules apart" || fail "the summary counts stored tensors and decoded modules apart" "$(tail -1 "$TMP/out")"

# ---- the config as loaders read it -------------------------------------------
cp -r "$TMP/w4" "$TMP/c1"
rm "$TMP/c1/config.json"
gate "a model directory without config.json" 1 "the model directory has no config.json" "$TMP/c1"
cp -r "$TMP/w4" "$TMP/c2"
sed -i 's/"quantization_config"/"was_quantization_config"/' "$TMP/c2/config.json"
gate "config.json without quantization_config, modules compressed" 1 "config.json has no quantization_config, but the checkpoint holds compressed modules" "$TMP/c2"
cp -r "$TMP/w4" "$TMP/c3"
sed -i 's/"num_bits": 4/"num_bits": 8/' "$TMP/c3/config.json"
gate "config.json disagreeing with the embedded config" 1 "differs from the copy in $S1's __metadata__ at config_groups.group_0.weights.num_bits" "$TMP/c3"
cp -r "$TMP/w4" "$TMP/c4"
sed -i 's/"rope_theta": [0-9.e+]*/"rope_theta": NaN/; s/"vocab_size": [0-9]*/"vocab_size": 123456789012345678901234567890/; s/"bos_token_id": [0-9]*/"bos_token_id": -Infinity/' "$TMP/c4/config.json"
grep -q 'NaN' "$TMP/c4/config.json" && grep -q -- '-Infinity' "$TMP/c4/config.json" && pass "the config holds Python's literals" || fail "the config holds Python's literals"
gate "NaN, -Infinity and a 30-digit integer in config.json are read" 0 "" "$TMP/c4"
expect "inspect reads it too" 0 "" inspect "$TMP/c4"
cp -r "$FIX" "$TMP/empty-q"
sed -i 's/"vocab_size": 512/"vocab_size": 512, "quantization_config": {}/' "$TMP/empty-q/config.json"
expect '"quantization_config": {} counts as none: quantize accepts it' 0 "" quantize -q -s W4A16 "$TMP/empty-q" "$TMP/empty-q.out"

# the config loaders refuse: no quant_method, or packed tensors under a
# status other than "compressed" (a --plain-metadata output: config.json is
# the only copy, so nothing else gives it away)
"$CT_BIN" quantize -q --plain-metadata -s W4A16 "$FIX" "$TMP/pm" || exit 2
cp -r "$TMP/pm" "$TMP/qm1"
sed -i 's/"quant_method": "compressed-tensors",//' "$TMP/qm1/config.json"
! grep -q quant_method "$TMP/qm1/config.json" && pass "quant_method removed" || fail "quant_method removed"
gate "config.json without quant_method" 1 "quantization_config has no quant_method" "$TMP/qm1"
for status in frozen calibration initialized; do
	cp -r "$TMP/pm" "$TMP/qs-$status"
	sed -i "s/\"quantization_status\": \"compressed\"/\"quantization_status\": \"$status\"/" "$TMP/qs-$status/config.json"
	gate "quantization_status \"$status\" over packed tensors" 1 \
		"config.json says quantization_status \"$status\", but the checkpoint holds packed tensors" "$TMP/qs-$status"
done
gate "the same checkpoint as written passes" 0 "" "$TMP/pm"

# ---- checksums -------------------------------------------------------------------
"$CT_BIN" quantize -q --plain-metadata -s W4A16 "$FIX" "$TMP/plain" || exit 2
cp -r "$TMP/w4" "$TMP/mix"
cp "$TMP/plain/$S2" "$TMP/mix/$S2"
gate "a mix of files with and without checksums" 1 "1 of 2 files carry no ctensors.xxh3 checksums while the others do" "$TMP/mix"
gate "no checksums at all: structure checked" 0 "" "$TMP/plain"
gate "--require-checksums fails a file without them" 1 "2 files without ctensors.xxh3 checksums (--require-checksums)" --require-checksums "$TMP/plain"
gate "--require-checksums passes a checkpoint that has them" 0 "" --require-checksums "$TMP/w4"

# ---- a module both dense and compressed -------------------------------------------
echo '{"format": "pack-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 16, "strategy": "group"}}}}' >"$TMP/g16.json"
mk "$TMP/both.st" "x.weight:BF16:16x16" "x.weight_packed:I32:16x2" "x.weight_scale:BF16:16x1:0.01" "x.weight_shape:I64:2:16"
expect "decompress refuses a module both dense and compressed" 3 "x: holds both a weight (BF16) and compressed tensors (weight_packed)" \
	decompress -c "$TMP/g16.json" "$TMP/both.st" "$TMP/both.d.st"
gate "verify fails it" 1 "holds both a weight (BF16) and compressed tensors" -c "$TMP/g16.json" "$TMP/both.st"

# ---- --against fails what is plainly broken, without thresholds ---------------
# m.b is 0.5 everywhere: W4A16 (BF16 scale 0.0669) gives it 0.46875; against
# 0.7 (BF16 0.69921875) the error 0.2305 is more than two steps, though the
# SNR is positive
mk "$TMP/orig.st" "m.a.weight:BF16:32x128" "m.b.weight:BF16:32x128:0.5"
mk "$TMP/other.st" "m.a.weight:BF16:32x128" "m.b.weight:BF16:32x128:0.7"
mk "$TMP/neg.st" "m.a.weight:BF16:32x128" "m.b.weight:BF16:32x128:-0.5"
"$CT_BIN" quantize -q -s W4A16 "$TMP/orig.st" "$TMP/orig.q.st" || exit 2
gate "against its own original: passes" 0 "" --against "$TMP/orig.st" "$TMP/orig.q.st"
gate "error beyond twice the largest step" 1 \
	"max abs err 0.230469 is more than twice the largest quantization step of its groups (0.0668945)" \
	--against "$TMP/other.st" "$TMP/orig.q.st"
! grep -q '^  m.a.weight ' "$TMP/out" && pass "the intact module is not reported" || fail "the intact module is not reported" "$(cat "$TMP/out")"
gate "a negative SNR" 1 "SNR -5.74 dB: the error is larger than the signal" --against "$TMP/neg.st" "$TMP/orig.q.st"
run_cli 1 verify --json --against "$TMP/other.st" "$TMP/orig.q.st"
grep -q '"modules": \[' "$TMP/out" && grep -q '"max_step": ' "$TMP/out" &&
	pass "--json lists decoded modules apart from stored tensors" || fail "--json lists decoded modules apart from stored tensors"
run_cli 0 verify --json --against "$TMP/orig.st" "$TMP/orig.st"
grep -q '"snr_db": "inf"' "$TMP/out" && pass "an exact match reports SNR \"inf\"" || fail "an exact match reports SNR \"inf\"" "$(grep snr "$TMP/out" | head -2)"
# thresholds show enough digits
run_cli 0 verify --json --against "$FIX" "$TMP/w4"
cos=$(grep -o '"cosine": [0-9.e-]*' "$TMP/out" | awk 'NR == 1 || $2 < m { m = $2 } END { print m }')
lim=$(awk -v c="$cos" 'BEGIN { printf "%.9f", c + 2e-9 }')
gate "a threshold just above the value fails" 1 "below --min-cosine $lim" --against "$FIX" --min-cosine "$lim" "$TMP/w4"
shown=$(grep -o "cosine [0-9.]* below --min-cosine $lim" "$TMP/out" | head -1 | awk '{print $2}')
[ -n "$shown" ] && [ "$(printf '%s' "$shown" | wc -c)" -ge 10 ] && [ "$shown" != "$lim" ] &&
	pass "the value is shown with enough digits to differ ($shown < $lim)" || fail "the value is shown with enough digits to differ" "'$shown' vs '$lim'"

# ---- --against: a tensor stored unquantized is the original's bits -----------
# (copied tensors: no codec touched them, so any difference is corruption)
# swap ROWS A and B (of BYTES bytes each) of tensor T in file F
swap_rows() {
	off=$("$T/stdump" -o "$1" | awk -v t="$2" '$1 == t {print $2}')
	a=$((off + $3 * $5)); b=$((off + $4 * $5))
	dd if="$1" of="$TMP/rowa" bs=1 skip="$a" count="$5" status=none
	dd if="$1" of="$TMP/rowb" bs=1 skip="$b" count="$5" status=none
	dd if="$TMP/rowb" of="$1" bs=1 seek="$a" conv=notrunc status=none
	dd if="$TMP/rowa" of="$1" bs=1 seek="$b" conv=notrunc status=none
}
for meta in plain checksums; do
	[ "$meta" = plain ] && src="$TMP/plain" || src="$TMP/w4"
	cp -r "$src" "$TMP/cp-$meta"
	"$T/stdump" "$TMP/cp-$meta/$S2" >/dev/null 2>&1
	# model.norm.weight's first value halved (BF16 1.0 -> 0.5, or x -> x/2 in general)
	nf=$(grep -l '"model.norm.weight"' "$TMP/cp-$meta"/*.safetensors | head -1)
	poke "$nf" model.norm.weight '\000\077'
	gate "--against: a changed norm value fails ($meta)" 1 \
		"model.norm.weight  snr" --against "$FIX" "$TMP/cp-$meta"
	# with checksums, the mismatch is the first problem named; without, the copy rule
	[ "$meta" = plain ] && want="differs from the original, first at element 0 (a tensor stored unquantized must be bit-identical to it)" ||
		want="checksum mismatch"
	grep "model.norm.weight" "$TMP/out" | grep -qF "$want" &&
		pass "... naming the tensor and why ($meta)" || fail "... naming the tensor and why ($meta)" "$(cat "$TMP/out")"
	run_cli 1 verify --json --exact --against "$FIX" "$TMP/cp-$meta"
	grep -A3 '"name": "model.norm.weight"' "$TMP/out" | grep -q '"ok": false' &&
		pass "--against --exact fails it too ($meta)" || fail "--against --exact fails it too ($meta)"
	cp -r "$src" "$TMP/rows-$meta"
	lf=$(grep -l '"lm_head.weight"' "$TMP/rows-$meta"/*.safetensors | head -1)
	# lm_head [512, 256] BF16: rows of 512 bytes
	swap_rows "$lf" lm_head.weight 3 7 512
	gate "--against: two lm_head rows swapped fail ($meta)" 1 "lm_head.weight" --against "$FIX" "$TMP/rows-$meta"
	[ "$meta" = plain ] && want="first at element 768" || want="checksum mismatch"
	grep "lm_head.weight" "$TMP/out" | grep -qF "$want" && pass "... and why ($meta)" ||
		fail "... and why ($meta)" "$(grep lm_head "$TMP/out")"
done
# the same values in another dtype: the original rounded to the copy's dtype
mk "$TMP/f32.st" "m.norm.weight:F32:64:0.3" "m.q.weight:F32:32x128"
mk "$TMP/bf16.st" "m.norm.weight:BF16:64:0.3" "m.q.weight:F32:32x128"
mk "$TMP/bf16b.st" "m.norm.weight:BF16:64:0.31" "m.q.weight:F32:32x128"
"$CT_BIN" quantize -q -s W8A16 "$TMP/bf16.st" "$TMP/bf16.q.st" || exit 2
"$CT_BIN" quantize -q -s W8A16 "$TMP/bf16b.st" "$TMP/bf16b.q.st" || exit 2
gate "a BF16 copy of an F32 original, rounded: passes" 0 "" --against "$TMP/f32.st" "$TMP/bf16.q.st"
gate "a BF16 copy that is not the F32 original rounded: fails" 1 \
	"differs from the original F32 rounded to BF16, first at element 0" --against "$TMP/f32.st" "$TMP/bf16b.q.st"
# a decompressed checkpoint records what it decoded: the rest is held to bits
"$CT_BIN" decompress -q "$TMP/w4" "$TMP/w4d" || exit 2
gate "a decompressed checkpoint against its original: passes" 0 "" --against "$FIX" "$TMP/w4d"
nf=$(grep -l '"model.norm.weight"' "$TMP/w4d"/*.safetensors | head -1)
"$CT_BIN" decompress -q --plain-metadata "$TMP/w4" "$TMP/w4dp" || exit 2
cp -r "$TMP/w4d" "$TMP/w4d-bad"
poke "$TMP/w4d-bad/$(basename "$nf")" model.norm.weight '\000\077'
# its checksums hidden (the key renamed, same length), so only the copy rule can see it
sed -i 's/"ctensors\.xxh3"/"ctensors.xxh4"/' "$TMP/w4d-bad"/*.safetensors
gate "a decompressed checkpoint (no checksums) with a changed norm: fails" 1 \
	"model.norm.weight  snr 30.23 dB  cosine 0.999526  max abs 0.4922  differs from the original, first at element 0" --against "$FIX" "$TMP/w4d-bad"
cp -r "$TMP/w4dp" "$TMP/w4dp-bad"
poke "$TMP/w4dp-bad/$(basename "$nf")" model.norm.weight '\000\077'
gate "... but a dense checkpoint of unknown making is measured, not held to bits" 0 "" --against "$FIX" "$TMP/w4dp-bad"

# ---- writers hold their output to verify's verdict before the commit --------
# a stray KV-cache scale with no kv_cache_scheme: verify fails any checkpoint
# holding it, so no writer may leave one behind with exit 0
mk "$TMP/kv.st" "m.self_attn.q_proj.weight:BF16:32x128" "m.self_attn.k_scale:F32:1:1"
for w in "quantize -s W4A16" "quantize -s FP8_DYNAMIC" "compress -F sparse-bitmask"; do
	rm -rf "$TMP/kv.out.st"
	[ "$w" = "compress -F sparse-bitmask" ] && src="$TMP/kv.sp.st" || src="$TMP/kv.st"
	[ -f "$TMP/kv.sp.st" ] || mk "$TMP/kv.sp.st" "m.self_attn.q_proj.weight:BF16:32x128:0" "m.self_attn.k_scale:F32:1:1"
	# shellcheck disable=SC2086
	expect "$w: an output verify would fail is refused" 3 \
		"m.self_attn.k_scale: a KV-cache scale, but the config has no kv_cache_scheme (the output would fail 'ctensors verify'" \
		$w "$src" "$TMP/kv.out.st"
	[ ! -e "$TMP/kv.out.st" ] && pass "... and nothing is left ($w)" || fail "... and nothing is left ($w)"
done
# non-float "weights" are no bitmask a loader (or verify) can decode
mk "$TMP/nf.st" "a.weight:BF16:16x16:0" "b.weight:U64:16x16:0" "c.weight:C64:16x16:0"
expect "compress -F sparse-bitmask: U64 and C64 weights stay dense" 0 "" compress -q -F sparse-bitmask "$TMP/nf.st" "$TMP/nf.c.st"
gate "... and the output verifies" 0 "" "$TMP/nf.c.st"
"$T/stdump" "$TMP/nf.c.st" | grep -q '^b.weight U64' && pass "... b.weight kept as it is" || fail "... b.weight kept as it is"
echo '{"sparsity_config": {"format": "sparse-bitmask", "targets": ["Linear"], "ignore": []}}' >"$TMP/sp.json"
expect "compress -c targeting a U64 weight: refused" 3 "b.weight: dtype U64 cannot be sparse-compressed (expected a floating-point weight)" \
	compress -c "$TMP/sp.json" "$TMP/nf.st" "$TMP/nf.c2.st"
# decompress: a VL model's config under text_config; the dense output must
# not keep it there, where loaders would read it as compressed
if [ -d "$WILD/vl_text_config_w4a16_bf16" ]; then
	expect "decompress of a text_config checkpoint" 0 "" decompress -q "$WILD/vl_text_config_w4a16_bf16/input" "$TMP/vl.d"
	! grep -q quantization_config "$TMP/vl.d/config.json" && pass "... leaves no quantization_config in config.json" ||
		fail "... leaves no quantization_config in config.json" "$(grep -n quantization_config "$TMP/vl.d/config.json")"
	gate "... and its output verifies" 0 "" "$TMP/vl.d"
fi

# ---- wild checkpoints: activation order and calibrated parameters ---------------
if [ -d "$WILD" ]; then
	cp -r "$WILD/gptq_actorder_weight_w4g128_bf16/input" "$TMP/ao1"
	sed -i 's/"actorder": "weight"/"actorder": "group"/' "$TMP/ao1/config.json"
	gate "actorder group without weight_g_idx" 1 "says actorder \"group\" but model.layers.0.mlp.down_proj.weight_g_idx is missing" "$TMP/ao1"
	cp -r "$WILD/gptq_actorder_group_sym_w4g128_bf16/input" "$TMP/ao2"
	sed -i 's/"actorder": "group"/"actorder": null/' "$TMP/ao2/config.json"
	gate "weight_g_idx with a config that does not say actorder group" 1 "weight_g_idx is stored but config group group_0 does not say actorder" "$TMP/ao2"
	expect "inspect says the module is act-ordered" 0 "" inspect "$WILD/gptq_actorder_group_sym_w4g128_bf16/input"
	grep -q 'packed weight, act-order' "$TMP/out" && pass "... 'packed weight, act-order'" || fail "... 'packed weight, act-order'"
	cp -r "$WILD/fp8_w8a8_static_tensor_bf16/input" "$TMP/st1"
	# input activations made dynamic: the stored input_scale is then unexpected
	awk 'BEGIN{ia=0} /"input_activations"/{ia=1} ia && /"dynamic": false/ { sub(/false/, "true"); ia=0 } {print}' \
		"$WILD/fp8_w8a8_static_tensor_bf16/input/config.json" >"$TMP/st1/config.json"
	gate "input_scale stored for dynamic input activations" 1 "input_scale is stored but config group" "$TMP/st1"
	cp -r "$WILD/fp8_channel_dynamic_sharded_bf16/input" "$TMP/st3"
	# the input made static per-tensor, which needs a stored input_scale
	awk '/"input_activations"/ { ia = 1 } ia && /"dynamic": true/ { sub(/true/, "false") }
	     ia && /"strategy": "token"/ { sub(/token/, "tensor"); ia = 0 } { print }' \
		"$WILD/fp8_channel_dynamic_sharded_bf16/input/config.json" >"$TMP/st3/config.json"
	gate "static input activations without input_scale" 1 "has static input activations but model.layers.0.mlp.down_proj.input_scale is missing" "$TMP/st3"
	cp -r "$WILD/fp8_kv_cache_bf16/input" "$TMP/kv1"
	awk '/"kv_cache_scheme": \{/ { print "  \"kv_cache_scheme\": null,"; skip = 1; next } skip && /^    \}/ { skip = 0; next } skip { next } { print }' \
		"$WILD/fp8_kv_cache_bf16/input/config.json" >"$TMP/kv1/config.json"
	grep -q '"kv_cache_scheme": null' "$TMP/kv1/config.json" && pass "the kv_cache_scheme is removed" ||
		fail "the kv_cache_scheme is removed" "$(grep -A3 kv_cache "$TMP/kv1/config.json")"
	gate "k_scale with no kv_cache_scheme" 1 "a KV-cache scale, but the config has no kv_cache_scheme" "$TMP/kv1"
	cp -r "$WILD/fp8_w8a8_static_tensor_bf16/input" "$TMP/st2"
	poke "$TMP/st2/model.safetensors" model.layers.0.mlp.down_proj.input_scale '\200\277'
	gate "a negative input_scale" 1 "model.layers.0.mlp.down_proj.input_scale  value 0 is -1 (expected finite and > 0)" "$TMP/st2"
	gate "the NVFP4 W4A4 checkpoint verifies" 0 "" "$WILD/nvfp4_w4a4_bf16/input"
else
	skip "wild gate cases" "$WILD is absent"
fi
finish
