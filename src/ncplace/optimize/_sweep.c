/*
 * The core sweep's decision search, compiled (see ncplace/optimize/sweep.py for the maths).
 *
 * This file mirrors sweep.py's _Run method by method, with the same names (solve, _core,
 * _forced_waste, _sums, _state, _search_core, _free, _choose, _leave, _complete, _put, _take,
 * _next_event, _tick), and the failed-state memory of _Search (remember, _forget_below) with
 * its MEMO_BYTES accounting. Semantics are exactly those of the Python search: the same steps
 * are counted at the same places, the branches are tried in the same order, and a state is
 * remembered exactly when the Python search remembers it, so both give the same status, step
 * count, layout and memory for every decision. The Python search stays the reference and the
 * fallback (NCPLACE_SWEEP=python).
 *
 * Numbers: loads, capacities and slack are int64; sweep.py only hands a problem here when its
 * loads and capacities are far from overflowing (see NATIVE_LIMIT there). Memo keys are the
 * whole state, compared byte by byte: a hash collision costs a comparison, never a false proof.
 * Subset sums are bitsets of uint64 words (bit s set: sum s reachable), for capacities up to
 * MAX_SUBSET_SUM.
 *
 * Every search function returns 1 (a layout was found), 0 (none below this branch) or -1 (stop:
 * the step budget or the wall clock ran out, or a signal handler raised, r->stop says which).
 * Every WALL_CHECK_STEPS steps the search also lets other threads take the GIL and runs the
 * signal handlers (PyErr_CheckSignals), so a KeyboardInterrupt stops it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { STOP_NONE, STOP_BUDGET, STOP_WALL, STOP_ERROR };

/* --- exact-key hash table (the failed-state memory) ----------------------------------------- */

typedef struct Entry {
    uint64_t hash;
    int64_t value;   /* the highest capacity the state failed at */
    size_t size;     /* the bytes MEMO_BYTES counts for it */
    size_t klen;
    unsigned char key[];
} Entry;

/* A slot keeps its entry's hash, so that a probe reads the entry only when the hashes match. */
typedef struct {
    uint64_t hash;
    Entry *e;
} Slot;

/* Entries live in chunks of at least ARENA_BYTES, freed together (one malloc and one free per
 * remembered state cost more than the search's step on the dense mixes). */
enum { ARENA_BYTES = 1 << 20 };

typedef struct Chunk {
    struct Chunk *next;
    size_t used, size;
    _Alignas(8) unsigned char bytes[];
} Chunk;

typedef struct {
    Slot *slots;
    size_t mask;
    size_t used;
    Chunk *chunks;
} Table;

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x243F6A8885A308D3ULL ^ (uint64_t)n;
    uint64_t w;
    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 32);
}

static int table_init(Table *t, size_t slots) {
    t->slots = calloc(slots, sizeof(Slot));
    t->mask = slots - 1;
    t->used = 0;
    t->chunks = NULL;
    return t->slots ? 0 : -1;
}

static void free_chunks(Chunk *c) {
    while (c) {
        Chunk *next = c->next;
        free(c);
        c = next;
    }
}

static void table_free(Table *t) {
    free_chunks(t->chunks);
    t->chunks = NULL;
    free(t->slots);
    t->slots = NULL;
}

/* Room for an entry of `bytes` bytes in the table's chunks; NULL when out of memory. */
static Entry *table_alloc(Table *t, size_t bytes) {
    bytes = (bytes + 7) & ~(size_t)7;
    Chunk *c = t->chunks;
    if (!c || c->size - c->used < bytes) {
        size_t size = bytes > ARENA_BYTES ? bytes : ARENA_BYTES;
        if (!(c = malloc(sizeof(Chunk) + size)))
            return NULL;
        c->next = t->chunks;
        c->used = 0;
        c->size = size;
        t->chunks = c;
    }
    Entry *e = (Entry *)(c->bytes + c->used);
    c->used += bytes;
    return e;
}

static Entry *table_find(const Table *t, const unsigned char *key, size_t klen, uint64_t h) {
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        Entry *e = t->slots[i].e;
        if (!e)
            return NULL;
        if (t->slots[i].hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
}

static void table_place(Table *t, Entry *e) {
    size_t i = e->hash & t->mask;
    while (t->slots[i].e)
        i = (i + 1) & t->mask;
    t->slots[i].hash = e->hash;
    t->slots[i].e = e;
    t->used++;
}

/* Add an entry; NULL when out of memory. */
static Entry *table_add(Table *t, const unsigned char *key, size_t klen, uint64_t h) {
    if ((t->used + 1) * 2 > t->mask + 1) {
        Table bigger;
        if (table_init(&bigger, (t->mask + 1) * 2) < 0)
            return NULL;
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slots[i].e)
                table_place(&bigger, t->slots[i].e);
        free(t->slots);
        bigger.chunks = t->chunks; /* the entries stay where they are */
        *t = bigger;
    }
    Entry *e = table_alloc(t, sizeof(Entry) + klen);
    if (!e)
        return NULL;
    e->hash = h;
    e->value = 0;
    e->size = 0;
    e->klen = klen;
    memcpy(e->key, key, klen);
    table_place(t, e);
    return e;
}

