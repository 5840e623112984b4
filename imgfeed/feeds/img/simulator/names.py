"""Names for the simulated feed: tours, tournaments and golfers, with some non-ASCII on purpose.

docs/protocol.md section 3: "Names may hold any Unicode." The lists mix accents, a Nordic letter, a
name in Japanese script and an apostrophe, so that a client's printing, logging and recording code
meets them in every demo and test run. Golfer names are made up from first and last names.
"""

from __future__ import annotations

__all__ = ["TOURS", "TOURNAMENTS", "FIRST_NAMES", "LAST_NAMES", "ARENA_TOUR_IDS"]

#: Tours (competitions), in the order the scenario uses them, with their arena ids.
TOURS = ("PGA Tour", "DP World Tour", "LPGA Tour", "Korn Ferry Tour", "Japan Golf Tour")
ARENA_TOUR_IDS = ("1", "2", "5", "7", "11")

TOURNAMENTS = (
    "Sawgrass Invitational",
    "Costa Navarino Open",
    "Åre Mountain Classic",
    "Kyōto Championship 京都",
    "St. Andrew's Links Trophy",
    "Real Club Valderrama Masters",
    "Pebble Point Pro-Am",
    "Ciudad de México Championship",
    "Königsee Open",
    "Torrey Bluffs Classic",
    "Wentworth Heath Championship",
    "Oasis Desert Classic",
)

FIRST_NAMES = (
    "Seamus", "Ludvig", "Joaquín", "Nicolai", "Hideki", "Rory", "Tommy", "Xander", "Sami", "Thorbjørn",
    "Min Woo", "Byeong Hun", "Adrián", "Rasmus", "Sepp", "Matthieu", "Nelly", "Ayaka", "Céline",
    "Åsa", "Brooks", "Collin", "Viktor", "Shane",
)

LAST_NAMES = (
    "Power", "Åberg", "Niemann", "Højgaard", "松山", "McIlroy", "Fleetwood", "Schauffele", "Välimäki",
    "Olesen", "Lee", "An", "Otaegui", "Neergaard-Petersen", "Straka", "Pavon", "Korda", "Furue",
    "Boutier", "Gustafsson", "O'Connell", "Morikawa", "Hovland", "Lowry", "Muñoz", "Ødegaard",
)
