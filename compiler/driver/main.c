/* main.c: the kiln command line. Parses flags into DriverOptions (with
 * getopt_long) and hands over to driver.c; nothing else happens here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
static const char usage_text[] =
    "usage:\n"
    "  kiln compile MODEL.onnx -o OUT [--emit exe|obj|lib|llvm|asm|archive|oci] [--name N]\n"
    "               [--model-version V] [-O0..-O3] [--target TRIPLE] [--cpu CPU[,CPU...]]\n"
    "               [--shape NAME=DIMS]... [--dim SYM=MIN..MAX]... [--trees auto|code|table]\n"
    "               [--conv auto|direct] [--loop-bound [NODE=]N]... [--dump-after PASS]\n"
    "  kiln run MODEL.onnx [--input [NAME=]FILE]... [--out-dir DIR] [--shape NAME=DIMS]...\n"
    "  kiln inspect MODEL.onnx [--json]\n"
    "  kiln check MODEL.onnx\n"
    "  kiln ops [--json]\n"
    "  kiln verify ARCHIVE.tar.gz\n"
    "  kiln --version | help [COMMAND]\n"
    "\n"
    "compile  turns MODEL.onnx into a static service binary OUT (see `OUT help`)\n"
    "run      runs the model once through the JIT; FILE is .npy or .pb (TensorProto);\n"
    "         writes DIR/<output name>.npy for every output\n"
    "inspect  inputs, outputs, ops, parameters, FLOPs and planned memory\n"
    "check    reports every problem kiln finds in the model; exit 1 if any\n"
    "ops      the supported ONNX ops and opset ranges\n"
    "verify   checks a release archive (--emit archive): SHA256SUMS, manifest, SBOM\n"
    "\n"
    "`kiln COMMAND --help` shows the options of one command.\n"
    "DIMS is like 1x3x224x224 (pinned) or 1..64x3x32..2048x32..2048 (ranges); ? keeps\n"
    "a dim as the model has it. A model's dynamic dims (its dim_params: batch, seq) are\n"
    "symbols with bounds, 1..4096 unless --shape or --dim SYM=MIN..MAX says otherwise.\n"
    "exit codes: 0 ok, 1 the model or input is at fault, 2 bad usage, 3 environment\n";

/* One subcommand: its driver function and its --help text, whose first
 * line is the usage line. Every command accepts every option (as kiln
 * always has); the help lists the ones that matter to it. */
typedef struct Command {
    const char *name;
    int (*run)(const DriverOptions *o);
    const char *help;
} Command;

