#!/bin/sh
# tests/serving.sh - `verify --serving vllm` against vLLM at commit 9aaf83ef
# (../shared/vllm-src): one case per rule, each checkpoint built with the
# project's own tools, the verdict as read from the vLLM source named above
# the case (paths under vllm/model_executor/). Cases vLLM loads pass, the
# others fail naming the rule.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }
[ -d "$FIX" ] || { skip "serving" "$FIX is absent"; finish; exit $?; }

# serves NAME STATUS RULE CHECKPOINT [OPTIONS...]: verify --serving vllm exits
# STATUS and its --json serving verdict is ok (STATUS 0) or not (1); when RULE
# is given, a finding of that rule (of severity error or wrong for STATUS 1).
# STATUS "ok": the serving verdict passes, while verify's own checks may fail
# (a config edited by hand no longer matches the copy in the shard metadata).
serves() {
	name=$1; want=$2; r=$3; ck=$4; shift 4
	"$CT_BIN" verify -q --serving vllm --json "$@" "$ck" >"$TMP/out" 2>"$TMP/err"
	got=$?
	ok=$("$T/jget" .serving.ok <"$TMP/out" 2>/dev/null)
	wok=false
	[ "$want" = 1 ] || wok=true
	if [ "$want" != ok ] && [ "$got" != "$want" ] || [ "$ok" != "$wok" ]; then
		fail "$name" "exit $got, expected $want, serving ok $ok: $(grep -o '"message": "[^"]*"' "$TMP/out" | head -3 | tr '\n' ' ') $(head -c 200 "$TMP/err")"
	elif [ -n "$r" ] && ! grep -q "\"rule\": \"$r\"" "$TMP/out"; then
		fail "$name" "no finding of rule $r: $(grep -o '"rule": "[^"]*"' "$TMP/out" | sort -u | tr '\n' ' ')"
	elif [ -n "$r" ] && [ "$want" = 1 ] &&
		! grep -A1 "\"rule\": \"$r\"" "$TMP/out" | grep -q '"severity": "\(error\|wrong\)"'; then
		fail "$name" "rule $r is not a failure"
	else
		pass "$name"
	fi
}
# kernel NAME TEXT: the last --json output's kernel list holds TEXT
kernel() {
	grep -q "\"kernel\": \"[^\"]*$2" "$TMP/out" && pass "$1" ||
		fail "$1" "$(grep -o '"kernel": "[^"]*"' "$TMP/out" | head -3)"
}
# says NAME TEXT: a message of the last output holds TEXT
says() {
	grep -qF -- "$2" "$TMP/out" && pass "$1" || fail "$1" "$(grep -o '"message": "[^"]*"' "$TMP/out" | head -3)"
}
q() { "$CT_BIN" quantize -q "$@" || exit 2; }
cfg() { printf '%s\n' "$2" >"$TMP/$1.json"; }

# ---- presets --------------------------------------------------------------------
# compressed_tensors.py: _get_scheme_from_parts; schemes/*: get_min_capability;
# kernels/linear/__init__.py: choose_mp_linear_kernel (CUTLASS W4A8, Machete,
# AllSpark, Marlin, Conch, Exllama, the first that can_implement)
for spec in W4A16:sm80:MarlinLinearKernel W4A16:sm75:MarlinLinearKernel W4A16:sm90:MacheteLinearKernel \
	W4A16_ASYM:sm80:MarlinLinearKernel W4A16_ASYM:sm90:MacheteLinearKernel W8A16:sm80:MarlinLinearKernel \
	W8A8:sm75:CutlassInt8ScaledMMLinearKernel FP8_DYNAMIC:sm75:MarlinFP8ScaledMMLinearKernel \
	FP8_DYNAMIC:sm80:MarlinFP8ScaledMMLinearKernel FP8_DYNAMIC:sm89:CutlassFP8ScaledMMLinearKernel \
	FP8_BLOCK:sm90: NVFP4A16:sm80: NVFP4A16:sm100: MXFP4A16:sm80:MarlinMxFp4LinearKernel \
	MXFP4:sm100:FlashInferMxFp4LinearKernel MXFP8A16:sm75:MarlinMxfp8LinearKernel \
	MXFP8:sm100:FlashInferCutlassMxfp8LinearKernel; do
	s=${spec%%:*}; rest=${spec#*:}; gpu=${rest%%:*}; k=${rest#*:}
	[ -d "$TMP/p-$s" ] || q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s serves on $gpu at TP=1" 0 "" "$TMP/p-$s" --gpu "$gpu" --tp 1
	[ -n "$k" ] && kernel "... through $k" "$k"
done
grep -q '"scheme": "CompressedTensorsW8A8Mxfp8"' "$TMP/out" && grep -q '"vllm_commit": "9aaf83ef' "$TMP/out" &&
	pass "--json names vLLM's scheme class and the vLLM commit" || fail "--json names vLLM's scheme class and the vLLM commit"
# compressed_tensors_w8a8_fp8.py: get_min_capability 89; below, _get_scheme_from_parts
# takes CompressedTensorsW8A16Fp8 (min 75)
serves "FP8_DYNAMIC on sm80 is W8A16-FP8" 0 "" "$TMP/p-FP8_DYNAMIC" --gpu sm80 --tp 1
grep -q '"scheme": "CompressedTensorsW8A16Fp8"' "$TMP/out" && pass "... named so" || fail "... named so"
serves "FP8_DYNAMIC on sm70: below W8A16-FP8's 75" 1 vllm-capability "$TMP/p-FP8_DYNAMIC" --gpu sm70 --tp 1
says "... quoting vLLM's message" 'Min capability: 75. Current capability: 70.'
# compressed_tensors_w4a4_mxfp4.py: get_min_capability 80
serves "MXFP4A16 on sm75: below its 80" 1 vllm-capability "$TMP/p-MXFP4A16" --gpu sm75 --tp 1
serves "MXFP4A16 without a GPU: sm75 is a note" 0 vllm-capability "$TMP/p-MXFP4A16"
grep -q '"severity": "note"' "$TMP/out" && says "... and the GPUs it serves on are named" 'serves on sm80, sm86, sm89, sm90, sm100, sm120' ||
	fail "... of severity note"

# ---- which bit widths reach WNA16 ------------------------------------------------------
# schemes/compressed_tensors_wNa16.py: WNA16_SUPPORTED_BITS = [4, 8]; other widths
# fall through _get_scheme_from_parts to NotImplementedError
for s in W2A16 W3A16 W5A16 W6A16 W7A16; do
	q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s: no vLLM scheme takes int$(echo "$s" | cut -c2) weight-only" 1 vllm-dispatch "$TMP/p-$s" --gpu sm80 --tp 1
done
serves "... nor on any GPU when none is given" 1 vllm-dispatch "$TMP/p-W3A16"
for s in W2A8 W3A8 W5A8 W4A4 W2A4; do
	q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s: no vLLM scheme" 1 vllm-dispatch "$TMP/p-$s"
done
cfg asym3 '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 3, "group_size": 128, "strategy": "group", "symmetric": false}}}, "ignore": ["lm_head"]}'
q -c "$TMP/asym3.json" "$FIX" "$TMP/asym3"
serves "asymmetric 3-bit weight-only: no scheme either" 1 vllm-dispatch "$TMP/asym3" --gpu sm90 --tp 1

# ---- W4A8: int activations, the sm90 FP8 path ------------------------------------------
# _is_fp8_w4a8_sm90 looks at neither type: on sm90 W4A8 (int8 input) and W4AFP8 both go
# to CompressedTensorsW4A8Fp8, whose create_weights registers weight_packed; the library
# writes them int-quantized (weight). Elsewhere _is_dynamic_token_w4a8_int gives
# CompressedTensorsW4A8Int: int4 weights, which no CUDA kernel of _POSSIBLE_KERNELS takes.
for s in W4A8 W4AFP8; do
	q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s on sm90: W4A8-FP8 loads weight_packed, the checkpoint holds weight" 1 vllm-params "$TMP/p-$s" --gpu sm90 --tp 1
	grep -q '"scheme": "CompressedTensorsW4A8Fp8"' "$TMP/out" && pass "... $s: the scheme is W4A8Fp8" || fail "... $s: the scheme is W4A8Fp8"
	[ "$(grep -c '"rule": "vllm-params"' "$TMP/out")" = 14 ] && pass "... $s: each of the 14 modules named" ||
		fail "... $s: each of the 14 modules named" "$(grep -c '"rule": "vllm-params"' "$TMP/out")"
	serves "$s on sm80: W4A8-Int has no CUDA kernel" 1 vllm-kernel "$TMP/p-$s" --gpu sm80 --tp 1
	says "... $s names the scheme" 'CompressedTensorsW4A8Int'
	serves "$s without a GPU: serves nowhere" 1 "" "$TMP/p-$s"
	"$CT_BIN" quantize -s "$s" "$FIX" "$TMP/w-$s" >/dev/null 2>"$TMP/err"
	grep -q "warning: preset $s: vLLM (9aaf83ef) cannot load the result on any CUDA GPU: .*no CUDA kernel" "$TMP/err" &&
		pass "quantize -s $s warns that vLLM serves it on no GPU, and why" ||
		fail "quantize -s $s warns that vLLM serves it on no GPU, and why" "$(cat "$TMP/err")"
done
"$CT_BIN" quantize -s W4A16 "$FIX" "$TMP/w-W4A16" >/dev/null 2>"$TMP/err"
! grep -q 'warning: preset' "$TMP/err" && pass "quantize -s W4A16 does not warn" || fail "quantize -s W4A16 does not warn"

# ---- weight-only kernels, one limit each ---------------------------------------------------
# machete.py: Machete (sm90 exactly) takes uint8 with zero points; marlin.py:
# query_marlin_supported_quant_types takes uint4 only with zero points; allspark.py: no
# zero points; conch.py: conch-triton-kernels absent from a CUDA build; exllama.py: no
# zero-point types. So asymmetric 8-bit serves on sm90 only.
cfg asym8 '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "group_size": 128, "strategy": "group", "symmetric": false}}}, "ignore": ["lm_head"]}'
q -c "$TMP/asym8.json" "$FIX" "$TMP/asym8"
serves "uint8 with zero points on sm90: Machete" 0 "" "$TMP/asym8" --gpu sm90 --tp 1
kernel "... MacheteLinearKernel" MacheteLinearKernel
serves "uint8 with zero points on sm80: no kernel" 1 vllm-kernel "$TMP/asym8" --gpu sm80 --tp 1
says "... Marlin's reason given" 'MarlinLinearKernel: zero-point 8-bit weights not a Marlin type'
serves "... without a GPU: a note, serves on sm90" 0 vllm-kernel "$TMP/asym8"
says "... named" 'serves on sm90'
# allspark_utils.py: check_allspark_supported_dtype_shape: Ampere, channelwise uint8b128;
# AllSpark comes before Marlin
cfg ch8 '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "strategy": "channel"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/ch8.json" "$FIX" "$TMP/ch8"
serves "channelwise int8 on sm86: AllSpark" 0 "" "$TMP/ch8" --gpu sm86 --tp 1
kernel "... AllSparkLinearKernel" AllSparkLinearKernel
serves "channelwise int8 on sm100: Marlin" 0 "" "$TMP/ch8" --gpu sm100 --tp 1
kernel "... MarlinLinearKernel" MarlinLinearKernel
# marlin_utils.py: MARLIN_SUPPORTED_GROUP_SIZES [-1, 32, 64, 128]; machete_utils.py:
# [-1, 64, 128]; exllama.py: float16 activations only
q -s W4A16 --group-size 256 "$FIX" "$TMP/g256"
serves "group 256, bfloat16, sm80: no kernel" 1 vllm-kernel "$TMP/g256" --gpu sm80 --tp 1
says "... Exllama needs float16" 'ExllamaLinearKernel: float16 activations only'
mkdir -p "$TMP/fp16"
cp "$FIX"/* "$TMP/fp16/"
sed -i 's/"torch_dtype": "bfloat16"/"torch_dtype": "float16"/' "$TMP/fp16/config.json"
q -s W4A16 --group-size 256 "$TMP/fp16" "$TMP/g256h"
serves "group 256, float16, sm80: Exllama" 0 "" "$TMP/g256h" --gpu sm80 --tp 1
kernel "... ExllamaLinearKernel" ExllamaLinearKernel
# config/model.py: _resolve_auto_dtype, platforms/cuda.py: supported_dtypes: below sm80
# a bfloat16 model runs in float16
serves "group 256, bfloat16 model on sm75: float16 there, Exllama" 0 "" "$TMP/g256" --gpu sm75 --tp 1
kernel "... ExllamaLinearKernel" ExllamaLinearKernel
# marlin_utils.py: verify_marlin_supports_shape (output per GPU % 64): a 4-row router
mkdir -p "$TMP/narrow"
mk "$TMP/narrow/model.safetensors" "m.layers.0.mlp.gate_proj.weight:BF16:32x256" "m.layers.0.mlp.up_proj.weight:BF16:32x256" \
	"m.layers.0.mlp.down_proj.weight:BF16:256x32"
echo '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16"}' >"$TMP/narrow/config.json"
cfg g32 '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 32, "strategy": "group"}}}}'
q -c "$TMP/g32.json" "$TMP/narrow" "$TMP/narrow-q"
serves "a 64-wide gate_up on sm80: Marlin takes it, a 32-input down_proj it does not" 1 vllm-kernel "$TMP/narrow-q" --gpu sm80 --tp 1
says "... input per GPU" 'MarlinLinearKernel: input 32 per GPU not a multiple of 128'
# schemes/compressed_tensors_wNa16.py: create_weights asserts input_size_per_partition %
# group_size == 0 after Machete accepted o_proj's 64-wide input at TP=4
serves "W4A16 on sm90 at TP=4: the scheme's group assert" 1 vllm-group-partition "$TMP/p-W4A16" --gpu sm90 --tp 4
serves "W4A16 on sm80 at TP=4: no kernel for a 64-wide input" 1 vllm-kernel "$TMP/p-W4A16" --gpu sm80 --tp 4
serves "W4A16 without --tp: a note naming the TP sizes it serves at" 0 vllm-kernel "$TMP/p-W4A16" --gpu sm80
says "... TP 1 and 2" 'serves on sm80 at TP=1,2'
# layers/linear.py: divide (ensure_divisibility)
serves "TP=3 does not divide the layers" 1 vllm-tp-divide "$TMP/p-W4A16" --gpu sm80 --tp 3
serves "a dense checkpoint: nothing to check" 0 "" "$FIX" --gpu sm80 --tp 3

# ---- FP8 -------------------------------------------------------------------------------
# compressed_tensors_w8a16_fp8.py: create_weights -> init_wfp8_a16_linear_kernel, whose
# only CUDA kernel, MarlinFP8ScaledMMLinearKernel, refuses sm89 and up
cfg fp8wo '{"format": "float-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}, "format": "float-quantized"}}, "ignore": ["lm_head"]}'
q -c "$TMP/fp8wo.json" "$FIX" "$TMP/fp8wo"
serves "FP8 weight-only on sm86: Marlin FP8" 0 "" "$TMP/fp8wo" --gpu sm86 --tp 1
serves "FP8 weight-only on sm90: no kernel" 1 vllm-kernel "$TMP/fp8wo" --gpu sm90 --tp 1
says "... Marlin's refusal quoted" 'VLLM_TEST_FORCE_FP8_MARLIN'
# fp8_utils.py: validate_fp8_block_shape: merged partitions are checked at TP=1 too (all
# but the last); column slices at TP>1
serves "FP8_BLOCK at TP=2: k_proj's 64 rows per GPU" 1 vllm-fp8-block-shape "$TMP/p-FP8_BLOCK" --gpu sm90 --tp 2
serves "FP8_BLOCK at TP=4: o_proj's 64-wide input" 1 vllm-fp8-block-shape "$TMP/p-FP8_BLOCK" --gpu sm90 --tp 4
mkdir -p "$TMP/kv1"
mk "$TMP/kv1/model.safetensors" "model.layers.0.self_attn.q_proj.weight:BF16:256x256" \
	"model.layers.0.self_attn.k_proj.weight:BF16:64x256" "model.layers.0.self_attn.v_proj.weight:BF16:64x256" \
	"model.layers.0.self_attn.o_proj.weight:BF16:256x256"
echo '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_key_value_heads": 1, "torch_dtype": "bfloat16"}' >"$TMP/kv1/config.json"
q -s FP8_BLOCK "$TMP/kv1" "$TMP/kv1-b"
serves "FP8_BLOCK at TP=1: a 64-row k_proj in the merged qkv" 1 vllm-fp8-block-shape "$TMP/kv1-b" --gpu sm90 --tp 1
says "... the partition named" 'output_partition_size = 64 is not divisible by weight quantization block_n = 128'
# compressed_tensors_w8a8_fp8.py: __init__: block weights "assert not self.is_static_input_scheme"
cp -r "$TMP/p-FP8_BLOCK" "$TMP/blk-static"
awk '/"input_activations"/ { ia = 1 } ia && /"dynamic": true/ { sub(/true/, "false") }
     ia && /"group_size": 128/ { sub(/128/, "null") }
     ia && /"strategy": "group"/ { sub(/group/, "tensor"); ia = 0 } { print }' "$TMP/p-FP8_BLOCK/config.json" >"$TMP/blk-static/config.json"
serves "FP8 block weights with static input on sm90: the assert" 1 vllm-scheme-init "$TMP/blk-static" --gpu sm90 --tp 1
# compressed_tensors_w8a8_fp8.py: create_weights registers input_scale for a static
# input scheme; the checkpoint has none (models/llama.py fills no parameter)
cp -r "$TMP/p-FP8_DYNAMIC" "$TMP/fp8-static"
awk '/"input_activations"/ { ia = 1 } ia && /"dynamic": true/ { sub(/true/, "false") }
     ia && /"strategy": "token"/ { sub(/token/, "tensor"); ia = 0 } { print }' "$TMP/p-FP8_DYNAMIC/config.json" >"$TMP/fp8-static/config.json"
serves "FP8 with static input but no input_scale: a parameter nothing fills" 1 vllm-params "$TMP/fp8-static" --gpu sm90 --tp 1
says "... named" 'nothing fills weight, weight_scale, input_scale'

# ---- config-level --------------------------------------------------------------------------
# compressed_tensors.py: _quantization_scheme_map_from_config asserts float weights
# when an activation format has no input activations
cfg int8wo '{"format": "int-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "strategy": "channel"}, "format": "int-quantized"}}, "ignore": ["lm_head"]}'
q -c "$TMP/int8wo.json" "$FIX" "$TMP/int8wo"
serves "int weight-only in int-quantized" 1 vllm-int-weight-only-format "$TMP/int8wo" --gpu sm80 --tp 1
# compressed_tensors.py: _is_mxfp8 needs scale_dtype torch.uint8
cp -r "$TMP/p-MXFP8A16" "$TMP/mx8"
sed -i 's/"scale_dtype": "torch.uint8"/"scale_dtype": null/' "$TMP/mx8/config.json"
serves "MXFP8 without scale_dtype uint8" 1 vllm-mxfp8-scale-dtype "$TMP/mx8" --gpu sm100 --tp 1
# compressed_tensors.py: CompressedTensorsKVCacheMethod.validate_kv_cache_scheme; its
# first test is "type != float and num_bits != 8", so int8 passes; and
# layers/attention/attention.py: any kv_cache_scheme sets kv_cache_dtype fp8
kv() {
	cp -r "$TMP/p-FP8_DYNAMIC" "$TMP/kv-$1"
	sed -i "s/\"kv_cache_scheme\": null/\"kv_cache_scheme\": $2/" "$TMP/kv-$1/config.json"
	grep -q '"kv_cache_scheme": {' "$TMP/kv-$1/config.json" || fail "kv_cache_scheme $1 is set"
}
kv fp8 '{"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": false, "symmetric": true}'
serves "an FP8 kv_cache_scheme" ok "" "$TMP/kv-fp8" --gpu sm90 --tp 1
kv int8 '{"num_bits": 8, "type": "int", "strategy": "tensor", "dynamic": false, "symmetric": true}'
serves "an int8 kv_cache_scheme: accepted, run as fp8" 1 vllm-kv-cache-fp8 "$TMP/kv-int8" --gpu sm90 --tp 1
grep -q '"severity": "wrong"' "$TMP/out" && pass "... wrong numbers, not a refusal" || fail "... wrong numbers, not a refusal"
kv int4 '{"num_bits": 4, "type": "int", "strategy": "tensor", "dynamic": false, "symmetric": true}'
serves "an int4 kv_cache_scheme: refused" 1 vllm-kv-cache "$TMP/kv-int4" --gpu sm90 --tp 1
kv chan '{"num_bits": 8, "type": "float", "strategy": "channel", "dynamic": false, "symmetric": true}'
serves "a per-channel kv_cache_scheme: refused" 1 vllm-kv-cache "$TMP/kv-chan" --gpu sm90 --tp 1
kv asym '{"num_bits": 8, "type": "float", "strategy": "attn_head", "dynamic": false, "symmetric": false}'
serves "an asymmetric kv_cache_scheme: refused" 1 vllm-kv-cache "$TMP/kv-asym" --gpu sm90 --tp 1
# compressed_tensors.py: get_scheme (supports_cutlass_24, sparsity removed)
mkdir -p "$TMP/pruned"
cp "$FIX"/*.json "$TMP/pruned/"
for s in "$FIX"/*.safetensors; do "$T/prune" "$s" "$TMP/pruned/$(basename "$s")" 50 || exit 2; done
"$CT_BIN" compress -q -F sparse-bitmask "$TMP/pruned" "$TMP/sparse" || exit 2
serves "a sparsity_config" 1 vllm-sparsity "$TMP/sparse"
# compressed_tensors.py: from_config drops a group whose only target ends in Attention
cfg attn '{"config_groups": {"a": {"targets": ["LlamaAttention"], "weights": {"num_bits": 8, "strategy": "channel"}}, "l": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/attn.json" "$FIX" "$TMP/attn" 2>/dev/null
serves "a group targeting only attention: a note" 0 vllm-attention-group "$TMP/attn"
serves "... with --gpu and --tp: no note at all (an error or nothing)" 0 "" "$TMP/attn" --gpu sm80 --tp 1
! grep -q '"severity": "note"' "$TMP/out" && pass "... none" || fail "... none" "$(grep -o '"rule": "[^"]*"' "$TMP/out")"

# ---- fused layers and matching --------------------------------------------------------------
# utils.py: should_ignore_layer raises when the shards of qkv_proj / gate_up_proj differ
q -s W4A16 --ignore model.layers.0.self_attn.k_proj "$FIX" "$TMP/mixed-qkv"
serves "k_proj ignored but q/v quantized" 1 vllm-fused-mixed "$TMP/mixed-qkv" --gpu sm80 --tp 1
grep -q '"layer": "model.layers.0.self_attn.qkv_proj"' "$TMP/out" && pass "... named as vLLM's qkv_proj" || fail "... named as vLLM's qkv_proj"
q -s W4A16 --ignore 're:.*self_attn\.(q|k|v)_proj$' "$FIX" "$TMP/all-qkv"
serves "all of q/k/v ignored: fine" 0 "" "$TMP/all-qkv" --gpu sm80 --tp 1
q -s W4A16 --ignore model.layers.1.mlp.up_proj "$FIX" "$TMP/mixed-gu"
serves "up ignored, gate quantized" 1 vllm-fused-mixed "$TMP/mixed-gu" --gpu sm80 --tp 1
# all of q/k/v dense, the targets reach qkv_proj: vLLM builds it quantized
cp -r "$TMP/all-qkv" "$TMP/qkv-dense"
# (the written ignore lists q/k/v by name, as llm-compressor expands a regex)
sed -i '/"model\.layers\.[0-9]*\.self_attn\.[qkv]_proj",$/d' "$TMP/qkv-dense/config.json"
! grep -q 'self_attn\.[qkv]_proj' "$TMP/qkv-dense/config.json" || fail "config edited" "q/k/v still ignored"
serves "dense q/k/v that vLLM quantizes" 1 vllm-dense-targeted "$TMP/qkv-dense" --gpu sm80 --tp 1
# utils.py: find_matched_target tries the layer name, then the class name
# (QKVParallelLinear contains "Linear"), then the shards: q/k/v named in their own group
# lose to the class target; o_proj named matches by name
cfg names-qkv '{"config_groups": {"a": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}},
 "b": {"targets": ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj"], "weights": {"num_bits": 8, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/names-qkv.json" "$FIX" "$TMP/names-qkv"
serves "q/k/v named in an 8-bit group, Linear 4-bit: qkv_proj takes the class target" 1 vllm-fused-mixed "$TMP/names-qkv" --gpu sm80 --tp 1
says "... the group vLLM picks is named" 'vLLM resolves qkv_proj to group a'
cfg names-o '{"config_groups": {"a": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}},
 "b": {"targets": ["model.layers.0.self_attn.o_proj"], "weights": {"num_bits": 8, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/names-o.json" "$FIX" "$TMP/names-o"
serves "o_proj named in its own group: matched by name first" 0 "" "$TMP/names-o" --gpu sm80 --tp 1
# two regex targets the library ties on; vLLM takes the first in config order
# (utils.py: _find_first_match); here both say the same, so it loads
cfg same-args '{"config_groups": {"a": {"targets": ["re:.*self_attn.*"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}},
 "b": {"targets": ["re:.*mlp.*"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/same-args.json" "$FIX" "$TMP/same-args"
serves "groups of equal args across fused layers: fine" 0 "" "$TMP/same-args" --gpu sm80 --tp 1

# ---- lm_head, embeddings, parameters --------------------------------------------------------
# compressed_tensors.py: get_quant_method: ParallelLMHead gets a scheme only by name or
# regex (find_matched_target's class test: "ParallelLMHead" holds no "Linear")
cp -r "$TMP/p-W4A16" "$TMP/dense-head"
sed -i 's/"lm_head",//; s/"lm_head"//' "$TMP/dense-head/config.json"
serves "a dense lm_head the class target names: vLLM leaves it dense" ok "" "$TMP/dense-head" --gpu sm80 --tp 1
cfg head-class '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["model.embed_tokens"]}'
q -c "$TMP/head-class.json" "$FIX" "$TMP/head-class"
serves "lm_head quantized through Linear: vLLM builds it unquantized" 1 vllm-lm-head "$TMP/head-class" --gpu sm80 --tp 1
says "... the loader that raises" 'AutoWeightsLoader raises on lm_head.weight_packed'
cfg head-name '{"config_groups": {"g": {"targets": ["Linear", "lm_head"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["model.embed_tokens"]}'
q -c "$TMP/head-name.json" "$FIX" "$TMP/head-name"
serves "lm_head named in targets: quantized in vLLM too" 0 "" "$TMP/head-name" --gpu sm80 --tp 1
# compressed_tensors.py: get_quant_method returns None for VocabParallelEmbedding
cfg emb8 '{"config_groups": {"e": {"targets": ["Embedding"], "weights": {"num_bits": 8, "group_size": 128, "strategy": "group"}},
 "l": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/emb8.json" "$FIX" "$TMP/emb8"
serves "a quantized embedding, even W8A16" 1 vllm-embedding "$TMP/emb8" --gpu sm80 --tp 1
cp -r "$TMP/p-W4A16" "$TMP/emb-dense"
sed -i 's/"lm_head",$/"lm_head"/; /^ *"model.embed_tokens"$/d; s/"Linear"$/"Linear", "Embedding"/' "$TMP/emb-dense/config.json"
grep -q '"Embedding"' "$TMP/emb-dense/config.json" && ! grep -q '"model.embed_tokens"' "$TMP/emb-dense/config.json" || fail "config edited"
serves "a dense embedding the targets name: vLLM leaves it dense" ok "" "$TMP/emb-dense" --gpu sm80 --tp 1
# compressed_tensors.py: get_quant_method: an ignored layer is unquantized and registers
# weight only; models/llama.py raises on the unknown tensor, models/qwen2.py (Qwen3's
# loader) skips it and leaves weight unfilled
cp -r "$TMP/p-W4A16" "$TMP/ignored-q"
sed -i 's/^\( *\)"lm_head"$/\1"lm_head", "model.layers.1.mlp.down_proj"/' "$TMP/ignored-q/config.json"
grep -q '"model.layers.1.mlp.down_proj"' "$TMP/ignored-q/config.json" || fail "config edited" "down_proj not added to ignore"
serves "a compressed module the ignore list names (Llama: KeyError)" 1 vllm-compressed-untargeted "$TMP/ignored-q" --gpu sm80 --tp 1
says "... the loader raises" 'LlamaModel.load_weights raises on model.layers.1.mlp.down_proj.weight_packed'
cp -r "$TMP/ignored-q" "$TMP/ignored-q3"
sed -i 's/"model_type": "llama"/"model_type": "qwen3"/' "$TMP/ignored-q3/config.json"
serves "... the same in Qwen3: skipped, weight never filled" 1 vllm-compressed-untargeted "$TMP/ignored-q3" --gpu sm80 --tp 1
says "... said so" 'skips weight_packed, weight_scale, weight_shape silently, so weight is never filled'
# utils.py: find_matched_target takes the first target in config order; the library
# resolved the exact name, vLLM a regex listed before it
cfg order '{"config_groups": {"r": {"targets": ["re:.*down_proj"], "weights": {"num_bits": 8, "group_size": 128, "strategy": "group"}},
 "a": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}'
q -c "$TMP/order.json" "$FIX" "$TMP/order"
serves "regex then class: the same resolution in both" 0 "" "$TMP/order" --gpu sm80 --tp 1

# ---- mixture of experts ----------------------------------------------------------------------
moe="model.layers.0.mlp"
specs="model.embed_tokens.weight:BF16:64x128 $moe.gate.weight:BF16:64x128 lm_head.weight:BF16:64x128"
for e in 0 1 2 3; do
	specs="$specs $moe.experts.$e.gate_proj.weight:BF16:128x128 $moe.experts.$e.up_proj.weight:BF16:128x128 $moe.experts.$e.down_proj.weight:BF16:128x128"
done
mkdir -p "$TMP/moe"
# shellcheck disable=SC2086
mk "$TMP/moe/model.safetensors" $specs
echo '{"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "torch_dtype": "bfloat16"}' >"$TMP/moe/config.json"
# compressed_tensors_moe.py: get_moe_method (FusedMoE is appended for Linear targets)
q -s W4A16 "$TMP/moe" "$TMP/moe-w4"
serves "MoE W4A16 with the router ignored" 0 "" "$TMP/moe-w4" --gpu sm80 --tp 1
kernel "... Marlin MoE" CompressedTensorsWNA16MarlinMoEMethod
q -s W4A16 --ignore "$moe.experts.0.up_proj" "$TMP/moe" "$TMP/moe-e0"
serves "expert 0's up_proj ignored" 1 vllm-moe-scheme "$TMP/moe-e0" --gpu sm80 --tp 1
q -s W4A16 --ignore "$moe.experts.2.down_proj" "$TMP/moe" "$TMP/moe-e2"
serves "expert 2 differs from expert 0" 1 vllm-moe-experts-differ "$TMP/moe-e2" --gpu sm80 --tp 1
grep -q '"severity": "wrong"' "$TMP/out" && pass "... serves wrong numbers (severity wrong)" || fail "... serves wrong numbers (severity wrong)"
# compressed_tensors_moe_wna16_marlin.py: __init__ asserts symmetric
q -s W4A16_ASYM "$TMP/moe" "$TMP/moe-asym"
serves "asymmetric MoE experts" 1 vllm-moe-wna16 "$TMP/moe-asym" --gpu sm80 --tp 1
# get_moe_method: only pack-quantized 4 and 8 bits for WNA16 MoE
q -s W3A16 "$TMP/moe" "$TMP/moe-w3"
serves "3-bit MoE experts" 1 vllm-moe-dispatch "$TMP/moe-w3" --gpu sm80 --tp 1
q -s NVFP4A16 "$TMP/moe" "$TMP/moe-nv"
serves "NVFP4 experts with fused gate/up global scales" 0 "" "$TMP/moe-nv" --gpu sm100 --tp 1
mkdir -p "$TMP/moe2"
specs2=$(echo "$specs" | sed 's/\(up_proj.weight:BF16:128x128\)/\1:pm0.25/g')
# shellcheck disable=SC2086
mk "$TMP/moe2/model.safetensors" $specs2
cp "$TMP/moe/config.json" "$TMP/moe2/"
q -s NVFP4A16 --no-fuse-global-scale "$TMP/moe2" "$TMP/moe-nv-apart"
serves "NVFP4 experts whose gate and up scales differ" 1 vllm-nvfp4-moe-global-scale "$TMP/moe-nv-apart" --gpu sm100 --tp 1
# compressed_tensors_moe_w8a8_fp8.py: __init__ (static input needs per-tensor weights)
q -s FP8_DYNAMIC "$TMP/moe" "$TMP/fp8moe"
awk '/"input_activations"/ { ia = 1 } ia && /"dynamic": true/ { sub(/true/, "false") }
     ia && /"strategy": "token"/ { sub(/token/, "tensor"); ia = 0 } { print }' "$TMP/fp8moe/config.json" >"$TMP/fp8moe/c.json"
mv "$TMP/fp8moe/c.json" "$TMP/fp8moe/config.json"
serves "FP8 MoE: channel weights with static input" 1 vllm-moe-fp8-static-channel "$TMP/fp8moe" --gpu sm90 --tp 1
# compressed_tensors_moe_w8a8_fp8.py: __init__ asserts block weights unless tensor/tensor
# or channel/token; create_weights: block_n divides the intermediate size per GPU
cfg fp8t '{"format": "float-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "tensor"},
 "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}, "format": "float-quantized"}}, "ignore": ["lm_head", "model.embed_tokens", "re:.*mlp\\.gate$"]}'
q -c "$TMP/fp8t.json" "$TMP/moe" "$TMP/fp8t-moe"
serves "FP8 MoE: per-tensor weights with per-token input" 1 vllm-moe-fp8-static-channel "$TMP/fp8t-moe" --gpu sm90 --tp 1
q -c "$TMP/fp8t.json" "$FIX" "$TMP/fp8t-dense"
serves "... the same scheme on dense layers loads" 0 "" "$TMP/fp8t-dense" --gpu sm90 --tp 1
q -s FP8_BLOCK "$TMP/moe" "$TMP/moe-blk"
serves "FP8_BLOCK MoE at TP=1" 0 "" "$TMP/moe-blk" --gpu sm90 --tp 1
serves "FP8_BLOCK MoE at TP=2: 64 intermediate rows per GPU" 1 vllm-fp8-block-shape "$TMP/moe-blk" --gpu sm90 --tp 2
# layers/fused_moe/layer.py: make_expert_params_mapping maps per-expert 2-D names only
mk "$TMP/fused3d.st" "m.experts.weight_packed:I32:4x16x16" "m.experts.weight_scale:BF16:4x16x1" \
	"m.experts.weight_shape:I64:2:16"
echo '{"format": "pack-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}}' >"$TMP/f3.json"
serves "quantized fused 3-D experts" 1 vllm-moe-fused-3d "$TMP/fused3d.st" -c "$TMP/f3.json"

# models/gpt_oss.py: GptOssModel._load_weights_other maps fused w13_weight/w2_weight
# tensors only: per-expert names are skipped, the experts never filled
cp -r "$TMP/moe-w4" "$TMP/moe-gptoss"
sed -i 's/"model_type": "qwen3_moe"/"model_type": "gpt_oss"/' "$TMP/moe-gptoss/config.json"
serves "gpt-oss: per-expert experts are never loaded" 1 vllm-moe-loader "$TMP/moe-gptoss" --gpu sm80 --tp 1

# utils.py: should_ignore_layer expands a fused name only through the model's
# packed_modules_mapping; models/qwen3_moe.py has gate_up_proj there only with
# mlp_only_layers, so an ignore list naming gate_proj and up_proj of a dense MLP
# does not reach its gate_up_proj, which vLLM then builds quantized
mkdir -p "$TMP/moe-dense"
# shellcheck disable=SC2086
mk "$TMP/moe-dense/model.safetensors" $specs "model.layers.1.mlp.gate_proj.weight:BF16:256x128" \
	"model.layers.1.mlp.up_proj.weight:BF16:256x128" "model.layers.1.mlp.down_proj.weight:BF16:128x256"
cp "$TMP/moe/config.json" "$TMP/moe-dense/"
q -s W4A16 --ignore model.layers.1.mlp.gate_proj --ignore model.layers.1.mlp.up_proj "$TMP/moe-dense" "$TMP/moe-dense-q"
serves "Qwen3-MoE: gate/up of a dense MLP ignored by name, not as gate_up_proj" 1 vllm-dense-targeted "$TMP/moe-dense-q" --gpu sm80 --tp 1
mkdir -p "$TMP/moe-dense2"
cp "$TMP/moe-dense/model.safetensors" "$TMP/moe-dense2/"
echo '{"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "torch_dtype": "bfloat16", "mlp_only_layers": [1]}' >"$TMP/moe-dense2/config.json"
q -s W4A16 --ignore model.layers.1.mlp.gate_proj --ignore model.layers.1.mlp.up_proj "$TMP/moe-dense2" "$TMP/moe-dense2-q"
serves "... with mlp_only_layers the mapping has gate_up_proj: ignored" 0 "" "$TMP/moe-dense2-q" --gpu sm80 --tp 1

# ---- routers, per family --------------------------------------------------------------------
# models/qwen3_moe.py: Qwen3MoeSparseMoeBlock.gate = ReplicatedLinear(quant_config=...): a
# quantizable linear layer, so a quantized router loads, a dense one the targets reach is
# built quantized, and Qwen3MoeModel.load_weights skips its weight silently
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head", "model.embed_tokens"]}' >"$TMP/no-router.json"
q -c "$TMP/no-router.json" "$TMP/moe" "$TMP/moe-router"
# quantize keeps routers dense and ignored whatever the targets (issue 32:
# llm-compressor's apply_quantization_config skips the bare parameter), so
# the project's own tools make no quantized router: those cases run only
# on a checkpoint that has one
if "$T/stdump" "$TMP/moe-router" | grep -q "^$moe.gate.weight_packed"; then
	router_q=1
	serves "Qwen3-MoE: a quantized router loads" 0 "" "$TMP/moe-router" --gpu sm80 --tp 1
else
	router_q=
	grep -q "\"$moe.gate\"" "$TMP/moe-router/config.json" &&
		pass "quantize keeps the router dense and lists it in ignore" ||
		fail "quantize keeps the router dense and lists it in ignore"
	skip "Qwen3-MoE: a quantized router loads" "ctensors quantize writes no quantized router"
fi
cp -r "$TMP/moe-w4" "$TMP/moe-router-dense"
sed -i "s/\"$moe.gate\"/\"$moe.no_such_gate\"/" "$TMP/moe-router-dense/config.json"
serves "Qwen3-MoE: a dense router the targets reach" 1 vllm-router "$TMP/moe-router-dense" --gpu sm80 --tp 1
says "... skipped silently" 'skips weight silently, so weight_packed, weight_scale, weight_shape are never filled'
# models/qwen2_moe.py (and mixtral.py, deepseek_v2.py, gpt_oss.py): the router is built
# with quant_config=None
for f in qwen2_moe mixtral; do
	if [ -n "$router_q" ]; then
		cp -r "$TMP/moe-router" "$TMP/r-$f"
		sed -i "s/\"model_type\": \"qwen3_moe\"/\"model_type\": \"$f\"/" "$TMP/r-$f/config.json"
		serves "$f: a quantized router is refused" 1 vllm-router "$TMP/r-$f" --gpu sm80 --tp 1
	else
		skip "$f: a quantized router is refused" "ctensors quantize writes no quantized router"
	fi
	cp -r "$TMP/moe-router-dense" "$TMP/rd-$f"
	sed -i "s/\"model_type\": \"qwen3_moe\"/\"model_type\": \"$f\"/" "$TMP/rd-$f/config.json"
	serves "$f: a dense router the targets reach loads (no quant_config)" ok "" "$TMP/rd-$f" --gpu sm80 --tp 1
done

# ---- targets, --json, usage, human output, inspect -----------------------------------------
serves "--gpu and --tp given: a TP problem is an error" 1 vllm-kernel "$TMP/p-W4A16" --gpu sm80 --tp 8
serves "neither given: the same is a note" 0 vllm-targets "$TMP/p-W4A16"
says "... with where it serves" 'serves on every GPU at TP=1,2'
"$CT_BIN" verify -q --serving vllm --json --gpu sm80 --tp 8 "$TMP/p-W4A16" >"$TMP/out" 2>/dev/null
n_f=$(grep -c '"rule": ' "$TMP/out"); n_s=$(grep -c '"source": "[^"]*\.py' "$TMP/out"); n_l=$(grep -c '"layer": "' "$TMP/out")
[ "$n_f" -gt 0 ] && [ "$n_f" = "$n_s" ] && [ "$n_f" = "$n_l" ] &&
	pass "--json: every finding names its rule, layer and vLLM source" || fail "--json: every finding names its rule, layer and vLLM source" "$n_f $n_s $n_l"
expect "--gpu without --serving" 2 "--gpu and --tp need --serving vllm" verify --gpu sm80 "$TMP/p-W4A16"
expect "an unknown engine" 2 "--serving: 'tgi' is not one of vllm (see 'ctensors verify --help')" verify --serving tgi "$TMP/p-W4A16"
expect "a bad --gpu" 2 "--gpu: 'hopper' is not a compute capability" verify --serving vllm --gpu hopper "$TMP/p-W4A16"
expect "human report" 1 "vLLM would refuse it or serve wrong numbers" verify --serving vllm "$TMP/mixed-qkv"
grep -q '^vllm: FAILED: .*(vLLM 9aaf83ef, 2026-05-19)' "$TMP/out" && grep -q 'error \[vllm-fused-mixed\] model.layers.0.self_attn.qkv_proj' "$TMP/out" &&
	grep -q 'fix: ' "$TMP/out" && grep -q 'from: layers/quantization/compressed_tensors/utils.py' "$TMP/out" &&
	pass "the report names the vLLM commit, the layer, the rule, the fix and the vLLM source" ||
	fail "the report names the vLLM commit, the layer, the rule, the fix and the vLLM source" "$(cat "$TMP/out")"
expect "inspect: passes" 0 "" inspect "$TMP/p-W4A16"
grep -q '^vllm  *passes' "$TMP/out" && pass "inspect says the checkpoint passes the vLLM check" ||
	fail "inspect says the checkpoint passes the vLLM check" "$(tail -3 "$TMP/out")"
expect "inspect: fails" 0 "" inspect "$TMP/mixed-qkv"
grep -q '^vllm  *1 problem' "$TMP/out" && pass "inspect says it fails, with the count" ||
	fail "inspect says it fails, with the count" "$(tail -3 "$TMP/out")"
"$CT_BIN" inspect --json "$TMP/mixed-qkv" >"$TMP/out"
grep -q '"vllm": {' "$TMP/out" && pass "inspect --json carries the vLLM verdict" || fail "inspect --json carries the vLLM verdict"
finish
