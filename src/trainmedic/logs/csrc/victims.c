/* Victims: the cascade lines of one rank, placed on the shared clock (diagnose.evidence's per-rank
 * loop, _py_cascade_lines). 18,432 victims each bring a few; in Python this was most of the evidence
 * pass, which runs on one core after reading. */

/* "ran for N milliseconds": N / 1000.0 in *wait and 1, 0 when absent, -1 for a number this code does
 * not read exactly (more than 15 digits: the Python code does) */
static int ran_for(const char *s, Py_ssize_t n, double *wait) {
    Py_ssize_t from = 0;
    while (from + 8 <= n) {
        const char *hit = memmem(s + from, (size_t)(n - from), "ran for ", 8);
        if (hit == NULL) return 0;
        Py_ssize_t a = hit - s + 8, b = digit_run(s, a, n);
        if (b > a && b + 13 <= n && memcmp(s + b, " milliseconds", 13) == 0) {
            if (b - a > 15) return -1; /* beyond 2^53 the double would round: the Python code reads it */
            *wait = (double)small_decimal(s, a, b) / 1000.0;
            return 1;
        }
        from = hit - s + 1;
    }
    return 0;
}

/* cascade_lines(hits, faults, offset) -> (kinds, first, others) | NotImplemented
 * evidence._py_cascade_lines: per cascade hit (its rule in faults), the fault counted and the line
 * that blocked first kept; the other hits returned in order. NotImplemented for a text that is not
 * ASCII, a time that is not a float, or a wait this code does not read exactly. */
static PyObject *fl_cascade_lines(PyObject *self, PyObject *args) {
    PyObject *hits, *faults;
    double offset;
    if (!PyArg_ParseTuple(args, "O!O!d", &PyList_Type, &hits, &PyDict_Type, &faults, &offset)) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(hits);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *h = PyList_GET_ITEM(hits, i);
        if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) < 8) {
            PyErr_SetString(PyExc_TypeError, "cascade_lines: hits must be Hit tuples");
            return NULL;
        }
        PyObject *rule = PyTuple_GET_ITEM(h, 0), *text = PyTuple_GET_ITEM(h, 2), *at = PyTuple_GET_ITEM(h, 5);
        PyObject *fault = PyDict_GetItemWithError(faults, rule);
        if (fault == NULL && PyErr_Occurred()) return NULL;
        if (fault != NULL && (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text) || (at != Py_None && !PyFloat_CheckExact(at))))
            Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *kinds = PyDict_New(), *others = PyList_New(0), *first = Py_NewRef(Py_None), *result = NULL;
    if (kinds == NULL || others == NULL) goto end;
    int have = 0, first_timed = 0;
    double first_at = 0.0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *h = PyList_GET_ITEM(hits, i);
        PyObject *fault = PyDict_GetItemWithError(faults, PyTuple_GET_ITEM(h, 0));
        if (fault == NULL) {
            if (PyErr_Occurred() || PyList_Append(others, h) < 0) goto end;
            continue;
        }
        PyObject *seen = PyDict_GetItemWithError(kinds, fault);
        if (seen == NULL && PyErr_Occurred()) goto end;
        long before = seen == NULL ? 0 : PyLong_AsLong(seen);
        if (before == -1 && PyErr_Occurred()) goto end;
        PyObject *bumped = PyLong_FromLong(before + 1);
        if (bumped == NULL) goto end;
        int bad = PyDict_SetItem(kinds, fault, bumped) < 0;
        Py_DECREF(bumped);
        if (bad) goto end;
        PyObject *text = PyTuple_GET_ITEM(h, 2), *at_obj = PyTuple_GET_ITEM(h, 5);
        int timed = at_obj != Py_None;
        double at = 0.0;
        if (timed) {
            at = PyFloat_AS_DOUBLE(at_obj) - offset;
            double wait;
            int got = ran_for((const char *)PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text), &wait);
            if (got < 0) {
                result = Py_NewRef(Py_NotImplemented);
                goto end;
            }
            if (got) at -= wait;
        }
        if (!have || (timed && (!first_timed || at < first_at))) {
            PyObject *at_out = timed ? PyFloat_FromDouble(at) : Py_NewRef(Py_None);
            if (at_out == NULL) goto end;
            PyObject *line = PyTuple_Pack(5, at_out, text, PyTuple_GET_ITEM(h, 7), PyTuple_GET_ITEM(h, 3), PyTuple_GET_ITEM(h, 4));
            Py_DECREF(at_out);
            if (line == NULL) goto end;
            Py_SETREF(first, line);
            have = 1;
            first_timed = timed;
            first_at = at;
        }
    }
    result = PyTuple_Pack(3, kinds, first, others);
end:
    Py_XDECREF(kinds);
    Py_XDECREF(others);
    Py_XDECREF(first);
    return result;
}

/* Clock offsets from step markers (diagnose.clock.step_offsets), where the median of each step's
 * times and of each node's distances to them was the longest serial step after reading. */

typedef struct {
    long long step;
    double at;
} StepSample;