static const Command commands[] = {
    {"compile", driver_compile,
     "usage: kiln compile MODEL.onnx -o OUT [options]\n"
     "\n"
     "Turns MODEL.onnx into a static service binary OUT (see `OUT help`).\n"
     "\n"
     "options:\n"
     "  -o OUT                   the file to write (required)\n"
     "  --emit KIND              what to write: exe, a service binary (default); obj,\n"
     "                           an object file; lib, a static library (.a); llvm,\n"
     "                           LLVM IR; asm, assembly. obj and lib also write a C\n"
     "                           header, OUT with its extension replaced by .h\n"
     "                           (fraud.o: fraud.h), and export kiln_model_<N> (N as a\n"
     "                           C identifier) so that programs can embed models\n"
     "  --emit oci               an OCI image tarball holding the service binary, tagged\n"
     "                           V (`skopeo copy oci-archive:OUT:V ...`, `docker load`)\n"
     "  --emit archive           a release archive (.tar.gz: the binary, manifest.json, a\n"
     "                           CycloneDX SBOM, SHA256SUMS, Kubernetes and KServe files;\n"
     "                           reproducible, dated by SOURCE_DATE_EPOCH)\n"
     "  --name N                 the model's name in URLs (default: the file's stem)\n"
     "  --model-version V        the version it is served as (default 1)\n"
     "  -O0..-O3                 optimisation level (default -O3)\n"
     "  --target TRIPLE          compile for TRIPLE (default: this machine)\n"
     "  --cpu CPU[,CPU...]       the CPU(s) to compile for (default: native, this\n"
     "                           machine's, the fastest here); a list such as\n"
     "                           " DRIVER_PORTABLE_CPUS "\n"
     "                           puts one copy of the code per CPU into the binary\n"
     "                           (weights shared), which runs the best one the CPU\n"
     "                           has; a binary started on a CPU without what it\n"
     "                           needs exits 3 naming the missing features\n"
     "  --shape NAME=DIMS        the shape of input NAME: each dim a size (pinned), a\n"
     "                           range MIN..MAX (dynamic within it) or ? (as the\n"
     "                           model has it), like 1..64x3x224x224; repeatable\n"
     "  --dim SYM=MIN..MAX       the bounds of the model's dynamic dim SYM (a\n"
     "                           dim_param such as seq), or SYM=SIZE to pin it;\n"
     "                           default 1..4096; repeatable\n"
     "  --trees FORM             tree ensembles as: auto (default) compare-and-branch\n"
     "                           code for batches under 32 rows when the ensemble has\n"
     "                           at most 16,384 branches, a table walked 32 rows at a\n"
     "                           time otherwise; code (always, however long it takes\n"
     "                           to compile); table (always: the fastest to compile)\n"
     "  --conv METHOD            convolutions as: auto (default) 3x3 stride-1 ones by\n"
     "                           Winograd's method, fewer multiplications (outputs\n"
     "                           within some 1e-6 of their scale), weights up to 4\n"
     "                           times the model's; direct (the plain sum: weights of\n"
     "                           the model's size, a smaller binary, slower)\n"
     "  --loop-bound [NODE=]N    at most N iterations of Loop NODE (without NODE=: of\n"
     "                           every Loop no flag names), for a Loop with scan\n"
     "                           outputs (stacked results) whose iterations only the\n"
     "                           run knows; they are planned for N slices, and a run\n"
     "                           that needs more fails naming the node (HTTP 400).\n"
     "                           Default: the trip count M where it is known when\n"
     "                           compiling, else 4096; repeatable\n"
     "  --dump-after PASS        print the IR after PASS (import, check-ops, ...)\n"
     "  -h, --help               this help\n"},
    {"run", driver_run,
     "usage: kiln run MODEL.onnx [--input [NAME=]FILE]... [--out-dir DIR] [options]\n"
     "\n"
     "Runs the model once through the JIT and writes DIR/<output name>.npy for\n"
     "every output.\n"
     "\n"
     "options:\n"
     "  --input [NAME=]FILE      a graph input, by name or in order; FILE is .npy or\n"
     "                           .pb (an ONNX TensorProto); repeatable\n"
     "  -o, --out-dir DIR        where the outputs go (default .)\n"
     "  --shape NAME=DIMS        the shape of input NAME, like 1..64x3x224x224; repeatable\n"
     "  --dim SYM=MIN..MAX       the bounds of dynamic dim SYM (or SYM=SIZE); repeatable\n"
     "  --trees auto|code|table  tree ensembles' form (see `kiln compile --help`)\n"
     "  --conv auto|direct       convolutions' method (see `kiln compile --help`)\n"
     "  --loop-bound [NODE=]N    at most N iterations of Loop NODE (`kiln compile --help`)\n"
     "  -O0..-O3                 optimisation level (default -O3)\n"
     "  --dump-after PASS        print the IR after PASS\n"
     "  -h, --help               this help\n"},
    {"inspect", driver_inspect,
     "usage: kiln inspect MODEL.onnx [--json] [options]\n"
     "\n"
     "Shows inputs, outputs, ops, parameters, FLOPs and planned memory.\n"
     "\n"
     "options:\n"
     "  --json                   as one JSON object\n"
     "  --shape NAME=DIMS        the shape of input NAME, like 1..64x3x224x224; repeatable\n"
     "  --dim SYM=MIN..MAX       the bounds of dynamic dim SYM (or SYM=SIZE); repeatable\n"
     "  --dump-after PASS        print the IR after PASS\n"
     "  -h, --help               this help\n"},
    {"check", driver_check,
     "usage: kiln check MODEL.onnx [options]\n"
     "\n"
     "Reports every problem kiln finds in the model; exit 1 if any.\n"
     "\n"
     "options:\n"
     "  --shape NAME=DIMS        the shape of input NAME, like 1..64x3x224x224; repeatable\n"
     "  --dim SYM=MIN..MAX       the bounds of dynamic dim SYM (or SYM=SIZE); repeatable\n"
     "  --dump-after PASS        print the IR after PASS\n"
     "  -h, --help               this help\n"},
    {"ops", driver_ops,
     "usage: kiln ops [--json]\n"
     "\n"
     "Lists the supported ONNX ops and opset ranges.\n"
     "\n"
     "options:\n"
     "  --json                   as a JSON array\n"
     "  -h, --help               this help\n"},
    {"verify", driver_verify,
     "usage: kiln verify ARCHIVE.tar.gz\n"
     "\n"
     "Checks a release archive written by `kiln compile --emit archive`: every file\n"
     "against SHA256SUMS (none missing, none extra), and the manifest, the SBOM and\n"
     "the binary against each other. Exit 0: \"verified N files\"; exit 1 names each\n"
     "file that differs, is missing or is extra.\n"
     "\n"
     "options:\n"
     "  -h, --help               this help\n"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof *commands)

static const Command *command_find(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* "kiln: MESSAGE" and a hint at the usage (of cmd, if known); exit 2. */
static int usage_error(const Command *cmd, const char *fmt, const char *arg) {
    fputs("kiln: ", stderr);
    fprintf(stderr, fmt, arg);
    if (cmd)
        fprintf(stderr, "\n  hint: `kiln %s --help` shows the usage\n", cmd->name);
    else
        fputs("\n  hint: `kiln help` shows the usage\n", stderr);
    return EXIT_USAGE;
}

/* One size of a --shape or --dim flag: 1 to 2^31-1 in plain decimal
 * digits (no sign, no spaces: strtoll alone would take "+5" and " 5").
 * Advances *p; -1 if there is none. */
static int64_t parse_size(const char **p) {
    if (**p < '0' || **p > '9') return -1;
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (errno == ERANGE || v < 1 || v > KILN_MAX_DIM) return -1;
    *p = end;
    return v;
}

/* "A..B" or "A" into lo/hi at *p; NULL ok, or what is wrong. */
static const char *parse_range(const char **p, int64_t *lo, int64_t *hi) {
    *lo = *hi = parse_size(p);
    if (*lo < 0) return "each dimension is a size from 1 to 2^31-1, a range MIN..MAX, or ?";
    if ((*p)[0] == '.' && (*p)[1] == '.') {
        *p += 2;
        *hi = parse_size(p);
        if (*hi < 0) return "a range is MIN..MAX with sizes from 1 to 2^31-1";
        if (*hi < *lo) return "a range MIN..MAX needs MIN <= MAX";
    }
    return NULL;
}

/* "x=1x3x224x224", "x=1..64x3x32..2048x32..2048", "x=?x3x224x224" (? or N:
 * as the model has it). The name is copied into name_buf, which outlives
 * the pin (it sits in main's frame). NULL ok, or what is wrong with arg. */
static const char *parse_pin(const char *arg, OnnxPin *pin, char name_buf[DRIVER_PIN_NAME_MAX]) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) return "expected NAME=DIMS such as x=1..64x3x224x224";
    size_t n = (size_t)(eq - arg);
    if (n >= DRIVER_PIN_NAME_MAX) return "the input name is too long";
    memcpy(name_buf, arg, n);
    name_buf[n] = 0;
    pin->name = name_buf;
    pin->rank = 0;
    const char *p = eq + 1;
    for (;;) {
        if (pin->rank == IR_MAX_RANK) return "too many dimensions";
        if (*p == 'N' || *p == '?') {
            pin->lo[pin->rank] = pin->hi[pin->rank] = -1;
            p++;
        } else {
            const char *why = parse_range(&p, &pin->lo[pin->rank], &pin->hi[pin->rank]);
            if (why) return why;
        }
        pin->rank++;
        if (!*p) return NULL;
        if (*p != 'x') return "dimensions are separated by 'x' (like 1..64x3x224x224)";
        p++;
    }
}

