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
        Py_ssize_t a = hit - s + 8, b = a;
        while (b < n && is_digit(s[b])) b++;
        if (b > a && b + 13 <= n && memcmp(s + b, " milliseconds", 13) == 0) {
            if (b - a > 15) return -1;
            long long v = 0;
            for (Py_ssize_t i = a; i < b; i++) v = v * 10 + (s[i] - '0');
            *wait = (double)v / 1000.0;
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
