"""The marketer chat graph: route -> agent -> (confirm) -> tools -> agent ... -> end.

    route    ranks tools for the request (router.py) among those the caller's role may use;
             refuses out-of-scope requests and tools the role lacks, before any model runs.
    agent    offers the model only the candidate tools (one when the router is sure), then
             validates and repairs the call it proposes (slots.py); after tool results it
             answers (the tool's own summary on the embedded model).
    confirm  destructive calls (pause all, accept a journey, approve a review) interrupt for
             the user's explicit yes; a no cancels with nothing changed.
    tools    runs each call with the caller's authority in one transaction, together with a
             `chat.tool_called` audit entry that names the conversation.

Memory is the checkpointer: one thread per conversation id.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Command, interrupt
from pydantic import ValidationError
from sqlmodel import Session, select

from agents.chat.context import ChatContext
from agents.chat.intents import REFUSE
from agents.chat.prompts import system_prompt
from agents.chat.slots import Known, repair
from agents.chat.state import ChatState
from core import audit
from core.db import session_scope
from core.tables import Journey
from tools.chat.catalog import actions
from tools.chat.env import ToolEnv, ToolError
from tools.chat.registry import ToolSpec, tool_by_name, tools_for_role

__all__ = ["YES", "build_chat_graph", "is_yes"]

_END: Literal["__end__"] = "__end__"
YES = frozenset(
    {"yes", "y", "yes please", "confirm", "confirmed", "go ahead", "do it", "ok", "sure"}
)


def is_yes(answer: Any) -> bool:
    """An explicit confirmation: True, {"confirm": true}, or a plain "yes"."""
    if isinstance(answer, dict):
        answer = answer.get("confirm")
    if isinstance(answer, bool):
        return answer
    return isinstance(answer, str) and answer.strip().lower().rstrip("!.") in YES


def _turn(messages: list[AnyMessage]) -> tuple[str, list[AnyMessage]]:
    """The latest user request and the messages after it."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return str(messages[i].content), messages[i + 1 :]
    return "", list(messages)


def _roles_for(spec: ToolSpec) -> str:
    return " or ".join(sorted(r.value for r in spec.roles if r.value != "admin"))


HELP = (
    "I can count and list customer segments, show a customer's profile or timeline, explain "
    "a decision, report journey and channel performance against the holdout, pause or "
    "resume sending, preview creative, and draft journeys for you to accept."
)


def route(state: ChatState, runtime: Runtime[ChatContext]) -> Command[Literal["agent", "__end__"]]:
    ctx = runtime.context
    text, _ = _turn(state["messages"])
    ranked = ctx.router.rank(text)
    allowed = [t.name for t in tools_for_role(ctx.role)]
    top = ranked[0]
    info: dict[str, Any] = {
        "top": [(r.intent, round(r.score, 3), round(r.similarity, 3)) for r in ranked[:3]]
    }
    if top.intent == REFUSE or top.similarity < ctx.policy.min_similarity:
        info["refused"] = "out_of_scope"
        reply = f"Sorry, I can't help with that. {HELP}"
        return Command(
            goto=_END, update={"messages": [AIMessage(reply)], "route": info, "candidates": []}
        )
    if top.intent not in allowed:
        spec = tool_by_name(top.intent)
        info["refused"] = "role"
        reply = (
            f"Your role ({ctx.role.value}) may not {spec.name.replace('_', ' ')}: that needs "
            f"the {_roles_for(spec)} role. Nothing was changed."
        )
        return Command(
            goto=_END, update={"messages": [AIMessage(reply)], "route": info, "candidates": []}
        )
    if not ctx.policy.guided:  # ablation: the model alone chooses among every allowed tool
        return Command(goto="agent", update={"candidates": allowed, "route": info, "confirmed": []})
    candidates = ctx.router.candidates(text, allowed, k=ctx.policy.k)
    if (
        len(candidates) > 1
        and candidates[0].score - candidates[1].score >= ctx.policy.confident_margin
    ):
        candidates = candidates[:1]
    return Command(
        goto="agent",
        update={"candidates": [c.intent for c in candidates], "route": info, "confirmed": []},
    )


def _tool_env(ctx: ChatContext, session: Session, conversation_id: str = "") -> ToolEnv:
    """What a tool (or a lookup on the tools' behalf) runs with: the caller's authority."""
    return ToolEnv(
        session=session,
        settings=ctx.settings,
        actor=ctx.actor,
        role=ctx.role,
        conversation_id=conversation_id,
        llm=ctx.llm,
        extras=ctx.extras,
        creative_writer=ctx.creative_writer,
    )


