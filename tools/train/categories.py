"""Texture categories of tessera's model and the name rules that assign them.

The class index is the position in CLASSES; the model's extra last class index
(len(CLASSES)) is the "null" class used for classifier-free guidance.
"""
import re

CLASSES = ["stone", "brick", "metal", "wood", "ground", "grass", "tiles", "concrete", "fabric", "other"]

# Categories whose look survives a 90-degree rotation / vertical flip.  Bricks,
# planks, panels and most "other" textures carry a direction (rows, grain, baked
# top-down lighting), so they only get horizontal flips and toroidal shifts.
ROTATABLE = {"stone", "ground", "grass", "concrete", "fabric"}

# Strong material words are searched as substrings of the file name
# ("metalfloor" -> metal) and win over generic words; generic words (wall,
# floor, base, ...) only match the start of a name token.  The file name decides
# first; the directory (e.g. "gothic_block", "tex_nature") only breaks ties.
STRONG = [
    ("brick", ("brick",)),
    ("wood", ("wood", "plank", "timber", "parquet")),
    ("fabric", ("fabric", "carpet", "cloth", "curtain", "textile", "leather", "canvas", "wallpaper")),
    ("metal", ("metal", "steel", "iron", "rust", "chrome", "copper", "bronze", "alumin", "grate", "grating")),
    ("stone", ("stone", "rock", "marble", "granite", "cobble", "cliff", "slate", "boulder", "pebble")),
    ("grass", ("grass", "foliage", "leaves", "moss", "hedge", "jungle")),
    ("ground", ("dirt", "sand", "gravel", "desert", "terrain", "soil", "earth", "forestfloor", "forest_floor",
                "farmland", "steppe", "savanna", "beach")),
    ("concrete", ("concrete", "plaster", "cement", "asphalt", "stucco")),
]
WEAK = [
    ("tiles", ("tile", "floor", "mosaic", "checker", "ceramic", "roof", "paving", "pavers")),
    ("concrete", ("concrt", "crete", "street", "road", "sidewalk", "wall", "pavement")),
    ("wood", ("crate", "board", "log", "bark")),
    ("grass", ("leaf", "plant", "organics", "bush", "vine", "ivy", "nature")),
    ("ground", ("terra", "mars", "relief", "snow", "ice", "dust", "dune", "crater", "moon", "lunar", "mud")),
    ("stone", ("roc", "gothic", "pjrock", "cave", "quartz", "block", "flagstone")),
    ("metal", ("met", "plate", "pipe", "tech", "base", "support", "panel", "bolt", "rivet", "mtl", "ufo",
               "alien", "trak", "cyber", "diamond")),
]


def tokens(path):
    """Lower-case letter runs of the path ('gothic_block/blocks15c.jpg' -> gothic, block, blocks, c, jpg)."""
    return [t for t in re.split(r"[^a-z]+", path.lower()) if t]


def categorize(path):
    folder, _, name = path.rpartition("/")
    for part in (name, folder):
        low = part.lower()
        for cat, words in STRONG:
            if any(w in low for w in words):
                return cat
        toks = tokens(part)
        for cat, words in WEAK:
            if any(t.startswith(w) for t in toks for w in words):
                return cat
    return "other"