/* --- the search's fixed data and failed-state memory (_Search) ------------------------------ */

typedef struct {
    int64_t w, d, mem;
    int excl, count;
} Kind;

typedef struct {
    int64_t start, w, d, mem;
    int excl;
} Pin;

typedef struct {
    PyObject_HEAD
    int n, ntypes, npins;
    Kind *types;
    Pin *pinned;
    int *pin_begin, *pin_end; /* pins starting at core c: pinned[pin_begin[c] .. pin_end[c]) */
    int last_pin, last_exclusive_pin;
    int64_t exclusive_width, shared_work;
    int memory, memory_cores;
    int64_t chip_memory;
    int mirror, mirror_last; /* _Search.mirror: that type (-1: none) starts by mirror_last */
    int narrow;              /* every core load fits in int32: the memo keys store them so */
    Table failed;
    int64_t memo_bytes;
} SearchObject;

/* --- one decision (_Run) -------------------------------------------------------------------- */

typedef struct {
    SearchObject *s;
    int64_t cap, limit, steps, wall_every, max_subset_sum, memo_limit, sums_limit;
    double deadline;
    int stop;
    int64_t *load, *cover, *excl, *ends;
    int *rem;
    int64_t left_units, rejections, peak;
    int (*placed)[2];
    int nplaced, nsolution;
    int (*solution)[2];
    int nmoduli;
    int64_t moduli[8];
    unsigned char *key; /* scratch for _state keys */
    size_t words;       /* uint64 words of one subset-sum set */
    uint64_t *scratch;  /* the sets when there is no cache */
    unsigned char *sums_cache; /* _sums: sums_slots slots of (valid, key, sets, escape) */
    size_t sums_slots;
    size_t set_bytes;  /* the subset-sum sets of one key: every load's, then each modulus's */
    size_t sets_at;    /* where a slot's sets start (after its valid flag and padded key) */
    size_t slot_bytes; /* one slot: sets_at, the sets and 8 escape widths */
    int64_t *rooms, *room_count, *base, *extra_e, *extra_k, *per_chip;
} Run;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int _tick(Run *r) {
    r->steps++;
    if (r->steps > r->limit) {
        r->stop = STOP_BUDGET;
        return -1;
    }
    if (r->steps % r->wall_every == 0) {
        /* Let other threads run (a progress line's redraw waits for the GIL), take signals. */
        Py_BEGIN_ALLOW_THREADS
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0) {
            r->stop = STOP_ERROR;
            return -1;
        }
        if (now() > r->deadline) {
            r->stop = STOP_WALL;
            return -1;
        }
    }
    return 0;
}

static void _put(Run *r, int start, int64_t width, int64_t load, int exclusive, int64_t k) {
    int64_t add = k * load;
    for (int64_t c = start; c < start + width; c++) {
        r->load[c] += add;
        r->cover[c] += k;
        if (exclusive)
            r->excl[c] += k;
    }
    r->ends[start + width] += k;
    r->left_units -= k;
}

static void _take(Run *r, int start, int64_t width, int64_t load, int exclusive, int64_t k) {
    _put(r, start, width, load, exclusive, -k);
}

static void push(Run *r, int key, int start, int64_t k) {
    for (int64_t j = 0; j < k; j++) {
        r->placed[r->nplaced][0] = key;
        r->placed[r->nplaced][1] = start;
        r->nplaced++;
    }
}

static int _next_event(Run *r, int c) {
    int e = c + 1;
    while (e < r->s->n && !r->ends[e] && r->s->pin_begin[e] == r->s->pin_end[e])
        e++;
    return e;
}

/* The state key: c, the units left, then per core from c on its flags and its load (4 bytes when
 * the search is narrow). Returns its length; *counted is the length sweep.py's _state key counts
 * (without c): the memo counts bytes as the Python search does, so both keep the same states. */
static size_t _state(Run *r, int c, size_t *counted) {
    SearchObject *s = r->s;
    unsigned char *p = r->key;
    int32_t c32 = c;
    memcpy(p, &c32, 4);
    p += 4;
    for (int i = 0; i < s->ntypes; i++)
        *p++ = (unsigned char)r->rem[i];
    for (int x = c; x < s->n; x++)
        *p++ = (unsigned char)((r->cover[x] > 0) | (r->excl[x] > 0) << 1 | (r->ends[x] > 0) << 2);
    if (s->narrow) {
        for (int x = c; x < s->n; x++) {
            int32_t v = (int32_t)r->load[x];
            memcpy(p, &v, 4);
            p += 4;
        }
    } else {
        memcpy(p, r->load + c, sizeof(int64_t) * (size_t)(s->n - c));
        p += sizeof(int64_t) * (size_t)(s->n - c);
    }
    *counted = (size_t)s->ntypes + 9 * (size_t)(s->n - c);
    return (size_t)(p - r->key);
}

/* _Search.remember for a state the memo does not hold (hash h): it has no completion at cap,
 * hence none below it. */
