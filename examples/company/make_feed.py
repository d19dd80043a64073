"""Write hr-feed.csv: a deterministic sample company of a few hundred people.

python examples/company/make_feed.py [COUNT]
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from iam.hr_records import Person

GIVEN = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Mary",
    "Joan",
    "Hedy",
    "Claude",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Tim",
    "Radia",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Dennis",
    "Sophie",
    "Hao",
    "Marco",
]
FAMILY = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Jackson",
    "Clarke",
    "Lamarr",
    "Shannon",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Berners",
    "Perlman",
    "Knuth",
    "Allen",
    "McCarthy",
    "Johnson",
    "Ritchie",
    "Wilson",
    "Chen",
    "Rossi",
]
DEPARTMENTS = {
    "Engineering": ["Engineer", "Senior Engineer", "Engineering Manager"],
    "Finance": ["Accountant", "Payroll Clerk", "Finance Manager"],
    "Sales": ["Account Executive", "Sales Manager"],
    "Support": ["Support Agent", "Support Lead"],
    "People": ["HR Partner", "Recruiter"],
    "Research": ["Researcher"],
}
FIELDS = list(Person.model_fields)  # the HR feed columns, in order


def company(count: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    people: list[dict[str, str]] = []
    used: set[str] = set()
    managers: dict[str, str] = {}
    for i in range(count):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        base = (given[0] + family).lower()
        username, n = base, 1
        while username in used:
            n += 1
            username = f"{base}{n}"
        used.add(username)
        department = list(DEPARTMENTS)[i % len(DEPARTMENTS)]
        titles = DEPARTMENTS[department]
        title = titles[-1] if department not in managers else rng.choice(titles[:-1] or titles)
        kind = (
            "employee"
            if i < count * 0.9 or department not in managers
            else rng.choice(["contractor", "vendor"])
        )
        person = {
            "hr_id": f"E{1000 + i}",
            "username": username,
            "given_name": given,
            "family_name": family,
            "email": f"{username}@example.org",
            "department": department,
            "title": title,
            "manager": managers.get(department, ""),
            "kind": kind,
            "status": "active",
            "start_date": f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-01",
            "end_date": "",
            "site": rng.choice(["HQ", "HQ", "Lyon"]),
            "owner": "",
        }
        if kind != "employee":
            person["owner"] = managers[department]
            person["end_date"] = f"2027-{rng.randint(1, 12):02d}-28"
            person["title"] = "Contractor" if kind == "contractor" else "Vendor"
        managers.setdefault(department, username)
        people.append(person)
    return people


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    path = Path(__file__).with_name("hr-feed.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(company(count))
    print(f"wrote {count} people to {path}")


if __name__ == "__main__":
    main()
