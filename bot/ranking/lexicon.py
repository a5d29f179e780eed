"""Every word list of articlebot (Norwegian and English).

Features, BM25, short answers, follow-up resolution and the language guess all look words up
here, after `core.text.fold`: NFC, then Unicode case folding. Two spelling keys, for names and
for cognates, match words across Norwegian and English spellings.
"""

from __future__ import annotations

from core.text import fold

# Only question words and English function words are dropped: Norwegian function words
# ("ikke", "mot", "etter") help at sentence level, where BM25's IDF already weighs them.
# Measured on NorQuAD train: dropping a full Norwegian stop list cost 2-3 points of hit@1.
STOP_WORDS = frozenset(
    """
    hva hvem hvor hvordan hvorfor hvilke hvilken hvilket når kva kven kvar korleis kvifor
    the a an of to in on for is are was were be been being what who whom where when why how
    which whose does do did has have had and or not it its this that these those with from
    by as at about according into than then there their they them he she his her him you we
    """.split()
)
# Function words of both languages: never evidence of a shared topic (for cognates).
FUNCTION_WORDS = frozenset(
    """
    og i jeg det at en et den til er som på de med han av ikke der så var meg seg men ett
    har om vi min mitt ha hadde hun nå over da ved fra du ut sin dem oss opp man kan hans
    hvor eller hva skal selv sjøl her alle vil bli ble blitt kunne inn når være kom noen noe
    ville dere deres kun ja etter ned skulle denne for deg si sine sitt mot å meget hvorfor
    dette disse uten hvordan ingen din ditt blir samme hvilken hvilke sånn inni mellom vår
    hver hvem vors dei ho eg kva kven kvar korleis kvifor ikkje også seg sitt the a an of to
    in on for is are was were be been being what who whom where when why how which whose
    does do did has have had and or not it its this that these those with from by as at
    about according into than then there their they them he she his her him i you we
    """.split()
)

# English (and French, German, Spanish, Swedish) names of places, peoples and bodies whose
# Norwegian form differs, so that a question in another language still shares names with a
# Norwegian sentence. Deliberately only names:
# common words are left to the dense model and the cognate feature, not to a glossary.
EXONYMS: dict[str, str] = {
    "russia": "russland",
    "russian": "russisk",
    "russians": "russere",
    "china": "kina",
    "chinese": "kinesisk",
    "north": "nord",
    "south": "sør",
    "korea": "korea",
    "korean": "koreansk",
    "ukraine": "ukraina",
    "ukrainian": "ukrainsk",
    "norway": "norge",
    "norwegian": "norsk",
    "sweden": "sverige",
    "swedish": "svensk",
    "denmark": "danmark",
    "danish": "dansk",
    "finland": "finland",
    "germany": "tyskland",
    "german": "tysk",
    "france": "frankrike",
    "french": "fransk",
    "britain": "storbritannia",
    "british": "britisk",
    "england": "england",
    "english": "engelsk",
    "spain": "spania",
    "italy": "italia",
    "poland": "polen",
    "greece": "hellas",
    "netherlands": "nederland",
    "belgium": "belgia",
    "switzerland": "sveits",
    "austria": "østerrike",
    "iceland": "island",
    "america": "amerika",
    "american": "amerikansk",
    "japan": "japan",
    "japanese": "japansk",
    "iran": "iran",
    "iranian": "iransk",
    "syria": "syria",
    "syrian": "syrisk",
    "iraq": "irak",
    "turkey": "tyrkia",
    "egypt": "egypt",
    "israel": "israel",
    "palestine": "palestina",
    "india": "india",
    "brazil": "brasil",
    "mexico": "mexico",
    "canada": "canada",
    "africa": "afrika",
    "europe": "europa",
    "european": "europeisk",
    "asia": "asia",
    "arctic": "arktis",
    "moscow": "moskva",
    "kyiv": "kyiv",
    "kiev": "kiev",
    "beijing": "beijing",
    "copenhagen": "københavn",
    "gothenburg": "göteborg",
    "un": "fn",
    "nato": "nato",
    "eu": "eu",
    "kremlin": "kreml",
    "crimea": "krim",
    "arab": "arabisk",
    "nordic": "nordisk",
    # the same in French, German, Spanish and Swedish, where the form differs again
    "russie": "russland",
    "rusia": "russland",
    "ryssland": "russland",
    "corée": "korea",
    "corea": "korea",
    "chine": "kina",
    "norvège": "norge",
    "noruega": "norge",
    "norwegen": "norge",
    "suède": "sverige",
    "schweden": "sverige",
    "suecia": "sverige",
    "danemark": "danmark",
    "dänemark": "danmark",
    "dinamarca": "danmark",
    "allemagne": "tyskland",
    "deutschland": "tyskland",
    "alemania": "tyskland",
    "moscou": "moskva",
    "moskau": "moskva",
    "moscú": "moskva",
    "crimée": "krim",
    "syrie": "syria",
    "syrien": "syria",
    "siria": "syria",
    "amérique": "amerika",
    "onu": "fn",
    "otan": "nato",
    "ue": "eu",
    "pékin": "beijing",
    "peking": "beijing",
    "pekín": "beijing",
}

