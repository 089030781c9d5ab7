"""Build hook for the optional C extension (`trainmedic.logs._fastlog`); everything else is in
pyproject.toml. Without a C compiler the build skips the extension and trainmedic runs its Python
twin of the same functions (slower, same answers)."""

from pathlib import Path

from setuptools import Extension, setup

CSRC = "src/trainmedic/logs/csrc"

setup(
    ext_modules=[
        Extension(
            "trainmedic.logs._fastlog",
            [f"{CSRC}/module.c"],  # includes the other parts: one translation unit
            depends=sorted(str(p) for p in Path(CSRC).glob("*.[ch]")),
            optional=True,
            extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        )
    ],
)
