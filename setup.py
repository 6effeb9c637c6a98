"""The package list, found rather than written by hand (everything else is in pyproject.toml).

The repository root is the ``livehmr`` package (``package-dir`` maps it), so setuptools'
``packages.find`` would name the sub-packages ``stream``, ``models``, ... instead of
``livehmr.stream``; this prefixes what it finds. Tests stay out of the wheel (their
reusable doubles are ``livehmr.testing``), and so does this file, which sits in the
package's folder.

Folders of data inside a package (``clients/web``, ``models/data``, ...) have no
``__init__.py``; Python still imports them as namespace packages, so setuptools wants
them named as packages too (or it warns that the configuration is ambiguous). They are
found here as well, and ``[tool.setuptools.package-data]`` says which of their files ship.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

EXCLUDED = ["tests", "tests.*", "build", "build.*", "suites", "runs", "bench_out"]


def data_folders(packages: list[str]) -> list[str]:
    """Sub-folders without ``__init__.py`` of the given packages (dotted names, recursively)."""
    found = []
    for package in packages:
        folder = Path(*package.split(".")[1:]) if "." in package else Path(".")
        for sub in sorted(folder.iterdir()) if package != "livehmr" else []:
            if sub.is_dir() and not (sub / "__init__.py").exists() and sub.name != "__pycache__":
                name = f"{package}.{sub.name}"
                found += [name, *data_folders([name])]
    return found


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        return [m for m in super().find_package_modules(package, package_dir) if m[:2] != ("livehmr", "setup")]


code = ["livehmr", *(f"livehmr.{p}" for p in find_packages(where=".", exclude=EXCLUDED))]
setup(
    packages=[*code, *data_folders(code)],
    cmdclass={"build_py": BuildPy},
)
