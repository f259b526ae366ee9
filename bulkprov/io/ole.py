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
from bulkprov.io.guard import DATA_ERRORS, open_regular


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
