"""Closed word lists shared by the extractor and the built-in suites (our own lists)."""

COLORS = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey",
    "gold", "golden", "silver", "beige", "violet", "turquoise", "maroon", "navy", "teal", "tan", "cream",
    "crimson", "ivory", "magenta", "cyan", "lavender", "bronze",
)
SHAPES = (
    "round", "square", "oval", "triangular", "rectangular", "circular", "cubic", "spherical", "cylindrical",
    "conical", "pyramidal", "hexagonal", "octagonal", "heart-shaped", "star-shaped", "teardrop", "diamond",
    "curved", "flat", "long", "short", "tall", "big", "small", "thin", "thick", "wide", "narrow", "oblong",
    "pentagonal", "crescent", "elliptical", "cuboid", "domed",
)
TEXTURES = (
    "wooden", "metallic", "plastic", "glass", "fabric", "leather", "rubber", "fluffy", "furry", "smooth",
    "rough", "soft", "hard", "silky", "woolen", "wool", "velvet", "ceramic", "stone", "marble", "paper",
    "cotton", "denim", "golden", "silver", "steel", "iron", "brick", "concrete", "feathered", "knitted",
)
ATTRIBUTES = {"color": COLORS, "shape": SHAPES, "texture": TEXTURES}

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10,
}

DETERMINERS = {
    "a", "an", "the", "this", "that", "these", "those", "some", "its", "his", "her", "their", "my", "our", "your",
    "another", "each", "every", "several", "many", "few", "one", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "ten", "no", "any", "other",
}

# Words that end a noun phrase: prepositions, conjunctions, pronouns, auxiliaries, common verbs.
BOUNDARIES = {
    "and", "or", "but", "while", "with", "without", "on", "in", "into", "onto", "of", "at", "by", "for", "from",
    "to", "near", "next", "beside", "besides", "behind", "between", "under", "underneath", "below", "above",
    "over", "through", "across", "against", "around", "inside", "outside", "along", "among", "toward",
    "towards", "upon", "up", "down", "off", "out", "as", "like", "than", "then", "there", "here", "where",
    "which", "who", "whom", "whose", "that", "it", "they", "them", "he", "she", "him", "we", "you", "i",
    "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "can",
    "could", "will", "would", "should", "may", "might", "must", "not", "very", "too", "so", "also", "just",
    "sits", "sit", "sitting", "stands", "standing", "shines", "shine", "lies", "lie", "lying",
    "hangs", "hang", "holds", "hold", "holding", "looks", "look", "looking", "rests", "filled",
    "made", "placed", "parked", "topped", "shows", "show", "shown", "sits", "plays", "playing",
    "eats", "eating", "rides", "riding", "walks", "walking", "runs", "running", "flies", "flying", "sleeps",
    "sleeping", "contains", "containing", "wearing", "wears", "carrying", "carries", "left", "right", "top",
    "bottom", "side", "front", "matching", "against", "beneath", "atop", "full", "piled", "cut", "cuts",
    "release", "releases", "mix", "mixes", "held", "display", "displays", "provide", "provides", "jot", "stood",
    "hung", "reads", "features", "flash", "flashes", "seem", "seems", "appear", "appears", "become", "becomes",
    "nearby", "together", "empty", "alone", "neatly", "after", "before", "during", "led", "sat", "lay", "ran",
    "fell", "flew", "grew", "saw", "went", "came", "took", "gave", "got", "stuck",
}

# Noun chunks the T2I-CompBench reference drops before asking questions.
DROPPED_CHUNKS = {"top", "the side", "the left", "the right"}

PERSON_ALIASES = {"girl": "person", "boy": "person", "man": "person", "woman": "person"}
