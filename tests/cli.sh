#!/bin/sh
# tests/cli.sh - the command-line contract end to end: commands, stdout,
# stderr and exit status, and the file-safety rules.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
FIX=fixtures/example-model
mk() { "$T/mkst" "$@" || exit 2; }

# ---- help and usage -------------------------------------------------------
run_cli 2 && grep -q '^usage: ctensors COMMAND' "$TMP/err" && pass "no command prints usage and exits 2" ||
	fail "no command prints usage and exits 2"
expect "--version" 0 "" --version
grep -q '^ctensors [0-9]' "$TMP/out" && pass "--version prints the version" || fail "--version prints the version"
expect "help lists the commands" 0 "" help
for c in inspect quantize decompress; do
	grep -q "^  $c " "$TMP/out" && pass "help lists $c" || fail "help lists $c"
done
expect "help quantize" 0 "" help quantize
grep -q -- '--scheme SCHEME' "$TMP/out" && pass "help quantize shows --scheme" || fail "help quantize shows --scheme"
expect "quantize --help" 0 "" quantize --help
expect "unknown command" 2 "'frobnicate' is not a ctensors command" frobnicate
expect "unknown option" 2 "unknown option --bogus" inspect --bogus x
expect "missing option value" 2 "needs a value" quantize -s
expect "quantize needs a scheme or config" 2 "exactly one of -s SCHEME and -c CONFIG" quantize in out
expect "quantize needs two operands" 2 "expected INPUT and OUTPUT" quantize -s W4A16 in
expect "bad --threads" 2 "--threads" quantize -j 0 -s W4A16 a b
expect "bad --group-size" 2 "--group-size" quantize --group-size -4 -s W4A16 a b
expect "unknown preset" 2 "preset \"W9A9\" is unknown" quantize -s W9A9 "$TMP/none" "$TMP/o"
expect "preset needing calibration" 2 "needs calibration data" quantize -s FP8 "$TMP/none" "$TMP/o"
expect "missing input" 3 "$TMP/none" inspect "$TMP/none"

# ---- quantize refusals ----------------------------------------------------
mk "$TMP/odd.st" "m.layers.0.q_proj.weight:BF16:8x77" "m.layers.0.k_proj.weight:BF16:8x128"
expect "columns not a multiple of the group size" 3 \
	"m.layers.0.q_proj.weight: columns 77 not a multiple of group_size 128 (add --ignore 'm.layers.0.q_proj' or use --skip-incompatible)" \
	quantize -s W4A16 "$TMP/odd.st" "$TMP/odd.q.st"
[ ! -e "$TMP/odd.q.st" ] && pass "a refused quantize writes nothing" || fail "a refused quantize writes nothing"
expect "--skip-incompatible leaves it dense" 0 "" quantize -q --skip-incompatible -s W4A16 "$TMP/odd.st" "$TMP/odd.q.st"
grep -a -q 'm.layers.0.q_proj\.weight"' "$TMP/odd.q.st" && grep -a -q 'ignore.*m.layers.0.q_proj' "$TMP/odd.q.st" &&
	grep -a -q 'k_proj.weight_packed' "$TMP/odd.q.st" &&
	pass "--skip-incompatible lists the module in ignore" || fail "--skip-incompatible lists the module in ignore"
expect "--ignore leaves it dense" 0 "" quantize -q --ignore m.layers.0.q_proj -s W4A16 "$TMP/odd.st" "$TMP/ign.st"
# the preset's default ignores: names ending in an embedding, gate or router
# name stay dense; near misses are quantized. The written ignore lists the
# dense ones of a quantized type (Linear), not the Embedding modules: as
# compressed-tensors' QuantizationConfig.from_pretrained (quant_config.py)
# lists only modules of a type some group quantized
emb_names="a.embed_tokens c.wpe d.tok_embeddings e.word_embeddings f.embeddings"
ign_names="b.xwte g.mlp.gate h.shared_expert_gate i.router j.block_sparse_moe.gate"
near_names="k.mlp.gates l.router_proj m.embeddings_proj n.mlpxgate o.gate"
specs=""
for n in $emb_names $ign_names $near_names; do specs="$specs $n.weight:BF16:8x128"; done
# shellcheck disable=SC2086
mk "$TMP/dign.st" $specs
expect "preset default ignores" 0 "" quantize -q -s W4A16 "$TMP/dign.st" "$TMP/dign.q.st"
"$T/stdump" "$TMP/dign.q.st" >"$TMP/dign.txt" 2>&1 || fail "stdump of the default-ignore output"
grep -a -o 'ignore[^]]*]' "$TMP/dign.q.st" | tr -d '\\' >"$TMP/dign.ign"
ok=1
for n in $ign_names; do
	grep -q "^$n\.weight " "$TMP/dign.txt" && grep -q "\"$n\"" "$TMP/dign.ign" || ok=0
