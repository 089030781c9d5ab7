/* Line times in every stamp format trainmedic.logs.timestamps reads, the time a log ends, and where
 * the lines after a time begin (ranklog._after). Part of _fastlog: included by module.c. */

static int digits(const char *s, Py_ssize_t n, Py_ssize_t at, int count, long *out) {
    long v = 0;
    if (at + count > n) return 0;
    for (int i = 0; i < count; i++) {
        if (!is_digit(s[at + i])) return 0;
        v = v * 10 + (s[at + i] - '0');
    }
    *out = v;
    return 1;
}

/* calendar.timegm((year, month, day, 0, 0, 0, ...)) as timestamps._day_epoch computes it: the month is
 * checked (datetime.date(year, month, 1)), the day is not. Returns 0 where Python raises ValueError. */
static int day_epoch(long year, long month, long day, long long *out) {
    if (year < 1 || year > 9999 || month < 1 || month > 12) return 0;
    /* days from 1970-01-01 to year-month-01 (proleptic Gregorian), H. Hinnant's days_from_civil */
    long y = year - (month <= 2);
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long mp = (month + 9) % 12;
    long doy = (153 * mp + 2) / 5;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = (long long)era * 146097 + doe - 719468;
    *out = (days + day - 1) * 86400LL;
    return 1;
}

/* `[+-]\d\d:?\d\d` or `Z` at s[at]; sets *end and *zone (seconds east). Returns 0 when absent. */
static int zone_at(const char *s, Py_ssize_t n, Py_ssize_t at, Py_ssize_t *end, long *zone) {
    long hh, mm;
    if (at >= n) return 0;
    if (s[at] == 'Z') {
        *end = at + 1;
        *zone = 0;
        return 1;
    }
    if (s[at] != '+' && s[at] != '-') return 0;
    if (!digits(s, n, at + 1, 2, &hh)) return 0;
    Py_ssize_t r = at + 3;
    if (r < n && s[r] == ':') r++;
    if (!digits(s, n, r, 2, &mm)) return 0;
    *end = r + 2;
    *zone = (s[at] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return 1;
}

/* fractional digits at s[at] (1..maxd of them): value / 10**count, as timestamps._frac */
static Py_ssize_t frac_at(const char *s, Py_ssize_t n, Py_ssize_t at, int maxd, double *frac) {
    long long v = 0, scale = 1;
    Py_ssize_t i = at;
    while (i < n && i - at < maxd && is_digit(s[i])) {
        v = v * 10 + (s[i] - '0');
        scale *= 10;
        i++;
    }
    *frac = (double)v / (double)scale;
    return i - at;
}

/* timestamps.parse_iso on s[0:n]: `^\[?(\d{4})-(\d\d)-(\d\d)[ T_](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|...)?` */
static int parse_iso(const char *s, Py_ssize_t n, double *out) {
    long y, mo, d, h, mi, sec, zone = 0;
    Py_ssize_t p = 0;
    double frac = 0.0;
    long long day;
    if (p < n && s[p] == '[') p++;
    if (!digits(s, n, p, 4, &y) || p + 4 >= n || s[p + 4] != '-') return 0;
    p += 5;
    if (!digits(s, n, p, 2, &mo) || p + 2 >= n || s[p + 2] != '-') return 0;
    p += 3;
    if (!digits(s, n, p, 2, &d) || p + 2 >= n || (s[p + 2] != ' ' && s[p + 2] != 'T' && s[p + 2] != '_')) return 0;
    p += 3;
    if (!digits(s, n, p, 2, &h) || p + 2 >= n || s[p + 2] != ':') return 0;
    p += 3;
    if (!digits(s, n, p, 2, &mi) || p + 2 >= n || s[p + 2] != ':') return 0;
    p += 3;
    if (!digits(s, n, p, 2, &sec)) return 0;
    p += 2;
    if (p + 1 < n && (s[p] == '.' || s[p] == ',') && is_digit(s[p + 1])) p += 1 + frac_at(s, n, p + 1, 9, &frac);
    Py_ssize_t q = p, zend;
    if (q < n && is_space(s[q])) q++;
    if (!zone_at(s, n, q, &zend, &zone)) zone = 0;
    if (!day_epoch(y, mo, d, &day)) return 0;
    *out = ((double)(day + h * 3600 + mi * 60 + sec) + frac) - (double)zone;
    return 1;
}

static const char *MONTHS[12] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};

