"""A deterministic sample newsroom for `pressrun demo`, fixtures and benchmarks.

Why it exists: the site needs realistic volume to show off, and the "More like this" rail
(a TF-IDF scorer) only looks convincing when stories on one topic share distinctive words
while stories on different topics share only generic news language. So every topic has its
own invented people, places, organisations and nouns, and each section's templates weave
them through headline, standfirst and body. All names are invented; all text is generated.

The same (count, seed, until) always gives the same articles: one `random.Random(seed)` drives
every choice and nothing reads the clock (`pressrun demo` passes the moment it runs as
`until`, so that its newest stories are today's).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

MAX_SLUG = 80
MIN_WORDS, MAX_WORDS = 150, 450
IMAGE_SHARE = 1 / 3
HEADLINE_TRIES = 8  # redraws before a repeated headline is accepted (its slug gets a suffix)
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # March to August 2026 (184 days),
DAYS, DAY_SECONDS = 184, 16 * 3600  # published between 06:00 and 22:00 UTC.
# fmt: off
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SMALL = ("two", "three", "four", "five", "six", "seven", "eight", "nine")
AUTHORS = (
    "Aoife Rendell", "Bram Castellane", "Cleo Ward-Ashby", "Dominic Fairweather", "Esther Mbeki",
    "Fergus Lyndon", "Gwen Tallis", "Hamid Qureshi", "Isla Monteith", "Jasper Fenn",
    "Kirsty Abernethy", "Leon Sarkis", "Maud Pellinger", "Niall Ostrander", "Orla Quennell",
    "Piers Halloran", "Rosa Delacourt", "Sami Virtanen", "Tess Okonjo", "Vikram Ashworth",
)

# Per section, per topic: (tag, places, organisations, nouns, "Name, role" people), "|" lists.
# The first organisation is the topic's main actor. Nouns fit their section's templates:
# science and world nouns stand alone (plural or mass nouns); the others take "the".
TOPIC_ROWS: dict[str, tuple[tuple[str, str, str, str, str], ...]] = {
    "politics": (
        ("elections", "Ashcombe|Kerrow Vale", "Ashcombe Electoral Board|Civic Forward Party",
         "postal vote|constituency map|voter register|polling station network|spending cap",
         "Marta Velloso, the elections minister|Hollis Brant, the opposition chief whip|"
         "Ines Corrigan, a pollster at Brightmere University"),
        ("housing", "Fenmarsh|Holloway Reach", "Fenmarsh Council|Homes First Trust",
         "social housing programme|rent cap|planning reform|affordable homes target|"
         "leasehold reform",
         "Delia Farrant, the housing secretary|Owen Mackle, a tenants' union organiser|"
         "Priya Stenhouse, the leader of Fenmarsh Council"),
        ("transport", "Portbridge|Elsmoor", "Portbridge Transit Authority|Northline Rail",
         "bus franchise|rail electrification scheme|congestion charge|bypass scheme|ferry subsidy",
         "Callum Dreyer, the transport minister|Nadia Quell, the mayor of Portbridge|"
         "Tobias Wren, a commuter campaigner"),
        ("education", "Cresswell|Upper Hadley", "Cresswell Academy Trust|Teachers' Guild",
         "school funding formula|teacher pay award|free school meals scheme|exam reform|"
         "nursery places scheme",
         "Imogen Carver, the education secretary|Bartholomew Osei, the head of the Teachers' "
         "Guild|Lena Pruitt, a headteacher in Cresswell"),
        ("policing", "Redmarsh|Stanwick", "Redmarsh Constabulary|Safer Streets Commission",
         "neighbourhood policing model|knife crime strategy|police budget|custody suite|"
         "stop-and-search policy",
         "Grant Hollins, the policing minister|Yasmin Okafor, the chief constable of Redmarsh|"
         "Felix Trask, a police commissioner"),
        ("budget", "Hartsmere|Westgate", "Treasury Select Panel|Lowther Institute",
         "fuel duty freeze|income tax threshold|spending review|public sector pay deal|"
         "borrowing rule",
         "Ambrose Kettering, the chancellor|Sunita Vale, the shadow chancellor|"
         "Rupert Gaines, the chief economist at the Lowther Institute"),
    ),
    "business": (
        ("retail", "Milbrook|Saltmead Quay", "Brambles Stores|Pennyworth Markets",
         "own-brand range|online business|store closure programme|loyalty scheme|"
         "high street estate",
         "Harriet Lowe, the chief executive of Brambles Stores|Dev Malhotra, a retail analyst|"
         "Sian Pettigrew, the head of the Milbrook Traders' Association"),
        ("banking", "Coldharbour Row|Eastwick", "Keystone Bank|Arden Capital",
         "mortgage book|savings business|branch network|fraud refund scheme|banking app",
         "Conrad Ashdown, the chief executive of Keystone Bank|Maeve Lindqvist, an economist "
         "at Arden Capital|Ravi Sutcliffe, a consumer finance campaigner"),
        ("energy", "Greyhaven|Tarnmouth", "Velcor Energy|Helio Partners",
         "offshore wind farm|price cap|grid connection|tidal barrage|battery storage site",
         "Odette Vance, the chief executive of Velcor Energy|Simon Achterberg, a regulator|"
         "Kasia Brennan, an analyst at Helio Partners"),
        ("aviation", "Brindle|Oakhurst Field", "Skylark Air|Brindle Airport",
         "runway expansion|long-haul network|fares policy|cabin crew base|sustainable fuel plant",
         "Marcus Threlfall, the chief executive of Skylark Air|Anika Dorsey, the director of "
         "Brindle Airport|Paolo Reyes, an aviation consultant"),
        ("manufacturing", "Corran Valley|Slatehurst", "Corran Motors|Slatehurst Steel",
         "car plant|steelworks|supply chain|order book|electric van line",
         "Gordon Pellow, the managing director of Corran Motors|Ffion Maddox, a union organiser|"
         "Theo Blackwood, an industrial economist"),
        ("agriculture", "Dunholm|Aldermoor Downs", "Dunholm Dairies|Growers' Federation",
         "milk price|grain harvest|fertiliser bill|land subsidy|dairy herd",
         "Bryony Caddick, the president of the Growers' Federation|Ewan Muir, a dairy farmer|"
         "Lucia Fenwick, an agricultural economist"),
    ),
    "technology": (
        ("artificial-intelligence", "Kelvingate|Northcote Park", "Nuvora|Cobalt Mind Labs",
         "language model|chatbot|AI safety code|data centre|hiring algorithm",
         "Ingrid Solberg, the chief executive of Nuvora|Kwame Asante, an AI ethics researcher|"
         "Beatrix Lomax, the digital minister"),
        ("cybersecurity", "Harwick|Stonebury", "Ledgerly|Bastion Labs",
         "ransomware defence|data protection system|security patch|two-factor login|breach tracker",
         "Carys Whitlock, the technology chief at Ledgerly|Yuki Tanabe, a security researcher at "
         "Bastion Labs|Declan Morrow, the head of the Cyber Resilience Unit"),
        ("smartphones", "Marlow Point|Tennant Cross", "Pinewave|Quillfield Research",
         "folding phone|budget handset|camera module|repair scheme|battery design",
         "Lars Okonkwo, the design chief at Pinewave|Talia Brandt, a gadget reviewer|"
         "Hector Ramos, an analyst at Quillfield Research"),
        ("social-media", "Elmstead|Brackenfield", "Chatterbox|Online Safety Office",
         "moderation policy|age check system|video feed|creator fund|misinformation policy",
         "Zara Hollingsworth, the policy chief at Chatterbox|Omar Fairclough, the online safety "
         "commissioner|Esme Rudd, a parents' campaigner"),
        ("broadband", "Glenrowan|Cappagh Hills", "Fibrelink|Glenrowan Connect",
         "full-fibre network|mobile mast|rural broadband scheme|5G network|satellite service",
         "Alistair Penrose, the chief executive of Fibrelink|Morag Baillie, a councillor in "
         "Glenrowan|Jin Park, a telecoms analyst"),
        ("semiconductors", "Tessford|Calder Basin", "Siltrex|Arclight Semiconductor",
         "chip factory|wafer plant|processor design|memory chip|packaging line",
         "Renata Kowal, the chief scientist at Siltrex|Victor Amsel, the chairman of Siltrex|"
         "Hana Mori, a supply chain analyst"),
    ),
    "science": (
        ("climate-change", "Brightmere|Saltfleet Marshes",
         "Brightmere Climate Centre|Green Horizon",
         "carbon emissions|heatwaves|rising sea levels|peatland restoration|glacier melt",
         "Helena Strand, a climate scientist at Brightmere University|Jonah Eckersley, the net "
         "zero adviser|Amara Diallo, a campaigner with Green Horizon"),
        ("space", "Highcliff|Carrickmoor Spaceport", "Aurora Space Agency|Orbitron",
         "lunar landers|satellite launches|Mars samples|space telescopes|rocket engines",
         "Felicity Okoro, a mission director at the Aurora Space Agency|Nils Garrick, the chief "
         "engineer at Orbitron|Selina Marsh, an astronomer at Highcliff Observatory"),
        ("medicine", "Wexcombe|Lyndhurst Vale", "Wexcombe Hospital|Helix Therapeutics",
         "cancer drugs|clinical trials|vaccine uptake|blood tests|dementia treatments",
         "Anil Chaudry, the lead investigator at Wexcombe Hospital|Maria Lindholm, an oncologist|"
         "Patrick Fennel, the chair of the Patients' Alliance"),
        ("genetics", "Calloway|Ferncastle", "Calloway Institute|Genomix",
         "gene therapy|genome sequencing|DNA analysis|gene-edited crops|rare disease screening",
         "Tamsin Ellery, a geneticist at the Calloway Institute|Bao Nguyen, the chief executive "
         "of Genomix|Ruth Abernathy, a bioethicist"),
        ("oceans", "Petrel Bay|Skerrin Islands", "Bluewater Trust|Marine Survey Institute",
         "coral reefs|deep-sea surveys|plastic pollution|fish stocks|marine heatwaves",
         "Ola Haugen, a marine biologist|Imelda Cruz, the captain of the research ship Petrel|"
         "Samir Khoury, the director of the Bluewater Trust"),
        ("archaeology", "Tenbury Moor|Caldwick", "Tenbury College|Caldwick Heritage Trust",
         "Roman villas|burial mounds|coin hoards|Bronze Age settlements|medieval pottery",
         "Winifred Pask, the leader of the Tenbury dig|Rhys Vaughan, an archaeologist at Tenbury "
         "College|Colin Ashby, a metal detectorist"),
    ),
    "sport": (
        ("football", "Ashvale|Fenport", "Ashvale Rovers|Fenport United",
         "league title race|cup final|derby|top-four race|promotion race",
         "Danny Mercer, the manager|Kieran Obi, the striker|Luis Almeida, the captain"),
        ("cricket", "Westshire|Downcastle", "Westshire Hawks|Downcastle Knights",
         "county championship|one-day cup|test series|twenty-over final|winter tour",
         "Ravi Menon, the captain|Tom Beckwith, the fast bowler|Gareth Lyle, the head coach"),
        ("rugby", "Carrow|Brackwater", "Carrow Wolves|Brackwater Bears",
         "league play-offs|cup semi-final|six-club shield|autumn series|relegation battle",
         "Owain Pritchard, the head coach|Sione Taufa, the flanker|Matt Dunleavy, the fly-half"),
        ("tennis", "Linden|Astbury", "Linden Lawn Club|Astbury Racquets",
         "grass-court season|quarter-finals|ranking race|doubles final|summer swing",
         "Elena Varga, the world number four|Jonas Holt, the defending champion|"
         "Mirela Stan, the coach"),
        ("athletics", "Redwood|Caulfield", "Redwood Harriers|Caulfield Athletic",
         "sprint final|city marathon|relay championships|indoor season|national trials",
         "Abigail Nwosu, the 400m champion|Kristof Lenz, the marathon runner|"
         "Pat Quigley, the sprints coach"),
        ("cycling", "Col du Ravel|Wendmoor", "Team Velora|Ridgeway Cycling",
         "time trial|mountain stage|spring classics|national championships|grand tour",
         "Matteo Bruni, the team leader|Sophie Kerr, the sprinter|Anders Vik, the sports director"),
    ),
    "culture": (
        ("film", "Larkhaven|Marisco Bay", "Lanternlight Pictures|Larkhaven Film Festival",
         "festival film|costume drama|sequel|documentary|thriller",
         "Annika Rowe, the director|Felix Adeyemi, the lead actor|"
         "Cordelia Blum, the festival director"),
        ("music", "Cassell Park|Brightwater", "Halcyon Records|The Lanterns",
         "world tour|debut album|headline set|vinyl reissue|comeback single",
         "Juno Blake, the singer|Rafael Moss, the producer|Odile Frane, a music critic"),
        ("theatre", "Gantry Lane|Merriton", "Gantry Theatre|Merriton Players",
         "revival|new musical|touring production|one-woman show|comedy",
         "Beatrice Olawale, the artistic director of the Gantry Theatre|"
         "Hugo Penhaligon, the lead actor|Ciaran Tully, a theatre critic"),
        ("books", "Ashgrove|Little Tarrant", "Kestrel Books|Ashgrove Prize",
         "debut novel|memoir|crime novel|short story collection|poetry anthology",
         "Nell Thackray, the novelist|Ibrahim Sefa, the chair of the Ashgrove Prize judges|"
         "Philippa Dunn, a bookseller in Ashgrove"),
        ("art", "Hollin|Stourbank", "Hollin Gallery|Stourbank Arts Council",
         "exhibition|portrait series|sculpture commission|retrospective|landscape series",
         "Mira Castellano, the painter|Desmond Ayre, the director of the Hollin Gallery|"
         "Grace Lyall, a curator"),
        ("television", "Coldwater|Pennick Bay", "Beacon TV|Northstar Studios",
         "drama series|crime drama|talent show|period drama|reboot",
         "Tilly Marsden, the showrunner|Ash Varley, the lead actor|"
         "Kenneth Boyle, the channel controller at Beacon TV"),
    ),
    "world": (
        ("diplomacy", "Kesland|Marovia", "Northern Compact|Kesland Foreign Ministry",
         "sanctions relief|embassy reopenings|water-sharing rights|visa waivers|border demarcation",
         "Alma Rusk, the president of Kesland|Teodor Vasku, the foreign minister of Marovia|"
         "Ilse Brun, the Northern Compact envoy"),
        ("trade", "Tarsen|Pelagos", "Tarsen Trade Office|Southern Ports Union",
         "grain tariffs|export quotas|customs checks|port fees|steel duties",
         "Henrik Dalby, the trade minister of Tarsen|Lucia Moreno, the chief negotiator for "
         "Pelagos|Femi Adebayo, a trade economist"),
        ("migration", "Lusenia|Port Arvell", "Safe Passage Agency|Lusenian Interior Ministry",
         "asylum claims|border crossings|visa quotas|reception centres|resettlement places",
         "Katrin Holm, the interior minister of Lusenia|Youssef Amrani, a refugee charity "
         "director|Dana Petrovic, an official at the Safe Passage Agency"),
        ("humanitarian-aid", "Kavari|Mirun", "Open Hands Relief|Kavari Relief Council",
         "aid convoys|food supplies|field hospitals|clean water|relief funding",
         "Nadia Farouk, the coordinator for Open Hands Relief|Gabriel Soto, a doctor in Mirun|"
         "Aisha Kamara, an aid official in Kavari"),
        ("peace-talks", "Dravonia|Veloria", "Veloria Mediation Group|Dravonian Defence Council",
         "ceasefire terms|prisoner exchanges|buffer zones|ceasefire monitoring|troop withdrawals",
         "Elias Varn, the chief mediator|Oksana Rem, a Dravonian general|"
         "Tomas Ilic, a spokesman for the Velorian government"),
        ("natural-disasters", "Santa Oriel|Quarro", "Quarro Disaster Agency|Santa Oriel Council",
         "flood defences|earthquake relief|wildfire evacuations|reconstruction funding|"
         "early warning systems",
         "Paula Serrat, the mayor of Santa Oriel|Kenji Arai, a seismologist|"
         "Rohan Das, the head of the Quarro disaster agency"),
    ),
}
# fmt: on


class Topic(NamedTuple):
    tag: str
    section: str
    places: tuple[str, ...]
    orgs: tuple[str, ...]
    nouns: tuple[str, ...]
    people: tuple[tuple[str, str], ...]  # (name, role)


class Style(NamedTuple):
    """How one section writes: (headline, standfirst) pairs, body sentences, image alt text."""

    pairs: tuple[tuple[str, str], ...]
    sentences: tuple[str, ...]
    alt: str


def _topic(section: str, row: tuple[str, str, str, str, str]) -> Topic:
    tag, places, orgs, nouns, people = row
    named = tuple(_person(person) for person in people.split("|"))
    return Topic(tag, section, _split(places), _split(orgs), _split(nouns), named)


def _split(field: str) -> tuple[str, ...]:
    return tuple(field.split("|"))


def _person(text: str) -> tuple[str, str]:
    name, role = text.split(", ", 1)
    return name, role


TOPICS = tuple(_topic(section, row) for section, rows in TOPIC_ROWS.items() for row in rows)
SECTIONS = tuple(TOPIC_ROWS)

# Templates: {person}/{person2} with {role}/{role2}, {surname} (of person), {org}/{org2},
# {place}/{place2}, {noun}/{noun2}/{noun3}, {month}; numbers and days come from NUMBERS.
# fmt: off
STYLES: dict[str, Style] = {
    "politics": Style((
        ("{org} approves {money} {noun} plan for {place}", "The decision follows months of "
         "argument over the {noun2}, and ministers say the first changes could come by {month}."),
        ("{surname} faces backlash over {noun} in {place}", "{person}, {role}, insists the "
         "{noun} is fair, but critics in {place2} say it was rushed through."),
        ("Ministers order review of {noun} after {place} row", "The review will also examine "
         "the {noun2}, with findings due before the end of {month}."),
        ("{surname} calls for inquiry into {noun} delays", "{person}, {role}, says families in "
         "{place} have waited too long for the {noun} to be fixed."),
    ), (
        "The {noun} has become one of the most contested issues in {place} this year.",
        "{org} said {money} had been set aside for the {noun}, to be released in stages.",
        "Opposition members argued that the {noun2} had been neglected for more than a decade.",
        "A public consultation on the {noun} and the {noun3} will remain open until {month}.",
        "Councillors in {place2} backed the proposals by {small} votes after a lengthy debate.",
        '"We have listened to people in {place}, and we will not let the {noun} slip again," '
        "said {person}, {role}.",
        "{person2}, {role2}, said the plan left too many questions about the {noun2} unanswered.",
        "Figures seen by this newspaper suggest the {noun3} could cost {money} over five years.",
        "Councillors in {place} say the {noun} has come up at almost every public meeting.",
        "Officials at {org} have been asked to publish full spending figures for the {noun2}.",
    ), "Campaigners outside the offices of {org} in {place}"),
    "business": Style((
        ("{org} shares jump {pct} after {noun} update", "Investors welcomed signs that the "
         "{noun} is recovering, though analysts warn the {noun2} remains under pressure."),
        ("{org} to cut {num} jobs in {noun} shake-up", "The company says changes to the {noun} "
         "will save {money} a year, but unions in {place} have promised to fight them."),
        ("{org} profits fall {pct} amid pressure on its {noun}", "{person}, {role}, said the "
         "{noun} would take time to fix and promised a fuller update in {month}."),
        ("{surname} warns {org} {noun} faces difficult year", "{person}, {role}, says rising "
         "costs in {place} will test the {noun} until at least {month}."),
    ), (
        "Shares in {org} closed {pct} higher after the latest update on the {noun}.",
        "{org} said the {noun} had performed better than expected over the past three months.",
        "Analysts had warned that the {noun2} could weigh on earnings well into {month}.",
        "The company employs about {num} people, many of them in {place} and {place2}.",
        '"The {noun} is the heart of this business, and we are investing to protect it," said '
        "{person}, {role}.",
        "{person2}, {role2}, said investors wanted a clearer plan for the {noun3}.",
        "{org2}, which has its own interests in {place2}, declined to comment on the figures.",
        "The update follows a difficult year in which the {noun3} cost the group about {money}.",
        "{org} expects the {noun2} to recover next year, helped by lower costs in {place2}.",
        "Trading in {org} shares was heavy, with about {num} deals struck in the first hour.",
    ), "The {org} head office in {place}"),
    "technology": Style((
        ("{org} unveils new {noun} as rivals race to catch up", "The launch is being watched "
         "closely by {org2}, and {person}, {role}, says an updated {noun2} will follow."),
        ("{org} fined {money} over {noun} failings", "Regulators found the {noun} had left "
         "customers exposed for {small} months, a finding {org} says it will study carefully."),
        ("{surname} says new {noun} will change daily life in {place}", "{person}, {role}, "
         "believes the {noun} could reach {num} homes and businesses within a year."),
        ("{org} delays {noun} after problems in {place} trial", "Engineers found faults with "
         "the {noun2} during testing, pushing the launch of the {noun} back to {month}."),
    ), (
        "The {noun} has been tested by engineers in {place} for several months.",
        "{org} says the {noun} will reach customers before the end of {month}.",
        "Rival firms are understood to be working on a similar {noun2}, and {org2} is watching.",
        "Privacy campaigners have asked how the {noun} handles personal data and who can see it.",
        "Early testers in {place2} reported problems with the {noun3}, which have been fixed.",
        "The company has hired about {num} engineers to work on the {noun} and related products.",
        '"People should not have to think about the {noun}; it should simply work," said '
        "{person}, {role}.",
        "{person2}, {role2}, cautioned that the {noun2} was still unproven at scale.",
        "Engineers at {org} say the {noun} was rebuilt after feedback from users in {place2}.",
        "Industry figures suggest about {num} businesses already rely on the {noun3} in some form.",
    ), "An engineer demonstrates the {noun} at {org}"),
    "science": Style((
        ("{org} study sheds new light on {noun}", "Researchers led by {person}, {role}, say the "
         "work could change how scientists approach {noun2}."),
        ("{place} team reports breakthrough on {noun}", "The findings, based on {num} samples, "
         "have already prompted {org2} to revisit its own work on {noun2}."),
        ("{money} funding boost for research into {noun}", "The money, awarded to {org}, will "
         "support work in {place} and {place2} until {year}."),
        ("{surname} warns of gaps in what we know about {noun}", "{person}, {role}, says better "
         "data from {place} is needed before firm conclusions can be drawn."),
    ), (
        "The study of {noun} was published this week in the journal Frontier Reports.",
        "Researchers at {org} spent {small} years studying {noun} in {place} and beyond.",
        "The team compared {noun} with {noun2} across {num} samples collected since {past}.",
        "{org2} said the findings on {noun2} were promising but needed to be replicated.",
        "Data gathered in {place2} has put {noun3} firmly on the research agenda.",
        '"We were surprised by how much {noun} could tell us," said {person}, {role}.',
        "{person2}, {role2}, said the next step would be a larger study of {noun3}.",
        "Funding of {money} will allow the work on {noun} to continue until {year}.",
        "Independent experts called the work on {noun2} careful, though the sample was small.",
        "The project brought together scientists from {org} and {org2} and volunteers in {place}.",
    ), "Researchers from {org} at work in {place}"),
    "sport": Style((
        ("{org} edge {org2} in {place} thriller", "{surname} starred as {org} held on, giving "
         "them fresh momentum ahead of the {noun}."),
        ("{surname} inspires {org} to comeback win in {place}", "{person}, {role}, called it the "
         "best performance of the season, with the {noun} now firmly in view."),
        ("{org} sweat on {surname} fitness before the {noun}", "{person2}, {role2}, says a "
         "decision will be made on {day} after a final assessment."),
        ("{surname} signs new {org} contract", "The deal keeps {person}, {role}, in {place} "
         "until {year}, ahead of the {noun}."),
    ), (
        "{org} had not won in {place} since {past}, and the relief at the end was obvious.",
        "{surname} was the standout performer as {org} took control in the closing stages.",
        "{org2} pushed hard late on but could not find a way back in front of a crowd of {num}.",
        "Attention now turns to the {noun2}, where {org2} will be waiting.",
        "{person2}, {role2}, has been passed fit for the {noun3} after a week of treatment.",
        '"We showed real character, and now we have to carry that into the {noun}," said '
        "{person}, {role}.",
        "The result lifts {org} into the top {small} with the {noun} still to come.",
        "Coaches at {org} have rotated the squad in recent weeks, a gamble that is paying off.",
        "{surname} has now been involved in {small} decisive moments for {org} this season.",
        "Supporters who travelled from {place2} were left to reflect on a missed chance.",
    ), "{org} supporters in {place}"),
    "culture": Style((
        ("{surname}'s new {noun} divides critics", "The {noun}, which reaches {place} in "
         "{month}, has been called bold by some and baffling by others."),
        ("{org} reports record demand for its {noun}", "About {num} people have already booked "
         "or ordered, and {person}, {role}, says the response has beaten every forecast."),
        ("First look: {org} brings its {noun} to {place}", "{person2}, {role2}, says the {noun} "
         "was shaped by the people and landscapes of {place2}."),
        ("{surname} on the pressure behind the {noun}", "In a rare interview, {person}, {role}, "
         "talks about doubt, deadlines and the {noun2}."),
    ), (
        "The {noun} reaches {place} in {month}, with further dates planned for {place2}.",
        "Critics have praised the {noun}, though several found its second half uneven.",
        "{org} said early demand for the {noun} had exceeded its expectations.",
        "{person}, {role}, spent {small} years on the {noun2} before showing it to anyone.",
        "The {noun3} has already drawn comparisons with earlier work championed by {org2}.",
        '"I wanted the {noun} to feel honest, even when that was uncomfortable," said '
        "{person}, {role}.",
        "{person2}, {role2}, called the {noun} one of the most ambitious projects of the year.",
        "Tickets and early copies have been changing hands for well above their original price.",
        "The {noun} was largely made in {place2}, where {org} has worked for more than a decade.",
        "Early audiences in {place} have responded warmly to the {noun}, according to {org}.",
    ), "{surname} photographed in {place}"),
    "world": Style((
        ("{place} and {place2} reach deal on {noun}", "The agreement, brokered by {org}, also "
         "commits both sides to further talks on {noun2}."),
        ("{surname} urges swift action on {noun} as pressure mounts", "{person}, {role}, says "
         "delays over {noun} are already being felt in {place}."),
        ("Talks in {place} stall over {noun}", "Officials blamed disagreements over {noun2}, "
         "and {org} says a new round could begin on {day}."),
        ("{money} package agreed for {noun} in {place}", "{org} says the money will be spent "
         "over {small} years, with {noun2} among the first priorities."),
    ), (
        "Negotiators from {place} and {place2} met for {small} hours on {day} outside the capital.",
        "The dispute over {noun} has strained relations across the region for years.",
        "{org} said progress on {noun2} depended on both sides keeping their word.",
        "Regional officials said {noun3} would top the agenda when ministers meet in {month}.",
        "{person}, {role}, described the discussions on {noun} as difficult but necessary.",
        "Some {num} people in {place2} are directly affected, according to figures from {org2}.",
        '"Nobody should underestimate how much is at stake over {noun}," said {person}, {role}.',
        "{person2}, {role2}, warned that any deal would mean little without independent checks.",
        "Diplomats in {place2} said the mood had improved but warned against quick results.",
        "{org} has sent {small} teams to {place2} to assess the situation on the ground.",
    ), "Residents gather in the centre of {place}"),
}
GENERIC_SENTENCES = (
    "The announcement was made in {place} on {day} morning.",
    "{org} is expected to publish further details later this month.",
    "Officials in {place2} said they would study the details carefully before responding.",
    "The timetable remains uncertain, and several important questions are still unanswered.",
    "It is not the first time {org} has found itself at the centre of attention.",
    "A further update is expected before the end of {month}.",
    "Reaction in {place} has been mixed, with some welcoming the news and others more cautious.",
    "Observers say the coming weeks will show whether the optimism is justified.",
    "{person2} said there was still a great deal of work to do.",
    "The story has been widely discussed on local radio and social media in {place2}.",
    "{org} did not respond to a request for further comment on {day}.",
    "Those close to the discussions say the mood has changed noticeably in recent days.",
)
# Drawn afresh wherever a template uses them, so two figures in one story differ.
NUMBERS: dict[str, Callable[[random.Random], str]] = {
    "money": lambda r: (f"£{r.randint(12, 49) / 10:.1f}bn" if r.random() < 0.2
                        else f"£{r.randrange(5, 400, 5)}m"),
    "pct": lambda r: f"{r.randint(2, 19)}%",
    "num": lambda r: f"{r.randrange(300, 9900, 50):,}",
    "small": lambda r: r.choice(SMALL),
    "year": lambda r: str(r.randint(2027, 2031)),
    "past": lambda r: str(r.randint(2009, 2023)),
    "day": lambda r: r.choice(WEEKDAYS),
}
# fmt: on


class _Slots(dict[str, str]):
    """One story's names and nouns; a missing key is a number (see NUMBERS), drawn on use."""

    def __init__(self, rng: random.Random, values: dict[str, str]) -> None:
        super().__init__(values)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return NUMBERS[key](self.rng)