done
for n in $emb_names; do
	grep -q "^$n\.weight " "$TMP/dign.txt" && ! grep -q "\"$n\"" "$TMP/dign.ign" || ok=0
done
for n in $near_names; do
	grep -q "^$n\.weight_packed " "$TMP/dign.txt" && ! grep -q "\"$n\"" "$TMP/dign.ign" || ok=0
done
[ $ok = 1 ] && pass "preset default ignores: suffixes dense, listed when Linear, near misses quantized" ||
	fail "preset default ignores: suffixes dense, listed when Linear, near misses quantized" "$(cat "$TMP/dign.ign")"
# NVFP4 reads every weight for its global scale while planning, on -j
# threads: the weight named is the first bad one in file order, every time
mk "$TMP/nan2.st" "a.weight:BF16:64x64" "b.weight:BF16:64x64:nan" "c.weight:BF16:64x64:nan" \
	"d.weight:BF16:64x64:nan"
for i in 1 2 3; do
	expect "NVFP4 global scales on 4 threads: the first bad weight ($i)" 3 \
		"nan2.st: b.weight: element 2048 is not finite" quantize -j 4 -s NVFP4A16 "$TMP/nan2.st" "$TMP/nan2.q.st"
done
mk "$TMP/nan.st" "x.weight:F16:4x32:nan"
expect "NaN in a target tensor" 3 "x.weight: element [2, 0] is NaN" quantize -s FP8_DYNAMIC "$TMP/nan.st" "$TMP/nan.q.st"
ls "$TMP" | grep -q 'nan.q.st' && fail "NaN refusal leaves nothing behind" || pass "NaN refusal leaves nothing behind"
mk "$TMP/inf.st" "x.weight:F32:4x32:inf"
expect "Inf in a target tensor" 3 "x.weight: element [2, 0] is infinite" quantize -s W8A8 "$TMP/inf.st" "$TMP/inf.q.st"
mk "$TMP/nvnan.st" "x.weight:BF16:4x32:nan"
expect "NaN found in the NVFP4 planning pass" 3 "x.weight: element 64 is not finite" quantize -s NVFP4A16 "$TMP/nvnan.st" "$TMP/nv.q.st"
mk "$TMP/nonfinite-bias.st" "x.weight:BF16:4x32" "x.bias:BF16:4:nan"
expect "NaN outside the targets passes through" 0 "" quantize -q -s W8A8 "$TMP/nonfinite-bias.st" "$TMP/nfb.q.st"
mk "$TMP/three.st" "x.weight:BF16:2x4x32"
expect "a 3-D weight is a Conv1d, which Linear does not match: nothing to quantize" 3 \
	"nothing to quantize" quantize -q -s W8A8 "$TMP/three.st" "$TMP/three.q.st"
echo '{"config_groups": {"g": {"targets": ["x"], "weights": {"num_bits": 8}}}}' >"$TMP/conv.json"
"$CT_BIN" quantize --dry-run -c "$TMP/conv.json" "$TMP/three.st" "$TMP/three.q.st" >"$TMP/out" 2>&1
grep -q 'x.weight  BF16  kept (Conv1d module: compressed-tensors quantizes only Linear and Embedding modules)' "$TMP/out" &&
	pass "--dry-run says why a Conv1d named by a target stays dense" ||
	fail "--dry-run says why a Conv1d named by a target stays dense" "$(cat "$TMP/out")"