/* timestamps._month_time: 0 for an unknown month or a date Python rejects */
static int month_time(long year, const char *mon, long day, long h, long mi, long sec, double *out) {
    char low[3];
    long long de;
    for (int i = 0; i < 3; i++) low[i] = (char)((mon[i] >= 'A' && mon[i] <= 'Z') ? mon[i] + 32 : mon[i]);
    for (int m = 0; m < 12; m++) {
        if (memcmp(low, MONTHS[m], 3) == 0) {
            if (!day_epoch(year, m + 1, day, &de)) return 0;
            *out = (double)(de + h * 3600 + mi * 60 + sec);
            return 1;
        }
    }
    return 0;
}

/* `(\d{1,2}) ` at s[*p]: one or two digits, then a space */
static int day_then_space(const char *s, Py_ssize_t n, Py_ssize_t *p, long *day) {
    Py_ssize_t i = *p;
    if (i < n && is_digit(s[i]) && i + 1 < n && is_digit(s[i + 1]) && i + 2 < n && s[i + 2] == ' ') {
        *day = (s[i] - '0') * 10 + (s[i + 1] - '0');
        *p = i + 3;
        return 1;
    }
    if (i < n && is_digit(s[i]) && i + 1 < n && s[i + 1] == ' ') {
        *day = s[i] - '0';
        *p = i + 2;
        return 1;
    }
    return 0;
}

/* `(\d\d):(\d\d):(\d\d)` at s[p] */
static int hms(const char *s, Py_ssize_t n, Py_ssize_t p, long *h, long *mi, long *sec) {
    return digits(s, n, p, 2, h) && p + 2 < n && s[p + 2] == ':' && digits(s, n, p + 3, 2, mi) && p + 5 < n &&
           s[p + 5] == ':' && digits(s, n, p + 6, 2, sec);
}

/* timestamps._body_time on the stamp s[0:n]. Returns 1 with *out set, 0 for None. */
static int body_time(const char *s, Py_ssize_t n, long year, double *out) {
    long mo, d, h, mi, sec, y;
    if (n == 0) return 0;
    char c = s[0];
    if (is_digit(c) || (c == '[' && n > 1 && is_digit(s[1]))) {
        if (parse_iso(s, n, out)) return 1;
    } else if (c == 'I' || c == 'W' || c == 'E' || c == 'F' || c == '[') {
        /* glog: ^\[?([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9}) */
        Py_ssize_t p = (c == '[') ? 1 : 0;
        if (p < n && (s[p] == 'I' || s[p] == 'W' || s[p] == 'E' || s[p] == 'F') && digits(s, n, p + 1, 2, &mo) &&
            digits(s, n, p + 3, 2, &d) && p + 5 < n && s[p + 5] == ' ' && hms(s, n, p + 6, &h, &mi, &sec) && p + 14 < n &&
            s[p + 14] == '.' && p + 15 < n && is_digit(s[p + 15])) {
            double frac;
            long long de;
            frac_at(s, n, p + 15, 9, &frac);
            if (!day_epoch(year, mo, d, &de)) return 0;
            *out = (double)(de + h * 3600 + mi * 60 + sec) + frac;
            return 1;
        }
        /* dmesg -T: ^\[\s*\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\] */
        if (c == '[') {
            Py_ssize_t q = 1;
            while (q < n && is_space(s[q])) q++;
            if (q + 8 <= n && is_word(s[q]) && is_word(s[q + 1]) && is_word(s[q + 2]) && s[q + 3] == ' ' &&
                is_word(s[q + 4]) && is_word(s[q + 5]) && is_word(s[q + 6]) && s[q + 7] == ' ') {
                const char *mon = s + q + 4;
                q += 8;
                while (q < n && s[q] == ' ') q++;
                if (day_then_space(s, n, &q, &d) && hms(s, n, q, &h, &mi, &sec) && q + 8 < n && s[q + 8] == ' ' &&
                    digits(s, n, q + 9, 4, &y) && q + 13 < n && s[q + 13] == ']')
                    return month_time(y, mon, d, h, mi, sec, out);
            }
        }
    }
    if (is_alpha(c)) {
        /* syslog: ^(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s */
        if (n >= 4 && is_word(s[0]) && is_word(s[1]) && is_word(s[2]) && s[3] == ' ') {
            Py_ssize_t q = 4;
            while (q < n && s[q] == ' ') q++;
            if (day_then_space(s, n, &q, &d) && hms(s, n, q, &h, &mi, &sec) && q + 8 < n && is_space(s[q + 8]))
                return month_time(year, s, d, h, mi, sec, out);
        }
    }
    return 0;
}

/* `(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (?:stdout|stderr) [FP] ` at s[0]:
 * returns the length matched (0 if none) and the end of the time in *gend */