def _known(ctx: ChatContext) -> Known:
    with Session(ctx.engine) as session:
        slugs = tuple(sorted(set(session.exec(select(Journey.slug)).all())))
        env = _tool_env(ctx, session)
        try:
            action_ids = tuple(a.id for a in actions(env))
        except ToolError:
            action_ids = ()
    return Known(journeys=slugs, actions=action_ids)


def _remembered(messages: list[AnyMessage], name: str) -> Any:
    """The latest value the conversation gave argument `name` (memory across turns).

    Only from calls that ran: a call the user cancelled, or that failed, gave no value the
    user meant to keep (a declined "approve review ab12" must not feed "reject the review").
    """
    failed = {
        m.tool_call_id for m in messages if isinstance(m, ToolMessage) and m.status == "error"
    }
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id") in failed:
                    continue
                if call["args"].get(name) not in (None, ""):
                    return call["args"][name]
    return None


def _checked_call(
    ctx: ChatContext,
    spec: ToolSpec,
    proposed: dict[str, Any],
    text: str,
    known: Known,
    history: list[AnyMessage],
) -> dict[str, Any] | str:
    """Valid arguments, or a question for the user naming what is missing."""
    if not ctx.policy.guided:
        try:
            return spec.validate(proposed)
        except ValidationError as exc:
            return f"The {spec.name} call was invalid: {exc.errors()[0]['msg']}"
    try:
        return repair(spec, proposed, text, known, prefer_request=ctx.policy.prefer_request)
    except ValidationError as exc:
        missing = [str(e["loc"][0]) for e in exc.errors() if e["loc"]]
        filled = dict(proposed)
        for name in missing:
            value = _remembered(history, name)
            if value is not None:
                filled[name] = value
        try:
            return repair(spec, filled, text, known, prefer_request=ctx.policy.prefer_request)
        except ValidationError:
            return (
                f"To {spec.name.replace('_', ' ')} I need: {', '.join(sorted(set(missing)))}. "
                "Could you say which?"
            )


def agent(
    state: ChatState, runtime: Runtime[ChatContext]
) -> Command[Literal["confirm", "__end__"]]:
    ctx = runtime.context
    messages = state["messages"]
    text, since = _turn(messages)
    results = [m for m in since if isinstance(m, ToolMessage)]
    rounds = sum(1 for m in since if isinstance(m, AIMessage) and m.tool_calls)
    if results and (
        not ctx.policy.llm_answers or ctx.llm is None or rounds >= ctx.policy.max_tool_rounds
    ):
        return Command(goto=_END, update={"messages": [AIMessage(_summaries(since))]})
    specs = [tool_by_name(n) for n in state.get("candidates", [])]
    if not specs:
        return Command(goto=_END, update={"messages": [AIMessage(HELP)]})
    proposal = AIMessage("", tool_calls=[])
    if ctx.llm is not None:
        window = messages[-20:] if ctx.policy.llm_answers else [HumanMessage(text)]
        while window and isinstance(window[0], ToolMessage):  # never start mid tool exchange
            window = window[1:]
        bound = ctx.llm.bind_tools([s.as_openai_tool() for s in specs])
        answer = bound.invoke([SystemMessage(system_prompt(ctx.role)), *window])
        proposal = answer if isinstance(answer, AIMessage) else AIMessage(str(answer))
    offered = {s.name: s for s in specs}
    calls = [c for c in proposal.tool_calls if c["name"] in offered]
    if not calls and (results or not ctx.policy.prefer_request) and proposal.content:
        return Command(goto=_END, update={"messages": [AIMessage(proposal.content)]})
    if not calls and results:  # nothing usable after the tools ran: their summaries answer
        return Command(goto=_END, update={"messages": [AIMessage(_summaries(since))]})
    if not calls and not ctx.policy.guided:
        return Command(goto=_END, update={"messages": [AIMessage(str(proposal.content) or HELP)]})
    if not calls:  # the small model answered instead of calling: fall back to the router's pick
        calls = [
            {
                "name": specs[0].name,
                "args": {},
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "tool_call",
            }
        ]
    known = _known(ctx)
    checked = []
    for call in calls[:1] if ctx.policy.prefer_request else calls:
        args = _checked_call(ctx, offered[call["name"]], call["args"], text, known, messages)
        if isinstance(args, str):
            return Command(goto=_END, update={"messages": [AIMessage(args)]})
        checked.append(
            {**call, "args": args, "id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}"}
        )
    try:
        questions = _bind(ctx, checked)
    except ToolError as exc:
        return Command(goto=_END, update={"messages": [AIMessage(str(exc))]})
    return Command(
        goto="confirm",
        update={"messages": [AIMessage("", tool_calls=checked)], "questions": questions},
    )


