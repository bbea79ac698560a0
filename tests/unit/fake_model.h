/* fake_model.h: the hand-written models of fake_model.c, standing in for
 * compiled ones in the runtime's unit tests (test_rt_*.c).
 *
 * `kiln_model` (kiln_model.h declares it) has two symbols, batch [1, 64]
 * and len [1, 16]:
 *
 *     inputs:  x      FP32  [batch,len]
 *              scale  FP32  [1]
 *     outputs: y      FP32  [batch,len]     y = x * scale + 1
 *              rowsum FP32  [batch,1]       sum of each row of y
 *              argmax INT64 [batch]         index of the largest y in each row
 *              pairs  FP32  [batch,len/2]   y[b][2j] + y[b][2j+1]
 *
 * Its shapes() does what generated ones do: each dim against its bounds
 * (check sites 1 and 2), the fixed dim of scale (3), and len/2 >= 1 (4:
 * len 1 is in len's range, but too small for pairs).
 *
 * `fake_static_model` has no symbols: x FP32 [2,3] -> y FP32 [2,3], y =
 * 2 * x; its check sites are x's two dims.
 *
 * `fake_text_model` has one symbol at dim 0 of every tensor, as a text
 * model's batch is, and one shared by its inputs, batch [1, 8] and seq
 * [1, 512]: tokens INT64 [batch,seq], mask FP32 [batch,seq] -> masked FP32
 * [batch,seq] (tokens * mask) and twice FP32 [batch,seq*2] (each masked
 * value twice).
 *
 * The first two run()s keep a row of results in the workspace, so a workspace
 * that is too small shows up under ASan, and return 99 (no check site) if
 * the workspace is not 64-byte aligned, as the ABI promises it is.
 */
#ifndef FAKE_MODEL_H
#define FAKE_MODEL_H

#include "kiln_model.h"

extern const KilnModel fake_static_model;
extern const KilnModel fake_text_model;

#endif