static Py_ssize_t cri_prefix(const char *s, Py_ssize_t n, Py_ssize_t *gend) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    Py_ssize_t p = 0, zend;
    long zone;
    if (n < 19) return 0;
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i]) return 0;
    }
    p = 19;
    if (p + 1 < n && s[p] == '.' && is_digit(s[p + 1])) {
        p++;
        while (p < n && is_digit(s[p])) p++;
    }
    if (!zone_at(s, n, p, &zend, &zone)) return 0;
    p = zend;
    if (p + 10 > n || s[p] != ' ') return 0;
    if (memcmp(s + p + 1, "stdout", 6) != 0 && memcmp(s + p + 1, "stderr", 6) != 0) return 0;
    if (s[p + 7] != ' ' || (s[p + 8] != 'F' && s[p + 8] != 'P') || s[p + 9] != ' ') return 0;
    *gend = zend;
    return p + 10;
}

/* timestamps.RANK_PREFIX at s[0]: `\[(?:rank|default)(\d+)\]:\s?` or `(\d{1,6}): `; its length or 0 */
static Py_ssize_t rank_prefix(const char *s, Py_ssize_t n) {
    Py_ssize_t p;
    if (n > 0 && s[0] == '[') {
        p = 1;
        if (p + 4 <= n && memcmp(s + p, "rank", 4) == 0)
            p += 4;
        else if (p + 7 <= n && memcmp(s + p, "default", 7) == 0)
            p += 7;
        else
            goto numbered;
        Py_ssize_t d0 = p;
        while (p < n && is_digit(s[p])) p++;
        if (p == d0 || p + 1 >= n || s[p] != ']' || s[p + 1] != ':') goto numbered;
        p += 2;
        if (p < n && is_space(s[p])) p++;
        return p;
    }
numbered:
    p = 0;
    while (p < n && p < 6 && is_digit(s[p])) p++;
    if (p > 0 && p + 1 < n && s[p] == ':' && s[p + 1] == ' ') return p + 2;
    return 0;
}

/* timestamps.line_time on an ASCII line s[0:n]. Returns 1 with *out set, 0 for None. */
static int line_time_ascii(const char *s, Py_ssize_t n, long year, double *out) {
    Py_ssize_t k = n < TIME_KEY ? n : TIME_KEY, off = 0, gend = 0;
    int have_cri = 0;
    double cri_at = 0.0;
    Py_ssize_t cri = cri_prefix(s, k, &gend);
    if (cri) {
        have_cri = parse_iso(s, gend, &cri_at);
        off = cri;
    }
    off += rank_prefix(s + off, k - off);
    Py_ssize_t end = off + STAMP_CHARS < k ? off + STAMP_CHARS : k;
    if (body_time(s + off, end - off, year, out)) return 1;
    if (have_cri) {
        *out = cri_at;
        return 1;
    }
    return 0;
}

