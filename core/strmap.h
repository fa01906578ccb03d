/*
** strmap.h — string → dense integer id, for vocabularies.
**
** Open addressing with linear probing over FNV-1a hashes; keys are copied into one growing arena,
** so adding a key costs no allocation of its own. Ids are dense (0, 1, 2, … in insertion order),
** which lets callers keep per-key data (counts, slots) in plain arrays indexed by id.
*/
#ifndef FG_STRMAP_H
#define FG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap {
  uint32_t *slots;   /* [cap] id+1, 0 = empty */
  uint32_t cap;      /* power of two */
  uint32_t n;        /* keys stored */
  char *arena;       /* key bytes, each NUL-terminated */
  size_t arena_len, arena_cap;
  size_t *off;       /* [n] offset of key id in arena */
  uint32_t *klen;    /* [n] key length in bytes (keys may contain NUL: JSON "\u0000") */
  uint64_t *hash;    /* [n] cached hash, for rehashing */
  uint32_t ncap;     /* capacity of off/klen/hash */
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);
/* Id of key, or -1 if absent. */
int32_t strmap_find(const strmap *m, const char *key, size_t len);
/* Id of key, adding it if absent; -1 on allocation failure. *added (optional) is set to 1 when
** the key is new. */
int32_t strmap_add(strmap *m, const char *key, size_t len, int *added);
static inline const char *strmap_key(const strmap *m, uint32_t id) { return m->arena + m->off[id]; }
static inline uint32_t strmap_keylen(const strmap *m, uint32_t id) { return m->klen[id]; }

#endif
