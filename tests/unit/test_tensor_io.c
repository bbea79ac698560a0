/* test_tensor_io.c: .npy and .pb tensor files (frontends/tensor_io).
 *
 * Round trips through our own reader and writer, files numpy writes and
 * reads (when Debian's /usr/bin/python3 with numpy is present), and a table
 * of hostile .npy headers that must each end in a diagnostic.
 */
#include "fixture.h"
#include "frontends.h"
#include "onnx/onnx.pb-c.h"

static int read_tensor(State *s, const char *path, HostTensor *t) {
    capture_reset(&s->c);
    memset(t, 0, sizeof *t);
    return tensor_read(s->a, path, t, &s->c.d);
}

static int write_tensor(State *s, const char *path, const HostTensor *t) {
    capture_reset(&s->c);
    return tensor_write_npy(path, t, &s->c.d);
}

/* A .npy file of the given version whose header is exactly `header`
 * (no padding added), followed by n bytes of data. */
static void write_npy_raw(const char *path, int major, const char *header, size_t header_len,
                          const void *data, size_t n) {
    uint8_t buf[4096];
    size_t o = 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    o = 8;
    buf[o++] = (uint8_t)(header_len & 0xff);
    buf[o++] = (uint8_t)(header_len >> 8);
    if (major > 1) {
        buf[o++] = (uint8_t)(header_len >> 16);
        buf[o++] = (uint8_t)(header_len >> 24);
    }
    assert_true(o + header_len + n <= sizeof buf);
    memcpy(buf + o, header, header_len);
    o += header_len;
    if (n) memcpy(buf + o, data, n);
    write_bytes(path, buf, o + n);
}

static uint8_t pattern(size_t i) {
    return (uint8_t)(i * 37 + 11);
}

/* --- round trips ------------------------------------------------------------- */

static void test_npy_round_trip_keeps_type_shape_and_bytes_for_every_type(void **state) {
    State *s = *state;
    static const DType types[] = {DT_F32, DT_F64, DT_F16, DT_I8,  DT_I16, DT_I32,
                                  DT_I64, DT_U8,  DT_U16, DT_U32, DT_U64, DT_BOOL};
    static const struct {
        int rank;
        int64_t dims[3];
    } shapes[] = {{0, {0}}, {1, {5}}, {3, {2, 3, 4}}, {2, {0, 3}}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
            HostTensor t = {.dtype = types[i], .rank = shapes[k].rank};
            size_t numel = 1;
            for (int r = 0; r < t.rank; r++)
                numel *= (size_t)(t.dims[r] = shapes[k].dims[r]);
            t.nbytes = numel * dtype_size(t.dtype);
            uint8_t *data = arena_alloc(s->a, t.nbytes + 1);
            for (size_t b = 0; b < t.nbytes; b++)
                data[b] = t.dtype == DT_BOOL ? pattern(b) & 1 : pattern(b);
            t.data = data;
            const char *path = path_in(s, "rt.npy");
            assert_int_equal(write_tensor(s, path, &t), 0);
            struct stat st;
            assert_int_equal(stat(path, &st), 0);
            assert_int_equal(((size_t)st.st_size - t.nbytes) % 64, 0); /* as numpy pads */

            HostTensor u;
            assert_int_equal(read_tensor(s, path, &u), 0);
            assert_null(u.name);
            assert_int_equal(u.dtype, t.dtype);
            assert_int_equal(u.rank, t.rank);
            for (int r = 0; r < t.rank; r++)
                assert_int_equal(u.dims[r], t.dims[r]);
            assert_int_equal(u.nbytes, t.nbytes);
            assert_non_null(u.data);
            assert_int_equal((uintptr_t)u.data % 64, 0);
            assert_memory_equal(u.data, t.data, t.nbytes);
        }
}

