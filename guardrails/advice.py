"""Requests for personal financial advice in customer text (a marketer's bot must not give it).

A personal cue ("should I", "recommend", "my portfolio", "for me") together with a finance
subject escalates to a person; general questions ("what is an ETF?") pass.
"""

from __future__ import annotations

import re

from core.domain import Verdict

__all__ = ["asks_for_financial_advice", "financial_advice_check"]

CHECK = "financial_advice"

_SUBJECT = re.compile(
    r"\b(invest\w*|stocks?|shares?|etfs?|funds?|portfolio|bonds?|401\(?k\)?|ira|roth|crypto\w*|"
    r"bitcoin|ethereum|reits?|dividends?|equit(y|ies)|securities|s&p|nasdaq|index|commodit\w+|"
    r"gold|options|annuit\w+|retirement|savings|brokerage|trading|asset allocation|allocate|"
    r"rental propert\w+|real estate|hedg\w+|money market|cds?|treasur\w+)\b",
    re.I,
)
_PERSONAL = re.compile(
    r"\b(should i|should we|shall i|would you (recommend|advise|suggest|pick|choose|buy)|"
    r"do you (recommend|suggest|think i should)|what (do|would) you (recommend|suggest|pick)|"
    r"recommend(ed)? (me|some|specific|a|the best|which)|advise me|advice (for|on) (me|my)|"
    r"tell me (which|what) to|which (\w+ ){0,3}(should|to) (i )?(buy|invest|choose|pick|sell)|"
    r"(for|help) me\b|my (portfolio|savings|money|401\(?k\)?|ira|retirement|investments?|"
    r"\$?\d)|i (have|inherited|earn|saved|want to invest)|what'?s your (view|take|pick|opinion)|"
    r"(best|top) (\w+ ){0,2}(to buy|to invest|for me|picks?)|is it (a )?good (time|idea) to "
    r"(buy|sell|invest)|give me a|create a (\w+ ){0,3}plan|for someone (in|like|my)|"
    r"which is better|better (long-term )?investment|"
    r"(buy|sell|hold) (now|today|this (week|month))|"
    # Asking for an opinion on a move: "do you think", "is it wise/worth/a good idea".
    r"(do|what do) you think|is it (wise|worth|better|smart|a good (idea|move|time))|"
    r"is (now|this) a good time|(is|are) (that|this|it|they) a good (idea|move|investment)|"
    r"(best|safest|top|highest)[- ](\w+ ){0,2}(investments?|stocks?|funds?|opportunit\w+|"
    r"strateg\w+|yields?|returns?)|"
    r"which (\w+ ){1,3}(will|would|are|is|have)\b[^?]{0,40}(best|outperform|grow|beat)|"
    r"(suitable|right) for (me|someone like me|a retail investor like me)|"
    # Imperatives asking for a plan or a pick.
    r"^\s*(recommend|suggest|design|create|build|provide|list|pick|tell me|give me|"
    r"help me|show me|rank)\b)",
    re.I | re.M,
)


def asks_for_financial_advice(text: str) -> bool:
    return bool(_SUBJECT.search(text)) and bool(_PERSONAL.search(text))


def financial_advice_check(text: str) -> Verdict:
    if asks_for_financial_advice(text):
        return Verdict.escalate(CHECK, "personal_financial_advice_requested")
    return Verdict.allow(CHECK)
