/*
 * main.c - the command table and dispatch, as git.c does it: each command
 * lives in cmd_<name>.c and is found here by name.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "suggest.h"

#define COMMON_WRITE_OPTS                                                               \
	{ 'f', "force", no_argument, NULL,                                                \
	  "replace an existing output file, or model directory of model files", NULL },    \
	{ 'j', "threads", required_argument, "N", "worker threads (default: all cores)",  \
	  NULL },                                                                         \
	{ OPT_PLAIN_METADATA, "plain-metadata", no_argument, NULL,                        \
	  "write __metadata__ as only {\"format\":\"pt\"}, as the Python library does",   \
	  NULL },                                                                         \
	{ OPT_PROGRESS, "progress", no_argument, NULL,                                    \
	  "show a progress bar on stderr (default: only on a terminal)", NULL },           \
	{ OPT_NO_PROGRESS, "no-progress", no_argument, NULL, "never show progress", NULL }, \
	{ OPT_JSON, "json", no_argument, NULL,                                            \
	  "print one JSON document on stdout at the end: what was written, or the error",  \
	  NULL },                                                                         \
	{ OPT_PART, "part", required_argument, "SLICE",                                   \
	  "write only slice K/N of the output shards (slurm, k8s: K and N from the "      \
	  "scheduler's variables)", "slurm k8s" },                                        \
	{ OPT_PARTS, "parts", required_argument, "N",                                     \
	  "with --part k8s: the number of slices (the Job's completions)", NULL },        \
	{ OPT_FINALIZE, "finalize", no_argument, NULL,                                    \
	  "check that every slice is written, then complete the output", NULL },          \
	{ 'q', "quiet", no_argument, NULL, "print nothing but errors", NULL },            \
	{ 'v', "verbose", no_argument, NULL, "print one line per tensor as it is written", \
	  NULL },                                                                         \
	{ 'h', "help", no_argument, NULL, "show this help", NULL }

static const cli_opt inspect_opts[] = {
	{ OPT_JSON, "json", no_argument, NULL, "one JSON document on stdout", NULL },
	{ OPT_TENSORS, "tensors", no_argument, NULL, "list every tensor instead of groups",
	  NULL },
	{ OPT_STATS, "stats", no_argument, NULL,
	  "read the data: min, max, mean, std, zeros, NaN and Inf", NULL },
	{ OPT_TENSOR, "tensor", required_argument, "NAME",
	  "only this tensor, or a module's tensors (repeatable)", NULL },
	{ 'h', "help", no_argument, NULL, "show this help", NULL },
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt quantize_opts[] = {
	{ 's', "scheme", required_argument, "SCHEME", "preset scheme (W4A16, FP8_DYNAMIC, "
	  "NVFP4A16, ...)", "W4A16 W4A16_ASYM W8A16 W8A8 INT8 W4A8 W4AFP8 W2A4 W2A8 "
	  "W2A16 W3A4 W3A8 W3A16 W4A4 W5A8 W5A16 W6A8 W6A16 W7A8 W7A16 FP8_DYNAMIC FP8_BLOCK "
	  "NVFP4A16 MXFP4A16 MXFP4 MXFP8A16 MXFP8" },
	{ 'c', "config", required_argument, "CONFIG",
	  "quantization_config JSON, a config.json holding one, or an llm-compressor "
	  "recipe (.yaml)", NULL },
	{ OPT_IGNORE, "ignore", required_argument, "PATTERN",
	  "leave this module dense: exact name or re:REGEX (repeatable)", NULL },
	{ OPT_TARGETS, "targets", required_argument, "PATTERN",
	  "quantize only these modules (repeatable; default Linear: every Linear module)", NULL },
	{ OPT_GROUP_SIZE, "group-size", required_argument, "N", "override the group size",
	  NULL },
	{ OPT_SKIP_INCOMPAT, "skip-incompatible", no_argument, NULL,
	  "leave weights that do not fit the scheme dense and list them in ignore", NULL },
	{ OPT_NO_FUSE, "no-fuse-global-scale", no_argument, NULL,
	  "NVFP4: one global scale per module, not shared by q/k/v and gate/up", NULL },
	{ OPT_DRY_RUN, "dry-run", no_argument, NULL, "print the plan and sizes, write "
	  "nothing", NULL },
	COMMON_WRITE_OPTS,
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt compress_opts[] = {
	{ 'F', "format", required_argument, "FORMAT",
	  "sparse format for every 2-D weight that is at least 49% zeros",
	  "sparse-bitmask sparse-24-bitmask" },
	{ 'c', "config", required_argument, "CONFIG",
	  "a quantization_config whose sparsity_config says what to compress", NULL },
	{ OPT_SKIP_INCOMPAT, "skip-incompatible", no_argument, NULL,
	  "leave weights that do not fit the format dense", NULL },
	{ OPT_DRY_RUN, "dry-run", no_argument, NULL, "print the plan and sizes, write "
	  "nothing", NULL },
	COMMON_WRITE_OPTS,
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt decompress_opts[] = {
	{ 'c', "config", required_argument, "CONFIG",
	  "the config of a bare file from the Python library", NULL },
	{ OPT_FUSED, "fused", no_argument, NULL,
	  "write split MoE experts back in their fused 3-D layout", NULL },
	{ OPT_DTYPE, "dtype", required_argument, "DTYPE",
	  "convert the dense weights to bf16, f16 or f32", "bf16 f16 f32" },
	COMMON_WRITE_OPTS,
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt convert_opts[] = {
	{ OPT_FROM, "from", required_argument, "FORMAT",
	  "the source format, instead of detecting it (must agree with detection)",
	  "gptq awq fp8 modelopt auto-round mxfp4" },
	{ 'c', "config", required_argument, "CONFIG",
	  "the source's config.json or quantization_config (for a bare file)", NULL },
	{ OPT_DRY_RUN, "dry-run", no_argument, NULL, "print the mapping of every module and "
	  "the sizes, write nothing", NULL },
	COMMON_WRITE_OPTS,
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt verify_opts[] = {
	{ 'c', "config", required_argument, "CONFIG",
	  "the config of a bare file from the Python library", NULL },
	{ OPT_AGAINST, "against", required_argument, "ORIGINAL",
	  "decompress every tensor and compare it with this checkpoint", NULL },
	{ OPT_MIN_SNR, "min-snr-db", required_argument, "DB",
	  "fail a tensor whose signal-to-noise ratio is below DB", NULL },
	{ OPT_MIN_COS, "min-cosine", required_argument, "C",
	  "fail a tensor whose cosine similarity is below C", NULL },
	{ OPT_MAX_ABS, "max-abs-err", required_argument, "X",
	  "fail a tensor whose largest absolute error exceeds X", NULL },
	{ OPT_EXACT, "exact", no_argument, NULL,
	  "fail a tensor that is not bit-identical after decompression", NULL },
	{ OPT_REQUIRE_CHECKSUMS, "require-checksums", no_argument, NULL,
	  "fail a file that carries no ctensors.xxh3 checksums", NULL },
	{ OPT_SERVING, "serving", required_argument, "ENGINE",
	  "also decide, as this engine (vllm, at commit 9aaf83ef) does, whether it loads", "vllm" },
	{ OPT_GPU, "gpu", required_argument, "SM",
	  "with --serving: the GPU served on (sm80, sm89, sm90, sm100, ...; default: try each)",
	  "sm75 sm80 sm86 sm89 sm90 sm100 sm120" },
	{ OPT_TP, "tp", required_argument, "N",
	  "with --serving: the tensor-parallel size (default: try 1, 2, 4, 8)", NULL },
	{ OPT_JSON, "json", no_argument, NULL, "one JSON document on stdout", NULL },
	{ 'j', "threads", required_argument, "N", "worker threads (default: all cores)", NULL },
	{ 'q', "quiet", no_argument, NULL, "print nothing unless a check fails", NULL },
	{ 'v', "verbose", no_argument, NULL, "list every compared tensor", NULL },
	{ 'h', "help", no_argument, NULL, "show this help", NULL },
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt completion_opts[] = {
	{ 'h', "help", no_argument, NULL, "show this help", NULL },
	{ 0, NULL, 0, NULL, NULL, NULL },
};

static const cli_opt help_opts[] = {
	{ 'h', "help", no_argument, NULL, "show this help", NULL },
	{ 0, NULL, 0, NULL, NULL, NULL },
};

const cli_command cli_commands[] = {
	{ "inspect", cmd_inspect, "[--json] [--tensors] [--stats] [--tensor NAME]... CHECKPOINT",
	  "Show what a checkpoint holds.",
	  "CHECKPOINT is a .safetensors file, a model directory or an index file. The\n"
	  "tensors are read from the headers alone unless --stats is given.",
	  inspect_opts, false },
	{ "quantize", cmd_quantize, "(-s SCHEME | -c CONFIG) [options] INPUT OUTPUT",
	  "Quantize dense weights into the compressed-tensors format.",
	  "Data-free round-to-nearest with a min-max observer, byte-identical to the\n"
	  "compressed-tensors library. OUTPUT mirrors INPUT: a file for a file, a model\n"
	  "directory for a model directory.",
	  quantize_opts, true },
	{ "compress", cmd_compress, "(-F FORMAT | -c CONFIG) [options] INPUT OUTPUT",
	  "Compress dense weights losslessly into a sparse format.",
	  "sparse-bitmask stores the non-zero values and a bitmask of their positions;\n"
	  "sparse-24-bitmask stores the two kept values of every group of four of a 2:4\n"
	  "sparse weight. No quantization parameter is decided. OUTPUT mirrors INPUT.",
	  compress_opts, true },
	{ "decompress", cmd_decompress, "[-c CONFIG] [--dtype bf16|f16|f32] [--fused] [options] INPUT OUTPUT",
	  "Turn a compressed checkpoint back into dense weights.",
	  "Works on files written by ctensors (config inside) and by the Python library\n"
	  "(config.json of the model directory, or -c CONFIG for a bare file).",
	  decompress_opts, true },
	{ "verify", cmd_verify, "[-c CONFIG] [--against ORIGINAL] [thresholds] "
	  "[--serving vllm [--gpu SM] [--tp N]] [--json] CHECKPOINT",
	  "Check a checkpoint's integrity, and its fidelity to the original.",
	  "Reads the checkpoint as loaders do and reports every problem: damaged files\n"
	  "and index, config.json against the tensors and the embedded config, structure,\n"
	  "activation order and calibrated parameters, that every compressed module\n"
	  "decodes, and the ctensors.xxh3 checksums. With --against, every module is\n"
	  "decompressed and compared (max abs error, RMSE, SNR, cosine); a module far\n"
	  "outside its scheme's error fails even without thresholds. --serving vllm adds\n"
	  "vLLM's load-or-fail decision (scheme, kernel, parameters, per layer, GPU and\n"
	  "TP size, read from vLLM 9aaf83ef). Exit status 0 when every check passes, 1 when one fails\n"
	  "or the checkpoint is damaged, 3 when the path is no checkpoint.",
	  verify_opts, false },
	{ "convert", cmd_convert, "[--from FORMAT] [options] INPUT OUTPUT",
	  "Convert a GPTQ, AWQ, FP8, ModelOpt or AutoRound checkpoint, losslessly.",
	  "Reads a checkpoint quantized by another tool and writes it in the\n"
	  "compressed-tensors format without requantizing: GPTQ v1/v2 (AutoGPTQ,\n"
	  "GPTQModel; 2, 3, 4, 8 bits, act-order), AutoAWQ GEMM/GEMV, FP8 block\n"
	  "(DeepSeek style) and per-tensor (AutoFP8), ModelOpt NVFP4 and FP8, AutoRound.\n"
	  "The source is detected from config.json and hf_quant_config.json. Every module\n"
	  "is checked before anything is written; one that cannot be converted exactly is\n"
	  "refused (exit 3) with the reason. The result decompresses to the source tool's\n"
	  "own dequantized values bit for bit (NVFP4: to within its F32 reciprocal global\n"
	  "scales); 'ctensors verify --exact --against INPUT OUTPUT' proves it. What is\n"
	  "read is checked as verify checks what is written (NaN/Inf scales, FP8 NaN codes,\n"
	  "parts without their qweight: exit 3); FP8 scales are written as F32.",
	  convert_opts, true },
	{ "completion", cmd_completion, "bash|zsh|fish",
	  "Print a shell completion script.",
	  "Prints a completion script for bash, zsh or fish on stdout, generated from\n"
	  "the option tables ctensors parses. To try it in bash:\n"
	  "  source <(ctensors completion bash)\n"
	  "'make install' puts the scripts where each shell looks for them.",
	  completion_opts, false },
	{ "help", cmd_help, "[COMMAND]", "Show help for ctensors or a command.", NULL,
	  help_opts, false },
};
const size_t cli_n_commands = sizeof(cli_commands) / sizeof(cli_commands[0]);

static const cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < cli_n_commands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	const char *names[16];
	size_t n = 0;
	for (size_t i = 0; i < cli_n_commands && n < 16; i++)
		names[n++] = cli_commands[i].name;
	char near[128];
	if (name[0] == '-')
		return cli_usage(NULL, "unknown option %s before the command", name);
	if (ct_suggest(name, names, n, NULL, near, sizeof(near)))
		return cli_usage(NULL, "'%s' is not a ctensors command; did you mean %s?", name, near);
	return cli_usage(NULL, "'%s' is not a ctensors command", name);
}

static void print_overview(FILE *out)
{
	fputs("usage: ctensors COMMAND [options] ...\n"
	      "       ctensors help [COMMAND] | ctensors --version\n\n"
	      "Convert model checkpoints between dense safetensors and the compressed-tensors\n"
	      "format.\n\ncommands:\n", out);
	for (size_t i = 0; i < cli_n_commands; i++)
		fprintf(out, "  %-12s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fputs("\nexit status: 0 ok, 1 verify check failed, 2 usage, 3 invalid input,\n"
	      "4 I/O or system error, 5 internal error.\n"
	      "See 'ctensors help COMMAND' or man ctensors.\n", out);
}

int cmd_help(int argc, char **argv, const cli_command *self)
{
	if (argc > 2)
		return cli_usage(self, "expected at most one COMMAND");
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cli_print_help(self, stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		print_overview(stdout);
		return EXIT_OK;
	}
	const cli_command *c = find_command(argv[1]);
	if (!c)
		return unknown_command(argv[1]);
	cli_print_help(c, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		if (argc > 2)
			return cli_usage(NULL, "%s takes no operands", name);
		printf("ctensors %s\n", CT_VERSION);
		return EXIT_OK;
	}
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		return cmd_help(1, argv, find_command("help"));
	const cli_command *c = find_command(name);
	if (!c)
		return unknown_command(name);
	cli_install_signal_handlers();
	cli_current = c;
	int status = c->run(argc - 1, argv + 1, c);
	cli_report_finish(status);
	/* output that did not reach its reader is a failed run (SIGPIPE is
	 * ignored so that a job can clean up: a closed pipe shows here) */
	if (status == EXIT_OK && (fflush(stdout) != 0 || ferror(stdout))) {
		int e = errno;
		cli_check_stream(stdout);
		cli_error("standard output: write error: %s", strerror(e));
		status = EXIT_SYSTEM;
	}
	cli_check_stream(stderr);
	if (cli_pipe_broken() && status == EXIT_OK)
		status = EXIT_SYSTEM;
	return status;
}
