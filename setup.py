"""The package list, found rather than written by hand (everything else is in pyproject.toml).

The repository root is the ``livehmr`` package (``package-dir`` maps it), so setuptools'
``packages.find`` would name the sub-packages ``stream``, ``models``, ... instead of
``livehmr.stream``; this prefixes what it finds. Tests stay out of the wheel (their
reusable doubles are ``livehmr.testing``), and so does this file, which sits in the
package's folder.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

EXCLUDED = ["tests", "tests.*", "build", "build.*", "suites", "runs", "bench_out"]


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir) if m[:2] != ("livehmr", "setup")]


setup(
    packages=["livehmr", *(f"livehmr.{p}" for p in find_packages(where=".", exclude=EXCLUDED))],
    cmdclass={"build_py": BuildPy},
)
