"""Console settings (``XUANXUE_CONSOLE_*``), kept apart from the API's :class:`Settings`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    """Set ``app.state.console_settings`` to override (tests do); else read from the env."""

    model_config = SettingsConfigDict(env_prefix="XUANXUE_CONSOLE_", extra="ignore", frozen=True)

    reports_dir: Path = Field(
        Path("var/reports"),
        description="where `recommender gaps --out …` workbooks are read from (newest first)",
    )
    k: int = Field(20, ge=1, le=100, description="recommendations listed per cadre by default")