static int remember(Run *r, const unsigned char *key, size_t klen, uint64_t h, size_t counted) {
    SearchObject *s = r->s;
    int64_t size = (int64_t)counted + 100;
    if (s->memo_bytes + size > r->memo_limit)
        return 0;
    Entry *e = table_add(&s->failed, key, klen, h);
    if (!e) {
        PyErr_NoMemory();
        r->stop = STOP_ERROR;
        return -1;
    }
    e->value = r->cap;
    e->size = (size_t)size;
    s->memo_bytes += size;
    return 0;
}

/* --- subset sums (_sums) and the waste bound (_forced_waste) -------------------------------- */

static void add_load(uint64_t *set, size_t words, int64_t cap, int64_t load) {
    if (load <= 0 || load > cap)
        return;
    size_t q = (size_t)load / 64, b = (size_t)load % 64;
    for (size_t i = words; i-- > q;) {
        uint64_t v = set[i - q] << b;
        if (b && i > q)
            v |= set[i - q - 1] >> (64 - b);
        set[i] |= v;
    }
    int top = (int)(cap % 64);
    if (top < 63)
        set[words - 1] &= (2ULL << top) - 1;
}

/* Up to k copies of load: shifts by load, 2 load, 4 load, ... and the rest (the same set as k
 * single shifts, as in _sums, in log k of them). */
static void add_copies(uint64_t *set, size_t words, int64_t cap, int64_t load, int64_t k) {
    for (int64_t part = 1; k > 0; part *= 2) {
        int64_t take = part < k ? part : k;
        if (load > cap / take)
            return;
        add_load(set, words, cap, take * load);
        k -= take;
    }
}

/* (every & ((2 << room) - 1)).bit_length() for a set of `words` words */
static int64_t bits_upto(const uint64_t *set, size_t words, int64_t room) {
    if (room < 0)
        return 0;
    int64_t i = room / 64;
    int b = (int)(room % 64);
    if (i >= (int64_t)words)
        i = (int64_t)words - 1, b = 63;
    uint64_t w = set[i] & (b == 63 ? ~0ULL : (2ULL << b) - 1);
    for (;;) {
        if (w)
            return i * 64 + 64 - __builtin_clzll(w);
        if (i == 0)
            return 0;
        w = set[--i];
    }
}

