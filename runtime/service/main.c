/* main.c: the entry point of every service binary. It is alone in its
 * file so that programs with their own main() (the unit tests) can link
 * libkilnrt.a without it. kiln_model comes from the compiled model. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "kiln_model.h"

int main(int argc, char **argv) {
    /* First of all, before any of the model's code runs: a CPU without the
     * features that code was compiled for is an exit 3 that says so, not
     * a SIGILL. (This file, like all of libkilnrt.a, is compiled for
     * baseline x86-64.) */
    char err[RT_ERR_LEN];
    if (rt_cpu_check(&kiln_model, err)) {
        const char *prog = argc > 0 && argv[0] ? argv[0] : kiln_model.name;
        fprintf(stderr, "%s: %s\n", strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog, err);
        return 3;
    }
    /* A closed stdout (`OUT predict | head`) is then a write error with an
     * exit code, not a death by signal. */
    signal(SIGPIPE, SIG_IGN);
    return rt_cli_main(&kiln_model, argc, argv, stdout, stderr);
}
