#!/bin/sh
# tests/golden.sh - every case of ../shared/golden (made by the Python
# compressed-tensors library) reproduced byte for byte.
. "$(dirname "$0")/lib.sh"
G=${CT_GOLDEN:-../shared/golden}
T=${CT_TOOLS:?CT_TOOLS must name the built test tools}
if [ ! -d "$G" ]; then
	echo "skip - golden cases: $G is absent (they live in ../shared/golden)"
	finish
	exit $?
fi

for dir in "$G"/*/; do
	c=$(basename "$dir")
	cfg=$dir/config.json
	[ -f "$cfg" ] || continue
	# sparsity-only configs are compress's job, anything that quantizes quantize's
	if grep -q '"config_groups"' "$cfg"; then CMD="quantize --no-fuse-global-scale"; else CMD=compress; fi
	export CMD
	o=$TMP/$c
	mkdir -p "$o"
	check "$c: ${CMD%% *} --plain-metadata equals expected.safetensors byte for byte" \
		sh -c '"$0" $CMD -q --plain-metadata -c "$1" "$2" "$3" && cmp "$3" "$4"' \
		"$CT_BIN" "$cfg" "$dir/input.safetensors" "$o/plain.safetensors" "$dir/expected.safetensors"
	check "$c: ${CMD%% *} with metadata has the expected tensors" \
		sh -c '"$0" $CMD -q -c "$1" "$2" "$3" && "$4/stcmp" "$3" "$5" && grep -q ctensors.xxh3 "$3"' \
		"$CT_BIN" "$cfg" "$dir/input.safetensors" "$o/meta.safetensors" "$T" "$dir/expected.safetensors"
	check "$c: decompress -c of expected.safetensors equals expected_decompressed" \
		sh -c '"$0" decompress -q --plain-metadata -c "$1" "$2" "$3" && cmp "$3" "$4"' \
		"$CT_BIN" "$cfg" "$dir/expected.safetensors" "$o/dec.safetensors" "$dir/expected_decompressed.safetensors"
	check "$c: ${CMD%% *} then decompress (config from metadata) equals expected_decompressed" \
		sh -c '"$0" decompress -q --plain-metadata "$1" "$2" && cmp "$2" "$3"' \
		"$CT_BIN" "$o/meta.safetensors" "$o/rt.safetensors" "$dir/expected_decompressed.safetensors"
	# the same case as a sharded model directory
	"$T/st_split" "$dir/input.safetensors" 2 "$o/in-dir" >/dev/null 2>&1
	"$T/st_split" "$dir/expected.safetensors" 2 "$o/exp-dir" >/dev/null 2>&1
	"$T/st_split" "$dir/expected_decompressed.safetensors" 2 "$o/expd-dir" >/dev/null 2>&1
	check "$c: sharded directory is written shard for shard" \
		sh -c '"$0" $CMD -q -c "$1" "$2" "$3" &&
		  for s in "$2"/model-*.safetensors; do b=$(basename "$s"); "$4/stcmp" "$3/$b" "$5/$b" || exit 1; done &&
		  grep -q "\"quantization_config\"" "$3/config.json" && test -f "$3/tokenizer.json" &&
		  for n in $(grep -o "\"[^\"]*\": \"model-[^\"]*\"" "$5/model.safetensors.index.json" | tr -d "\" " ); do
		    grep -qF "\"${n%%:*}\": \"${n#*:}\"" "$3/model.safetensors.index.json" || exit 1; done' \
		"$CT_BIN" "$cfg" "$o/in-dir" "$o/q-dir" "$T" "$o/exp-dir"
	check "$c: sharded directory decompresses without -c" \
		sh -c '"$0" decompress -q "$1" "$2" &&
		  for s in "$1"/model-*.safetensors; do b=$(basename "$s"); "$3/stcmp" "$2/$b" "$4/$b" || exit 1; done &&
		  ! grep -q quantization_config "$2/config.json"' \
		"$CT_BIN" "$o/q-dir" "$o/d-dir" "$T" "$o/expd-dir"
	# a frozen checkpoint (decompressed weights plus their scales) packs to
	# exactly the library's file, without deciding any scale
	if [ "${CMD%% *}" = quantize ] && ! grep -q '"sparse-' "$cfg"; then
		check "$c: a frozen checkpoint made of it packs to expected.safetensors" \
			sh -c '"$0/mkfrozen" "$1" "$2" "$3" "$4/frozen.st" "$4/frozen.json" &&
			  "$5" compress -q --plain-metadata -c "$4/frozen.json" "$4/frozen.st" "$4/packed.st" &&
			  cmp "$4/packed.st" "$1"' \
			"$T" "$dir/expected.safetensors" "$dir/expected_decompressed.safetensors" "$cfg" "$o" "$CT_BIN"
	fi
	rm -rf "$o"
done
finish