def generate_articles(
    count: int = 300, seed: int = 2024, until: datetime | None = None
) -> list[dict[str, object]]:
    """`count` sample articles, oldest first; the same (count, seed, until) gives identical
    output. Dated over DAYS days: March to August 2026, or the days up to `until` (the
    newest story a moment before it)."""
    if count < 0:
        raise ValueError("count must not be negative")
    first, moments = _window(until)
    rng = random.Random(seed)
    offsets = sorted(rng.sample(range(moments), count))  # distinct moments
    used: set[str] = set()
    return [_article(rng, _moment(first, offset), used) for offset in offsets]


def _window(until: datetime | None) -> tuple[datetime, int]:
    """The first publishing day's 06:00 and how many publishing seconds the window has: DAYS
    whole days from START, or DAYS days whose last is `until`'s, cut at `until`."""
    if until is None:
        return START, DAYS * DAY_SECONDS
    until = until.astimezone(UTC)
    last_day = until.replace(hour=START.hour, minute=0, second=0, microsecond=0)
    today = min(max(int((until - last_day).total_seconds()), 0), DAY_SECONDS)
    return last_day - timedelta(days=DAYS - 1), (DAYS - 1) * DAY_SECONDS + today


def _moment(first: datetime, offset: int) -> datetime:
    days, seconds = divmod(offset, DAY_SECONDS)
    return first + timedelta(days=days, seconds=seconds)