def _bind(ctx: ChatContext, calls: list[dict[str, Any]]) -> dict[str, str]:
    """Resolve calls that confirm something in the database to exactly what their question
    shows (in place), before the question is asked; returns the questions by call id.

    Here, in the node before `confirm`, so the bound call is checkpointed: `confirm` re-runs
    when the answer comes and must not look again (the review may have been edited since).
    """
    questions: dict[str, str] = {}
    binding = [(c, bind) for c in calls if (bind := tool_by_name(c["name"]).bind) is not None]
    if not binding:
        return questions
    with session_scope(ctx.engine) as session:
        env = _tool_env(ctx, session)
        for call, bind in binding:
            call["args"], questions[call["id"]] = bind(env, call["args"])
    return questions


def _summaries(since: list[AnyMessage]) -> str:
    """The latest tool results, as the reply (what the embedded model shows verbatim)."""
    ids = {c["id"] for c in _last_calls(since)}
    return "\n\n".join(
        str(m.content) for m in since if isinstance(m, ToolMessage) and m.tool_call_id in ids
    )


def _last_calls(messages: list[AnyMessage]) -> list[Any]:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.tool_calls:
            return list(message.tool_calls)
    return []


def confirm(
    state: ChatState, runtime: Runtime[ChatContext]
) -> Command[Literal["tools", "__end__"]]:
    calls = _last_calls(state["messages"])
    bound = state.get("questions") or {}
    questions = [
        (c, q)
        for c in calls
        if (q := bound.get(c["id"]) or tool_by_name(c["name"]).confirm(c["args"]))
    ]
    if not questions:
        return Command(goto="tools")
    answer = interrupt(
        {
            "type": "confirm",
            "question": " ".join(q for _, q in questions),
            "tool_calls": [{"name": c["name"], "args": c["args"]} for c, _ in questions],
        }
    )
    if is_yes(answer):
        return Command(goto="tools", update={"confirmed": [c["id"] for c, _ in questions]})
    ctx = runtime.context
    with session_scope(ctx.engine) as session:
        for call, _ in questions:
            audit.append(
                session,
                actor=ctx.actor,
                kind="chat.tool_declined",
                subject_type="conversation",
                subject_id=_thread(get_config()),
                payload={"tool": call["name"], "args": call["args"], "role": ctx.role.value},
            )
    cancelled = [
        ToolMessage(
            "Cancelled: not confirmed.", tool_call_id=c["id"], name=c["name"], status="error"
        )
        for c in calls
    ]
    return Command(
        goto=_END, update={"messages": [*cancelled, AIMessage("Cancelled. Nothing was changed.")]}
    )


def _thread(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id", "unknown"))


def tools(state: ChatState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
    ctx = runtime.context
    conversation = _thread(get_config())
    confirmed = set(state.get("confirmed", []))
    out: list[ToolMessage] = []
    for call in _last_calls(state["messages"]):
        spec = tool_by_name(call["name"])
        payload = {"tool": spec.name, "args": call["args"], "role": ctx.role.value}
        try:
            if ctx.role not in spec.roles:  # never offered; refuse again if a model tries
                raise ToolError(f"role {ctx.role.value} may not use {spec.name}")
            if spec.needs_confirmation(call["args"]) and call["id"] not in confirmed:
                raise ToolError(f"{spec.name} needs the user's confirmation first")
            with session_scope(ctx.engine) as session:
                result = spec.run(_tool_env(ctx, session, conversation), call["args"])
                audit.append(
                    session,
                    actor=ctx.actor,
                    kind="chat.tool_called",
                    subject_type="conversation",
                    subject_id=conversation,
                    payload={**payload, "changed": result.changed},
                )
            out.append(
                ToolMessage(
                    result.summary, tool_call_id=call["id"], name=spec.name, artifact=result.data
                )
            )
        except ToolError as exc:  # the change (if any) rolled back; the attempt is still audited
            with session_scope(ctx.engine) as session:
                audit.append(
                    session,
                    actor=ctx.actor,
                    kind="chat.tool_failed",
                    subject_type="conversation",
                    subject_id=conversation,
                    payload={**payload, "error": str(exc)},
                )
            out.append(
                ToolMessage(
                    f"Could not {spec.name.replace('_', ' ')}: {exc}",
                    tool_call_id=call["id"],
                    name=spec.name,
                    status="error",
                )
            )
    return {"messages": out}


def build_chat_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled chat graph; pass a checkpointer for memory and confirmations."""
    graph = StateGraph(ChatState, context_schema=ChatContext)
    graph.add_node("route", route)
    graph.add_node("agent", agent)
    graph.add_node("confirm", confirm)
    graph.add_node("tools", tools)
    graph.add_edge(START, "route")
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=checkpointer)