mk "$TMP/int.st" "x.weight:I8:4x32"
expect "integer weight" 3 "dtype I8 cannot be quantized" quantize -s W8A8 "$TMP/int.st" "$TMP/int.q.st"
expect "already quantized input" 3 "already carries a quantization_config" quantize -s W8A8 "$TMP/odd.q.st" "$TMP/again.st"
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "bogus": 1}}}}' >"$TMP/badkey.json"
expect "config: unknown key" 3 "bogus" quantize -c "$TMP/badkey.json" "$TMP/odd.st" "$TMP/o.st"
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 0, "strategy": "group"}}}}' >"$TMP/gs0.json"
expect "config: group_size 0" 3 "group_size" quantize -c "$TMP/gs0.json" "$TMP/odd.st" "$TMP/o.st"
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4}, "input_activations": {"num_bits": 8, "type": "float", "strategy": "tensor"}}}}' >"$TMP/static.json"
expect "config: static activations need calibration" 3 "calibration" quantize -c "$TMP/static.json" "$TMP/odd.st" "$TMP/o.st"
echo '{"config_groups": {"g": {"targets": ["re:(unclosed"], "weights": {"num_bits": 4}}}}' >"$TMP/badre.json"
expect "config: bad regex" 3 "(unclosed" quantize -c "$TMP/badre.json" "$TMP/odd.st" "$TMP/o.st"
echo '{"config_groups": ' >"$TMP/trunc.json"
expect "config: malformed JSON" 3 "invalid JSON" quantize -c "$TMP/trunc.json" "$TMP/odd.st" "$TMP/o.st"

# ---- output safety ----------------------------------------------------------
mk "$TMP/a.st" "l.weight:BF16:16x128" "l.bias:BF16:16"
expect "output equal to the input" 2 "output is an input file" quantize -s W4A16 "$TMP/a.st" "$TMP/a.st"
ln -s "$TMP/a.st" "$TMP/link.st"
expect "output a symlink to the input" 2 "output is an input file" quantize -f -s W4A16 "$TMP/a.st" "$TMP/link.st"
cmp -s "$TMP/a.st" "$TMP/link.st" && pass "the input is untouched" || fail "the input is untouched"
expect "first write" 0 "" quantize -q -s W4A16 "$TMP/a.st" "$TMP/a.q.st"
expect "existing output without --force" 2 "already exists (use --force" quantize -s W4A16 "$TMP/a.st" "$TMP/a.q.st"
expect "existing output with --force" 0 "" quantize -q -f -s W8A16 "$TMP/a.st" "$TMP/a.q.st"
ls "$TMP" | grep -q ctensors-tmp && fail "no temporary files left" || pass "no temporary files left"

# ---- dry run, threads, presets vs configs -------------------------------------
if [ -d "$FIX" ]; then
	expect "dry run" 0 "" quantize --dry-run -s W4A16 "$FIX" "$TMP/dry"
	[ ! -e "$TMP/dry" ] && grep -q 'bits per weight' "$TMP/out" && grep -q 'q_proj.weight  BF16 -> pack-quantized int4 g128' "$TMP/out" &&
		pass "dry run prints the plan and writes nothing" || fail "dry run prints the plan and writes nothing"
	for s in W4A16 W8A8 FP8_DYNAMIC NVFP4A16 MXFP4A16; do
		"$CT_BIN" quantize -q -j 1 -s $s "$FIX" "$TMP/j1-$s" && "$CT_BIN" quantize -q -j 4 -s $s "$FIX" "$TMP/j4-$s" &&
			diff -r "$TMP/j1-$s" "$TMP/j4-$s" >/dev/null &&
			pass "$s: -j1 and -j4 outputs are identical" || fail "$s: -j1 and -j4 outputs are identical"
	done
	# each preset equals -c with the config it wrote
	for s in W4A16 W4A16_ASYM W8A16 W8A8 W4A8 W4AFP8 W3A16 FP8_DYNAMIC FP8_BLOCK NVFP4A16 MXFP4A16 MXFP8A16; do
		"$CT_BIN" quantize -q -s $s "$FIX" "$TMP/p-$s" &&
			"$CT_BIN" quantize -q -c "$TMP/p-$s/config.json" "$FIX" "$TMP/c-$s" &&
			diff -r "$TMP/p-$s" "$TMP/c-$s" >/dev/null &&
			pass "$s: preset equals -c with its written config" || fail "$s: preset equals -c with its written config"
		rm -rf "$TMP/c-$s"
	done
	# llm-compressor lists the dense modules of a quantized type only
	# (quant_config.py:from_pretrained): the Embedding is not one
	[ "$("$T/jget" .quantization_config.ignore <"$TMP/p-W4A16/config.json")" = '["lm_head"]' ] &&
		pass "preset ignore lists lm_head, not the embedding" ||
		fail "preset ignore lists lm_head, not the embedding" "$("$T/jget" .quantization_config.ignore <"$TMP/p-W4A16/config.json")"
	cmp -s "$FIX/tokenizer.json" "$TMP/p-W4A16/tokenizer.json" && pass "other files are copied" || fail "other files are copied"
	# NVFP4: fused modules share one global scale, even across shards
	if "$T/stdump" "$TMP/p-NVFP4A16" >"$TMP/gs.txt" 2>"$TMP/err"; then
		for L in 0 1; do
			n=$(grep "layers\.$L\.self_attn\.[qkv]_proj\.weight_global_scale" "$TMP/gs.txt" | awk '{print $NF}' | sort -u | wc -l)
			m=$(grep "layers\.$L\.mlp\.\(gate\|up\)_proj\.weight_global_scale" "$TMP/gs.txt" | awk '{print $NF}' | sort -u | wc -l)
			[ "$n" = 1 ] && [ "$m" = 1 ] && pass "NVFP4 layer $L: q/k/v and gate/up share a global scale" ||
				fail "NVFP4 layer $L: q/k/v and gate/up share a global scale" "$n q/k/v values, $m gate/up values"
		done
		"$CT_BIN" quantize -q --no-fuse-global-scale -s NVFP4A16 "$FIX" "$TMP/nofuse" && "$T/stdump" "$TMP/nofuse" >"$TMP/gs2.txt"
		n=$(grep 'layers\.0\.self_attn\.[qkv]_proj\.weight_global_scale' "$TMP/gs2.txt" | awk '{print $NF}' | sort -u | wc -l)
		[ "$n" -gt 1 ] && pass "--no-fuse-global-scale gives per-module scales" || fail "--no-fuse-global-scale gives per-module scales"
	else
		fail "stdump reads the NVFP4 output" "$(cat "$TMP/err")"
	fi
