# libtorrent's side of bench/create: create_torrent + set_piece_hashes on one file, as its Python
# binding's users do. Prints one JSON line: info hashes, piece length and the hashing time alone.
# Usage: /usr/bin/python3 libtorrent-create.py <file> <v1|v2|hybrid> <piece length, 0 = auto> <out.torrent>
import json, os, sys, time
import libtorrent as lt

path, kind, piece_length, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
flags = {'v1': lt.create_torrent.v1_only, 'v2': lt.create_torrent.v2_only, 'hybrid': 0}[kind]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, piece_length, flags=flags)
t0 = time.monotonic()
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
hashing = time.monotonic() - t0
data = lt.bencode(ct.generate())
with open(out, 'wb') as f:
    f.write(data)
ih = lt.torrent_info(data).info_hashes()
print(json.dumps({
    'v1': str(ih.v1) if ih.has_v1() else None,
    'v2': str(ih.v2) if ih.has_v2() else None,
    'pieceLength': ct.piece_length(),
    'hashingSeconds': hashing,
    'version': lt.__version__,
}))
