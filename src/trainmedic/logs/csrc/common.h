/* Shared by the parts of trainmedic.logs._fastlog (built as one unit from module.c): includes,
 * limits that mirror the Python code's, and character classes as Python's regexes read ASCII. */

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <Python.h>
#include <string.h>
#include <math.h>
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

/* where the run of ASCII digits from s[p] ends (le at most) */
static inline Py_ssize_t digit_run(const char *s, Py_ssize_t p, Py_ssize_t le) {
    while (p < le && is_digit(s[p])) p++;
    return p;
}

/* the number s[a:b] spells, when it is 1 to 18 ASCII digits (a long long holds it), else -1 */
static inline long long small_decimal(const char *s, Py_ssize_t a, Py_ssize_t b) {
    if (b <= a || b - a > 18 || digit_run(s, a, b) != b) return -1;
    long long v = 0;
    for (Py_ssize_t i = a; i < b; i++) v = v * 10 + (s[i] - '0');
    return v;
}
