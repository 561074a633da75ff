#!/bin/sh
# tests/moe_heldout.sh - MoE checkpoints beyond the wild fixtures: other
# families, expert counts, shapes, dtypes, layer counts and shardings, made
# by tests/tools/gen_moe together with their per-expert dense equivalent
# (split there by indexing, independently of src/lib/moe.c). Quantizing the
# fused input must give exactly the tensors and config that quantizing the
# per-expert equivalent gives, and the per-expert path is the library's
# (tests/golden.sh, tests/moe.sh).
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}

# same_tensors A B: the .safetensors files of model directories A and B
# hold the same tensors (names, dtypes, shapes, bytes), however sharded
same_tensors() {
	for f in "$1"/*.safetensors; do
		"$T/stsub" "$f" "$2"/*.safetensors || return 1
	done
	for f in "$2"/*.safetensors; do
		"$T/stsub" "$f" "$1"/*.safetensors || return 1
	done
}

qconfig() { "$T/jget" .quantization_config <"$1/config.json"; }

# global scale of a one-element tensor, as stdump prints it
gscale() { "$T/stdump" "$1" | awk -v n="$2" '$1 == n { print $5 }'; }

# case NAME FAMILY LAYOUT E H I DTYPE LAYERS SHARDS SCHEMES [gen_moe options]
# (cn, not name: lib.sh's expect and check set $name)
case_() {
	cn=$1 fam=$2 lay=$3 e=$4 h=$5 i=$6 dt=$7 layers=$8 shards=$9
	shift 9
	schemes=$1
	shift
	d="$TMP/$cn"
	if ! "$T/gen_moe" "$@" "$d" "$fam" "$lay" "$e" "$h" "$i" "$dt" "$layers" "$shards"; then
		fail "$cn: generated"
		return
	fi
	for s in $schemes; do
		q="$d/q-$s" qd="$d/qd-$s"
		expect "$cn $s: quantize the input as it is" 0 "" quantize -q -s "$s" "$d/input" "$q"
		expect "$cn $s: quantize the per-expert equivalent" 0 "" quantize -q -s "$s" \
			"$d/dense_equivalent" "$qd"
		check "$cn $s: the same tensors as for the per-expert model" same_tensors "$q" "$qd"
		[ "$(qconfig "$q")" = "$(qconfig "$qd")" ] &&
			pass "$cn $s: the same quantization_config (ignore list included)" ||
			fail "$cn $s: the same quantization_config (ignore list included)" \
				"$(qconfig "$q" | head -c 300)"
		"$T/stdump" "$q" >"$TMP/dump"
		! grep -q '\.experts\.\(gate_up_proj\|down_proj\)' "$TMP/dump" &&
			pass "$cn $s: no fused tensor is left" || fail "$cn $s: no fused tensor is left"
		expect "$cn $s: verify --against the fused input" 0 "" verify -q --against "$d/input" "$q"
		"$CT_BIN" verify -v --against "$d/dense_equivalent" "$q" 2>&1 | sort >"$TMP/v-dense"
		"$CT_BIN" verify -v --against "$d/input" "$q" 2>&1 | sort | cmp -s - "$TMP/v-dense" &&
			pass "$cn $s: verify measures against the fused input what it does against the per-expert model" ||
			fail "$cn $s: verify measures against the fused input what it does against the per-expert model"
		case $fam in
		gptoss)
			# models/gpt_oss.py: GptOssModel._load_weights_other (vLLM 9aaf83ef)
			# maps fused w13/w2 tensors only: per-expert experts are never filled
			"$CT_BIN" verify -q --serving vllm --json "$q" >"$TMP/sv" 2>/dev/null
			[ $? = 1 ] && grep -q '"rule": "vllm-moe-loader"' "$TMP/sv" &&
				pass "$cn $s: vLLM's gpt-oss loader maps no per-expert tensors" ||
				fail "$cn $s: vLLM's gpt-oss loader maps no per-expert tensors" ;;
		*) expect "$cn $s: passes vLLM's check" 0 "" verify -q --serving vllm "$q" ;;
		esac
		case $s in NVFP4A16)
			# each expert's gate and up (w1 and w3) share one global scale
			bad=0
			for n in $(awk '/(gate_proj|w1)\.weight_global_scale / { print $1 }' "$TMP/dump"); do
				u=$(echo "$n" | sed 's/gate_proj\.weight_global/up_proj.weight_global/; s/\.w1\.weight_global/.w3.weight_global/')
				g1=$(gscale "$q" "$n") u1=$(gscale "$q" "$u")
				g2=$(gscale "$qd" "$n") u2=$(gscale "$qd" "$u")
				[ -n "$g1" ] && [ "$g1" = "$u1" ] && [ "$g2" = "$u2" ] || bad=$((bad + 1))
			done
			[ "$bad" = 0 ] && grep -q 'weight_global_scale' "$TMP/dump" &&
				pass "$cn $s: gate and up of every expert share a global scale, fused or not" ||
				fail "$cn $s: gate and up of every expert share a global scale, fused or not" "$bad differ"
		esac
	done
}

# ---- fused layouts A, B and C: families, E in {1, 3, 8, 16}, H != I --------
ALL="W4A16 W8A16 NVFP4A16 MXFP4A16 FP8_DYNAMIC"
case_ a_qwen35_e8 qwen3_5 A 8 256 128 BF16 2 2 "$ALL"
case_ a_qwen35_e16_f16 qwen3_5 A 16 128 256 F16 1 1 "W4A16 NVFP4A16" -w
case_ a_deepseek_e1 deepseek A 1 128 384 BF16 2 3 "W4A16 NVFP4A16 FP8_DYNAMIC"
case_ a_glm_e3_f16 glm A 3 384 128 F16 2 2 "W8A16 NVFP4A16"
case_ a_llama4_e4 llama4 A 4 128 128 BF16 1 1 "W4A16"
# transformers v5 Mixtral saved fused: split back to w1/w3/w2, as vLLM's loader maps them
case_ a_mixtral_e4 mixtral A 4 128 256 BF16 2 2 "W4A16 NVFP4A16"
case_ b_llama4_e3 llama4 B 3 128 256 BF16 2 2 "$ALL"
case_ b_qwen3vl_e8_f16 qwen3_vl B 8 256 128 F16 1 1 "W4A16 NVFP4A16"
case_ b_llama4_e16_f16 llama4 B 16 128 128 F16 1 2 "NVFP4A16 MXFP4A16" -w
case_ c_gptoss_e8 gptoss C 8 256 128 BF16 2 2 "$ALL"
case_ c_gptoss_e3_f16 gptoss C 3 128 256 F16 1 1 "W4A16 NVFP4A16"
case_ c_gptoss_nobias gptoss C 4 128 128 BF16 1 2 "W4A16 NVFP4A16" -n
# I not a multiple of 128: schemes whose groups divide it (NVFP4 16, MXFP4 32)
case_ a_qwen35_i96 qwen3_5 A 3 128 96 BF16 1 2 "NVFP4A16 MXFP4A16 FP8_DYNAMIC"
case_ b_llama4_i160 llama4 B 8 128 160 BF16 1 1 "NVFP4A16 MXFP4A16"
case_ c_gptoss_h192_i48 gptoss C 3 192 48 F16 1 1 "NVFP4A16 FP8_DYNAMIC"
# fused and per-expert layers in one checkpoint
case_ m_qwen35_mixed qwen3_5 M 8 128 128 BF16 3 3 "W4A16 NVFP4A16"

# ---- per-expert 2-D checkpoints of each family ------------------------------
case_ p_mixtral_e8 mixtral P 8 128 256 BF16 2 2 "W4A16 NVFP4A16"
case_ p_deepseek_e3 deepseek P 3 256 128 BF16 2 2 "W4A16 NVFP4A16"
case_ p_qwen3next_e4_f16 qwen3_next P 4 128 128 F16 1 1 "W4A16 NVFP4A16"
case_ p_qwen35_e16 qwen3_5 P 16 128 128 BF16 1 3 "W8A16"

# routers, gates and biases stay dense; presets list them in ignore
ign() { "$T/jget" .quantization_config.ignore <"$TMP/$1/q-$2/config.json"; }
"$T/stdump" "$TMP/a_mixtral_e4/q-W4A16" | grep -q '^model.layers.1.block_sparse_moe.experts.3.w3.weight_packed' &&
	! "$T/stdump" "$TMP/a_mixtral_e4/q-W4A16" | grep -q 'up_proj' &&
	pass "fused Mixtral: experts split as w1/w3/w2" ||
	fail "fused Mixtral: experts split as w1/w3/w2" "$("$T/stdump" "$TMP/a_mixtral_e4/q-W4A16" | grep experts | head -3)"
ign p_mixtral_e8 W4A16 | grep -q '"model.layers.1.block_sparse_moe.gate"' &&
	"$T/stdump" "$TMP/p_mixtral_e8/q-W4A16" | grep -q '^model.layers.1.block_sparse_moe.gate.weight BF16' &&
	"$T/stdump" "$TMP/p_mixtral_e8/q-W4A16" | grep -q '^model.layers.1.block_sparse_moe.experts.7.w2.weight_packed' &&
	pass "Mixtral: the router dense and ignored, w1/w2/w3 quantized" ||
	fail "Mixtral: the router dense and ignored, w1/w2/w3 quantized" "$(ign p_mixtral_e8 W4A16)"
"$T/stdump" "$TMP/p_deepseek_e3/q-W4A16" >"$TMP/dump"
ign p_deepseek_e3 W4A16 | grep -q '"model.layers.1.mlp.gate"' &&
	! ign p_deepseek_e3 W4A16 | grep -q 'gate_proj' &&
	grep -q '^model.layers.1.mlp.gate.e_score_correction_bias F32 \[3\]' "$TMP/dump" &&
	grep -q '^model.layers.0.mlp.gate_proj.weight_packed' "$TMP/dump" &&
	grep -q '^model.layers.1.mlp.shared_experts.down_proj.weight_packed' "$TMP/dump" &&
	pass "DeepSeek: router and e_score_correction_bias dense, dense MLP and shared experts quantized" ||
	fail "DeepSeek: router and e_score_correction_bias dense, dense MLP and shared experts quantized" \
		"$(ign p_deepseek_e3 W4A16)"
ign p_qwen3next_e4_f16 W4A16 | grep -q '"model.layers.0.mlp.shared_expert_gate"' &&
	ign p_qwen3next_e4_f16 W4A16 | grep -q '"model.layers.0.mlp.gate"' &&
	"$T/stdump" "$TMP/p_qwen3next_e4_f16/q-W4A16" | grep -q '^model.layers.0.mlp.shared_expert_gate.weight F16 \[1,128\]' &&
	pass "Qwen3-Next: the router and shared_expert_gate dense and ignored" ||
	fail "Qwen3-Next: the router and shared_expert_gate dense and ignored" "$(ign p_qwen3next_e4_f16 W4A16)"
"$T/stdump" "$TMP/c_gptoss_e8/q-W4A16" >"$TMP/dump"
grep -q '^model.layers.1.mlp.experts.7.gate_proj.bias BF16 \[128\]' "$TMP/dump" &&
	grep -q '^model.layers.1.mlp.router.bias BF16 \[8\]' "$TMP/dump" &&
	ign c_gptoss_e8 W4A16 | grep -q '"model.layers.1.mlp.router"' &&
	pass "gpt-oss: expert biases split dense, the router dense and ignored" ||
	fail "gpt-oss: expert biases split dense, the router dense and ignored"

# ---- a shape the scheme cannot take is refused, naming the expert ----------
d="$TMP/a_qwen35_i96"
expect "I = 96 with W4A16 (group 128): refused" 3 \
	"model.layers.0.mlp.experts.0.down_proj.weight: columns 96 not a multiple of group_size 128" \
	quantize -s W4A16 "$d/input" "$d/bad"
[ ! -e "$d/bad" ] && pass "nothing is written when refused" || fail "nothing is written when refused"
expect "--skip-incompatible on the fused input" 0 "" quantize -q -s W4A16 --skip-incompatible "$d/input" "$d/skip"
expect "--skip-incompatible on the per-expert model" 0 "" quantize -q -s W4A16 --skip-incompatible \
	"$d/dense_equivalent" "$d/skip-d"
check "--skip-incompatible: the same tensors (down_proj dense per expert)" same_tensors "$d/skip" "$d/skip-d"
"$T/stdump" "$d/skip" | grep -q '^model.layers.0.mlp.experts.2.down_proj.weight BF16 \[128,96\]' &&
	"$T/stdump" "$d/skip" | grep -q '^model.layers.0.mlp.experts.2.up_proj.weight_packed' &&
	[ "$(qconfig "$d/skip")" = "$(qconfig "$d/skip-d")" ] &&
	pass "--skip-incompatible: down_proj kept dense and listed alike" ||
	fail "--skip-incompatible: down_proj kept dense and listed alike"

# ---- decompress: per-expert dense, and --fused back to the input's layout ---
for c in a_qwen35_e8 b_llama4_e3 c_gptoss_e8 a_deepseek_e1; do
	d="$TMP/$c"
	expect "$c: decompress" 0 "" decompress -q "$d/q-W4A16" "$d/dq"
	expect "$c: the dense experts verify --against the fused input" 0 "" \
		verify -q --against "$d/input" --min-snr-db 8 "$d/dq"
	# only o_proj quantized: every expert tensor stays dense, split per expert
	expect "$c: quantize with the experts kept dense" 0 "" quantize -q -s W8A16 \
		--targets 're:.*o_proj$' "$d/input" "$d/keep"
	expect "$c: decompress --fused" 0 "" decompress -q --fused "$d/keep" "$d/refused"
	"$T/stdump" "$d/refused" | grep -q '\.experts\.gate_up_proj' && ! "$T/stdump" "$d/refused" | grep -q '\.experts\.0\.' &&
		pass "$c: --fused writes the fused tensors alone" || fail "$c: --fused writes the fused tensors alone"
	for f in "$d"/input/*.safetensors; do
		"$T/stsub" "$f" "$d"/refused/*.safetensors 2>&1 | grep -v '^model\.layers\.[0-9]*\.self_attn\.o_proj\.weight:'
	done >"$TMP/err"
	[ ! -s "$TMP/err" ] && pass "$c: the fused tensors (and biases) come back byte for byte" ||
		fail "$c: the fused tensors (and biases) come back byte for byte" "$(head -3 "$TMP/err")"
	expect "$c: decompress --fused of W4A16" 0 "" decompress -q --fused "$d/q-W4A16" "$d/w4-fused"
	expect "$c: the W4A16 experts, refused, are close to the input" 0 "" \
		verify -q --against "$d/input" --min-snr-db 8 "$d/w4-fused"
done

# ---- verify --against a fused original: missing slices are named -----------
d="$TMP/miss"
"$T/gen_moe" -d model.layers.0.feed_forward.experts.2.down_proj.weight "$d" llama4 B 3 128 128 BF16 1 2 || exit 2
"$CT_BIN" quantize -q -s W4A16 "$d/dense_equivalent" "$d/q" || exit 2
run_cli 1 verify --against "$d/input" "$d/q"
grep -q 'model.layers.0.feed_forward.experts.2.down_proj.weight .*in the original (a slice of the fused model.layers.0.feed_forward.experts.down_proj) but missing here' "$TMP/out" &&
	! grep -q 'experts\.\(gate_up\|down\)_proj  ' "$TMP/out" &&
	[ "$(grep -c 'missing here' "$TMP/out")" = 1 ] &&
	pass "layout B: the one missing expert named, the fused tensors not" ||
	fail "layout B: the one missing expert named, the fused tensors not" "$(grep -i missing "$TMP/out" | head -3)"
d="$TMP/miss-c"
"$T/gen_moe" -d model.layers.0.mlp.experts.1.up_proj.bias "$d" gptoss C 3 128 128 BF16 1 1 || exit 2
"$CT_BIN" quantize -q -s W4A16 "$d/dense_equivalent" "$d/q" || exit 2
run_cli 1 verify --against "$d/input" "$d/q"
grep -q 'model.layers.0.mlp.experts.1.up_proj.bias .*a slice of the fused model.layers.0.mlp.experts.gate_up_proj_bias) but missing here' "$TMP/out" &&
	[ "$(grep -c 'missing here' "$TMP/out")" = 1 ] &&
	pass "layout C: a missing bias slice named" ||
	fail "layout C: a missing bias slice named" "$(grep -i missing "$TMP/out" | head -3)"
# values that are not the slice fail: a model of other values, same names
"$T/gen_moe" -s 7 "$TMP/other" gptoss C 3 128 128 BF16 1 1 || exit 2
run_cli 1 verify --min-snr-db 5 --against "$TMP/other/input" "$d/q"
grep -q 'model.layers.0.mlp.experts.[0-2].[a-z]*_proj.weight .*SNR -' "$TMP/out" &&
	grep -q 'model.layers.0.mlp.experts.[0-2].[a-z]*_proj.bias .*differs from the original, first at element' "$TMP/out" &&
	pass "layout C: weights and biases compared with their slices' values" ||
	fail "layout C: weights and biases compared with their slices' values" "$(grep experts "$TMP/out" | head -3)"
finish
