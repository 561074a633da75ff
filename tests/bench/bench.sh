#!/bin/sh
# tests/bench/bench.sh - speed and memory of ctensors on a generated
# Llama-shaped BF16 checkpoint (about 2 GB; BENCH_LAYERS=44 for about 4 GB),
# cached in build/bench. A benchmark, not a test: it asserts nothing.
#
# For each job: the median wall time of BENCH_RUNS runs with the page cache
# warm, input GB/s, peak RSS, and the ratio to the I/O floor measured in the
# same run (read the input and write as many bytes, with fsync).
set -eu
: "${CT_BIN:?}" "${CT_BENCH_TOOLS:?}"
LAYERS=${BENCH_LAYERS:-20}
RUNS=${BENCH_RUNS:-3}
DIR=${BENCH_DIR:-build/bench}
NPROC=$(nproc)
MODEL=$DIR/model-$LAYERS
OUT=$DIR/out
mkdir -p "$DIR"
if [ ! -f "$MODEL/config.json" ]; then
	echo "generating $MODEL ..."
	rm -rf "$MODEL"
	"$CT_BENCH_TOOLS/gen_bench" "$MODEL.tmp" "$LAYERS"
	mv "$MODEL.tmp" "$MODEL"
fi
BYTES=$(cat "$MODEL"/*.safetensors | wc -c)
cat "$MODEL"/*.safetensors >/dev/null  # warm the page cache

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

floor=$(for i in $(seq "$RUNS"); do "$CT_BENCH_TOOLS/iofloor" "$DIR/floor.tmp" "$MODEL"/*.safetensors; done | median)

# run LABEL THREADS ARGS...: prints one table row
run() {
	label=$1; j=$2; shift 2
	: >"$DIR/times"
	rss=0
	for i in $(seq "$RUNS"); do
		rm -rf "$OUT"
		/usr/bin/time -f "%e %M" -o "$DIR/t" "$CT_BIN" "$@" >/dev/null
		read -r t m <"$DIR/t"
		echo "$t" >>"$DIR/times"
		[ "$m" -gt "$rss" ] && rss=$m
	done
	t=$(median <"$DIR/times")
	awk -v l="$label" -v j="$j" -v t="$t" -v b="$BYTES" -v r="$rss" -v f="$floor" 'BEGIN {
		printf "%-22s %3s %8.2f %8.2f %9.0f %8.2f\n", l, j, t, b / t / 1e9, r / 1024, t / f }'
}

printf "input: %s, %.2f GB in %d shards; I/O floor %.2f s (%.2f GB/s); %d cores\n\n" \
	"$MODEL" "$(echo "$BYTES" | awk '{print $1/1e9}')" "$(ls "$MODEL"/*.safetensors | wc -l)" \
	"$floor" "$(awk -v b="$BYTES" -v f="$floor" 'BEGIN{print b/f/1e9}')" "$NPROC"
printf "%-22s %3s %8s %8s %9s %8s\n" job -j seconds "GB/s" "RSS MB" "x floor"
for s in W4A16 W8A8 FP8_DYNAMIC FP8_BLOCK NVFP4A16 MXFP4A16; do
	for j in 1 "$NPROC"; do
		run "quantize $s" "$j" quantize -q -f -j "$j" -s "$s" "$MODEL" "$OUT"
	done
done
rm -rf "$DIR/w4a16"
"$CT_BIN" quantize -q -s W4A16 "$MODEL" "$DIR/w4a16"
for j in 1 "$NPROC"; do
	run "decompress W4A16" "$j" decompress -q -f -j "$j" "$DIR/w4a16" "$OUT"
done
for j in 1 "$NPROC"; do
	run "verify --against" "$j" verify -q -j "$j" --against "$MODEL" "$DIR/w4a16"
done
run "inspect" 1 inspect "$DIR/w4a16"
rm -rf "$OUT" "$DIR/w4a16"
echo
echo "GB/s counts the input checkpoint's bytes; 'x floor' is the time over the I/O floor."