def _article(rng: random.Random, moment: datetime, used: set[str]) -> dict[str, object]:
    topic = rng.choice(TOPICS)
    style = STYLES[topic.section]
    for _ in range(HEADLINE_TRIES):
        slots = _slots(rng, topic, moment)
        headline, standfirst = rng.choice(style.pairs)
        title = _capitalise(headline.format_map(slots))
        if _slugify(title) not in used:
            break
    slug = _unique_slug(_slugify(title), used)
    article: dict[str, object] = {
        "slug": slug,
        "title": title,
        "standfirst": _capitalise(standfirst.format_map(slots)),
        "body": _body(rng, style, slots),
        "section": topic.section,
        "tags": _tags(rng, topic, slots),
        "authors": _authors(rng, topic.section),
        "published_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rng.random() < IMAGE_SHARE:
        alt = _capitalise(style.alt.format_map(slots))
        # Pictures the project ships (templates/static/demo/): a demo must not point at
        # hosts that do not exist.
        article["image"] = {"url": f"/static/demo/{topic.section}.svg", "alt": alt}
    return article


def _slots(rng: random.Random, topic: Topic, moment: datetime) -> _Slots:
    (name, role), (name2, role2) = rng.sample(topic.people, 2)
    noun, noun2, noun3 = rng.sample(topic.nouns, 3)
    place, place2 = rng.sample(topic.places, 2)
    # The main organisation leads, except in sport, where either team can win.
    org, org2 = rng.sample(topic.orgs, 2) if topic.section == "sport" else topic.orgs[:2]
    month = MONTHS[(moment.month - 1 + rng.randint(0, 3)) % 12]
    values = {"person": name, "role": role, "surname": name.split()[-1], "person2": name2,
              "role2": role2, "noun": noun, "noun2": noun2, "noun3": noun3, "place": place,
              "place2": place2, "org": org, "org2": org2, "month": month}  # fmt: skip
    return _Slots(rng, values)


def _body(rng: random.Random, style: Style, slots: _Slots) -> str:
    """4-8 paragraphs of distinct sentences (MIN_WORDS to MAX_WORDS), mostly the section's.

    Every section's ten sentences plus three generic ones come to more than MIN_WORDS.
    """
    lede, *rest = rng.sample(style.sentences, len(style.sentences))
    rest += rng.sample(GENERIC_SENTENCES, rng.randint(3, 6))
    rng.shuffle(rest)
    text = "\n".join(_capitalise(template.format_map(slots)) for template in [lede, *rest])
    for person, role in ((slots["person"], slots["role"]), (slots["person2"], slots["role2"])):
        text = _introduce_once(text, person, role)
    pool = text.split("\n")
    wanted = len(pool) - rng.randint(0, 3)
    while wanted < len(pool) and _words(pool[:wanted]) < MIN_WORDS:
        wanted += 1
    while _words(pool[:wanted]) > MAX_WORDS:
        wanted -= 1
    paragraphs = rng.randint(4, min(8, wanted // 2))
    sizes = [wanted // paragraphs + (i < wanted % paragraphs) for i in range(paragraphs)]
    rng.shuffle(sizes)
    parts: list[str] = []
    for size in sizes:
        parts.append(" ".join(pool[:size]))
        pool = pool[size:]
    return "\n\n".join(parts)


def _introduce_once(text: str, name: str, role: str) -> str:
    """Name and role at first mention; the surname alone after that, as papers do."""
    head, found, tail = text.partition(f"{name}, {role}")
    surname = name.split()[-1]
    tail = tail.replace(f"{name}, {role},", surname).replace(f"{name}, {role}", surname)
    tail = tail.replace(name, surname)
    return head + found + tail


def _words(sentences: list[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def _tags(rng: random.Random, topic: Topic, slots: _Slots) -> list[str]:
    """The topic's tag, then perhaps what the story is about within it: its place and its
    main organisation, as a newsroom tags them. Never another topic's tag: a story about
    rugby is not tagged tennis."""
    about = [_slugify(slots["place"]), _slugify(slots["org"])]
    return [topic.tag, *about[: rng.choice((0, 0, 0, 1, 1, 2))]]


def _authors(rng: random.Random, section: str) -> list[str]:
    """Each section has a desk of five writers; neighbouring desks share a little."""
    first = SECTIONS.index(section) * 3
    desk = [AUTHORS[(first + i) % len(AUTHORS)] for i in range(5)]
    return rng.sample(desk, 2 if rng.random() < 0.3 else 1)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower().replace("'", ""))
    return _trim("-".join(words) or "story", MAX_SLUG)


def _unique_slug(base: str, used: set[str]) -> str:
    slug, number = base, 1
    while slug in used:
        number += 1
        slug = f"{_trim(base, MAX_SLUG - len(str(number)) - 1)}-{number}"
    used.add(slug)
    return slug


def _trim(slug: str, limit: int) -> str:
    """Cut a slug to at most `limit` characters, on a word boundary where there is one."""
    if len(slug) <= limit:
        return slug
    head = slug[: limit + 1]
    return head.rsplit("-", 1)[0] if "-" in head else slug[:limit]
