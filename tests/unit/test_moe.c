/* test_moe.c - per-expert parts of fused expert tensors: the gather against
 * an element-by-element reading of the layout definitions (moe.h), and the
 * names verify resolves to a part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtype.h"
#include "moe.h"

/* A block of E experts over fused tensors filled with distinct values, the
 * data placed at byte offset `skew` of its buffer (unaligned when odd). */
typedef struct fixture {
	ct_moe_block b;
	ct_tensor gu, dn, gub;
	uint8_t *gu_buf, *dn_buf, *gub_buf;
} fixture;

static void fill(uint8_t *p, uint64_t n, size_t esz)
{
	for (uint64_t k = 0; k < n * esz; k++)
		p[k] = (uint8_t)(k * 7 + k / 251);
}

static void make(fixture *f, ct_moe_layout layout, ct_dtype dt, uint64_t E, uint64_t H,
		 uint64_t I, size_t skew)
{
	memset(f, 0, sizeof(*f));
	size_t esz = ct_dtype_size(dt);
	uint64_t n_gu = E * 2 * I * H, n_dn = E * H * I, n_gub = E * 2 * I;
	f->gu_buf = malloc(n_gu * esz + skew);
	f->dn_buf = malloc(n_dn * esz + skew);
	f->gub_buf = malloc(n_gub * esz + skew);
	assert_non_null(f->gu_buf);
	assert_non_null(f->dn_buf);
	assert_non_null(f->gub_buf);
	fill(f->gu_buf + skew, n_gu, esz);
	fill(f->dn_buf + skew, n_dn, esz);
	fill(f->gub_buf + skew, n_gub, esz);
	bool rows = layout == CT_MOE_A;
	f->gu = (ct_tensor){ .name = "m.experts.gate_up_proj", .dtype = dt, .ndim = 3,
			     .shape = { E, rows ? 2 * I : H, rows ? H : 2 * I }, .nelem = n_gu,
			     .end = n_gu * esz, .data = f->gu_buf + skew };
	f->dn = (ct_tensor){ .name = "m.experts.down_proj", .dtype = dt, .ndim = 3,
			     .shape = { E, rows ? H : I, rows ? I : H }, .nelem = n_dn,
			     .end = n_dn * esz, .data = f->dn_buf + skew };
	f->gub = (ct_tensor){ .name = "m.experts.gate_up_proj_bias", .dtype = dt, .ndim = 2,
			      .shape = { E, 2 * I }, .nelem = n_gub, .end = n_gub * esz,
			      .data = f->gub_buf + skew };
	f->b = (ct_moe_block){ .prefix = "m.experts", .layout = layout, .gate_up = &f->gu,
			       .down = &f->dn, .gate_up_bias = layout == CT_MOE_C ? &f->gub : NULL,
			       .experts = E, .hidden = H, .inter = I };
}

static void unmake(fixture *f)
{
	free(f->gu_buf);
	free(f->dn_buf);
	free(f->gub_buf);
}

/* Element (r, c) of part p of expert e, read from the layout's definition. */
static const uint8_t *reference(const fixture *f, uint64_t e, ct_moe_part p, uint64_t r,
				uint64_t c)
{
	const ct_moe_block *b = &f->b;
	size_t esz = ct_dtype_size(b->gate_up->dtype);
	uint64_t H = b->hidden, I = b->inter;
	const uint8_t *gu = b->gate_up->data + e * 2 * I * H * esz;
	const uint8_t *dn = b->down->data + e * H * I * esz;
	bool up = p == CT_PART_UP;
	switch (b->layout) {
	case CT_MOE_A:   /* gate_up [2I, H], down [H, I] */
		return p == CT_PART_DOWN ? dn + (r * I + c) * esz : gu + ((up ? I : 0) + r) * H * esz + c * esz;
	case CT_MOE_B:   /* gate_up [H, 2I] halves, down [I, H] */
		return p == CT_PART_DOWN ? dn + (c * H + r) * esz : gu + (c * 2 * I + (up ? I : 0) + r) * esz;
	default:         /* gate_up [H, 2I] interleaved, down [I, H] */
		return p == CT_PART_DOWN ? dn + (c * H + r) * esz : gu + (c * 2 * I + 2 * r + up) * esz;
	}
}

