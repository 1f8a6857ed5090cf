"""The rules and lexicon of the embedded language (data only; the machinery is in `grammar.py`).

Nonterminals are written `NP_SG`, preterminals (word categories) `N_SG`; every right-hand side
symbol is one or the other. Each number `x` in {SG, PL} gets its own copy of the agreeing rules,
which is what makes agreement a property of the grammar rather than a filter on its output:

    S      -> NP_x VP_x END                                   0.5 each
    NP     -> NP_SG | NP_PL                                   0.5 each
    NP_x   -> DET_x NOM_x (0.7) | DET_x NOM_x PP (0.1) | DET_x NOM_x RC_x (0.2)
    NOM_x  -> N_x (0.75) | ADJ NOM_x (0.25)
    PP     -> P DET_SG PLACE_SG | P DET_PL PLACE_PL           0.5 each
    RC_x   -> THAT VP_x (0.5) | THAT NP_SG VT_SG (0.25) | THAT NP_PL VT_PL (0.25)
    VP_x   -> VI_x (0.4) | VI_x ADV (0.1) | VI_x PP (0.1) | VT_x NP (0.3) | VT_x NP PP (0.1)

The object relative clause `RC_x -> THAT NP_y VT_y` is the long-range dependency: in "the dog
that the cats see runs" the main verb agrees with "dog" across a clause whose own subject and
verb are plural. `VT_x NP PP` next to `NP_x -> DET_x NOM_x PP` makes prepositional attachment
ambiguous ("sees the cat near the tree"), so some strings have two or more derivations.
"""

from __future__ import annotations

NUMBERS = ("SG", "PL")


def _agreeing_rules() -> dict[str, list[tuple[str, float]]]:
    rules: dict[str, list[tuple[str, float]]] = {
        "S": [("NP_SG VP_SG END", 0.5), ("NP_PL VP_PL END", 0.5)],
        "NP": [("NP_SG", 0.5), ("NP_PL", 0.5)],
        "PP": [("P DET_SG PLACE_SG", 0.5), ("P DET_PL PLACE_PL", 0.5)],
    }
    for x in NUMBERS:
        rules[f"NP_{x}"] = [
            (f"DET_{x} NOM_{x}", 0.7),
            (f"DET_{x} NOM_{x} PP", 0.1),
            (f"DET_{x} NOM_{x} RC_{x}", 0.2),
        ]
        # Adjectives recurse; the length cap, not the rule, bounds how many stack up.
        rules[f"NOM_{x}"] = [(f"N_{x}", 0.75), (f"ADJ NOM_{x}", 0.25)]
        rules[f"RC_{x}"] = [
            (f"THAT VP_{x}", 0.5),
            ("THAT NP_SG VT_SG", 0.25),
            ("THAT NP_PL VT_PL", 0.25),
        ]
        rules[f"VP_{x}"] = [
            (f"VI_{x}", 0.4),
            (f"VI_{x} ADV", 0.1),
            (f"VI_{x} PP", 0.1),
            (f"VT_{x} NP", 0.3),
            (f"VT_{x} NP PP", 0.1),
        ]
    return rules


RULES: dict[str, list[tuple[str, float]]] = _agreeing_rules()


def uniform(words: str) -> dict[str, float]:
    """Equal weights for space-separated `words`."""
    return dict.fromkeys(words.split(), 1.0)


# Weights per category, normalised by the Grammar. Singular and plural lists are parallel.
LEXICON: dict[str, dict[str, float]] = {
    # "the" is in both determiner classes: the determiner alone never tells the number.
    "DET_SG": {"the": 0.5, "a": 0.3, "this": 0.1, "every": 0.1},
    "DET_PL": {"the": 0.5, "some": 0.2, "these": 0.2, "many": 0.1},
    "N_SG": uniform(
        "dog cat bird horse fox wolf mouse child man woman girl boy teacher farmer king queen"
    ),
    "N_PL": uniform(
        "dogs cats birds horses foxes wolves mice children men women girls boys teachers"
        " farmers kings queens"
    ),
    "PLACE_SG": uniform("tree house river bridge hill wall garden table"),
    "PLACE_PL": uniform("trees houses rivers bridges hills walls gardens tables"),
    "ADJ": uniform("big small old young happy sad brown white quiet clever"),
    "VI_SG": uniform("runs sleeps sings laughs waits swims cries jumps"),
    "VI_PL": uniform("run sleep sing laugh wait swim cry jump"),
    "VT_SG": uniform("sees likes chases follows finds helps watches knows"),
    "VT_PL": uniform("see like chase follow find help watch know"),
    "P": uniform("near behind under beside across above"),
    "ADV": uniform("quickly slowly often loudly again"),
    "THAT": uniform("that"),
    "END": uniform("."),
}

# One or two words per category: small enough to enumerate every sentence of up to 9 words,
# while keeping the shared "the", both numbers, and the ambiguous attachments.
TOY_LEXICON: dict[str, dict[str, float]] = {
    "DET_SG": {"the": 0.6, "a": 0.4},
    "DET_PL": {"the": 0.7, "some": 0.3},
    "N_SG": uniform("dog cat"),
    "N_PL": uniform("dogs cats"),
    "PLACE_SG": uniform("tree"),
    "PLACE_PL": uniform("trees"),
    "ADJ": uniform("old"),
    "VI_SG": uniform("runs"),
    "VI_PL": uniform("run"),
    "VT_SG": uniform("sees"),
    "VT_PL": uniform("see"),
    "P": uniform("near"),
    "ADV": uniform("often"),
    "THAT": uniform("that"),
    "END": uniform("."),
}
