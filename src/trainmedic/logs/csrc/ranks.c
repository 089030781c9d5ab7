/* A rank log's identity fields (ranklog._py_identity_fields) and, in one call, the rest of
 * ranklog.scan_rank_text for the plain case (scan_text). Part of _fastlog: included by module.c. */


/* [=:][ \t]*(\d+) at s[j]: the digits' span, or 0 */
static int assign_digits(const char *s, Py_ssize_t n, Py_ssize_t j, Py_ssize_t *a, Py_ssize_t *b) {
    if (j >= n || (s[j] != '=' && s[j] != ':')) return 0;
    j++;
    while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
    Py_ssize_t k = j;
    while (k < n && is_digit(s[k])) k++;
    if (k == j) return 0;
    *a = j;
    *b = k;
    return 1;
}

/* [=:][ \t]*([0-9][0-9,]*) at s[j] */
static int assign_devices(const char *s, Py_ssize_t n, Py_ssize_t j, Py_ssize_t *a, Py_ssize_t *b) {
    if (j >= n || (s[j] != '=' && s[j] != ':')) return 0;
    j++;
    while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
    if (j >= n || !is_digit(s[j])) return 0;
    Py_ssize_t k = j + 1;
    while (k < n && (is_digit(s[k]) || s[k] == ',')) k++;
    *a = j;
    *b = k;
    return 1;
}

enum { BEFORE_WORD = 1, BEFORE_WORD_OR_DOT = 2 };
enum { DIGITS = 1, DEVICES = 2 };

/* The leftmost match of `before` + one of `lits` + an assignment (`value`), as the `_IDENTITY`
 * regexes find it: (?<![\w.]) or \b before the literal, the value's span in *a, *b. */
static int leftmost_assignment(const char *s, Py_ssize_t n, const char *const *lits, const int *before, int nlits,
                               const char *suffix, int value, Py_ssize_t *a, Py_ssize_t *b) {
    Py_ssize_t best = -1, ba = 0, bb = 0;
    size_t slen = suffix ? strlen(suffix) : 0;
    for (int l = 0; l < nlits; l++) {
        size_t len = strlen(lits[l]);
        Py_ssize_t limit = best >= 0 ? best : n; /* a later start cannot win */
        const char *p = s, *end = s + (limit + (Py_ssize_t)len < n ? limit + (Py_ssize_t)len : n);
        while (p < end) {
            const char *hit = memmem(p, (size_t)(end - p), lits[l], len);
            if (hit == NULL || hit - s >= limit) break;
            Py_ssize_t i = hit - s, j = i + (Py_ssize_t)len;
            int ok = 1;
            if (i > 0) {
                char c = s[i - 1];
                ok = before[l] == BEFORE_WORD_OR_DOT ? !(is_word(c) || c == '.') : !is_word(c);
            }
            if (ok && slen) {
                ok = j + (Py_ssize_t)slen <= n && memcmp(s + j, suffix, slen) == 0;
                j += (Py_ssize_t)slen;
            }
            Py_ssize_t va, vb;
            if (ok && (value == DIGITS ? assign_digits(s, n, j, &va, &vb) : assign_devices(s, n, j, &va, &vb))) {
                best = i;
                ba = va;
                bb = vb;
                break;
            }
            p = hit + 1;
        }
    }
    if (best < 0) return 0;
    *a = ba;
    *b = bb;
    return 1;
}

/* \b(?:host|hostname|node)\b[ \t]*[:=]?[ \t]*([A-Za-z][\w.-]*) */
static int leftmost_host(const char *s, Py_ssize_t n, Py_ssize_t *a, Py_ssize_t *b) {
    for (Py_ssize_t i = 0; i + 4 <= n; i++) {
        if (s[i] != 'h' && s[i] != 'n') continue;
        if (i > 0 && is_word(s[i - 1])) continue;
        Py_ssize_t j;
        if (n - i >= 8 && memcmp(s + i, "hostname", 8) == 0 && !(i + 8 < n && is_word(s[i + 8])))
            j = i + 8;
        else if ((memcmp(s + i, "host", 4) == 0 || memcmp(s + i, "node", 4) == 0) && !(i + 4 < n && is_word(s[i + 4])))
            j = i + 4;
        else
            continue;
        while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
        if (j < n && (s[j] == ':' || s[j] == '=')) j++;
        while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
        if (j >= n || !is_alpha(s[j])) continue;
        Py_ssize_t k = j + 1;
        while (k < n && (is_word(s[k]) || s[k] == '.' || s[k] == '-')) k++;
        *a = j;
        *b = k;
        return 1;
    }
    return 0;
}

