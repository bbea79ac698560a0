/* fuzz_model.c: an ONNX model's bytes through what `kiln check` and
 * `kiln inspect` do: onnx_load(), then the optimiser's passes in the
 * driver's order, without codegen (LLVM is far too slow to fuzz).
 *
 * Contract checked: onnx_load() returns 0 with a graph and no diagnostic,
 * or -1 with no graph and at least one; a pass returns -1 exactly when it
 * reported something; a model's fault is never exit class 3; the graph
 * verifies after every pass (in builds with assertions, as the driver).
 * External data is looked up next to a model path that does not exist, so
 * no input reaches the file system.
 */
#include <string.h>

#include "frontends.h"
#include "fuzz.h"
#include "passes.h"

/* The driver's pipeline (passes_pipeline), run as the driver runs it:
 * analysis passes even after one of them failed, the rest only on a
 * clean graph. */
static void pipeline_run(Graph *g, Diag *d) {
    int n;
    const PassInfo *pipeline = passes_pipeline(&n);
    for (int i = 0; i < n; i++) {
        if (!pipeline[i].analysis && diag_count(d)) return;
        int before = diag_count(d);
        int rc = pipeline[i].fn(g, d);
        if (getenv("KILN_FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz_model: pass %s: %d\n", pipeline[i].name, rc);
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK((rc == -1) == (diag_count(d) > before)); /* no silent failure */
#ifndef NDEBUG
        Diag vd; /* what the driver prints before it aborts */
        diag_init(&vd, stderr);
        if (ir_graph_verify(g, &vd) != 0) {
            fprintf(stderr, "fuzz_model.c: fuzz check failed: graph invalid after pass '%s'\n",
                    pipeline[i].name);
            abort();
        }
#endif
        if (strcmp(pipeline[i].name, "check-types") == 0 && diag_count(d) == 0)
            (void)flops_graph_count(g); /* what `kiln inspect` prints */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Diag d;
    diag_init(&d, fuzz_diag_sink());
    Arena *a = arena_create(1 << 16);
    Graph *g = NULL;
    int rc = onnx_load(a, "/nonexistent-kiln-fuzz/model.onnx", data, size, NULL, &g, &d);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(rc == 0 ? g != NULL && diag_count(&d) == 0 : g == NULL && diag_count(&d) > 0);
    if (g) pipeline_run(g, &d);
    FUZZ_CHECK(diag_count(&d) == 0 || d.exit_code == EXIT_MODEL);
    arena_destroy(a);
    return 0;
}