static void test_npy_versions_2_and_3_and_native_order_codes_are_read(void **state) {
    State *s = *state;
    float f[2] = {1.5f, -2};
    const char *h = "{'shape': (2,), 'fortran_order': False, 'descr': '=f4'}\n";
    for (int major = 2; major <= 3; major++) {
        write_npy_raw(path_in(s, "v.npy"), major, h, strlen(h), f, sizeof f);
        HostTensor t;
        assert_int_equal(read_tensor(s, path_in(s, "v.npy"), &t), 0);
        assert_true(t.dtype == DT_F32 && t.rank == 1 && t.dims[0] == 2);
        assert_true(((float *)t.data)[1] == -2.0f);
    }
    /* Byte order does not matter for one-byte types, and numpy writes '|'. */
    const char *h1 = "{\"descr\": \">i1\", \"fortran_order\": False, \"shape\": (3, ), }";
    int8_t b[3] = {-1, 0, 1};
    write_npy_raw(path_in(s, "b.npy"), 1, h1, strlen(h1), b, sizeof b);
    HostTensor t;
    assert_int_equal(read_tensor(s, path_in(s, "b.npy"), &t), 0);
    assert_true(t.dtype == DT_I8 && ((int8_t *)t.data)[0] == -1);
}

/* --- hostile and unsupported .npy files ------------------------------------------- */

static void test_hostile_npy_headers_end_in_a_diagnostic_naming_the_file(void **state) {
    State *s = *state;
    static const struct {
        const char *header;
        size_t data_len;
        const char *message;
    } cases[] = {
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4,
         "big-endian arrays ('>f4') are not supported"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16,
         "arrays in Fortran order are not supported"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8,
         "array element type '|O' is not supported"},
        {"{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 12,
         "array element type '<U3' is not supported"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8,
         "array element type '<c8' is not supported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
         "structured arrays are not supported"},
        {"{'descr': '<f4', 'fortran_order': False, }", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'shape': (1,), }", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4,
         "malformed .npy header"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
         "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,), }", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 4,
         "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
         "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 4,
         ".npy shape is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8,
         "8 bytes of data for shape [3] of float (12 bytes)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 8,
         "8 bytes of data for shape [] of float (4 bytes)"},
        {"{'descr': '<f4", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing", 4,
         "malformed .npy header"},
        {"", 4, "malformed .npy header"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", 4, "malformed .npy header"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (1,), }", 4,
         "array element type 'f4' is not supported"},
        {"{'descr': '', 'fortran_order': False, 'shape': (1,), }", 4,
         "array element type '' is not supported"},
    };
    uint8_t zeros[16] = {0};
    const char *path = path_in(s, "bad.npy");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_npy_raw(path, 1, cases[i].header, strlen(cases[i].header), zeros, cases[i].data_len);
        HostTensor t;
        if (read_tensor(s, path, &t) != -1) {
            print_error("header accepted: %s\n", cases[i].header);
            fail();
        }
        assert_diag(s, arena_printf(s->a, "%s: %s", path, cases[i].message));
        assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
    }
    /* A NUL inside the header. */
    const char nul[] = "{'descr': '<f4'\0, 'fortran_order': False, 'shape': (1,), }";
    write_npy_raw(path, 1, nul, sizeof nul - 1, zeros, 4);
    HostTensor t;
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, "malformed .npy header");
}

static void test_broken_npy_preambles_are_rejected(void **state) {
    State *s = *state;
    const char *path = path_in(s, "pre.npy");
    HostTensor t;
    write_bytes(path, "", 0);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, "not a .npy file");
    write_bytes(path, "\x93NUMPY\x01", 7);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, "not a .npy file");
    write_bytes(path, "PK\x03\x04 this is a zip, an .npz", 27);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, "not a .npy file (no \\x93NUMPY magic)");
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    write_npy_raw(path, 4, h, strlen(h), "\0\0\0\0", 4);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, ".npy format version 4.0 is not supported");
    /* Header length far beyond the file, for both length widths. */
    write_npy_raw(path, 1, h, strlen(h), "\0\0\0\0", 4);
    FILE *f = fopen(path, "r+b");
    fseek(f, 8, SEEK_SET);
    fputc(0xff, f);
    fputc(0xff, f);
    fclose(f);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, ".npy header of 65535 bytes does not fit the file");
    write_npy_raw(path, 2, h, strlen(h), "\0\0\0\0", 4);
    f = fopen(path, "r+b");
    fseek(f, 8, SEEK_SET);
    for (int i = 0; i < 4; i++)
        fputc(0xff, f);
    fclose(f);
    assert_int_equal(read_tensor(s, path, &t), -1);
    assert_diag(s, ".npy header of 4294967295 bytes does not fit the file");
    assert_int_equal(read_tensor(s, path_in(s, "absent.npy"), &t), -1);
    assert_diag(s, "absent.npy: cannot read: No such file or directory");
}

