/* strmap.c — string → dense id hash map (see strmap.h). */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

void strmap_init(strmap *m) { memset(m, 0, sizeof *m); }

void strmap_free(strmap *m) {
  free(m->slots);
  free(m->arena);
  free(m->off);
  free(m->klen);
  free(m->hash);
  memset(m, 0, sizeof *m);
}

static int32_t probe(const strmap *m, const char *key, size_t len, uint64_t h, uint32_t *at) {
  uint32_t mask = m->cap - 1, i = (uint32_t)h & mask;
  for (;;) {
    uint32_t s = m->slots[i];
    if (s == 0) {
      *at = i;
      return -1;
    }
    uint32_t id = s - 1;
    if (m->hash[id] == h && m->klen[id] == len && memcmp(m->arena + m->off[id], key, len) == 0)
      return (int32_t)id;
    i = (i + 1) & mask;
  }
}

int32_t strmap_find(const strmap *m, const char *key, size_t len) {
  if (m->n == 0) return -1;
  uint32_t at;
  return probe(m, key, len, fnv1a(key, len), &at);
}

static int rehash(strmap *m, uint32_t cap) {
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (uint32_t id = 0; id < m->n; id++) {
    uint32_t i = (uint32_t)m->hash[id] & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = id + 1;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}

int32_t strmap_add(strmap *m, const char *key, size_t len, int *added) {
  if (added) *added = 0;
  if (len > UINT32_MAX - 1 || m->n >= INT32_MAX - 1) return -1;
  /* Keep the load factor under 1/2 so probes stay short. */
  if ((m->n + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 64)) return -1;
  uint64_t h = fnv1a(key, len);
  uint32_t at;
  int32_t id = probe(m, key, len, h, &at);
  if (id >= 0) return id;
  if (m->n == m->ncap) {
    uint32_t nc = m->ncap ? m->ncap * 2 : 64;
    size_t *off = realloc(m->off, nc * sizeof *off);
    if (!off) return -1;
    m->off = off;
    uint32_t *kl = realloc(m->klen, nc * sizeof *kl);
    if (!kl) return -1;
    m->klen = kl;
    uint64_t *hs = realloc(m->hash, nc * sizeof *hs);
    if (!hs) return -1;
    m->hash = hs;
    m->ncap = nc;
  }
  if (m->arena_len + len + 1 > m->arena_cap) {
    size_t nc = m->arena_cap ? m->arena_cap * 2 : 4096;
    while (nc < m->arena_len + len + 1) nc *= 2;
    char *a = realloc(m->arena, nc);
    if (!a) return -1;
    m->arena = a;
    m->arena_cap = nc;
  }
  id = (int32_t)m->n++;
  m->off[id] = m->arena_len;
  m->klen[id] = (uint32_t)len;
  m->hash[id] = h;
  memcpy(m->arena + m->arena_len, key, len);
  m->arena[m->arena_len + len] = 0;
  m->arena_len += len + 1;
  m->slots[at] = (uint32_t)id + 1;
  if (added) *added = 1;
  return id;
}