static int first_pin_from(SearchObject *s, int c) {
    int lo = 0, hi = s->npins;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->pinned[mid].start < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void fill_sums(Run *r, int first_pin, uint64_t *sets, int64_t *escape) {
    SearchObject *s = r->s;
    size_t words = r->words;
    int m = r->nmoduli;
    memset(sets, 0, sizeof(uint64_t) * words * (size_t)(m + 1));
    for (int j = 0; j <= m; j++)
        sets[j * words] = 1;
    for (int j = 0; j < m; j++)
        escape[j] = 0;
    int units = s->ntypes + s->npins - first_pin;
    for (int u = 0; u < units; u++) {
        int64_t load, width, k;
        if (u < s->ntypes) {
            load = s->types[u].d, width = s->types[u].w, k = r->rem[u];
            if (!k)
                continue;
        } else {
            Pin *p = &s->pinned[first_pin + u - s->ntypes];
            load = p->d, width = p->w, k = 1;
        }
        add_copies(sets, words, r->cap, load, k);
        for (int j = 0; j < m; j++) {
            if (load % r->moduli[j]) {
                escape[j] += width * k;
                continue;
            }
            add_copies(sets + (j + 1) * words, words, r->cap, load, k);
        }
    }
}

/* Every subset sum of the loads left (set 0) and, per modulus, of the loads it divides (set
 * j + 1), with the total width of the others (escape). Cached by (units left, first pin) in a
 * direct-mapped table of sums_limit bytes: a new key takes its slot from the old one, so the
 * cache keeps the keys of the search's recent branches, which are the ones it meets again. */
static uint64_t *_sums(Run *r, int c, int64_t **escape) {
    SearchObject *s = r->s;
    int first_pin = first_pin_from(s, c);
    size_t klen = (size_t)s->ntypes + sizeof(int);
    unsigned char *key = r->key;
    for (int i = 0; i < s->ntypes; i++)
        key[i] = (unsigned char)r->rem[i];
    memcpy(key + s->ntypes, &first_pin, sizeof(int));
    if (!r->sums_slots) {
        *escape = (int64_t *)((char *)r->scratch + r->set_bytes);
        fill_sums(r, first_pin, r->scratch, *escape);
        return r->scratch;
    }
    size_t at = (hash_bytes(key, klen) & (r->sums_slots - 1)) * r->slot_bytes;
    unsigned char *slot = r->sums_cache + at;
    uint64_t *sets = (uint64_t *)(slot + r->sets_at);
    *escape = (int64_t *)((char *)sets + r->set_bytes);
    if (!(slot[0] && memcmp(slot + 8, key, klen) == 0)) {
        slot[0] = 1;
        memcpy(slot + 8, key, klen);
        fill_sums(r, first_pin, sets, *escape);
    }
    return sets;
}

/* Whether an exclusive unit is left to place from core c on. */
static int exclusive_left(Run *r, int c) {
    SearchObject *s = r->s;
    if (s->last_exclusive_pin >= c)
        return 1;
    for (int i = 0; i < s->ntypes; i++)
        if (s->types[i].excl && r->rem[i])
            return 1;
    return 0;
}

/* The distinct rooms of the shared cores from c on that the slack counts, with their counts;
 * *own is core c's room when it counts (no exclusive unit is on it or may still take it), else
 * -1. */
static int collect_rooms(Run *r, int c, int64_t *own) {
    SearchObject *s = r->s;
    int exclusive = exclusive_left(r, c);
    int k = 0;
    *own = -1;
    for (int x = c; x < s->n; x++)
        if (!(r->excl[x] || (exclusive && !r->cover[x])))
            r->extra_e[k++] = r->cap - r->load[x];
    if (k && !(r->excl[c] || (exclusive && !r->cover[c])))
        *own = r->extra_e[0];
    for (int i = 1; i < k; i++) { /* insertion sort: a few cores */
        int64_t room = r->extra_e[i];
        int j = i - 1;
        for (; j >= 0 && r->extra_e[j] > room; j--)
            r->extra_e[j + 1] = r->extra_e[j];
        r->extra_e[j + 1] = room;
    }
    int distinct = 0;
    for (int i = 0; i < k; i++) {
        if (distinct && r->rooms[distinct - 1] == r->extra_e[i]) {
            r->room_count[distinct - 1]++;
        } else {
            r->rooms[distinct] = r->extra_e[i];
            r->room_count[distinct++] = 1;
        }
    }
    return distinct;
}

/* The least waste of the rooms forced to take only loads modulus j divides (sorted extras). */
static int64_t modulus_waste(Run *r, int distinct, const uint64_t *divisible, int64_t forced) {
    for (int d = 0; d < distinct; d++) {
        int64_t fill = bits_upto(divisible, r->words, r->rooms[d]);
        r->extra_e[d] = r->rooms[d] + 1 - fill - r->base[d];
        r->extra_k[d] = d;
    }
    /* sort (e, k) pairs by e: insertion sort, rooms are few */
    for (int i = 1; i < distinct; i++) {
        int64_t e = r->extra_e[i], idx = r->extra_k[i];
        int j = i - 1;
        while (j >= 0 && r->extra_e[j] > e) {
            r->extra_e[j + 1] = r->extra_e[j];
            r->extra_k[j + 1] = r->extra_k[j];
            j--;
        }
        r->extra_e[j + 1] = e;
        r->extra_k[j + 1] = idx;
    }
    int64_t more = 0;
    for (int i = 0; i < distinct; i++) {
        int64_t k = r->room_count[r->extra_k[i]];
        more += r->extra_e[i] * (k < forced ? k : forced);
        forced -= k;
        if (forced <= 0)
            break;
    }
    return more;
}

/* The waste bound; *rest is its subset-sum part on the cores after c (the window of _choose). */
static int64_t _forced_waste(Run *r, int c, int64_t slack, int64_t *rest) {
    *rest = 0;
    if (r->cap > r->max_subset_sum)
        return 0;
    int64_t own;
    int distinct = collect_rooms(r, c, &own);
    int64_t *escape;
    uint64_t *sets = _sums(r, c, &escape);
    int64_t waste = 0, counted = 0, own_waste = 0;
    for (int d = 0; d < distinct; d++) {
        r->base[d] = r->rooms[d] + 1 - bits_upto(sets, r->words, r->rooms[d]);
        waste += r->base[d] * r->room_count[d];
        counted += r->room_count[d];
        if (r->rooms[d] == own)
            own_waste = r->base[d];
    }
    if (waste > slack)
        return waste;
    *rest = waste - own_waste;
    for (int j = 0; j < r->nmoduli; j++) {
        int64_t forced = counted - escape[j];
        if (forced <= 0)
            continue;
        int64_t more = modulus_waste(r, distinct, sets + (j + 1) * r->words, forced);
        if (waste + more > slack) {
            *rest = 0;
            return waste + more;
        }
    }
    return waste;
}

/* --- the search ----------------------------------------------------------------------------- */

static int _core(Run *r, int c, int64_t slack);

static int _complete(Run *r) {
    SearchObject *s = r->s;
    if (s->memory) {
        int chips = s->n / s->memory_cores + 1;
        memset(r->per_chip, 0, sizeof(int64_t) * (size_t)chips);
        for (int p = 0; p < r->nplaced; p++) {
            int key = r->placed[p][0], start = r->placed[p][1];
            int64_t w = key < 0 ? s->pinned[-key - 1].w : s->types[key].w;
            int64_t mem = key < 0 ? s->pinned[-key - 1].mem : s->types[key].mem;
            for (int64_t x = start; mem && x < start + w; x++)
                r->per_chip[x / s->memory_cores] += mem;
        }
        for (int i = 0; i < chips; i++) {
            if (r->per_chip[i] > s->chip_memory) {
                r->rejections++;
                return 0;
            }
        }
    }
    memcpy(r->solution, r->placed, sizeof(int[2]) * (size_t)r->nplaced);
    r->nsolution = r->nplaced;
    r->peak = r->load[0];
    for (int x = 1; x < s->n; x++)
        if (r->load[x] > r->peak)
            r->peak = r->load[x];
    return 1;
}

static int _leave(Run *r, int c, int64_t slack, int64_t load) {
    if (!r->cover[c] && r->left_units && r->s->last_pin <= c)
        return 0; /* an empty core with units left: not left-justified */
    int e = _next_event(r, c);
    if (!r->excl[c]) {
        slack -= (r->cap - load) * (e - c);
        if (slack < 0)
            return 0;
    }
    return _core(r, e, slack);
}

/* How many of type i may start at c: its count, capped by the room on each core it covers. */
static int64_t fit_count(Run *r, int c, int i, int64_t used) {
    Kind *t = &r->s->types[i];
    int64_t k = r->rem[i];
    if (!t->d)
        return k;
    int64_t fit = floordiv(r->cap - used, t->d);
    for (int64_t x = c + 1; x < c + t->w; x++) {
        int64_t room = floordiv(r->cap - r->load[x], t->d);
        if (room < fit)
            fit = room;
    }
    return fit < k ? fit : k;
}

static int _choose(Run *r, int c, int64_t slack, int64_t window, int64_t base, const int *avail,
                   const int64_t *suffix, int navail, int a, int64_t total) {
    if (_tick(r))
        return -1;
    for (int b = a; b < navail; b++) {
        if (base + total + suffix[b] + window < r->cap)
            return 0;
        int i = avail[b];
        Kind *t = &r->s->types[i];
        for (int64_t k = fit_count(r, c, i, base + total); k > 0; k--) {
            r->rem[i] -= (int)k;
            _put(r, c, t->w, t->d, 0, k);
            push(r, i, c, k);
            int ok = _choose(r, c, slack, window, base, avail, suffix, navail, b + 1,
                             total + k * t->d);
            r->nplaced -= (int)k;
            _take(r, c, t->w, t->d, 0, k);
            r->rem[i] += (int)k;
            if (ok)
                return ok;
        }
    }
    if (base + total + window < r->cap && !r->excl[c])
        return 0;
    return _leave(r, c, slack, base + total);
}

static int _start_mirror(Run *r, int c, int64_t slack, int64_t window, const int *avail,
                         const int64_t *suffix, int navail);

static int _free(Run *r, int c, int64_t slack, int64_t window, int may_start) {
    SearchObject *s = r->s;
    if (may_start && !r->cover[c]) {
        for (int i = 0; i < s->ntypes; i++) {
            Kind *t = &s->types[i];
            if (!(r->rem[i] && t->excl))
                continue;
            r->rem[i]--;
            _put(r, c, t->w, t->d, 1, 1);
            push(r, i, c, 1);
            int ok = _core(r, _next_event(r, c), slack);
            r->nplaced--;
            _take(r, c, t->w, t->d, 1, 1);
            r->rem[i]++;
            if (ok)
                return ok;
        }
    }
    int avail[s->ntypes + 1];
    int64_t suffix[s->ntypes + 1];
    int navail = 0;
    int forced = s->mirror >= 0 && c == s->mirror_last && r->rem[s->mirror] > 0;
    if (forced && s->types[s->mirror].excl)
        return 0; /* an exclusive mirror unit could only start here above */
    if (may_start && !r->excl[c])
        for (int i = 0; i < s->ntypes; i++)
            if (r->rem[i] && !s->types[i].excl && s->types[i].w <= s->n - c &&
                !(forced && i == s->mirror))
                avail[navail++] = i;
    suffix[navail] = 0;
    for (int a = navail - 1; a >= 0; a--)
        suffix[a] = suffix[a + 1] + r->rem[avail[a]] * s->types[avail[a]].d;
    if (forced)
        return may_start ? _start_mirror(r, c, slack, window, avail, suffix, navail) : 0;
    return _choose(r, c, slack, window, r->load[c], avail, suffix, navail, 0, 0);
}

/* The mirror unit at its last core: it starts here, before the others are chosen. */
static int _start_mirror(Run *r, int c, int64_t slack, int64_t window, const int *avail,
                         const int64_t *suffix, int navail) {
    int i = r->s->mirror;
    Kind *t = &r->s->types[i];
    if (r->excl[c] || fit_count(r, c, i, r->load[c]) < 1)
        return 0;
    r->rem[i]--;
    _put(r, c, t->w, t->d, 0, 1);
    push(r, i, c, 1);
    int ok = _choose(r, c, slack, window, r->load[c], avail, suffix, navail, 0, 0);
    r->nplaced--;
    _take(r, c, t->w, t->d, 0, 1);
    r->rem[i]++;
    return ok;
}

/* Place the pins that start at c (fails when one does not fit), search on, take them back. */
static int _search_core(Run *r, int c, int64_t slack, int64_t window) {
    SearchObject *s = r->s;
    for (int i = 0; i < s->ntypes; i++)
        if (r->rem[i] && s->types[i].w > s->n - c)
            return 0;
    int j, ok = 0;
    for (j = s->pin_begin[c]; j < s->pin_end[c]; j++) {
        Pin *m = &s->pinned[j];
        if (c + m->w > s->n || r->excl[c] || (m->excl && r->cover[c]))
            goto undo_pins;
        for (int64_t x = c; x < c + m->w; x++)
            if (r->load[x] + m->d > r->cap || (m->excl && r->cover[x]))
                goto undo_pins;
        _put(r, c, m->w, m->d, m->excl, 1);
        push(r, -j - 1, c, 1);
    }
    ok = _free(r, c, slack, window, c == 0 || r->ends[c] > 0);
undo_pins:
    while (j-- > s->pin_begin[c]) {
        Pin *m = &s->pinned[j];
        _take(r, c, m->w, m->d, m->excl, 1);
        r->nplaced--;
    }
    return ok;
}

static int _core(Run *r, int c, int64_t slack) {
    if (_tick(r))
        return -1;
    SearchObject *s = r->s;
    if (r->left_units == 0)
        return _complete(r);
    if (c >= s->n || (s->mirror >= 0 && c > s->mirror_last && r->rem[s->mirror]))
        return 0;
    size_t counted, klen = _state(r, c, &counted);
    uint64_t h = hash_bytes(r->key, klen);
    Entry *e = table_find(&s->failed, r->key, klen, h);
    if (e && e->value >= r->cap)
        return 0;
    int64_t rejections = r->rejections;
    int64_t rest;
    int ok = 0;
    if (_forced_waste(r, c, slack, &rest) <= slack)
        ok = _search_core(r, c, slack, slack - rest);
    if (ok == 0 && r->rejections == rejections) {
        /* The search below c adds only states of later cores, and entries stay where they are
         * while the table grows: e is still this state's entry, or it has none. */
        if (e) {
            e->value = r->cap;
        } else {
            klen = _state(r, c, &counted); /* the state is back as it was; the scratch is not */
            if (remember(r, r->key, klen, h, counted) < 0)
                return -1;
        }
    }
    return ok;
}

static const char *solve(Run *r) {
    SearchObject *s = r->s;
    for (int i = 0; i < s->ntypes; i++)
        if (s->types[i].d > r->cap || s->types[i].w > s->n)
            return "infeasible";
    for (int j = 0; j < s->npins; j++)
        if (s->pinned[j].d > r->cap)
            return "infeasible";
    int64_t slack = (s->n - s->exclusive_width) * r->cap - s->shared_work;
    if (slack < 0)
        return "infeasible";
    int ok = _core(r, 0, slack);
    if (ok < 0)
        return r->stop == STOP_BUDGET ? "limit" : r->stop == STOP_WALL ? "wall" : NULL;
    if (ok)
        return "feasible";
    return r->rejections ? "unknown" : "infeasible";
}

/* --- run setup and the Python type ---------------------------------------------------------- */

static void run_free(Run *r) {
    free(r->load);
    free(r->rem);
    free(r->placed);
    free(r->solution);
    free(r->key);
    free(r->scratch);
    free(r->rooms);
    free(r->sums_cache);
}

static int run_alloc(Run *r, SearchObject *s) {
    int n = s->n, units = s->npins;
    for (int i = 0; i < s->ntypes; i++)
        units += s->types[i].count;
    r->words = r->cap <= r->max_subset_sum ? (size_t)(r->cap / 64 + 1) : 1;
    r->load = calloc(4 * (size_t)(n + 1), sizeof(int64_t));
    r->rem = calloc((size_t)s->ntypes + 1, sizeof(int));
    r->placed = calloc((size_t)units + 1, sizeof(int[2]));
    r->solution = calloc((size_t)units + 1, sizeof(int[2]));
    r->key = malloc(16 + (size_t)s->ntypes + 9 * (size_t)n);
    r->set_bytes = sizeof(uint64_t) * r->words * (size_t)(r->nmoduli + 1);
    r->sets_at = 8 + (((size_t)s->ntypes + sizeof(int) + 7) & ~(size_t)7);
    r->slot_bytes = r->sets_at + r->set_bytes + sizeof(int64_t) * 8;
    r->scratch = malloc(r->set_bytes + 8 * 9);
    r->rooms = calloc(6 * (size_t)(n + 1) + 2, sizeof(int64_t));
    if (!r->load || !r->rem || !r->placed || !r->solution || !r->key || !r->scratch ||
        !r->rooms)
        return -1;
    size_t slots = 1;
    while (slots * 2 * r->slot_bytes <= (size_t)r->sums_limit)
        slots *= 2;
    if (slots * r->slot_bytes <= (size_t)r->sums_limit && r->cap <= r->max_subset_sum) {
        r->sums_cache = calloc(slots, r->slot_bytes);
        r->sums_slots = r->sums_cache ? slots : 0;
    }
    r->cover = r->load + (n + 1);
    r->excl = r->cover + (n + 1);
    r->ends = r->excl + (n + 1);
    r->room_count = r->rooms + (n + 1);
    r->base = r->room_count + (n + 1);
    r->extra_e = r->base + (n + 1);
    r->extra_k = r->extra_e + (n + 1);
    r->per_chip = r->extra_k + (n + 1);
    r->left_units = units;
    for (int i = 0; i < s->ntypes; i++)
        r->rem[i] = s->types[i].count;
    return 0;
}

static PyObject *run_result(Run *r, const char *status) {
    if (strcmp(status, "feasible") != 0)
        return Py_BuildValue("(sLLO)", status, (long long)r->steps, (long long)r->cap, Py_None);
    PyObject *placed = PyList_New(r->nsolution);
    if (!placed)
        return NULL;
    for (int p = 0; p < r->nsolution; p++) {
        PyObject *pair = Py_BuildValue("(ii)", r->solution[p][0], r->solution[p][1]);
        if (!pair) {
            Py_DECREF(placed);
            return NULL;
        }
        PyList_SET_ITEM(placed, p, pair);
    }
    return Py_BuildValue("(sLLN)", status, (long long)r->steps, (long long)r->peak, placed);
}

static PyObject *Search_run(SearchObject *s, PyObject *args) {
    Run r;
    memset(&r, 0, sizeof r);
    double seconds;
    PyObject *moduli;
    if (!PyArg_ParseTuple(args, "LLdLLLLO", &r.cap, &r.limit, &seconds, &r.wall_every,
                          &r.max_subset_sum, &r.memo_limit, &r.sums_limit, &moduli))
        return NULL;
    Py_ssize_t m = PySequence_Size(moduli);
    if (m < 0 || m > 8 || r.wall_every <= 0) {
        PyErr_SetString(PyExc_ValueError, "at most 8 moduli and a positive wall check");
        return NULL;
    }
    r.nmoduli = (int)m;
    for (Py_ssize_t j = 0; j < m; j++) {
        PyObject *g = PySequence_GetItem(moduli, j);
        r.moduli[j] = g ? PyLong_AsLongLong(g) : -1;
        Py_XDECREF(g);
        if (r.moduli[j] <= 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "moduli must be positive");
            return NULL;
        }
    }
    r.s = s;
    r.deadline = now() + seconds;
    PyObject *out = NULL;
    if (run_alloc(&r, s) < 0) {
        PyErr_NoMemory();
    } else {
        const char *status = solve(&r);
        out = status ? run_result(&r, status) : NULL;
    }
    run_free(&r);
    return out;
}

