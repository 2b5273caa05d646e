"""Where tessera's training textures come from: Debian packages, their files and licences.

Each package lists where its textures sit (`root`: the folder that upstream's paths start
from, `include`: the only sub-folders or archive members that are read, `exclude`: folders
inside them that hold no surface textures), how its paths map onto the `Files:` patterns of
the package's machine-readable copyright file (`licence_prefix`), and which namespace its
paths share with another package (`split_as`), so that the same texture shipped twice lands
on the same side of the train / held-out split.

Next to an albedo texture, many games ship the maps a renderer shades it with: a normal map,
a height map, a specular or gloss map. `find_maps` pairs them by name (same folder, same
base name, a known suffix).
"""
import fnmatch
import hashlib
import os
import re
import subprocess
import zipfile

# Order matters: a texture found again in a later package is a duplicate of the first one.
PACKAGES = {
    "openarena-081-textures": {"licence_prefix": ""},
    "ufoai-textures": {"licence_prefix": "base/"},
    "colobot-common-textures": {"licence_prefix": "data/", "root": "usr/share/games/colobot/"},
    # OpenArena 0.8.8's patch archive re-ships some 0.8.1 textures under the same paths.
    "openarena-088-data": {"licence_prefix": "", "split_as": "openarena-081-textures"},
    "redeclipse-data": {
        "licence_prefix": "", "root": "usr/share/games/redeclipse/", "include": ("data/",),
        "exclude": ("data/actors/", "data/weapons/", "data/particles/", "data/crosshairs/", "data/fonts/",
                    "data/skyboxes/", "data/projectiles/", "data/vanities/", "data/props/", "data/caustics/",
                    "data/textures/", "data/maps/", "data/sounds/", "data/blendbrush/")},
    # 0 A.D. keeps its art in one archive; only the terrain types are tileable ground textures.
    "0ad-data": {"licence_prefix": "binaries/data/mods/public/", "include": ("art/textures/terrain/types/",)},
    "supertuxkart-data": {
        "licence_prefix": "", "root": "usr/share/games/supertuxkart/",
        "include": ("data/textures/", "data/tracks/"),
        "exclude": ("data/textures/skybox/", "data/textures/deprecated/")},
}
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tga", ".dds")
ARCHIVE_EXT = (".pk3", ".zip")

# Suffixes of the maps that sit next to an albedo texture, by kind. `_local` is Doom 3's
# name for a normal map, `_z` Tesseract's (Red Eclipse) for a parallax height map.
MAP_KINDS = {
    "normal": ("_nm", "_n", "_norm", "_normal", "_local", "_bump"),
    "height": ("_h", "_hm", "_height", "_disp", "_z"),
    "specular": ("_s", "_sm", "_spec", "_specular"),
    "gloss": ("_gm", "_gloss", "_glossy"),
    "roughness": ("_rm", "_rough", "_roughness"),
}
# Suffixes some packages give the albedo itself ("brick_c.jpg" next to "brick_n.png").
# Suffixes of files that are neither albedo nor a map that is paired (glow, masks, blend weights).
OTHER_MAP_SUFFIXES = ("_n2", "_g", "_glow", "_lum", "_luma", "_emit", "_mask", "_masks", "_colormask", "_alpha",
                      "_blend", ".blend", "_fx", "_add", "_ao")
ALBEDO_SUFFIX = re.compile(r"(_c|_d|_col|_color|_colour|_diff|_dif|_diffuse|_albedo|_basecolor)$")


