# bench/recheck's cold cache: evicts the page cache of every file under the given paths (files or
# directories) without touching the rest of the machine — fsync (so no page is dirty), then
# posix_fadvise(POSIX_FADV_DONTNEED), which drops a file's clean, unmapped pages — and checks with
# mincore that they are really gone. Prints one JSON line: files, bytes, residentBytes left.
# Usage: /usr/bin/python3 evict.py <path>...   (or `from evict import evict` in a script beside it)
import ctypes, ctypes.util, json, mmap, os, sys

_libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
PAGE = mmap.PAGESIZE


def resident_bytes(fd, size):
    """Bytes of the file in the page cache (mincore over a mapping that is never touched)."""
    if size == 0:
        return 0
    addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), 'mmap failed')
    try:
        pages = (size + PAGE - 1) // PAGE
        vec = ctypes.create_string_buffer(pages)
        if _libc.mincore(addr, size, vec) != 0:
            raise OSError(ctypes.get_errno(), 'mincore failed')
        return sum(b & 1 for b in vec.raw) * PAGE
    finally:
        _libc.munmap(addr, size)


def files_under(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _dirs, names in os.walk(p):
                for n in sorted(names):
                    yield os.path.join(root, n)
        else:
            yield p


def evict(paths):
    files = total = resident = 0
    for path in files_under(paths):
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            resident += resident_bytes(fd, size)
            files += 1
            total += size
        finally:
            os.close(fd)
    return {'files': files, 'bytes': total, 'residentBytes': resident}


if __name__ == '__main__':
    print(json.dumps(evict(sys.argv[1:])))