/* "seq=1..512" or "seq=128". */
static const char *parse_dim(const char *arg, OnnxDimBound *b, char name_buf[DRIVER_PIN_NAME_MAX]) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) return "expected SYM=MIN..MAX or SYM=SIZE such as seq=1..512";
    size_t n = (size_t)(eq - arg);
    if (n >= DRIVER_PIN_NAME_MAX) return "the name is too long";
    memcpy(name_buf, arg, n);
    name_buf[n] = 0;
    b->name = name_buf;
    const char *p = eq + 1;
    const char *why = parse_range(&p, &b->lo, &b->hi);
    if (!why && *p) why = "expected SYM=MIN..MAX or SYM=SIZE such as seq=1..512";
    return why;
}

/* --loop-bound [NODE=]N, N in 0..KILN_MAX_DIM iterations. */
static const char *parse_loop_bound(const char *arg, DriverLoopBound *b,
                                    char name_buf[DRIVER_PIN_NAME_MAX]) {
    const char *eq = strrchr(arg, '='), *num = eq ? eq + 1 : arg;
    b->node = NULL;
    if (eq) {
        size_t n = (size_t)(eq - arg);
        if (n == 0) return "the node name before '=' is empty";
        if (n >= DRIVER_PIN_NAME_MAX) return "the name is too long";
        memcpy(name_buf, arg, n);
        name_buf[n] = 0;
        b->node = name_buf;
    }
    char *end;
    errno = 0;
    long long v = strtoll(num, &end, 10);
    if (!*num || *end || errno || v < 0 || v > 0x7fffffff)
        return "expected [NODE=]N with N a number of iterations from 0 to 2147483647, such as "
               "loop=512";
    b->n = v;
    return NULL;
}