def _run(cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_packages(cache, packages=None):
    """apt-get download + dpkg-deb -x of `packages` (default: all); returns {package: {version, sha256, root, deb}}."""
    debs, extract = os.path.join(cache, "debs"), os.path.join(cache, "extract")
    os.makedirs(debs, exist_ok=True)
    info = {}
    for pkg in packages or PACKAGES:
        found = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
        if not found:
            _run(["apt-get", "download", pkg], cwd=debs)
            found = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
        deb = os.path.join(debs, sorted(found)[-1])
        root = os.path.join(extract, pkg)
        if not os.path.isdir(os.path.join(root, "usr")):
            os.makedirs(root, exist_ok=True)
            _run(["dpkg-deb", "-x", deb, root])
        info[pkg] = {"version": os.path.basename(deb).split("_")[1], "sha256": _sha256(deb), "root": root,
                     "deb": os.path.basename(deb)}
    return info


def parse_copyright(path):
    """Debian machine-readable copyright -> list of (patterns, licence); the last match wins."""
    stanzas = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for block in re.split(r"\n\s*\n", text):
        fields, first, key = {}, {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, val = line.split(":", 1)
                fields[key] = first[key] = val.strip()
        if "Files" in fields and "License" in fields:
            stanzas.append((fields["Files"].split(), first["License"]))
    return stanzas


def licence_for(stanzas, path):
    lic = "unknown"
    for patterns, lic_name in stanzas:
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            lic = lic_name
    return lic


def _wanted(pkg, rel):
    spec = PACKAGES[pkg]
    inc, exc = spec.get("include"), spec.get("exclude", ())
    if inc and not rel.startswith(inc):
        return False
    return not rel.startswith(exc)


def clean_name(member):
    """0 A.D.'s archive holds its PNG sources converted: 'x.png.cached.dds' is the texture x.png."""
    return member[: -len(".cached.dds")] if member.endswith(".cached.dds") else member


def iter_sources(pkg, root):
    """Sorted (path_in_package, loader) for every image of the package that it says may be a texture."""
    strip = PACKAGES[pkg].get("root", "")
    items = []
    for dirpath, _, files in os.walk(root):
        for fn in files:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root)
            if fn.lower().endswith(ARCHIVE_EXT):
                with zipfile.ZipFile(full) as z:
                    for m in z.namelist():
                        if m.lower().endswith(IMAGE_EXT) and _wanted(pkg, m):
                            items.append((clean_name(m), ("zip", full, m)))
            elif fn.lower().endswith(IMAGE_EXT):
                if strip:
                    if strip not in rel:
                        continue
                    rel = rel.split(strip, 1)[1]
                if _wanted(pkg, rel):
                    items.append((rel, ("file", full, None)))
    return sorted(items)


def relative_to_include(pkg, path):
    """The part of a path below its package's include folder (the part whose words describe the texture)."""
    for inc in PACKAGES[pkg].get("include") or ():
        if path.startswith(inc):
            return path[len(inc):]
    return path


_ZIPS = {}


def load_bytes(src):
    kind, full, member = src
    if kind == "zip":
        z = _ZIPS.get(full)
        if z is None:  # one handle per worker: 0 A.D.'s archive has a 36k-entry directory
            z = _ZIPS[full] = zipfile.ZipFile(full)
        return z.read(member)
    with open(full, "rb") as f:
        return f.read()


def split_key(pkg, path):
    """The name the train / held-out hash is taken of."""
    return f"{PACKAGES[pkg].get('split_as', pkg)}/{path}"


def _stem(path):
    return os.path.splitext(path.lower())[0]


def map_kind(path):
    """'normal', 'height', ... when the name is that of a map; None for an albedo (or anything else)."""
    stem = _stem(path)
    for kind, sufs in MAP_KINDS.items():
        if stem.endswith(sufs):
            return kind
    return None


def map_base(stem, kind):
    for s in sorted(MAP_KINDS[kind], key=len, reverse=True):
        if stem.endswith(s):
            return stem[: -len(s)]
    return stem


def index_maps(sources):
    """{lower-case base path: {kind: (path, loader)}} for every map among a package's sources."""
    idx = {}
    for path, src in sources:
        kind = map_kind(path)
        if kind:
            base = map_base(_stem(path), kind)
            # several files of one kind (x_n.png and x_n.jpg): keep the first in sorted order
            idx.setdefault(base, {}).setdefault(kind, (path, src))
    return idx


def find_maps(maps_index, albedo_path):
    """The maps that belong to an albedo texture ({kind: (path, loader)}), matched by base name."""
    stem = _stem(albedo_path)
    found = dict(maps_index.get(stem, {}))
    base = ALBEDO_SUFFIX.sub("", stem)
    if base != stem:
        for kind, v in maps_index.get(base, {}).items():
            found.setdefault(kind, v)
    return found
