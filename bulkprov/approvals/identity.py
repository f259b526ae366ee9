"""Who the person on the command line is: the system says, never the caller's environment.

* The **login uid** (``/proc/self/loginuid``), set by the system when the person logged in (PAM's
  ``pam_loginuid``) and kept across ``sudo``, ``su`` and every child process: the person who sat down,
  whatever account the command now runs as.  Only a process with the audit-control capability (root
  at login time) can set it, and the kernel keeps it from then on.
* Where the system keeps none (``4294967295``: a container, a cron without ``pam_loginuid``), the
  **real uid** of the process, except under a real ``sudo``: ``SUDO_USER`` is believed only when an
  ancestor process *is* that sudo — named ``sudo``, running set-uid root (effective uid 0) for the
  real uid ``SUDO_UID``, and ``SUDO_USER`` is that uid's name.  Typing ``SUDO_USER=carol SUDO_UID=4242``
  by hand changes nothing.

Whoever holds the Kore.ai client secret can call the API without bulkprov; four eyes hold for the
people who reach the account only through bulkprov (see the README, "Approvals").
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

NO_LOGIN_UID = 4294967295  # (uid_t)-1: the kernel has no login uid for this process


@dataclass(frozen=True)
class Person:
    """A person on this machine: their name, their uid, and how we know (``loginuid``, ``sudo``, ``uid``)."""

    name: str
    uid: int
    how: str = "uid"

    def __str__(self) -> str:
        return self.name


def name_of(uid: int) -> str:
    """The account name of ``uid`` (``uid 4242`` when the system has no name for it)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def login_uid(proc: Path = Path("/proc")) -> int | None:
    """The login uid of this process, or None when the system keeps none."""
    try:
        value = int((proc / "self" / "loginuid").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if value == NO_LOGIN_UID else value


def _status(pid: int, proc: Path) -> tuple[str, int, int, int] | None:
    """(name, parent pid, real uid, effective uid) of a process, from ``/proc/PID/status``."""
    try:
        lines = (proc / str(pid) / "status").read_text(errors="replace").splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    try:
        uids = fields["Uid"].split()
        return fields["Name"].strip(), int(fields["PPid"]), int(uids[0]), int(uids[1])
    except (KeyError, ValueError, IndexError):
        return None


def real_sudo_caller(environ: dict[str, str] | None = None, proc: Path = Path("/proc")) -> Person | None:
    """The person who ran ``sudo``, when ``SUDO_USER``/``SUDO_UID`` are those of a real sudo among our
    ancestors (set-uid root, run by that uid); None otherwise."""
    env = os.environ if environ is None else environ
    user, uid_text = env.get("SUDO_USER", ""), env.get("SUDO_UID", "")
    if not user or not uid_text.isdigit():
        return None
    uid = int(uid_text)
    if name_of(uid) != user:
        return None
    pid = os.getppid()
    for _hop in range(64):  # the chain ends at pid 1 (or a process we may not read)
        status = _status(pid, proc)
        if status is None or pid <= 1:
            return None
        name, parent, real, effective = status
        if name == "sudo" and real == uid and effective == 0:
            return Person(user, uid, "sudo")
        pid = parent
    return None


def cli_person(environ: dict[str, str] | None = None, proc: Path = Path("/proc")) -> Person:
    """The person running this command (see the module docstring)."""
    uid = login_uid(proc)
    if uid is not None:
        return Person(name_of(uid), uid, "loginuid")
    caller = real_sudo_caller(environ, proc)
    if caller is not None:
        return caller
    return Person(name_of(os.getuid()), os.getuid(), "uid")


def groups_of(person: Person) -> set[int]:
    """The group ids ``person`` belongs to (primary and supplementary); empty when the system has no entry."""
    try:
        entry = pwd.getpwuid(person.uid)
    except KeyError:
        return set()
    return set(os.getgrouplist(entry.pw_name, entry.pw_gid))