# Marker words per language: question and function words, for the language guess. A word
# listed for several languages counts for each as 1 / (the number of languages listing it),
# so a word only one language uses weighs most; Nynorsk lists the function words it shares
# with bokmål too, so that "Kven er han?" is not outvoted by "er" and "han".
LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    "nb": frozenset(
        """
    hva hvem hvor hvordan hvorfor hvilke hvilken hvilket når ikke jeg det er og som på
    til med av har var en et den de om fra sier mener kan skal vil hun han hans deres
    seg blir ble etter mellom også noen dette disse ifølge hvor mange
    """.split()
    ),
    "nn": frozenset(
        """
    kva kven kvar korleis kvifor kva for kor ikkje eg dei ho vere vore frå berre mykje
    nokon noko desse heiter kvifor handlar
    er og som på til med av har var ein eit den det om han seg etter også
    """.split()
    ),
    "en": frozenset(
        """
    what who where when why how which whose is are was were the a an of to in on for
    does do did has have had according about and not his her their this that with from
    by as become becoming say says
    """.split()
    ),
    "sv": frozenset(
        """
    vad vem vilka vilken hur varför när är och inte jag det som på till med av har var
    ett den om från säger enligt också någon
    """.split()
    ),
    "de": frozenset(
        """
    was wer wen wem wo wie warum welche welcher welches wann ist sind und nicht ich das der
    die den dem des ein eine einen mit von hat haben sagt laut auch worum geht es im zu
    gegen ihr ihre seine sein wurde werden veröffentlicht
    """.split()
    ),
    "fr": frozenset(
        """
    qui que quoi quel quelle quels quelles où quand pourquoi comment est sont le la les
    un une des du de et ne pas il elle ils cet cette ce son sa ses leur dans sur avec
    pour parle a-t-il a-t-elle doit-il selon
    """.split()
    ),
    "es": frozenset(
        """
    qué quién quiénes cuál cuáles dónde cuándo por cómo es son el la los las un una
    del de y no su sus en con para según habla
    """.split()
    ),
    "da": frozenset(
        """
    hvad hvem hvor hvordan hvorfor hvilke hvornår ikke jeg det er og som på til med af
    har var en et den de om fra siger ifølge også nogen
    """.split()
    ),
}

# Pronouns and pro-forms that point back to something said earlier (nb, nn, en).
PRONOUNS = frozenset(
    """
han hun ham henne hans hennes den det dei de dem deres dette disse der ho honom hennar
hen hens seg sin sitt sine dit da
he she him her his hers they them their theirs it its there that this these those then
""".split()
)
# Pronouns that point back at a person (nb, nn, en).
PERSONAL_PRONOUNS = frozenset(
    "han hun ham henne hans hennes ho honom hennar hen hens he she him her his hers".split()
)
# Pro-forms that stand for what an earlier question asked about ("did that", "gjorde
# det"): a follow-up with one borrows that whole question, not only its names (nb, nn, en).
EVENT_PRO_FORMS = frozenset("det dette slik that this so".split())
# Words that start a question with a capital letter without being a name (nb, nn, en).
CAPITALISED_NON_NAMES = frozenset(
    """
hva hvem hvor hvordan hvorfor hvilke hvilken hvilket når kva kven kvar korleis kvifor kor
er var har kan skal vil blir ble mener sier gjør
what who where when why how which whose is are was were does do did has have had can
will would should could tell according
""".split()
)

