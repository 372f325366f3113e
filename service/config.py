"""Service settings, read from ``XUANXUE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    events_url: str | None = Field(
        None,
        description="event store URL, wins over events_path when set: postgresql://… (one "
        "database shared by every replica) or sqlite:///PATH",
    )
    events_history_limit: int = Field(
        500, ge=1, le=100_000, description="a cadre's most recent events read per request"
    )
    events_clock_skew_seconds: float = Field(
        900, ge=0, le=86_400, description="how far in the future an event time may be"
    )
    events_pool_size: int = Field(
        10, ge=1, le=200, description="PostgreSQL connections per worker (events_url only)"
    )
    api_key: SecretStr | None = Field(
        None,
        description="one more admin key (header X-API-Key), besides the keys file's; "
        "kept for existing deployments",
    )
    keys_file: Path = Field(
        Path("var/api_keys.json"),
        description="API keys with scopes (hashed; `recommender keys add/list/revoke`); "
        "re-read within a second of a change",
    )
    local_clients: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.0/8", "::1"),
        description="client addresses (networks, or exact host names) whose reads need no key "
        "while no key is configured; comma-separated",
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="larger bodies get 413 (all endpoints but completions)"
    )
    max_events_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="body limit of POST /v1/completions (1,000 events of ~90–600 bytes each)",
    )
    limit_concurrency: int = Field(
        256,
        ge=0,
        description="per worker: connections + requests in flight before uvicorn answers 503 "
        "(0 = unlimited)",
    )
    timeout_keep_alive: int = Field(
        5, ge=1, le=600, description="seconds an idle keep-alive connection is kept open"
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="seconds a client may take to send a request's line and headers "
        "(from the connection or the request's first byte); slower connections are closed",
    )
    body_timeout: float = Field(
        30.0, gt=0, le=3600, description="seconds a client may take to send a request body"
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="request line + headers larger than this get 431 (h11 also stops reading)",
    )
    idle_connections: int = Field(
        512,
        ge=0,
        description="per worker: connections with no request in progress (just opened, "
        "trickling headers, keep-alive) kept open, not counted in limit_concurrency; past it "
        "the longest idle is closed (0 = off: idle connections count, as in plain uvicorn)",
    )
    max_connections_per_client: int = Field(
        32,
        ge=0,
        description="per worker: connections one client address may hold; past it its own "
        "oldest idle one is closed (0 = off; trusted proxies are exempt)",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1", "::1"),
        description="addresses whose X-Forwarded-For/-Proto are believed (the nginx in front; "
        "'*' = any); comma-separated",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Host header values served ('*.example.org' for subdomains, '*' = any); "
        "empty: loopback names only while no API key exists, any once keys exist; "
        "comma-separated",
    )
    rate_limit: float = Field(
        200.0,
        ge=0,
        description="per worker: sustained requests per second one API key may make; more get "
        "429 with Retry-After (0 = off). Keyless loopback reads are not limited",
    )
    rate_burst: int = Field(
        400, ge=1, description="requests one key may make at once before rate_limit applies"
    )
    session_hours: float = Field(
        8.0, gt=0, le=24 * 30, description="a console sign-in lasts this long (or until logout)"
    )
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
    id_secret: SecretStr | None = Field(
        None,
        description="identity secret (the one models were trained under, ≥ 16 characters): "
        "a full 身份证号 in a request is hashed with it to find the cadre",
    )
    id_secret_file: Path | None = Field(
        None,
        description="file holding the identity secret when id_secret is not set (default "
        "~/.config/xuanxue/identity.key); read once at startup",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="level of the JSON logs written by `run()` (one line per request)"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("local_clients", "trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("api_key", "events_url", "id_secret", "id_secret_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def events_target(self) -> str:
        """Where the event store lives: events_url if set, else events_path."""
        return self.events_url or str(self.events_path)

    @property
    def events_options(self) -> dict[str, object]:
        """Keyword options of ``open_event_store`` for these settings."""
        return {
            "history_limit": self.events_history_limit,
            "clock_skew": timedelta(seconds=self.events_clock_skew_seconds),
            "pool_size": self.events_pool_size,
        }
