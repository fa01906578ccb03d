/* rng.h — a small deterministic PRNG (splitmix64) for shuffling and initialisation: the same
** seed gives the same sequence on every platform, which the determinism promise rests on. */
#ifndef FG_RNG_H
#define FG_RNG_H

#include <stdint.h>

typedef struct fg_rng {
  uint64_t s;
} fg_rng;

static inline uint64_t fg_rng_next(fg_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
/* Uniform integer in [0, n), n >= 1 (multiply-shift; the bias is below 2^-32 for our n). */
static inline uint64_t fg_rng_below(fg_rng *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)fg_rng_next(r) * n) >> 64);
}
/* Fisher–Yates shuffle of n int32s. */
static inline void fg_rng_shuffle(fg_rng *r, int32_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)fg_rng_below(r, i);
    int32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

#endif