else
	skip "fixture tests" "$FIX is missing"
fi

# ---- compress ----------------------------------------------------------------
expect "compress needs a format or config" 2 "exactly one of -F FORMAT and -c CONFIG" compress in out
expect "compress: unknown format" 2 "-F: 'pack-quantized' is not one of sparse-bitmask, sparse-24-bitmask (see 'ctensors compress --help')" compress -F pack-quantized "$TMP/a.st" "$TMP/c.st"
echo '{"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 8}}}}' >"$TMP/q.json"
expect "compress: a config that quantizes" 2 "use 'ctensors quantize -c'" compress -c "$TMP/q.json" "$TMP/a.st" "$TMP/c.st"
expect "compress: nothing sparse" 3 "no weight is at least 49% zeros" compress -F sparse-bitmask "$TMP/a.st" "$TMP/c.st"
"$T/prune" "$TMP/a.st" "$TMP/half.st" 50 || exit 2
expect "compress: 50% zeros is not 2:4" 3 "no weight is at least 49% zeros with 2:4 structure" compress -F sparse-24-bitmask "$TMP/half.st" "$TMP/c.st"
echo '{"quant_method": "compressed-tensors", "sparsity_config": {"format": "sparse-24-bitmask", "targets": ["Linear"]}}' >"$TMP/s24.json"
expect "compress -c: a target that is not 2:4 is named with its first bad group" 3 \
	"l.weight: not 2:4 sparse: group 2 (row 0, columns 8-11) has more than 2 non-zeros of 4" compress -c "$TMP/s24.json" "$TMP/half.st" "$TMP/c.st"
