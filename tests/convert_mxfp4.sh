#!/bin/sh
# tests/convert_mxfp4.sh - `ctensors convert` from the original gpt-oss MXFP4
# layout (fused experts *_blocks/*_scales, quant_method mxfp4).
#
# 1. A generated checkpoint ($CT_TOOLS/gen_gptoss_mxfp4: two layers, two
#    shards, blocks and scales of layer 0 in different shards, biases)
#    converts to per-expert mxfp4-pack-quantized modules named as
#    `quantize` names layout C, decompresses bit for bit to the
#    transformers dequantization the generator computed on its own, keeps
#    every dense tensor byte for byte, and verifies --exact against its
#    source.
# 2. Cross-check: the bf16 gpt-oss fixture of ../shared/wild quantized with
#    MXFP4A16, fused back into the release layout ($CT_TOOLS/gptoss_fuse)
#    and converted gives quantize's own tensors, byte for byte.
# 3. Refusals: exit 3, one message naming the tensor and the reason, no
#    output left.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
WILD=${CT_WILD:-../shared/wild}
P=model.layers.0.mlp.experts

# ---- 1. the generated release layout ----
G="$TMP/gen"
"$T/gen_gptoss_mxfp4" "$G" && pass "fixture generated" || fail "fixture generated"
out="$TMP/conv"
expect "converts" 0 "" convert -q "$G/input" "$out"
grep -q '"format": "mxfp4-pack-quantized"' "$out/config.json" &&
	grep -q '"quant_method": "compressed-tensors"' "$out/config.json" &&
	! grep -q '"quant_method": "mxfp4"' "$out/config.json" &&
	pass "config.json: mxfp4-pack-quantized in place of the source's config" ||
	fail "config.json: mxfp4-pack-quantized in place of the source's config"
grep -q '"scale_dtype": "torch.uint8"' "$out/config.json" && grep -q '"group_size": 32' "$out/config.json" &&
	grep -q '"input_activations": null' "$out/config.json" &&
	pass "the MXFP4A16 scheme: float 4-bit, groups of 32, U8 scales, no activations" ||
	fail "the MXFP4A16 scheme: float 4-bit, groups of 32, U8 scales, no activations"
grep -q '"re:model.layers.\*.self_attn"' "$out/config.json" && grep -q '"re:lm_head"' "$out/config.json" &&
	grep -q '"re:model.layers.\*.mlp.router"' "$out/config.json" &&
	pass "modules_to_not_convert become re: ignore entries (re.match, as transformers applies them)" ||
	fail "modules_to_not_convert become re: ignore entries"
ins=$(cd "$G/input" && ls *.safetensors | tr '\n' ' ')
outs=$(cd "$out" && ls *.safetensors | tr '\n' ' ')
[ "$ins" = "$outs" ] && pass "shards mirror the input" || fail "shards mirror the input" "$ins vs $outs"

# names, dtypes, shapes and shards of every expert tensor
"$T/stdump" "$out" | sed "s#$out/##" | grep 'mlp\.experts' | sort >"$TMP/got"
for l in 0 1; do
	for e in 0 1 2 3; do
		for p in gate_proj up_proj; do
			s1=model-00002-of-00002.safetensors; s0=$s1
			[ $l = 0 ] && s0=model-00001-of-00002.safetensors
			echo "model.layers.$l.mlp.experts.$e.$p.bias BF16 [96] $s1"
			echo "model.layers.$l.mlp.experts.$e.$p.weight_packed U8 [96,32] $s0"
			echo "model.layers.$l.mlp.experts.$e.$p.weight_scale U8 [96,2] $s1"
		done
		s=model-00002-of-00002.safetensors; d=$s
		[ $l = 0 ] && { s=model-00001-of-00002.safetensors; d=$s; }
		echo "model.layers.$l.mlp.experts.$e.down_proj.bias BF16 [64] $d"
		echo "model.layers.$l.mlp.experts.$e.down_proj.weight_packed U8 [64,48] model-00002-of-00002.safetensors"
		echo "model.layers.$l.mlp.experts.$e.down_proj.weight_scale U8 [64,3] $s"
	done
