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
    float probabilities[KILN_FRAUD_OUTPUT_0_ITEM_NUMEL]; /* batch 1: [1, 2] */
    const void *inputs[] = {transaction};
    void *outputs[] = {probabilities};
    size_t bytes = (m->workspace_size(1) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    void *workspace = aligned_alloc(64, bytes ? bytes : 64);
    if (!workspace || m->run(inputs, outputs, workspace, 1, NULL) != 0) {
        fprintf(stderr, "%s: run failed\n", m->name);
        return 1;
    }
    printf("P(legit) %.9g\nP(fraud) %.9g\n", probabilities[0], probabilities[1]);
    free(workspace);
    return 0;
}
