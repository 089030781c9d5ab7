/* Units: all of one rank's log files read and scanned in one call, the per-rank step of diagnose's
 * scanner (diagnose.scan._scan_unit for a rank, ranklog.scan_rank_text for each of its files). The
 * Python code around the compiled pieces cost as much as the pieces: this does the same steps in the
 * same order without it. */

/* timestamps.find_year(text, limit) without dmesg stamps, for ASCII text: the year of the first
 * "20YY-MM-DD[ T_]hh:mm" in s[:limit] that no digit precedes, else 0 */
static long find_year_ascii(const char *s, Py_ssize_t n, Py_ssize_t limit) {
    Py_ssize_t end = n < limit ? n : limit;
    for (Py_ssize_t at = 0; at + 16 <= end; at++) {
        const char *p = s + at;
        if (p[0] != '2' || p[1] != '0') continue;
        if (!(is_digit(p[2]) && is_digit(p[3]) && p[4] == '-' && (p[5] == '0' || p[5] == '1') && is_digit(p[6])
              && p[7] == '-' && p[8] >= '0' && p[8] <= '3' && is_digit(p[9]) && (p[10] == ' ' || p[10] == 'T' || p[10] == '_')
              && is_digit(p[11]) && is_digit(p[12]) && p[13] == ':' && is_digit(p[14]) && is_digit(p[15])))
            continue;
        if (at == 0 || !is_digit(p[-1])) return 2000 + (p[2] - '0') * 10 + (p[3] - '0');
    }
    return 0;
}

/* find_year(text, limit) -> int | None | NotImplemented (not ASCII): timestamps.find_year without dmesg */
static PyObject *fl_find_year(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t limit = 16384;
    if (!PyArg_ParseTuple(args, "U|n", &text, &limit)) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NOTIMPLEMENTED;
    long year = find_year_ascii((const char *)PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), limit < 0 ? 0 : limit);
    if (year == 0) Py_RETURN_NONE;
    return PyLong_FromLong(year);
}

static PyObject *s_files, *s_identity, *s_tail_offsets, *s_bytes_read, *s_rank_key, *s_host_key, *s_world_size_key;

static int intern_unit_names(void) {
    if (s_world_size_key != NULL) return 0;
#define NAME(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return -1
    NAME(s_files, "files");
    NAME(s_identity, "identity");
    NAME(s_tail_offsets, "tail_offsets");
    NAME(s_bytes_read, "bytes_read");
    NAME(s_rank_key, "rank");
    NAME(s_host_key, "host");
    NAME(s_world_size_key, "world_size");
#undef NAME
    return 0;
}

/* ranklog._NCCL_INIT tried at s[p], a line start, in the line text[ls:le]: the spans of host, rank,
 * nranks, cudaDev and busId (spans[0..9]), or 0. ASCII text; the pattern's backtracking is spelled out
 * (its digit and hex runs are followed by characters they cannot hold, so only the optional parts and
 * the lazy ".*?\brank" have choices). */
static int starts_with(const char *s, Py_ssize_t p, Py_ssize_t le, const char *lit) {
    size_t n = strlen(lit);
    return p + (Py_ssize_t)n <= le && memcmp(s + p, lit, n) == 0;
}

static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* " busId <hex>" and then "Init COMPLETE" on the same line, from p */
static int nccl_bus(const char *s, Py_ssize_t p, Py_ssize_t le, Py_ssize_t *spans) {
    if (!starts_with(s, p, le, " busId ")) return 0;
    Py_ssize_t a = p + 7, b = a;
    while (b < le && is_hex(s[b])) b++;
    if (b == a) return 0;
    for (Py_ssize_t q = b; q + 13 <= le && s[q] != '\n'; q++)
        if (memcmp(s + q, "Init COMPLETE", 13) == 0) {
            spans[8] = a;
            spans[9] = b;
            return 1;
        }
    return 0;
}

