#include "arena.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    _Alignas(64) unsigned char data[];
} Chunk;

struct Arena {
    Chunk *head;
    size_t chunk_size;
};

void kiln_oom(const char *what) {
    fprintf(stderr, "kiln: out of memory (%s)\n", what);
    exit(3);
}

static Chunk *chunk_new(size_t size) {
    size_t total = (sizeof(Chunk) + size + 63) & ~(size_t)63;
    Chunk *c = size <= SIZE_MAX - sizeof(Chunk) - 63 ? aligned_alloc(64, total) : NULL;
    if (!c) {
        char what[64];
        snprintf(what, sizeof what, "wanted %zu bytes", size);
        kiln_oom(what);
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

Arena *arena_create(size_t chunk_size) {
    Arena *a = calloc(1, sizeof(Arena));
    if (!a) kiln_oom("arena");
    a->chunk_size = chunk_size < 4096 ? 4096 : chunk_size;
    a->head = chunk_new(a->chunk_size);
    return a;
}

void arena_destroy(Arena *a) {
    if (!a) return;
    for (Chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *arena_alloc_aligned(Arena *a, size_t size, size_t align) {
    assert(align && (align & (align - 1)) == 0 && align <= 4096);
    /* Sizes come from model dims: keep off + size and size + align below
     * SIZE_MAX, so neither wraps. */
    if (size > SIZE_MAX / 2) kiln_oom("allocation size overflows");
    Chunk *c = a->head;
    uintptr_t base = (uintptr_t)c->data;
    size_t off = ((base + c->used + align - 1) & ~(uintptr_t)(align - 1)) - base;
    if (off + size > c->size) {
        /* Big requests get a chunk of their own, placed behind the head so
         * the head keeps serving small ones. */
        size_t want = size + align > a->chunk_size ? size + align : a->chunk_size;
        Chunk *n = chunk_new(want);
        if (want > a->chunk_size) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
        base = (uintptr_t)c->data;
        off = ((base + align - 1) & ~(uintptr_t)(align - 1)) - base;
    }
    c->used = off + size;
    memset(c->data + off, 0, size);
    return c->data + off;
}

void *arena_alloc(Arena *a, size_t size) {
    return arena_alloc_aligned(a, size ? size : 1, 16);
}

void *arena_alloc_array(Arena *a, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) kiln_oom("allocation size overflows");
    return arena_alloc(a, total);
}

char *arena_strdup(Arena *a, const char *s) {
    size_t n = strlen(s);
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    return p;
}

char *arena_printf(Arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
