/* main.c: the fraud model inside a C program, no service (see README.md). */
#include <stdio.h>
#include <stdlib.h>

#include "libfraud.h" /* written by kiln next to libfraud.a */

/* One transaction, in the order of ../fraud-detection/README.md (ref_input_b1.npy). */
/* clang-format off */
static const float transaction[KILN_FRAUD_INPUT_0_ITEM_NUMEL] = {
    2.58648896f, -0.792555511f, -0.609799802f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5.69682264f,
    2.14394593f, 1, 2, 0.202291027f, 1, 0, 0, 2.81219697f, 0, 1, 0, 0, 47, 0.143653452f, 0,
    0.00689092372f};
/* clang-format on */

int main(void) {
    const KilnModel *m = &kiln_model_fraud;
    /* One transaction: the input is [1, 30]; shapes() checks it and says the output's shape. */
    const int64_t in_shape[] = {1, KILN_FRAUD_INPUT_0_ITEM_NUMEL};
    const int64_t *in_shapes[] = {in_shape};
    int64_t out_shape[KILN_FRAUD_OUTPUT_0_RANK];
    int64_t *out_shapes[] = {out_shape};
    KilnRunError err = {0};
    char msg[512];
    int rc = m->shapes(in_shapes, out_shapes, &err);
    if (rc != 0) {
        kiln_run_error_format(m, rc, &err, msg, sizeof msg);
        fprintf(stderr, "%s: %s\n", m->name, msg);
        return 1;
    }
    float probabilities[KILN_FRAUD_OUTPUT_0_ITEM_NUMEL]; /* [1, 2] */
    if (out_shape[0] * out_shape[1] != (int64_t)KILN_FRAUD_OUTPUT_0_ITEM_NUMEL) {
        fprintf(stderr, "%s: unexpected output shape\n", m->name);
        return 1;
    }
    const void *inputs[] = {transaction};
    void *outputs[] = {probabilities};
    size_t bytes =
        (m->workspace_size(in_shapes) + 63) / 64 * 64; /* a multiple, for aligned_alloc */
    void *workspace = aligned_alloc(64, bytes ? bytes : 64);
    if (!workspace) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        return 1;
    }
    rc = m->run(inputs, in_shapes, outputs, NULL, workspace, NULL);
    if (rc != 0) { /* a failed check (1..n_checks) wrote what it found into the workspace */
        if (rc >= 1 && rc <= m->n_checks) err = *kiln_run_error(m, workspace, in_shapes);
        kiln_run_error_format(m, rc, &err, msg, sizeof msg);
        fprintf(stderr, "%s: %s\n", m->name, msg);
        free(workspace);
        return 1;
    }
    printf("P(legit) %.9g\nP(fraud) %.9g\n", probabilities[0], probabilities[1]);
    free(workspace);
    return 0;
}
