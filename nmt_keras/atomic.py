"""All-or-nothing writes of directories and files, and the lock of an output directory.

A directory that must never be seen half written (a model directory, a training
backup, an exported SavedModel) is written whole into a temporary directory beside it,
`.NAME.partial-XXXXXXXX`; every file and directory in it is fsynced; then the temporary
directory takes the target's place by a rename:

    with staged_directory(target) as staging:    # an empty directory beside `target`
        ...write the new files into staging...
    # `target` is now the new directory. Had anything failed before (a full disk, an
    # exception, a kill), `target` would still be the previous directory, untouched.

Replacing a directory that exists uses Linux's `renameat2(RENAME_EXCHANGE)`, which
swaps the two names in one step; the previous directory then sits at the temporary
name and is removed. Where that call is missing (other systems, some file systems) the
previous directory is renamed aside first (`.NAME.previous-XXXXXXXX`), which leaves a
moment in which `target` does not exist; the previous directory stays there if the
process dies in that moment. `keep_others=True` carries the entries of the previous
directory that the new one does not hold over into it, as hard links (copies where the
file system has none): a run directory keeps its reports and logs when its model is
replaced (except the names in `replaced`, which belong to what is written anew).

A single file is replaced the same way: a temporary file in the same directory,
fsync, `os.replace`, fsync of the directory (`replaced_file`, and on it
`atomic_write_text` and `atomic_save_weights`).

`lock_directory(path)` holds an exclusive `flock` on `path/.lock` while a process
writes into `path`: a second process that asks for it fails at once with
`DirectoryInUseError`, naming the holder's process id. The lock goes away with the
process that holds it, however it ends. Pure Python: no TensorFlow.
"""

import contextlib
import ctypes
import errno
import os
import pathlib
import re
import secrets
import shutil
import tempfile

try:
    import fcntl
except ImportError:  # not POSIX: directories are not locked
    fcntl = None

PARTIAL_MARK = ".partial-"
PREVIOUS_MARK = ".previous-"
LOCK_FILE = ".lock"
# renameat2(2): the directory of relative paths, and the flag that swaps two names.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# errno values with which renameat2 says it cannot swap here (rather than a real failure).
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}
# Bytes of a lock file read to name its holder, and what a holder writes there.
_HOLDER_BYTES = 100
_HOLDER = re.compile(r"pid \d+, [a-z ]+")


class DirectoryInUseError(ValueError):
    """Another process holds the lock of a directory this process must write into."""


# ---------------------------------------------------------------------------- fsync


def _fsync(path):
    """fsyncs a file or a directory (`fsync_file` is the one for files alone)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_file(path):
    """Flushes a file's data to the disk."""
    _fsync(path)


def fsync_dir(path):
    """Flushes a directory's entries (names created, renamed, removed) to the disk,
    where the system allows it."""
    with contextlib.suppress(OSError):  # some systems cannot open or fsync a directory
        _fsync(path)


def fsync_tree(root):
    """fsyncs every file and directory under `root`, `root` last."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                fsync_file(path)
        fsync_dir(directory)


# --------------------------------------------------------------------- permissions


def _umask():
    """The process's umask, read without changing it where the system tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def mode_for(path, directory=False):
    """The permissions a new `path` gets: those of the one it replaces, else what
    `open` or `mkdir` would give it (temporary files are created private)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return (0o777 if directory else 0o666) & ~_umask()


# ----------------------------------------------------------------------- one file


@contextlib.contextmanager
def replaced_file(path, suffix=""):
    """Yields the path of a new empty file beside `path`, with a unique hidden name
    (ending in `suffix`) and the permissions `path` should have; when the block ends
    without an exception, the file, fsynced, replaces `path` (else it is removed)."""
    path = pathlib.Path(path)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}{PARTIAL_MARK}", suffix=suffix, dir=path.parent)
    os.close(descriptor)
    temporary = pathlib.Path(name)
    try:
        os.chmod(temporary, mode_for(path))  # mkstemp's files are private
        yield temporary
        fsync_file(temporary)
        os.replace(temporary, path)
        fsync_dir(path.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text):
    """Writes `text` (UTF-8) to `path` through a fsynced temporary file and a rename."""
    with replaced_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_save_weights(model, path):
    """`model.save_weights(path)` through a fsynced temporary file and a rename."""
    with replaced_file(path, suffix=".weights.h5") as temporary:  # the ending Keras needs
        model.save_weights(temporary, overwrite=True)


# ------------------------------------------------------------------ one directory


def replacement_problem(path):
    """Why `path` cannot be written as a staged directory, or None: it is a file, a
    mount point (which no rename can replace), or its parent is not writable."""
    path = pathlib.Path(os.path.realpath(path))
    if path.exists() and not path.is_dir():
        return "exists and is not a directory"
    if path.is_dir() and os.path.ismount(path):
        return ("is a mount point, which cannot be replaced by a rename: write into a "
                "directory inside it")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"its directory {parent} is not writable (it is written beside itself first)"
    return None


def _exchange(first, second):
    """Swaps two paths in one step (Linux `renameat2`); False where that is missing."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                       _RENAME_EXCHANGE)
    if result == 0:
        return True
    number = ctypes.get_errno()
    if number in _NO_EXCHANGE:
        return False
    raise OSError(number, f"cannot swap {first} and {second}: {os.strerror(number)}")


