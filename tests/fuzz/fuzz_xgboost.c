/* fuzz_xgboost.c: an XGBoost JSON model's bytes through what `kiln check`
 * and `kiln inspect` do with it: xgb_load(), then the optimiser's passes in
 * the driver's order, without codegen.
 *
 * Contract checked: xgb_load() returns 0 with a graph and no diagnostic, or
 * -1 with no graph and at least one; a pass returns -1 exactly when it
 * reported something; a model's fault is always exit class 1; the graph
 * verifies after every pass (in builds with assertions).
 */
#include "frontends.h"
#include "fuzz.h"
#include "passes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Diag d;
    diag_init(&d, fuzz_diag_sink());
    Arena *a = arena_create(1 << 16);
    Graph *g = NULL;
    int rc = xgb_load(a, "fuzz.json", data, size, NULL, &g, &d);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == 0 ? g != NULL && diag_count(&d) == 0 : g == NULL && diag_count(&d) > 0);
    int n;
    const PassInfo *pipeline = passes_pipeline(&n);
    for (int i = 0; g && i < n; i++) {
        if (!pipeline[i].analysis && diag_count(&d)) break;
        int before = diag_count(&d);
        int prc = pipeline[i].fn(g, &d);
        FUZZ_CHECK(prc == 0 || prc == -1);
        FUZZ_CHECK((prc == -1) == (diag_count(&d) > before));
#ifndef NDEBUG
        Diag vd;
        diag_init(&vd, stderr);
        FUZZ_CHECK(ir_graph_verify(g, &vd) == 0);
#endif
    }
    FUZZ_CHECK(diag_count(&d) == 0 || d.exit_code == EXIT_MODEL);
    arena_destroy(a);
    return 0;
}
