/* Files: reading.read_text's plain case and diagnose's directory walk, both with the GIL released.
 * Part of _fastlog: included by module.c. */

/* reading.looks_binary on data that holds no NUL: more than 5% control bytes in its first 4 KB */
static int binary_sample(const unsigned char *s, Py_ssize_t len) {
    Py_ssize_t n = len < 4096 ? len : 4096, control = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        control += (c != 0) & ((c < 9) | ((c > 13) & (c < 32)));
    }
    return n > 0 && (double)control > (double)n * 0.05;
}

/* every byte below 128 and none NUL (what reading.read_text decodes as plain ASCII, nothing dropped) */
static int clean_ascii(const unsigned char *s, Py_ssize_t n) {
    unsigned char bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) bad |= (s[i] & 0x80) | (s[i] == 0);
    return !bad;
}

/* reading.cut_long_lines would leave it as it is */
static int short_lines(const char *s, Py_ssize_t n) {
    /* From each line start p, the line ends within MAX_LINE_CHARS + 1 characters or it is too long;
     * jumping to the last line break in that window checks every line there at once. */
    Py_ssize_t p = 0;
    while (n - p > MAX_LINE_CHARS) {
        const char *nl = memrchr(s + p, '\n', MAX_LINE_CHARS + 1);
        if (nl == NULL) return 0;
        p = (nl - s) + 1;
    }
    return 1;
}

/* read_text's plain case for one file: 1 with *head and *tail set (new references), 0 for a file
 * the Python reader must read (unreadable, not clean ASCII, binary-looking, long lines, no line break
 * in a cut tail), -1 with an exception set. */
static int read_plain(const char *path, Py_ssize_t head_bytes, Py_ssize_t tail_bytes, PyObject **head_out,
                      PyObject **tail_out, Py_ssize_t *size_out, Py_ssize_t *offset_out, Py_ssize_t *nread_out) {
    if (head_bytes < 0 || tail_bytes < 0) return 0;
    char *buf = NULL;
    Py_ssize_t size = 0, head_len = 0, tail_start = 0, tail_len = 0, offset = 0;
    int ok = 0;
    Py_BEGIN_ALLOW_THREADS
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size >= 0 && st.st_size < PY_SSIZE_T_MAX / 2) {
            size = (Py_ssize_t)st.st_size;
            if (size <= head_bytes + tail_bytes) {
                /* as read_text: one read of size + 1, then more while short of size */
                buf = PyMem_RawMalloc((size_t)size + 2);
                if (buf != NULL) {
                    ssize_t r = read(fd, buf, (size_t)size + 1);
                    Py_ssize_t got = r;
                    while (r >= 0 && got < size) {
                        r = read(fd, buf + got, (size_t)(size - got + 1));
                        if (r <= 0) break;
                        got += r;
                    }
                    if (r >= 0) {
                        tail_start = 0;
                        tail_len = got;
                        ok = 1;
                    }
                }
            } else {
                buf = PyMem_RawMalloc((size_t)(head_bytes + tail_bytes) + 1);
                if (buf != NULL) {
                    ssize_t h = pread(fd, buf, (size_t)head_bytes, 0);
                    offset = size - tail_bytes;
                    ssize_t t = h < 0 ? -1 : pread(fd, buf + h, (size_t)tail_bytes, offset);
                    if (t >= 0) {
                        head_len = h;
                        tail_start = h;
                        tail_len = t;
                        const char *nl = memchr(buf + tail_start, '\n', (size_t)tail_len);
                        if (nl != NULL && nl - (buf + tail_start) < tail_len - 1) {
                            Py_ssize_t cut = nl - (buf + tail_start) + 1;
                            offset += cut;
                            tail_start += cut;
                            tail_len -= cut;
                        }
                        ok = 1;
                    }
                }
            }
        }
        close(fd);
    }
    if (ok) {
        const unsigned char *head = (const unsigned char *)buf, *tail = (const unsigned char *)buf + tail_start;
        const unsigned char *first = head_len ? head : tail;
        Py_ssize_t first_len = head_len ? head_len : tail_len;
        Py_ssize_t last_len = tail_len < 4096 ? tail_len : 4096;
        ok = clean_ascii(head, head_len) && clean_ascii(tail, tail_len)
            && !(binary_sample(first, first_len) && binary_sample(tail + tail_len - last_len, last_len))
            && short_lines((const char *)head, head_len) && short_lines((const char *)tail, tail_len)
            && !(offset && memchr(tail, '\n', (size_t)tail_len) == NULL);
    }
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyMem_RawFree(buf);
        return 0;
    }
    PyObject *head = PyUnicode_New(head_len, 127), *tail = PyUnicode_New(tail_len, 127);
    if (head == NULL || tail == NULL) {
        Py_XDECREF(head);
        Py_XDECREF(tail);
        PyMem_RawFree(buf);
        return -1;
    }
    memcpy(PyUnicode_1BYTE_DATA(head), buf, (size_t)head_len);
    memcpy(PyUnicode_1BYTE_DATA(tail), buf + tail_start, (size_t)tail_len);
    PyMem_RawFree(buf);
    *head_out = head;
    *tail_out = tail;
    *size_out = size;
    *offset_out = offset;
    *nread_out = head_len + tail_len;
    return 1;
}