"$T/prune" "$TMP/a.st" "$TMP/24.st" 2:4 || exit 2
expect "compress -F sparse-24-bitmask" 0 "" compress -q -F sparse-24-bitmask "$TMP/24.st" "$TMP/24.c.st"
expect "sparse-24 output decompresses exactly" 0 "" verify --exact --against "$TMP/24.st" "$TMP/24.c.st"
if [ -d "$FIX" ]; then
	mkdir -p "$TMP/pruned"
	cp "$FIX"/*.json "$TMP/pruned/"
	for s in "$FIX"/*.safetensors; do "$T/prune" "$s" "$TMP/pruned/$(basename "$s")" 50 || exit 2; done
	expect "compress -F sparse-bitmask of the pruned example model" 0 "" compress -q -F sparse-bitmask "$TMP/pruned" "$TMP/pruned-sb"
	dense=$(cat "$TMP/pruned"/*.safetensors | wc -c)
	sparse=$(cat "$TMP/pruned-sb"/*.safetensors | wc -c)
	# the Linear weights are compressed; the embedding is not a Linear
	# (and lm_head is ignored), so they stay dense
	[ $((sparse * 100)) -le $((dense * 63)) ] &&
		pass "sparse-bitmask of the 50% pruned example model is at most 0.63 of dense ($sparse / $dense bytes)" ||
		fail "sparse-bitmask of the 50% pruned example model is at most 0.63 of dense" "$sparse / $dense bytes"
	"$CT_BIN" inspect --json "$TMP/pruned-sb" >"$TMP/out"
	grep -q '"name": "model.embed_tokens.weight"' "$TMP/out" &&
		grep -q '"name": "model.layers.0.mlp.down_proj.bitmask"' "$TMP/out" &&
		pass "the embedding stays dense, the Linear weights are compressed" ||
		fail "the embedding stays dense, the Linear weights are compressed"
	expect "it decompresses to the pruned model exactly" 0 "" verify --exact --against "$TMP/pruned" "$TMP/pruned-sb"
	grep -q '"global_sparsity": 0.5' "$TMP/pruned-sb/config.json" && pass "global_sparsity is recorded" || fail "global_sparsity is recorded"
fi

# ---- numeric edge cases: nothing decodes to NaN or Inf ---------------------------
mk "$TMP/edge.st" "m.zero.weight:BF16:32x128:zero" "m.negzero.weight:BF16:32x128:-0" \
	"m.subnormal.weight:BF16:32x128:1e-39" "m.f32tiny.weight:F32:32x128:1.4e-45" \
	"m.mixed.weight:F32:32x128" "m.bias:BF16:32:nan"
# the largest finite values: dequantizing rounds (q - z) * s to the weight
# dtype, which can overflow to infinity (the library writes such files);
# quantize either writes a checkpoint that verifies and decodes finite, or
# refuses the tensor (exit 3) and writes nothing
for spec in "huge:BF16:3.38e38" "neghuge:BF16:-3.38e38" "f16max:F16:65504" "f16pm:F16:pm65504" \
	"f32max:F32:3.4e38"; do
	n=${spec%%:*}
	mk "$TMP/edge-$n.st" "m.$n.weight:$(echo "$spec" | cut -d: -f2):32x128:${spec##*:}"
done
for s in W4A16 W4A16_ASYM W8A16 W8A8 W2A16 FP8_DYNAMIC FP8_BLOCK NVFP4A16 MXFP4A16 MXFP8A16; do
	"$CT_BIN" quantize -q -s $s "$TMP/edge.st" "$TMP/edge-$s.st" 2>"$TMP/err" &&
		"$CT_BIN" verify -q --against "$TMP/edge.st" "$TMP/edge-$s.st" >"$TMP/out" 2>&1 &&
		pass "$s: zeros, -0 and subnormals decode finite; a NaN bias passes through" ||
		fail "$s: zeros, -0 and subnormals decode finite; a NaN bias passes through" "$(cat "$TMP/err" "$TMP/out" | head -5)"
	for n in huge neghuge f16max f16pm f32max; do
		rm -f "$TMP/max.st" "$TMP/max.d.st"
		"$CT_BIN" quantize -q -s $s "$TMP/edge-$n.st" "$TMP/max.st" 2>"$TMP/err"
		st=$?
		if [ $st = 0 ]; then
			"$CT_BIN" verify -q "$TMP/max.st" >"$TMP/out" 2>&1 &&
				"$CT_BIN" decompress -q "$TMP/max.st" "$TMP/max.d.st" 2>>"$TMP/err" &&
				"$CT_BIN" inspect --stats --json "$TMP/max.d.st" >"$TMP/out" 2>>"$TMP/err" &&
				! grep -q '"nan": [1-9]' "$TMP/out" && ! grep -q '"inf": [1-9]' "$TMP/out" &&
				pass "$s: $n: written, verifies and decodes finite" ||
				fail "$s: $n: written, verifies and decodes finite" "$(cat "$TMP/err" "$TMP/out" | head -3)"
		elif [ $st = 3 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "m.$n.weight: .*\(would decompress to\|cannot hold\)" "$TMP/err" &&
			[ ! -e "$TMP/max.st" ]; then
			pass "$s: $n: refused, naming the tensor and the overflow"
		else
			fail "$s: $n: written and verified, or refused" "exit $st: $(head -c 300 "$TMP/err")"
		fi
	done
done
expect "W4A16_ASYM on F16 weights of +-65504 is refused: the scale would be Inf" 3 \
	"m.f16pm.weight: the scale of the group at row 0, column 0 is inf: its weights span [-65504, 65504], a range F16 cannot hold" \
	quantize -s W4A16_ASYM "$TMP/edge-f16pm.st" "$TMP/max-asym.st"
expect "W8A16 on the same weights is written" 0 "" quantize -q -s W8A16 "$TMP/edge-f16pm.st" "$TMP/max-w8.st"
expect "and verifies" 0 "" verify -q --against "$TMP/edge-f16pm.st" "$TMP/max-w8.st"
"$CT_BIN" decompress -q "$TMP/edge-W4A16_ASYM.st" "$TMP/edge-asym-dec.st" &&
	"$T/stdump" "$TMP/edge-asym-dec.st" >/dev/null && pass "asymmetric all-zero groups decompress (zero point 0)" ||
	fail "asymmetric all-zero groups decompress"

# ---- mixed precision and --dtype ------------------------------------------------
cat >"$TMP/mixed.json" <<'JSON'
{"config_groups": {
  "attn": {"targets": ["re:.*self_attn\\..*"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
           "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}},
  "mlp": {"targets": ["re:.*mlp\\..*"], "weights": {"num_bits": 4, "group_size": 128, "strategy": "group"}}},
 "ignore": ["lm_head"]}
JSON
if [ -d "$FIX" ]; then
	expect "mixed-precision config" 0 "" quantize -q -c "$TMP/mixed.json" "$FIX" "$TMP/mixed"
	grep -q '"format": "mixed-precision"' "$TMP/mixed/config.json" && grep -q '"format": "float-quantized"' "$TMP/mixed/config.json" &&
		grep -q '"format": "pack-quantized"' "$TMP/mixed/config.json" && pass "mixed-precision: each group keeps its format" ||
		fail "mixed-precision: each group keeps its format"
	"$T/stdump" "$TMP/mixed" >"$TMP/mixed.txt"
	grep -q 'layers.0.self_attn.q_proj.weight F8_E4M3' "$TMP/mixed.txt" && grep -q 'layers.0.mlp.up_proj.weight_packed I32' "$TMP/mixed.txt" &&
		grep -q 'model.embed_tokens.weight BF16' "$TMP/mixed.txt" &&
		pass "mixed-precision: fp8 attention, int4 MLP, untargeted left dense" || fail "mixed-precision: fp8 attention, int4 MLP"
	expect "mixed-precision verifies against the original" 0 "" verify --against "$FIX" "$TMP/mixed"
	expect "decompress --dtype f32" 0 "" decompress -q --dtype f32 "$TMP/mixed" "$TMP/mixed-f32"
	"$T/stdump" "$TMP/mixed-f32" | grep -q 'layers.0.mlp.up_proj.weight F32 \[512,256\]' &&
		"$T/stdump" "$TMP/mixed-f32" | grep -q 'model.embed_tokens.weight BF16' &&
		pass "--dtype converts decompressed weights only" || fail "--dtype converts decompressed weights only"
	expect "bad --dtype" 2 "--dtype: 'f8' is not one of bf16, f16, f32" decompress --dtype f8 "$TMP/mixed" "$TMP/x"
fi

# ---- progress and verbosity ----------------------------------------------------
if [ -d "$FIX" ]; then
	if command -v script >/dev/null 2>&1; then
		script -qec "'$CT_BIN' quantize -f -s W4A16 '$FIX' '$TMP/tty-out'" "$TMP/typescript" >/dev/null 2>&1
		grep -q "$(printf '\r')" "$TMP/typescript" && grep -q '\[#' "$TMP/typescript" && grep -q '100%' "$TMP/typescript" &&
			pass "a progress bar on a terminal" || fail "a progress bar on a terminal" "$(cat -v "$TMP/typescript" | head -c 300)"
		grep -q "$(printf '\033')\[36m" "$TMP/typescript" && pass "the bar is coloured on a terminal" || fail "the bar is coloured on a terminal"
		NO_COLOR=1 script -qec "'$CT_BIN' quantize -f -s W4A16 '$FIX' '$TMP/tty-out'" "$TMP/typescript2" >/dev/null 2>&1
		! grep -q "$(printf '\033')\[36m" "$TMP/typescript2" && grep -q '100%' "$TMP/typescript2" &&
			pass "NO_COLOR: the bar without colour" || fail "NO_COLOR: the bar without colour"
		script -qec "'$CT_BIN' quantize -f --no-progress -s W4A16 '$FIX' '$TMP/tty-out'" "$TMP/typescript3" >/dev/null 2>&1
		! grep -q '100%' "$TMP/typescript3" && pass "--no-progress on a terminal" || fail "--no-progress on a terminal"
	else
		skip "progress on a terminal" "script(1) is not installed"
	fi
	"$CT_BIN" quantize -f -s W4A16 "$FIX" "$TMP/pipe-out" 2>"$TMP/err" | cat
	! grep -q "$(printf '\r')" "$TMP/err" && ! grep -q '%' "$TMP/err" && [ "$(wc -l <"$TMP/err")" = 1 ] &&
		pass "no bar and no carriage return in a pipe: one summary line" || fail "no bar and no carriage return in a pipe" "$(cat -v "$TMP/err")"
	"$CT_BIN" quantize -f --progress -s W4A16 "$FIX" "$TMP/pipe-out" 2>"$TMP/err"
	! grep -q "$(printf '\r')" "$TMP/err" && grep -q '100%' "$TMP/err" &&
		pass "--progress into a log: plain lines, no carriage return" || fail "--progress into a log" "$(cat -v "$TMP/err")"
	"$CT_BIN" quantize -q -f -s W4A16 "$FIX" "$TMP/pipe-out" 2>"$TMP/err"
	[ ! -s "$TMP/err" ] && pass "-q: nothing on stderr" || fail "-q: nothing on stderr"
	"$CT_BIN" quantize -v -f -s W4A16 "$FIX" "$TMP/pipe-out" 2>"$TMP/err"
	grep -q '^\[ *[0-9]*/21\] model.layers.0.self_attn.q_proj  BF16 \[256, 256\] -> pack-quantized  131 kB -> ' "$TMP/err" &&
		[ "$(grep -c '^\[' "$TMP/err")" = 21 ] && pass "-v: one line per tensor" || fail "-v: one line per tensor" "$(head -3 "$TMP/err")"