/* \[rank\s?(\d+)\], case-insensitive */
static int leftmost_prefix_rank(const char *s, Py_ssize_t n, Py_ssize_t *a, Py_ssize_t *b) {
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
        Py_ssize_t i = p - s, j = i + 5;
        p++;
        if (j > n || (s[i + 1] | 0x20) != 'r' || (s[i + 2] | 0x20) != 'a' || (s[i + 3] | 0x20) != 'n' || (s[i + 4] | 0x20) != 'k')
            continue;
        if (j < n && is_space(s[j])) j++;
        Py_ssize_t k = j;
        while (k < n && is_digit(s[k])) k++;
        if (k == j || k >= n || s[k] != ']') continue;
        *a = j;
        *b = k;
        return 1;
    }
    return 0;
}

static int put_span(PyObject *out, const char *key, const char *s, Py_ssize_t a, Py_ssize_t b) {
    PyObject *v = PyUnicode_FromStringAndSize(s + a, b - a);
    if (v == NULL) return -1;
    int r = PyDict_SetItemString(out, key, v);
    Py_DECREF(v);
    return r;
}

/* identity_fields(text, limit=len) -> dict: ranklog._py_identity_fields(text[:limit]) for ASCII text;
 * NotImplemented otherwise */
static PyObject *identity_core(const char *s, Py_ssize_t n);

static PyObject *fl_identity_fields(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t limit = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "U|n", &text, &limit)) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (limit < 0) limit = 0;
    if (n > limit) n = limit;
    return identity_core((const char *)PyUnicode_1BYTE_DATA(text), n);
}

/* the identity fields of ASCII s[:n], as a new dict */
static PyObject *identity_core(const char *s, Py_ssize_t n) {
    Py_ssize_t a, b;
    static const char *const rank[] = {"RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    static const int rank_before[] = {BEFORE_WORD_OR_DOT, BEFORE_WORD, BEFORE_WORD, BEFORE_WORD};
    static const char *const local[] = {"LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"};
    static const char *const world[] = {"WORLD_SIZE"};
    static const char *const visible[] = {"CUDA", "ASCEND_RT", "HIP", "ROCR"};
    static const int word[] = {BEFORE_WORD, BEFORE_WORD, BEFORE_WORD, BEFORE_WORD};
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    if ((leftmost_assignment(s, n, rank, rank_before, 4, NULL, DIGITS, &a, &b) && put_span(out, "rank", s, a, b) < 0)
        || (leftmost_assignment(s, n, local, word, 3, NULL, DIGITS, &a, &b) && put_span(out, "local_rank", s, a, b) < 0)
        || (leftmost_assignment(s, n, world, word, 1, NULL, DIGITS, &a, &b) && put_span(out, "world_size", s, a, b) < 0)
        || (leftmost_assignment(s, n, visible, word, 4, "_VISIBLE_DEVICES", DEVICES, &a, &b) && put_span(out, "visible", s, a, b) < 0)
        || (leftmost_host(s, n, &a, &b) && put_span(out, "host", s, a, b) < 0)
        || (leftmost_prefix_rank(s, n, &a, &b) && put_span(out, "prefix_rank", s, a, b) < 0)) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}



/* A step line that _nan_loss could flag: "nan" anywhere, or "inf" not followed by a word character
 * (any case). A superset of what the NaN-loss pattern finds; such logs go to the Python code. */
static int maybe_nan(const char *s, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t i = a; i + 3 <= b; i++) {
        char c0 = (char)(s[i] | 0x20), c1 = (char)(s[i + 1] | 0x20), c2 = (char)(s[i + 2] | 0x20);
        if (c0 == 'n' && c1 == 'a' && c2 == 'n') return 1;
        if (c0 == 'i' && c1 == 'n' && c2 == 'f' && !(i + 3 < b && is_word(s[i + 3]))) return 1;
    }
    return 0;
}