/* read_text(path, head_bytes, tail_bytes) -> (size, head, tail, tail_offset, bytes_read), or None.
 *
 * reading.read_text for the plain case, with the GIL released while it reads: a readable file whose
 * head and tail are ASCII without NUL, not binary, with no line over MAX_LINE_CHARS and a line break
 * in a partial tail. Anything else (errors included) gives None, and the Python code reads the file
 * again and says what is odd about it. */
static PyObject *fl_read_text(PyObject *self, PyObject *args) {
    PyObject *path_obj, *path_bytes = NULL, *head, *tail;
    Py_ssize_t head_bytes, tail_bytes, size, offset, nread;
    if (!PyArg_ParseTuple(args, "Onn", &path_obj, &head_bytes, &tail_bytes)) return NULL;
    if (head_bytes < 0 || tail_bytes < 0) Py_RETURN_NONE;
    if (!PyUnicode_FSConverter(path_obj, &path_bytes)) return NULL;
    int got = read_plain(PyBytes_AS_STRING(path_bytes), head_bytes, tail_bytes, &head, &tail, &size, &offset, &nread);
    Py_DECREF(path_bytes);
    if (got < 0) return NULL;
    if (got == 0) Py_RETURN_NONE;
    return Py_BuildValue("nNNnn", size, head, tail, offset, nread);
}


typedef struct {
    char *buf;     /* the relative paths, each ending in NUL */
    size_t len, cap;
    Py_ssize_t count;
} Paths;

static int paths_add(Paths *p, const char *s, size_t n) {
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1 << 16;
        while (cap < p->len + n + 1) cap *= 2;
        char *nb = PyMem_RawRealloc(p->buf, cap);
        if (nb == NULL) return -1;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->buf[p->len + n] = 0;
    p->len += n + 1;
    p->count++;
    return 0;
}

/* The regular files under `start` (symbolic links to files included, to directories not followed),
 * depth first as scan._walk lists them: a directory's files in the order the directory gives them,
 * then its subdirectories, last listed first. Paths relative to the root, whose length is `cut` - 1.
 * Returns -1 when out of memory; directories that cannot be read are passed over. */
