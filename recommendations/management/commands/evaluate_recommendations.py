"""``manage.py evaluate_recommendations --merchant SLUG [--split-date YYYY-MM-DD]``: the time-split evaluation
(see ``recommendations/evaluate.py``), printed as a table beside the popularity baseline."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from merchants.models import Merchant
from recommendations.evaluate import EvaluationReport, recommendations_evaluate


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--split-date {value!r} is not a date (YYYY-MM-DD).") from None


def _number(value: float | None) -> str:
    return "not enough data" if value is None else f"{value:.4f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


class Command(BaseCommand):
    help = "Evaluate a merchant's learnt recommendations on a time split, beside a popularity baseline."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="the merchant's slug")
        parser.add_argument("--split-date", type=_date, default=None, help="learn before it, test from it on")

    def handle(self, *args, **options):
        merchant = Merchant.objects.filter(slug=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        try:
            report = recommendations_evaluate(merchant=merchant, split_date=options["split_date"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(render(report))


def render(report: EvaluationReport) -> str:
    out = [
        f"Split {report.split_date}: learnt on {report.learn_start} to {report.learn_end} "
        f"({report.learn_baskets} baskets), tested on {report.split_date} to {report.test_end} "
        f"({report.test_baskets} baskets).",
        "",
        "Bought together (hold one item out, top 10):",
        f"  {'channel':<8} {'cases':>7}  {'hit-rate@10':>15} {'popularity':>15} {'ratio':>7}  "
        f"{'MRR':>15} {'pop. MRR':>15}",
    ]
    for result in report.together:
        out.append(
            f"  {result.channel:<8} {result.cases:>7}  {_number(result.hit_rate):>15} "
            f"{_number(result.popularity_hit_rate):>15} {_ratio(result.lift_over_popularity):>7}  "
            f"{_number(result.mrr):>15} {_number(result.popularity_mrr):>15}"
        )
    later = report.later
    out += [
        "",
        f"Bought later (next order of returning customers): {later.cases} cases, recall@10 "
        f"{_number(later.recall)} vs popularity {_number(later.popularity_recall)} "
        f"({_ratio(later.lift_over_popularity)}).",
        f"Coverage: {report.suggested_products} of {report.catalogue_size} sellable products suggested "
        f"({'—' if report.coverage is None else f'{report.coverage:.1%}'}). Took {report.seconds:.1f} s.",
    ]
    out += report.notes
    return "\n".join(out)
