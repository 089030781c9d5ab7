/* Compiled twins of the hot line-level readers in trainmedic.logs (timestamps, reading, ranklog).
 *
 * Diagnose reads 36,864 rank logs and 2,304 kernel logs for one 18,432-card job; in Python the
 * per-line work (line times, walking back over lines, digit-blind keys, long-line checks) cost
 * several times what reading the files did. Each function here gives exactly the answer of the Python
 * function it stands for (tests/logs/test_fastlog.py compares them on real and generated lines), and
 * works on ASCII text only: a line or text with other characters is handed back to the Python code
 * (`fallback`), whose regexes read Unicode digits and spaces that this code does not.
 *
 * Built as an optional extension: without a compiler the package installs and runs the Python code.
 */

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <Python.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#define TIME_KEY 128   /* timestamps._TIME_KEY: only a line's first characters decide its time */
#define STAMP_CHARS 40 /* timestamps._STAMP_CHARS */
#define MAX_LINE_CHARS 8192 /* reading.MAX_LINE_CHARS */

static PyObject *py_line_time = NULL; /* timestamps._py_line_time, for non-ASCII lines */

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }
/* Python's str \s on ASCII: \t \n \v \f \r, \x1c-\x1f and space */
static inline int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }
static inline int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

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

/* newlines(text, start, end): text.count("\n", start, end) for 1-byte strings (a loop the compiler
 * vectorizes: several times faster than str.count); NotImplemented otherwise */
static PyObject *fl_newlines(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start, end, count = 0;
    if (!PyArg_ParseTuple(args, "Unn", &text, &start, &end)) return NULL;
    if (one_byte(text) != 1) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (end > n) end = n;
    if (start < 0) start = 0;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = start; i < end; i++) count += s[i] == '\n';
    return PyLong_FromSsize_t(count);
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

/* read_text(path, head_bytes, tail_bytes) -> (size, head, tail, tail_offset, bytes_read), or None.
 *
 * reading.read_text for the plain case, with the GIL released while it reads: a readable file whose
 * head and tail are ASCII without NUL, not binary, with no line over MAX_LINE_CHARS and a line break
 * in a partial tail. Anything else (errors included) gives None, and the Python code reads the file
 * again and says what is odd about it. */
static PyObject *fl_read_text(PyObject *self, PyObject *args) {
    PyObject *path_obj, *path_bytes = NULL;
    Py_ssize_t head_bytes, tail_bytes;
    if (!PyArg_ParseTuple(args, "Onn", &path_obj, &head_bytes, &tail_bytes)) return NULL;
    if (head_bytes < 0 || tail_bytes < 0) Py_RETURN_NONE;
    if (!PyUnicode_FSConverter(path_obj, &path_bytes)) return NULL;
    const char *path = PyBytes_AS_STRING(path_bytes);
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
    Py_DECREF(path_bytes);
    if (!ok) {
        PyMem_RawFree(buf);
        Py_RETURN_NONE;
    }
    PyObject *head = PyUnicode_New(head_len, 127), *tail = PyUnicode_New(tail_len, 127);
    if (head == NULL || tail == NULL) {
        Py_XDECREF(head);
        Py_XDECREF(tail);
        PyMem_RawFree(buf);
        return NULL;
    }
    memcpy(PyUnicode_1BYTE_DATA(head), buf, (size_t)head_len);
    memcpy(PyUnicode_1BYTE_DATA(tail), buf + tail_start, (size_t)tail_len);
    PyMem_RawFree(buf);
    return Py_BuildValue("nNNnn", size, head, tail, offset, head_len + tail_len);
}

/* ---- ranklog.identity's fields, for ASCII text ---- */

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
static PyObject *fl_identity_fields(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t limit = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "U|n", &text, &limit)) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NOTIMPLEMENTED;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), a, b;
    if (limit < 0) limit = 0;
    if (n > limit) n = limit;
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

/* ---- ranklog.scan_rank_text, after the identity lines: the plain case of a rank's log ---- */

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

static Py_ssize_t count_newlines(const char *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t c = 0;
    for (Py_ssize_t i = a; i < b; i++) c += s[i] == '\n';
    return c;
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
                if (found[i].start >= start && count_newlines(s, start, found[i].start) < idx) at_step = found[i].step;
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

/* ---- diagnose's directory walk ---- */

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

static PyObject *fl_set_fallback(PyObject *self, PyObject *fn) {
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "expected a callable");
        return NULL;
    }
    Py_XSETREF(py_line_time, Py_NewRef(fn));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_fallback", fl_set_fallback, METH_O, "set_fallback(line_time): the Python line_time, for lines this module does not read"},
    {"line_time", fl_line_time, METH_VARARGS, "line_time(line, year) -> float | None, as timestamps.line_time"},
    {"end_time", fl_end_time, METH_VARARGS, "end_time(text, year, chars, lines) -> float | None"},
    {"after", fl_after, METH_VARARGS, "after(text, when, year, max_chars) -> int, as ranklog._after"},
    {"digit_blind", fl_digit_blind, METH_VARARGS, "digit_blind(text, start=0) -> str: ASCII digits as '#'"},
    {"longest_line", fl_longest_line, METH_O, "longest_line(text) -> int"},
    {"newlines", fl_newlines, METH_VARARGS, "newlines(text, start, end) -> int, as text.count(newline, start, end)"},
    {"read_text", fl_read_text, METH_VARARGS, "read_text(path, head_bytes, tail_bytes) -> (size, head, tail, tail_offset, bytes_read) | None"},
    {"identity_fields", fl_identity_fields, METH_VARARGS, "identity_fields(text, limit=len(text)) -> dict, as ranklog._py_identity_fields(text[:limit]); NotImplemented for non-ASCII text"},
    {"scan_text", fl_scan_text, METH_VARARGS, "scan_text(rs, tail, whole, file, year, ctx) -> True | NotImplemented: ranklog.scan_rank_text after the identity lines, in the plain case"},
    {"walk_files", fl_walk_files, METH_VARARGS, "walk_files(root, sub) -> list[str]: the regular files under root/sub, relative to root, in scan._walk order"},
    {"control_bytes", fl_control_bytes, METH_VARARGS, "control_bytes(data, limit) -> (control, nuls)"},
    {"last_step_lines", fl_last_step_lines, METH_VARARGS, "last_step_lines(text, year, want, shapes, shape_of, make)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastlog", "Compiled line-level readers for trainmedic.logs", -1, methods};

PyMODINIT_FUNC PyInit__fastlog(void) { return PyModule_Create(&module); }
