"""The ledger site (一本账): a static site of the whole catalog, generated into <lakehouse>/site/.

`collect_ledger` reads what the lakehouse knows into a typed model (govlake.site.model);
`render_site` turns any such model into HTML; `build_site` does both for the lakehouse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from govlake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SITE_DIR = "site"


def site_dir(cfg: Settings) -> Path:
    return cfg.lakehouse / SITE_DIR


def build_site(spark: SparkSession, cfg: Settings) -> Path:
    """Collect the ledger and write the site; returns the folder holding index.html."""
    from govlake.site.collect import DATA_DOCS, OPEN_DIR, collect_ledger
    from govlake.site.render import render_site

    ledger = collect_ledger(spark, cfg)
    return render_site(
        ledger,
        site_dir(cfg),
        data_docs=cfg.lakehouse / DATA_DOCS,
        open_dir=cfg.lakehouse / OPEN_DIR,
    )