static int keep(Entry *e, int64_t cap) { return e->value >= cap; }

/* _Search._forget_below: drop the states that failed only below cap, when the memo is more
 * than half full. */
static PyObject *Search_forget_below(SearchObject *s, PyObject *args) {
    long long cap, limit;
    if (!PyArg_ParseTuple(args, "LL", &cap, &limit))
        return NULL;
    if (s->memo_bytes * 2 <= limit)
        Py_RETURN_NONE;
    Table kept;
    if (table_init(&kept, s->failed.mask + 1) < 0)
        return PyErr_NoMemory();
    int64_t bytes = 0;
    for (size_t i = 0; i <= s->failed.mask; i++) {
        Entry *e = s->failed.slots[i].e;
        if (!e)
            continue;
        if (keep(e, cap)) {
            Entry *copy = table_alloc(&kept, sizeof(Entry) + e->klen);
            if (!copy) {
                table_free(&kept);
                return PyErr_NoMemory();
            }
            memcpy(copy, e, sizeof(Entry) + e->klen);
            table_place(&kept, copy);
            bytes += (int64_t)e->size;
        }
    }
    table_free(&s->failed);
    s->failed = kept;
    s->memo_bytes = bytes;
    Py_RETURN_NONE;
}

/* How many states are remembered at each capacity, and the bytes counted for them. */
static PyObject *Search_memo(SearchObject *s, PyObject *Py_UNUSED(ignored)) {
    PyObject *counts = PyDict_New();
    for (size_t i = 0; counts && i <= s->failed.mask; i++) {
        Entry *e = s->failed.slots[i].e;
        if (!e)
            continue;
        PyObject *cap = PyLong_FromLongLong(e->value);
        PyObject *old = cap ? PyDict_GetItemWithError(counts, cap) : NULL;
        PyObject *now = cap && !PyErr_Occurred()
                            ? PyLong_FromLongLong(1 + (old ? PyLong_AsLongLong(old) : 0))
                            : NULL;
        if (!now || PyDict_SetItem(counts, cap, now) < 0)
            Py_CLEAR(counts);
        Py_XDECREF(cap);
        Py_XDECREF(now);
    }
    return counts ? Py_BuildValue("(NL)", counts, (long long)s->memo_bytes) : NULL;
}

