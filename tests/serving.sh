#!/bin/sh
# tests/serving.sh - `verify --serving vllm`: each rule's failing and passing
# checkpoint (exit status, --json finding, message), GPU and TP judgements,
# every preset on the GPUs it is meant for, MoE layouts, inspect's summary.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }
[ -d "$FIX" ] || { skip "serving" "$FIX is absent"; finish; exit $?; }

# serves NAME STATUS RULE CHECKPOINT [OPTIONS...]: verify --serving vllm exits
# STATUS and, when RULE is given, --json holds a finding of that rule
serves() {
	name=$1; want=$2; r=$3; ck=$4; shift 4
	"$CT_BIN" verify --serving vllm --json "$@" "$ck" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" != "$want" ]; then
		fail "$name" "exit $got, expected $want: $(grep -o '"message": "[^"]*"' "$TMP/out" | head -3 | tr '\n' ' ') $(head -c 200 "$TMP/err")"
	elif [ -n "$r" ] && ! grep -q "\"rule\": \"$r\"" "$TMP/out"; then
		fail "$name" "no finding of rule $r: $(grep -o '"rule": "[^"]*"' "$TMP/out" | sort -u | tr '\n' ' ')"
	else
		pass "$name"
	fi
}
q() { "$CT_BIN" quantize -q "$@" || exit 2; }

# ---- presets on the GPUs they are meant for -----------------------------------
for spec in W4A16:sm80 W4A16_ASYM:sm80 W8A16:sm80 W8A8:sm80 W4A8:sm80 W4A8:sm90 W4AFP8:sm90 \
	FP8_DYNAMIC:sm89 FP8_DYNAMIC:sm90 FP8_BLOCK:sm90 NVFP4A16:sm100 MXFP4A16:sm100 MXFP4:sm100 \
	MXFP8A16:sm100 MXFP8:sm100 W2A16:sm80 W3A16:sm80 W5A16:sm80 W6A16:sm80 W7A16:sm80; do
	s=${spec%%:*}; gpu=${spec#*:}
	[ -d "$TMP/p-$s" ] || q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s passes on $gpu" 0 "" "$TMP/p-$s" --gpu "$gpu"
done
grep -q '"kernels"' "$TMP/out" && grep -q '"scheme": "CompressedTensorsWNA16"' "$TMP/out" &&
	grep -q '"kernel": "Marlin WNA16"' "$TMP/out" &&
	pass "--json names the scheme vLLM picks per group" || fail "--json names the scheme vLLM picks per group"
# presets vLLM has no scheme for (README: why not)
for s in W2A8 W3A8 W5A8 W6A8 W7A8 W4A4 W3A4 W2A4; do
	q -s "$s" "$FIX" "$TMP/p-$s"
	serves "$s: no vLLM scheme for int$(echo "$s" | cut -c2)+int8/int4 activations" 1 vllm-dispatch "$TMP/p-$s"
done
serves "W4AFP8 has no scheme off sm90" 1 vllm-dispatch "$TMP/p-W4AFP8" --gpu sm80
serves "W4A16 without a GPU: capability is a note" 0 vllm-capability "$TMP/p-W4A16"
grep -q '"severity": "note"' "$TMP/out" && pass "... of severity note" || fail "... of severity note"

# ---- capability ---------------------------------------------------------------
serves "FP8 on sm75: below its minimum" 1 vllm-capability "$TMP/p-FP8_DYNAMIC" --gpu sm75
grep -q 'Min capability: 80. Current capability: 75' "$TMP/out" && pass "... quoting vLLM's message" || fail "... quoting vLLM's message"
serves "FP8 on sm80: Marlin W8A16 fallback, a note" 0 vllm-capability "$TMP/p-FP8_DYNAMIC" --gpu sm80
grep -q '"kernel": "Marlin W8A16Fp8' "$TMP/out" && pass "... and the kernel is the fallback" || fail "... and the kernel is the fallback"
serves "NVFP4A16 on sm80: Marlin FP4, a note" 0 vllm-capability "$TMP/p-NVFP4A16" --gpu sm80

# ---- config-level rules --------------------------------------------------------
cat >"$TMP/int8wo.json" <<'EOF'
{"format": "int-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8, "strategy": "channel"}, "format": "int-quantized"}}, "ignore": ["lm_head"]}
EOF
q -c "$TMP/int8wo.json" "$FIX" "$TMP/int8wo"
serves "int weight-only in int-quantized" 1 vllm-int-weight-only-format "$TMP/int8wo"
cat >"$TMP/asym3.json" <<'EOF'
{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 3, "group_size": 128, "strategy": "group", "symmetric": false}}}, "ignore": ["lm_head"]}
EOF
q -c "$TMP/asym3.json" "$FIX" "$TMP/asym3"
serves "asymmetric 3-bit weight-only" 1 vllm-wna16-asym-bits "$TMP/asym3"
grep -q 'Asymmetric quantization not supported for num_bits = 3' "$TMP/out" && pass "... quoting vLLM" || fail "... quoting vLLM"
cat >"$TMP/nvint8.json" <<'EOF'
{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "scale_dtype": "torch.float8_e4m3fn", "zp_dtype": "torch.float8_e4m3fn"},
 "input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": true}}}, "ignore": ["lm_head"]}