static int ascii_span(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* py_line_time(line, year), or an error if timestamps has not registered it */
static PyObject *python_time(PyObject *line, PyObject *year_obj) {
    if (py_line_time == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastlog: import trainmedic.logs.timestamps first (it registers the fallback)");
        return NULL;
    }
    return PyObject_CallFunctionObjArgs(py_line_time, line, year_obj, NULL);
}

/* A year as a C long; 0 with no error set where it does not fit (the caller hands the work to Python). */
static int year_of(PyObject *year_obj, long *year) {
    *year = PyLong_AsLong(year_obj);
    if (*year == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Where the line that ends at s[end] starts, looking no further back than lo (memrchr: the lines are
 * long enough for a vector search to pay). */
static inline Py_ssize_t line_start(const char *s, Py_ssize_t lo, Py_ssize_t end) {
    if (end <= lo) return lo;
    const char *nl = memrchr(s + lo, '\n', (size_t)(end - lo));
    return nl ? (nl - s) + 1 : lo;
}

/* The time of text[a:b] (a line) as a new reference: a float or None. */
static PyObject *time_of(PyObject *text, const char *s, Py_ssize_t a, Py_ssize_t b, long year, PyObject *year_obj) {
    double at;
    Py_ssize_t k = (b - a) < TIME_KEY ? (b - a) : TIME_KEY;
    if (!ascii_span(s + a, k)) {
        PyObject *line = PyUnicode_Substring(text, a, b);
        if (line == NULL) return NULL;
        PyObject *r = python_time(line, year_obj);
        Py_DECREF(line);
        return r;
    }
    if (line_time_ascii(s + a, b - a, year, &at)) return PyFloat_FromDouble(at);
    Py_RETURN_NONE;
}

/* Only 1-byte strings are read here: each character is one byte, so offsets agree with Python's. */
static int one_byte(PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "expected str");
        return -1;
    }
    return PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND;
}

/* 1 where this module reads `text` (a 1-byte string) with `year` (fits a C long); 0 where the
 * Python code must; -1 with an error set */
static int readable(PyObject *text, PyObject *year_obj, long *year) {
    int kind = one_byte(text);
    if (kind != 1) return kind;
    return year_of(year_obj, year);
}

static PyObject *fl_line_time(PyObject *self, PyObject *args) {
    PyObject *line, *year_obj;
    long year;
    if (!PyArg_ParseTuple(args, "UO", &line, &year_obj)) return NULL;
    int fits = year_of(year_obj, &year);
    if (fits < 0) return NULL;
    if (!fits || !PyUnicode_IS_ASCII(line)) return python_time(line, year_obj);
    const char *s = (const char *)PyUnicode_DATA(line);
    return time_of(line, s, 0, PyUnicode_GET_LENGTH(line), year, year_obj);
}

/* The time of the last timed line among the last `lines` pieces of text[-chars:].split("\n"), from
 * the end: a new reference to a float or None, NULL with an error set. */
static PyObject *end_time_core(PyObject *text, long year, PyObject *year_obj, Py_ssize_t chars, Py_ssize_t lines) {
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t lo = n > chars ? n - chars : 0, end = n;
    for (Py_ssize_t i = 0; i < lines; i++) {
        Py_ssize_t st = end;
        st = line_start(s, lo, end);
        PyObject *r = time_of(text, s, st, end, year, year_obj);
        if (r == NULL || r != Py_None) return r;
        Py_DECREF(r);
        if (st <= lo) break;
        end = st - 1;
    }
    Py_RETURN_NONE;
}

/* end_time(text, year, chars, lines): the time of the last timed line among the last `lines` pieces
 * of text[-chars:].split("\n"), from the end; None if none. NotImplemented for wide strings. */
static PyObject *fl_end_time(PyObject *self, PyObject *args) {
    PyObject *text, *year_obj;
    Py_ssize_t chars, lines;
    if (!PyArg_ParseTuple(args, "UOnn", &text, &year_obj, &chars, &lines)) return NULL;
    long year;
    int ok = readable(text, year_obj, &year);
    if (ok < 0) return NULL;
    if (!ok) Py_RETURN_NOTIMPLEMENTED;
    return end_time_core(text, year, year_obj, chars, lines);
}

/* ranklog._after on a 1-byte string: where the lines after `when` (None or a float) begin; -1 with
 * an error set. */
static Py_ssize_t after_core(PyObject *text, PyObject *when, long year, PyObject *year_obj, Py_ssize_t max_chars) {
    const char *s = (const char *)PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t floor = n > max_chars ? n - max_chars : 0;
    if (floor) {
        const char *nl = memchr(s + floor, '\n', (size_t)(n - floor));
        floor = nl ? (nl - s) + 1 : 0;
    }
    if (when == Py_None) return floor;
    double w = PyFloat_AsDouble(when);
    if (w == -1.0 && PyErr_Occurred()) return -1;
    Py_ssize_t end = n;
    while (end > floor) {
        Py_ssize_t ls = floor;
        if (end - 1 > floor) {
            /* tail.rfind("\n", floor, end - 1) + 1 */
            const char *nl = memrchr(s + floor, '\n', (size_t)(end - 1 - floor));
            ls = nl ? (nl - s) + 1 : 0; /* rfind's -1 + 1: the line runs from the text's start */
        }
        PyObject *r = time_of(text, s, ls, end, year, year_obj);
        if (r == NULL) return -1;
        if (r != Py_None) {
            double at = PyFloat_AsDouble(r);
            Py_DECREF(r);
            if (at < w - 1.0) return end;
        } else {
            Py_DECREF(r);
        }
        end = ls;
    }
    return floor;
}

/* after(text, when, year, max_chars): ranklog._after, see there. NotImplemented for wide strings. */
static PyObject *fl_after(PyObject *self, PyObject *args) {
    PyObject *text, *when, *year_obj;
    Py_ssize_t max_chars;
    if (!PyArg_ParseTuple(args, "UOOn", &text, &when, &year_obj, &max_chars)) return NULL;
    long year;
    int ok = readable(text, year_obj, &year);
    if (ok < 0) return NULL;
    if (!ok) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t at = after_core(text, when, year, year_obj, max_chars);
    return at < 0 ? NULL : PyLong_FromSsize_t(at);
}
