"""Example queries over the event log, shown by ``adoptwatch demo`` and in the README."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExampleQuery:
    title: str
    sql: str


EXAMPLE_QUERIES: list[ExampleQuery] = [
    ExampleQuery(
        "Latest adoption events",
        """
        SELECT published_at::DATE AS day, adopter, relation, model, origin_country AS origin
        FROM adoption_events
        ORDER BY published_at DESC NULLS LAST, adopter
        LIMIT 10
        """,
    ),
    ExampleQuery(
        "Companies adopting each model family",
        """
        SELECT model_family, vendor, origin_country AS origin, count(DISTINCT adopter) AS adopters
        FROM adoption_events
        WHERE relation = 'adopts' AND adopter_named
        GROUP BY ALL
        ORDER BY adopters DESC, model_family
        """,
    ),
    ExampleQuery(
        "Share of adoptions by model origin, per ISO week",
        """
        SELECT strftime(published_at, '%G-W%V') AS week,
               count(*) FILTER (WHERE origin_country = 'CN') AS chinese,
               count(*) FILTER (WHERE origin_country = 'US') AS us,
               count(*) FILTER (WHERE origin_country NOT IN ('CN', 'US')) AS other,
               round(100.0 * count(*) FILTER (WHERE origin_country = 'CN') / count(*), 1)
                   AS chinese_pct
        FROM adoption_events
        WHERE relation = 'adopts' AND published_at IS NOT NULL
        GROUP BY week
        ORDER BY week
        """,
    ),
    ExampleQuery(
        "Switches: who dropped what for what",
        """
        SELECT d.adopter, d.model AS dropped, a.model AS adopted, a.article_url
        FROM adoption_events d
        JOIN adoption_events a ON a.switch_id = d.switch_id AND a.relation = 'adopts'
        WHERE d.relation = 'drops'
        ORDER BY d.adopter
        """,
    ),
]