# Overview questions: what a whole article is about, not a fact in it (nb, nn, en, de, fr,
# sv, da, es), matched on the folded question.
OVERVIEW_PATTERNS = (
    r"\b(?:hva|kva) (?:handler|handlar|går) (?:artikkelen|saken|teksten|det)\b",
    r"\b(?:hva|kva) (?:er|var) (?:hovedpoenget|hovudpoenget|poenget|hovedbudskapet|"
    r"hovudbodskapen|budskapet|konklusjonen)\b",
    r"\b(?:hva|kva) er (?:hovedfunnet|hovudfunnet|hovedsaken|hovudsaka|nyheten|nyheita)\b",
    r"\b(?:hva|kva) er (?:denne |dette |den |det )?(?:saka|saken|artikkelen|teksten|"
    r"historien|historia|nyheten)\b(?: \w+)? om\b",
    r"\b(?:oppsummer|oppsummering|samandrag|sammendrag|resymé)\w*",
    r"\bkort fortalt\b",
    r"\b(?:in short|in brief|briefly)\b",
    r"\bwhat(?:'s| is| was) (?:the |this )?(?:article|story|piece|text) about\b",
    r"\b(?:summari[sz]e|summary|sum up|tl;?dr|gist)\b",
    r"\bwhat(?:'s| is) (?:the |its )?(?:main|central|key) (?:claim|point|argument|message|"
    r"idea)\b",
    r"\bworum geht es\b",
    r"\bzusammenfass\w*",
    r"\b(?:de )?quoi parle\b",
    r"\br[ée]sum(?:é|e|er|ez)\b",
    r"\bvad handlar (?:artikeln|texten)\b",
    r"\bhvad handler (?:artiklen|teksten)\b",
    r"\bde qué (?:trata|habla)\b",
    r"\bresum(?:e|en|ir)\b",
)
# Role nouns a question may ask about ("Hvem er eksperten?") and the words an article uses
# for the person who holds the role; retrieval looks for those words too.
ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "ekspert": ("ekspert", "analytiker", "sikkerhetsanalytiker", "professor", "forsker"),
    "eksperten": ("ekspert", "analytikeren", "sikkerhetsanalytiker", "professor", "forsker"),
    "expert": ("ekspert", "analytikeren", "sikkerhetsanalytiker", "professor", "forsker"),
    "analytikeren": ("analytikeren", "sikkerhetsanalytiker", "professor", "ekspert"),
    "sikkerhetsanalytikeren": ("analytikeren", "sikkerhetsanalytiker", "professor"),
    "analyst": ("analytikeren", "sikkerhetsanalytiker", "professor", "ekspert"),
    "forskeren": ("forsker", "professor", "analytikeren", "ekspert"),
    "researcher": ("forsker", "professor", "analytikeren", "ekspert"),
}
# A sentence that opens with one of these gives the reason for the sentence before it.
REASON_OPENERS = (
    "dette begrunner",
    "det begrunner",
    "begrunnelsen",
    "grunnen er",
    "årsaken er",
    "ikke fordi",
    "fordi",
    "det skyldes",
    "dette skyldes",
    "this is because",
    "because",
)
# A sentence that opens with one of these leans on the sentence before it for what it is
# about (only the openers that nearly always point back: "Det" and "Han" often do not).
ANAPHORIC_OPENERS = ("dette ", "disse ", "desse ", "this ", "these ")

# Words that mark a time (months, seasons, weekdays, nb and en): a sentence that holds one
# can answer a when-question.
TIME_WORDS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
    "january",
    "february",
    "march",
    "may",
    "june",
    "july",
    "october",
    "december",
    "sommer",
    "vinter",
    "høst",
    "vår",
    "mandag",
    "tirsdag",
    "onsdag",
    "torsdag",
    "fredag",
    "lørdag",
    "søndag",
)

# Question words of French, German, Spanish and Swedish by what they ask for (the question
# types of the features); none is a Norwegian word (Swedish "var", where, is Norwegian for
# "was", so it is left out).
OTHER_QUESTION_WORDS: dict[str, tuple[str, ...]] = {
    "who": ("qui", "wer", "wen", "wem", "vem", "quién", "quiénes", "quien"),
    "where": ("où", "wo", "woher", "wohin", "dónde", "donde"),
    "when": ("quand", "wann", "när", "cuándo"),
    "number": (
        "combien",
        "wie viele",
        "wie viel",
        "hur många",
        "hur mycket",
        "cuántos",
        "cuántas",
        "cuánto",
    ),
    "why": ("pourquoi", "warum", "weshalb", "wieso", "varför", "por qué"),
}

