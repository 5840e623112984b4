"""Names for the emulated exchange: venues, horses, teams and players, non-ASCII on purpose.

Betfair's market definitions carry ``venue`` and runner ``name`` as free Unicode text. These lists
mix accents, a Nordic letter, Japanese and Greek script and apostrophes, so that every demo and
test run puts multi-byte UTF-8 characters on the wire, where a client that decodes per read
(instead of per line) breaks.
"""

from __future__ import annotations

__all__ = ["VENUES", "HORSES", "TEAMS", "PLAYERS", "COUNTRIES"]

#: Racecourses with their country codes (horse racing WIN markets).
VENUES = (
    ("Ascot", "GB"),
    ("Longchamp", "FR"),
    ("Düsseldorf", "DE"),
    ("Curragh", "IE"),
    ("Tōkyō", "JP"),
    ("Saint-Cloud", "FR"),
    ("Bro Park Åkersberga", "SE"),
    ("Leopardstown", "IE"),
)

HORSES = (
    "Sea Of Åland",
    "Ça Va Bien",
    "Königsberg Lad",
    "Café Olé",
    "Müller's Pride",
    "Niño Bonito",
    "東京 Express",
    "Señor Trigo",
    "Fjørd Runner",
    "Zoë's Dream",
    "Hårek",
    "Crème Brûlée",
    "Ōsaka Gold",
    "Dónal Óg",
    "Étoile Du Nord",
    "Grüne Welle",
    "Ἀθηνᾶ",
    "São Jorge",
    "Smørrebrød",
    "Kilkenny Cat",
    "Déjà Vu",
    "Noël Coward",
    "Łódź Flyer",
    "Åsgårdsreia",
)

#: Football teams (MATCH_ODDS markets: home, away, and "The Draw").
TEAMS = (
    "Atlético Madrid",
    "Bayern München",
    "Malmö FF",
    "Beşiktaş",
    "Olympiakós",
    "FC København",
    "Saint-Étienne",
    "Brøndby IF",
    "Fenerbahçe",
    "Deportivo Alavés",
    "1. FC Köln",
    "Vitória SC",
)

#: Tennis players (MATCH_ODDS markets with two runners).
PLAYERS = (
    "Novak Đoković",
    "Iga Świątek",
    "Carlos Alcaraz",
    "Holger Rune",
    "Nicolás Jarry",
    "Barbora Krejčíková",
    "Stan Wawrinka",
    "Naomi Ōsaka",
    "Gaël Monfils",
    "Jeļena Ostapenko",
)

#: Country codes for football and tennis events.
COUNTRIES = ("GB", "ES", "DE", "FR", "IT", "SE")