/* Options without a short form. */
enum {
    OPT_EMIT = 256,
    OPT_NAME,
    OPT_MODEL_VERSION,
    OPT_TARGET,
    OPT_CPU,
    OPT_DUMP_AFTER,
    OPT_JSON,
    OPT_SHAPE,
    OPT_DIM,
    OPT_INPUT,
    OPT_TREES,
    OPT_CONV,
    OPT_LOOP_BOUND,
};

static const struct option long_options[] = {
    {"out-dir", required_argument, NULL, 'o'},
    {"emit", required_argument, NULL, OPT_EMIT},
    {"name", required_argument, NULL, OPT_NAME},
    {"model-version", required_argument, NULL, OPT_MODEL_VERSION},
    {"target", required_argument, NULL, OPT_TARGET},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"dump-after", required_argument, NULL, OPT_DUMP_AFTER},
    {"json", no_argument, NULL, OPT_JSON},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"dim", required_argument, NULL, OPT_DIM},
    {"input", required_argument, NULL, OPT_INPUT},
    {"trees", required_argument, NULL, OPT_TREES},
    {"conv", required_argument, NULL, OPT_CONV},
    {"loop-bound", required_argument, NULL, OPT_LOOP_BOUND},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The option as the user wrote it, for messages: "--emit" (without any
 * "=value"), or "-o". */
static const char *option_text(char buf[64], char *const *argv, int optind_now, int opt) {
    const char *typed = argv[optind_now - 1];
    if (!strncmp(typed, "--", 2)) {
        snprintf(buf, 64, "%.*s", (int)strcspn(typed, "="), typed);
        return buf;
    }
    snprintf(buf, 64, "-%c", opt > 0 && opt < 128 ? opt : '?');
    return buf;
}

/* Parses the options of cmd (args[0] is the command name) into o. Returns
 * -1 to go on, or the exit code: 0 after --help, 2 after bad usage. The
 * optstring starts with '-': options and operands are taken in the order
 * given (`kiln compile m.onnx -o out` works, whatever POSIXLY_CORRECT
 * says, and argv is never permuted, so the manifest keeps the command line
 * as typed); ':' makes a missing value its own case. */
