/* cpu.h: the CPU check every service binary makes at start.
 *
 * A model compiled for x86-64 records, per code variant, the CPU features
 * its code needs (KilnModel.variants, runtime/kiln_model.h). main() calls
 * rt_cpu_check() before anything runs the model's code, so that a binary
 * built for a newer CPU than the one it runs on stops with a message
 * naming what is missing (exit 3) instead of dying of SIGILL. This file is
 * compiled for baseline x86-64, as all of libkilnrt.a is.
 */
#ifndef RT_CPU_H
#define RT_CPU_H

#include "kiln_model.h"
#include "rt.h"

/* 0 if this CPU has every feature of m's least demanding variant (or m
 * has no variants); -1 with the message in err, naming the missing
 * features and what to rebuild with. */
int rt_cpu_check(const KilnModel *m, char err[RT_ERR_LEN]);

/* The CPU of the variant m->run uses on this CPU; NULL if m has no
 * variants or none fits. Requires: rt_cpu_check(m) passed (it runs the
 * model's dispatcher). */
const char *rt_cpu_selected(const KilnModel *m);

#endif