# German capitalises every noun, so a capitalised word of a German question (one that opens
# with a German question word) is taken for a name only when it follows no article,
# determiner or possessive and has no noun suffix: "Welche Länder haben ihr Veto gegen neue
# Resolutionen eingelegt?" names nothing, "Wo hat Radtschenko ..." names Radtschenko.
GERMAN_OPENERS = frozenset(
    """
    wer wen wem wo wie warum welche welcher welches welchen welchem wann worum wieso weshalb
    woher wohin womit wofür wozu
    """.split()
)
GERMAN_DETERMINERS = frozenset(
    """
    der die das den dem des ein eine einen einem einer eines kein keine keinen mein meine
    dein deine sein seine seinen seiner seines ihr ihre ihren ihrer ihres unser unsere euer
    eure welche welcher welches welchen welchem diese dieser dieses diesen jede jeder jedes
    alle neue neuen neuer neues
    """.split()
)
GERMAN_NOUN_SUFFIXES = (
    "ung",
    "ungen",
    "heit",
    "heiten",
    "keit",
    "keiten",
    "schaft",
    "schaften",
    "ion",
    "ionen",
    "tät",
    "täten",
    "ismus",
    "nis",
    "nisse",
)

# Measure words after "hvor"/"how": the question asks for an amount, not a place.
MEASURE_WORDS = (
    r"(?:mange|mye|mykje|stor\w*|lang\w*|lenge|høy\w*|gammel|gaml\w*|tung\w*|dyr\w*|"
    r"ofte|bred\w*|dyp\w*|fort|raskt|many|much|old|long|far|often|tall|big|large|"
    r"heavy|high|deep|fast)"
)

# Month names alone (nb and en), for dates in short answers.
MONTH_NAMES = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
    "january",
    "february",
    "march",
    "may",
    "june",
    "july",
    "october",
    "december",
)
# Prepositions before a place name (nb, nn, en): "i Moskva", "fra Russland", "in Moscow".
# A short answer to "where" is the name after one; to "who", a name after one is a place.
PLACE_PREPOSITIONS = (
    "i",
    "på",
    "ved",
    "fra",
    "frå",
    "til",
    "mot",
    "nær",
    "utenfor",
    "in",
    "at",
    "from",
    "near",
)
# Number words (nb) that a short answer may quote instead of digits.
NUMBER_WORDS = (
    "to",
    "tre",
    "fire",
    "fem",
    "seks",
    "sju",
    "syv",
    "åtte",
    "ni",
    "ti",
    "elleve",
    "tolv",
    "tjue",
    "hundre",
    "tusen",
)


def name_key(word: str) -> str:
    """A spelling-folded key for names, so that Radchenko ~ Radtsjenko ~ Radtschenko ~
    Radtchenko and Shoigu ~ Sjojgu."""
    w = fold(word)
    if len(w) > 4 and w.endswith("s"):
        w = w[:-1]  # the genitive: "Neils sønn" names Neil
    for a, b in (
        ("tsch", "ch"),
        ("tch", "ch"),
        ("tsj", "ch"),
        ("kj", "ch"),
        ("sj", "sh"),
        ("ck", "k"),
        ("ph", "f"),
        ("w", "v"),
        ("y", "i"),
        ("j", "i"),
        ("é", "e"),
        ("ø", "o"),
        ("å", "a"),
        ("æ", "ae"),
        ("ö", "o"),
        ("ä", "ae"),
        ("ü", "u"),
    ):
        w = w.replace(a, b)
    return w[:6]


_COGNATE_FOLD = str.maketrans(
    {
        "æ": "ae",
        "ø": "o",
        "å": "a",
        "é": "e",
        "ü": "u",
        "ö": "o",
        "ä": "a",
        "w": "v",
        "y": "i",
        "j": "i",
        "c": "k",
        "q": "k",
        "z": "s",
    }
)


def cognate_key(word: str) -> str:
    """A five-letter spelling-folded prefix of a (folded) word: "analysis" ~ "analyse",
    "regions" ~ "regionene", "Ukraine" ~ "Ukraina"."""
    return word.replace("tsj", "ch").replace("sj", "sh").translate(_COGNATE_FOLD)[:5]