static int parse_types(SearchObject *s, PyObject *types) {
    Py_ssize_t k = PySequence_Size(types);
    if (k < 0 || !(s->types = calloc((size_t)k + 1, sizeof(Kind))))
        return -1;
    for (Py_ssize_t i = 0; i < k; i++) {
        Kind *t = &s->types[i];
        PyObject *item = PySequence_GetItem(types, i);
        int ok = item && PyArg_ParseTuple(item, "LLpLi", &t->w, &t->d, &t->excl, &t->mem,
                                          &t->count);
        Py_XDECREF(item);
        if (!ok)
            return -1;
    }
    s->ntypes = (int)k;
    return 0;
}

static int parse_pins(SearchObject *s, PyObject *pins) {
    Py_ssize_t k = PySequence_Size(pins);
    if (k < 0 || !(s->pinned = calloc((size_t)k + 1, sizeof(Pin))))
        return -1;
    for (Py_ssize_t j = 0; j < k; j++) {
        Pin *p = &s->pinned[j];
        PyObject *item = PySequence_GetItem(pins, j);
        int ok = item && PyArg_ParseTuple(item, "LLLpL", &p->start, &p->w, &p->d, &p->excl,
                                          &p->mem);
        Py_XDECREF(item);
        if (!ok)
            return -1;
        if (p->start < 0 || p->start >= s->n || (j && p->start < s->pinned[j - 1].start)) {
            PyErr_SetString(PyExc_ValueError, "pins must be sorted by start, within the cores");
            return -1;
        }
    }
    s->npins = (int)k;
    return 0;
}

