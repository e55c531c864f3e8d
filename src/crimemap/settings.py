"""Typed settings, read only by the outer layers (``api`` and ``cli``).

Values come from environment variables with the ``CRIMEMAP_`` prefix (or a
``.env`` file). The library never reads them: the API and the CLI build one
:class:`Settings` object and pass explicit arguments down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """crimemap configuration."""

    model_config = SettingsConfigDict(env_prefix="CRIMEMAP_", env_file=".env", extra="ignore")

    store: str = Field("crimemap.duckdb", description="Store URL or DuckDB file path.")
    out_dir: Path = Field(Path("out"), description="Where reports and exports are written.")
    host: str = Field("127.0.0.1", description="API bind address.")
    port: int = Field(8000, description="API port.")
    max_upload_bytes: int = Field(10 * 1024 * 1024, description="Largest accepted upload (bytes).")
    basemap_style_url: str | None = Field(
        None,
        description="Online MapLibre style URL for deployments with internet; offline outlines otherwise.",
    )
    pii_key: SecretStr | None = Field(
        None, description="Secret for keyed hashing of personal identifiers."
    )
    disclosure_threshold: int = Field(5, description="Public counts below this are suppressed.")
    retention_months: int | None = Field(
        None, description="Delete incidents older than this on maintain."
    )
    threads: int = Field(2, description="Worker threads for ingest and compute.")
    arrow_memory_pool: Literal["jemalloc", "mimalloc", "system", "default"] = Field(
        "jemalloc",
        description="Allocator for Arrow buffers in CLI processes ('default' keeps pyarrow's). "
        "jemalloc: a cold ingest of 1.3 M police.uk rows spends about 1 s less in the kernel "
        "than under pyarrow's default mimalloc (docs: README, performance).",
    )
    forecast_model: str = Field(
        "lgbm", description="Model (spec name[:k=v,...]) of the map's current forecast."
    )
    forecast_cell_m: float = Field(500.0, description="Grid cell side of the map's forecast (m).")
    forecast_crime_set: str = Field("all-crime", description="Crime set the map's forecast covers.")
    forecast_on_start: bool = Field(
        True, description="Compute (or load the cached) current forecast when the API starts."
    )
    lsoa_geojson_dir: Path | None = Field(
        None,
        description="LSOA GeoJSON file or folder (.json/.geojson, optionally .gz) drawn as outlines on the offline basemap.",
    )
    backtest_path: Path | None = Field(
        None, description="Per-origin back-test results (CSV or Parquet) quoted in explanations."
    )
    session_key: SecretStr | None = Field(
        None, description="Secret that signs browser session cookies (set it in production)."
    )
    imd_dir: Path | None = Field(
        None, description="Folder of the IMD 2019 xlsx files (fairness audit default)."
    )
    rate_limit_per_s: float = Field(
        5.0, description="Sustained requests per second per token/address."
    )
    rate_burst: int = Field(20, description="Burst size of the per token/address rate limit.")
    cookie_secure: bool = Field(
        True,
        description="Send the session cookie only over HTTPS (turn off only for plain-HTTP local tests).",
    )
    session_ttl_s: float = Field(8 * 3600.0, description="Lifetime of a browser session (seconds).")
    token_cache_s: float = Field(
        60.0,
        description="Seconds a verified API token is remembered (saves an argon2 check per "
        "request; a revoked token stops working within this delay).",
    )