static void test_fifos_devices_and_directories_are_refused_at_once(void **state) {
    State *s = *state;
    HostTensor t;
    /* A FIFO without a writer would block a plain open() for ever. */
    assert_int_equal(mkfifo(path_in(s, "pipe.npy"), 0600), 0);
    assert_int_equal(read_tensor(s, path_in(s, "pipe.npy"), &t), -1);
    assert_diag(s, "pipe.npy: cannot read: is a FIFO (named pipe), not a regular file");
    assert_int_equal(s->c.d.exit_code, EXIT_MODEL);
    assert_int_equal(mkfifo(path_in(s, "pipe.pb"), 0600), 0);
    assert_int_equal(read_tensor(s, path_in(s, "pipe.pb"), &t), -1);
    assert_diag(s, "pipe.pb: cannot read: is a FIFO (named pipe), not a regular file");
    /* /dev/zero would never end; behind a .npy name it is still refused. */
    assert_int_equal(symlink("/dev/zero", path_in(s, "zero.npy")), 0);
    assert_int_equal(read_tensor(s, path_in(s, "zero.npy"), &t), -1);
    assert_diag(s, "zero.npy: cannot read: is a character device, not a regular file");
    assert_int_equal(mkdir(path_in(s, "dir.pb"), 0755), 0);
    assert_int_equal(read_tensor(s, path_in(s, "dir.pb"), &t), -1);
    assert_diag(s, "dir.pb: cannot read: is a directory");
    assert_int_equal(s->c.d.n_errors, 1);
}

/* --- numpy itself --------------------------------------------------------------------- */

