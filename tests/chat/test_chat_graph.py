"""The chat graph answers the issue's example requests and keeps the caller's authority."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core import controls
from core.db import session_scope
from core.keys import Role
from core.tables import AuditEntry, Journey, Review
from tests.chat.conftest import call, reply, scripted, tool_calls


def test_counts_customers_at_churn_risk(make_chat) -> None:
    events = make_chat()("how many customers are at risk of churning this week?")
    assert tool_calls(events) == [("count_customers", {"segment": "at_risk"})]
    assert reply(events).startswith("2 customers")


def test_explains_why_a_customer_got_the_offer(make_chat) -> None:
    text = reply(make_chat()("why did customer 1042 get the 15% offer?"))
    assert "winback_email_15" in text
    assert "Highest expected value" in text
    assert "csm_outreach (ineligible: monetary < 500)" in text


def test_pause_sms_is_applied_and_audited_with_the_conversation(make_chat, seeded: Engine) -> None:
    events = make_chat()("pause all SMS", conversation_id="conv-7")
    assert tool_calls(events) == [("pause", {"scope": "channel", "target": "sms", "reason": None})]
    with Session(seeded) as s:
        assert controls.is_paused(s, channel="sms")
        assert not controls.is_paused(s, channel="email")
        entry = s.exec(select(AuditEntry).where(AuditEntry.kind == "chat.tool_called")).one()
    assert entry.subject_id == "conv-7"
    assert entry.actor == "key:marketer"
    assert entry.payload["tool"] == "pause"


def test_pause_everything_waits_for_confirmation(make_chat, seeded: Engine) -> None:
    say = make_chat()
    first = say("pause everything")
    assert [e["type"] for e in first if e["type"] == "confirm"] == ["confirm"]
    with Session(seeded) as s:
        assert not controls.is_paused(s, channel="email")
    second = say("yes")
    assert "Paused all sending" in reply(second)
    with Session(seeded) as s:
        assert controls.is_paused(s, channel="email")


def test_declining_a_confirmation_changes_nothing(make_chat, seeded: Engine) -> None:
    say = make_chat()
    say("stop everything now")
    assert reply(say("no, wait")) == "Cancelled. Nothing was changed."
    with Session(seeded) as s:
        assert controls.active_pauses(s) == []
        kinds = [e.kind for e in s.exec(select(AuditEntry))]
    assert kinds == ["chat.tool_declined"]


def test_drafts_a_journey_as_a_proposal_only(make_chat, seeded: Engine) -> None:
    events = make_chat()(
        "draft a win-back journey for lapsed VIPs with a CSM call for the top tier"
    )
    assert tool_calls(events)[0][0] == "draft_journey"
    text = reply(events)
    assert "csm_outreach" in text and "not active until a marketer accepts it" in text
    with Session(seeded) as s:
        drafts = s.exec(select(Journey).where(Journey.status == "proposed")).all()
    assert len(drafts) == 1
    assert "trigger: no_purchase_90d" in drafts[0].definition


def test_accepting_a_journey_needs_explicit_confirmation(make_chat, seeded: Engine) -> None:
    say = make_chat()
    say("draft a cart recovery journey with an sms follow-up")
    asked = say("accept the proposed journey")
    assert any(e["type"] == "confirm" for e in asked)
    with Session(seeded) as s:
        assert (
            s.exec(select(Journey.status).where(Journey.slug == "cart-recovery")).one()
            == "proposed"
        )
    say("no")
    with Session(seeded) as s:
        assert (
            s.exec(select(Journey.status).where(Journey.slug == "cart-recovery")).one()
            == "proposed"
        )
    say("accept the proposed journey")
    say("yes")
    with Session(seeded) as s:
        assert (
            s.exec(select(Journey.status).where(Journey.slug == "cart-recovery")).one() == "active"
        )
        accepted = s.exec(select(AuditEntry).where(AuditEntry.kind == "journey.accepted")).one()
    assert accepted.actor == "key:marketer"


def test_marketer_cannot_approve_reviews(make_chat, seeded: Engine) -> None:
    text = reply(make_chat(Role.marketer)("approve review ab12"))
    assert "needs the reviewer role" in text
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "pending"
        assert s.exec(select(AuditEntry)).all() == []


def test_review_tools_are_not_offered_to_marketers_even_if_a_model_asks(
    make_chat, seeded: Engine
) -> None:
    # a capable model that tries to call a tool it was not offered gets nothing done
    model = scripted(
        call("approve_review", review_id="ab12"), call("approve_review", review_id="ab12")
    )
    events = make_chat(Role.marketer, llm=model, embedded=False)("is anything paused right now?")
    assert [name for name, _ in tool_calls(events)] == ["show_pauses"]
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "pending"


def test_reviewer_approves_after_confirming(make_chat, seeded: Engine) -> None:
    say = make_chat(Role.reviewer)
    assert any(e["type"] == "confirm" for e in say("approve review ab12"))
    assert "approved" in reply(say("yes"))
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "approved"


def test_previews_creative_for_a_catalog_action(make_chat) -> None:
    text = reply(make_chat()("show me the creative for the cart reminder"))
    assert "cart_reminder_email" in text and "Your cart misses you." in text


def test_out_of_scope_requests_are_refused(make_chat) -> None:
    events = make_chat()("give every customer a 50% discount")
    assert tool_calls(events) == []
    assert reply(events).startswith("Sorry, I can't help with that.")


def test_remembers_the_customer_across_turns(make_chat) -> None:
    say = make_chat()
    say("show me the profile of customer 1043")
    events = say("and what happened recently in their timeline?")
    assert tool_calls(events) == [("get_customer_timeline", {"customer_id": "1043", "limit": 20})]


def test_scripted_model_drives_the_tool_loop_and_writes_the_answer(make_chat) -> None:
    model = scripted(call("count_customers", segment="vip"), AIMessage("You have 2 VIPs."))
    events = make_chat(llm=model, embedded=False)("how many VIP customers do we have?")
    assert tool_calls(events) == [("count_customers", {"segment": "vip"})]
    assert reply(events) == "You have 2 VIPs."


def test_repairs_an_invalid_argument_from_the_request(make_chat) -> None:
    model = scripted(call("pause", scope="channels", target="SMS messages"))
    events = make_chat(llm=model, embedded=True)("pause all SMS")
    assert tool_calls(events) == [("pause", {"scope": "channel", "target": "sms", "reason": None})]


def _question(events: list[dict[str, object]]) -> str:
    [asked] = [e for e in events if e["type"] == "confirm"]
    return str(asked["question"])


def test_yes_accepts_the_proposal_the_question_named_not_a_newer_one(
    make_chat, seeded: Engine
) -> None:
    say = make_chat()
    say("draft a win-back journey for lapsed VIPs with a CSM call for the top tier", "a")
    question = _question(say("accept the proposal", "b"))
    with Session(seeded) as s:
        [named] = s.exec(select(Journey).where(Journey.status == "proposed")).all()
    assert named.slug in question and named.id[:8] in question
    say("draft a cart recovery journey with an sms follow-up", "c")  # newer proposal
    say("yes", "b")
    with Session(seeded) as s:
        status = {j.slug: j.status for j in s.exec(select(Journey))}
    assert status[named.slug] == "active" and status["cart-recovery"] == "proposed"


def test_a_yes_approves_only_the_content_the_question_showed(make_chat, seeded: Engine) -> None:
    say = make_chat(Role.reviewer)
    question = _question(say("approve review ab12"))
    with Session(seeded) as s:
        review = s.exec(select(Review)).one()
    assert review.id[:8] in question and '"hi"' in question
    with session_scope(seeded) as s:  # another reviewer edits the copy meanwhile
        s.execute(
            update(Review)
            .where(col(Review.id) == review.id)
            .values(content={"subject": "BUY NOW"}, content_hash="f" * 64, version=7)
        )
    assert "content changed since you looked" in reply(say("yes"))
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "pending"


def test_resume_the_journey_asks_which_and_resume_all_asks_first(make_chat, seeded: Engine) -> None:
    say = make_chat()
    say("pause everything")
    say("yes")
    assert "which journey" in reply(say("resume the journey", "c2")).lower()
    with Session(seeded) as s:
        assert controls.is_paused(s, channel="email")
    assert "resumes ALL sending" in _question(say("resume everything", "c3"))
    with Session(seeded) as s:
        assert controls.is_paused(s, channel="email")
    say("yes", "c3")
    with Session(seeded) as s:
        assert not controls.is_paused(s, channel="email")


def test_reviewers_get_no_customer_data_through_the_chat(make_chat) -> None:
    text = reply(make_chat(Role.reviewer)("show me the profile of customer 1042"))
    assert text.startswith("Your role (reviewer) may not get customer profile")


def test_a_cancelled_call_lends_no_argument_to_the_next_request(make_chat, seeded: Engine) -> None:
    say = make_chat(Role.reviewer)
    say("approve review ab12")
    say("no")
    say("reject the review because it is off brand")
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "pending"


def test_wildcards_in_a_review_id_match_nothing(make_chat, seeded: Engine) -> None:
    model = scripted(call("approve_review", review_id="%"), call("approve_review", review_id="%"))
    events = make_chat(Role.reviewer, llm=model, embedded=False)("approve review %")
    assert not any(e["type"] == "confirm" for e in events)
    with Session(seeded) as s:
        assert s.exec(select(Review.status)).one() == "pending"
