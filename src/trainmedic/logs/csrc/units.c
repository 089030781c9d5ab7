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

#define MAX_UNIT_FILES 8
#define IDENTITY_CHARS 16384 /* scan_rank_text: identity(head or tail, 16384), find_year's limit */

static PyObject *s_files, *s_identity, *s_tail_offsets, *s_bytes_read, *s_rank_key, *s_host_key;

static int intern_unit_names(void) {
    if (s_host_key != NULL) return 0;
#define NAME(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return -1
    NAME(s_files, "files");
    NAME(s_identity, "identity");
    NAME(s_tail_offsets, "tail_offsets");
    NAME(s_bytes_read, "bytes_read");
    NAME(s_rank_key, "rank");
    NAME(s_host_key, "host");
#undef NAME
    return 0;
}

/* root joined with a relative path, as posixpath.join does */
static PyObject *join_path(PyObject *root, PyObject *rel) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(root);
    if (n == 0 || PyUnicode_READ_CHAR(root, n - 1) == '/') return PyUnicode_Concat(root, rel);
    PyObject *with = PyUnicode_FromFormat("%U/%U", root, rel);
    return with;
}

/* One file's identity lines into rs.identity: ranklog.identity(text, 16384), then setdefault each. */
static int add_identity(PyObject *ident, PyObject *text, PyObject *nccl_init) {
    int has_rank = PyDict_Contains(ident, s_rank_key), has_host = has_rank < 0 ? -1 : PyDict_Contains(ident, s_host_key);
    if (has_rank < 0 || has_host < 0) return -1;
    if (has_rank && has_host) return 0;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), end = n < IDENTITY_CHARS ? n : IDENTITY_CHARS;
    PyObject *out = identity_core(s, end);
    if (out == NULL) return -1;
    const char *at = end >= 13 ? memmem(s, (size_t)end, "Init COMPLETE", 13) : NULL;
    if (at != NULL) { /* the NCCL init line: its regex stays in Python (ranklog._nccl_init) */
        PyObject *r = PyObject_CallFunction(nccl_init, "OOnn", out, text, (Py_ssize_t)(at - s), end);
        if (r == NULL) {
            Py_DECREF(out);
            return -1;
        }
        Py_DECREF(r);
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
 * unit_ctx = (RankScan, ranklog._nccl_init, ranklog._py_scan_tail, matcher). */
static PyObject *fl_scan_files(PyObject *self, PyObject *args) {
    PyObject *root, *roles, *rank_kind, *ctx, *unit_ctx;
    Py_ssize_t head_bytes, tail_bytes;
    if (!PyArg_ParseTuple(args, "UO!OnnO!O!", &root, &PyList_Type, &roles, &rank_kind, &head_bytes, &tail_bytes,
                          &PyTuple_Type, &ctx, &PyTuple_Type, &unit_ctx))
        return NULL;
    if (PyTuple_GET_SIZE(unit_ctx) != 4) {
        PyErr_SetString(PyExc_TypeError, "unit_ctx: (RankScan, nccl_init, py_scan_tail, matcher)");
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
    PyObject *scan_type = PyTuple_GET_ITEM(unit_ctx, 0), *nccl_init = PyTuple_GET_ITEM(unit_ctx, 1);
    PyObject *py_tail = PyTuple_GET_ITEM(unit_ctx, 2), *matcher = PyTuple_GET_ITEM(unit_ctx, 3);
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
            if (add_identity(ident, text, nccl_init) < 0) goto end;
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
