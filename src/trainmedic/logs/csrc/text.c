/* Text-level helpers: digit-blind copies and keys, line lengths and counts, control bytes, and the
 * last step lines of a log (ranklog.last_step_lines). Part of _fastlog: included by module.c. */

/* dst[0:n] = src[0:n] with ASCII digits as '#' (branch-free, so the compiler vectorizes it) */
static void blind_copy(const unsigned char *restrict src, unsigned char *restrict dst, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = src[i];
        dst[i] = (unsigned char)(c - '0') < 10 ? '#' : c;
    }
}

/* the widest character PyUnicode_New needs for s[a:b] of a 1-byte string (strings must be canonical) */
static Py_UCS4 max_char(const char *s, Py_ssize_t a, Py_ssize_t b) {
    return ascii_span(s + a, b - a) ? 127 : 255;
}

/* digit_blind(text, start=0): text[start:].translate(digits -> "#") for 1-byte strings; NotImplemented otherwise */
static PyObject *fl_digit_blind(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTuple(args, "U|n", &text, &start)) return NULL;
    if (one_byte(text) != 1) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (start < 0) start = 0;
    if (start > n) start = n;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
    Py_UCS4 maxchar = PyUnicode_IS_ASCII(text) ? 127 : max_char((const char *)s, start, n);
    PyObject *out = PyUnicode_New(n - start, maxchar);
    if (out == NULL) return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(out);
    blind_copy(s + start, o, n - start);
    return out;
}

/* the length of the longest piece of s[0:n] between "\n"s */
static Py_ssize_t longest_run(const char *s, Py_ssize_t n) {
    const char *end = s + n, *p = s;
    Py_ssize_t best = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        Py_ssize_t len = (nl ? nl : end) - p;
        if (len > best) best = len;
        if (!nl) break;
        p = nl + 1;
    }
    return best;
}

/* longest_line(text): the length of the longest line (pieces between "\n") of a str or bytes */
static PyObject *fl_longest_line(PyObject *self, PyObject *arg) {
    if (PyBytes_Check(arg)) return PyLong_FromSsize_t(longest_run(PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg)));
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected str or bytes");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), best = 0, run = 0;
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    if (kind == PyUnicode_1BYTE_KIND) return PyLong_FromSsize_t(longest_run((const char *)data, n));
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_READ(kind, data, i) == '\n') {
            if (run > best) best = run;
            run = 0;
        } else {
            run++;
        }
    }
    return PyLong_FromSsize_t(run > best ? run : best);
}

/* "\n"s in s[a:b] (a loop the compiler vectorizes: several times faster than str.count) */
static Py_ssize_t count_newlines(const char *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t c = 0;
    for (Py_ssize_t i = a; i < b; i++) c += s[i] == '\n';
    return c;
}

/* newlines(text, start, end): text.count("\n", start, end) for 1-byte strings; NotImplemented otherwise */
static PyObject *fl_newlines(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "Unn", &text, &start, &end)) return NULL;
    if (one_byte(text) != 1) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (end > n) end = n;
    if (start < 0) start = 0;
    return PyLong_FromSsize_t(count_newlines((const char *)PyUnicode_1BYTE_DATA(text), start, end));
}

/* control_bytes(data, limit): (bytes 1-8 and 14-31, NUL bytes) in data[:limit] (reading.looks_binary) */
static PyObject *fl_control_bytes(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t limit, control = 0, nuls = 0;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &limit)) return NULL;
    const unsigned char *s = buf.buf;
    Py_ssize_t n = buf.len < limit ? buf.len : limit;
    for (Py_ssize_t i = 0; i < n; i++) { /* branch-free, so the compiler vectorizes it */
        unsigned char c = s[i];
        nuls += c == 0;
        control += (c != 0) & ((c < 9) | ((c > 13) & (c < 32)));
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("nn", control, nuls);
}


/* Any of ranklog._STEP_WORDS ("step", "Step", "STEP", "iter", "Iter", "ITER") in s[a:b]? Each has
 * "t" or "T" second, so only those places are looked at. */
static int has_step_word(const char *s, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t i = a + 1; i + 3 <= b; i++) {
        char t = s[i];
        if (t != 't' && t != 'T') continue;
        char c = s[i - 1], x = s[i + 1], y = s[i + 2];
        if (t == 't') {
            if (((c == 's' || c == 'S') && x == 'e' && y == 'p') || ((c == 'i' || c == 'I') && x == 'e' && y == 'r')) return 1;
        } else if ((c == 'S' && x == 'E' && y == 'P') || (c == 'I' && x == 'E' && y == 'R')) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    Py_ssize_t start, end; /* the line is text[start:end] */
    PyObject *step;        /* its step number (a new reference) */
} StepAt;

