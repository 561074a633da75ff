#!/bin/sh
# tests/moe.sh - mixture-of-experts checkpoints (../shared/wild, Part 2):
# per-expert and fused 3-D layouts A, B and C quantize to exactly the
# library's tensors for the per-expert model, and pass vLLM's check.
. "$(dirname "$0")/lib.sh"
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
WILD=${CT_WILD:-../shared/wild}
mk() { "$T/mkst" "$@" || exit 2; }

if [ -d "$WILD" ]; then
	n=0
	for case in "$WILD"/moe_*/; do
		case=${case%/}
		name=$(basename "$case")
		[ -d "$case/expected" ] || continue
		for s in W4A16 NVFP4A16; do
			[ -f "$case/expected/$s/model.safetensors" ] || continue
			n=$((n + 1))
			out="$TMP/$name-$s"
			expect "$name $s: quantize the input as it is" 0 "" quantize -q -s "$s" "$case/input" "$out"
			check "$name $s: tensors equal the library's for the per-expert model" \
				"$T/stcmp" "$out/model.safetensors" "$case/expected/$s/model.safetensors"
			! "$T/stdump" "$out/model.safetensors" | grep -q 'experts\.\(gate_up_proj\|down_proj\)' &&
				pass "$name $s: no fused tensor is left" || fail "$name $s: no fused tensor is left"
			expect "$name $s: verify --against the per-expert model" 0 "" \
				verify -q --against "$case/dense_equivalent" "$out"
			# the fused input itself: each expert compared with its slice,
			# measured as against the per-expert model, value for value
			"$CT_BIN" verify -v --against "$case/dense_equivalent" "$out" 2>&1 | sort >"$TMP/v-dense"
			if "$CT_BIN" verify -v --against "$case/input" "$out" >"$TMP/v-in" 2>&1 &&
				sort "$TMP/v-in" | cmp -s - "$TMP/v-dense"; then
				pass "$name $s: verify --against the fused input measures what the per-expert model does"
			else
				fail "$name $s: verify --against the fused input measures what the per-expert model does" \
					"$(grep -v ' snr ' "$TMP/v-in" | head -3)"
			fi
			case $name in
			*gptoss*)
				# models/gpt_oss.py: GptOssModel._load_weights_other (vLLM
				# 9aaf83ef) maps fused w13/w2 tensors only: per-expert
				# experts are never filled
				"$CT_BIN" verify -q --serving vllm --json "$out" >"$TMP/sv" 2>/dev/null
				[ $? = 1 ] && grep -q '"rule": "vllm-moe-loader"' "$TMP/sv" &&
					pass "$name $s: vLLM's gpt-oss loader maps no per-expert tensors" ||
					fail "$name $s: vLLM's gpt-oss loader maps no per-expert tensors" ;;
			*) expect "$name $s: passes vLLM's check" 0 "" verify -q --serving vllm "$out" ;;
			esac
		done
	done
	[ "$n" -gt 0 ] && pass "$n MoE cases found" || fail "MoE cases found" "none in $WILD"
	c="$WILD/moe_fused_b_llama4_bf16/input"
	expect "dry run" 0 "" quantize --dry-run -s W4A16 "$c" "$TMP/x"
	grep -q 'model.layers.0.feed_forward.experts: fused experts, layout B' "$TMP/out" &&
		pass "--dry-run names the layout found" || fail "--dry-run names the layout found" "$(head -3 "$TMP/out")"
	expect "inspect" 0 "" inspect "$WILD/moe_fused_c_gptoss_bf16/input"
	grep -q '^experts .*model.layers.0.mlp.experts: 4 fused, layout C' "$TMP/out" &&
		pass "inspect names the layout found" || fail "inspect names the layout found" "$(tail -4 "$TMP/out")"
	# gpt-oss biases split alongside, dense
	"$T/stdump" "$TMP/moe_fused_c_gptoss_bf16-W4A16/model.safetensors" >"$TMP/dump"
	grep -q '^model.layers.0.mlp.experts.3.up_proj.bias BF16 \[128\]' "$TMP/dump" &&
		grep -q '^model.layers.0.mlp.experts.0.down_proj.bias BF16 \[128\]' "$TMP/dump" &&
		grep -q '^model.layers.0.mlp.router.weight BF16' "$TMP/dump" &&
		pass "biases split per expert, the router dense" || fail "biases split per expert, the router dense"
	# NVFP4: gate and up of each expert share a global scale unless told not to
	expect "NVFP4 with separate global scales" 0 "" quantize -q --no-fuse-global-scale -s NVFP4A16 \
		"$WILD/moe_fused_a_qwen3_5_bf16/input" "$TMP/nv-apart"
	run_cli 0 inspect --json --stats --tensor model.layers.0.mlp.experts.0.gate_proj.weight_global_scale \
		--tensor model.layers.0.mlp.experts.0.up_proj.weight_global_scale "$TMP/nv-apart"
	[ "$(grep -c '"max": ' "$TMP/out")" = 2 ] && [ "$(grep '"max": ' "$TMP/out" | sort -u | wc -l)" = 2 ] &&
		pass "--no-fuse-global-scale: expert 0's gate and up scales differ" ||
		fail "--no-fuse-global-scale: expert 0's gate and up scales differ" "$(grep '"max"' "$TMP/out")"
	# decompress --fused gives back the input's own layout
	for c in moe_fused_a_qwen3_5_bf16 moe_fused_b_llama4_bf16 moe_fused_c_gptoss_bf16; do
		in="$WILD/$c/input"
		expect "$c: quantize with the experts kept dense" 0 "" quantize -q -s W8A16 \
			--ignore 're:.*experts.*' "$in" "$TMP/$c-dense-experts"
		expect "$c: decompress --fused" 0 "" decompress -q --fused "$TMP/$c-dense-experts" "$TMP/$c-refused"
		"$T/stcmp" "$TMP/$c-refused/model.safetensors" "$in/model.safetensors" >/dev/null 2>"$TMP/err"
		! grep -q 'experts' "$TMP/err" && ! grep -q 'only in' "$TMP/err" &&
			pass "$c: the fused tensors (and biases) come back byte for byte" ||
			fail "$c: the fused tensors (and biases) come back byte for byte" "$(grep experts "$TMP/err" | head -3)"
		expect "$c: decompress --fused of W4A16" 0 "" decompress -q --fused "$TMP/$c-W4A16" "$TMP/$c-w4-fused"
		# a layout put back wrong would compare near 0 dB; 4-bit gives about 12
		expect "$c: the W4A16 experts, refused, are close to the input" 0 "" \
			verify -q --against "$in" --min-snr-db 8 "$TMP/$c-w4-fused"
	done
	expect "--fused on a checkpoint without fused experts" 3 "--fused: the checkpoint records no fused experts" \
		decompress --fused "$TMP/moe_qwen3_per_expert_bf16-W4A16" "$TMP/nofuse"
