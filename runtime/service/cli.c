/* cli.c: the command line of a service binary (cli.h). */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bench.h"
#include "cpu.h"
#include "infer.h"
#include "meta.h"
#include "pool.h"
#include "rt.h"
#include "server.h"

/* A request file larger than this is refused: it would not fit a tensor. */
#define PREDICT_MAX_BYTES ((size_t)2 << 30)

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_ENV = 3 };

typedef struct Cli {
    const KilnModel *m;
    const char *prog; /* argv[0]'s basename, for messages */
    FILE *out, *err;
    KilnThreadPool *pool; /* predict's threads (--threads-per-request); NULL: one */
} Cli;

static int cmd_predict(Cli *c, int argc, char **argv);
static int predict_from(Cli *c, const char *path, int jsonl);
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing);
static int number_parse(const char *s, long long lo, long long hi, long long *out);
static int cmd_info(Cli *c, int argc, char **argv);
static int cmd_serve(Cli *c, int argc, char **argv);
static int cmd_bench(Cli *c, int argc, char **argv);

static const struct {
    const char *name;                         /* argv[1] */
    int (*fn)(Cli *c, int argc, char **argv); /* gets the arguments after the name */
    const char *args;                         /* for the usage text */
    const char *summary;
} commands[] = {
    {"predict", cmd_predict, "[--input FILE|-] [--jsonl] [--threads-per-request N]",
     "read a v2 inference request (JSON) and print the response;\n"
     "                                      --jsonl: one request per line, one response per "
     "line;\n"
     "                                      --threads-per-request: threads each request runs on "
     "(default 1)"},
    {"info", cmd_info, "[--json]", "describe the model; --json: v2 model metadata"},
    {"serve", cmd_serve,
     "[--host 0.0.0.0] [--port 8080] [--workers N] [--threads-per-request N]\n"
     "        [--max-body-bytes 67108864] [--timeout-ms 30000] [--request-timeout-ms 30000]\n"
     "        [--max-connections 1024] [--token-file F]",
     "\n                                      serve the Open Inference Protocol (KServe v2) over "
     "HTTP;\n"
     "                                      --threads-per-request N (default 1): each request "
     "runs on\n"
     "                                      N threads; --workers defaults to cores / N (at "
     "least 1), more\n"
     "                                      is allowed but warned about; --port 0 picks a free "
     "port (the\n"
     "                                      \"ready\" log line says which); SIGTERM drains and "
     "exits 0;\n"
     "                                      --timeout-ms: a connection idle this long is "
     "closed;\n"
     "                                      --request-timeout-ms: each request's head and "
     "body must\n"
     "                                      arrive within it (408); past --max-connections "
     "a client\n"
     "                                      gets 503, the health probes are still answered;\n"
     "                                      a port in use fails at start (exit 3); the "
     "--token-file\n"
     "                                      holds one token of at most 4095 bytes"},
    {"bench", cmd_bench,
     "[--batch N] [--dim NAME=VALUE]... [--iters 1000] [--threads-per-request N]",
     "time the model in-process; prints median_us, p99_us, inferences_per_s as JSON;\n"
     "                                      --threads-per-request: threads each run uses "
     "(default 1);\n"
     "                                      --batch sets the symbol that is every input's dim 0 "
     "(default 1),\n"
     "                                      --dim (repeatable) any symbol; a symbol not given "
     "is at its\n"
     "                                      minimum (`info` lists the symbols and their "
     "ranges)"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage_print(const Cli *c, FILE *f) {
    char version[64];
    fprintf(f, "usage: %s COMMAND [OPTIONS]\n\n", c->prog);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char left[256];
        snprintf(left, sizeof left, "%s %s", commands[i].name, commands[i].args);
        if (strchr(commands[i].args, '\n')) /* long options: the summary goes below */
            fprintf(f, "  %s %s%s\n", commands[i].name, commands[i].args, commands[i].summary);
        else if (strlen(left) >= 36)
            fprintf(f, "  %s\n  %-36s%s\n", left, "", commands[i].summary);
        else
            fprintf(f, "  %-36s%s\n", left, commands[i].summary);
    }
    fprintf(f, "  %-36s%s\n", "--version", "print the model's name and version");
    fprintf(f, "  %-36s%s\n", "help", "print this help");
    fprintf(f, "\nServes the model '%s' version %s, compiled by kiln %s.\n", c->m->name,
            c->m->version, rt_meta_kiln_version(c->m, version, sizeof version));
}

/* `PROG CMD --help`: the one command's usage line and summary. */
static int output_finish(const Cli *c);

static int command_help(const Cli *c, size_t i) {
    const char *summary = commands[i].summary;
    summary += strspn(summary, " \n"); /* serve's starts on its own line */
    fprintf(c->out, "usage: %s %s %s\n\n  ", c->prog, commands[i].name, commands[i].args);
    for (const char *p = summary; *p; p++) { /* re-indent the continuation lines */
        fputc(*p, c->out);
        if (*p == '\n') {
            p += strspn(p + 1, " ");
            fputs("  ", c->out);
        }
    }
    fputc('\n', c->out);
    return output_finish(c);
}

static int usage_error(const Cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const Cli *c, const char *fmt, ...) {
    va_list ap;
    fprintf(c->err, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputs("\n\n", c->err);
    usage_print(c, c->err);
    return EXIT_USAGE;
}

/* Checks that everything written to out got there. */
static int output_finish(const Cli *c) {
    if (fflush(c->out) != 0 || ferror(c->out)) {
        fprintf(c->err, "%s: cannot write the output: %s\n", c->prog, strerror(errno));
        return EXIT_ENV;
    }
    return EXIT_OK;
}

/* Reads all of f into a malloc'd buffer. NULL with errno set on failure
 * (EFBIG if it holds more than max bytes). */
static char *file_slurp(FILE *f, size_t max, size_t *len_out) {
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (len == cap) {
            if (cap > max) { /* read max + 1 bytes: too many */
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            size_t grown = cap * 2 > max + 1 ? max + 1 : cap * 2; /* one past max: to see it */
            char *p = realloc(buf, grown);
            if (!p) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = p;
            cap = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        free(buf);
        errno = e;
        return NULL;
    }
    if (len > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    *len_out = len;
    return buf;
}

/* rt_infer_json() on c's pool. */
static int infer_json(Cli *c, const char *body, size_t len, char **response, size_t *response_len,
                      char err[RT_ERR_LEN]) {
    RtInferResult res;
    int st = rt_infer_run_pool(c->m, body, len, len, 0, c->pool, &res, err);
    *response = res.body;
    if (st == RT_STATUS_OK) *response_len = res.len;
    return st;
}

/* One request from all of in. `shown` names the input in messages. */
static int predict_one(Cli *c, FILE *in, const char *shown) {
    size_t len = 0, out_len = 0;
    char err[RT_ERR_LEN], *response = NULL;
    errno = 0;
    char *body = file_slurp(in, PREDICT_MAX_BYTES, &len);
    if (!body) {
        fprintf(c->err, "%s: predict: cannot read '%s': %s\n", c->prog, shown, strerror(errno));
        return EXIT_INPUT;
    }
    int st = infer_json(c, body, len, &response, &out_len, err);
    free(body);
    if (st != RT_STATUS_OK) {
        fprintf(c->err, "%s: predict: %s: %s\n", c->prog, shown, err);
        return EXIT_INPUT;
    }
    fwrite(response, 1, out_len, c->out);
    fputc('\n', c->out);
    free(response);
    return output_finish(c);
}

/* One request per line of in, one response (or {"error"}) per line of
 * output, so that line n of the output always answers line n of the
 * input. Blank lines are skipped. Fails (1) if any line failed. */
static int predict_lines(Cli *c, FILE *in, const char *shown) {
    char *line = NULL, err[RT_ERR_LEN];
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = EXIT_OK;
    errno = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)n) continue;
        char *text = NULL;
        size_t len = 0;
        int st = infer_json(c, line, (size_t)n, &text, &len, err);
        if (st != RT_STATUS_OK) {
            fprintf(c->err, "%s: predict: %s:%zu: %s\n", c->prog, shown, lineno, err);
            text = rt_infer_error_json(err, &len);
            rc = EXIT_INPUT;
        }
        if (text) {
            fwrite(text, 1, len, c->out);
            fputc('\n', c->out);
            free(text);
        }
        if (ferror(c->out)) break;
    }
    if (ferror(in)) {
        fprintf(c->err, "%s: predict: cannot read '%s': %s\n", c->prog, shown, strerror(errno));
        rc = EXIT_INPUT;
    }
    free(line);
    int wrc = output_finish(c);
    return wrc != EXIT_OK ? wrc : rc;
}

static int cmd_predict(Cli *c, int argc, char **argv) {
    const char *path = "-";
    int jsonl = 0;
    long long threads = 1;
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--input=", 8) == 0)
            path = argv[i] + 8;
        else if (strcmp(argv[i], "--jsonl") == 0)
            jsonl = 1;
        else if ((v = option_value(argc, argv, &i, "--threads-per-request", &missing))) {
            if (number_parse(v, 1, KILN_POOL_MAX_THREADS, &threads) != 0)
                return usage_error(c,
                                   "predict: --threads-per-request must be an integer in 1..%d, "
                                   "got '%s'",
                                   KILN_POOL_MAX_THREADS, v);
        } else if (missing)
            return usage_error(c, "predict: %s needs a value", argv[i]);
        else
            return usage_error(c, "predict: unexpected argument '%s'", argv[i]);
    }
    KilnPool *pool = NULL;
    if (threads > 1 && !(pool = kiln_pool_create((int)threads))) {
        fprintf(c->err, "%s: predict: cannot start %lld threads\n", c->prog, threads - 1);
        return EXIT_ENV;
    }
    c->pool = pool ? kiln_pool_abi(pool) : NULL;
    int rc = predict_from(c, path, jsonl);
    c->pool = NULL;
    kiln_pool_destroy(pool);
    return rc;
}