fi

# NVFP4 fusion across shards: q/k/v and gate/up land in different shards
mk "$TMP/fuse.st" "model.layers.0.self_attn.q_proj.weight:BF16:32x64:0.5" \
	"model.layers.0.self_attn.k_proj.weight:BF16:16x64:3" "model.layers.0.self_attn.v_proj.weight:BF16:16x64:0.25" \
	"model.layers.0.mlp.gate_proj.weight:BF16:64x64:2" "model.layers.0.mlp.up_proj.weight:BF16:64x64:0.125" \
	"model.layers.0.mlp.down_proj.weight:BF16:64x64"
"$T/st_split" "$TMP/fuse.st" 3 "$TMP/fuse-dir" >/dev/null
shards=$(grep -o 'model-0000[0-9]' "$TMP/fuse-dir/model.safetensors.index.json" | sort -u | wc -l)
[ "$shards" -ge 2 ] && pass "fusion test input spans several shards" || fail "fusion test input spans several shards"
"$CT_BIN" quantize -q -s NVFP4A16 "$TMP/fuse-dir" "$TMP/fuse-q" && "$T/stdump" "$TMP/fuse-q" >"$TMP/fgs.txt"
qkv=$(grep '_proj\.weight_global_scale' "$TMP/fgs.txt" | grep -E '[qkv]_proj' | awk '{print $NF}' | sort -u)
gu=$(grep -E '(gate|up)_proj\.weight_global_scale' "$TMP/fgs.txt" | awk '{print $NF}' | sort -u)
[ "$qkv" = 896 ] && pass "q/k/v share the global scale of their largest weight (3 -> 896)" ||
	fail "q/k/v share the global scale of their largest weight (3 -> 896)" "got $qkv"
[ "$gu" = 1344 ] && pass "gate/up share the global scale of their largest weight (2 -> 1344)" ||
	fail "gate/up share the global scale of their largest weight (2 -> 1344)" "got $gu"
finish