else
	skip "MoE wild cases" "$WILD is absent"
fi

# ---- layouts that cannot be told are refused, naming the tensor --------------
mk "$TMP/bad1.st" "m.experts.gate_up_proj:BF16:4x100x64" "m.experts.down_proj:BF16:4x100x64"
expect "shapes that fit no layout" 3 "m.experts.gate_up_proj [4, 100, 64] and m.experts.down_proj [4, 100, 64]: the expert layout cannot be told (tried layout A" \
	quantize -s W4A16 "$TMP/bad1.st" "$TMP/bad1.q.st"
mk "$TMP/bad2.st" "m.experts.gate_up_proj:BF16:4x256x128"
expect "gate_up without down" 3 "m.experts.gate_up_proj: gate_up_proj without down_proj: the expert layout cannot be told" \
	quantize -s W4A16 "$TMP/bad2.st" "$TMP/bad2.q.st"
mk "$TMP/bad3.st" "m.experts.w13_weight:BF16:4x256x128" "x.weight:BF16:16x128"
expect "another 3-D expert tensor" 3 "m.experts.w13_weight: a 3-D expert tensor whose layout cannot be told" \
	quantize -s W4A16 "$TMP/bad3.st" "$TMP/bad3.q.st"
# layout A from scratch: F16, 3 experts, I != H
mk "$TMP/a.st" "m.experts.gate_up_proj:F16:3x256x256" "m.experts.down_proj:F16:3x256x128" "m.router.weight:F16:3x256"
expect "layout A with F16 and I != H" 0 "" quantize -q -s W8A16 "$TMP/a.st" "$TMP/a.q.st"
"$T/stdump" "$TMP/a.q.st" >"$TMP/dump"
grep -q '^m.experts.2.up_proj.weight_packed I32 \[128,64\]' "$TMP/dump" &&
	grep -q '^m.experts.0.down_proj.weight_packed I32 \[256,32\]' "$TMP/dump" &&
	grep -q '^m.router.weight F16' "$TMP/dump" &&
	pass "per-expert shapes: up [I,H], down [H,I]" || fail "per-expert shapes: up [I,H], down [H,I]" "$(grep experts "$TMP/dump" | head -4)"
