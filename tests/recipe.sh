#!/bin/sh
# tests/recipe.sh - llm-compressor recipes as -c CONFIG: each shape the
# llm-compressor examples use gives exactly what the equivalent
# quantization_config gives (tensors and config.json); modifiers that need
# calibration, and recipes ctensors cannot compose, are refused by name.
. "$(dirname "$0")/lib.sh"
FIX=fixtures/example-model
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
stage_a:
  quant_modifiers:
    QuantizationModifier: {scheme: W4A16, targets: [re:.*mlp.*]}
stage_b:
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
cat >"$TMP/unknown.yaml" <<'Y'
QuantizationModifier: {scheme: W4A16, targets: Linear, bogus_arg: 1}
Y
expect "an argument ctensors does not apply" 3 'argument "bogus_arg" is not one ctensors applies' quantize -c "$TMP/unknown.yaml" "$FIX" "$TMP/o"
printf 'QuantizationModifier: {scheme: W4A16\n' >"$TMP/broken.yaml"
expect "broken YAML" 3 "broken.yaml: invalid YAML" quantize -c "$TMP/broken.yaml" "$FIX" "$TMP/o"
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