/* predict's work once its options are read. */
static int predict_from(Cli *c, const char *path, int jsonl) {
    int from_stdin = strcmp(path, "-") == 0;
    const char *shown = from_stdin ? "<stdin>" : path;
    FILE *in = from_stdin ? stdin : fopen(path, "rb");
    if (!in) {
        fprintf(c->err, "%s: predict: cannot open '%s': %s\n", c->prog, path, strerror(errno));
        return EXIT_INPUT;
    }
    int rc = jsonl ? predict_lines(c, in, shown) : predict_one(c, in, shown);
    if (!from_stdin) fclose(in);
    return rc;
}

static int names_width(const KilnTensorInfo *t, int n, int width) {
    for (int i = 0; i < n; i++)
        if ((int)strlen(t[i].name) > width) width = (int)strlen(t[i].name);
    return width;
}

static void tensors_print(const Cli *c, const char *title, const KilnTensorInfo *t, int n,
                          int width) {
    fprintf(c->out, "%s:\n", title);
    for (int i = 0; i < n; i++) {
        char shape[256];
        fprintf(c->out, "  %-*s  %-6s %s\n", width, t[i].name, rt_dtype_name(t[i].dtype),
                rt_dims_format(shape, sizeof shape, &t[i]));
    }
}

static int cmd_info(Cli *c, int argc, char **argv) {
    int as_json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else
            return usage_error(c, "info: unexpected argument '%s'", argv[i]);
    }
    if (as_json) {
        json_t *meta = rt_meta_json(c->m);
        if (!meta || json_dumpf(meta, c->out, JSON_INDENT(2)) != 0) {
            json_decref(meta);
            fprintf(c->err, "%s: info: cannot write the metadata\n", c->prog);
            return EXIT_ENV;
        }
        json_decref(meta);
        fputc('\n', c->out);
        return output_finish(c);
    }
    char version[64];
    fprintf(c->out, "%s %s (kiln %s)\n", c->m->name, c->m->version,
            rt_meta_kiln_version(c->m, version, sizeof version));
    fprintf(c->out, "sha256: %s\n", c->m->sha256 ? c->m->sha256 : "unknown");
    if (c->m->n_variants > 0) {
        const char *sel = rt_cpu_selected(c->m);
        fprintf(c->out, "cpu: %s (compiled for", sel ? sel : "none fits");
        for (int i = 0; i < c->m->n_variants; i++)
            fprintf(c->out, "%s %s", i ? "," : "", c->m->variants[i].cpu);
        fprintf(c->out, ")\n");
    }
    int width =
        names_width(c->m->outputs, c->m->n_outputs, names_width(c->m->inputs, c->m->n_inputs, 4));
    tensors_print(c, "inputs", c->m->inputs, c->m->n_inputs, width);
    tensors_print(c, "outputs", c->m->outputs, c->m->n_outputs, width);
    char syms[1024];
    fprintf(c->out, "symbols: %s\n", rt_syms_format(syms, sizeof syms, c->m));
    return output_finish(c);
}

