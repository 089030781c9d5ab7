/* trainmedic.logs._fastlog: compiled twins of the hot readers in trainmedic.logs (timestamps,
 * reading, ranklog) and of diagnose's directory walk, per-rank step (units.c) and victims' lines (victims.c).
 *
 * Diagnose reads 36,864 rank logs and 2,304 kernel logs for one 18,432-card job; in Python the
 * per-line work (line times, walking back over lines, digit-blind keys, long-line checks) cost
 * several times what reading the files did. Each function here gives exactly the answer of the Python
 * function it stands for (tests/logs/test_fastlog.py compares them on real and generated lines), and
 * works on ASCII text only: a line or text with other characters is handed back to the Python code
 * (`fallback`), whose regexes read Unicode digits and spaces that this code does not.
 *
 * One translation unit: this file includes the parts (their functions static, as in one file), which
 * are split by feature for reading. Built as an optional extension: without a compiler the package
 * installs and runs the Python code.
 */

#include "common.h"
#include "times.c"
#include "text.c"
#include "files.c"
#include "ranks.c"
#include "units.c"
#include "victims.c"

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
    {"find_year", fl_find_year, METH_VARARGS, "find_year(text, limit=16384) -> int | None, as timestamps.find_year (no dmesg stamps); NotImplemented for non-ASCII text"},
    {"nccl_fields", fl_nccl_fields, METH_VARARGS, "nccl_fields(out, text, at, end) -> None: ranklog._nccl_init into out; NotImplemented for non-ASCII text"},
    {"cascade_lines", fl_cascade_lines, METH_VARARGS, "cascade_lines(hits, faults, offset) -> (kinds, first, others): diagnose.evidence._py_cascade_lines; NotImplemented where it does not read the hits exactly"},
    {"step_offsets", fl_step_offsets, METH_O, "step_offsets(logs) -> {node: offset}: diagnose.clock.step_offsets; NotImplemented for steps or times it does not read exactly"},
    {"torchrun_roles", fl_torchrun_roles, METH_VARARGS, "torchrun_roles(paths, FileRole, rank_kind) -> list[FileRole | None]: layout.classify for torchrun's per-rank logs, None for other paths"},
    {"scan_files", fl_scan_files, METH_VARARGS, "scan_files(root, roles, rank_kind, head_bytes, tail_bytes, ctx, unit_ctx) -> RankScan | NotImplemented: diagnose.scan._scan_unit for a rank of plain rank logs"},
    {"last_step_lines", fl_last_step_lines, METH_VARARGS, "last_step_lines(text, year, want, shapes, shape_of, make)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastlog", "Compiled line-level readers for trainmedic.logs", -1, methods};

PyMODINIT_FUNC PyInit__fastlog(void) { return PyModule_Create(&module); }