/* from "rank " at r: rank N nranks N cudaDev N[ nvmlDev N] busId H ... Init COMPLETE */
static int nccl_tail(const char *s, Py_ssize_t r, Py_ssize_t le, Py_ssize_t *spans) {
    static const char *const words[] = {"rank ", " nranks ", " cudaDev "};
    Py_ssize_t p = r;
    for (int k = 0; k < 3; k++) {
        if (!starts_with(s, p, le, words[k])) return 0;
        Py_ssize_t a = p + (Py_ssize_t)strlen(words[k]), b = digit_run(s, a, le);
        if (b == a) return 0;
        spans[2 + 2 * k] = a;
        spans[3 + 2 * k] = b;
        p = b;
    }
    if (starts_with(s, p, le, " nvmlDev ")) { /* (?: nvmlDev \d+)? tried first, then without */
        Py_ssize_t a = p + 9, b = digit_run(s, a, le);
        if (b > a && nccl_bus(s, b, le, spans)) return 1;
    }
    return nccl_bus(s, p, le, spans);
}

/* host:N:N [N] NCCL INFO .*?\brank ... from q */
static int nccl_after_prefix(const char *s, Py_ssize_t q, Py_ssize_t le, Py_ssize_t *spans) {
    Py_ssize_t h = q;
    while (h < le && (is_word(s[h]) || s[h] == '.' || s[h] == '-')) h++;
    if (h == q) return 0;
    spans[0] = q;
    spans[1] = h;
    Py_ssize_t p = h;
    for (int k = 0; k < 2; k++) {
        if (p >= le || s[p] != ':') return 0;
        Py_ssize_t b = digit_run(s, p + 1, le);
        if (b == p + 1) return 0;
        p = b;
    }
    if (!starts_with(s, p, le, " [")) return 0;
    Py_ssize_t b = digit_run(s, p + 2, le);
    if (b == p + 2 || !starts_with(s, b, le, "] NCCL INFO ")) return 0;
    for (Py_ssize_t r = b + 12; r < le && s[r] != '\n'; r++) /* the lazy .*? */
        if (s[r] == 'r' && !is_word(s[r - 1]) && nccl_tail(s, r, le, spans)) return 1;
    return 0;
}

static int nccl_at(const char *s, Py_ssize_t p, Py_ssize_t le, Py_ssize_t *spans) {
    /* (?:\[(?:rank|default)\d+\]:\s?)? : present (with its space, then without), then absent */
    Py_ssize_t w = starts_with(s, p, le, "[rank") ? 5 : starts_with(s, p, le, "[default") ? 8 : 0;
    if (w) {
        Py_ssize_t b = digit_run(s, p + w, le);
        if (b > p + w && starts_with(s, b, le, "]:")) {
            Py_ssize_t q = b + 2;
            if (q < le && is_space(s[q]) && nccl_after_prefix(s, q + 1, le, spans)) return 1;
            if (nccl_after_prefix(s, q, le, spans)) return 1;
        }
    }
    return nccl_after_prefix(s, p, le, spans);
}

/* ranklog._nccl_init for ASCII text: the NCCL "Init COMPLETE" line's fields into `out` */
static int nccl_fields(PyObject *out, const char *s, Py_ssize_t at, Py_ssize_t end) {
    const char *nl = at > 0 ? memrchr(s, '\n', (size_t)at) : NULL;
    Py_ssize_t ls = nl ? nl - s + 1 : 0, le = at + 20 < end ? at + 20 : end, spans[10];
    for (Py_ssize_t p = ls; p <= le;) {
        if (nccl_at(s, p, le, spans)) {
            if (put_span(out, "nccl_host", s, spans[0], spans[1]) < 0 || put_span(out, "nccl_rank", s, spans[2], spans[3]) < 0
                || put_span(out, "cuda_dev", s, spans[6], spans[7]) < 0 || put_span(out, "bus_id", s, spans[8], spans[9]) < 0)
                return -1;
            int has = PyDict_Contains(out, s_world_size_key);
            if (has < 0) return -1;
            return has ? 0 : put_span(out, "world_size", s, spans[4], spans[5]);
        }
        const char *next = p < le ? memchr(s + p, '\n', (size_t)(le - p)) : NULL;
        if (next == NULL) break;
        p = next - s + 1;
    }
    return 0;
}

/* nccl_fields(out, text, at, end) -> None: ranklog._nccl_init (the fields of the "Init COMPLETE" at
 * text[at:], the identity lines ending at end) into the dict out; NotImplemented for non-ASCII text */
