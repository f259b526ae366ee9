"""A minimal, bounds-checked reader of an OLE2 compound file's directory.

Excel 97-2003 workbooks are OLE2 files, and so are password-protected xlsx files (Office stores
them with ``EncryptionInfo`` and ``EncryptedPackage`` streams).  Only the directory's names are
needed to tell them apart, so only the directory's sector chain is followed.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from bulkprov.errors import CorruptFile, EncryptedFile
from bulkprov.io.shared.guard import DATA_ERRORS, open_regular


def cfb_stream_names(path: Path) -> set[str]:
    """Names of the entries in an OLE2 compound file's directory (minimal, bounds-checked reader).

    Only the directory's sector chain is followed, reading the FAT entries it needs one by one,
    so even a 500 MB file costs a few small reads.
    """
    with open_regular(path) as fh:
        size = fh.seek(0, io.SEEK_END)
        fh.seek(0)
        hdr = fh.read(512)
        shift = struct.unpack_from("<H", hdr, 0x1E)[0]
        if shift not in (9, 12):
            raise ValueError("bad sector size")
        ss = 1 << shift
        per_sector = ss // 4
        max_sectors = size // ss + 1
        first_dir = struct.unpack_from("<I", hdr, 0x30)[0]
        first_difat, n_difat = struct.unpack_from("<II", hdr, 0x44)
        difat = list(struct.unpack_from("<109I", hdr, 0x4C))

        def read(sector: int, offset: int, length: int) -> bytes:
            if sector >= max_sectors:
                raise ValueError("sector out of range")
            fh.seek((sector + 1) * ss + offset)
            data = fh.read(length)
            if len(data) < length:
                raise ValueError("truncated")
            return data

        sec, hops = first_difat, 0
        while sec < 0xFFFFFFFA and hops < min(n_difat, max_sectors):
            vals = struct.unpack(f"<{per_sector}I", read(sec, 0, ss))
            difat.extend(vals[:-1])
            sec, hops = vals[-1], hops + 1

        def next_sector(sector: int) -> int:
            fat_index, slot = divmod(sector, per_sector)
            if fat_index >= len(difat):
                raise ValueError("FAT out of range")
            return struct.unpack("<I", read(difat[fat_index], slot * 4, 4))[0]

        names: set[str] = set()
        sec, hops = first_dir, 0
        while sec < 0xFFFFFFFA and hops < max_sectors:
            block = read(sec, 0, ss)
            for off in range(0, ss, 128):
                nlen = struct.unpack_from("<H", block, off + 64)[0]
                if 2 <= nlen <= 64:
                    names.add(block[off:off + nlen - 2].decode("utf-16-le", "replace"))
            sec, hops = next_sector(sec), hops + 1
        return names


def classify_ole(path: Path) -> str:
    """'xls' for a real Excel 97-2003 workbook; encrypted xlsx and other OLE files are refused."""
    try:
        names = cfb_stream_names(path)
    except DATA_ERRORS:
        raise CorruptFile("ole", path=path) from None
    if names & {"EncryptionInfo", "EncryptedPackage"}:
        raise EncryptedFile(path=path)
    if names & {"Workbook", "Book"}:
        return "xls"
    raise CorruptFile("office", path=path)


def read_stream(path: Path, wanted: set[str], limit: int) -> bytes | None:
    """The content of the first stream named in ``wanted`` (e.g. {"Workbook", "Book"}), or None.

    Bounds-checked like :func:`cfb_stream_names`: every chain is capped by the file's sector count
    and the stream by ``limit`` bytes; a damaged structure raises ``ValueError``.
    """
    with open_regular(path) as fh:
        data = fh.read(limit)
    if len(data) < 512:
        raise ValueError("truncated")
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if shift not in (9, 12) or mini_shift != 6:
        raise ValueError("bad sector size")
    ss = 1 << shift
    n_sectors = (len(data) - ss) // ss

    def sector(n: int) -> bytes:
        if not 0 <= n < n_sectors:
            raise ValueError("sector out of range")
        return data[(n + 1) * ss:(n + 2) * ss]

    difat = list(struct.unpack_from("<109I", data, 0x4C))
    first_difat, n_difat = struct.unpack_from("<II", data, 0x44)
    sec, hops = first_difat, 0
    while sec < 0xFFFFFFFA and hops < min(n_difat, n_sectors):
        vals = struct.unpack(f"<{ss // 4}I", sector(sec))
        difat.extend(vals[:-1])
        sec, hops = vals[-1], hops + 1
    fat: list[int] = []
    for s in difat:
        if s < 0xFFFFFFFA and len(fat) < n_sectors + ss:
            fat.extend(struct.unpack(f"<{ss // 4}I", sector(s)))

    def chain(start: int, size: int, unit: int, table: list[int], read, exact: bool = True) -> bytes:
        out, sec, hops = [], start, 0
        while sec < 0xFFFFFFFA and hops * unit < size + unit:
            if sec >= len(table):
                raise ValueError("chain out of range")
            out.append(read(sec))
            sec, hops = table[sec], hops + 1
        blob = b"".join(out)
        if exact and len(blob) < size:
            raise ValueError("stream shorter than its size")
        return blob[:size]

    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    directory = chain(first_dir, n_sectors * ss, ss, fat, sector, exact=False) if first_dir < 0xFFFFFFFA else b""
    entries = [directory[i:i + 128] for i in range(0, len(directory) - 127, 128)]
    if not entries:
        raise ValueError("no directory")
    cutoff = struct.unpack_from("<I", data, 0x38)[0]
    for entry in entries:
        nlen = struct.unpack_from("<H", entry, 64)[0]
        name = entry[:max(0, nlen - 2)].decode("utf-16-le", "replace") if 2 <= nlen <= 64 else ""
        if name not in wanted or entry[66] != 2:
            continue
        start, size = struct.unpack_from("<II", entry, 116)
        if size > limit:
            raise ValueError("stream over the size cap")
        if size >= cutoff:
            return chain(start, size, ss, fat, sector)
        root = entries[0]
        mini = chain(*struct.unpack_from("<II", root, 116), ss, fat, sector)
        first_minifat, n_minifat = struct.unpack_from("<II", data, 0x3C)
        packed = chain(first_minifat, n_minifat * ss, ss, fat, sector) if first_minifat < 0xFFFFFFFA else b""
        minifat = list(struct.unpack(f"<{len(packed) // 4}I", packed))
        return chain(start, size, 64, minifat, lambda n, mini=mini: mini[n * 64:(n + 1) * 64])
    return None
