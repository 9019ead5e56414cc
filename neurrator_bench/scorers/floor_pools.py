"""Fixed sentence pools for the SBERT floors (paper Sec. 4.1 word salad; A.4, A.6 random sentences).

A floor is the SBERT cosine a content-free sentence reaches against a reference caption. The
paper uses a word-salad floor (Sec. 4.1) and a fixed pool of 30 off-topic sentences (A.4, Table
A1). Both pools below were written for this package; they are part of the benchmark definition,
so any edit must bump :data:`FLOOR_POOL_VERSION` (recorded in every result entry).

``WORD_SALAD`` sentences look grammatical but mean nothing and avoid scene vocabulary.
``OFF_TOPIC`` sentences are fluent English on subjects unrelated to visual scenes.
"""

from __future__ import annotations

FLOOR_POOL_VERSION = 1

WORD_SALAD: tuple[str, ...] = (
    "purple quietly seven under the rhythm of forgotten arithmetic",
    "the seldom ninety hums beneath an orange theory of maybe",
    "whenever softly twelve becomes the verb of yesterday's vowels",
    "a loud inversion of Tuesday folds politely into eleven",
    "nevertheless the yellow grammar sleeps against its own echo",
    "forty reasons drift sideways through the velvet of almost",
    "the opposite of humming tastes like a patient integer",
    "seldom blue, the apology of numbers wanders into Thursday",
    "an elastic rumour of thirteen argues with the letter q",
    "because the silence was square, the adverbs ate slowly",
    "every hollow syllable remembers the temperature of eight",
    "gently the subtraction of whispers outgrew its fourth vowel",
    "the borrowed adjective rotates around a sleepy remainder",
    "sixty ideas of green pretended to be a careful comma",
    "quite upside the triangle of meaning sang without a noun",
    "a transparent Wednesday disagrees with its neighbouring zero",
    "the fragile percent of nothing murmured into an abstract hinge",
    "often the vowel of distance tastes faintly of nineteen",
    "its crooked elegance subtracted the loudness from a theorem",
    "between nine and silence a polite ambiguity unravelled",
    "the reluctant syntax of lavender counted backwards to hello",
    "twice the quiet of a decimal leaned against its own maybe",
    "an unfinished plural dissolved into the echo of thirty",
    "seventeen soft verbs negotiated with the colour of Monday",
    "the premise of humming slowly became a sideways fraction",
    "under every vague hyphen a crimson logic forgets itself",
    "nobody's adverb multiplied the texture of a quiet hour",
    "the pale arithmetic of almost apologised to the semicolon",
    "sincerely the fifth echo of grammar ran out of vowels",
    "a moderate infinity of syllables yawned beside the number two",
)

OFF_TOPIC: tuple[str, ...] = (
    "The central bank raised its benchmark interest rate by a quarter of a percentage point.",
    "Whisk two eggs with a pinch of salt before folding in the melted butter.",
    "A contract is void if one party lacked the legal capacity to consent.",
    "The derivative of the natural logarithm of x is one divided by x.",
    "Quarterly earnings exceeded analyst expectations despite rising supply costs.",
    "Simmer the sauce for twenty minutes, stirring occasionally to prevent sticking.",
    "The appellate court reversed the lower court's ruling on procedural grounds.",
    "Every bounded monotone sequence of real numbers converges to a limit.",
    "Diversifying a retirement portfolio reduces exposure to any single asset class.",
    "Preheat the oven to one hundred eighty degrees and grease the baking tin.",
    "The statute of limitations for this kind of claim is three years.",
    "A prime number has exactly two distinct positive divisors.",
    "Inflation erodes the purchasing power of fixed-income investments over time.",
    "Let the dough rest for an hour so the gluten can relax.",
    "The defendant's attorney filed a motion to suppress the evidence.",
    "The sum of the interior angles of a polygon with n sides is (n - 2) times 180 degrees.",
    "The company announced a stock buyback program worth two billion dollars.",
    "Season the soup with pepper and a squeeze of lemon just before serving.",
    "Under this regulation, employers must keep payroll records for five years.",
    "The eigenvalues of a symmetric matrix are always real numbers.",
    "Bond yields fell after the latest employment report came in weaker than forecast.",
    "Marinate the tofu overnight in soy sauce, garlic and ginger.",
    "A trademark protects names and symbols that identify the source of goods.",
    "The probability of two independent events both occurring is the product of their probabilities.",
    "The mortgage lender approved the refinancing application at a lower rate.",
    "Reduce the vinegar by half before adding the cream to the pan.",
    "The jury must reach a unanimous verdict in a criminal trial.",
    "Integration by parts follows directly from the product rule for derivatives.",
    "Tax deductions for charitable donations require written receipts above a certain amount.",
    "The committee will vote on the amended bylaws at next month's meeting.",
)