/* An option with a value, as "--name V" or "--name=V". Returns the value
 * and advances *i, or NULL if argv[*i] is not that option. *missing is set
 * if the option is there without a value. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* A decimal integer in [lo, hi], the whole string. 0, or -1. */
static int number_parse(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int cmd_serve(Cli *c, int argc, char **argv) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    RtServeOptions o = {
        .host = "0.0.0.0",
        .port = 8080,
        .workers = cores > 0 ? (int)(cores > 256 ? 256 : cores) : 1,
        .threads_per_request = 1,
        .max_body_bytes = 67108864,
        .timeout_ms = 30000,
        .request_timeout_ms = 30000,
        .max_connections = 1024,
    };
    const char *token_file = NULL;
    int workers_given = 0;
    static const struct {
        const char *name;
        long long lo, hi;
    } numeric[] = {
        {"--port", 0, 65535},
        {"--workers", 1, 256},
        {"--threads-per-request", 1, 256},
        {"--max-body-bytes", 1, (long long)1 << 40},
        {"--timeout-ms", 1, 3600000},
        {"--max-connections", 1, 1000000},
        {"--request-timeout-ms", 1, 3600000},
    };
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        if ((v = option_value(argc, argv, &i, "--host", &missing))) {
            o.host = v;
            continue;
        }
        if ((v = option_value(argc, argv, &i, "--token-file", &missing))) {
            token_file = v;
            continue;
        }
        size_t k = 0;
        for (; !missing && k < sizeof numeric / sizeof numeric[0]; k++)
            if ((v = option_value(argc, argv, &i, numeric[k].name, &missing))) break;
        if (missing) return usage_error(c, "serve: %s needs a value", argv[i]);
        if (k == sizeof numeric / sizeof numeric[0])
            return usage_error(c, "serve: unexpected argument '%s'", argv[i]);
        long long n;
        if (number_parse(v, numeric[k].lo, numeric[k].hi, &n) != 0)
            return usage_error(c, "serve: %s must be an integer in %lld..%lld, got '%s'",
                               numeric[k].name, numeric[k].lo, numeric[k].hi, v);
        switch (k) {
        case 0:
            o.port = (int)n;
            break;
        case 1:
            o.workers = (int)n;
            workers_given = 1;
            break;
        case 2:
            o.threads_per_request = (int)n;
            break;
        case 3:
            o.max_body_bytes = (size_t)n;
            break;
        case 4:
            o.timeout_ms = (int)n;
            break;
        case 5:
            o.max_connections = (int)n;
            break;
        default:
            o.request_timeout_ms = (int)n;
        }
    }
    /* Each worker runs a request on threads_per_request threads: by
     * default as many workers as fit the cores that way. */
    if (!workers_given && o.threads_per_request > 1) {
        long w = cores / o.threads_per_request;
        o.workers = w < 1 ? 1 : w > 256 ? 256 : (int)w;
    }
    if (rt_host_check(o.host) != 0)
        return usage_error(c,
                           "serve: --host '%s' is not an IP address; give an IPv4 or IPv6 "
                           "literal (0.0.0.0, 127.0.0.1, ::) or localhost",
                           o.host);
    char msg[RT_ERR_LEN];
    static char token[RT_TOKEN_MAX]; /* lives as long as the server */
    if (token_file) {
        int trc = rt_auth_token_load(token_file, token, msg);
        if (trc != 0) {
            fprintf(c->err, "%s: serve: %s\n", c->prog, msg);
            return trc == -2 ? EXIT_USAGE : EXIT_ENV;
        }
        o.token = token;
    }
    int rc = rt_server_run(c->m, &o, c->err, msg);
    memset(token, 0, sizeof token);
    if (rc != 0) {
        fprintf(c->err, "%s: serve: %s\n", c->prog, msg);
        return EXIT_ENV;
    }
    return EXIT_OK;
}

