#!/bin/sh
# tests/recipe.sh - llm-compressor recipes as -c CONFIG: each shape the
# llm-compressor examples use gives exactly what the equivalent
# quantization_config gives (tensors and config.json); modifiers that need
# calibration, and recipes ctensors cannot compose, are refused by name.
. "$(dirname "$0")/lib.sh"
FIX=fixtures/example-model
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
[ -d "$FIX" ] || { skip "recipes" "$FIX is absent"; finish; exit $?; }
S1=model-00001-of-00002.safetensors
S2=model-00002-of-00002.safetensors

# same RECIPE JSON NAME: quantizing with the recipe and with the config gives
# the same shards and the same config.json
same() {
	name=$1
	rm -rf "$TMP/r" "$TMP/j"
	if ! "$CT_BIN" quantize -q -c "$2" "$FIX" "$TMP/r" 2>"$TMP/err"; then
		fail "$name: the recipe quantizes" "$(cat "$TMP/err")"
		return
	fi
	if ! "$CT_BIN" quantize -q -c "$3" "$FIX" "$TMP/j" 2>"$TMP/err"; then
		fail "$name: the equivalent config quantizes" "$(cat "$TMP/err")"
		return
	fi
	cmp -s "$TMP/r/$S1" "$TMP/j/$S1" && cmp -s "$TMP/r/$S2" "$TMP/j/$S2" &&
		cmp -s "$TMP/r/config.json" "$TMP/j/config.json" &&
		pass "$name: same files as the equivalent quantization_config" ||
		fail "$name: same files as the equivalent quantization_config" "$(diff "$TMP/r/config.json" "$TMP/j/config.json" | head -5)"
}

W4='"weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 128}'
W8='"weights": {"num_bits": 8, "type": "int", "symmetric": true, "strategy": "group", "group_size": 128}'

# a staged recipe with a preset scheme
cat >"$TMP/staged.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: ["lm_head"]
      targets: ["Linear"]
      scheme: W4A16
Y
echo "{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], $W4}}, \"ignore\": [\"lm_head\"]}" >"$TMP/w4.json"
same "staged recipe, scheme W4A16" "$TMP/staged.yaml" "$TMP/w4.json"
# a bare modifier, targets as a string (llm-compressor takes both)
cat >"$TMP/bare.yaml" <<'Y'
QuantizationModifier:
  targets: Linear
  scheme: W4A16
  ignore: lm_head
Y
cp "$TMP/bare.yaml" "$TMP/bare.yml"
same "bare modifier, targets and ignore as strings" "$TMP/bare.yaml" "$TMP/w4.json"
same "the same recipe as .yml" "$TMP/bare.yml" "$TMP/w4.json"
# a list of modifiers, a scheme map with a group per preset
cat >"$TMP/list.yaml" <<'Y'
- QuantizationModifier:
    scheme:
      W8A16: ["re:.*self_attn.*"]
      W4A16: ["re:.*mlp.*"]
    ignore: [lm_head]
Y
echo "{\"config_groups\": {\"group_0\": {\"targets\": [\"re:.*self_attn.*\"], $W8}, \"group_1\": {\"targets\": [\"re:.*mlp.*\"], $W4}}, \"ignore\": [\"lm_head\"]}" >"$TMP/map.json"
same "modifier list, scheme map" "$TMP/list.yaml" "$TMP/map.json"
# recipe.py:Recipe.create_instance reads a .json recipe with json.loads,
# and a file of another name as JSON, else as YAML
printf '{"quant_stage": {"quant_modifiers": {"QuantizationModifier": {"targets": ["Linear"], "scheme": "W4A16", "ignore": ["lm_head"]}}}}\n' >"$TMP/recipe.json"
same "a recipe written as JSON" "$TMP/recipe.json" "$TMP/w4.json"
cp "$TMP/staged.yaml" "$TMP/staged.recipe"
same "a YAML recipe under another name" "$TMP/staged.recipe" "$TMP/w4.json"
# config_groups written out
cat >"$TMP/groups.yaml" <<'Y'
test_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 8, type: float, strategy: channel, dynamic: false, symmetric: true}
          input_activations: {num_bits: 8, type: float, strategy: token, dynamic: true, symmetric: true}