static int by_step_then_at(const void *a, const void *b) {
    const StepSample *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* clock._median of sorted values */
static double median_sorted(const double *v, Py_ssize_t n) {
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* one (step, at) of a log's list: 1 with the values, 0 for an untimed step, -1 not read here */
static int step_sample(PyObject *pair, StepSample *out) {
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) return -1;
    PyObject *step = PyTuple_GET_ITEM(pair, 0), *at = PyTuple_GET_ITEM(pair, 1);
    if (at == Py_None) return 0;
    if (!PyLong_CheckExact(step) || !PyFloat_CheckExact(at)) return -1;
    int overflow;
    long long s = PyLong_AsLongLongAndOverflow(step, &overflow);
    double t = PyFloat_AS_DOUBLE(at);
    if (overflow || (s == -1 && PyErr_Occurred()) || !isfinite(t)) {
        PyErr_Clear();
        return -1;
    }
    out->step = s;
    out->at = t;
    return 1;
}

typedef struct {
    long long step;
    double ref;
} StepRef;

/* the reference time of each step two or more ranks logged: the median of its times (all sorted by
 * step, then time); the number of such steps */
static Py_ssize_t step_refs(const StepSample *all, Py_ssize_t n, StepRef *refs) {
    Py_ssize_t count = 0;
    for (Py_ssize_t lo = 0; lo < n;) {
        Py_ssize_t end = lo;
        while (end < n && all[end].step == all[lo].step) end++;
        if (end - lo >= 2) {
            Py_ssize_t k = end - lo;
            refs[count].step = all[lo].step;
            refs[count].ref = k % 2 ? all[lo + k / 2].at : (all[lo + k / 2 - 1].at + all[lo + k / 2].at) / 2;
            count++;
        }
        lo = end;
    }
    return count;
}

static const StepRef *find_ref(const StepRef *refs, Py_ssize_t count, long long step) {
    Py_ssize_t lo = 0, hi = count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (refs[mid].step < step) lo = mid + 1;
        else hi = mid;
    }
    return lo < count && refs[lo].step == step ? &refs[lo] : NULL;
}

/* step_offsets(logs) -> {node: offset} | NotImplemented: clock.step_offsets where every step is an
 * int that fits 64 bits and every time a finite float */
static PyObject *fl_step_offsets(PyObject *self, PyObject *logs) {
    if (!PyDict_Check(logs)) {
        PyErr_SetString(PyExc_TypeError, "step_offsets: a dict of node -> list of (step, time) lists");
        return NULL;
    }
    Py_ssize_t total = 0, pos = 0;
    PyObject *node, *steps;
    while (PyDict_Next(logs, &pos, &node, &steps)) {
        if (!PyList_Check(steps)) Py_RETURN_NOTIMPLEMENTED;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(steps); i++) {
            PyObject *log = PyList_GET_ITEM(steps, i);
            if (!PyList_Check(log)) Py_RETURN_NOTIMPLEMENTED;
            total += PyList_GET_SIZE(log);
        }
    }
    StepSample *all = PyMem_Malloc(sizeof(StepSample) * (size_t)(total + 1));
    StepRef *refs = PyMem_Malloc(sizeof(StepRef) * (size_t)(total + 1));
    PyObject *out = NULL;
    if (all == NULL || refs == NULL) {
        PyErr_NoMemory();
        goto end;
    }
    Py_ssize_t n = 0;
    pos = 0;
    while (PyDict_Next(logs, &pos, &node, &steps))
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(steps); i++) {
            PyObject *log = PyList_GET_ITEM(steps, i);
            for (Py_ssize_t j = 0; j < PyList_GET_SIZE(log); j++) {
                int got = step_sample(PyList_GET_ITEM(log, j), &all[n]);
                if (got < 0) {
                    out = Py_NewRef(Py_NotImplemented);
                    goto end;
                }
                n += got;
            }
        }
    qsort(all, (size_t)n, sizeof(StepSample), by_step_then_at);
    Py_ssize_t nrefs = step_refs(all, n, refs);
    out = PyDict_New();
    if (out == NULL) goto end;
    /* each node's distances to the references of its steps, then their median */
    double *dist = NULL;
    pos = 0;
    while (PyDict_Next(logs, &pos, &node, &steps)) {
        Py_ssize_t m = 0, cap = 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(steps); i++) cap += PyList_GET_SIZE(PyList_GET_ITEM(steps, i));
        double *grown = PyMem_Realloc(dist, sizeof(double) * (size_t)(cap + 1));
        if (grown == NULL) {
            PyErr_NoMemory();
            Py_CLEAR(out);
            break;
        }
        dist = grown;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(steps); i++) {
            PyObject *log = PyList_GET_ITEM(steps, i);
            for (Py_ssize_t j = 0; j < PyList_GET_SIZE(log); j++) {
                StepSample s;
                const StepRef *r;
                if (step_sample(PyList_GET_ITEM(log, j), &s) == 1 && (r = find_ref(refs, nrefs, s.step)) != NULL)
                    dist[m++] = s.at - r->ref;
            }
        }
        if (m == 0) continue;
        qsort(dist, (size_t)m, sizeof(double), by_value);
        PyObject *v = PyFloat_FromDouble(median_sorted(dist, m));
        if (v == NULL || PyDict_SetItem(out, node, v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(v);
    }
    PyMem_Free(dist);
end:
    PyMem_Free(all);
    PyMem_Free(refs);
    return out;
}
