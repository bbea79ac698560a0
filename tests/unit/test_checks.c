/* test_checks.c: the compiler's own checks: what ir_graph_verify (run
 * after every pass in assertion builds) catches, and the one OOM policy
 * (kiln_oom: a message and exit 3, never a signal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"

/* x -> Relu -> y, a well-formed graph to break. */
static Graph *relu_graph(State *s, Node **relu) {
    Graph *g = gb_graph(s->a, 17);
    Value *x = gb_input(g, "x", DT_F32, SHP(2));
    *relu = gb_node(g, OP_RELU, "relu", "y", 1, x);
    ir_graph_add_output(g, gb_out(*relu));
    assert_int_equal(ir_graph_verify(g, &s->c.d), 0);
    return g;
}

static void test_verify_reports_a_value_missing_from_the_graph(void **state) {
    State *s = *state;
    Node *relu;
    Graph *g = relu_graph(s, &relu);
    Value *stray = arena_alloc(s->a, sizeof(Value));
    stray->name = "stray";
    stray->id = 7;
    stray->shape.rank = -1;
    relu->inputs[0] = stray;
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'relu' (Relu): refers to value 'stray', which is not "
                        "in the graph\n");
}

static void test_verify_reports_dead_nodes_left_in_the_graph(void **state) {
    State *s = *state;
    Node *relu;
    Graph *g = relu_graph(s, &relu);
    relu->dead = 1;
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: node 'relu' (Relu): is dead but still in the graph\n");
}

static void test_verify_reports_an_initializer_with_a_producer(void **state) {
    State *s = *state;
    Node *relu;
    Graph *g = relu_graph(s, &relu);
    gb_out(relu)->data = arena_alloc(s->a, 8);
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c), "test.onnx: initializer 'y' also has a producer\n");
}

static void test_verify_reports_a_graph_output_missing_from_the_graph(void **state) {
    State *s = *state;
    Node *relu;
    Graph *g = relu_graph(s, &relu);
    Value *stray = arena_alloc(s->a, sizeof(Value));
    stray->name = "gone";
    stray->id = 0; /* the id of x: a stale id must not pass for x */
    g->outputs[0] = stray;
    assert_int_equal(ir_graph_verify(g, &s->c.d), -1);
    assert_string_equal(capture_text(&s->c),
                        "test.onnx: graph output 'gone' is not in the graph\n");
}

/* Runs fn in a child; returns its exit status and what it wrote to stderr. */
static int in_child(void (*fn)(void), char *err, size_t len) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    char chunk[512];
    while ((got = read(fds[0], chunk, sizeof chunk)) > 0) /* all of it: no SIGPIPE */
        for (ssize_t i = 0; i < got && n + 1 < len; i++)
            err[n++] = chunk[i];
    err[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void oom_named(void) {
    kiln_oom("packed weights");
}

/* Not static: the store must stay, so leak checkers see the arena as
 * reachable when the child exits. */
Arena *test_checks_arena;

static void oom_huge_arena_request(void) {
    test_checks_arena = arena_create(4096);
    arena_alloc(test_checks_arena, SIZE_MAX - 8); /* would wrap the arena's offset arithmetic */
}

static void test_kiln_oom_prints_what_and_exits_3(void **state) {
    (void)state;
    char err[256];
    int status = in_child(oom_named, err, sizeof err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_string_equal(err, "kiln: out of memory (packed weights)\n");
}

static void test_an_arena_request_that_cannot_fit_exits_3_without_a_signal(void **state) {
    (void)state;
    char err[256];
    int status = in_child(oom_huge_arena_request, err, sizeof err);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_string_equal(err, "kiln: out of memory (allocation size overflows)\n");
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_verify_reports_a_value_missing_from_the_graph),
        T(test_verify_reports_dead_nodes_left_in_the_graph),
        T(test_verify_reports_an_initializer_with_a_producer),
        T(test_verify_reports_a_graph_output_missing_from_the_graph),
        T(test_kiln_oom_prints_what_and_exits_3),
        T(test_an_arena_request_that_cannot_fit_exits_3_without_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