static PyObject *s_last_step, *s_last_step_at, *s_last_step_line, *s_steps, *s_step_lines, *s_lines_after,
    *s_info_hits, *s_cascade_counts, *s_hits, *s_end_at, *s_id, *s_role;

static int intern_names(void) {
    if (s_role != NULL) return 0;
#define NAME(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return -1
    NAME(s_last_step, "last_step");
    NAME(s_last_step_at, "last_step_at");
    NAME(s_last_step_line, "last_step_line");
    NAME(s_steps, "steps");
    NAME(s_step_lines, "step_lines");
    NAME(s_lines_after, "lines_after_last_step");
    NAME(s_info_hits, "info_hits");
    NAME(s_cascade_counts, "cascade_counts");
    NAME(s_hits, "hits");
    NAME(s_end_at, "end_at");
    NAME(s_id, "id");
    NAME(s_role, "role");
#undef NAME
    return 0;
}

/* rs.<name> += delta */
static int add_attr(PyObject *rs, PyObject *name, PyObject *delta) {
    PyObject *cur = PyObject_GetAttr(rs, name);
    if (cur == NULL) return -1;
    PyObject *sum = PyNumber_Add(cur, delta);
    Py_DECREF(cur);
    if (sum == NULL) return -1;
    int r = PyObject_SetAttr(rs, name, sum);
    Py_DECREF(sum);
    return r;
}

typedef struct {
    Py_ssize_t pos, idx;
    PyObject *rule; /* borrowed from the plan */
} Made;

/* scan_text(rs, tail, whole, file, year, ctx) -> True, or NotImplemented with `rs` untouched.
 *
 * ranklog.scan_rank_text from the step lines on (the caller reads the identity lines): the last step
 * lines and their times, the block after them replayed from its cached plan, the log's end time. Done
 * here only in the plain case: ASCII text, no step line that could show a NaN loss, and a cached plan
 * that is empty or only digit-blind cascade and informational hits. Anything else (a block seen for
 * the first time included) is NotImplemented, and the Python code, which stays the reference, does it.
 * ctx = (shapes, shape_of, blocks, catalog_id, Hit, MAX_CASCADE_HITS). */