static PyObject *fl_nccl_fields(PyObject *self, PyObject *args) {
    PyObject *out, *text;
    Py_ssize_t at, end;
    if (!PyArg_ParseTuple(args, "O!Unn", &PyDict_Type, &out, &text, &at, &end)) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (at < 0 || end > n || at + 13 > end) {
        PyErr_SetString(PyExc_ValueError, "nccl_fields: \"Init COMPLETE\" must sit at text[at:end]");
        return NULL;
    }
    if (intern_unit_names() < 0) return NULL;
    if (nccl_fields(out, (const char *)PyUnicode_1BYTE_DATA(text), at, end) < 0) return NULL;
    Py_RETURN_NONE;
}

#define MAX_UNIT_FILES 8
#define IDENTITY_CHARS 16384 /* scan_rank_text: identity(head or tail, 16384), find_year's limit */



/* root joined with a relative path, as posixpath.join does */
static PyObject *join_path(PyObject *root, PyObject *rel) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(root);
    if (n == 0 || PyUnicode_READ_CHAR(root, n - 1) == '/') return PyUnicode_Concat(root, rel);
    PyObject *with = PyUnicode_FromFormat("%U/%U", root, rel);
    return with;
}

/* One file's identity lines into rs.identity: ranklog.identity(text, 16384), then setdefault each. */
static int add_identity(PyObject *ident, PyObject *text) {
    int has_rank = PyDict_Contains(ident, s_rank_key), has_host = has_rank < 0 ? -1 : PyDict_Contains(ident, s_host_key);
    if (has_rank < 0 || has_host < 0) return -1;
    if (has_rank && has_host) return 0;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), end = n < IDENTITY_CHARS ? n : IDENTITY_CHARS;
    PyObject *out = identity_core(s, end);
    if (out == NULL) return -1;
    const char *at = end >= 13 ? memmem(s, (size_t)end, "Init COMPLETE", 13) : NULL;
    if (at != NULL && nccl_fields(out, s, at - s, end) < 0) { /* the NCCL init line */
        Py_DECREF(out);
        return -1;
    }
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(out, &pos, &k, &v)) {
        if (PyDict_SetDefault(ident, k, v) == NULL) {
            Py_DECREF(out);
            return -1;
        }
    }
    Py_DECREF(out);
    return 0;
}

/* scan_files(root, roles, rank_kind, head_bytes, tail_bytes, ctx, unit_ctx) -> RankScan | NotImplemented
 *
 * diagnose.scan._scan_unit for a rank all of whose files are rank logs (no error.json) and plain (what
 * read_text reads here): each file read, then, file by file in order, find_year, the identity lines,
 * and scan_text (the Python code, ranklog._py_scan_tail, where scan_text declines). NotImplemented,
 * with nothing scanned, when a role is not a rank log or a file is not plain: the caller reads the
 * rank the Python way, which says what is odd. ctx as scan_text's;
 * unit_ctx = (RankScan, ranklog._py_scan_tail, matcher). */
