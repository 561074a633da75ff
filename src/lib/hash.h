/*
 * hash.h - the XXH3 entry points the core uses for its checksums.
 *
 * libxxhash's x86 dispatch picks its AVX2 or AVX-512 loop at run time; its
 * streaming update keeps the accumulators in registers, about three times
 * the plain update's speed on appends of a few kB. The digests are the
 * same, so a checkpoint hashes alike on every machine.
 */
#ifndef CT_HASH_H
#define CT_HASH_H

#include <xxhash.h>

#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#define CT_XXH3_DISPATCH 1
#endif
#endif

#ifdef CT_XXH3_DISPATCH
#define ct_xxh3 XXH3_64bits_dispatch
#define ct_xxh3_update XXH3_64bits_update_dispatch
#else
#define ct_xxh3 XXH3_64bits
#define ct_xxh3_update XXH3_64bits_update
#endif

#endif