echo '{"sparsity_config": {"format": "sparse-bitmask", "targets": ["Linear"]}}' >"$TMP/sp.json"
expect "sparse compression of fused experts is refused" 3 "fused 3-D experts" compress -c "$TMP/sp.json" "$TMP/a.st" "$TMP/a.c.st"
# ---- config.json against the tensors -----------------------------------------
# vLLM builds FusedMoE from config.json (num_experts experts of
# moe_intermediate_size rows) and then loads the tensors into it
# (vllm/model_executor/layers/fused_moe/layer.py: FusedMoE.weight_loader):
# a config the tensors contradict is refused by quantize (exit 3) and fails
# verify --serving vllm
if [ -d "$WILD/moe_qwen3_per_expert_bf16" ]; then
	for c in moe_qwen3_per_expert_bf16 moe_fused_a_qwen3_5_bf16; do
		[ -d "$WILD/$c" ] || continue
		cp -r "$WILD/$c/input" "$TMP/$c-e8"
		sed -i 's/"num_experts": 4/"num_experts": 8/' "$TMP/$c-e8/config.json"
		expect "$c: num_experts 8 over 4 experts: quantize refuses" 3 "says num_experts 8, but" \
			quantize -s W4A16 "$TMP/$c-e8" "$TMP/$c-e8.q"
		[ ! -e "$TMP/$c-e8.q" ] && pass "... and writes nothing ($c)" || fail "... and writes nothing ($c)"
		cp -r "$WILD/$c/input" "$TMP/$c-i"
		sed -i 's/"moe_intermediate_size": 128/"moe_intermediate_size": 96/' "$TMP/$c-i/config.json"
		expect "$c: moe_intermediate_size 96 over experts of 128: quantize refuses" 3 \
			"says moe_intermediate_size 96, but" quantize -s W4A16 "$TMP/$c-i" "$TMP/$c-i.q"
		# a good output whose config.json is edited afterwards: --serving fails it
		"$CT_BIN" quantize -q -s W4A16 "$WILD/$c/input" "$TMP/$c-ok" || exit 2
		sed -i 's/"num_experts": 4/"num_experts": 6/' "$TMP/$c-ok/config.json"
		run_cli 1 verify --serving vllm "$TMP/$c-ok"
		grep -q 'says num_experts 6, but the checkpoint holds 4 experts there' "$TMP/out" &&
			pass "$c: verify --serving vllm fails a config.json with the wrong expert count" ||
			fail "$c: verify --serving vllm fails a config.json with the wrong expert count" "$(head -5 "$TMP/out")"
	done
	# a dense MLP of another size than intermediate_size
	cp -r fixtures/example-model "$TMP/dense-i"
	sed -i 's/"intermediate_size": [0-9]*/"intermediate_size": 100/' "$TMP/dense-i/config.json"
	expect "a dense model whose intermediate_size is not its MLPs': quantize refuses" 3 \
		"model.layers.0.mlp.gate_proj.weight: config.json says intermediate_size 100, but the weight has 512 rows" \
		quantize -s W4A16 "$TMP/dense-i" "$TMP/dense-i.q"
fi

# ---- fused experts named *.gate_up_proj.weight / *.down_proj.weight ---------
# vLLM's fused loaders (qwen3_5.py, llama4.py: load_weights) match
# "experts.gate_up_proj" anywhere in a name, so ".weight" may follow; the
# split is undone by decompress --fused under the same names, byte for byte
# against the input (layout A: [E, 2I, H] / [E, H, I]; B: [E, H, 2I] / [E, I, H])
for l in A B; do
	if [ $l = A ]; then gu=3x256x256; dn=3x256x128; else gu=3x256x256; dn=3x128x256; fi
	mk "$TMP/w$l.st" "m.experts.gate_up_proj.weight:BF16:$gu" "m.experts.down_proj.weight:BF16:$dn" \
		"m.router.weight:BF16:3x256" "x.weight:BF16:64x128"
	expect "$l .weight names: quantize with the experts kept dense" 0 "" \
		quantize -q -s W8A16 --ignore 're:.*experts.*' "$TMP/w$l.st" "$TMP/w$l.q.st"
	expect "$l .weight names: decompress --fused" 0 "" decompress -q --fused "$TMP/w$l.q.st" "$TMP/w$l.d.st"
	"$T/stdump" "$TMP/w$l.d.st" | grep experts >"$TMP/dump"
	"$T/stcmp" "$TMP/w$l.d.st" "$TMP/w$l.st" >/dev/null 2>"$TMP/err"
	[ "$(wc -l <"$TMP/dump")" = 2 ] && ! grep -q 'experts' "$TMP/err" && ! grep -q 'only in' "$TMP/err" &&
		pass "$l .weight names: the fused tensors come back byte for byte, under their names" ||
		fail "$l .weight names: the fused tensors come back byte for byte, under their names" \
			"$(cat "$TMP/dump" "$TMP/err" | head -4)"
	expect "$l .weight names: W4A16" 0 "" quantize -q -s W4A16 "$TMP/w$l.st" "$TMP/w$l.q4.st"
	expect "$l .weight names: decompress --fused of W4A16" 0 "" decompress -q --fused "$TMP/w$l.q4.st" "$TMP/w$l.d4.st"
	expect "$l .weight names: the W4A16 experts, fused back, are close to the input" 0 "" \
		verify -q --against "$TMP/w$l.st" --min-snr-db 8 "$TMP/w$l.d4.st"