static int walk_tree(const char *start, size_t cut, Paths *out) {
    size_t scap = 64, sn = 0;
    char **stack = PyMem_RawMalloc(scap * sizeof(char *));
    if (stack == NULL) return -1;
    char *first = PyMem_RawMalloc(strlen(start) + 1);
    if (first == NULL) {
        PyMem_RawFree(stack);
        return -1;
    }
    strcpy(first, start);
    stack[sn++] = first;
    int rc = 0;
    size_t pcap = 4096;
    char *path = PyMem_RawMalloc(pcap);
    char **subdirs = NULL;
    size_t dcap = 0;
    if (path == NULL) rc = -1;
    while (rc == 0 && sn > 0) {
        char *dir = stack[--sn];
        DIR *d = opendir(dir);
        if (d == NULL) {
            PyMem_RawFree(dir);
            continue;
        }
        size_t dlen = strlen(dir), nd = 0;
        struct dirent *e;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            const char *name = e->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
            size_t nlen = strlen(name), plen = dlen + 1 + nlen;
            if (plen + 1 > pcap) {
                while (pcap < plen + 1) pcap *= 2;
                char *np = PyMem_RawRealloc(path, pcap);
                if (np == NULL) {
                    rc = -1;
                    break;
                }
                path = np;
            }
            memcpy(path, dir, dlen);
            path[dlen] = '/';
            memcpy(path + dlen + 1, name, nlen + 1);
            int is_dir = 0, is_file = 0;
            struct stat st;
            unsigned char t = e->d_type;
            if (t == DT_UNKNOWN) { /* DirEntry.is_dir(follow_symlinks=False), then is_file() */
                if (lstat(path, &st) == 0) {
                    if (S_ISDIR(st.st_mode)) is_dir = 1;
                    else if (S_ISREG(st.st_mode)) is_file = 1;
                    else if (S_ISLNK(st.st_mode)) is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
                }
            } else if (t == DT_DIR) {
                is_dir = 1;
            } else if (t == DT_REG) {
                is_file = 1;
            } else if (t == DT_LNK) {
                is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
            }
            if (is_dir) {
                if (nd == dcap) {
                    dcap = dcap ? dcap * 2 : 64;
                    char **ns = PyMem_RawRealloc(subdirs, dcap * sizeof(char *));
                    if (ns == NULL) {
                        rc = -1;
                        break;
                    }
                    subdirs = ns;
                }
                char *copy = PyMem_RawMalloc(plen + 1);
                if (copy == NULL) {
                    rc = -1;
                    break;
                }
                memcpy(copy, path, plen + 1);
                subdirs[nd++] = copy;
            } else if (is_file) {
                if (plen < cut || paths_add(out, path + cut, plen - cut) < 0) rc = -1;
            }
        }
        closedir(d);
        PyMem_RawFree(dir);
        if (sn + nd > scap) {
            while (scap < sn + nd) scap *= 2;
            char **ns = PyMem_RawRealloc(stack, scap * sizeof(char *));
            if (ns == NULL) rc = -1;
            else stack = ns;
        }
        for (size_t i = 0; i < nd; i++) {
            if (rc == 0) stack[sn++] = subdirs[i]; /* pushed in listing order: the last listed is walked first */
            else PyMem_RawFree(subdirs[i]);
        }
    }
    while (sn > 0) PyMem_RawFree(stack[--sn]);
    PyMem_RawFree(stack);
    PyMem_RawFree(subdirs);
    PyMem_RawFree(path);
    return rc;
}