static int have_numpy(void) {
    return access("/usr/bin/python3", X_OK) == 0 &&
           system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int run_python(State *s, const char *code) {
    const char *script = path_in(s, "check.py");
    write_bytes(script, code, strlen(code));
    return system(arena_printf(s->a, "cd %s && /usr/bin/python3 %s", s->dir, script));
}

static void test_numpy_loads_what_we_write(void **state) {
    State *s = *state;
    if (!have_numpy()) skip();
    float f[6] = {0, 1, 2, 3, 4, 5.5f};
    HostTensor t = {.dtype = DT_F32, .rank = 2, .dims = {2, 3}, .data = f, .nbytes = sizeof f};
    assert_int_equal(write_tensor(s, path_in(s, "f.npy"), &t), 0);
    int64_t i[4] = {-1, 0, 1, INT64_MAX};
    HostTensor ti = {.dtype = DT_I64, .rank = 1, .dims = {4}, .data = i, .nbytes = sizeof i};
    assert_int_equal(write_tensor(s, path_in(s, "i.npy"), &ti), 0);
    uint8_t b = 1;
    HostTensor tb = {.dtype = DT_BOOL, .rank = 0, .data = &b, .nbytes = 1};
    assert_int_equal(write_tensor(s, path_in(s, "b.npy"), &tb), 0);
    uint16_t h[1] = {0x3c00}; /* 1.0 in float16 */
    HostTensor th = {.dtype = DT_F16, .rank = 1, .dims = {1}, .data = h, .nbytes = 2};
    assert_int_equal(write_tensor(s, path_in(s, "h.npy"), &th), 0);
    assert_int_equal(run_python(s,
                                "import numpy as np\n"
                                "f = np.load('f.npy')\n"
                                "assert f.dtype == np.float32 and f.shape == (2, 3)\n"
                                "assert f[1, 2] == 5.5 and f.flags.c_contiguous\n"
                                "i = np.load('i.npy')\n"
                                "assert i.dtype == np.int64 and list(i) == [-1, 0, 1, 2**63 - 1]\n"
                                "b = np.load('b.npy')\n"
                                "assert b.dtype == np.bool_ and b.shape == () and b\n"
                                "h = np.load('h.npy')\n"
                                "assert h.dtype == np.float16 and h[0] == 1.0\n"),
                     0);
}

static void test_we_read_what_numpy_writes(void **state) {
    State *s = *state;
    if (!have_numpy()) skip();
    assert_int_equal(
        run_python(s, "import numpy as np\n"
                      "from numpy.lib import format as fmt\n"
                      "a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)\n"
                      "np.save('v1.npy', a)\n"
                      "for v in (2, 3):\n"
                      "    with open('v%d.npy' % v, 'wb') as f:\n"
                      "        fmt.write_array(f, a, version=(v, 0))\n"
                      "np.save('u16.npy', np.array([1, 65535], dtype=np.uint16))\n"
                      "np.save('big.npy', np.arange(3, dtype='>f4'))\n"
                      "np.save('fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))\n"
                      "np.save('obj.npy', np.array([{}], dtype=object), allow_pickle=True)\n"),
        0);
    for (int v = 1; v <= 3; v++) {
        HostTensor t;
        assert_int_equal(read_tensor(s, path_in(s, arena_printf(s->a, "v%d.npy", v)), &t), 0);
        assert_true(t.dtype == DT_F64 && t.rank == 3 && t.dims[2] == 4);
        assert_true(((double *)t.data)[23] == 23.0);
    }
    HostTensor t;
    assert_int_equal(read_tensor(s, path_in(s, "u16.npy"), &t), 0);
    assert_true(t.dtype == DT_U16 && ((uint16_t *)t.data)[1] == 65535);
    assert_int_equal(read_tensor(s, path_in(s, "big.npy"), &t), -1);
    assert_diag(s, "big-endian arrays ('>f4') are not supported");
    assert_diag(s, "hint: save arr.astype('<f4') instead");
    assert_int_equal(read_tensor(s, path_in(s, "fortran.npy"), &t), -1);
    assert_diag(s, "arrays in Fortran order are not supported");
    assert_int_equal(read_tensor(s, path_in(s, "obj.npy"), &t), -1);
    assert_diag(s, "array element type '|O' is not supported");
}

/* --- .pb and other formats -------------------------------------------------------------- */

static void write_proto(State *s, const char *path, const Onnx__TensorProto *t) {
    size_t n = onnx__tensor_proto__get_packed_size(t);
    uint8_t *buf = arena_alloc(s->a, n + 1);
    assert_int_equal(onnx__tensor_proto__pack(t, buf), n);
    write_bytes(path, buf, n);
}

static void test_pb_tensor_is_read_with_name_type_and_data(void **state) {
    State *s = *state;
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {2, 2};
    float raw[4] = {1, 2, 3, 4};
    t.name = "input_0";
    t.has_data_type = 1;
    t.data_type = DT_F32;
    t.dims = dims, t.n_dims = 2;
    t.has_raw_data = 1;
    t.raw_data.data = (uint8_t *)raw;
    t.raw_data.len = sizeof raw;
    write_proto(s, path_in(s, "input_0.pb"), &t);
    HostTensor h;
    assert_int_equal(read_tensor(s, path_in(s, "input_0.pb"), &h), 0);
    assert_string_equal(h.name, "input_0");
    assert_true(h.dtype == DT_F32 && h.rank == 2 && h.dims[1] == 2 && h.nbytes == 16);
    assert_memory_equal(h.data, raw, 16);

    /* Typed fields, no name. */
    Onnx__TensorProto u = ONNX__TENSOR_PROTO__INIT;
    int64_t vals[3] = {7, -8, 9};
    int64_t d1[1] = {3};
    u.has_data_type = 1;
    u.data_type = DT_I64;
    u.dims = d1, u.n_dims = 1;
    u.int64_data = vals, u.n_int64_data = 3;
    write_proto(s, path_in(s, "typed.pb"), &u);
    assert_int_equal(read_tensor(s, path_in(s, "typed.pb"), &h), 0);
    assert_null(h.name);
    assert_true(h.dtype == DT_I64 && ((int64_t *)h.data)[1] == -8);

    /* A wrong count names the tensor and the file. */
    u.n_int64_data = 2;
    u.name = "ids";
    write_proto(s, path_in(s, "short.pb"), &u);
    assert_int_equal(read_tensor(s, path_in(s, "short.pb"), &h), -1);
    assert_diag(s, "short.pb: tensor 'ids': 2 values in int64_data for shape [3] of int64 (3 "
                   "values)");
}

static void test_string_tensors_are_read_from_pb_and_npy_bytes(void **state) {
    State *s = *state;
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {1, 3};
    ProtobufCBinaryData str[3] = {{3, (uint8_t *)"cat"}, {0, NULL}, {2, (uint8_t *)"\xc3\xa9"}};
    t.name = "text";
    t.has_data_type = 1;
    t.data_type = DT_STRING;
    t.dims = dims, t.n_dims = 2;
    t.string_data = str, t.n_string_data = 3;
    write_proto(s, path_in(s, "text.pb"), &t);
    HostTensor h;
    assert_int_equal(read_tensor(s, path_in(s, "text.pb"), &h), 0);
    assert_string_equal(h.name, "text");
    assert_true(h.dtype == DT_STRING && h.rank == 2 && h.dims[1] == 3);
    assert_int_equal(h.nbytes, 3 * sizeof(char *));
    const char *const *v = h.data;
    assert_string_equal(v[0], "cat");
    assert_string_equal(v[1], "");
    assert_string_equal(v[2], "\xc3\xa9");
    /* A count that does not fit the shape, and a NUL inside a string. */
    t.n_string_data = 2;
    write_proto(s, path_in(s, "short.pb"), &t);
    assert_int_equal(read_tensor(s, path_in(s, "short.pb"), &h), -1);
    assert_diag(s, "short.pb: 2 strings for shape [1,3]");
    t.n_string_data = 3;
    str[0] = (ProtobufCBinaryData){3, (uint8_t *)"a\0b"};
    write_proto(s, path_in(s, "nul.pb"), &t);
    assert_int_equal(read_tensor(s, path_in(s, "nul.pb"), &h), -1);
    assert_diag(s, "nul.pb: string 0 holds a NUL byte");
    /* numpy bytes, |S3: NUL-padded. */
    const char hdr[] = "{'descr': '|S3', 'fortran_order': False, 'shape': (2,), }\n";
    write_npy_raw(path_in(s, "s.npy"), 1, hdr, sizeof hdr - 1, "ab\0xyz", 6);
    assert_int_equal(read_tensor(s, path_in(s, "s.npy"), &h), 0);
    assert_true(h.dtype == DT_STRING && h.rank == 1 && h.dims[0] == 2);
    v = h.data;
    assert_string_equal(v[0], "ab");
    assert_string_equal(v[1], "xyz");
    write_npy_raw(path_in(s, "s5.npy"), 1, hdr, sizeof hdr - 1, "ab\0xy", 5);
    assert_int_equal(read_tensor(s, path_in(s, "s5.npy"), &h), -1);
    assert_diag(s, "5 bytes of data for a '|S3' array of shape [2]");
}

static void test_pb_that_is_not_a_tensor_is_rejected(void **state) {
    State *s = *state;
    const char *path = path_in(s, "junk.pb");
    write_bytes(path, "\xff\xff\xff\xff\xff", 5);
    HostTensor h;
    assert_int_equal(read_tensor(s, path, &h), -1);
    assert_diag(s, "junk.pb: not a valid ONNX TensorProto (protobuf decode failed)");
    write_bytes(path, "", 0);
    assert_int_equal(read_tensor(s, path, &h), -1);
    assert_diag(s, "not a valid ONNX TensorProto (it has no data type)");
}

static void test_unknown_extension_is_rejected(void **state) {
    State *s = *state;
    HostTensor h;
    assert_int_equal(read_tensor(s, path_in(s, "x.csv"), &h), -1);
    assert_diag(s, "x.csv: unknown tensor file type");
    assert_diag(s, "hint: use a .npy file");
}

static void test_tensor_parse_reads_bytes_in_memory_by_the_path_extension(void **state) {
    State *s = *state;
    /* {'descr': '<i2', ...} (2,) and two int16, as numpy.save writes them */
    static const char npy[] = "\x93NUMPY\x01\x00\x3a\x00"
                              "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }\n"
                              "\x07\x00\xff\xff";
    HostTensor t;
    capture_reset(&s->c);
    assert_int_equal(
        tensor_parse(s->a, "mem.npy", (const uint8_t *)npy, sizeof npy - 1, &t, &s->c.d), 0);
    assert_no_diag(s);
    assert_int_equal(t.dtype, DT_I16);
    assert_int_equal(t.rank, 1);
    assert_int_equal(t.dims[0], 2);
    assert_int_equal(((int16_t *)t.data)[0], 7);
    assert_int_equal(((int16_t *)t.data)[1], -1);
    assert_int_equal(
        tensor_parse(s->a, "mem.pb", (const uint8_t *)npy, sizeof npy - 1, &t, &s->c.d), -1);
    assert_diag(s, "mem.pb: not a valid ONNX TensorProto");
    capture_reset(&s->c);
    assert_int_equal(tensor_parse(s->a, "mem.txt", (const uint8_t *)npy, 3, &t, &s->c.d), -1);
    assert_diag(s, "mem.txt: unknown tensor file type");
}

static void test_write_keeps_bfloat16_bits_and_fails_cleanly_for_missing_directories(void **state) {
    State *s = *state;
    uint16_t v = 0x3fc0; /* 1.5 */
    HostTensor t = {.dtype = DT_BF16, .rank = 1, .dims = {1}, .data = &v, .nbytes = 2}, back;
    /* numpy has no bfloat16: the bit patterns go out as uint16. */
    assert_int_equal(write_tensor(s, path_in(s, "bf.npy"), &t), 0);
    assert_int_equal(read_tensor(s, path_in(s, "bf.npy"), &back), 0);
    assert_int_equal(back.dtype, DT_U16);
    assert_int_equal(((uint16_t *)back.data)[0], 0x3fc0);
    t.dtype = DT_U16;
    assert_int_equal(write_tensor(s, path_in(s, "no/such/dir/x.npy"), &t), -1);
    assert_diag(s, "cannot write");
    assert_diag(s, "No such file or directory");
    assert_int_equal(s->c.d.exit_code, EXIT_ENV);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_npy_round_trip_keeps_type_shape_and_bytes_for_every_type),
        T(test_npy_versions_2_and_3_and_native_order_codes_are_read),
        T(test_hostile_npy_headers_end_in_a_diagnostic_naming_the_file),
        T(test_broken_npy_preambles_are_rejected),
        T(test_fifos_devices_and_directories_are_refused_at_once),
        T(test_numpy_loads_what_we_write),
        T(test_we_read_what_numpy_writes),
        T(test_pb_tensor_is_read_with_name_type_and_data),
        T(test_string_tensors_are_read_from_pb_and_npy_bytes),
        T(test_pb_that_is_not_a_tensor_is_rejected),
        T(test_unknown_extension_is_rejected),
        T(test_tensor_parse_reads_bytes_in_memory_by_the_path_extension),
        T(test_write_keeps_bfloat16_bits_and_fails_cleanly_for_missing_directories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