static int cmd_bench(Cli *c, int argc, char **argv) {
    long long batch = 1, iters = 1000, threads = 1;
    int batch_given = 0, n_dims = 0;
    char **dims = calloc((size_t)argc + 1, sizeof *dims); /* the --dim values, in argv */
    int64_t *syms = calloc((size_t)c->m->n_syms + 1, sizeof *syms);
    char msg[RT_ERR_LEN];
    int rc = EXIT_USAGE;
    if (!dims || !syms) {
        fprintf(c->err, "%s: bench: out of memory\n", c->prog);
        rc = EXIT_ENV;
        goto out;
    }
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        long long *dst = NULL, hi = 0;
        const char *name = argv[i];
        if ((v = option_value(argc, argv, &i, "--dim", &missing))) {
            dims[n_dims++] = (char *)v;
            continue;
        }
        if (!missing && (v = option_value(argc, argv, &i, "--batch", &missing)))
            dst = &batch, hi = 1 << 24, batch_given = 1;
        else if (!missing && (v = option_value(argc, argv, &i, "--iters", &missing)))
            dst = &iters, hi = 100000000;
        else if (!missing && (v = option_value(argc, argv, &i, "--threads-per-request", &missing)))
            dst = &threads, hi = 256;
        if (missing) {
            rc = usage_error(c, "bench: %s needs a value", argv[i]);
            goto out;
        }
        if (!dst) {
            rc = usage_error(c, "bench: unexpected argument '%s'", argv[i]);
            goto out;
        }
        if (number_parse(v, 1, hi, dst) != 0) {
            rc = usage_error(c, "bench: %.*s must be an integer in 1..%lld, got '%s'",
                             (int)strcspn(name, "="), name, hi, v);
            goto out;
        }
    }
    if (rt_bench_syms(c->m, batch, batch_given, dims, n_dims, syms, msg) != 0) {
        rc = usage_error(c, "bench: %s", msg);
        goto out;
    }
    if (rt_bench_run(c->m, syms, (long)iters, (int)threads, c->out, msg) != 0) {
        fprintf(c->err, "%s: bench: %s\n", c->prog, msg);
        rc = EXIT_INPUT;
        goto out;
    }
    rc = output_finish(c);