/* walk_files(root, sub) -> list[str]: scan._py_walk_files, see there (root without a trailing "/") */
static PyObject *fl_walk_files(PyObject *self, PyObject *args) {
    PyObject *root_obj, *sub_obj, *root_b = NULL, *start_b = NULL;
    if (!PyArg_ParseTuple(args, "UU", &root_obj, &sub_obj)) return NULL;
    if (!PyUnicode_FSConverter(root_obj, &root_b)) return NULL;
    PyObject *start_obj = PyUnicode_GET_LENGTH(sub_obj) ? PyUnicode_FromFormat("%U/%U", root_obj, sub_obj) : (Py_INCREF(root_obj), root_obj);
    if (start_obj == NULL || !PyUnicode_FSConverter(start_obj, &start_b)) {
        Py_XDECREF(start_obj);
        Py_DECREF(root_b);
        return NULL;
    }
    Py_DECREF(start_obj);
    size_t cut = (size_t)PyBytes_GET_SIZE(root_b) + 1;
    Paths paths = {NULL, 0, 0, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = walk_tree(PyBytes_AS_STRING(start_b), cut, &paths);
    Py_END_ALLOW_THREADS
    Py_DECREF(root_b);
    Py_DECREF(start_b);
    PyObject *out = rc < 0 ? NULL : PyList_New(paths.count);
    if (rc < 0) PyErr_NoMemory();
    const char *p = paths.buf;
    for (Py_ssize_t i = 0; out != NULL && i < paths.count; i++) {
        size_t n = strlen(p);
        PyObject *rel = PyUnicode_DecodeFSDefaultAndSize(p, (Py_ssize_t)n);
        if (rel == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, rel);
        p += n + 1;
    }
    PyMem_RawFree(paths.buf);
    return out;
}


/* layout.looks_like_run_id for ASCII: a UUID (lower-case hex) anywhere, or a none_/torchelastic_ start */
static int run_id_like(const char *s, Py_ssize_t n) {
    if ((n >= 5 && memcmp(s, "none_", 5) == 0) || (n >= 13 && memcmp(s, "torchelastic_", 13) == 0)) return 1;
    static const int groups[] = {8, 4, 4, 4, 12};
    for (Py_ssize_t at = 0; at + 36 <= n; at++) {
        Py_ssize_t p = at;
        int ok = 1;
        for (int g = 0; g < 5 && ok; g++) {
            for (int k = 0; k < groups[g] && ok; k++, p++) ok = is_digit(s[p]) || (s[p] >= 'a' && s[p] <= 'f');
            if (ok && g < 4) ok = s[p++] == '-';
        }
        if (ok) return 1;
    }
    return 0;
}

static Py_ssize_t last_slash(const char *s, Py_ssize_t n) {
    const char *p = n > 0 ? memrchr(s, '/', (size_t)n) : NULL;
    return p ? p - s : -1;
}

/* layout.classify's first case for one ASCII path: torchrun's stdout.log or stderr.log in an
 * .../attempt_N/<local_rank> folder, as (node, local, attempt, group end) ; 0 when it is not that case */
static int torchrun_rank_log(const char *s, Py_ssize_t n, Py_ssize_t *node_a, Py_ssize_t *node_b, long long *local,
                             long long *attempt, Py_ssize_t *top_end) {
    Py_ssize_t cut = last_slash(s, n);
    if (cut <= 0 || s[0] == '/') return 0; /* no folder, or an absolute path */
    Py_ssize_t name = cut + 1;
    if (!((n - name == 10) && (memcmp(s + name, "stdout.log", 10) == 0 || memcmp(s + name, "stderr.log", 10) == 0))) return 0;
    Py_ssize_t head_end = last_slash(s, cut); /* folder = s[:cut]; last = s[head_end+1:cut] */
    if (head_end < 0) return 0;
    *local = small_decimal(s, head_end + 1, cut);
    if (*local < 0) return 0;
    Py_ssize_t top = last_slash(s, head_end); /* attempt = s[top+1:head_end] */
    Py_ssize_t att = top + 1;
    if (head_end - att < 9 || memcmp(s + att, "attempt_", 8) != 0) return 0;
    *attempt = small_decimal(s, att + 8, head_end);
    if (*attempt < 0) return 0;
    *top_end = top < 0 ? 0 : top;
    *node_a = *node_b = 0;
    if (top >= 0) { /* above = top.rpartition("/")[2] */
        Py_ssize_t above = last_slash(s, top) + 1;
        Py_ssize_t len = top - above;
        if (len > 0 && !run_id_like(s + above, len) && !(len == 4 && memcmp(s + above, "logs", 4) == 0)) {
            *node_a = above;
            *node_b = top;
        }
    }
    return 1;
}

/* torchrun_roles(paths, FileRole, rank_kind) -> list: per path, the FileRole that layout.classify gives
 * a torchrun rank log (stdout.log, stderr.log under .../attempt_N/<local_rank>), or None for any other
 * path (the caller classifies it). ASCII paths with numbers under 19 digits only; others are None. */
static PyObject *fl_torchrun_roles(PyObject *self, PyObject *args) {
    PyObject *paths, *role_type, *rank_kind;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyList_Type, &paths, &PyType_Type, &role_type, &rank_kind)) return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)role_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "torchrun_roles: FileRole must be a tuple type");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(paths);
    PyObject *out = PyList_New(count);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *path = PyList_GET_ITEM(paths, i), *role = Py_None;
        Py_INCREF(role);
        Py_ssize_t na, nb, top_end;
        long long local, attempt;
        if (PyUnicode_Check(path) && PyUnicode_IS_ASCII(path)) {
            const char *s = (const char *)PyUnicode_1BYTE_DATA(path);
            if (torchrun_rank_log(s, PyUnicode_GET_LENGTH(path), &na, &nb, &local, &attempt, &top_end)) {
                PyObject *node = nb > na ? PyUnicode_FromStringAndSize(s + na, nb - na) : Py_NewRef(Py_None);
                PyObject *top = PyUnicode_FromStringAndSize(s, top_end);
                PyObject *group = top ? PyUnicode_FromFormat("%U#%lld", top, local) : NULL;
                Py_XDECREF(top);
                PyObject *loc = PyLong_FromLongLong(local), *att = PyLong_FromLongLong(attempt);
                PyObject *items = node && group && loc && att ? PyTuple_Pack(7, path, rank_kind, node, Py_None, loc, att, group) : NULL;
                Py_XDECREF(node);
                Py_XDECREF(group);
                Py_XDECREF(loc);
                Py_XDECREF(att);
                PyObject *call = items ? PyTuple_Pack(1, items) : NULL;
                Py_XDECREF(items);
                PyObject *made = call ? PyTuple_Type.tp_new((PyTypeObject *)role_type, call, NULL) : NULL;
                Py_XDECREF(call);
                if (made == NULL) {
                    Py_DECREF(role);
                    Py_DECREF(out);
                    return NULL;
                }
                Py_SETREF(role, made);
            }
        }
        PyList_SET_ITEM(out, i, role);
    }
    return out;
}
