"""A synthetic news site for the crawl benchmark: many hosts, each with a feed and articles.

Every page is generated from templates written for adoptwatch (no publication's text):
news-site boilerplate around the story (cookie banner, navigation, a trending ticker,
most-read and related links, a newsletter box, comments, a footer), and a story body of
business prose with a few adoption sentences ("X replaced A with B", "X is testing B")
among sentences that name models without any adoption. A seeded RNG makes the site the
same on every build, so a second crawl of it gets 304s from
:class:`adoptwatch.site_server.SiteServer`.

Layout of one host's folder: ``robots.txt``, ``feed.xml`` (RSS 2.0, newest first) and
``articles/NNNN.html``. Links use ``{{BASE}}``, which SiteServer replaces with its own URL.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

LATEST = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

PUBLICATIONS = [
    "The Wire Ledger",
    "Stack Dispatch",
    "Model Week",
    "Inference Daily",
    "The Compute Post",
    "Byte Harbor",
    "Open Weights Review",
    "Signal & Noise",
    "The Token Times",
    "Cloud Courier",
    "Gradient Gazette",
    "The Latency Report",
    "Dev Chronicle",
    "Parameter Press",
    "Tensor Tribune",
    "The Prompt Journal",
    "Datacentre Digest",
    "Agent Affairs",
    "The Context Window",
    "Ops Bulletin",
]

NAME_FIRST = [
    "Brightwave",
    "Corvid",
    "Tallgrass",
    "Lumen",
    "Harbor",
    "Quillfeather",
    "Northbeam",
    "Saltmarsh",
    "Copperleaf",
    "Ironbark",
    "Bluefin",
    "Kestrel",
    "Marigold",
    "Driftwood",
    "Foxglove",
    "Granite",
    "Juniper",
    "Larkspur",
    "Meridian",
    "Oakhaven",
    "Pinecrest",
    "Redwater",
    "Silverline",
    "Thistle",
    "Wrenfield",
    "Yellowtail",
    "Ambergate",
    "Cobalt",
]
NAME_SECOND = [
    "Logistics",
    "Health",
    "Labs",
    "Bank",
    "Analytics",
    "Robotics",
    "Insurance",
    "Travel",
    "Software",
    "Foods",
    "Energy",
    "Media",
    "Payments",
    "Legal",
    "Retail",
    "Mobility",
]

# (as written in the text, vendor as the press names it)
CHINESE_MODELS = [
    ("Qwen2.5-72B", "Alibaba"),
    ("Qwen3", "Alibaba"),
    ("DeepSeek-V3", "DeepSeek"),
    ("DeepSeek-R1", "DeepSeek"),
    ("GLM-4.6", "Zhipu AI"),
    ("Kimi K2", "Moonshot AI"),
    ("MiniMax-M2", "MiniMax"),
]
US_MODELS = [
    ("GPT-4o", "OpenAI"),
    ("Claude 3.5 Sonnet", "Anthropic"),
    ("Llama 3.1", "Meta"),
    ("Gemini 2.5 Pro", "Google"),
]
OTHER_MODELS = [("Mistral Large", "Mistral AI")]
ALL_MODELS = CHINESE_MODELS + US_MODELS + OTHER_MODELS

PRODUCTS = [
    "customer-support chatbot",
    "internal search tool",
    "claims-processing assistant",
    "code-review bot",
    "translation service",
    "document-summary feature",
    "sales assistant",
    "fraud-explanation tool",
    "route-planning assistant",
    "onboarding helper",
]
TASKS = [
    "summarising support tickets",
    "drafting product descriptions",
    "reviewing contracts",
    "answering billing questions",
    "writing test cases",
    "tagging invoices",
    "translating help-centre articles",
    "triaging bug reports",
]
PEOPLE = [
    "Maya Lindqvist",
    "Tomás Ferreira",
    "Aisha Bello",
    "Daniel Okafor",
    "Priya Natarajan",
    "Henrik Solberg",
    "Lucía Romero",
    "Kenji Watanabe",
    "Grace Mwangi",
    "Oliver Brandt",
]
ROLES = ["chief technology officer", "head of engineering", "chief executive", "head of data"]
FUNDS = ["Foundry Lane Capital", "Eastgate Ventures", "Blue Meadow Partners", "Northstar Growth"]
SECTIONS = ["AI", "Startups", "Enterprise", "Cloud", "Policy", "Developers"]

ADOPTION_TEMPLATES = [
    "{co} replaced {old} with {new} in its {product}, the company said this week.",
    "{co} has moved its {product} to {new}, according to two people familiar with the project.",
    "Engineers at {co} are testing {new} for {task} ahead of a wider rollout next quarter.",
    "{co} stopped using {old} for {task} after its monthly bill doubled.",
    "{co} now runs {new} on its own servers so that customer records stay in-house.",
    "{co} said it had adopted {new} for {task} after a three-month trial.",
    "{co} switched from {old} to {new} for {task}, its {role} {person} said.",
]
MENTION_TEMPLATES = [
    "{vendor} released {model} last month with a longer context window.",
    "Benchmarks published by {vendor} put {model} close to the leaders on coding tasks.",
    "Rivals point to {model}, which {vendor} offers at a lower price per token.",
]
FILLER_TEMPLATES = [
    "{co} was founded in {year} and employs about {staff} people across {offices} offices.",
    "The company raised ${money} million in a Series {round} round led by {fund} last year.",
    "Analysts at {fund} expect spending on AI software to grow by {pct} percent next year.",
    "{person}, the company's {role}, said the team had spent {months} months on the change.",
    "Customers noticed little difference, although response times improved by {pct} percent.",
    "Prompts written for one model had to be rewritten for the other, which took longer than "
    "planned.",
    "The project started as a side experiment by two engineers and grew into a team of {staff}.",
    "Finance staff track the cost of every request, and the numbers are reviewed each week.",
    "Several large clients had asked for written assurances about where their data is stored.",
    "The company declined to say how much it spends on computing, citing competition.",
    "A spokesperson said the decision was about cost and control rather than any one feature.",
    "Competitors are watching closely, and at least {offices} of them are running similar trials.",
    "The rollout will reach every customer by the end of the year if the pilot goes well.",
    "Staff were trained over two weeks, and a small group still reviews every answer by hand.",
    "The company has {offices} data centres and rents extra capacity when demand peaks.",
    "Its largest customer, a regional grocery chain, signed a {months}-year contract in {year}.",
    "Revenue grew {pct} percent in the last quarter, helped by a new enterprise plan.",
    "Privacy advocates have asked regulators to look more closely at how such systems are tested.",
    "Some employees were sceptical at first and asked for a way to switch the feature off.",
    "The board approved the budget in the spring, after a long debate about vendor risk.",
    "Engineers built a small evaluation set of {staff} real questions with known answers.",
    "A second phase, planned for next year, would extend the system to {offices} more countries.",
    "The company's shares rose {pct} percent in the week after the announcement.",
    "Industry groups say smaller firms lack the staff to run such evaluations on their own.",
]
COMMENTS = [
    "Cost is the whole story here. Nobody changes models for fun.",
    "Would love to see latency numbers before and after.",
    "We tried the same migration and gave up after a month of prompt rewrites.",
    "Running the weights yourself is the only way to be sure where the data goes.",
    "Interesting, but a three-month trial is not much evidence.",
]


@dataclass(frozen=True)
class SiteShape:
    hosts: int = 20
    articles_per_host: int = 100


def company(rng: random.Random) -> str:
    return f"{rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)}"


def _fill(template: str, rng: random.Random, **known: str) -> str:
    old, new = rng.sample(ALL_MODELS, 2)
    model, vendor = rng.choice(ALL_MODELS)
    values = {
        "co": company(rng),
        "old": old[0],
        "new": new[0],
        "model": model,
        "vendor": vendor,
        "product": rng.choice(PRODUCTS),
        "task": rng.choice(TASKS),
        "person": rng.choice(PEOPLE),
        "role": rng.choice(ROLES),
        "fund": rng.choice(FUNDS),
        "year": str(rng.randrange(2008, 2024)),
        "staff": str(rng.randrange(12, 900)),
        "offices": str(rng.randrange(2, 9)),
        "money": str(rng.randrange(5, 180)),
        "round": rng.choice("ABCD"),
        "pct": str(rng.randrange(8, 45)),
        "months": str(rng.randrange(2, 11)),
    }
    values.update(known)
    return template.format(**values)


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    dek: str
    published: datetime
    author: str
    section: str
    paragraphs: list[str]


def story(rng: random.Random, index: int, published: datetime) -> Story:
    lead = company(rng)
    (old, _), (new, _) = rng.sample(ALL_MODELS, 2)
    title = rng.choice(
        [
            f"{lead} swaps {old} for {new} in a bid to cut costs",
            f"Why {lead} is betting on {new}",
            f"{lead} tests {new} as model prices fall",
            f"Inside {lead}'s quiet move away from {old}",
        ]
    )
    sentences: list[str] = []
    for template in rng.sample(ADOPTION_TEMPLATES, rng.randrange(2, 5)):
        sentences.append(_fill(template, rng, co=lead, old=old, new=new))
    for template in rng.sample(MENTION_TEMPLATES, rng.randrange(1, 3)):
        sentences.append(_fill(template, rng))
    for template in rng.sample(FILLER_TEMPLATES, rng.randrange(14, 22)):
        sentences.append(_fill(template, rng, co=lead))
    first, rest = sentences[0], sentences[1:]
    rng.shuffle(rest)
    body = [first, *rest]
    paragraphs = []
    while body:
        take = rng.randrange(2, 5)
        paragraphs.append(" ".join(body[:take]))
        body = body[take:]
    return Story(
        slug=f"{index:04d}",
        title=title,
        dek=_fill(rng.choice(FILLER_TEMPLATES), rng, co=lead),
        published=published,
        author=rng.choice(PEOPLE),
        section=rng.choice(SECTIONS),
        paragraphs=paragraphs,
    )


def article_html(pub: str, s: Story, related: list[Story]) -> str:
    e = html.escape
    url = "{{BASE}}/articles/" + s.slug + ".html"
    iso = s.published.isoformat()
    body = "\n".join(f"        <p>{e(p)}</p>" for p in s.paragraphs)
    links = "\n".join(
        f'          <li><a href="{{{{BASE}}}}/articles/{r.slug}.html">{e(r.title)}</a></li>'
        for r in related
    )
    comments = "\n".join(
        f'      <div class="comment"><p class="comment-author">reader{i}</p><p>{e(c)}</p></div>'
        for i, c in enumerate(COMMENTS[: 2 + len(s.paragraphs) % 3])
    )
    nav = "".join(f'<li><a href="/{x.lower()}/">{x}</a></li>' for x in SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{e(s.title)} | {e(pub)}</title>
  <meta name="description" content="{e(s.dek)}">
  <meta name="author" content="{e(s.author)}">
  <meta property="og:site_name" content="{e(pub)}">
  <meta property="og:type" content="article">
  <meta property="og:title" content="{e(s.title)}">
  <meta property="og:url" content="{url}">
  <meta property="article:published_time" content="{iso}">
  <link rel="canonical" href="{url}">
  <link rel="stylesheet" href="/static/site.css">
  <script>window.dataLayer = window.dataLayer || [];
    dataLayer.push({{"section": "{s.section}"}});</script>
</head>
<body class="article-page">
  <div id="cookie-consent" class="cookie-banner" role="dialog">
    <p>We and our partners use cookies to measure audiences and personalise advertising.
    You can accept all, refuse non-essential cookies or choose by purpose.</p>
    <button type="button">Accept all</button> <button type="button">Refuse</button>
  </div>
  <header class="site-header">
    <a class="logo" href="/">{e(pub)}</a>
    <nav class="primary-nav"><ul>{nav}<li><a href="/subscribe/">Subscribe</a></li></ul></nav>
    <div class="ticker"><span>Trending:</span> <a href="/t/1">{e(related[0].title)}</a></div>
  </header>
  <main id="content">
    <article class="story">
      <p class="kicker"><a href="/{s.section.lower()}/">{e(s.section)}</a></p>
      <h1 class="headline">{e(s.title)}</h1>
      <p class="dek">{e(s.dek)}</p>
      <p class="byline">By <a rel="author" href="/authors/x/">{e(s.author)}</a> &middot;
        <time datetime="{iso}">{s.published:%B %d, %Y}</time></p>
      <div class="article-body">
{body}
      </div>
      <div class="share">Share this story: <a href="#">X</a> <a href="#">LinkedIn</a>
        <a href="#">Email</a></div>
    </article>
    <aside class="sidebar">
      <section class="most-read"><h2>Most read</h2>
        <ol>
{links}
        </ol>
      </section>
      <section class="newsletter-promo"><h2>Model Moves, every Friday</h2>
        <p>Which companies switched AI models this week? Our free newsletter tracks every
        adoption, pilot and quiet migration.</p>
        <form action="/newsletter" method="post"><input type="email" name="email">
        <button type="submit">Sign up</button></form>
      </section>
    </aside>
    <section class="comments" id="comments"><h2>Comments</h2>
{comments}
      <p class="comment-policy">Comments are moderated. Be kind, stay on topic.</p>
    </section>
  </main>
  <footer class="site-footer">
    <nav><a href="/about/">About</a> <a href="/ethics/">Ethics policy</a>
      <a href="/privacy/">Privacy</a> <a href="/terms/">Terms</a></nav>
    <p class="disclaimer">{e(pub)} is a fictional publication generated for the adoptwatch
    crawl benchmark; every story, quote and company in it is invented.</p>
  </footer>
</body>
</html>
"""


