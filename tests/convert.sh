#!/bin/sh
# tests/convert.sh - `ctensors convert` on checkpoints made by other tools
# (../shared/convert): each conversion case decompresses to the source
# tool's own dequantization (expected_dequantized, bit for bit or within the
# case's tolerance), carries its other tensors over byte for byte, matches
# the library converter's output where expected/ holds one, and verifies
# --exact against its source; each refusal exits 3 with one message and
# leaves no config.json. Then the CLI: --from, --dry-run, -f.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
CONV=${CT_CONVERT:-../shared/convert}
# a case.json field, read with sed (no jq, no python): "result", "max_rel"
field() { tr -d '\n' <"$1" | sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1; }

# Every case of directory $1 (laid out as ../shared/convert is); outputs
# under $TMP/$2.
run_cases() {
n=0
mkdir -p "$TMP/$2"
for case in "$1"/*/; do
	case=${case%/}
	cname=$(basename "$case")
	[ -f "$case/case.json" ] || continue
	n=$((n + 1))
	out="$TMP/$2/$cname"
	result=$(field "$case/case.json" result)
	if [ "$result" = refuse ]; then
		expect "$cname: refused (exit 3, one message)" 3 "$(field "$case/case.json" message)" \
			convert "$case/input" "$out"
		[ ! -e "$out/config.json" ] && [ ! -e "$out" ] &&
			pass "$cname: no output left behind" || fail "$cname: no output left behind" "$(ls "$out")"
		continue
	fi
	if ! "$CT_BIN" convert "$case/input" "$out" >/dev/null 2>"$TMP/err"; then
		fail "$cname: convert" "$(head -c 300 "$TMP/err")"
		continue
	fi
	pass "$cname: converts"
	warning=$(field "$case/case.json" warning)
	if [ -n "$warning" ]; then
		grep -qF "$warning" "$TMP/err" && pass "$cname: warns: $warning" ||
			fail "$cname: warns: $warning" "$(head -c 300 "$TMP/err")"
	fi
	[ -f "$out/config.json" ] && grep -q '"quant_method": "compressed-tensors"' "$out/config.json" &&
		pass "$cname: config.json says compressed-tensors" ||
		fail "$cname: config.json says compressed-tensors"
	[ ! -e "$out/hf_quant_config.json" ] && pass "$cname: hf_quant_config.json not copied" ||
		fail "$cname: hf_quant_config.json not copied"
	# output shards mirror the input's
	ins=$(cd "$case/input" && ls *.safetensors | tr '\n' ' ')
	outs=$(cd "$out" && ls *.safetensors | tr '\n' ' ')
	[ "$ins" = "$outs" ] && pass "$cname: shards mirror the input ($ins)" ||
		fail "$cname: shards mirror the input" "$ins vs $outs"
	# dense tensors, and every tensor kept by name, carried over byte for byte
	# (but an F16 or BF16 FP8 scale, widened to F32 with the same values)
	ok=1
	for f in "$case"/input/*.safetensors; do
		"$T/stsub" --common-widen "$f" "$out"/*.safetensors 2>"$TMP/err" || { ok=0; break; }
	done
	[ $ok = 1 ] && pass "$cname: kept tensors byte-identical" ||
		fail "$cname: kept tensors byte-identical" "$(head -c 300 "$TMP/err")"
	if [ -d "$case/expected" ]; then
		"$T/stsub" "$case/expected/model.safetensors" "$out"/*.safetensors 2>"$TMP/err" &&
			"$T/stsub" "$out/model.safetensors" "$case"/expected/*.safetensors 2>>"$TMP/err" &&
			pass "$cname: the same tensors as the library's converter writes" ||
			fail "$cname: the same tensors as the library's converter writes" "$(head -c 300 "$TMP/err")"
		fmt=$(field "$case/expected/config.json" format)
		grep -q "\"format\": \"$fmt\"" "$out/config.json" && pass "$cname: format $fmt" ||
			fail "$cname: format $fmt"
	fi
	if ! "$CT_BIN" decompress -q --dtype f32 "$out" "$out.dec" 2>"$TMP/err"; then
		fail "$cname: decompress" "$(head -c 300 "$TMP/err")"
		continue
	fi
	rel=$(field "$case/case.json" max_rel)
	if [ -n "$rel" ]; then
		mode="--rel $rel"; what="within $rel of the reference"
	else
		mode="--values"; what="bit for bit"
	fi
	# shellcheck disable=SC2086
	"$T/stsub" $mode "$case/expected_dequantized.safetensors" "$out.dec"/*.safetensors 2>"$TMP/err" &&
		pass "$cname: decompresses to the source tool's dequantization $what" ||
		fail "$cname: decompresses to the source tool's dequantization $what" "$(head -c 300 "$TMP/err")"
	expect "$cname: verify" 0 "" verify -q "$out"
	if [ -n "$rel" ]; then
		expect "$cname: verify --against the source" 0 "" verify -q --against "$case/input" "$out"
		expect "$cname: verify --exact --against the source fails (not bit-exact)" 1 "" \
			verify -q --exact --against "$case/input" "$out"
	else
		expect "$cname: verify --exact --against the source" 0 "" \
			verify -q --exact --against "$case/input" "$out"
	fi
done
[ "$n" -gt 0 ] && pass "$n convert cases found in $1" || fail "convert cases found" "none in $1"
}

# cases made here by the producers' packing rules: bit widths, group sizes,
# act-order, per-module overrides, GEMV padding, KV scales, E8M0, shards
"$T/gen_convert" "$TMP/cases" && run_cases "$TMP/cases" made
# quantize W4A16, rewrite as GPTQ v1 (ct2gptq), convert back: the same bytes
ex="$(dirname "$0")/../fixtures/example-model"
if "$CT_BIN" quantize -q -s W4A16 "$ex" "$TMP/rt-w4" && "$T/ct2gptq" "$TMP/rt-w4" "$TMP/rt-gptq" &&
	"$CT_BIN" convert -q "$TMP/rt-gptq" "$TMP/rt-back"; then
	ok=1
	for f in "$TMP"/rt-w4/*.safetensors; do
		"$T/stsub" "$f" "$TMP"/rt-back/*.safetensors 2>"$TMP/err" || ok=0
	done
	for f in "$TMP"/rt-back/*.safetensors; do
		"$T/stsub" "$f" "$TMP"/rt-w4/*.safetensors 2>>"$TMP/err" || ok=0
	done
	[ $ok = 1 ] && pass "W4A16 -> GPTQ v1 -> convert gives quantize's tensors byte for byte" ||
		fail "W4A16 -> GPTQ v1 -> convert gives quantize's tensors byte for byte" "$(head -c 300 "$TMP/err")"
else
	fail "W4A16 -> GPTQ v1 -> convert" "a step failed"
fi
kv="$TMP/made/modelopt_nvfp4_kv_sharded"
if [ -f "$kv/config.json" ]; then
	"$T/stdump" "$kv" >"$TMP/names" 2>&1
	grep -q "model.layers.0.self_attn.k_scale " "$TMP/names" &&
		grep -q "model.layers.0.self_attn.v_scale " "$TMP/names" &&
		! grep -q "k_proj.k_scale" "$TMP/names" &&
		grep -q '"model.layers.0.self_attn.v_scale"' "$kv/model.safetensors.index.json" &&
		pass "ModelOpt KV-cache scales move from k_proj/v_proj to the attention module" ||
		fail "ModelOpt KV-cache scales move from k_proj/v_proj to the attention module" "$(head -c 300 "$TMP/names")"
fi
# GPTQ qweight rows against in_features: AutoGPTQ's QuantLinear.__init__
# makes qweight [infeatures // 32 * bits, outfeatures]; the message names
# what is off, never "must be a multiple of 32" of a multiple of 32
gcfg() { printf '{"model_type": "llama", "quantization_config": {"quant_method": "gptq", "bits": %s, "group_size": 128, "desc_act": false, "sym": true, "checkpoint_format": "gptq"}}\n' "$1"; }
mkdir -p "$TMP/gq1" "$TMP/gq2" "$TMP/gq3"
gcfg 4 >"$TMP/gq1/config.json"; gcfg 4 >"$TMP/gq2/config.json"; gcfg 3 >"$TMP/gq3/config.json"
"$T/mkst" "$TMP/gq1/model.safetensors" "m.qweight:I32:16x64" "m.g_idx:I32:256" "m.qzeros:I32:2x8" "m.scales:F16:2x64" &&
	"$T/mkst" "$TMP/gq2/model.safetensors" "m.qweight:I32:16x64" "m.g_idx:I32:100" "m.qzeros:I32:1x8" "m.scales:F16:1x64" &&
	"$T/mkst" "$TMP/gq3/model.safetensors" "m.qweight:I32:1x64" "m.scales:F16:1x64" || exit 2
expect "GPTQ: g_idx of 256 beside qweight rows for 128 columns" 3 \
	"model.safetensors: m.qweight: 16 packed rows hold 128 input columns of 4 bits, but m.g_idx has 256 entries (expected 32 rows: in_features / 32 * bits)" \
	convert "$TMP/gq1" "$TMP/gq1.out"
! grep -q 'must be a multiple of 32' "$TMP/err" && pass "... no 'must be a multiple of 32' for 256" ||
	fail "... no 'must be a multiple of 32' for 256" "$(cat "$TMP/err")"
expect "GPTQ: g_idx of 100, not a multiple of 32" 3 \
	"m.qweight: m.g_idx has 100 entries, and in_features 100 is not a multiple of 32 (qweight packs in_features / 32 * bits rows; it has 16)" \
	convert "$TMP/gq2" "$TMP/gq2.out"
expect "GPTQ 3-bit: packed rows that are no whole number of columns" 3 \
	"m.qweight: 1 packed rows of 32 bits are not a whole number of 3-bit input columns (qweight packs in_features / 32 * bits rows: a multiple of 3)" \
	convert "$TMP/gq3" "$TMP/gq3.out"

# the GPTQ writers' quantize_config.json (GPTQModel quantization/config.py:
# QUANT_CONFIG_FILENAME) is not carried into the compressed-tensors output,
# where GPTQ loaders would read it; other files are
qc="$TMP/qcfg-in"
cp -r "$TMP/cases/gptq_v1_sym4_g32_desc_act/input" "$qc"
printf '{"bits": 4, "group_size": 32, "desc_act": true, "sym": true, "quant_method": "gptq"}\n' >"$qc/quantize_config.json"
printf '{}\n' >"$qc/tokenizer_config.json"
if "$CT_BIN" convert -q "$qc" "$TMP/qcfg-out" 2>"$TMP/err"; then
	[ ! -e "$TMP/qcfg-out/quantize_config.json" ] && [ -f "$TMP/qcfg-out/tokenizer_config.json" ] &&
		pass "quantize_config.json is not copied, other files are" ||
		fail "quantize_config.json is not copied, other files are" "$(ls "$TMP/qcfg-out")"
else
	fail "convert with a quantize_config.json beside config.json" "$(head -c 300 "$TMP/err")"
fi
if [ ! -d "$CONV" ]; then
	skip "shared convert cases" "$CONV is absent (the shared fixtures are not beside this checkout)"
	finish
	exit $?
fi
run_cases "$CONV" shared

# ---- the CLI ----
g="$CONV/gptq_v1_sym4_g128/input"
a="$CONV/awq_gemm_g128_not_convert/input"
if [ -d "$g" ] && [ -d "$a" ]; then
	expect "--from agrees with detection" 0 "" convert -q --from gptq "$g" "$TMP/from"
	expect "--from that disagrees with detection: usage error" 2 "describes a gptq checkpoint" \
		convert --from awq "$g" "$TMP/from2"
	[ ! -e "$TMP/from2" ] && pass "--from mismatch writes nothing" || fail "--from mismatch writes nothing"
	expect "--from an unknown format" 2 "--from: 'gguf' is not one of gptq, awq, fp8, modelopt, auto-round" convert --from gguf "$g" "$TMP/x"
	expect "an existing output without -f" 2 "" convert -q "$g" "$TMP/from"
	expect "an existing output with -f" 0 "" convert -q -f "$g" "$TMP/from"
	if run_cli 0 convert --dry-run "$g" "$TMP/dry" && grep -q "model.layers.0.self_attn.q_proj \[" "$TMP/out" &&
		grep -q "GPTQ v1 int4 g128 sym -> pack-quantized" "$TMP/out" && [ ! -e "$TMP/dry" ]; then
		pass "--dry-run prints the mapping per module and writes nothing"
	else
		fail "--dry-run prints the mapping per module and writes nothing" "$(head -c 300 "$TMP/out")"
	fi
	run_cli 0 convert --dry-run "$a" "$TMP/dry" && grep -q "AWQ GEMM int4 g128 asym" "$TMP/out" &&
		! grep -q "down_proj \[" "$TMP/out" && pass "--dry-run: AWQ modules, the unconverted left out" ||
		fail "--dry-run: AWQ modules, the unconverted left out" "$(head -c 300 "$TMP/out")"
	"$CT_BIN" convert -q "$a" "$TMP/awq" && grep -q 're:.\*down_proj.\*' "$TMP/awq/config.json" &&
		pass "modules_to_not_convert become ignore entries" || fail "modules_to_not_convert become ignore entries"
	expect "a compressed-tensors checkpoint is not converted again" 3 "already compressed-tensors" \
		convert "$TMP/awq" "$TMP/again"
	z="$CONV/gptq_v1_asym4_g128_zero0/input"
	if [ -d "$z" ]; then
		run_cli 0 convert "$z" "$TMP/zero0"
		grep -q "v1 zero-point underflow: per-field and packed decodes differ; packed (GPTQModel) decode used" "$TMP/err" &&
			grep -q "vLLM" "$TMP/err" && pass "GPTQModel v1 underflow: converted with a warning naming vLLM" ||
			fail "GPTQModel v1 underflow: converted with a warning naming vLLM" "$(head -c 300 "$TMP/err")"
		expect "-q silences the warning" 0 "" convert -q "$z" "$TMP/zero0q"
	fi
	# a bare file with -c for its config
	cp "$g/model.safetensors" "$TMP/bare.safetensors"
	expect "a bare file with -c CONFIG" 0 "" convert -q -c "$g/config.json" "$TMP/bare.safetensors" "$TMP/bare.out.safetensors"
	expect "a bare file without a config" 3 "no quantization_config" convert "$TMP/bare.safetensors" "$TMP/bare2.safetensors"
fi
finish
