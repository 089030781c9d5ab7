"""Build hook for the optional C extension (`trainmedic.logs._fastlog`); everything else is in
pyproject.toml. Without a C compiler the build skips the extension and trainmedic runs its Python
twin of the same functions (slower, same answers)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "trainmedic.logs._fastlog",
            ["src/trainmedic/logs/_fastlog.c"],
            optional=True,
            extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
        )
    ],
)