Y
cat >"$TMP/groups.json" <<'J'
{"config_groups": {"group_0": {"targets": ["Linear"],
  "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "dynamic": false, "symmetric": true},
  "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true, "symmetric": true}}},
 "ignore": ["lm_head"]}
J
same "config_groups in YAML" "$TMP/groups.yaml" "$TMP/groups.json"
grep -q '"format": "float-quantized"' "$TMP/r/config.json" && pass "... written as float-quantized" || fail "... written as float-quantized"

# ---- the config llm-compressor writes -----------------------------------------
# compressed-tensors' QuantizationConfig.from_pretrained (quant_config.py),
# which llm-compressor calls when it saves, computes ignore: every module of
# a type some group quantized (Linear here) that no group quantized, by
# name, in model.named_modules() order; user regexes become the names they
# match. Targets naming only attention leave the MLP to that list, or vLLM
# finds modules matching no target and no ignore entry.
cat >"$TMP/attn.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      targets: ["re:.*self_attn\\.(q|k|v|o)_proj$"]
      scheme: W4A16
      ignore: [lm_head, "re:.*vision_tower\\..*"]
Y
cat >"$TMP/attn.json" <<J
{"config_groups": {"group_0": {"targets": ["re:.*self_attn\\\\.(q|k|v|o)_proj\$"], $W4}},
 "ignore": ["model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj",
  "model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj", "lm_head"]}
J
same "attention-only targets: ignore lists every other Linear, in module order" "$TMP/attn.yaml" "$TMP/attn.json"
"$CT_BIN" quantize -f -c "$TMP/attn.yaml" "$FIX" "$TMP/r" 2>"$TMP/err"
# an entry matching nothing is warned about, its regex shown as written
grep -qF 'ctensors: warning: ignore entry "re:.*vision_tower\..*" matches no module' "$TMP/err" &&
	pass "an ignore entry matching nothing: warned, the regex as written" ||
	fail "an ignore entry matching nothing: warned, the regex as written" "$(cat "$TMP/err")"
! grep -q vision_tower "$TMP/r/config.json" && pass "... and not written" || fail "... and not written"
# groups: the ones that claim no module are dropped, the rest named group_0,
# group_1, ... in module order; one format left is that format, not
# mixed-precision (from_pretrained: config_groups from the schemes of
# quantized modules; `format` mixed only for more than one)
cat >"$TMP/drop.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        mlp:
          targets: ["re:.*mlp\\..*_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128}
        vision:
          targets: ["re:.*visual.*"]
          weights: {num_bits: 8, type: float, symmetric: true, strategy: channel, dynamic: false}
          input_activations: {num_bits: 8, type: float, symmetric: true, strategy: token, dynamic: true}
        attn:
          targets: ["re:.*self_attn\\..*_proj$"]
          weights: {num_bits: 8, type: int, symmetric: true, strategy: group, group_size: 128}
Y
cat >"$TMP/drop.json" <<J
{"config_groups": {"group_0": {"targets": ["re:.*self_attn\\\\..*_proj\$"], $W8},
  "group_1": {"targets": ["re:.*mlp\\\\..*_proj\$"], $W4}}, "ignore": ["lm_head"]}
J
same "a group matching nothing dropped, the rest renamed in module order" "$TMP/drop.yaml" "$TMP/drop.json"
grep -q '"format": "pack-quantized"' "$TMP/r/config.json" && ! grep -q mixed-precision "$TMP/r/config.json" &&
	pass "... one format left: written as that format" || fail "... one format left: written as that format"
# a scheme map with one preset per group keeps mixed-precision for two formats
cat >"$TMP/mixed.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      scheme:
        FP8_DYNAMIC: ["re:.*self_attn.*"]
        W4A16: ["re:.*mlp.*"]
Y
"$CT_BIN" quantize -q -f -c "$TMP/mixed.yaml" "$FIX" "$TMP/r" 2>"$TMP/err" &&
	grep -q '"format": "mixed-precision"' "$TMP/r/config.json" &&
	pass "two formats: mixed-precision" || fail "two formats: mixed-precision" "$(cat "$TMP/err")"

# MoE: a transformers v5 router holds a bare parameter, not an nn.Linear, so
# apply_quantization_config (lifecycle/apply.py) never quantizes it and
# from_pretrained lists it (get_vllm_module_type counts *Router* as Linear);
# targets naming attention and experts leave the shared expert and its gate
# to ignore too
MOE="$TMP/moe"
cat >"$TMP/moe-linear.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head]}
Y
if "$T/gen_moe" "$MOE" qwen3_next P 4 128 128 BF16 2 1 2>"$TMP/err"; then
	rm -rf "$TMP/mr"
	if "$CT_BIN" quantize -q -c "$TMP/moe-linear.yaml" "$MOE/input" "$TMP/mr" 2>"$TMP/err"; then
		"$T/stdump" "$TMP/mr/model.safetensors" >"$TMP/dump"
		grep -q '^model.layers.0.mlp.gate.weight BF16' "$TMP/dump" &&
			grep -q '^model.layers.1.mlp.gate.weight BF16' "$TMP/dump" &&
			! grep -q 'mlp\.gate\.weight_packed' "$TMP/dump" &&
			grep -q '^model.layers.0.mlp.experts.0.gate_proj.weight_packed' "$TMP/dump" &&
			pass "targets [Linear]: the routers stay dense" ||
			fail "targets [Linear]: the routers stay dense" "$(grep 'mlp.gate' "$TMP/dump")"
		ig=$("$T/jget" .quantization_config.ignore <"$TMP/mr/config.json")
		[ "$ig" = '["model.layers.0.mlp.gate","model.layers.1.mlp.gate","lm_head"]' ] &&
			pass "... and are listed in ignore, in module order" ||
			fail "... and are listed in ignore, in module order" "$ig"
	else
		fail "a MoE recipe quantizes" "$(cat "$TMP/err")"
	fi
	cat >"$TMP/moe-ae.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      targets: ["re:.*self_attn\\..*_proj$", "re:.*mlp\\.experts\\..*"]
      scheme: W4A16
      ignore: [lm_head]
Y
	ign='"model.layers.0.mlp.gate", "model.layers.0.mlp.shared_expert.gate_proj",
	  "model.layers.0.mlp.shared_expert.up_proj", "model.layers.0.mlp.shared_expert.down_proj",
	  "model.layers.0.mlp.shared_expert_gate", "model.layers.1.mlp.gate",
	  "model.layers.1.mlp.shared_expert.gate_proj", "model.layers.1.mlp.shared_expert.up_proj",
	  "model.layers.1.mlp.shared_expert.down_proj", "model.layers.1.mlp.shared_expert_gate", "lm_head"'
	cat >"$TMP/moe-ae.json" <<J
{"config_groups": {"group_0": {"targets": ["re:.*self_attn\\\\..*_proj\$", "re:.*mlp\\\\.experts\\\\..*"], $W4}},
 "ignore": [$ign]}
J
	rm -rf "$TMP/ma" "$TMP/mj"
	"$CT_BIN" quantize -q -c "$TMP/moe-ae.yaml" "$MOE/input" "$TMP/ma" 2>"$TMP/err" &&
		"$CT_BIN" quantize -q -c "$TMP/moe-ae.json" "$MOE/input" "$TMP/mj" 2>>"$TMP/err" &&
		cmp -s "$TMP/ma/model.safetensors" "$TMP/mj/model.safetensors" &&
		cmp -s "$TMP/ma/config.json" "$TMP/mj/config.json" &&
		pass "MoE, attention and experts targeted: routers, shared experts and gates ignored by name" ||
		fail "MoE, attention and experts targeted: routers, shared experts and gates ignored by name" \
			"$(cat "$TMP/err"; diff "$TMP/ma/config.json" "$TMP/mj/config.json" | head -20)"
	expect "... which vLLM's check passes" 0 "" verify -q --serving vllm "$TMP/ma"
else
	fail "gen_moe qwen3_next" "$(cat "$TMP/err")"
fi

# weights transformers drops on load (Qwen3-Next/Qwen3.5's *ForCausalLM:
# _keys_to_ignore_on_load_unexpected = [r"^mtp.*"]; DeepseekV3ForCausalLM:
# the layers past num_hidden_layers) are in no model llm-compressor
# quantizes: kept dense and ignored by name, so vLLM loads them unquantized
# for speculative decoding; --dry-run says why
MTP="$TMP/mtp"
mkdir -p "$MTP"
"$T/mkst" "$MTP/model.safetensors" model.embed_tokens.weight:BF16:64x128 \
	model.layers.0.self_attn.q_proj.weight:BF16:128x128 model.layers.0.mlp.down_proj.weight:BF16:128x128 \
	model.layers.1.mlp.down_proj.weight:BF16:128x128 model.norm.weight:BF16:128 lm_head.weight:BF16:64x128 \
	mtp.fc.weight:BF16:128x256 mtp.layers.0.self_attn.q_proj.weight:BF16:128x128 \
	mtp.layers.0.self_attn.k_proj.weight:BF16:128x128 mtp.layers.0.self_attn.v_proj.weight:BF16:128x128 \
	mtp.norm.weight:BF16:128 || exit 2
echo '{"model_type": "qwen3_next", "architectures": ["Qwen3NextForCausalLM"], "num_hidden_layers": 1}' >"$MTP/config.json"
"$CT_BIN" quantize --dry-run -c "$TMP/moe-linear.yaml" "$MTP" "$TMP/mtp-o" >"$TMP/out" 2>"$TMP/err"
grep -q '^  mtp.fc.weight  BF16  kept (dropped by transformers on load (MTP): kept dense for vLLM.s speculative decoding)' "$TMP/out" &&
	grep -q '^  model.layers.1.mlp.down_proj.weight  BF16  kept (dropped by transformers on load (MTP)' "$TMP/out" &&
	pass "--dry-run: MTP weights kept dense, and why" || fail "--dry-run: MTP weights kept dense, and why" "$(cat "$TMP/out" "$TMP/err")"
rm -rf "$TMP/mtp-o"
if "$CT_BIN" quantize -q -c "$TMP/moe-linear.yaml" "$MTP" "$TMP/mtp-o" 2>"$TMP/err"; then
	"$T/stdump" "$TMP/mtp-o/model.safetensors" >"$TMP/dump"
	grep -q '^mtp.fc.weight BF16' "$TMP/dump" && grep -q '^mtp.layers.0.self_attn.q_proj.weight BF16' "$TMP/dump" &&
		grep -q '^model.layers.1.mlp.down_proj.weight BF16' "$TMP/dump" &&
		grep -q '^model.layers.0.mlp.down_proj.weight_packed' "$TMP/dump" &&
		pass "MTP weights stay in the output, dense" || fail "MTP weights stay in the output, dense" "$(cat "$TMP/dump")"
	ig=$("$T/jget" .quantization_config.ignore <"$TMP/mtp-o/config.json")
	[ "$ig" = '["model.layers.1.mlp.down_proj","mtp.fc","mtp.layers.0.self_attn.q_proj","mtp.layers.0.self_attn.k_proj","mtp.layers.0.self_attn.v_proj","lm_head"]' ] &&
		pass "... and are ignored by name" || fail "... and are ignored by name" "$ig"
	expect "... which vLLM's check passes" 0 "" verify -q --serving vllm "$TMP/mtp-o"
else
	fail "a recipe on a checkpoint with MTP weights" "$(cat "$TMP/err")"
fi

# tie_word_embeddings: the checkpoint has no lm_head.weight, but the model
# llm-compressor quantizes has an lm_head Linear (tied to the embedding),
# dense under ignore: [lm_head], which from_pretrained lists
TIE="$TMP/tied"
mkdir -p "$TIE"
"$T/mkst" "$TIE/model.safetensors" model.embed_tokens.weight:BF16:64x128 \
	model.layers.0.self_attn.q_proj.weight:BF16:128x128 model.layers.0.mlp.down_proj.weight:BF16:128x128 \
	model.norm.weight:BF16:128 || exit 2
echo '{"model_type": "qwen3", "num_hidden_layers": 1, "tie_word_embeddings": true}' >"$TIE/config.json"
if "$CT_BIN" quantize -c "$TMP/moe-linear.yaml" "$TIE" "$TMP/tied-o" 2>"$TMP/err"; then
	ig=$("$T/jget" .quantization_config.ignore <"$TMP/tied-o/config.json")
	[ "$ig" = '["lm_head"]' ] && ! grep -q warning "$TMP/err" &&
		pass "tied embeddings: lm_head listed in ignore, no warning" ||
		fail "tied embeddings: lm_head listed in ignore, no warning" "$ig $(cat "$TMP/err")"
else
	fail "a recipe on a tied-embedding model" "$(cat "$TMP/err")"
fi
printf 'QuantizationModifier: {targets: Linear, scheme: W4A16}\n' >"$TMP/tied-all.yaml"
rm -rf "$TMP/tied-o"
"$CT_BIN" quantize -c "$TMP/tied-all.yaml" "$TIE" "$TMP/tied-o" 2>"$TMP/err" &&
	grep -q 'warning: lm_head is tied to the embedding' "$TMP/err" &&
	[ "$("$T/jget" .quantization_config.ignore <"$TMP/tied-o/config.json")" = '["lm_head"]' ] &&
	pass "a tied lm_head the targets reach: a warning, dense and ignored" ||
	fail "a tied lm_head the targets reach: a warning, dense and ignored" "$(cat "$TMP/err")"

# ---- refusals ---------------------------------------------------------------
cat >"$TMP/gptq.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    GPTQModifier: {scheme: W4A16, targets: Linear, ignore: [lm_head]}
Y
expect "GPTQModifier needs calibration" 3 "gptq.yaml: GPTQModifier needs calibration data, and ctensors is data-free; a checkpoint it produced can be brought in with 'ctensors convert'" \
	quantize -c "$TMP/gptq.yaml" "$FIX" "$TMP/o"
cat >"$TMP/awq.yaml" <<'Y'
- AWQModifier: {scheme: W4A16_ASYM, targets: [Linear], ignore: [lm_head]}
Y
expect "AWQModifier needs calibration" 3 "AWQModifier needs calibration data" quantize -c "$TMP/awq.yaml" "$FIX" "$TMP/o"
cat >"$TMP/sq.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    SmoothQuantModifier: {smoothing_strength: 0.8}
    QuantizationModifier: {scheme: W8A8, targets: Linear, ignore: [lm_head]}
Y
expect "SmoothQuantModifier needs calibration" 3 "SmoothQuantModifier needs calibration data" quantize -c "$TMP/sq.yaml" "$FIX" "$TMP/o"
cat >"$TMP/two.yaml" <<'Y'
a_stage:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A16, targets: [re:.*mlp.*]}
b_stage:
  quant_modifiers:
    QuantizationModifier: {scheme: W8A16, targets: [re:.*self_attn.*]}
Y
expect "two quantization modifiers" 3 "the recipe has QuantizationModifier, QuantizationModifier: ctensors applies exactly one" \
	quantize -c "$TMP/two.yaml" "$FIX" "$TMP/o"
cat >"$TMP/static.yaml" <<'Y'
QuantizationModifier: {scheme: FP8, targets: Linear, ignore: [lm_head]}
Y
expect "a static-activation preset" 3 "calibration" quantize -c "$TMP/static.yaml" "$FIX" "$TMP/o"
cat >"$TMP/kv.yaml" <<'Y'
QuantizationModifier:
  scheme: FP8_DYNAMIC
  targets: Linear
  ignore: [lm_head]
  kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}
Y
expect "a kv_cache_scheme needs calibration" 3 "kv_cache_scheme" quantize -c "$TMP/kv.yaml" "$FIX" "$TMP/o"
# an argument llm-compressor does not know is a typo (its Modifier is
# pydantic extra="forbid": modifiers/modifier.py); one it knows that changes
# what it computes, and ctensors does not apply, is refused as input
cat >"$TMP/unknown.yaml" <<'Y'
QuantizationModifier: {scheme: W4A16, targets: Linear, bogus_arg: 1}
Y
expect "an argument llm-compressor does not know" 2 'unknown argument "bogus_arg"' quantize -c "$TMP/unknown.yaml" "$FIX" "$TMP/o"
cat >"$TMP/observer.yaml" <<'Y'
QuantizationModifier: {scheme: W4A16, targets: Linear, weight_observer: mse}
Y
expect "an argument ctensors does not apply" 3 'argument "weight_observer" is not one ctensors applies' quantize -c "$TMP/observer.yaml" "$FIX" "$TMP/o"
printf 'QuantizationModifier: {scheme: W4A16\n' >"$TMP/broken.yaml"
expect "broken YAML" 3 "broken.yaml: invalid YAML" quantize -c "$TMP/broken.yaml" "$FIX" "$TMP/o"

# ---- structure, as llm-compressor's loader reads it ---------------------------
# recipe/recipe.py:Recipe.from_dict takes <x>_stage -> <y>_modifiers ->
# modifier; it skips other keys silently, which would run no modifier: here
# each is exit 2 naming the key, with the nearest valid one (suggest.h)
typo() {
	printf '%s' "$2" >"$TMP/typo.yaml"
	expect "$1" 2 "$3" quantize -c "$TMP/typo.yaml" "$FIX" "$TMP/o"
}
typo "a misspelled modifier group" 'quant_stage:
  quant_modifers:
    QuantizationModifier: {scheme: W4A16, targets: Linear}
' "quant_stage.quant_modifers: not a modifier group (a stage holds <name>_modifiers keys); did you mean 'quant_modifiers'?"
typo "a misspelled modifier" 'quant_stage:
  quant_modifiers:
    QuantizationModifer: {scheme: W4A16, targets: Linear}
' "\"QuantizationModifer\" is not an llm-compressor modifier; did you mean 'QuantizationModifier'?"
typo "a misspelled argument" 'quant_stage:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A16, targets: Linear, ignroe: [lm_head]}
' "quant_stage.quant_modifiers.QuantizationModifier: unknown argument \"ignroe\"; did you mean 'ignore'?"
typo "a misspelled value" 'quant_stage:
  quant_modifiers:
    QuantizationModifier:
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 8, type: flaot, strategy: channel, symmetric: true, dynamic: false}
' "config_groups.group_0.weights.type: \"flaot\" is not a quantization type; did you mean 'float'?"
typo "a misspelled strategy" 'QuantizationModifier:
  config_groups:
    group_0:
      targets: [Linear]
      weights: {num_bits: 4, type: int, strategy: chanel, symmetric: true}