static PyObject *fl_scan_files(PyObject *self, PyObject *args) {
    PyObject *root, *roles, *rank_kind, *ctx, *unit_ctx;
    Py_ssize_t head_bytes, tail_bytes;
    if (!PyArg_ParseTuple(args, "UO!OnnO!O!", &root, &PyList_Type, &roles, &rank_kind, &head_bytes, &tail_bytes,
                          &PyTuple_Type, &ctx, &PyTuple_Type, &unit_ctx))
        return NULL;
    if (PyTuple_GET_SIZE(unit_ctx) != 3) {
        PyErr_SetString(PyExc_TypeError, "unit_ctx: (RankScan, py_scan_tail, matcher)");
        return NULL;
    }
    if (intern_unit_names() < 0) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(roles);
    if (count == 0 || count > MAX_UNIT_FILES) Py_RETURN_NOTIMPLEMENTED;
    PyObject *rels[MAX_UNIT_FILES], *heads[MAX_UNIT_FILES] = {NULL}, *tails[MAX_UNIT_FILES] = {NULL};
    Py_ssize_t offsets[MAX_UNIT_FILES], nreads[MAX_UNIT_FILES], size;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *role = PyList_GET_ITEM(roles, i);
        if (!PyTuple_Check(role) || PyTuple_GET_SIZE(role) < 2 || PyTuple_GET_ITEM(role, 1) != rank_kind)
            Py_RETURN_NOTIMPLEMENTED;
        rels[i] = PyTuple_GET_ITEM(role, 0);
        if (!PyUnicode_Check(rels[i]) || PyUnicode_GET_LENGTH(rels[i]) == 0 || PyUnicode_READ_CHAR(rels[i], 0) == '/')
            Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *result = NULL, *rs = NULL, *files = NULL, *ident = NULL, *tail_offsets = NULL;
    Py_ssize_t done = 0;
    for (; done < count; done++) {
        PyObject *path = join_path(root, rels[done]), *path_bytes = NULL;
        if (path == NULL) goto end;
        int ok = PyUnicode_FSConverter(path, &path_bytes);
        Py_DECREF(path);
        if (!ok) goto end;
        int got = read_plain(PyBytes_AS_STRING(path_bytes), head_bytes, tail_bytes, &heads[done], &tails[done], &size,
                             &offsets[done], &nreads[done]);
        Py_DECREF(path_bytes);
        if (got < 0) goto end;
        if (got == 0) {
            result = Py_NewRef(Py_NotImplemented);
            goto end;
        }
    }
    PyObject *scan_type = PyTuple_GET_ITEM(unit_ctx, 0), *py_tail = PyTuple_GET_ITEM(unit_ctx, 1);
    PyObject *matcher = PyTuple_GET_ITEM(unit_ctx, 2);
    rs = PyObject_CallNoArgs(scan_type);
    if (rs == NULL) goto end;
    files = PyObject_GetAttr(rs, s_files);
    ident = files ? PyObject_GetAttr(rs, s_identity) : NULL;
    tail_offsets = ident ? PyObject_GetAttr(rs, s_tail_offsets) : NULL;
    if (tail_offsets == NULL) goto end;
    if (!PyList_Check(files) || !PyDict_Check(ident) || !PyDict_Check(tail_offsets)) {
        PyErr_SetString(PyExc_TypeError, "RankScan(): files must be a list, identity and tail_offsets dicts");
        goto end;
    }
    long year = 0;
    Py_ssize_t nbytes = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (PyList_Append(files, rels[i]) < 0) goto end;
        PyObject *head = heads[i], *tail = tails[i];
        if (PyUnicode_GET_LENGTH(head) || PyUnicode_GET_LENGTH(tail)) {
            PyObject *text = PyUnicode_GET_LENGTH(head) ? head : tail;
            if (year == 0)
                year = find_year_ascii((const char *)PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), IDENTITY_CHARS);
            if (add_identity(ident, text) < 0) goto end;
            PyObject *year_obj = PyLong_FromLong(year ? year : 1970);
            if (year_obj == NULL) goto end;
            PyObject *whole = offsets[i] == 0 ? Py_True : Py_False;
            PyObject *call = PyTuple_Pack(6, rs, tail, whole, rels[i], year_obj, ctx);
            PyObject *r = call ? fl_scan_text(NULL, call) : NULL;
            Py_XDECREF(call);
            if (r == Py_NotImplemented) {
                Py_DECREF(r);
                r = PyObject_CallFunctionObjArgs(py_tail, rs, tail, matcher, whole, rels[i], year_obj, NULL);
            }
            Py_DECREF(year_obj);
            if (r == NULL) goto end;
            Py_DECREF(r);
        }
        if (offsets[i] != 0) {
            PyObject *off = PyLong_FromSsize_t(offsets[i]);
            int bad = off == NULL || PyDict_SetItem(tail_offsets, rels[i], off) < 0;
            Py_XDECREF(off);
            if (bad) goto end;
        }
        nbytes += nreads[i];
    }
    PyObject *nb = PyLong_FromSsize_t(nbytes);
    if (nb == NULL || PyObject_SetAttr(rs, s_bytes_read, nb) < 0) {
        Py_XDECREF(nb);
        goto end;
    }
    Py_DECREF(nb);
    result = Py_NewRef(rs);
end:
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_XDECREF(heads[i]);
        Py_XDECREF(tails[i]);
    }
    Py_XDECREF(rs);
    Py_XDECREF(files);
    Py_XDECREF(ident);
    Py_XDECREF(tail_offsets);
    return result;
}
