/* main.c: the entry point of every service binary. It is alone in its
 * file so that programs with their own main() (the unit tests) can link
 * libkilnrt.a without it. kiln_model comes from the compiled model. */
#include <signal.h>
#include <stdio.h>

#include "cli.h"
#include "kiln_model.h"

int main(int argc, char **argv) {
    /* A closed stdout (`OUT predict | head`) is then a write error with an
     * exit code, not a death by signal. */
    signal(SIGPIPE, SIG_IGN);
    return rt_cli_main(&kiln_model, argc, argv, stdout, stderr);
}