/* The totals _Search computes: pin index ranges, last pins, exclusive width, shared work. */
static int index_pins(SearchObject *s) {
    s->pin_begin = calloc(2 * ((size_t)s->n + 1), sizeof(int));
    if (!s->pin_begin)
        return -1;
    s->pin_end = s->pin_begin + s->n + 1;
    s->last_pin = s->last_exclusive_pin = -1;
    for (int j = s->npins - 1; j >= 0; j--)
        s->pin_begin[s->pinned[j].start] = j;
    for (int j = 0; j < s->npins; j++) {
        Pin *p = &s->pinned[j];
        s->pin_end[p->start] = j + 1;
        s->last_pin = (int)p->start;
        if (p->excl) {
            s->last_exclusive_pin = (int)p->start;
            s->exclusive_width += p->w;
        } else {
            s->shared_work += p->w * p->d;
        }
    }
    int64_t total = 0; /* no core carries more than every unit's load */
    for (int j = 0; j < s->npins; j++)
        total += s->pinned[j].d;
    for (int i = 0; i < s->ntypes; i++) {
        Kind *t = &s->types[i];
        total += t->d * t->count;
        if (t->excl)
            s->exclusive_width += t->w * t->count;
        else
            s->shared_work += t->w * t->d * t->count;
    }
    s->narrow = total < INT32_MAX;
    return 0;
}

