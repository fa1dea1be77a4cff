"""The embedded knowledge base: a seeded fictional world, passages written from it, multi-hop questions.

People are born in cities and work for companies; companies are founded by people and have their
headquarters in cities; cities lie in countries; countries have capitals. Each entity gets one
passage stating its own facts only, so a k-hop question needs k passages and, usually, k searches.
Names are invented from syllables, so no model can answer from memory.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from rlagent.config.schema import SyntheticKBConfig
from rlagent.errors import UserError
from rlagent.tasks.base import Example
from rlagent.tasks.search.records import Passage

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "br", "dr", "kr", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ae", "io", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "m", "nd", "rk"]
_CITY_SUFFIXES = ["ford", "holm", "mere", "gard", "wick", "vale", "port", "burg"]
_COUNTRY_SUFFIXES = ["ia", "land", "mark", "ora", "istan", "eth"]
_COMPANY_SUFFIXES = ["Works", "Labs", "Industries", "Group", "Systems", "Foundry", "Trading"]
_PROFESSIONS = ["engineer", "painter", "chemist", "architect", "composer", "economist", "surgeon", "novelist"]
_INDUSTRIES = ["shipping", "software", "textile", "mining", "publishing", "biotech", "aviation", "farming"]


@dataclass
class World:
    """Entities and their relations."""

    countries: list[str] = field(default_factory=list)
    capital: dict[str, str] = field(default_factory=dict)
    cities: list[str] = field(default_factory=list)
    city_country: dict[str, str] = field(default_factory=dict)
    city_founded: dict[str, int] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)
    born_in: dict[str, str] = field(default_factory=dict)
    birth_year: dict[str, int] = field(default_factory=dict)
    profession: dict[str, str] = field(default_factory=dict)
    works_for: dict[str, str] = field(default_factory=dict)
    companies: list[str] = field(default_factory=list)
    founder: dict[str, str] = field(default_factory=dict)
    headquarters: dict[str, str] = field(default_factory=dict)
    industry: dict[str, str] = field(default_factory=dict)
    company_founded: dict[str, int] = field(default_factory=dict)


class _Names:
    def __init__(self, rng: random.Random):
        self.rng, self.used = rng, set()

    def word(self, syllables: int, suffix: str = "") -> str:
        for _ in range(1000):
            parts = [
                self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) + self.rng.choice(_CODAS) for _ in range(syllables)
            ]
            word = ("".join(parts) + suffix).capitalize()
            if word not in self.used and len(word) >= 4:
                self.used.add(word)
                return word
        raise RuntimeError("name space exhausted")


def build_world(cfg: SyntheticKBConfig) -> World:
    if min(cfg.num_people, cfg.num_cities, cfg.num_countries, cfg.num_companies) < 2:
        raise UserError("task.synthetic needs at least 2 people, cities, countries and companies")
    rng = random.Random(cfg.seed)
    names = _Names(rng)
    w = World()
    w.countries = [names.word(2, rng.choice(_COUNTRY_SUFFIXES)) for _ in range(cfg.num_countries)]
    w.cities = [names.word(1, rng.choice(_CITY_SUFFIXES)) for _ in range(cfg.num_cities)]
    for i, city in enumerate(w.cities):  # every country gets at least one city
        w.city_country[city] = w.countries[i] if i < len(w.countries) else rng.choice(w.countries)
        w.city_founded[city] = rng.randint(1100, 1900)
    for country in w.countries:
        w.capital[country] = rng.choice([c for c in w.cities if w.city_country[c] == country])
    w.people = [f"{names.word(2)} {names.word(2)}" for _ in range(cfg.num_people)]
    w.companies = [f"{names.word(2)} {rng.choice(_COMPANY_SUFFIXES)}" for _ in range(cfg.num_companies)]
    for person in w.people:
        w.born_in[person] = rng.choice(w.cities)
        w.birth_year[person] = rng.randint(1930, 1995)
        w.profession[person] = rng.choice(_PROFESSIONS)
        w.works_for[person] = rng.choice(w.companies)
    for company in w.companies:
        w.founder[company] = rng.choice(w.people)
        w.headquarters[company] = rng.choice(w.cities)
        w.industry[company] = rng.choice(_INDUSTRIES)
        w.company_founded[company] = rng.randint(1950, 2020)
    return w


def passage_id(entity: str) -> str:
    return "kb-" + entity.lower().replace(" ", "-")


def write_passages(w: World) -> list[Passage]:
    passages = []
    for p in w.people:
        text = (
            f"{p} is a {w.profession[p]} who was born in {w.born_in[p]} in {w.birth_year[p]}. "
            f"{p.split()[0]} works for {w.works_for[p]}."
        )
        passages.append(Passage(passage_id(p), p, text))
    for c in w.companies:
        text = (
            f"{c} is a {w.industry[c]} company founded by {w.founder[c]} in {w.company_founded[c]}. "
            f"Its headquarters are in {w.headquarters[c]}."
        )
        passages.append(Passage(passage_id(c), c, text))
    for city in w.cities:
        text = f"{city} is a city in {w.city_country[city]}, founded in {w.city_founded[city]}."
        passages.append(Passage(passage_id(city), city, text))
    for country in w.countries:
        text = f"{country} is a country whose capital city is {w.capital[country]}."
        passages.append(Passage(passage_id(country), country, text))
    return passages


# A question template: hops as (relation, sub-question pattern); the chain starts at an entity of `kind`.
_RELATIONS = {
    "born_in": ("born_in", "In which city was {x} born?"),
    "works_for": ("works_for", "Which company does {x} work for?"),
    "founder": ("founder", "Who founded {x}?"),
    "headquarters": ("headquarters", "In which city are the headquarters of {x}?"),
    "city_country": ("city_country", "In which country is the city of {x}?"),
    "capital": ("capital", "What is the capital of {x}?"),
}
_TEMPLATES: list[tuple[str, list[str], str]] = [
    ("people", ["born_in"], "In which city was {x} born?"),
    ("people", ["works_for"], "Which company does {x} work for?"),
    ("companies", ["founder"], "Who founded {x}?"),
    ("companies", ["headquarters"], "In which city are the headquarters of {x}?"),
    ("cities", ["city_country"], "In which country is the city of {x}?"),
    ("countries", ["capital"], "What is the capital of {x}?"),
    ("people", ["born_in", "city_country"], "In which country was {x} born?"),
    ("companies", ["founder", "born_in"], "In which city was the founder of {x} born?"),
    ("companies", ["headquarters", "city_country"], "In which country are the headquarters of {x}?"),
    ("people", ["works_for", "headquarters"], "In which city are the headquarters of the company {x} works for?"),
    ("people", ["works_for", "founder"], "Who founded the company that {x} works for?"),
    ("companies", ["founder", "born_in", "city_country"], "In which country was the founder of {x} born?"),
    (
        "people",
        ["works_for", "headquarters", "city_country"],
        "In which country are the headquarters of the company {x} works for?",
    ),
    ("people", ["born_in", "city_country", "capital"], "What is the capital of the country where {x} was born?"),
]


def make_question(w: World, start: str, relations: list[str], template: str) -> Example:
    """A question about `start` following `relations`; its id is a hash of the question and answer, so the
    same question keeps its id whatever the generator settings."""
    decomposition, supporting, entity = [], [], start
    for hop, relation in enumerate(relations):
        mapping = getattr(w, _RELATIONS[relation][0])
        answer = mapping[entity]
        subject = entity if hop == 0 else f"#{hop}"
        decomposition.append({"question": _RELATIONS[relation][1].format(x=subject), "answer": answer})
        supporting.append(passage_id(entity))
        entity = answer
    question = template.format(x=start)
    digest = hashlib.sha1(f"{question}\n{entity}".encode()).hexdigest()[:12]
    return Example(
        id=f"kb-{digest}",
        data={
            "question": question,
            "answers": [entity],
            "supporting_ids": supporting,
            "decomposition": decomposition,
            "hops": len(relations),
        },
    )


class SyntheticKB:
    """The generated world as a question source: `examples(split)` and `passages()`."""

    def __init__(self, cfg: SyntheticKBConfig):
        if not 1 <= cfg.max_hops <= 3:
            raise UserError(f"task.synthetic.max_hops={cfg.max_hops} must be 1, 2 or 3")
        self.cfg = cfg
        self.world = build_world(cfg)
        self._splits = self._questions()

    def _questions(self) -> dict[str, list[Example]]:
        rng = random.Random(self.cfg.seed + 1)
        templates = [t for t in _TEMPLATES if len(t[1]) <= self.cfg.max_hops]
        candidates = [
            (kind, rels, text, start) for kind, rels, text in templates for start in getattr(self.world, kind)
        ]
        rng.shuffle(candidates)
        wanted = self.cfg.dev_questions + self.cfg.train_questions
        if wanted > len(candidates):
            raise UserError(f"task.synthetic asks for {wanted} questions but the world has only {len(candidates)}")
        examples = [make_question(self.world, start, rels, text) for _, rels, text, start in candidates[:wanted]]
        return {"dev": examples[: self.cfg.dev_questions], "train": examples[self.cfg.dev_questions :]}

    def examples(self, split: str) -> list[Example]:
        if split not in self._splits:
            raise UserError(f"the synthetic knowledge base has splits train and dev, not '{split}'")
        return self._splits[split]

    def passages(self) -> list[Passage]:
        return write_passages(self.world)