done

# ---- --fused: a recorded block whose shapes the experts do not have --------
# the metadata says hidden 257 where the experts are [128, 256]: a shape,
# which --dtype cannot change, so the message says the shapes
mk "$TMP/mm.st" "m.experts.gate_up_proj:BF16:3x256x256" "m.experts.down_proj:BF16:3x256x128" "x.weight:BF16:64x128"
expect "layout A: quantize with the experts kept dense" 0 "" \
	quantize -q -s W8A16 --ignore 're:.*experts.*' "$TMP/mm.st" "$TMP/wA.bad.st"
off=$(grep -obUa 'hidden\\":256' "$TMP/wA.bad.st" | head -n 1 | cut -d: -f1)
printf 'hidden\\":257' | dd of="$TMP/wA.bad.st" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect "--fused shape mismatch names the shapes" 3 \
	"m.experts.gate_up_proj: --fused: expert 0's gate_proj is [128, 256] where the recorded block (hidden 257, intermediate 128) needs [128, 257]" \
	decompress --fused "$TMP/wA.bad.st" "$TMP/wA.bad.d.st"
! grep -q -- '--dtype' "$TMP/err" && pass "--fused shape mismatch: no --dtype advice" ||
	fail "--fused shape mismatch: no --dtype advice" "$(cat "$TMP/err")"

# ---- a fused block of zero experts: refused where the split is planned -----
# (qwen3_5.py:load_fused_expert_weights loops over range(num_experts): with
# E = 0 nothing is loaded, and the split would leave no tensor in its place)
mk "$TMP/z.st" "m.experts.gate_up_proj:BF16:0x256x128" "m.experts.down_proj:BF16:0x128x128" "x.weight:BF16:64x128"
mk "$TMP/zw.st" "m.mlp.experts.gate_up_proj.weight:BF16:0x128x128" "m.mlp.experts.down_proj.weight:BF16:0x64x128" \
	"x.weight:BF16:64x128"
for f in z zw; do
	zmsg="$f.st: m.${f#z}"
	[ $f = z ] && zmsg="z.st: m.experts.down_proj: a fused block of zero experts [0, 128, 128]" ||
		zmsg="zw.st: m.mlp.experts.down_proj.weight: a fused block of zero experts [0, 64, 128]"
	expect "$f: zero experts: quantize" 3 "$zmsg" quantize -s W4A16 "$TMP/$f.st" "$TMP/$f.q.st"
	[ ! -e "$TMP/$f.q.st" ] && pass "$f: zero experts: no output" || fail "$f: zero experts: no output"
	expect "$f: zero experts: quantize --dry-run" 3 "$zmsg" quantize --dry-run -s W4A16 "$TMP/$f.st" "$TMP/$f.q.st"
	[ ! -s "$TMP/out" ] && pass "$f: zero experts: --dry-run plans nothing" ||
		fail "$f: zero experts: --dry-run plans nothing" "$(head -2 "$TMP/out")"
	expect "$f: zero experts: compress" 3 "$zmsg" compress -c "$TMP/sp.json" "$TMP/$f.st" "$TMP/$f.c.st"
	expect "$f: zero experts: inspect" 3 "$zmsg" inspect "$TMP/$f.st"
done

# ---- a fused weight of another rank: the rank is what is wrong ------------
mk "$TMP/r4.st" "m.experts.gate_up_proj:BF16:2x3x256x128" "m.experts.down_proj:BF16:3x128x128" "x.weight:BF16:64x128"
expect "a 4-D gate_up_proj" 3 "r4.st: m.experts.gate_up_proj: a 4-D gate_up_proj: fused experts are 3-D" \
	quantize -s W4A16 "$TMP/r4.st" "$TMP/r4.q.st"
mk "$TMP/r4d.st" "m.experts.gate_up_proj.weight:BF16:3x256x128" "m.experts.down_proj.weight:BF16:1x3x128x128" \
	"x.weight:BF16:64x128"
expect "a 4-D down_proj" 3 "r4d.st: m.experts.down_proj.weight: a 4-D down_proj: fused experts are 3-D" \
	quantize -s W4A16 "$TMP/r4d.st" "$TMP/r4d.q.st"
mk "$TMP/r2.st" "m.experts.gate_up_proj:BF16:256x128" "m.experts.down_proj:BF16:3x128x128" "x.weight:BF16:64x128"
expect "a 2-D gate_up_proj beside a 3-D down_proj" 3 \
	"m.experts.gate_up_proj: a 2-D gate_up_proj beside the 3-D m.experts.down_proj: fused experts are two 3-D tensors" \
	quantize -s W4A16 "$TMP/r2.st" "$TMP/r2.q.st"
finish
