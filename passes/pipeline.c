/* pipeline.c: the passes `kiln` runs, in their order (passes.h). */
#include "passes.h"

static const PassInfo pipeline[] = {
    {"loop-sequences", pass_loop_sequences, 1},
    {"check-ops", pass_check_ops, 1},
    {"fold-constants", pass_fold_constants, 1},
    {"fold-control", pass_fold_control, 1},
    {"infer-shapes", pass_infer_shapes, 1},
    {"check-types", pass_check_types, 1},
    {"fold-batchnorm", pass_fold_batchnorm, 0},
    {"fuse-conv-activation", pass_fuse_conv_activation, 0},
    {"fuse-mobile", pass_fuse_mobile, 0},
    {"fuse-transformer", pass_fuse_transformer, 0},
    {"fuse", pass_fuse, 0},
    {"fuse-gelu", pass_fuse_gelu, 0},
    {"fuse-se", pass_fuse_se, 0},
    {"fuse-elementwise", pass_fuse_elementwise, 0},
    {"dce", pass_dce, 0},
    {"plan-memory", pass_plan_memory, 0},
};

const PassInfo *passes_pipeline(int *n) {
    *n = (int)(sizeof pipeline / sizeof *pipeline);
    return pipeline;
}
