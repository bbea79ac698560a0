/* arena.h: bump allocation for one compilation.
 *
 * Everything a compilation builds (IR nodes, values, shapes, names, pass
 * scratch, decoded weights) comes from one Arena and is released at once
 * by arena_destroy(). Allocation failure is fatal (prints and exits 3):
 * the compiler cannot do anything useful without memory. kiln_oom() is
 * that policy, for every allocation in the compiler (arena or malloc).
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_create(size_t chunk_size);
void arena_destroy(Arena *a);
void *arena_alloc(Arena *a, size_t size); /* zeroed, 16-byte aligned */
/* n elements of `size` bytes, zeroed, 16-byte aligned; n * size is checked
 * (a product that wraps is treated as the allocation failing). Sizes that
 * come from a model are checked against model_limits.h before they get here, so
 * that the model's fault is exit 1, not this exit 3. */
void *arena_alloc_array(Arena *a, size_t n, size_t size);
void *arena_alloc_aligned(Arena *a, size_t size, size_t align); /* zeroed */
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "kiln: out of memory (<what>)" to stderr and exits 3 (EXIT_ENV);
 * never returns and never raises a signal. */
_Noreturn void kiln_oom(const char *what);

#endif
