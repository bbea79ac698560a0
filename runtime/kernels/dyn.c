/* dyn.c: kernels of the data-dependent ops (dyn.h). */
#include "dyn.h"

#define DEF_NONZERO(T, sfx, kind)                                                                  \
    void kiln_nonzero_##sfx(int64_t numel, int32_t rank, const int64_t *restrict dims,             \
                            const T *restrict x, int64_t *restrict out, int64_t *restrict count) { \
        int64_t n = 0;                                                                             \
        for (int64_t i = 0; i < numel; i++)                                                        \
            n += x[i] != 0;                                                                        \
        *count = n;                                                                                \
        int64_t j = 0;                                                                             \
        for (int64_t i = 0; i < numel; i++) {                                                      \
            if (x[i] == 0) continue;                                                               \
            int64_t r = i;                                                                         \
            for (int32_t k = rank - 1; k >= 0; k--) {                                              \
                out[k * n + j] = r % dims[k];                                                      \
                r /= dims[k];                                                                      \
            }                                                                                      \
            j++;                                                                                   \
        }                                                                                          \
    }
KILN_FOR_MATH_TYPES(DEF_NONZERO)

void kiln_compress(int64_t outer, int64_t len, int64_t inner, int64_t esize,
                   const uint8_t *restrict cond, int64_t cond_len, const uint8_t *restrict x,
                   uint8_t *restrict out, int64_t *restrict count) {
    int64_t m = cond_len < len ? cond_len : len, n = 0, row = inner * esize;
    for (int64_t i = 0; i < m; i++)
        n += cond[i] != 0;
    *count = n;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < m; i++) {
            if (!cond[i]) continue;
            const uint8_t *src = x + (o * len + i) * row;
            for (int64_t b = 0; b < row; b++)
                *out++ = src[b];
        }
}

/* Stable bottom-up merge sort of idx[0..n) by cmp(ctx, a, b) < 0; tmp
 * holds n. */
typedef int (*Cmp)(const void *ctx, int64_t a, int64_t b);

static void sort_stable(int64_t *restrict idx, int64_t *restrict tmp, int64_t n, Cmp cmp,
                        const void *ctx) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = n - lo > w ? lo + w : n, hi = n - lo > 2 * w ? lo + 2 * w : n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = cmp(ctx, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
            while (a < mid)
                tmp[k++] = idx[a++];
            while (b < hi)
                tmp[k++] = idx[b++];
        }
        for (int64_t i = 0; i < n; i++)
            idx[i] = tmp[i];
    }
}

static int by_first(const void *ctx, int64_t a, int64_t b) {
    const int64_t *rep = ctx;
    return rep[a] < rep[b] ? -1 : rep[a] > rep[b];
}

/* Groups of equal slices, perm sorted by cmp: rep[g] (the first index, as
 * the sort is stable), cnt[g], grp[i]; then the output order (ascending,
 * or by first occurrence) as rank[g]. Returns the number of groups. */
static int64_t unique_groups(int32_t sorted, int64_t len, const int64_t *restrict perm,
                             int64_t *restrict tmp, int64_t *restrict rep, int64_t *restrict cnt,
                             int64_t *restrict grp, int64_t *restrict order, int64_t *restrict rank,
                             Cmp cmp, const void *ctx) {
    int64_t g = -1;
    for (int64_t i = 0; i < len; i++) {
        if (i == 0 || cmp(ctx, perm[i - 1], perm[i]) != 0) {
            g++;
            rep[g] = perm[i];
            cnt[g] = 0;
        }
        cnt[g]++;
        grp[perm[i]] = g;
    }
    int64_t n = g + 1;
    for (int64_t k = 0; k < n; k++)
        order[k] = k;
    if (!sorted) sort_stable(order, tmp, n, by_first, rep);
    for (int64_t k = 0; k < n; k++)
        rank[order[k]] = k;
    return n;
}