static int parse_options(const Command *cmd, int argc, char **args, DriverOptions *o) {
    char opt_buf[64];
    opterr = 0;
    optind = 1;
    const char *why;
    for (;;) {
        int c = getopt_long(argc, args, "-:o:O:h", long_options, NULL);
        if (c == -1) break;
        const char *opt = option_text(opt_buf, args, optind, c == '?' || c == ':' ? optopt : c);
        switch (c) {
        case 1: /* an operand: the model */
            if (o->model) return usage_error(cmd, "unexpected argument '%s'", optarg);
            o->model = optarg;
            break;
        case 'h':
            fputs(cmd->help, stdout);
            return EXIT_OK;
        case 'o':
            o->out = optarg;
            break;
        case 'O':
            if (optarg[0] < '0' || optarg[0] > '3' || optarg[1])
                return usage_error(cmd, "unknown option '-O%s'", optarg);
            o->opt_level = optarg[0] - '0';
            break;
        case OPT_EMIT:
            o->emit = optarg;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case OPT_MODEL_VERSION:
            o->version = optarg;
            break;
        case OPT_TARGET:
            o->triple = optarg;
            break;
        case OPT_CPU:
            o->cpu = optarg;
            break;
        case OPT_DUMP_AFTER:
            o->dump_after = optarg;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_TREES:
            if (!strcmp(optarg, "auto"))
                o->trees = 0;
            else if (!strcmp(optarg, "code"))
                o->trees = 1;
            else if (!strcmp(optarg, "table"))
                o->trees = 2;
            else
                return usage_error(cmd, "--trees '%s': expected auto, code or table", optarg);
            break;
        case OPT_CONV:
            if (!strcmp(optarg, "auto"))
                o->conv = 0;
            else if (!strcmp(optarg, "direct"))
                o->conv = 1;
            else
                return usage_error(cmd, "--conv '%s': expected auto or direct", optarg);
            break;
        case OPT_SHAPE:
            if (o->n_pins == DRIVER_MAX_PINS) return usage_error(cmd, "too many %s flags", opt);
            why = parse_pin(optarg, &o->pins[o->n_pins], o->pin_names[o->n_pins]);
            if (why) {
                char msg[512];
                snprintf(msg, sizeof msg, "--shape '%.300s': %s", optarg, why);
                return usage_error(cmd, "%s", msg);
            }
            o->n_pins++;
            break;
        case OPT_DIM:
            if (o->n_dims == DRIVER_MAX_PINS) return usage_error(cmd, "too many %s flags", opt);
            why = parse_dim(optarg, &o->dims[o->n_dims], o->dim_names[o->n_dims]);
            if (why) {
                char msg[512];
                snprintf(msg, sizeof msg, "--dim '%.300s': %s", optarg, why);
                return usage_error(cmd, "%s", msg);
            }
            o->n_dims++;
            break;
        case OPT_LOOP_BOUND:
            if (o->n_loop_bounds == DRIVER_MAX_PINS)
                return usage_error(cmd, "too many %s flags", opt);
            why = parse_loop_bound(optarg, &o->loop_bounds[o->n_loop_bounds],
                                   o->loop_bound_names[o->n_loop_bounds]);
            if (why) {
                char msg[512];
                snprintf(msg, sizeof msg, "--loop-bound '%.300s': %s", optarg, why);
                return usage_error(cmd, "%s", msg);
            }
            o->n_loop_bounds++;
            break;
        case OPT_INPUT:
            if (o->n_inputs == DRIVER_MAX_INPUTS) return usage_error(cmd, "too many %s flags", opt);
            o->inputs[o->n_inputs++] = optarg;
            break;
        case ':':
            return usage_error(cmd, "%s needs a value", opt);
        default: /* '?' */
            if (optopt && strchr(args[optind - 1], '=') && !strncmp(args[optind - 1], "--", 2))
                return usage_error(cmd, "%s takes no value", opt);
            return usage_error(cmd, "unknown option '%s'",
                               !strncmp(args[optind - 1], "--", 2) ? args[optind - 1] : opt);
        }
    }
    /* What follows "--" is operands only. */
    for (; optind < argc; optind++) {
        if (o->model) return usage_error(cmd, "unexpected argument '%s'", args[optind]);
        o->model = args[optind];
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        const Command *about = argc > 2 ? command_find(argv[2]) : NULL;
        fputs(about ? about->help : usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("kiln %s (LLVM 19)\n", KILN_VERSION);
        return EXIT_OK;
    }
    const Command *cmd = command_find(name);
    if (!cmd) return usage_error(NULL, "unknown command '%s'", name);

    DriverOptions o = {0};
    o.emit = "exe";
    o.opt_level = 3;
    o.argc = argc;
    o.argv = argv;
    int rc = parse_options(cmd, argc - 1, argv + 1, &o);
    if (rc >= 0) return rc;

    if (cmd->run == driver_ops) return driver_ops(&o);
    if (!o.model)
        return usage_error(
            cmd, cmd->run == driver_verify ? "%s needs an archive file" : "%s needs a model file",
            name);
    if (o.dump_after) {
        const char *const *names = driver_pass_names();
        int found = 0;
        for (int i = 0; names[i]; i++)
            found |= !strcmp(names[i], o.dump_after);
        if (!found) return usage_error(cmd, "--dump-after '%s' names no pass", o.dump_after);
    }
    if (o.name) {
        for (const char *p = o.name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                return usage_error(cmd, "--name '%s': use only letters, digits, '.', '_' and '-'",
                                   o.name);
        if (!o.name[0]) return usage_error(cmd, "--name '%s' is empty", o.name);
    }
    if (cmd->run == driver_compile && !o.out) return usage_error(cmd, "%s needs -o OUT", name);
    return cmd->run(&o);
}