def feed_xml(pub: str, stories: list[Story]) -> str:
    e = html.escape
    items = "\n".join(
        f"""    <item>
      <title>{e(s.title)}</title>
      <link>{{{{BASE}}}}/articles/{s.slug}.html</link>
      <guid isPermaLink="true">{{{{BASE}}}}/articles/{s.slug}.html</guid>
      <pubDate>{format_datetime(s.published, usegmt=True)}</pubDate>
      <category>{e(s.section)}</category>
      <description>{e(s.dek)}</description>
    </item>"""
        for s in stories
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{e(pub)}</title>
    <link>{{{{BASE}}}}/</link>
    <description>AI adoption news from {e(pub)} (generated for a benchmark).</description>
    <language>en</language>
{items}
  </channel>
</rss>
"""


ROBOTS = """# Generated for the adoptwatch crawl benchmark.
User-agent: *
Disallow: /private/
Allow: /

User-agent: GPTBot
Disallow: /
"""


def build_site(root: Path, shape: SiteShape, seed: int = 2026) -> list[Path]:
    """Write one folder per host under ``root``; returns the folders."""
    folders = []
    for h in range(shape.hosts):
        rng = random.Random(seed * 1000 + h)
        pub = PUBLICATIONS[h % len(PUBLICATIONS)] + ("" if h < len(PUBLICATIONS) else f" {h}")
        folder = root / f"host-{h:02d}"
        (folder / "articles").mkdir(parents=True, exist_ok=True)
        # Newest first, a few hours apart, like a busy news feed.
        stories = []
        at = LATEST
        for i in range(shape.articles_per_host):
            at -= timedelta(minutes=rng.randrange(40, 600))
            stories.append(story(rng, i, at))
        for i, s in enumerate(stories):
            related = [stories[(i + k) % len(stories)] for k in (1, 2, 3, 5)]
            (folder / "articles" / f"{s.slug}.html").write_text(
                article_html(pub, s, related), encoding="utf-8"
            )
        (folder / "feed.xml").write_text(feed_xml(pub, stories), encoding="utf-8")
        (folder / "robots.txt").write_text(ROBOTS, encoding="utf-8")
        folders.append(folder)
    return folders