static int Search_init(SearchObject *s, PyObject *args, PyObject *kwds) {
    PyObject *types, *pins;
    static char *names[] = {"n",           "types",  "pinned",      "memory",
                            "memory_cores", "chip_memory", "mirror", "mirror_last", NULL};
    if (s->types) {
        PyErr_SetString(PyExc_TypeError, "Search is initialised once");
        return -1;
    }
    s->mirror = -1;
    s->mirror_last = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOOpiL|ii", names, &s->n, &types, &pins,
                                     &s->memory, &s->memory_cores, &s->chip_memory, &s->mirror,
                                     &s->mirror_last))
        return -1;
    if (s->n <= 0 || s->memory_cores <= 0) {
        PyErr_SetString(PyExc_ValueError, "cores and memory_cores must be positive");
        return -1;
    }
    if (s->mirror < -1 || s->mirror >= (int)PySequence_Size(types)) {
        PyErr_SetString(PyExc_ValueError, "mirror must be -1 or a type index");
        return -1;
    }
    if (parse_types(s, types) < 0 || parse_pins(s, pins) < 0 || index_pins(s) < 0 ||
        table_init(&s->failed, 1024) < 0) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void Search_dealloc(SearchObject *s) {
    free(s->types);
    free(s->pinned);
    free(s->pin_begin);
    table_free(&s->failed);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef Search_methods[] = {
    {"run", (PyCFunction)Search_run, METH_VARARGS,
     "run(cap, limit, seconds_left, wall_check_steps, max_subset_sum, memo_bytes, sums_bytes, "
     "moduli) -> (status, steps, peak, placed): one decision peak <= cap, as sweep._Run.solve; "
     "status 'limit' or 'wall' when the budget or the clock stopped it"},
    {"forget_below", (PyCFunction)Search_forget_below, METH_VARARGS,
     "forget_below(cap, memo_bytes): sweep._Search._forget_below"},
    {"memo", (PyCFunction)Search_memo, METH_NOARGS,
     "memo() -> ({capacity: states remembered at it}, bytes counted)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SearchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ncplace.optimize._sweep.Search",
    .tp_basicsize = sizeof(SearchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The fixed data of one sweep and its failed-state memory (sweep._Search).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Search_init,
    .tp_dealloc = (destructor)Search_dealloc,
    .tp_methods = Search_methods,
};

static struct PyModuleDef sweep_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_sweep",
    .m_doc = "The core sweep's decision search, compiled (mirrors ncplace.optimize.sweep._Run).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__sweep(void) {
    if (PyType_Ready(&SearchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&sweep_module);
    if (!m)
        return NULL;
    Py_INCREF(&SearchType);
    if (PyModule_AddObject(m, "Search", (PyObject *)&SearchType) < 0) {
        Py_DECREF(&SearchType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