out:
    free(dims);
    free(syms);
    return rc;
}

int rt_cli_main(const KilnModel *m, int argc, char **argv, FILE *out, FILE *err) {
    Cli c = {.m = m, .prog = m->name ? m->name : "kiln-model", .out = out, .err = err};
    if (argc > 0 && argv[0] && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        c.prog = slash ? slash + 1 : argv[0];
    }
    char msg[RT_ERR_LEN];
    if (rt_meta_check(m, msg) != 0) {
        fprintf(err, "%s: %s\n", c.prog, msg);
        return EXIT_ENV;
    }
    if (argc < 2) return usage_error(&c, "missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        for (size_t i = 0; argc > 2 && strcmp(cmd, "help") == 0 && i < N_COMMANDS; i++)
            if (strcmp(argv[2], commands[i].name) == 0) return command_help(&c, i);
        usage_print(&c, out);
        return output_finish(&c);
    }
    if (strcmp(cmd, "--version") == 0) {
        char version[64];
        fprintf(out, "%s %s (kiln %s)\n", m->name, m->version,
                rt_meta_kiln_version(m, version, sizeof version));
        return output_finish(&c);
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(cmd, commands[i].name) != 0) continue;
        for (int k = 2; k < argc; k++)
            if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0)
                return command_help(&c, i);
        return commands[i].fn(&c, argc - 2, argv + 2);
    }
    return usage_error(&c, "unknown command '%s'", cmd);
}
