/* cpu.c: the start check (cpu.h). It reads the same cpuid words as the
 * dispatcher codegen emits into each model, from the same table,
 * runtime/kiln_cpu.def. */
#include "cpu.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

enum {
#define KILN_CPU_WORD(word, ...) W_##word,
#include "kiln_cpu.def"
    N_WORDS
};

static const struct {
    const char *llvm, *shown;
    int word, bit;
    unsigned xcr0;
    int level;
} features[] = {
#define KILN_CPU_FEATURE(llvm, shown, word, bit, xcr0, level)                                      \
    {llvm, shown, W_##word, bit, xcr0, level},
#include "kiln_cpu.def"
};
enum { N_FEATURES = sizeof features / sizeof *features };

/* This CPU's feature words; a leaf above its highest reads as 0. */
static void cpu_words(unsigned w[N_WORDS]) {
    memset(w, 0, sizeof(unsigned) * N_WORDS);
#if defined(__x86_64__)
    unsigned r[4];
    int i = 0;
#define KILN_CPU_WORD(word, leaf, sub, reg)                                                        \
    if (W_##word != W_XCR0 && __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))            \
        w[i] = r[reg];                                                                             \
    i++;
#include "kiln_cpu.def"
    if (w[W_1ECX] & (1u << 27)) { /* OSXSAVE: xgetbv is allowed */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        w[W_XCR0] = lo;
    }
#endif
}

static int has(const unsigned w[N_WORDS], int f) {
    return (w[features[f].word] >> features[f].bit & 1) &&
           (w[W_XCR0] & features[f].xcr0) == features[f].xcr0;
}

/* The feature row of LLVM name [p, p + len), -1 if not in the table. */
static int feature_find(const char *p, size_t len) {
    for (int f = 0; f < N_FEATURES; f++)
        if (strlen(features[f].llvm) == len && !strncmp(features[f].llvm, p, len)) return f;
    return -1;
}

/* The highest x86-64 psABI level (1 to 4) whose features this CPU has. */
static int cpu_level(const unsigned w[N_WORDS]) {
    int level = 4;
    for (int f = 0; f < N_FEATURES; f++)
        if (features[f].level >= 2 && features[f].level <= level && !has(w, f))
            level = features[f].level - 1;
    return level;
}

int rt_cpu_check(const KilnModel *m, char err[RT_ERR_LEN]) {
    err[0] = 0;
    if (m->n_variants <= 0 || !m->variants) return 0;
    unsigned w[N_WORDS];
    cpu_words(w);
    const char *needs = m->variants[0].needs;
    char missing[RT_ERR_LEN / 2] = "";
    int n_missing = 0;
    size_t used = 0;
    /* The level features first, from the highest: "AVX-512F" says more
     * than "PCLMUL". */
    static const int order[] = {4, 3, 2, 0};
    for (int o = 0; o < 4; o++)
        for (const char *p = needs; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int f = feature_find(p, len);
            if (f >= 0 && features[f].level == order[o] && !has(w, f)) {
                if (n_missing < 8)
                    used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s",
                                             n_missing ? ", " : "", features[f].shown);
                n_missing++;
                if (used >= sizeof missing) used = sizeof missing - 1;
            }
            p += len + (e != NULL);
        }
    if (n_missing) {
        char more[32] = "";
        if (n_missing > 8) snprintf(more, sizeof more, " and %d more", n_missing - 8);
        char cpus[128] = "";
        size_t at = 0;
        for (int i = 0; i < m->n_variants && at < sizeof cpus; i++)
            at += (size_t)snprintf(cpus + at, sizeof cpus - at, "%s%s", i ? "," : "",
                                   m->variants[i].cpu);
        int level = cpu_level(w);
        char fit[16] = "x86-64";
        if (level >= 2) snprintf(fit, sizeof fit, "x86-64-v%d", level);
        snprintf(err, RT_ERR_LEN,
                 "this binary needs %s%s (compiled for %s); this CPU lacks %s: rebuild with "
                 "--cpu %s%s",
                 missing, more, cpus, n_missing > 1 ? "them" : "it", fit,
                 level >= 2 ? " or a portable list --cpu x86-64-v2,x86-64-v3,x86-64-v4" : "");
        return -1;
    }
    if (m->variant && m->variant() < 0) {
        snprintf(err, RT_ERR_LEN,
                 "internal error: this CPU has the features of '%s' but the model's dispatcher "
                 "picks no variant",
                 m->variants[0].cpu);
        return -1;
    }
    return 0;
}

const char *rt_cpu_selected(const KilnModel *m) {
    if (m->n_variants <= 0 || !m->variants || !m->variant) return NULL;
    int k = m->variant();
    return k >= 0 && k < m->n_variants ? m->variants[k].cpu : NULL;
}
