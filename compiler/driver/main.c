/* main.c: the kiln command line. Parses flags into DriverOptions and hands
 * over to driver.c; nothing else happens here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

static const char usage_text[] =
    "usage:\n"
    "  kiln compile MODEL.onnx -o OUT [--emit exe|obj|llvm|asm] [--name N] [--model-version V]\n"
    "               [-O0..-O3] [--target TRIPLE] [--cpu CPU] [--shape NAME=DIMS]...\n"
    "               [--dump-after PASS]\n"
    "  kiln run MODEL.onnx [--input [NAME=]FILE]... [--out-dir DIR] [--shape NAME=DIMS]...\n"
    "  kiln inspect MODEL.onnx [--json]\n"
    "  kiln check MODEL.onnx\n"
    "  kiln ops [--json]\n"
    "  kiln --version | help\n"
    "\n"
    "compile  turns MODEL.onnx into a static service binary OUT (see `OUT help`)\n"
    "run      runs the model once through the JIT; FILE is .npy or .pb (TensorProto);\n"
    "         writes DIR/<output name>.npy for every output\n"
    "inspect  inputs, outputs, ops, parameters, FLOPs and planned memory\n"
    "check    reports every problem kiln finds in the model; exit 1 if any\n"
    "ops      the supported ONNX ops and opset ranges\n"
    "\n"
    "DIMS is like 1x3x224x224; N stands for the batch size (Nx3x224x224).\n"
    "exit codes: 0 ok, 1 the model or input is at fault, 2 bad usage, 3 environment\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("kiln: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n  hint: `kiln help` shows the usage\n", stderr);
    return EXIT_USAGE;
}

/* "x=1x3x224x224" or "x=Nx3x224x224". The name is copied into name_buf,
 * which outlives the pin (it sits in main's frame). */
static int parse_pin(const char *arg, OnnxPin *pin, char name_buf[DRIVER_PIN_NAME_MAX]) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) return -1;
    size_t n = (size_t)(eq - arg);
    if (n >= DRIVER_PIN_NAME_MAX) return -1;
    memcpy(name_buf, arg, n);
    name_buf[n] = 0;
    pin->name = name_buf;
    pin->rank = 0;
    const char *p = eq + 1;
    for (;;) {
        if (pin->rank == IR_MAX_RANK) return -1;
        if (*p == 'N') {
            pin->dims[pin->rank++] = DIM_BATCH;
            p++;
        } else {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v <= 0 || v > (1LL << 40)) return -1;
            pin->dims[pin->rank++] = v;
            p = end;
        }
        if (!*p) return 0;
        if (*p != 'x') return -1;
        p++;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("kiln %s (LLVM 19)\n", KILN_VERSION);
        return EXIT_OK;
    }

    DriverOptions o = {0};
    o.emit = "exe";
    o.opt_level = 3;
    o.argc = argc;
    o.argv = argv;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(field)                                                                                \
    do {                                                                                           \
        if (!next) return usage_error("%s needs a value", a);                                      \
        (field) = next;                                                                            \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--out-dir"))
            TAKE(o.out);
        else if (!strcmp(a, "--emit"))
            TAKE(o.emit);
        else if (!strcmp(a, "--name"))
            TAKE(o.name);
        else if (!strcmp(a, "--model-version"))
            TAKE(o.version);
        else if (!strcmp(a, "--target"))
            TAKE(o.triple);
        else if (!strcmp(a, "--cpu"))
            TAKE(o.cpu);
        else if (!strcmp(a, "--dump-after"))
            TAKE(o.dump_after);
        else if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--shape")) {
            if (!next) return usage_error("%s needs a value", a);
            if (o.n_pins == DRIVER_MAX_PINS) return usage_error("too many %s flags", a);
            if (parse_pin(next, &o.pins[o.n_pins], o.pin_names[o.n_pins]))
                return usage_error("--shape '%s': expected NAME=DIMS such as x=1x3x224x224", next);
            o.n_pins++;
            i++;
        } else if (!strcmp(a, "--input")) {
            if (!next) return usage_error("%s needs a value", a);
            if (o.n_inputs == DRIVER_MAX_INPUTS) return usage_error("too many %s flags", a);
            o.inputs[o.n_inputs++] = next;
            i++;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3])
            o.opt_level = a[2] - '0';
        else if (a[0] == '-' && a[1])
            return usage_error("unknown option '%s'", a);
        else if (!o.model)
            o.model = a;
        else
            return usage_error("unexpected argument '%s'", a);
#undef TAKE
    }

    if (!strcmp(cmd, "ops")) return driver_ops(&o);
    if (strcmp(cmd, "compile") && strcmp(cmd, "run") && strcmp(cmd, "inspect") &&
        strcmp(cmd, "check"))
        return usage_error("unknown command '%s'", cmd);
    if (!o.model) return usage_error("%s needs a model file", cmd);
    if (o.dump_after) {
        const char *const *names = driver_pass_names();
        int found = 0;
        for (int i = 0; names[i]; i++)
            found |= !strcmp(names[i], o.dump_after);
        if (!found) return usage_error("--dump-after '%s' names no pass", o.dump_after);
    }
    if (o.name) {
        for (const char *p = o.name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                return usage_error("--name '%s': use only letters, digits, '.', '_' and '-'",
                                   o.name);
        if (!o.name[0]) return usage_error("--name '%s' is empty", o.name);
    }
    if (!strcmp(cmd, "compile")) {
        if (!o.out) return usage_error("%s needs -o OUT", cmd);
        return driver_compile(&o);
    }
    if (!strcmp(cmd, "run")) return driver_run(&o);
    if (!strcmp(cmd, "inspect")) return driver_inspect(&o);
    return driver_check(&o);
}