static PyObject *fl_scan_text(PyObject *self, PyObject *args) {
    PyObject *rs, *tail, *file, *year_obj, *ctx;
    int whole;
    if (!PyArg_ParseTuple(args, "OUpOOO!", &rs, &tail, &whole, &file, &year_obj, &PyTuple_Type, &ctx)) return NULL;
    if (PyTuple_GET_SIZE(ctx) != 6) {
        PyErr_SetString(PyExc_TypeError, "ctx: (shapes, shape_of, blocks, catalog_id, Hit, max_cascade)");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(tail)) Py_RETURN_NOTIMPLEMENTED;
    long year;
    int fits = year_of(year_obj, &year);
    if (fits < 0) return NULL;
    if (!fits) Py_RETURN_NOTIMPLEMENTED;
    if (intern_names() < 0) return NULL;
    PyObject *shapes = PyTuple_GET_ITEM(ctx, 0), *shape_of = PyTuple_GET_ITEM(ctx, 1), *blocks = PyTuple_GET_ITEM(ctx, 2);
    PyObject *catalog_id = PyTuple_GET_ITEM(ctx, 3), *hit_type = PyTuple_GET_ITEM(ctx, 4);
    Py_ssize_t max_cascade = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 5));
    if (max_cascade == -1 && PyErr_Occurred()) return NULL;
    if (!PyDict_Check(shapes) || !PyDict_Check(blocks) || !PyType_Check(hit_type)
        || !PyType_IsSubtype((PyTypeObject *)hit_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "ctx: shapes and blocks must be dicts, Hit a tuple type");
        return NULL;
    }
    const char *s = (const char *)PyUnicode_DATA(tail);
    Py_ssize_t n = PyUnicode_GET_LENGTH(tail);
    PyObject *in_tail = whole ? Py_False : Py_True;

    StepAt found[4]; /* newest first */
    Py_ssize_t count = step_lines_core(tail, year, year_obj, 4, shapes, shape_of, found);
    if (count < 0) return NULL;
    PyObject *result = NULL, *rs_step = NULL, *rs_at = NULL, *samples = NULL, *last_at = Py_None, *blind = NULL,
             *key = NULL, *plan = NULL;
    Made *made = NULL;
    Py_INCREF(last_at);
    for (Py_ssize_t i = 0; i < count; i++)
        if (maybe_nan(s, found[i].start, found[i].end)) goto not_here;
    rs_step = PyObject_GetAttr(rs, s_last_step);
    rs_at = rs_step ? PyObject_GetAttr(rs, s_last_step_at) : NULL;
    if (rs_at == NULL) goto done;
    Py_ssize_t start;
    int update = 0;
    if (count > 0) {
        samples = PyList_New(count);
        if (samples == NULL) goto done;
        for (Py_ssize_t i = 0; i < count; i++) { /* oldest first */
            StepAt *f = &found[count - 1 - i];
            PyObject *t = time_of(tail, s, f->start, f->end, year, year_obj);
            if (t == NULL) goto done;
            PyObject *pair = PyTuple_Pack(2, f->step, t);
            if (i == count - 1) {
                Py_SETREF(last_at, t);
            } else {
                Py_DECREF(t);
            }
            if (pair == NULL) goto done;
            PyList_SET_ITEM(samples, i, pair);
        }
        if (rs_step == Py_None) {
            update = 1;
        } else {
            int gt = PyObject_RichCompareBool(found[0].step, rs_step, Py_GT);
            if (gt < 0) goto done;
            if (gt) {
                update = 1;
            } else if (rs_at == Py_None) {
                int eq = PyObject_RichCompareBool(found[0].step, rs_step, Py_EQ);
                if (eq < 0) goto done;
                update = eq;
            }
        }
        start = count >= 2 ? found[1].start : found[0].start;
    } else {
        start = after_core(tail, rs_at, year, year_obj, 65536);
        if (start < 0) goto done;
    }

    /* the block from `start`: its plan must be cached, and replayable here */
    blind = PyUnicode_New(n - start, 127);
    if (blind == NULL) goto done;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(blind);
    blind_copy((const unsigned char *)s + start, o, n - start);
    key = PyTuple_Pack(2, catalog_id, blind);
    if (key == NULL) goto done;
    plan = PyDict_GetItemWithError(blocks, key);
    if (plan == NULL) {
        if (PyErr_Occurred()) goto done;
        goto not_here;
    }
    Py_INCREF(plan);
    if (!PyTuple_Check(plan) || PyTuple_GET_SIZE(plan) != 6) goto not_here;
    PyObject *items = PyTuple_GET_ITEM(plan, 1), *cascades = PyTuple_GET_ITEM(plan, 4), *extras = PyTuple_GET_ITEM(plan, 5);
    int has_items = PyTuple_GET_SIZE(items) > 0;
    if (has_items) {
        int simple = PyObject_IsTrue(PyTuple_GET_ITEM(plan, 2));
        if (simple < 0) goto done;
        if (!simple || PyTuple_GET_SIZE(extras) > 0) goto not_here;
    }

    /* from here on `rs` changes: nothing may send the work back to Python */
    PyObject *new_step = rs_step; /* rs.last_step once the steps are in */
    if (count > 0 && update) {
        PyObject *last_line = PyUnicode_Substring(tail, found[0].start, found[0].end);
        PyObject *line_no = PyLong_FromSsize_t(count_newlines(s, 0, found[0].start) + 1);
        PyObject *where = (last_line && line_no) ? PyTuple_Pack(4, file, line_no, in_tail, last_line) : NULL;
        Py_XDECREF(line_no);
        PyObject *recent = NULL;
        if (where != NULL) {
            recent = PyList_New(0);
            for (Py_ssize_t i = count >= 2 ? 1 : 0; recent != NULL && i >= 0; i--) { /* steps[-2:], oldest first */
                PyObject *ln = i == 0 ? (Py_INCREF(last_line), last_line) : PyUnicode_Substring(tail, found[i].start, found[i].end);
                if (ln == NULL || PyList_Append(recent, ln) < 0) Py_CLEAR(recent);
                Py_XDECREF(ln);
            }
        }
        Py_XDECREF(last_line);
        int bad = recent == NULL || PyObject_SetAttr(rs, s_last_step, found[0].step) < 0
            || PyObject_SetAttr(rs, s_last_step_at, last_at) < 0 || PyObject_SetAttr(rs, s_last_step_line, where) < 0
            || PyObject_SetAttr(rs, s_steps, samples) < 0 || PyObject_SetAttr(rs, s_step_lines, recent) < 0;
        Py_XDECREF(where);
        Py_XDECREF(recent);
        if (bad) goto done;
        new_step = found[0].step;
    }
    if (add_attr(rs, s_lines_after, PyTuple_GET_ITEM(plan, 0)) < 0) goto done;
    if (has_items) {
        if (add_attr(rs, s_info_hits, PyTuple_GET_ITEM(plan, 3)) < 0) goto done;
        PyObject *counts = PyObject_GetAttr(rs, s_cascade_counts);
        if (counts == NULL) goto done;
        if (!PyDict_Check(counts)) {
            Py_DECREF(counts);
            PyErr_SetString(PyExc_TypeError, "cascade_counts must be a dict");
            goto done;
        }
        Py_ssize_t nmade = 0, cap = 0, nc = PyTuple_GET_SIZE(cascades);
        for (Py_ssize_t c = 0; c < nc; c++) cap += PyTuple_GET_SIZE(PyTuple_GET_ITEM(PyTuple_GET_ITEM(cascades, c), 1));
        made = PyMem_Malloc(sizeof(Made) * (size_t)(cap ? cap : 1));
        int bad = made == NULL;
        for (Py_ssize_t c = 0; !bad && c < nc; c++) {
            PyObject *rule = PyTuple_GET_ITEM(PyTuple_GET_ITEM(cascades, c), 0);
            PyObject *where = PyTuple_GET_ITEM(PyTuple_GET_ITEM(cascades, c), 1);
            PyObject *rid = PyObject_GetAttr(rule, s_id);
            if (rid == NULL) {
                bad = 1;
                break;
            }
            PyObject *seen = PyDict_GetItemWithError(counts, rid); /* borrowed */
            Py_ssize_t before = 0;
            if (seen != NULL) before = PyLong_AsSsize_t(seen);
            PyObject *total = (PyErr_Occurred()) ? NULL : PyLong_FromSsize_t(before + PyTuple_GET_SIZE(where));
            bad = total == NULL || PyDict_SetItem(counts, rid, total) < 0;
            Py_XDECREF(total);
            Py_DECREF(rid);
            for (Py_ssize_t k = 0; !bad && k < PyTuple_GET_SIZE(where) && before + k < max_cascade; k++) {
                PyObject *pi = PyTuple_GET_ITEM(where, k);
                made[nmade].pos = PyLong_AsSsize_t(PyTuple_GET_ITEM(pi, 0));
                made[nmade].idx = PyLong_AsSsize_t(PyTuple_GET_ITEM(pi, 1));
                made[nmade].rule = rule;
                if (PyErr_Occurred()) bad = 1;
                nmade++;
            }
        }
        Py_DECREF(counts);
        if (bad) {
            if (!PyErr_Occurred()) PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 1; i < nmade; i++) { /* in plan order (positions are distinct) */
            Made m = made[i];
            Py_ssize_t j = i;
            for (; j > 0 && made[j - 1].pos > m.pos; j--) made[j] = made[j - 1];
            made[j] = m;
        }
        PyObject *step = count >= 2 ? found[1].step : new_step; /* the step the block starts in */
        PyObject *hits = nmade ? PyObject_GetAttr(rs, s_hits) : NULL;
        if (nmade && hits == NULL) goto done;
        Py_ssize_t first_line = count_newlines(s, 0, start) + 1;
        Py_ssize_t step_at[4]; /* each step line's line number in the block, -1 above it */
        for (Py_ssize_t i = 0; i < count; i++)
            step_at[i] = found[i].start >= start ? count_newlines(s, start, found[i].start) : -1;
        for (Py_ssize_t h = 0; h < nmade; h++) {
            Py_ssize_t idx = made[h].idx, a = start, b;
            for (Py_ssize_t k = 0; k < idx && a <= n; k++) { /* the idx-th line of tail[start:] */
                const char *nl = memchr(s + a, '\n', (size_t)(n - a));
                a = nl ? (nl - s) + 1 : n + 1;
            }
            if (a > n) {
                Py_DECREF(hits);
                PyErr_SetString(PyExc_IndexError, "a cached plan names a line the block does not have");
                goto done;
            }
            const char *nl = memchr(s + a, '\n', (size_t)(n - a));
            b = nl ? nl - s : n;
            PyObject *at_step = step;
            for (Py_ssize_t i = count - 1; i >= 0; i--) { /* the last step line above this one */
                if (step_at[i] >= 0 && step_at[i] < idx) at_step = found[i].step;
            }
            PyObject *rule = made[h].rule;
            PyObject *rid = PyObject_GetAttr(rule, s_id), *role = PyObject_GetAttr(rule, s_role);
            PyObject *line = PyUnicode_Substring(tail, a, b), *line_no = PyLong_FromSsize_t(first_line + idx);
            PyObject *at = (line != NULL) ? time_of(tail, s, a, b, year, year_obj) : NULL;
            PyObject *fields = PyDict_New();
            PyObject *hit = NULL;
            if (rid && role && line && line_no && at && fields) {
                /* tuple.__new__(Hit, fields): a named tuple's own __new__ is a Python function */
                PyObject *parts[9] = {rid, role, line, line_no, in_tail, at, at_step, file, fields};
                hit = ((PyTypeObject *)hit_type)->tp_alloc((PyTypeObject *)hit_type, 9);
                for (int k = 0; hit != NULL && k < 9; k++) {
                    Py_INCREF(parts[k]);
                    PyTuple_SET_ITEM(hit, k, parts[k]);
                }
            }
            Py_XDECREF(rid);
            Py_XDECREF(role);
            Py_XDECREF(line);
            Py_XDECREF(line_no);
            Py_XDECREF(at);
            Py_XDECREF(fields);
            if (hit == NULL || PyList_Append(hits, hit) < 0) {
                Py_XDECREF(hit);
                Py_DECREF(hits);
                goto done;
            }
            Py_DECREF(hit);
        }
        Py_XDECREF(hits);
    }
    PyObject *end = end_time_core(tail, year, year_obj, 8192, 60);
    if (end == NULL) goto done;
    if (end != Py_None) {
        PyObject *cur = PyObject_GetAttr(rs, s_end_at);
        int later = cur == NULL ? -1 : (cur == Py_None ? 1 : PyObject_RichCompareBool(end, cur, Py_GT));
        int bad = later < 0 || PyObject_SetAttr(rs, s_end_at, later ? end : cur) < 0;
        Py_XDECREF(cur);
        if (bad) {
            Py_DECREF(end);
            goto done;
        }
    }
    Py_DECREF(end);
    result = Py_True;
    Py_INCREF(result);
    goto done;
not_here:
    result = Py_NotImplemented;
    Py_INCREF(result);
done:
    drop_steps(found, count);
    PyMem_Free(made);
    Py_XDECREF(rs_step);
    Py_XDECREF(rs_at);
    Py_XDECREF(samples);
    Py_XDECREF(last_at);
    Py_XDECREF(blind);
    Py_XDECREF(key);
    Py_XDECREF(plan);
    return result;
}