' "\"chanel\" is not a strategy; did you mean 'channel'?"
typo "a misspelled scheme" 'quant_stage:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A61, targets: Linear}
' "did you mean 'W4A16'?"
typo "a misspelled stage" 'quant_stag:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A16}
' "quant_stag: not a recipe key (expected <name>_stage, a modifier or args); did you mean 'quant_stage'?"
typo "a stage key not ending in _stage" 'stage_a:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A16}
' "stage_a: not a recipe key"
typo "a YAML document that is no mapping" 'W4A16
' "expected a recipe mapping"
typo "a recipe with no modifier" 'quant_stage: {}
' "no modifier in the recipe"
typo "a modifier that quantizes nothing" 'quant_stage:
  quant_modifiers:
    QuantizationModifier: {targets: [Linear], ignore: [lm_head]}
' "no scheme and no config_groups: it quantizes nothing"
typo "scheme and config_groups both" 'QuantizationModifier:
  scheme: W4A16
  config_groups: {group_0: {targets: [Linear], weights: {num_bits: 4}}}
' "give one of scheme and config_groups, not both"
# a kv_cache_scheme alone is refused for what it needs (mixin.py:
# QuantizationMixin._set_requires_calibration_data), not for a missing scheme
cat >"$TMP/kvonly.yaml" <<'Y'
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      kv_cache_scheme:
        {num_bits: 8, type: float, symmetric: true, strategy: tensor}
