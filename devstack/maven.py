"""Java servers run from Maven Central: each has a pom under ``devstack/jars/<name>/`` whose
runtime dependencies are copied into ``.cache/jars/<name>``, and its configuration under
``devstack/conf/<name>/``."""

from __future__ import annotations

from pathlib import Path

JAVA17 = Path("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")


def find_java17() -> str:
    """The Java 17 launcher: Debian's OpenJDK 17 when installed, else ``java`` from PATH."""
    return str(JAVA17) if JAVA17.is_file() else "java"


def pom(root: Path, name: str) -> Path:
    return root / "devstack" / "jars" / name / "pom.xml"


def jars_dir(root: Path, name: str) -> Path:
    """Where ``install_command`` puts the server's jars and their runtime dependencies."""
    return root / ".cache" / "jars" / name


def conf_dir(root: Path, name: str) -> Path:
    """The local stack's configuration files for the server."""
    return root / "devstack" / "conf" / name


def install_command(root: Path, name: str) -> list[str]:
    """The Maven command that copies the server's jars into ``jars_dir(root, name)``.

    The local repository lives under ``.cache/m2`` so the download stays inside the project;
    batch mode without colours keeps Maven from prompting or printing escape codes.
    """
    return [
        "mvn",
        "-B",
        "-Dstyle.color=never",
        "-q",
        "-f",
        str(pom(root, name)),
        f"-Dmaven.repo.local={root / '.cache' / 'm2'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={jars_dir(root, name)}",
        "-DincludeScope=runtime",
    ]