def replace_directory(staging, target):
    """Puts directory `staging` in the place of `target` by a rename; returns where the
    previous `target` now is (to remove), or None if there was none.

    A process whose working directory is (inside) `target` follows it to the new one.
    """
    staging, target = pathlib.Path(staging), pathlib.Path(target)
    cwd = os.getcwd()
    inside = os.path.commonpath([cwd, target]) == str(target)
    if not os.path.lexists(target):
        os.rename(staging, target)
        previous = None
    elif _exchange(staging, target):
        previous = staging
    else:
        previous = target.with_name(f".{target.name}{PREVIOUS_MARK}{secrets.token_hex(4)}")
        os.rename(target, previous)
        os.rename(staging, target)
    fsync_dir(target.parent)
    if inside:
        same_place = os.path.join(target, os.path.relpath(cwd, target))
        os.chdir(same_place if os.path.isdir(same_place) else target)
    return previous


def _discard(path):
    """Removes a temporary or previous directory (a kill leaves it behind instead)."""
    shutil.rmtree(path, ignore_errors=True)


def _link_tree(source, destination):
    """`destination` as a copy of `source` made of hard links (copies where links fail)."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), destination)
    elif os.path.isdir(source):
        os.mkdir(destination)
        for entry in os.listdir(source):
            _link_tree(os.path.join(source, entry), os.path.join(destination, entry))
    else:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)


def carry_over(previous, staging, replaced=()):
    """Links every entry of `previous` that `staging` does not hold, and that is not
    named in `replaced`, into `staging`."""
    for entry in os.listdir(previous):
        if entry in replaced or is_leftover(entry):
            continue
        if not os.path.lexists(os.path.join(staging, entry)):
            _link_tree(os.path.join(previous, entry), os.path.join(staging, entry))


@contextlib.contextmanager
def staged_directory(target, keep_others=False, replaced=()):
    """Yields an empty directory beside `target`; when the block ends without an
    exception, the directory, fsynced, replaces `target` (see the module docstring).

    Args:
        target: str or path. The directory to write; its parent is created if needed.
        keep_others: bool. Carry the previous directory's other entries over.
        replaced: names never carried over: the files that belong together with what
            is written (a model's files), absent from the new directory or not.
    """
    target = pathlib.Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}{PARTIAL_MARK}", dir=target.parent))
    try:
        os.chmod(staging, mode_for(target, directory=True))
        yield staging
        if keep_others and target.is_dir():
            carry_over(target, staging, replaced)
        fsync_tree(staging)
        previous = replace_directory(staging, target)
    except BaseException:
        _discard(staging)
        raise
    if previous is not None:
        _discard(previous)


def is_leftover(name):
    """True for the name of a temporary file or directory, or of one renamed aside."""
    return name.startswith(".") and (PARTIAL_MARK in name or PREVIOUS_MARK in name)


def _leftover_of(name, entry):
    for mark in (PARTIAL_MARK, PREVIOUS_MARK):
        prefix = f".{entry}{mark}"
        if name.startswith(prefix) and name[len(prefix):].replace("_", "").isalnum():
            return True
    return False


def remove_leftovers(directory, of=None):
    """Removes what killed writes left in `directory`: temporary files and directories
    (`.*.partial-*`) and directories renamed aside (`.*.previous-*`); with `of`, only
    those of the entry of that name. Call it only while holding the lock of what they
    belong to."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if is_leftover(path.name) and (of is None or _leftover_of(path.name, of)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- locks

# The real paths of the directories whose lock this process holds.
_held = set()


@contextlib.contextmanager
def lock_directory(directory, purpose="writing"):
    """Holds the exclusive lock of `directory` for the block. A directory created here
    and left empty but for its lock is removed at the end.

    The same process may take it again inside the block (a nested call is free).

    Raises:
        DirectoryInUseError: another process holds it.
        FileExistsError: `directory` is a file.
    """
    directory = pathlib.Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(directory)
    if key in _held:  # a nested call: the lock is held already
        yield
        return
    path = os.path.join(key, LOCK_FILE)
    descriptor = _locked_file(path, directory)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"pid {os.getpid()}, {purpose}".encode())
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
            if created and os.listdir(key) == [LOCK_FILE]:  # nothing was written
                os.unlink(path)
                os.rmdir(key)
    finally:
        os.close(descriptor)  # releases the flock


def _locked_file(path, directory):
    """A descriptor of the lock file `path`, locked; the file it locks is the one at
    `path` (not one that an ending holder removed in the meantime)."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            return descriptor
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _holder(descriptor)
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise DirectoryInUseError(
                f"{directory} is in use by another process ({holder}); "
                f"wait for it to finish, or choose another directory"
            ) from None
        try:
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def _holder(descriptor):
    """What the holder of a lock wrote into the lock file: its pid and purpose."""
    text = os.pread(descriptor, _HOLDER_BYTES, 0).decode("ascii", "replace")
    return text if _HOLDER.fullmatch(text) else "unknown process"