EOF
if "$CT_BIN" quantize -q -c "$TMP/nvint8.json" "$FIX" "$TMP/nvint8" 2>"$TMP/err"; then
	serves "NVFP4 weights with int8 activations" 1 vllm-nvfp4-input "$TMP/nvint8"
else
	fail "NVFP4 weights with int8 activations: quantize" "$(cat "$TMP/err")"
fi
cp -r "$TMP/p-MXFP8A16" "$TMP/mx8"
sed -i 's/"scale_dtype": "torch.uint8"/"scale_dtype": null/' "$TMP/mx8/config.json"
serves "MXFP8 without scale_dtype uint8" 1 vllm-mxfp8-scale-dtype "$TMP/mx8" -q
cp -r "$TMP/p-FP8_DYNAMIC" "$TMP/kv8"
sed -i 's/"kv_cache_scheme": null/"kv_cache_scheme": {"num_bits": 8, "type": "int", "strategy": "tensor", "dynamic": false, "symmetric": true}/' "$TMP/kv8/config.json"
grep -q '"kv_cache_scheme": {' "$TMP/kv8/config.json" && pass "an int8 kv_cache_scheme is set" || fail "an int8 kv_cache_scheme is set"
serves "an int8 kv_cache_scheme" 1 vllm-kv-cache "$TMP/kv8"
mkdir -p "$TMP/pruned"
cp "$FIX"/*.json "$TMP/pruned/"
for s in "$FIX"/*.safetensors; do "$T/prune" "$s" "$TMP/pruned/$(basename "$s")" 50 || exit 2; done
"$CT_BIN" compress -q -F sparse-bitmask "$TMP/pruned" "$TMP/sparse" || exit 2
serves "a sparsity_config" 1 vllm-sparsity "$TMP/sparse"

# ---- fused layers, dense targets, embeddings --------------------------------------
q -s W4A16 --ignore model.layers.0.self_attn.k_proj "$FIX" "$TMP/mixed-qkv"
serves "k_proj ignored but q/v quantized" 1 vllm-fused-mixed "$TMP/mixed-qkv"
grep -q '"layer": "model.layers.0.self_attn.qkv_proj"' "$TMP/out" && pass "... named as vLLM's qkv_proj" || fail "... named as vLLM's qkv_proj"
q -s W4A16 --ignore 're:.*self_attn\.(q|k|v)_proj$' "$FIX" "$TMP/all-qkv"
serves "all of q/k/v ignored: fine" 0 "" "$TMP/all-qkv"
q -s W4A16 --ignore model.layers.1.mlp.up_proj "$FIX" "$TMP/mixed-gu"
serves "up ignored, gate quantized" 1 vllm-fused-mixed "$TMP/mixed-gu"
cp -r "$TMP/p-W4A16" "$TMP/dense-head"
sed -i 's/"lm_head",//; s/"lm_head"//' "$TMP/dense-head/config.json"
serves "a dense lm_head the targets reach" 1 vllm-dense-targeted "$TMP/dense-head" -q
cp -r "$TMP/p-W4A16" "$TMP/ignored-q"
sed -i 's/"lm_head"/"lm_head", "model.layers.1.mlp.down_proj"/' "$TMP/ignored-q/config.json"
serves "a compressed module the ignore list names" 1 vllm-compressed-untargeted "$TMP/ignored-q" -q
cat >"$TMP/emb8.json" <<'EOF'
{"config_groups": {"e": {"targets": ["Embedding"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}, "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}},
 "l": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}
EOF
q -c "$TMP/emb8.json" "$FIX" "$TMP/emb8"
serves "an FP8 embedding" 1 vllm-embedding "$TMP/emb8"
cat >"$TMP/attn.json" <<'EOF'
{"config_groups": {"a": {"targets": ["LlamaAttention"], "weights": {"num_bits": 8, "strategy": "channel"}}, "l": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}
EOF
q -c "$TMP/attn.json" "$FIX" "$TMP/attn" 2>/dev/null
serves "a group targeting only attention: a note" 0 vllm-attention-group "$TMP/attn"

# ---- tensor parallelism --------------------------------------------------------
serves "FP8_BLOCK at TP=1" 0 "" "$TMP/p-FP8_BLOCK" --gpu sm90 --tp 1
serves "FP8_BLOCK at TP=4: 64-row slices of a 128 block" 1 vllm-fp8-block-tp "$TMP/p-FP8_BLOCK" --gpu sm90 --tp 4
serves "FP8_BLOCK without --tp: a note naming the TP sizes" 0 vllm-fp8-block-tp "$TMP/p-FP8_BLOCK" --gpu sm90
grep -q 'at TP=4' "$TMP/out" && pass "... TP=4 is named" || fail "... TP=4 is named"
serves "W4A16 at TP=8: Marlin shape is a note (fallbacks unverified)" 0 vllm-marlin-shape "$TMP/p-W4A16" --gpu sm80 --tp 8

# ---- mixture of experts --------------------------------------------------------------
moe="model.layers.0.mlp"
specs="model.embed_tokens.weight:BF16:64x128 $moe.gate.weight:BF16:4x128 lm_head.weight:BF16:64x128"
for e in 0 1 2 3; do
	specs="$specs $moe.experts.$e.gate_proj.weight:BF16:128x128 $moe.experts.$e.up_proj.weight:BF16:128x128 $moe.experts.$e.down_proj.weight:BF16:128x128"
done
mkdir -p "$TMP/moe"
# shellcheck disable=SC2086
mk "$TMP/moe/model.safetensors" $specs
echo '{"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe"}' >"$TMP/moe/config.json"
q -s W4A16 "$TMP/moe" "$TMP/moe-w4"
serves "MoE W4A16 with the router ignored" 0 "" "$TMP/moe-w4" --gpu sm80
q -s W4A16 --ignore "$moe.experts.0.up_proj" "$TMP/moe" "$TMP/moe-e0"
serves "expert 0's up_proj ignored" 1 vllm-moe-scheme "$TMP/moe-e0"
q -s W4A16 --ignore "$moe.experts.2.down_proj" "$TMP/moe" "$TMP/moe-e2"
serves "expert 2 differs from expert 0" 1 vllm-moe-experts-differ "$TMP/moe-e2"
grep -q '"severity": "wrong"' "$TMP/out" && pass "... serves wrong numbers (severity wrong)" || fail "... serves wrong numbers (severity wrong)"
q -s W4A16_ASYM "$TMP/moe" "$TMP/moe-asym"
serves "asymmetric MoE experts" 1 vllm-moe-wna16 "$TMP/moe-asym"
q -s NVFP4A16 "$TMP/moe" "$TMP/moe-nv"
serves "NVFP4 experts with fused gate/up global scales" 0 "" "$TMP/moe-nv" --gpu sm100
# up_proj weights of another range than gate_proj: their own global scales differ
mkdir -p "$TMP/moe2"
specs2=$(echo "$specs" | sed 's/\(up_proj.weight:BF16:128x128\)/\1:pm0.25/g')
# shellcheck disable=SC2086
mk "$TMP/moe2/model.safetensors" $specs2
cp "$TMP/moe/config.json" "$TMP/moe2/"
q -s NVFP4A16 --no-fuse-global-scale "$TMP/moe2" "$TMP/moe-nv-apart"
serves "NVFP4 experts whose gate and up scales differ" 1 vllm-nvfp4-moe-global-scale "$TMP/moe-nv-apart" --gpu sm100
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}, "ignore": ["lm_head"]}' >"$TMP/no-router.json"
q -c "$TMP/no-router.json" "$TMP/moe" "$TMP/moe-router"
serves "a quantized router" 1 vllm-router "$TMP/moe-router"
cp -r "$TMP/moe-w4" "$TMP/moe-router-dense"
# the ignore entry renamed to a module that does not exist: JSON stays valid
sed -i "s/\"$moe.gate\"/\"$moe.no_such_gate\"/" "$TMP/moe-router-dense/config.json"
serves "a dense router the targets reach" 1 vllm-router "$TMP/moe-router-dense" -q
cp -r "$TMP/p-FP8_DYNAMIC" "$TMP/fp8moe"
rm -rf "$TMP/fp8moe"
q -s FP8_DYNAMIC "$TMP/moe" "$TMP/fp8moe"
awk '/"input_activations"/ { ia = 1 } ia && /"dynamic": true/ { sub(/true/, "false") }
     ia && /"strategy": "token"/ { sub(/token/, "tensor"); ia = 0 } { print }' "$TMP/fp8moe/config.json" >"$TMP/fp8moe/c.json"
mv "$TMP/fp8moe/c.json" "$TMP/fp8moe/config.json"
serves "FP8 MoE: channel weights with static input" 1 vllm-moe-fp8-static-channel "$TMP/fp8moe" -q
mk "$TMP/fused3d.st" "m.experts.weight_packed:I32:4x16x16" "m.experts.weight_scale:BF16:4x16x1" \
	"m.experts.weight_shape:I64:2:16"
echo '{"format": "pack-quantized", "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}}}' >"$TMP/f3.json"
serves "quantized fused 3-D experts" 1 vllm-moe-fused-3d "$TMP/fused3d.st" -c "$TMP/f3.json" -q

# ---- usage, human output, inspect ---------------------------------------------------
expect "--gpu without --serving" 2 "--gpu and --tp need --serving vllm" verify --gpu sm80 "$TMP/p-W4A16"
expect "an unknown engine" 2 "--serving: 'tgi' is not one of vllm (see 'ctensors verify --help')" verify --serving tgi "$TMP/p-W4A16"
expect "a bad --gpu" 2 "--gpu: 'hopper' is not a compute capability" verify --serving vllm --gpu hopper "$TMP/p-W4A16"
expect "human report" 1 "vLLM would refuse it or serve wrong numbers" verify --serving vllm "$TMP/mixed-qkv"
grep -q '^vllm: FAILED' "$TMP/out" && grep -q 'error \[vllm-fused-mixed\] model.layers.0.self_attn.qkv_proj' "$TMP/out" &&
	grep -q 'fix: ' "$TMP/out" && grep -q 'from: layers/quantization/compressed_tensors/utils.py' "$TMP/out" &&
	pass "the report names the layer, the rule, the fix and the vLLM source" ||
	fail "the report names the layer, the rule, the fix and the vLLM source" "$(cat "$TMP/out")"
expect "inspect: passes" 0 "" inspect "$TMP/p-W4A16"
grep -q '^vllm  *passes' "$TMP/out" && pass "inspect says the checkpoint passes the vLLM check" ||
	fail "inspect says the checkpoint passes the vLLM check" "$(tail -3 "$TMP/out")"
expect "inspect: fails" 0 "" inspect "$TMP/mixed-qkv"
grep -q '^vllm  *1 problem' "$TMP/out" && pass "inspect says it fails, with the count" ||
	fail "inspect says it fails, with the count" "$(tail -3 "$TMP/out")"
"$CT_BIN" inspect --json "$TMP/mixed-qkv" >"$TMP/out"
grep -q '"vllm": {' "$TMP/out" && pass "inspect --json carries the vLLM verdict" || fail "inspect --json carries the vLLM verdict"
finish