static void check_layout(ct_moe_layout layout, ct_dtype dt, size_t skew)
{
	/* sizes that are no multiple of the gather's tiles */
	const uint64_t E = 3, H = 70, I = 131;
	fixture f;
	make(&f, layout, dt, E, H, I, skew);
	size_t esz = ct_dtype_size(dt);
	uint8_t *got = malloc(H * I * esz + 1);
	assert_non_null(got);
	for (uint64_t e = 0; e < E; e++) {
		for (int p = CT_PART_GATE; p <= CT_PART_DOWN; p++) {
			int nd;
			uint64_t shape[2];
			ct_moe_part_shape(&f.b, (ct_moe_part)p, &nd, shape);
			/* an odd destination too, where the source is odd */
			uint8_t *dst = got + (skew & 1);
			ct_moe_part_gather(&f.b, e, (ct_moe_part)p, dst);
			for (uint64_t r = 0; r < shape[0]; r++)
				for (uint64_t c = 0; c < shape[1]; c++)
					assert_memory_equal(dst + (r * shape[1] + c) * esz,
							    reference(&f, e, (ct_moe_part)p, r, c), esz);
		}
		if (layout != CT_MOE_C)
			continue;
		uint8_t gb[131 * 4], ub[131 * 4];
		ct_moe_part_gather(&f.b, e, CT_PART_GATE_BIAS, gb);
		ct_moe_part_gather(&f.b, e, CT_PART_UP_BIAS, ub);
		for (uint64_t i = 0; i < I; i++) {
			assert_memory_equal(gb + i * esz, f.gub.data + (e * 2 * I + 2 * i) * esz, esz);
			assert_memory_equal(ub + i * esz, f.gub.data + (e * 2 * I + 2 * i + 1) * esz, esz);
		}
	}
	free(got);
	unmake(&f);
}

static void test_gather(void **state)
{
	(void)state;
	static const ct_moe_layout layouts[] = { CT_MOE_A, CT_MOE_B, CT_MOE_C };
	static const ct_dtype dts[] = { CT_BF16, CT_F16, CT_F32 };
	for (size_t l = 0; l < 3; l++)
		for (size_t d = 0; d < 3; d++) {
			check_layout(layouts[l], dts[d], 0);
			check_layout(layouts[l], dts[d], 1);   /* unaligned: the bytewise path */
		}
}

static void test_resolve(void **state)
{
	(void)state;
	fixture f, g;
	make(&f, CT_MOE_C, CT_BF16, 12, 4, 4, 0);
	make(&g, CT_MOE_A, CT_BF16, 2, 4, 4, 0);
	g.b.prefix = "m.experts.x";     /* a prefix that extends another */
	ct_moe_block bs[2] = { f.b, g.b };
	const ct_moe_block *b;
	uint64_t e;
	ct_moe_part p;
	assert_true(ct_moe_resolve(bs, 2, "m.experts.11.up_proj.weight", &b, &e, &p));
	assert_ptr_equal(b, &bs[0]);
	assert_int_equal(e, 11);
	assert_int_equal(p, CT_PART_UP);
	assert_true(ct_moe_resolve(bs, 2, "m.experts.0.gate_proj.bias", &b, &e, &p));
	assert_int_equal(p, CT_PART_GATE_BIAS);
	assert_true(ct_moe_resolve(bs, 2, "m.experts.x.1.down_proj.weight", &b, &e, &p));
	assert_ptr_equal(b, &bs[1]);
	assert_int_equal(e, 1);
	/* no such expert, no such part, not the split's spelling */
	assert_false(ct_moe_resolve(bs, 2, "m.experts.12.up_proj.weight", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.01.up_proj.weight", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.99999999999999999999999.up_proj.weight",
				    &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.1.down_proj.bias", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.x.1.up_proj.bias", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.1.w1.weight", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts.1.up_proj.weight_scale", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.experts..up_proj.weight", &b, &e, &p));
	assert_false(ct_moe_resolve(bs, 2, "m.expertsX1.up_proj.weight", &b, &e, &p));
	unmake(&f);
	unmake(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