done >"$TMP/want"
sort -o "$TMP/want" "$TMP/want"
diff "$TMP/want" "$TMP/got" >"$TMP/diff" &&
	pass "per-expert names, dtypes and shapes, each in the shard of its source" ||
	fail "per-expert names, dtypes and shapes, each in the shard of its source" "$(head -c 300 "$TMP/diff")"
ok=1
for f in "$G"/input/*.safetensors; do
	"$T/stsub" --common "$f" "$out"/*.safetensors 2>"$TMP/err" || ok=0
done
[ $ok = 1 ] && ! "$T/stdump" "$out" | grep -q '_blocks\|_scales\|proj_bias ' &&
	pass "dense tensors byte for byte, no fused tensor left" ||
	fail "dense tensors byte for byte, no fused tensor left" "$(head -c 300 "$TMP/err")"
if "$CT_BIN" decompress -q --dtype f32 "$out" "$out.dec" 2>"$TMP/err"; then
	"$T/stsub" --values "$G/expected_dequantized.safetensors" "$out.dec"/*.safetensors 2>"$TMP/err" &&
		pass "decompresses to transformers' dequantization bit for bit (exponents 0 and 252 included)" ||
		fail "decompresses to transformers' dequantization bit for bit" "$(head -c 300 "$TMP/err")"
else
	fail "decompress" "$(head -c 300 "$TMP/err")"
fi
expect "verify" 0 "" verify -q "$out"
expect "verify --exact --against the source" 0 "" verify -q --exact --against "$G/input" "$out"
# models/gpt_oss.py: GptOssModel._load_weights_other (vLLM 9aaf83ef) maps fused
# w13/w2 tensors only: the per-expert experts written here are never filled
"$CT_BIN" verify -q --serving vllm --json "$out" >"$TMP/sv" 2>/dev/null
[ $? = 1 ] && grep -q '"rule": "vllm-moe-loader"' "$TMP/sv" &&
	pass "vLLM's check: the gpt-oss loader maps no per-expert tensors" ||
	fail "vLLM's check: the gpt-oss loader maps no per-expert tensors"
run_cli 0 convert --dry-run "$G/input" "$TMP/dry" && grep -q "^source: mxfp4" "$TMP/out" &&
	grep -q "$P.1.up_proj \[96, 64\]: gpt-oss MXFP4, expert 1, rows 1::2 of $P.gate_up_proj_blocks" "$TMP/out" &&
	[ ! -e "$TMP/dry" ] && pass "--dry-run: the mapping per expert, nothing written" ||
	fail "--dry-run: the mapping per expert, nothing written" "$(head -c 300 "$TMP/out")"
expect "--from mxfp4 agrees with detection" 0 "" convert -q --from mxfp4 "$G/input" "$TMP/from"
expect "--from another format: usage error" 2 "describes a mxfp4 checkpoint" \
	convert --from gptq "$G/input" "$TMP/from2"

# ---- 2. cross-check against quantize ----
W="$WILD/moe_fused_c_gptoss_bf16/input"
if [ -d "$W" ]; then
	X="$TMP/x"
	mkdir -p "$X"
	# attention left dense, as the release leaves it
	if "$CT_BIN" quantize -q -s MXFP4A16 --ignore 're:.*self_attn\.' "$W" "$X/q" 2>"$TMP/err" &&
		"$T/gptoss_fuse" "$X/q" "$X/f" 2>>"$TMP/err" &&
		"$CT_BIN" convert -q "$X/f" "$X/c" 2>>"$TMP/err"; then
		"$T/stsub" "$X/q/model.safetensors" "$X/c/model.safetensors" 2>"$TMP/err" &&
			"$T/stsub" "$X/c/model.safetensors" "$X/q/model.safetensors" 2>>"$TMP/err" &&
			pass "quantize MXFP4A16, fused to the release layout, converted: quantize's tensors byte for byte" ||
			fail "quantize MXFP4A16, fused to the release layout, converted: quantize's tensors" "$(head -c 300 "$TMP/err")"
		sed -n '/config_groups/,/"format": "mxfp4/p' "$X/q/config.json" >"$TMP/gq"
		sed -n '/config_groups/,/"format": "mxfp4/p' "$X/c/config.json" >"$TMP/gc"
		cmp -s "$TMP/gq" "$TMP/gc" && pass "the same config group as quantize writes" ||
			fail "the same config group as quantize writes" "$(diff "$TMP/gq" "$TMP/gc" | head -c 300)"
		expect "the cross-checked conversion verifies --exact against its source" 0 "" \
			verify -q --exact --against "$X/f" "$X/c"
	else
		fail "cross-check: quantize, fuse, convert" "$(head -c 300 "$TMP/err")"
	fi
else
	skip "cross-check against quantize" "$W is absent"
fi

# ---- 3. refusals ----
# mk NAME CONFIG_EXTRA TENSOR-SPECS...: a one-file checkpoint for mkst
# (U8 fill 1.2 = exponent 120; E=2, H=32, I=32 unless the case says)
mk() {
	d="$TMP/r-$1"; extra=$2; shift 2
	mkdir -p "$d"
	printf '{"model_type": "gpt_oss"%s, "quantization_config": {"quant_method": "mxfp4"}}\n' \
		"$extra" >"$d/config.json"
	"$T/mkst" "$d/model.safetensors" "$@" || echo "mkst failed for $d" >&2
}
GB="$P.gate_up_proj_blocks:U8:2x64x1x16"
GS="$P.gate_up_proj_scales:U8:2x64x1:1.2"
DB="$P.down_proj_blocks:U8:2x32x1x16"
DS="$P.down_proj_scales:U8:2x32x1:1.2"
mk ok "" "$GB" "$GS" "$DB" "$DS" "$P.gate_up_proj_bias:BF16:2x64" "$P.down_proj_bias:BF16:2x32"
expect "refusal cases: the valid one converts" 0 "" convert -q "$TMP/r-ok" "$TMP/r-ok.out"
refuse() {
	name=$1; sub=$2
	expect "refused: $name" 3 "$sub" convert "$TMP/r-$3" "$TMP/r-$3.out"
	[ ! -e "$TMP/r-$3.out" ] && pass "refused: $name: no output left" ||
		fail "refused: $name: no output left"
}
mk noscales "" "$GB" "$DB" "$DS"
refuse "blocks without scales" "$P.gate_up_proj_blocks: no $P.gate_up_proj_scales" noscales
mk scaleshape "" "$GB" "$P.gate_up_proj_scales:U8:2x64x2:1.2" "$DB" "$DS"
refuse "scale shape" "$P.gate_up_proj_scales: U8 [2, 64, 2], but $P.gate_up_proj_blocks is [2, 64, 1, 16]" scaleshape
mk odd "" "$P.gate_up_proj_blocks:U8:2x63x1x16" "$P.gate_up_proj_scales:U8:2x63x1:1.2" "$DB" "$DS"
refuse "odd 2I" "$P.gate_up_proj_blocks: 63 rows, odd" odd
mk lastdim "" "$P.gate_up_proj_blocks:U8:2x64x2x8" "$P.gate_up_proj_scales:U8:2x64x2:1.2" "$DB" "$DS"
refuse "last blocks dimension not 16" "the last dimension must be 16 bytes" lastdim
mk hidden ', "hidden_size": 48' "$GB" "$GS" "$DB" "$DS"
refuse "hidden_size not a multiple of 32" "hidden_size 48 is not a multiple of 32" hidden
mk inter "" "$GB" "$GS" "$P.down_proj_blocks:U8:2x32x2x16" "$P.down_proj_scales:U8:2x32x2:1.2"
refuse "down_proj of another intermediate size" "$P.down_proj_blocks [2, 32, 2, 16] does not match" inter
# intermediate 32 is a multiple of 32: the message says the shapes, not that
! grep -q 'multiple of 32' "$TMP/err" && grep -q 'expected \[2, 32, 1, 16\] (experts, hidden, intermediate/32)$' "$TMP/err" &&
	pass "... without 'must be a multiple of 32' for intermediate 32" ||
	fail "... without 'must be a multiple of 32' for intermediate 32" "$(cat "$TMP/err")"
mk inter48 "" "$P.gate_up_proj_blocks:U8:2x96x1x16" "$P.gate_up_proj_scales:U8:2x96x1:1.2" "$DB" "$DS"
refuse "intermediate 48, not a multiple of 32" \
	"(experts, hidden, intermediate/32), and intermediate 48 is not a multiple of 32" inter48
mk dtblocks "" "$P.gate_up_proj_blocks:I8:2x64x1x16" "$GS" "$DB" "$DS"
refuse "blocks of another dtype" "$P.gate_up_proj_blocks: I8 (MXFP4 blocks are U8" dtblocks
mk dtscales "" "$GB" "$P.gate_up_proj_scales:F32:2x64x1" "$DB" "$DS"
refuse "scales of another dtype" "$P.gate_up_proj_scales: F32 (MXFP4 scales are U8" dtscales
mk nan "" "$GB" "$P.gate_up_proj_scales:U8:2x64x1:2.555" "$DB" "$DS"
refuse "an E8M0 NaN exponent" "$P.gate_up_proj_scales: exponent 255 at element 0" nan
mk bias "" "$GB" "$GS" "$DB" "$DS" "$P.gate_up_proj_bias:BF16:2x32"
refuse "a bias of another shape" "$P.gate_up_proj_bias: BF16 [2, 32] (expected a float [2, 64])" bias
mk stray "" "$GB" "$GS" "$DB" "$DS" "model.layers.0.self_attn.q_proj_scales:U8:4x1"
refuse "scales without blocks" "model.layers.0.self_attn.q_proj_scales: MXFP4 scales without their blocks" stray
mk nogu "" "$DB" "$DS"
refuse "down_proj without gate_up_proj" "$P.down_proj_blocks: no gate_up_proj_blocks beside it" nogu

# ---- fused partners, as convert.c checks them for every reader ----
# (sorted by fusion key since gpt-oss has tens of thousands of modules)
Q=model.layers.0.self_attn
gq() { # gq DIR MODULE: a GPTQ v1 4-bit g128 sym module of [64, 128]
	echo "$1.qweight:I32:16x64 $1.scales:F16:1x64:0.01 $1.qzeros:I32:1x8:2004318.071"
}
for c in pair lone; do
	mkdir -p "$TMP/f-$c"
	printf '{"model_type": "llama", "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": true, "desc_act": false}}\n' >"$TMP/f-$c/config.json"
done
# shellcheck disable=SC2046
"$T/mkst" "$TMP/f-pair/model.safetensors" $(gq $Q.q_proj) $(gq $Q.k_proj) $(gq $Q.v_proj)
# shellcheck disable=SC2046
"$T/mkst" "$TMP/f-lone/model.safetensors" $(gq $Q.q_proj) $(gq $Q.v_proj) "$Q.k_proj.weight:BF16:64x128"
expect "q/k/v converted alike: accepted" 0 "" convert -q "$TMP/f-pair" "$TMP/f-pair.out"
expect "q converted, k dense: refused" 3 "$Q.q_proj is quantized but $Q.k_proj is not" \
	convert "$TMP/f-lone" "$TMP/f-lone.out"
finish
