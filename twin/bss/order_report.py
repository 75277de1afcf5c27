"""A finished run's product orders read back from its store, for ``telcotwin orders``.

Only the store is read (the ``product_order*`` tables that :mod:`twin.store` writes from the
ordering's records), never the simulator's truth.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from sim.scenario import Problem, ScenarioError
from sim.units import format_duration
from twin.readback import StoredRun
from twin.store import (
    product_order_items,
    product_order_steps,
    product_order_transitions,
    product_orders,
)

__all__ = ["format_orders", "stored_orders"]


def stored_orders(run: StoredRun) -> list[dict[str, Any]]:
    """Every order of the run in the order placed: its final state and reason, its
    transitions with their times, its items' outcomes and what its saga compensated."""
    try:
        with run.engine.connect() as connection:

            def rows(table: Any, *order_by: str) -> list[Any]:
                query = select(table).where(table.c.run_id == run.run_id)
                return list(connection.execute(query.order_by(*(table.c[c] for c in order_by))))

            order_rows = rows(product_orders, "order_id")
            transition_rows = rows(product_order_transitions, "seq")
            item_rows = rows(product_order_items, "order_id", "item")
            step_rows = rows(product_order_steps, "seq")
    except SQLAlchemyError as error:
        raise ScenarioError(
            [
                Problem(
                    str(run.directory),
                    "",
                    f"cannot read its orders ({error.__class__.__name__}): "
                    "a run made before ordering was stored?",
                )
            ]
        ) from None
    orders: dict[str, dict[str, Any]] = {}
    for t in transition_rows:  # the first transition of each order comes in the order placed
        order = orders.setdefault(
            t.order_id,
            {"order_id": t.order_id, "transitions": [], "items": [], "compensations": []},
        )
        order["transitions"].append(
            {"time_s": t.time_s, "state": t.state, "previous": t.previous, "reason": t.reason}
        )
    for o in order_rows:
        order = orders[o.order_id]
        for name in (
            "state",
            "reason",
            "account",
            "product",
            "tower",
            "quantity",
            "completed",
            "failed",
            "source",
            "event_index",
        ):
            order[name] = getattr(o, name)
    for i in item_rows:
        orders[i.order_id]["items"].append(
            {
                "item": i.item,
                "state": i.state,
                "subscriber": i.subscriber,
                "subscription": i.subscription,
                "reason": i.reason,
            }
        )
    for s in step_rows:
        if s.action == "undo":
            orders[s.order_id]["compensations"].append(
                {
                    "time_s": s.time_s,
                    "item": s.item,
                    "step": s.step,
                    "outcome": s.outcome,
                    "attempt": s.attempt,
                    "detail": s.detail,
                }
            )
    for order in orders.values():
        order.setdefault("state", order["transitions"][-1]["state"])
    return list(orders.values())


def format_orders(orders: list[dict[str, Any]], where: str) -> str:
    """The orders for a terminal: one line per order, then its transitions."""
    lines = [f"{where}: {len(orders)} product orders"]
    for o in orders:
        lines.append(
            f"  {o['order_id']:<12} {o['state']:<10} {o.get('quantity', 0):>6} x "
            f"{o.get('product', ''):<12} on {o.get('tower', ''):<10} "
            f"completed {o.get('completed', 0)}, failed {o.get('failed', 0)}  "
            f"account {o.get('account', '')}"
        )
        for t in o["transitions"]:
            reason = f"  {t['reason']}" if t["reason"] else ""
            lines.append(f"      {format_duration(t['time_s']):>10}  {t['state']}{reason}")
        undone = [c for c in o["compensations"] if c["outcome"] == "done"]
        trouble = [c for c in o["compensations"] if c["outcome"] != "done"]
        if undone or trouble:
            lines.append(
                f"      compensations: {len(undone)} done"
                + (f", {len(trouble)} failed attempts (retried)" if trouble else "")
            )
    return "\n".join(lines)