/* NaN compares equal to everything here; the sort still ends. */
#define DEF_UNIQUE(T, sfx, kind)                                                                   \
    typedef struct {                                                                               \
        const T *x;                                                                                \
        int64_t outer, len, inner;                                                                 \
    } Slices_##sfx;                                                                                \
    static int slice_cmp_##sfx(const void *ctx, int64_t a, int64_t b) {                            \
        const Slices_##sfx *s = ctx;                                                               \
        for (int64_t o = 0; o < s->outer; o++)                                                     \
            for (int64_t j = 0; j < s->inner; j++) {                                               \
                T u = s->x[(o * s->len + a) * s->inner + j];                                       \
                T v = s->x[(o * s->len + b) * s->inner + j];                                       \
                if (u < v) return -1;                                                              \
                if (v < u) return 1;                                                               \
            }                                                                                      \
        return 0;                                                                                  \
    }                                                                                              \
    void kiln_unique_##sfx(int32_t sorted, int64_t outer, int64_t len, int64_t inner,              \
                           const T *restrict x, T *restrict y, int64_t *restrict first,            \
                           int64_t *restrict inverse, int64_t *restrict counts,                    \
                           int64_t *restrict scratch, int64_t *restrict count) {                   \
        int64_t *perm = scratch, *tmp = perm + len, *rep = tmp + len, *cnt = rep + len;            \
        int64_t *grp = cnt + len, *order = grp + len, *rank = order + len;                         \
        Slices_##sfx s = {x, outer, len, inner};                                                   \
        for (int64_t i = 0; i < len; i++)                                                          \
            perm[i] = i;                                                                           \
        sort_stable(perm, tmp, len, slice_cmp_##sfx, &s);                                          \
        int64_t n = unique_groups(sorted, len, perm, tmp, rep, cnt, grp, order, rank,              \
                                  slice_cmp_##sfx, &s);                                            \
        *count = n;                                                                                \
        for (int64_t k = 0; k < n; k++) {                                                          \
            int64_t g = order[k];                                                                  \
            if (first) first[k] = rep[g];                                                          \
            if (counts) counts[k] = cnt[g];                                                        \
            if (y)                                                                                 \
                for (int64_t o = 0; o < outer; o++)                                                \
                    for (int64_t j = 0; j < inner; j++)                                            \
                        y[(o * n + k) * inner + j] = x[(o * len + rep[g]) * inner + j];            \
        }                                                                                          \
        if (inverse)                                                                               \
            for (int64_t i = 0; i < len; i++)                                                      \
                inverse[i] = rank[grp[i]];                                                         \
    }
KILN_FOR_MATH_TYPES(DEF_UNIQUE)

/* --- NonMaxSuppression ------------------------------------------------------------- */

typedef struct {
    float y1, x1, y2, x2; /* corners, y1 <= y2, x1 <= x2 */
} Box;

static float minf(float a, float b) {
    return a < b ? a : b;
}
static float maxf(float a, float b) {
    return a > b ? a : b;
}

static Box box_at(const float *b, int32_t center) {
    if (center) {
        float xc = b[0], yc = b[1], w = b[2] / 2, h = b[3] / 2;
        return (Box){yc - h, xc - w, yc + h, xc + w};
    }
    return (Box){minf(b[0], b[2]), minf(b[1], b[3]), maxf(b[0], b[2]), maxf(b[1], b[3])};
}

/* ORT's SuppressByIOU: a box of no area suppresses nothing. */
static int suppresses(Box a, Box b, float iou) {
    float iy1 = maxf(a.y1, b.y1), ix1 = maxf(a.x1, b.x1);
    float iy2 = minf(a.y2, b.y2), ix2 = minf(a.x2, b.x2);
    float area_a = (a.y2 - a.y1) * (a.x2 - a.x1), area_b = (b.y2 - b.y1) * (b.x2 - b.x1);
    if (area_a <= 0 || area_b <= 0) return 0;
    if (ix2 <= ix1 || iy2 <= iy1) return 0;
    float inter = (iy2 - iy1) * (ix2 - ix1);
    return inter / (area_a + area_b - inter) > iou;
}

static int by_score_desc(const void *ctx, int64_t a, int64_t b) {
    const float *s = ctx;
    return s[a] > s[b] ? -1 : s[a] < s[b];
}

void kiln_nms(int32_t center, int64_t batches, int64_t classes, int64_t n,
              const float *restrict boxes, const float *restrict scores,
              const int64_t *restrict max_out, const float *restrict iou,
              const float *restrict score, int64_t *restrict scratch, int64_t *restrict out,
              int64_t *restrict count) {
    int64_t limit = max_out ? *max_out : 0, total = 0;
    float iou_t = iou ? *iou : 0;
    if (limit > n) limit = n;
    int64_t *cand = scratch, *tmp = cand + n, *kept = tmp + n;
    for (int64_t b = 0; b < batches && limit > 0; b++)
        for (int64_t c = 0; c < classes; c++) {
            const float *s = scores + (b * classes + c) * n, *bx = boxes + b * n * 4;
            int64_t m = 0, k = 0;
            for (int64_t i = 0; i < n; i++)
                if (!score || s[i] > *score) cand[m++] = i;
            sort_stable(cand, tmp, m, by_score_desc, s);
            for (int64_t i = 0; i < m && k < limit; i++) {
                Box bi = box_at(bx + cand[i] * 4, center);
                int keep = 1;
                for (int64_t j = 0; j < k && keep; j++)
                    keep = !suppresses(box_at(bx + kept[j] * 4, center), bi, iou_t);
                if (!keep) continue;
                kept[k++] = cand[i];
                out[total * 3] = b, out[total * 3 + 1] = c, out[total * 3 + 2] = cand[i];
                total++;
            }
        }
    *count = total;
}

int32_t kiln_count_check(const int64_t *restrict k, int64_t max, int64_t *restrict count,
                         KilnRunError *restrict err) {
    if (*k < 0 || *k > max) {
        *err = (KilnRunError){.value = *k, .size = max, .kind = KILN_CHECK_COUNT};
        return 1;
    }
    *count = *k;
    return 0;
}

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}
static char ascii_upper(char c) {
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static int str_equal(const char *a, const char *b, int32_t case_sensitive) {
    for (;; a++, b++) {
        char p = case_sensitive ? *a : ascii_lower(*a), q = case_sensitive ? *b : ascii_lower(*b);
        if (p != q) return 0;
        if (!p) return 1;
    }
}

int32_t kiln_string_normalizer(int64_t n, const char *const *restrict x,
                               const char *const *restrict stop, int64_t n_stop,
                               int32_t case_sensitive, int32_t action, int64_t cap,
                               char *restrict bytes, const char **restrict y,
                               int64_t *restrict count, KilnRunError *restrict err) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *s = x[i];
        int drop = 0;
        for (int64_t j = 0; j < n_stop && !drop; j++)
            drop = str_equal(s, stop[j], case_sensitive);
        if (drop) continue;
        if (action == 0) {
            y[k++] = s;
            continue;
        }
        char *out = bytes + i * cap;
        int64_t len = 0;
        for (; s[len]; len++) {
            if (len + 1 >= cap) {
                while (s[len])
                    len++;
                *err = (KilnRunError){
                    .value = len, .position = i, .size = cap - 1, .kind = KILN_CHECK_LENGTH};
                return 1;
            }
            out[len] = action == 1 ? ascii_lower(s[len]) : ascii_upper(s[len]);
        }
        out[len] = 0;
        y[k++] = out;
    }
    if (k == 0) y[k++] = "";
    *count = k;
    return 0;
}
