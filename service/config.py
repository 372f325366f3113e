"""Service settings, read from ``XUANXUE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told; every field maps to ``XUANXUE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="XUANXUE_", extra="ignore", frozen=True)

    model_path: Path = Field(
        Path("models"), description="models root (with a `current` link) or one version dir"
    )
    events_path: Path = Field(
        Path("var/events.sqlite3"),
        description="SQLite completion-event store; pass it to `recommender train --events`",
    )
    api_key: SecretStr | None = Field(
        None, description="key for /v1/admin/* (header X-API-Key); unset = admin disabled"
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="larger bodies get 413")
    poll_seconds: float = Field(
        0.0, ge=0, description="check `models/current` this often and reload on change; 0 = off"
    )
    require_model: bool = Field(
        True, description="fail startup when no model loads (False: start unready, 503)"
    )
    handle_sighup: bool = Field(False, description="reload the model on SIGHUP (set by run())")
    unknown_ids: Literal["reject", "accept"] = Field(
        "reject",
        description="completion events naming a cadre/course the model does not know: "
        "reject the batch with 422, or store them and flag them in the response",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="zone that timezone-aware event times are converted to"
    )
    max_k: int = Field(100, ge=1, le=1000, description="largest k a client may ask for")
    blas_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="BLAS/OpenMP threads per worker (0 = library default); requests are "
        "small, so extra BLAS threads only fight the request thread pool for the cores",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="level of the JSON logs written by `run()` (one line per request)"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def admin_enabled(self) -> bool:
        return self.api_key is not None
