/* einsum.c: Einsum's equation parser (see einsum.h). */
#include "einsum.h"

#include <stdio.h>
#include <string.h>

/* Letter c as 0..51 (a-z, A-Z), -1 if it is not one. */
static int es_letter(char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + c - 'A';
    return -1;
}

/* One term: its letters (-1 standing for the ellipsis) into t; the count,
 * or -1 with a message. p advances past the term. */
static int es_term(const char **p, int *t, int max, char err[160]) {
    int k = 0, ell = 0;
    for (;;) {
        char c = **p;
        if (c == ' ') {
            (*p)++;
            continue;
        }
        if (c == '.') {
            if (strncmp(*p, "...", 3) != 0 || ell) {
                snprintf(err, 160, "'.' outside a single '...' in a term");
                return -1;
            }
            ell = 1;
            *p += 3;
            c = -1;
        } else if (es_letter(c) >= 0) {
            (*p)++;
        } else {
            return k;
        }
        if (k == max) {
            snprintf(err, 160, "a term has more than %d labels", max);
            return -1;
        }
        t[k++] = c == -1 ? -1 : es_letter(c);
    }
}

int einsum_parse(const char *eq, int n_ops, const int *ranks, EinsumSpec *out, char err[160]) {
    int terms[EINSUM_MAX_OPS + 1][IR_MAX_RANK], len[EINSUM_MAX_OPS + 1];
    int ell_rank = 0, count[52] = {0}, map[52], has_out = 0;
    const char *p = eq;
    memset(out, 0, sizeof *out);
    if (n_ops < 1 || n_ops > EINSUM_MAX_OPS) {
        snprintf(err, 160, "%d inputs; kiln supports 1 to %d", n_ops, EINSUM_MAX_OPS);
        return -1;
    }
    for (int i = 0; i < n_ops; i++) {
        if ((len[i] = es_term(&p, terms[i], IR_MAX_RANK, err)) < 0) return -1;
        int letters = 0, ell = 0;
        for (int k = 0; k < len[i]; k++) {
            if (terms[i][k] < 0)
                ell = 1;
            else
                letters++, count[terms[i][k]]++;
        }
        int e = ranks[i] - letters;
        if (ell ? e < 0 : e != 0) {
            snprintf(err, 160, "term %d has %d labels for input %d of rank %d", i, letters, i,
                     ranks[i]);
            return -1;
        }
        if (ell && e > ell_rank) ell_rank = e;
        char want = i + 1 < n_ops ? ',' : 0;
        if (want && *p != ',') {
            snprintf(err, 160, "%d terms before '->' for %d inputs", i + 1, n_ops);
            return -1;
        }
        if (want) p++;
    }
    if (strncmp(p, "->", 2) == 0) {
        p += 2;
        has_out = 1;
        if ((len[n_ops] = es_term(&p, terms[n_ops], IR_MAX_RANK, err)) < 0) return -1;
    }
    while (*p == ' ')
        p++;
    if (*p) {
        snprintf(err, 160, "unexpected '%c' (terms are letters and '...', separated by ',')", *p);
        return -1;
    }
    /* Labels: the ellipsis dims first, then the letters in order. */
    for (int c = 0; c < 52; c++)
        map[c] = -1;
    int nl = ell_rank;
    for (int i = 0; i < n_ops; i++)
        for (int k = 0; k < len[i]; k++)
            if (terms[i][k] >= 0 && map[terms[i][k]] < 0) map[terms[i][k]] = nl++;
    if (nl > EINSUM_MAX_LABELS) {
        snprintf(err, 160, "%d labels; kiln supports %d", nl, EINSUM_MAX_LABELS);
        return -1;
    }
    if (!has_out) { /* implicit: the ellipsis, then the letters seen once, alphabetically */
        int k = 0;
        if (ell_rank) terms[n_ops][k++] = -1;
        for (int c = 0; c < 52; c++) {
            /* ONNX orders them as ASCII: upper case before lower case. */
            int l = c < 26 ? 26 + c : c - 26;
            if (count[l] == 1) terms[n_ops][k++] = l;
        }
        len[n_ops] = k;
    }
    out->n_ops = n_ops;
    out->n_labels = nl;
    for (int i = 0; i <= n_ops; i++) {
        int r = 0, e = i < n_ops ? ranks[i] - len[i] + 1 : ell_rank;
        int seen_ell = 0;
        for (int k = 0; k < len[i]; k++) {
            int t = terms[i][k];
            if (t < 0) {
                if (seen_ell) {
                    snprintf(err, 160, "two ellipses in one term");
                    return -1;
                }
                seen_ell = 1;
                int dims = i < n_ops ? e : ell_rank;
                if (r + dims > IR_MAX_RANK) goto too_big;
                for (int j = 0; j < dims; j++)
                    out->label[i][r++] = ell_rank - dims + j;
                continue;
            }
            if (i == n_ops) {
                if (map[t] < 0) {
                    snprintf(err, 160, "output label '%c' is in no input",
                             t < 26 ? 'a' + t : 'A' + t - 26);
                    return -1;
                }
                for (int j = 0; j < r; j++)
                    if (out->label[i][j] == map[t]) {
                        snprintf(err, 160, "output label '%c' appears twice",
                                 t < 26 ? 'a' + t : 'A' + t - 26);
                        return -1;
                    }
            }
            if (r == IR_MAX_RANK) goto too_big;
            out->label[i][r++] = map[t];
        }
        if (i == n_ops && ell_rank && !seen_ell && has_out) {
            /* numpy allows dropping broadcast dims only when they sum away;
             * ONNX requires the output to name them. */
            snprintf(err, 160, "the inputs have '...' but the output does not");
            return -1;
        }
        out->rank[i] = r;
    }
    return 0;
too_big:
    snprintf(err, 160, "a term has more than %d dims", IR_MAX_RANK);
    return -1;
}
