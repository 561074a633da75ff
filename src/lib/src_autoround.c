/*
 * src_autoround.c - Intel AutoRound exports (quant_method "auto-round",
 * spec/CONVERT.md §5): by packing_format, the layouts of the GPTQ and AWQ
 * readers.
 *   auto_round:auto_gptq    GPTQ v1 (zeros - 1, whole-word subtract)
 *   auto_round:auto_awq     AutoAWQ GEMM
 *   auto_round[:gptqmodel]  GPTQ layout with zeros stored as they are (v2)
 * extra_config holds per-module bits / group_size / sym; fused partners
 * must end up with one scheme (checked in convert.c).
 */
#include "convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qconfig.h"

enum { L_GPTQ_V1, L_AWQ, L_GPTQ_V2 };

static bool ar_detect(const json_t *q, const json_t *hfq)
{
	(void)hfq;
	const char *m = ct_conv_str(q, "quant_method");
	return m && (strcmp(m, "auto-round") == 0 || strcmp(m, "auto_round") == 0 ||
		     strcmp(m, "intel/auto-round") == 0);
}

/* extra_config entry for module: an exact name, else a key read as a regex. */
static const json_t *override_for(const ct_conv *cv, const char *module, ct_error *err,
				  int *rc)
{
	*rc = CT_OK;
	json_t *ex = json_object_get(cv->qcfg, "extra_config");
	if (!json_is_object(ex))
		return NULL;
	json_t *v = json_object_get(ex, module);
	if (v)
		return v;
	const char *key;
	json_object_foreach(ex, key, v) {
		if (!strpbrk(key, "*+?[](){}|\\^$"))
			continue;
		strbuf sb;
		sb_init(&sb);
		sb_printf(&sb, "re:%s", key);
		const char *pat = sb.data;
		ct_matcher *mt = NULL;
		int r = pat ? ct_matcher_new(&pat, 1, "extra_config", &mt, err) : CT_EIO;
		sb_free(&sb);
		if (r) {
			/* not a regex after all: an exact name that matched nothing */
			ct_error_clear(err);
			continue;
		}
		bool hit = ct_matcher_match(mt, module, CT_MOD_LINEAR);
		ct_matcher_free(mt);
		if (hit)
			return v;
	}
	return NULL;
}

static int read_scheme(const json_t *obj, const char *where, ct_gptq_opts *o, ct_error *err)
{
	int64_t bits, g;
	bool sym;
	const char *dt = ct_conv_str(obj, "data_type");
	if (dt && strcmp(dt, "int") != 0)
		return ct_fail(err, CT_EINPUT, "%s: data_type '%s': convert reads AutoRound's integer "
			       "exports (auto_gptq, auto_awq, auto_round packing)", where, dt);
	if (!ct_conv_int(obj, "bits", o->bits, 1, 64, &bits) ||
	    !ct_conv_int(obj, "group_size", o->group_size, -1, INT32_MAX, &g) || g == 0 ||
	    !ct_conv_bool(obj, "sym", o->sym, &sym))
		return ct_fail(err, CT_EINPUT, "%s: bits, group_size or sym malformed", where);
	int64_t act;
	if (!ct_conv_int(obj, "act_bits", 16, 1, 64, &act) || act < 16)
		return ct_fail(err, CT_EINPUT, "%s: act_bits %" PRId64 ": activation quantization "
			       "has no mapping here (weight-only exports convert)", where, act);
	o->bits = (int)bits;
	o->group_size = g;
	o->sym = sym;
	return CT_OK;
}

static int ar_plan(ct_conv *cv, ct_error *err)
{
	const json_t *q = cv->qcfg;
	const char *pf = ct_conv_str(q, "packing_format");
	int layout;
	if (!pf || strcmp(pf, "auto_round") == 0 || strcmp(pf, "auto_round:gptqmodel") == 0)
		layout = L_GPTQ_V2;
	else if (strcmp(pf, "auto_round:auto_gptq") == 0 || strcmp(pf, "auto_round:gptq") == 0)
		layout = L_GPTQ_V1;
	else if (strcmp(pf, "auto_round:auto_awq") == 0 || strcmp(pf, "auto_round:awq") == 0)
		layout = L_AWQ;
	else
		return ct_fail(err, CT_EINPUT, "%s: packing_format '%s': no exact mapping is "
			       "defined for it (convert reads auto_round, auto_round:auto_gptq, "
			       "auto_round:auto_awq)", cv->label, pf);
	ct_gptq_opts base = { .bits = 4, .group_size = 128, .sym = true,
			      .v1 = layout == L_GPTQ_V1 };
	int rc = read_scheme(q, cv->label, &base, err);
	if (rc)
		return rc;
	/* auto-round subtracts the packed constant from whole words */
	cv->writer_packs_words = true;
	cv->writer_autoround = true;
	char **mods = NULL;
	size_t n = 0;
	rc = ct_conv_modules_with(cv, ".qweight", &mods, &n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		ct_gptq_opts o = base;
		const json_t *over = override_for(cv, mods[i], err, &rc);
		char where[512];
		snprintf(where, sizeof(where), "%s: extra_config for %s", cv->label, mods[i]);
		if (!rc && over)
			rc = read_scheme(over, where, &o, err);
		if (!rc && o.bits >= 16)
			rc = ct_fail(err, CT_EINPUT, "%s: bits %d but the module holds qweight", where,
				     o.bits);
		if (rc)
			break;
		if (layout == L_AWQ) {
			if (o.bits != 4 || o.sym)
				rc = ct_fail(err, CT_EINPUT, "%s: auto_awq packing holds 4-bit asymmetric "
					     "modules only (bits %d, sym %s)", mods[i], o.bits,
					     o.sym ? "true" : "false");
			else
				rc = ct_awq_plan_module(cv, mods[i], false, o.group_size, err);
		} else {
			rc = ct_gptq_plan_module(cv, mods[i], &o, err);
		}
	}
	ct_conv_names_free(mods, n);
	return rc;
}

const ct_source ct_src_autoround = {
	.name = "auto-round",
	.help = "Intel AutoRound integer exports (auto_gptq, auto_awq, auto_round packing)",
	.detect = ar_detect,
	.plan = ar_plan,
};
