/* cli.h: the command line of a service binary.
 *
 *     OUT predict [--input FILE|-] [--jsonl]   v2 request JSON in, v2 response JSON out
 *     OUT info [--json]                        the model's signature (v2 metadata with --json)
 *     OUT serve [--host H] [--port P] ...      the v2 HTTP server (server.h)
 *     OUT bench [--batch N] [--dim S=V] ...    in-process latency as one JSON line (bench.h)
 *     OUT --version | help
 *
 * main.c calls rt_cli_main() with the model linked into the binary; tests
 * call it with a fake model and temporary files. Results go to `out`,
 * messages to `err`, each starting with the program name (argv[0]'s
 * basename). Nothing here exits or keeps state between calls; `serve`
 * returns when the server has drained after SIGTERM/SIGINT.
 *
 * Exit codes, as DESIGN.md has them: 0 ok, 1 the request (or the model
 * at run time) is at fault or the input cannot be read, 2 bad usage,
 * 3 an environment fault (the output cannot be written, the model does
 * not fit this runtime).
 */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

#include "kiln_model.h"

int rt_cli_main(const KilnModel *m, int argc, char **argv, FILE *out, FILE *err);

#endif