Y
expect "only a kv_cache_scheme: needs calibration" 3 "QuantizationModifier: kv_cache_scheme needs calibration data" \
	quantize -c "$TMP/kvonly.yaml" "$FIX" "$TMP/o"

# ---- YAML as PyYAML's safe_load reads it, bounded ---------------------------------
printf 'quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W4A16}\n---\nx: 1\n' >"$TMP/twodoc.yaml"
expect "a second YAML document" 3 "twodoc.yaml: line 4: a second YAML document" quantize -c "$TMP/twodoc.yaml" "$FIX" "$TMP/o"
# 0200 is octal (YAML 1.1: resolver.py int, constructor.py:construct_yaml_int)
cat >"$TMP/octal.yaml" <<'Y'
QuantizationModifier:
  config_groups:
    group_0:
      targets: [Linear]
      weights: {num_bits: 4, type: int, strategy: group, group_size: 0200, symmetric: on, dynamic: off}
  ignore: [lm_head]
Y
echo '{"config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": true, "dynamic": false}}}, "ignore": ["lm_head"]}' >"$TMP/octal.json"
same "0200 is 128, on/off are booleans" "$TMP/octal.yaml" "$TMP/octal.json"
# a billion laughs of 400 bytes, and 100,000 levels of nesting: refused at
# once (the limits are checked while parsing), within 10 s of CPU (no
# memory limit: AddressSanitizer reserves terabytes of address space)
bounded() {
	name=$1 st_want=$2 msg=$3
	shift 3
	(ulimit -t 10 2>/dev/null; exec "$CT_BIN" "$@") \
		>/dev/null 2>"$TMP/err"
	st=$?
	[ "$st" = "$st_want" ] && grep -qF -- "$msg" "$TMP/err" && pass "$name" ||
		fail "$name" "exit $st: $(head -c 300 "$TMP/err")"
}
{
	printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
	for lp in b:a c:b d:c e:d f:e g:f h:g i:h; do
		l=${lp%:*} p=${lp#*:}
		printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' $l $l $p $p $p $p $p $p $p $p $p
	done
} >"$TMP/laughs.yaml"
[ "$(wc -c <"$TMP/laughs.yaml")" -lt 500 ] && pass "the alias bomb is under 500 bytes" || fail "the alias bomb is under 500 bytes"
bounded "aliases expanding past the cap" 3 "laughs.yaml: line 7: the YAML expands to more than 16 MB" \
	quantize -c "$TMP/laughs.yaml" "$FIX" "$TMP/o"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; print "" }' >"$TMP/deep.yaml"
bounded "100,000 levels of nesting" 3 "deep.yaml: line 1: YAML nested deeper than 64 levels" \
	quantize -c "$TMP/deep.yaml" "$FIX" "$TMP/o"

[ ! -e "$TMP/o" ] && pass "refused recipes write nothing" || fail "refused recipes write nothing"
# a quantization_config written as YAML is read too
cat >"$TMP/qc.yaml" <<'Y'
config_groups:
  group_0:
    targets: [Linear]
    weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128}
ignore: [lm_head]
Y
same "a quantization_config in YAML" "$TMP/qc.yaml" "$TMP/w4.json"
finish