static void drop_steps(StepAt *found, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) Py_DECREF(found[i].step);
}

/* The core of last_step_lines: up to `want` step lines of text, found from the end, into `found`
 * (newest first); their count, or -1 with an error set. */
static Py_ssize_t step_lines_core(PyObject *text, long year, PyObject *year_obj, Py_ssize_t want, PyObject *shapes,
                                  PyObject *shape_of, StepAt *found) {
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), count = 0;
    int ascii = PyUnicode_IS_ASCII(text);
    Py_ssize_t end = n;
    for (;;) {
        if (count >= want) break;
        Py_ssize_t st = end;
        st = line_start(s, 0, end);
        if (has_step_word(s, st, end)) {
            PyObject *key = PyUnicode_New(end - st, ascii ? 127 : max_char(s, st, end));
            if (key == NULL) goto fail;
            Py_UCS1 *o = PyUnicode_1BYTE_DATA(key);
            blind_copy((const unsigned char *)s + st, o, end - st);
            PyObject *shape = PyDict_GetItemWithError(shapes, key); /* borrowed */
            if (shape == NULL && PyErr_Occurred()) {
                Py_DECREF(key);
                goto fail;
            }
            Py_XINCREF(shape);
            Py_DECREF(key);
            if (shape == NULL) {
                PyObject *line = PyUnicode_Substring(text, st, end);
                if (line == NULL) goto fail;
                shape = PyObject_CallOneArg(shape_of, line);
                Py_DECREF(line);
                if (shape == NULL) goto fail;
            }
            if (shape != Py_None) {
                Py_ssize_t a = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, 0));
                Py_ssize_t b = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, 1));
                int ok = PyObject_IsTrue(PyTuple_GET_ITEM(shape, 2));
                if (ok == 0) {
                    PyObject *t = time_of(text, s, st, end, year, year_obj);
                    if (t == NULL) {
                        Py_DECREF(shape);
                        goto fail;
                    }
                    ok = t != Py_None;
                    Py_DECREF(t);
                }
                if (ok) {
                    PyObject *num = PyUnicode_Substring(text, st + a, st + b);
                    PyObject *step = num ? PyLong_FromUnicodeObject(num, 10) : NULL;
                    Py_XDECREF(num);
                    if (step == NULL) {
                        Py_DECREF(shape);
                        goto fail;
                    }
                    found[count].start = st;
                    found[count].end = end;
                    found[count].step = step;
                    count++;
                }
            }
            Py_DECREF(shape);
        }
        if (st == 0) break;
        end = st - 1;
    }
    return count;
fail:
    drop_steps(found, count);
    return -1;
}

/* last_step_lines(text, year, want, shapes, shape_of, make): ranklog.last_step_lines, see there.
 * shapes maps a line's digit-blind form to (start, end, names_loss) or None; shape_of(line) computes
 * (and stores) a missing one; make(start, line, step) builds a StepLine. NotImplemented for wide strings. */
static PyObject *fl_last_step_lines(PyObject *self, PyObject *args) {
    PyObject *text, *year_obj, *shapes, *shape_of, *make;
    Py_ssize_t want;
    if (!PyArg_ParseTuple(args, "UOnO!OO", &text, &year_obj, &want, &PyDict_Type, &shapes, &shape_of, &make)) return NULL;
    long year;
    int ok = readable(text, year_obj, &year);
    if (ok < 0) return NULL;
    if (!ok) Py_RETURN_NOTIMPLEMENTED;
    if (want < 0) want = 0;
    StepAt *found = PyMem_Malloc(sizeof(StepAt) * (size_t)(want ? want : 1));
    if (found == NULL) return PyErr_NoMemory();
    Py_ssize_t count = step_lines_core(text, year, year_obj, want, shapes, shape_of, found);
    if (count < 0) {
        PyMem_Free(found);
        return NULL;
    }
    PyObject *out = PyList_New(count);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) { /* oldest first */
        StepAt *f = &found[count - 1 - i];
        PyObject *line = PyUnicode_Substring(text, f->start, f->end);
        PyObject *item = line ? PyObject_CallFunction(make, "nOO", f->start, line, f->step) : NULL;
        Py_XDECREF(line);
        if (item == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, item);
    }
    drop_steps(found, count);
    PyMem_Free(found);
    return out;
}
